//! A fast, seeded hasher for the maps the packet path reads per packet (SAD,
//! SPD buckets, the outbound SA cache).
//!
//! std's SipHash-1-3 cost ~10 % of the encrypting side's CPU in profiles of
//! `engine/bench/tunnel.sh` (5–7 lookups per packet with `IpAddr` keys). This
//! is the folded-multiply construction of `foldhash`/`ahash` (64×64→128-bit
//! multiply, high and low halves XORed), seeded per process from std's
//! `RandomState`. It is not a keyed PRF like SipHash: it resists collision
//! flooding only as far as the seed stays unknown. That fits these maps —
//! their keys are inserted by the privileged key manager (PF_KEY); packets
//! from the network only look up.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

const K: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xd6e8_feb8_6659_fd93;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(K);
        h.finish()
    })
}

/// `BuildHasher` for [`FastHasher`] (use with `HashMap::default()`).
#[derive(Clone, Copy, Debug)]
pub struct FastState {
    seed: u64,
}

impl Default for FastState {
    fn default() -> Self {
        FastState {
            seed: process_seed(),
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher { h: self.seed }
    }
}

/// See the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct FastHasher {
    h: u64,
}

impl FastHasher {
    #[inline(always)]
    fn mix(&mut self, v: u64) {
        self.h = fold(self.h ^ v, K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" + "" apart from "a" + "b".
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }
    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v));
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        fold(self.h, K2)
    }
}

/// A `HashMap` with [`FastState`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastState>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn h<T: Hash>(s: &FastState, v: &T) -> u64 {
        s.hash_one(v)
    }

    #[test]
    fn distinguishes_nearby_keys_and_is_deterministic_per_state() {
        let s = FastState::default();
        let a: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let b: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(h(&s, &(1u32, a)), h(&s, &(1u32, a)));
        assert_ne!(h(&s, &(1u32, a)), h(&s, &(1u32, b)));
        assert_ne!(h(&s, &(1u32, a)), h(&s, &(2u32, a)));
        assert_ne!(h(&s, &("ab", "")), h(&s, &("a", "b")));
        // Sequential SPIs spread over the low bits (the table index).
        let mut low = std::collections::HashSet::new();
        for spi in 0u32..1024 {
            low.insert(h(&s, &spi) & 1023);
        }
        assert!(low.len() > 550, "{} distinct buckets of 1024", low.len());
        let mut m: FastMap<u32, u32> = FastMap::default();
        for i in 0..1000 {
            m.insert(i, i * 2);
        }
        assert!((0..1000).all(|i| m[&i] == i * 2));
    }
}

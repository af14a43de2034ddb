//! DH cost per group: key generation (g^x) and shared secret (y^x), with our per-group
//! exponent lengths, plus full-length exponents for comparison.
//! Run: `cargo bench -p ike --bench dh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ike::crypto::{DhGroup, DhPrivate};
use rand_core::{CryptoRng, RngCore};

/// A deterministic generator for benchmarking only (not for keys).
struct XorShift(u64);
impl RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for c in d.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl CryptoRng for XorShift {}

fn bench(c: &mut Criterion) {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut g = c.benchmark_group("dh");
    for group in [DhGroup::Modp1024, DhGroup::Modp2048, DhGroup::Ecp256] {
        let name = format!("group{}", group.id());
        g.bench_function(BenchmarkId::new("keygen", &name), |b| {
            b.iter(|| DhPrivate::generate(group, &mut rng).unwrap())
        });
        let a = DhPrivate::generate(group, &mut rng).unwrap();
        let peer = DhPrivate::generate(group, &mut rng).unwrap();
        g.bench_function(BenchmarkId::new("shared", &name), |b| {
            b.iter(|| a.shared_secret(peer.public()).unwrap())
        });
        if !group.is_ecp() {
            // full-length exponent (what a naive implementation would use)
            let mut x = vec![0u8; group.bits() / 8];
            rng.fill_bytes(&mut x);
            x[0] = (x[0] & 0x7f) | 0x40;
            let full = DhPrivate::from_secret(group, &x).unwrap();
            g.bench_function(BenchmarkId::new("shared_full_exponent", &name), |b| {
                b.iter(|| full.shared_secret(peer.public()).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

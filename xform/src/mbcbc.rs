//! Multi-buffer CBC encryption: several independent CBC messages under one
//! key, one block of each per step, so the block cipher's parallel path
//! (`encrypt_blocks`, 8 AES-NI blocks in flight) hides the AES latency that
//! bounds a single CBC chain.
//!
//! A documented exception to "no hand-rolled modes": the `cbc` crate
//! encrypts one chain at a time (AES-128-CBC ~1.2 GB/s on the reference
//! machine), while 8–16 chains side by side reach ~2.5–3.6 GB/s
//! (`../shared/reference/perf-limits.md`). The chaining here is the textbook
//! C_i = E(P_i xor C_{i-1}), C_0 = IV; the tests check it byte for byte
//! against the `cbc` crate (proptest: random keys, IVs, lengths, lane counts).

use cipher::consts::U16;
use cipher::{Block, BlockCipherEncrypt};

/// Most chains advanced together.
pub const LANES: usize = 16;

/// One CBC message inside a shared buffer: the IV at `iv`, the data (a
/// multiple of 16 bytes) at `data..data + len`, encrypted in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lane {
    pub iv: usize,
    pub data: usize,
    pub len: usize,
}

/// Encrypts every lane of `lanes` in place in `buf` (CBC, IV read from the
/// buffer). Lanes must not overlap each other's data (the caller's layout;
/// overlapping lanes produce garbage, never out-of-bounds access). Fails,
/// touching nothing, if a lane is out of bounds or not block-aligned.
pub fn cbc_encrypt_lanes<C>(c: &C, buf: &mut [u8], lanes: &[Lane]) -> Result<(), crate::XformError>
where
    C: BlockCipherEncrypt<BlockSize = U16>,
{
    for l in lanes {
        let ok = l.len % 16 == 0
            && l.iv.checked_add(16).is_some_and(|e| e <= buf.len())
            && l.data.checked_add(l.len).is_some_and(|e| e <= buf.len());
        if !ok {
            return Err(crate::XformError::BadLength);
        }
    }
    for group in lanes.chunks(LANES) {
        encrypt_group(c, buf, group);
    }
    Ok(())
}

fn encrypt_group<C>(c: &C, buf: &mut [u8], lanes: &[Lane])
where
    C: BlockCipherEncrypt<BlockSize = U16>,
{
    fn load(buf: &[u8], at: usize) -> u128 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&buf[at..at + 16]);
        u128::from_ne_bytes(b)
    }
    // The previous ciphertext block (first: the IV) of each lane.
    let mut prev = [0u128; LANES];
    for (p, l) in prev.iter_mut().zip(lanes) {
        *p = load(buf, l.iv);
    }
    let mut blocks = [Block::<C>::default(); LANES];
    // Which lane each block slot belongs to in this step.
    let mut who = [0usize; LANES];
    let max = lanes.iter().map(|l| l.len).max().unwrap_or(0);
    let mut pos = 0;
    while pos < max {
        let mut k = 0;
        for (i, l) in lanes.iter().enumerate() {
            if pos < l.len {
                let x = load(buf, l.data + pos) ^ prev[i];
                blocks[k] = x.to_ne_bytes().into();
                who[k] = i;
                k += 1;
            }
        }
        c.encrypt_blocks(&mut blocks[..k]);
        for (b, &i) in blocks[..k].iter().zip(&who[..k]) {
            let at = lanes[i].data + pos;
            buf[at..at + 16].copy_from_slice(b);
            let mut w = [0u8; 16];
            w.copy_from_slice(b);
            prev[i] = u128::from_ne_bytes(w);
        }
        pos += 16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::{Aes128, Aes256};
    use cipher::{BlockModeEncrypt, KeyInit, KeyIvInit};
    use proptest::prelude::*;

    fn reference<C: BlockCipherEncrypt<BlockSize = U16> + KeyInit + Clone>(
        key: &[u8],
        iv: &[u8],
        data: &mut [u8],
    ) {
        let mut e = cbc::Encryptor::<C>::new_from_slices(key, iv).unwrap();
        let (blocks, tail) = inout::InOutBuf::from(data).into_chunks();
        assert!(tail.is_empty());
        e.encrypt_blocks_inout(blocks);
    }

    fn check<C: BlockCipherEncrypt<BlockSize = U16> + KeyInit + Clone>(
        key: &[u8],
        msgs: &[(Vec<u8>, Vec<u8>)],
    ) {
        // Layout: iv | data, message after message, with a gap byte between.
        let mut buf = Vec::new();
        let mut lanes = Vec::new();
        for (iv, d) in msgs {
            let ivo = buf.len();
            buf.extend_from_slice(iv);
            let dato = buf.len();
            buf.extend_from_slice(d);
            buf.push(0xee);
            lanes.push(Lane {
                iv: ivo,
                data: dato,
                len: d.len(),
            });
        }
        let before = buf.clone();
        let c = C::new_from_slice(key).unwrap();
        cbc_encrypt_lanes(&c, &mut buf, &lanes).unwrap();
        for ((iv, d), l) in msgs.iter().zip(&lanes) {
            let mut want = d.clone();
            reference::<C>(key, iv, &mut want);
            assert_eq!(&buf[l.data..l.data + l.len], &want[..]);
            assert_eq!(&buf[l.iv..l.iv + 16], &iv[..], "IV untouched");
            assert_eq!(buf[l.data + l.len], 0xee, "no write past the lane");
        }
        assert_eq!(buf.len(), before.len());
    }

    fn msgs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
        prop::collection::vec(
            (
                prop::collection::vec(any::<u8>(), 16),
                (0usize..100).prop_flat_map(|n| prop::collection::vec(any::<u8>(), n * 16)),
            ),
            0..40,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_the_cbc_crate_aes128(key in prop::collection::vec(any::<u8>(), 16), m in msgs()) {
            check::<Aes128>(&key, &m);
        }
        #[test]
        fn matches_the_cbc_crate_aes256(key in prop::collection::vec(any::<u8>(), 32), m in msgs()) {
            check::<Aes256>(&key, &m);
        }
    }

    #[test]
    fn rejects_bad_lanes_without_touching_the_buffer() {
        let c = Aes128::new_from_slice(&[7u8; 16]).unwrap();
        let mut buf = vec![1u8; 64];
        for l in [
            Lane {
                iv: 0,
                data: 16,
                len: 15,
            },
            Lane {
                iv: 0,
                data: 16,
                len: 64,
            },
            Lane {
                iv: 60,
                data: 16,
                len: 16,
            },
            Lane {
                iv: 0,
                data: usize::MAX,
                len: 16,
            },
        ] {
            let good = Lane {
                iv: 0,
                data: 16,
                len: 16,
            };
            assert!(cbc_encrypt_lanes(&c, &mut buf, &[good, l]).is_err());
            assert!(buf.iter().all(|&b| b == 1));
        }
    }
}

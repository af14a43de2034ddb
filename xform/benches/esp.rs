//! ESP transform throughput per packet size, one core, crypto + framing only
//! (no I/O): `cargo bench -p xform --bench esp`. Compare with the crypto
//! limits in reference/perf-limits.md (AES-128-CBC+HMAC-SHA1-96 encap
//! ≈ 2.05 µs / 1400 B with these crates; AES-128-GCM ≈ 0.58 µs).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use xform::{AuthAlg, EncAlg, EspParams, EspSa};

fn sa(enc: EncAlg, klen: usize, auth: AuthAlg) -> (EspSa, EspSa) {
    let ek: Vec<u8> = (0..klen as u8).collect();
    let ak: Vec<u8> = (0..(auth.key_bits() / 8) as u8).map(|b| b ^ 0x55).collect();
    let mut p = EspParams::new(0x1000, enc, &ek, auth, &ak);
    // Benchmarks push far more packets than a 64-wide window tracks in order;
    // the window is still checked and updated per packet.
    p.replay_window = 64;
    (EspSa::new(&p).unwrap(), EspSa::new(&p).unwrap())
}

fn bench(c: &mut Criterion) {
    let suites: &[(&str, EncAlg, usize, AuthAlg)] = &[
        ("aes128cbc-sha1", EncAlg::AesCbc, 16, AuthAlg::HmacSha1),
        ("aes256cbc-sha256", EncAlg::AesCbc, 32, AuthAlg::HmacSha256),
        ("aes128gcm16", EncAlg::AesGcm16, 20, AuthAlg::None),
        ("aes128ctr-sha1", EncAlg::AesCtr, 20, AuthAlg::HmacSha1),
        ("3des-sha1", EncAlg::TripleDesCbc, 24, AuthAlg::HmacSha1),
    ];
    for &(name, enc, klen, auth) in suites {
        let mut g = c.benchmark_group(format!("esp/{name}"));
        let sizes: &[usize] = if enc == EncAlg::TripleDesCbc {
            &[1400]
        } else {
            &[64, 512, 1400, 8192]
        };
        for &size in sizes {
            g.throughput(Throughput::Bytes(size as u64));
            let (mut tx, mut rx) = sa(enc, klen, auth);
            let head = tx.header_len();
            let mut buf = vec![0u8; head + size + tx.trailer_room()];
            g.bench_with_input(BenchmarkId::new("encap", size), &size, |b, &size| {
                b.iter(|| {
                    let r = tx.encap(&mut buf, head, head + size, 4).unwrap();
                    criterion::black_box(r);
                })
            });
            // Decap: packets are made in the (unmeasured) setup with
            // increasing sequence numbers, so the replay window accepts each.
            g.bench_with_input(BenchmarkId::new("decap", size), &size, |b, &size| {
                b.iter_batched_ref(
                    || {
                        let r = tx.encap(&mut buf, head, head + size, 4).unwrap();
                        buf[r].to_vec()
                    },
                    |pkt| criterion::black_box(rx.decap(pkt).unwrap()),
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

/// Deferred encapsulation of a batch of 1400-byte packets (as the engine does
/// for one TSO super-packet): AES-CBC chains of the batch are encrypted side
/// by side (`xform::mbcbc`), then each packet's ICV.
fn bench_batch(c: &mut Criterion) {
    const SLOT: usize = 2048;
    let suites: &[(&str, EncAlg, usize, AuthAlg)] = &[
        ("aes128cbc-sha1", EncAlg::AesCbc, 16, AuthAlg::HmacSha1),
        ("aes128cbc-none", EncAlg::AesCbc, 16, AuthAlg::None),
        ("aes128gcm16", EncAlg::AesGcm16, 20, AuthAlg::None),
    ];
    for &(name, enc, klen, auth) in suites {
        let mut g = c.benchmark_group(format!("esp-batch/{name}"));
        for &n in &[1usize, 8, 16, 44] {
            let size = 1400;
            g.throughput(Throughput::Bytes((n * size) as u64));
            let (mut tx, _) = sa(enc, klen, auth);
            let head = tx.header_len();
            let mut buf = vec![0u8; n * SLOT];
            let mut jobs = Vec::with_capacity(n);
            g.bench_with_input(BenchmarkId::new("encap-1400B-x", n), &n, |b, &n| {
                b.iter(|| {
                    jobs.clear();
                    for i in 0..n {
                        let s = &mut buf[i * SLOT..(i + 1) * SLOT];
                        let (r, d) = tx.encap_deferred(s, head, head + size, 4).unwrap();
                        jobs.push((i * SLOT + r.start, d));
                    }
                    tx.finish_batch(&mut buf, &jobs).unwrap();
                    criterion::black_box(&buf);
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench, bench_batch);
criterion_main!(benches);

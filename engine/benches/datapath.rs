//! The whole sans-I/O packet path (SPD lookup, SA choice, ESP, accounting)
//! per packet size: side A's `outbound` then side B's `inbound`, against the
//! bare xform cost in `cargo bench -p xform --bench esp`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::datapath::{fuzz_kernel, PacketBuf, Verdict};
use engine::Now;

fn packet(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[198, 51, 100, 1]);
    p[16..20].copy_from_slice(&[198, 51, 100, 129]);
    p
}

fn bench(c: &mut Criterion) {
    let now = Now::new(Instant::now(), 1_700_000_000);
    let mut g = c.benchmark_group("datapath_aes128cbc_sha1_tunnel");
    for len in [64usize, 512, 1400, 8192] {
        let pkt = packet(len);
        g.throughput(Throughput::Bytes(len as u64));
        let mut a = fuzz_kernel(true);
        let mut buf = PacketBuf::new();
        let mut out = Vec::new();
        g.bench_with_input(BenchmarkId::new("outbound", len), &pkt, |bch, pkt| {
            bch.iter(|| {
                buf.load(pkt);
                black_box(a.outbound(now, &mut buf, &mut out));
                out.clear();
            })
        });
        // Round trip: B's replay window accepts each new sequence number.
        let mut a = fuzz_kernel(true);
        let mut b = fuzz_kernel(false);
        let mut wire = PacketBuf::new();
        g.bench_with_input(BenchmarkId::new("out_and_in", len), &pkt, |bch, pkt| {
            bch.iter(|| {
                buf.load(pkt);
                if let Verdict::Raw { packet, .. } = a.outbound(now, &mut buf, &mut out) {
                    wire.load(buf.get(packet));
                    black_box(b.inbound(now, &mut wire, &mut out));
                }
                out.clear();
            })
        });
    }
    g.finish();
}

/// The batched outbound path of the I/O layer: 44 segments of 1400 bytes
/// (one TSO super-packet) laid out by `outbound` with batch crypto, copied
/// into a send-batch arena, then finished together (multi-buffer AES-CBC,
/// HMAC-SHA1) — against 44 × `outbound` above.
fn bench_batch(c: &mut Criterion) {
    const SLOT: usize = 2048;
    const N: usize = 44;
    let now = Now::new(Instant::now(), 1_700_000_000);
    let mut g = c.benchmark_group("datapath_aes128cbc_sha1_tunnel_batch");
    let pkt = packet(1400);
    g.throughput(Throughput::Bytes((N * pkt.len()) as u64));
    let mut a = fuzz_kernel(true);
    a.set_batch_crypto(true);
    let mut buf = PacketBuf::new();
    let mut out = Vec::new();
    let mut arena = vec![0u8; N * SLOT];
    let mut jobs = Vec::with_capacity(N);
    g.bench_function("outbound_x44_then_finish", |bch| {
        bch.iter(|| {
            jobs.clear();
            let mut key = None;
            for i in 0..N {
                buf.load(&pkt);
                if let Verdict::Raw { packet, .. } = a.outbound(now, &mut buf, &mut out) {
                    let d = a.take_deferred().expect("deferred");
                    let w = buf.get(packet.clone());
                    arena[i * SLOT..i * SLOT + w.len()].copy_from_slice(w);
                    jobs.push((i * SLOT + d.esp_start - packet.start, d.d));
                    key = Some(d.key);
                }
                out.clear();
            }
            if let Some(k) = key {
                assert!(a.finish_deferred(&k, &mut arena, &jobs));
            }
            black_box(&arena);
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_batch);
criterion_main!(benches);

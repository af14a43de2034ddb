//! SA lookup (by SPI, dst, proto) and SPD lookup (per packet) at 10 … 100k entries.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use engine::sad::{Endpoint, SaKey, Sad, SecAssoc, SATYPE_ESP};
use engine::spd::{Dir, PacketSel, Policy, Selector, Spd, IPPROTO_ANY, IPSEC_POLICY_IPSEC};
use engine::Now;

const SIZES: [u32; 4] = [10, 1_000, 10_000, 100_000];

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

fn bench_sa(c: &mut Criterion) {
    let now = Now::new(Instant::now(), 0);
    let mut g = c.benchmark_group("sa_lookup");
    for n in SIZES {
        let mut sad = Sad::default();
        let src = Endpoint::host(SocketAddr::new(v4(0x0a00_0001), 0));
        for i in 0..n {
            // spread SAs over 256 peers
            let dst = Endpoint::host(SocketAddr::new(v4(0x0b00_0000 + (i % 256)), 0));
            let sa = SecAssoc::new(SATYPE_ESP, 0x1000 + i, src, dst, now);
            sad.insert(sa).unwrap();
        }
        let keys: Vec<SaKey> = (0..1024u32)
            .map(|j| {
                let i = j.wrapping_mul(2_654_435_761) % n;
                SaKey {
                    spi: 0x1000 + i,
                    dst: v4(0x0b00_0000 + (i % 256)),
                    satype: SATYPE_ESP,
                }
            })
            .collect();
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let mut j = 0usize;
            b.iter(|| {
                j = (j + 1) & 1023;
                black_box(sad.get(black_box(&keys[j])).map(|s| s.spi))
            })
        });
    }
    g.finish();
}

/// A mixed SPD: 3/4 host-to-host policies, 1/4 subnet (/24 -> /24) policies,
/// half of them with a port selector, plus one catch-all.
fn build_spd(n: u32, now: Now) -> Spd {
    let mut spd = Spd::default();
    for i in 0..n {
        let (sp, dp, src, dst) = if i % 4 == 3 {
            (
                24,
                24,
                v4(0x0a00_0000 + (i << 8)),
                v4(0x1400_0000 + (i << 8)),
            )
        } else {
            (32, 32, v4(0x0a00_0000 + i), v4(0x1400_0000 + i))
        };
        let sel = Selector {
            src,
            dst,
            src_prefix: sp,
            dst_prefix: dp,
            sport: 0,
            dport: if i % 2 == 0 { 0 } else { 443 },
            proto: if i % 2 == 0 { IPPROTO_ANY } else { 6 },
        };
        spd.add(Policy::new(Dir::Out, sel, IPSEC_POLICY_IPSEC, now), false)
            .unwrap();
    }
    let any = Selector {
        src: v4(0),
        dst: v4(0),
        src_prefix: 0,
        dst_prefix: 0,
        sport: 0,
        dport: 0,
        proto: IPPROTO_ANY,
    };
    let mut p = Policy::new(Dir::Out, any, 1, now);
    p.priority = 0x8000_0000;
    spd.add(p, false).unwrap();
    spd
}

fn bench_spd(c: &mut Criterion) {
    let now = Now::new(Instant::now(), 0);
    let mut g = c.benchmark_group("spd_lookup");
    for n in SIZES {
        let spd = build_spd(n, now);
        let pkts: Vec<PacketSel> = (0..1024u32)
            .map(|j| {
                let i = j.wrapping_mul(2_654_435_761) % n;
                let (src, dst) = if i % 4 == 3 {
                    (
                        v4(0x0a00_0000 + (i << 8) + 7),
                        v4(0x1400_0000 + (i << 8) + 9),
                    )
                } else {
                    (v4(0x0a00_0000 + i), v4(0x1400_0000 + i))
                };
                PacketSel {
                    src,
                    dst,
                    proto: 6,
                    sport: 40000,
                    dport: 443,
                }
            })
            .collect();
        // sanity: every packet hits a non-catch-all policy
        assert!(pkts.iter().all(|p| spd
            .lookup(Dir::Out, p)
            .is_some_and(|x| x.sel.src_prefix > 0)));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let mut j = 0usize;
            b.iter(|| {
                j = (j + 1) & 1023;
                black_box(spd.lookup(Dir::Out, black_box(&pkts[j])).map(|p| p.id))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_sa, bench_spd);
criterion_main!(benches);

//! Complete Main Mode + Quick Mode exchanges per second, in memory: two endpoints with
//! `engine` kernels (the Pair harness), ACQUIRE to installed SAs on both sides, for DH
//! groups 2 and 14 (phase 1; no PFS). Setup (config parse, kernels, policies) is excluded.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use harness::{Pair, Peer};
use pfkey::{Dir, IpsecProto};

fn conf(peer: &str, l: &str, r: &str, group: &str) -> String {
    format!(
        "remote {peer} {{ exchange_mode main; proposal {{ encryption_algorithm aes; hash_algorithm sha1; \
         authentication_method pre_shared_key; dh_group {group}; }} }}\n\
         sainfo address {l} any address {r} any {{ encryption_algorithm aes; \
         authentication_algorithm hmac_sha1; compression_algorithm deflate; }}\n"
    )
}

fn setup(group: &str, seed: u64) -> Pair {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let now = std::time::Instant::now();
    let (ia, ib) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let a = Peer::new(
        ia,
        &conf("192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", group),
        "192.0.2.2 k\n",
        seed,
        now,
    );
    let b = Peer::new(
        ib,
        &conf("192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", group),
        "192.0.2.1 k\n",
        seed + 1,
        now,
    );
    let mut p = Pair::new(a, b);
    let n = p.know();
    p.a.spdadd(
        n,
        "10.1.0.0/16",
        "10.2.0.0/16",
        Dir::OUT,
        Some((ia, ib)),
        IpsecProto::ESP,
    );
    p.a.spdadd(
        n,
        "10.2.0.0/16",
        "10.1.0.0/16",
        Dir::IN,
        Some((ib, ia)),
        IpsecProto::ESP,
    );
    p.b.spdadd(
        n,
        "10.2.0.0/16",
        "10.1.0.0/16",
        Dir::OUT,
        Some((ib, ia)),
        IpsecProto::ESP,
    );
    p.b.spdadd(
        n,
        "10.1.0.0/16",
        "10.2.0.0/16",
        Dir::IN,
        Some((ia, ib)),
        IpsecProto::ESP,
    );
    p.drive();
    p
}

fn negotiate(mut p: Pair) -> Pair {
    let n = p.know();
    let pkt = harness::ipv4_udp(
        "10.1.0.5".parse().unwrap(),
        "10.2.0.7".parse().unwrap(),
        b"x",
    );
    let mut buf = engine::datapath::PacketBuf::new();
    buf.load(&pkt);
    let mut out = Vec::new();
    let _ = p.a.k.outbound(n, &mut buf, &mut out);
    p.a.deliver_kernel(n, out, None);
    p.drive_for(Duration::from_secs(10));
    assert_eq!(p.b.established_ph2(), 1);
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mm_qm_exchange");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for (name, group) in [("group2", "modp1024"), ("group14", "modp2048")] {
        let mut seed = 1;
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    seed += 2;
                    setup(group, seed)
                },
                negotiate,
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

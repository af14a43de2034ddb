//! Complete Main Mode + Quick Mode exchanges per second, in memory: two endpoints with
//! `engine` kernels (the Pair harness), ACQUIRE to installed SAs on both sides, for DH
//! groups 2 and 14 (phase 1; no PFS), pre-shared key and RSA signatures (RSA-2048 certificates
//! from `pki/tests/data`, intermediate sent in CERT, chain validated). Setup (config parse,
//! certificate loading, kernels, policies) is excluded.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use harness::{Pair, Peer};
use pfkey::{Dir, IpsecProto};

fn conf(peer: &str, l: &str, r: &str, group: &str, rsasig: bool) -> String {
    let (auth, extra) = if rsasig {
        (
            "rsasig",
            "certificate_type x509 \"c\" \"k\"; my_identifier asn1dn;",
        )
    } else {
        ("pre_shared_key", "")
    };
    format!(
        "remote {peer} {{ exchange_mode main; {extra} proposal {{ encryption_algorithm aes; hash_algorithm sha1; \
         authentication_method {auth}; dh_group {group}; }} }}\n\
         sainfo address {l} any address {r} any {{ encryption_algorithm aes; \
         authentication_algorithm hmac_sha1; compression_algorithm deflate; }}\n"
    )
}

fn creds(cert: &str, key: &str) -> ike::Credentials {
    let d = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pki/tests/data");
    let load = |n: &str| pki::load::load_certificates(&d.join(n)).unwrap().remove(0);
    let mut trust = pki::TrustStore::new();
    trust.add(load("root.crt"));
    ike::Credentials {
        remotes: vec![ike::RemoteCreds {
            my_certs: vec![load(cert), load("inter.crt")],
            signer: Some(std::sync::Arc::new(
                pki::load::load_private_key(&d.join(key)).unwrap(),
            )),
            trust,
            ..Default::default()
        }],
        clock: std::sync::Arc::new(|| 1_800_000_000),
    }
}

fn setup(group: &str, seed: u64, rsasig: bool) -> Pair {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let now = std::time::Instant::now();
    let (ia, ib) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let a = Peer::new(
        ia,
        &conf("192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", group, rsasig),
        "192.0.2.2 k\n",
        seed,
        now,
    );
    let b = Peer::new(
        ib,
        &conf("192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", group, rsasig),
        "192.0.2.1 k\n",
        seed + 1,
        now,
    );
    let mut p = Pair::new(a, b);
    if rsasig {
        p.a.ep.set_credentials(creds("end.crt", "end.key"));
        p.b.ep.set_credentials(creds("peer.crt", "peer.key"));
    }
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
    for (name, group, rsasig) in [
        ("group2", "modp1024", false),
        ("group14", "modp2048", false),
        ("group14_rsasig", "modp2048", true),
    ] {
        let mut seed = 1;
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    seed += 2;
                    setup(group, seed, rsasig)
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

//! `Options::dh_offload`: a Main Mode responder that computes g^xy on a helper thread
//! establishes the same SAs as one that does not (the loop through both fake kernels closes).

#[path = "harness/mod.rs"]
mod harness;

use std::net::IpAddr;
use std::time::Duration;

use harness::{Pair, Peer};
use ike::{Endpoint, Options};
use pfkey::{Dir, IpsecProto};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn conf(peer: &str, l: &str, r: &str, group: &str) -> String {
    format!(
        "remote {peer} {{ exchange_mode main; proposal {{ encryption_algorithm aes; \
         hash_algorithm sha1; authentication_method pre_shared_key; dh_group {group}; }} }}\n\
         sainfo address {l} any address {r} any {{ encryption_algorithm aes; \
         authentication_algorithm hmac_sha1; compression_algorithm deflate; }}\n"
    )
}

fn run(group: &str, offload: bool) -> Pair {
    let now = std::time::Instant::now();
    let (ia, ib) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let a = Peer::new(
        ia,
        &conf("192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", group),
        "192.0.2.2 k\n",
        5,
        now,
    );
    let cb = conf("192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", group);
    let mut b = Peer::new(ib, &cb, "192.0.2.1 k\n", 6, now);
    b.ep = Endpoint::new(
        harness::parse_conf(&cb),
        conf::parse_psk("192.0.2.1 k\n").unwrap(),
        Options {
            pid: 4242,
            key_log: true,
            dh_offload: offload,
            ..Options::default()
        },
        Box::new(StdRng::seed_from_u64(6)),
    );
    let mut p = Pair::new(a, b);
    let n = p.know();
    let t = IpsecProto::ESP;
    p.a.spdadd(n, "10.1.0.0/16", "10.2.0.0/16", Dir::OUT, Some((ia, ib)), t);
    p.a.spdadd(n, "10.2.0.0/16", "10.1.0.0/16", Dir::IN, Some((ib, ia)), t);
    p.b.spdadd(n, "10.2.0.0/16", "10.1.0.0/16", Dir::OUT, Some((ib, ia)), t);
    p.b.spdadd(n, "10.1.0.0/16", "10.2.0.0/16", Dir::IN, Some((ia, ib)), t);
    p.drive();
    p.first_packet(ip("10.1.0.5"), ip("10.2.0.7"));
    p.drive_for(Duration::from_secs(30));
    p
}

#[test]
fn offloaded_responder_establishes_and_the_loop_closes() {
    for group in ["modp2048", "modp1024", "modp1536"] {
        let mut p = run(group, true);
        assert_eq!(p.a.established_ph2(), 1, "{group} a: {:?}", p.a.logs());
        assert_eq!(p.b.established_ph2(), 1, "{group} b: {:?}", p.b.logs());
        p.assert_loop(ip("10.1.0.5"), ip("10.2.0.7"));
    }
}

/// Same seeds with and without offload: the same SPIs and keys end up in the kernels (the
/// helper thread computes exactly what the inline path does).
#[test]
fn offload_changes_nothing_on_the_wire() {
    let sas = |p: &Pair| {
        let mut v: Vec<_> =
            p.b.k
                .sad()
                .iter()
                .filter(|s| s.state != engine::sad::SaState::Larval)
                .map(|s| {
                    let k = s.key_encrypt.as_ref().map(|k| k.data.to_vec());
                    (s.spi, k)
                })
                .collect();
        v.sort();
        v
    };
    let x = run("modp2048", false);
    let y = run("modp2048", true);
    assert_eq!(x.b.established_ph2(), 1);
    assert_eq!(sas(&x), sas(&y));
    assert!(!sas(&x).is_empty());
}

//! Replays the cargo-fuzz seed corpora (`ike/fuzz/corpus/*`) through the fuzz entry points,
//! so CI exercises them without cargo-fuzz. `IKE_REGEN_CORPUS=1` rewrites the seeds.

mod harness;

use std::path::{Path, PathBuf};

use isakmp::{encode_payloads, Payload};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name)
}

fn chain(payloads: &[Payload], pad: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let first = encode_payloads(payloads, &mut body).unwrap();
    body.resize(body.len() + pad, 0);
    let mut v = vec![first.0];
    v.extend(body);
    v
}

fn regen() {
    use isakmp::{Delete, Doi, IdValue, Identification, Notify, NotifyType, ProtocolId};
    let sa = ike::proposal::ph1_sa(&[]);
    let id = |a: &str, m: &str| {
        Payload::Id(Identification::new(
            &IdValue::Subnet(a.parse().unwrap(), m.parse().unwrap()),
            0,
            0,
        ))
    };
    let seeds: Vec<Vec<u8>> = vec![
        chain(
            &[
                Payload::Hash(vec![1; 20]),
                Payload::Sa(sa.clone()),
                Payload::Nonce(vec![2; 16]),
                id("10.1.0.0", "255.255.0.0"),
                id("10.2.0.0", "255.255.0.0"),
            ],
            7,
        ),
        chain(&[Payload::Hash(vec![1; 20])], 3),
        chain(
            &[
                Payload::Hash(vec![1; 16]),
                Payload::Notify(Notify {
                    doi: Doi::IPSEC,
                    protocol: ProtocolId::ISAKMP,
                    notify_type: NotifyType::R_U_THERE,
                    spi: vec![3; 16],
                    data: vec![0, 0, 1, 2],
                }),
            ],
            0,
        ),
        chain(
            &[
                Payload::Hash(vec![1; 20]),
                Payload::Delete(Delete {
                    doi: Doi::IPSEC,
                    protocol: ProtocolId::IPSEC_ESP,
                    spi_size: 4,
                    spis: vec![vec![1, 2, 3, 4]],
                }),
            ],
            11,
        ),
        chain(
            &[
                Payload::Id(Identification::new(
                    &IdValue::Addr("192.0.2.1".parse().unwrap()),
                    0,
                    0,
                )),
                Payload::Hash(vec![9; 20]),
            ],
            15,
        ),
        chain(
            &[
                Payload::Hash(vec![1; 20]),
                Payload::Ke(vec![5; 128]),
                Payload::Nonce(vec![6; 16]),
                Payload::Sa(sa),
            ],
            1,
        ),
    ];
    let d = dir("decrypted_chain");
    std::fs::create_dir_all(&d).unwrap();
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(d.join(format!("seed-{i:02}")), s).unwrap();
    }
    // datagram seeds: a real Main Mode + Quick Mode capture (length-prefixed, as
    // `ike::fuzz::datagram` splits them), the responder's view
    let now = std::time::Instant::now();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let conf = |peer: &str, l: &str, r: &str| {
        format!("remote {peer} {{ exchange_mode main; proposal {{ encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp768; }} }}\nsainfo address {l} any address {r} any {{ encryption_algorithm aes; authentication_algorithm hmac_sha1; compression_algorithm deflate; }}\n")
    };
    let a = harness::Peer::new(
        ip("192.0.2.1"),
        &conf("192.0.2.2", "10.1.0.0/16", "10.2.0.0/16"),
        "192.0.2.2 fuzzkey\n",
        1,
        now,
    );
    let b = harness::Peer::new(
        ip("192.0.2.2"),
        &conf("192.0.2.1", "10.2.0.0/16", "10.1.0.0/16"),
        "192.0.2.1 fuzzkey\n",
        2,
        now,
    );
    let mut p = harness::Pair::new(a, b);
    let t = p.now;
    p.a.ep.establish_sa(
        t,
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap(),
    );
    p.drive();
    let d = dir("datagram");
    std::fs::create_dir_all(&d).unwrap();
    let mut all = Vec::new();
    for (i, g) in p.captured.iter().filter(|g| g.a_to_b).enumerate() {
        let mut one = (g.t.data.len() as u16).to_be_bytes().to_vec();
        one.extend_from_slice(&g.t.data);
        std::fs::write(d.join(format!("msg-{i:02}")), &one).unwrap();
        all.extend(one);
    }
    std::fs::write(d.join("exchange"), all).unwrap();
}

fn replay(name: &str, f: fn(&[u8]), min: usize) {
    let mut n = 0;
    for e in std::fs::read_dir(dir(name)).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        f(&data);
        // every prefix as well: truncation must be handled
        for cut in (0..data.len()).step_by(7) {
            f(&data[..cut]);
        }
        n += 1;
    }
    assert!(n >= min, "corpus {name} has {n} files");
}

#[test]
fn replay_corpora() {
    if std::env::var("IKE_REGEN_CORPUS").is_ok() {
        regen();
    }
    replay("decrypted_chain", ike::fuzz::decrypted_chain, 6);
    replay("datagram", ike::fuzz::datagram, 3);
}

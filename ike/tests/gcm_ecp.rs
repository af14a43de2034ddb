//! racoon-rs extensions end to end between two in-memory endpoints: Main Mode with an ECP
//! group (RFC 5903) and Quick Mode with PFS over an ECP group and ESP aes_gcm_16 (RFC 4106).
//! Each side is initiator once. The PF_KEY UPDATE/ADD messages must carry encryption
//! algorithm 20 (SADB_X_EALG_AES_GCM_ICV16), no authentication algorithm and no
//! authentication key, and a KEYMAT of key + 4-byte salt; the loop through both fake
//! kernels must close.

#[path = "harness/mod.rs"]
mod harness;

use std::net::IpAddr;
use std::time::Duration;

use harness::{Pair, Peer};
use pfkey::{AuthAlg, Dir, EncAlg, IpsecProto, MsgType};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";
const NET_A: &str = "10.1.0.0/16";
const NET_B: &str = "10.2.0.0/16";

fn conf(mode: &str, peer: &str, l: &str, r: &str, ike: &str, esp: &str) -> String {
    format!(
        "remote {peer} {{ exchange_mode {mode}; proposal {{ {ike} \
         authentication_method pre_shared_key; }} }}\n\
         sainfo address {l} any address {r} any {{ {esp} compression_algorithm deflate; }}\n"
    )
}

/// Sets up a pair (`a` and `b` sainfo/proposal bodies) and lets `a` (or `b`) send the
/// first packet, so that one starts Main Mode and Quick Mode.
fn run(ike_a: &str, esp_a: &str, ike_b: &str, esp_b: &str, a_initiates: bool) -> Pair {
    run_mode("main", ike_a, esp_a, ike_b, esp_b, a_initiates)
}

fn run_mode(
    mode: &str,
    ike_a: &str,
    esp_a: &str,
    ike_b: &str,
    esp_b: &str,
    a_initiates: bool,
) -> Pair {
    let now = std::time::Instant::now();
    let (ia, ib) = (ip(A), ip(B));
    let a = Peer::new(
        ia,
        &conf(mode, B, NET_A, NET_B, ike_a, esp_a),
        "192.0.2.2 k\n",
        7,
        now,
    );
    let b = Peer::new(
        ib,
        &conf(mode, A, NET_B, NET_A, ike_b, esp_b),
        "192.0.2.1 k\n",
        8,
        now,
    );
    let mut p = Pair::new(a, b);
    let n = p.know();
    let t = IpsecProto::ESP;
    p.a.spdadd(n, NET_A, NET_B, Dir::OUT, Some((ia, ib)), t);
    p.a.spdadd(n, NET_B, NET_A, Dir::IN, Some((ib, ia)), t);
    p.b.spdadd(n, NET_B, NET_A, Dir::OUT, Some((ib, ia)), t);
    p.b.spdadd(n, NET_A, NET_B, Dir::IN, Some((ia, ib)), t);
    p.drive();
    let (src, dst) = if a_initiates {
        ("10.1.0.5", "10.2.0.7")
    } else {
        ("10.2.0.7", "10.1.0.5")
    };
    let pkt = harness::ipv4_udp(ip(src), ip(dst), b"first");
    let mut buf = engine::datapath::PacketBuf::new();
    buf.load(&pkt);
    let mut out = Vec::new();
    let init = if a_initiates { &mut p.a } else { &mut p.b };
    let v = init.k.outbound(n, &mut buf, &mut out);
    assert!(
        matches!(v, engine::datapath::Verdict::Drop(_)),
        "no SA yet: the first packet is held"
    );
    init.deliver_kernel(n, out, None);
    p.drive_for(Duration::from_secs(60));
    p
}

fn assert_loop(p: &mut Pair) {
    p.assert_loop(ip("10.1.0.5"), ip("10.2.0.7"));
}

/// Every UPDATE and ADD the peer sent: (encrypt alg, auth alg, enc key bits, has auth key).
fn installs(peer: &Peer) -> Vec<(EncAlg, AuthAlg, u16, bool)> {
    peer.sent
        .iter()
        .filter(|m| matches!(m.header.msg_type, MsgType::UPDATE | MsgType::ADD))
        .map(|m| {
            let sa = m.sa().expect("SA extension");
            (
                sa.encrypt,
                sa.auth,
                m.key_encrypt().map_or(0, |k| k.bits()),
                m.key_auth().is_some(),
            )
        })
        .collect()
}

const IKE_ECP256: &str = "encryption_algorithm aes 128; hash_algorithm sha256; dh_group ecp256;";
const ESP_GCM128: &str = "pfs_group ecp256; encryption_algorithm aes_gcm_16 128; \
                          authentication_algorithm non_auth;";

#[test]
fn ecp256_main_mode_and_pfs_quick_mode_with_aes_gcm_16_both_roles() {
    for a_initiates in [true, false] {
        let mut p = run(IKE_ECP256, ESP_GCM128, IKE_ECP256, ESP_GCM128, a_initiates);
        for (name, peer) in [("a", &p.a), ("b", &p.b)] {
            assert_eq!(peer.established_ph1(), 1, "{name}: {:?}", peer.logs());
            assert_eq!(peer.established_ph2(), 1, "{name}: {:?}", peer.logs());
            let v = installs(peer);
            assert_eq!(v.len(), 2, "{name}: one UPDATE and one ADD: {v:?}");
            for x in v {
                // 128-bit key + 32-bit salt, no authentication
                assert_eq!(x, (EncAlg::AES_GCM_16, AuthAlg::NONE, 160, false), "{name}");
            }
        }
        assert_loop(&mut p);
    }
}

/// Numbers instead of names, ECP-384 and a 256-bit GCM key; the initiator offers a list
/// (aes-cbc + HMAC first) and the responder only takes GCM: KEYMAT 256 + 32 bits.
#[test]
fn ecp384_by_number_and_gcm_256_chosen_from_a_list() {
    let ike = "encryption_algorithm aes 256; hash_algorithm sha384; dh_group 20;";
    let esp_a = "pfs_group 20; encryption_algorithm aes 128, aes_gcm_16 256; \
                 authentication_algorithm hmac_sha256, non_auth;";
    let esp_b = "pfs_group ecp384; encryption_algorithm aes_gcm_16 256;";
    let mut p = run(ike, esp_a, ike, esp_b, true);
    assert_eq!(p.a.established_ph2(), 1, "a: {:?}", p.a.logs());
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    for peer in [&p.a, &p.b] {
        for x in installs(peer) {
            assert_eq!(x, (EncAlg::AES_GCM_16, AuthAlg::NONE, 288, false));
        }
    }
    assert_loop(&mut p);
}

/// Mismatched ECP groups in phase 1 (256 vs 521) or PFS (ecp256 vs modp2048): no SA.
#[test]
fn mismatched_ecp_groups_fail() {
    let ike521 = "encryption_algorithm aes 256; hash_algorithm sha512; dh_group ecp521;";
    let p = run(IKE_ECP256, ESP_GCM128, ike521, ESP_GCM128, true);
    assert_eq!(p.a.established_ph1(), 0);
    assert_eq!(p.b.sa_count(), 0);
    let esp_modp = "pfs_group modp2048; encryption_algorithm aes_gcm_16 128; \
                    authentication_algorithm non_auth;";
    let p = run(IKE_ECP256, ESP_GCM128, IKE_ECP256, esp_modp, true);
    assert_eq!(p.a.established_ph1(), 1, "a: {:?}", p.a.logs());
    assert_eq!(p.a.established_ph2(), 0);
    assert_eq!(p.b.established_ph2(), 0);
}

/// Aggressive Mode carries the KE in its first message: ECP-521 (66-byte coordinates) there,
/// PFS ecp521 and GCM 192 in Quick Mode (KEYMAT 192 + 32 bits).
#[test]
fn aggressive_mode_ecp521_and_gcm_192() {
    let ike = "encryption_algorithm aes 256; hash_algorithm sha512; dh_group 21;";
    let esp = "pfs_group ecp521; encryption_algorithm aes_gcm_16 192;";
    let mut p = run_mode("aggressive", ike, esp, ike, esp, true);
    assert_eq!(p.a.established_ph1(), 1, "a: {:?}", p.a.logs());
    assert!(p.a.ep.list_phase1()[0].aggressive);
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    for peer in [&p.a, &p.b] {
        let v = installs(peer);
        assert_eq!(v.len(), 2);
        for x in v {
            assert_eq!(x, (EncAlg::AES_GCM_16, AuthAlg::NONE, 224, false));
        }
    }
    assert_loop(&mut p);
}

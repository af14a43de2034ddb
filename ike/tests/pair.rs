#![allow(clippy::field_reassign_with_default)]
//! Two endpoints in memory, each with an `engine` kernel as its fake kernel, a fake clock,
//! and loss/duplication knobs: Main, Aggressive and Quick Mode (± PFS), NAT-T, lost and
//! duplicated messages, delete, INITIAL-CONTACT, DPD, rekey, wrong PSK, no proposal. Every
//! established pair is checked through the data path: a packet encrypted with the SA one
//! side installed is decrypted with the other's.

mod harness;

use std::net::IpAddr;
use std::time::Duration;

use harness::{Pair, Peer};
use ike::Event;
use pfkey::{Dir, IpsecProto};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";

#[derive(Clone)]
struct Opts {
    mode: &'static str,
    ike: &'static str,
    esp: &'static str,
    pfs: &'static str,
    extra_remote: String,
    remote_sel: String,
    lifetime: u64,
    timer: &'static str,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            mode: "main",
            ike: "encryption_algorithm aes 128; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp1024;",
            esp: "encryption_algorithm aes 128; authentication_algorithm hmac_sha1;",
            pfs: "",
            extra_remote: String::new(),
            remote_sel: String::new(),
            lifetime: 3600,
            timer: "",
        }
    }
}

fn conf(peer: &str, local_net: &str, remote_net: &str, o: &Opts) -> String {
    let sel = if o.remote_sel.is_empty() {
        peer.to_string()
    } else {
        o.remote_sel.clone()
    };
    format!(
        "{timer}
remote {sel} {{
    exchange_mode {mode};
    {extra}
    proposal {{ {ike} }}
}}
sainfo address {local_net} any address {remote_net} any {{
    {esp}
    compression_algorithm deflate;
    {pfs}
    lifetime time {lt} sec;
}}
",
        timer = o.timer,
        mode = o.mode,
        extra = o.extra_remote,
        ike = o.ike,
        esp = o.esp,
        pfs = o.pfs,
        lt = o.lifetime
    )
}

struct Setup {
    a: Opts,
    b: Opts,
    psk_a: String,
    psk_b: String,
    b_policies: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            a: Opts::default(),
            b: Opts::default(),
            psk_a: format!("{B} s3cret-psk\n"),
            psk_b: format!("{A} s3cret-psk\n"),
            b_policies: true,
        }
    }
}

fn pair(s: &Setup) -> Pair {
    let now = std::time::Instant::now();
    let a = Peer::new(
        ip(A),
        &conf(B, "10.1.0.0/16", "10.2.0.0/16", &s.a),
        &s.psk_a,
        11,
        now,
    );
    let b = Peer::new(
        ip(B),
        &conf(A, "10.2.0.0/16", "10.1.0.0/16", &s.b),
        &s.psk_b,
        22,
        now,
    );
    let mut p = Pair::new(a, b);
    let n = p.know();
    let (ia, ib) = (ip(A), ip(B));
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
    if s.b_policies {
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
    }
    p.drive();
    p
}

/// Sends the first packet (which triggers the ACQUIRE) and lets the peers negotiate.
fn trigger(p: &mut Pair) {
    let r = p.first_packet(ip("10.1.0.5"), ip("10.2.0.7"));
    assert!(r, "first packet must be held for lack of an SA");
    p.drive_for(Duration::from_secs(60));
}

fn assert_loop(p: &mut Pair) {
    p.assert_loop(ip("10.1.0.5"), ip("10.2.0.7"));
}

fn esp_sas(peer: &Peer) -> Vec<(u32, u8, u8, Option<u16>)> {
    peer.k
        .sad()
        .iter()
        .filter(|s| s.state != engine::sad::SaState::Larval)
        .map(|s| (s.spi, s.auth, s.encrypt, s.natt.as_ref().map(|n| n.sport)))
        .collect()
}

#[test]
fn main_mode_quick_mode_psk_closes_the_loop() {
    let mut p = pair(&Setup::default());
    trigger(&mut p);
    assert_eq!(p.a.established_ph1(), 1, "a: {:?}", p.a.logs());
    assert_eq!(p.b.established_ph1(), 1, "b: {:?}", p.b.logs());
    assert_eq!(p.a.established_ph2(), 1, "a: {:?}", p.a.logs());
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    assert_eq!(p.a.sa_count(), 2);
    assert_eq!(p.b.sa_count(), 2);
    // a's outbound SPI is b's inbound SPI and the other way round
    let sa_a: Vec<u32> = esp_sas(&p.a).iter().map(|x| x.0).collect();
    let sa_b: Vec<u32> = esp_sas(&p.b).iter().map(|x| x.0).collect();
    for s in &sa_a {
        assert!(sa_b.contains(s));
    }
    // §5 contents: replay 4, SA2 tunnel mode, hard = negotiated lifetime, soft 80 %
    let upd =
        p.a.sent
            .iter()
            .find(|m| m.header.msg_type == pfkey::MsgType::UPDATE)
            .unwrap();
    assert_eq!(upd.sa().unwrap().replay, 4);
    assert_eq!(upd.sa2().unwrap().mode, pfkey::Mode::TUNNEL);
    assert_eq!(upd.lifetime_hard().unwrap().addtime, 3600);
    assert_eq!(upd.lifetime_soft().unwrap().addtime, 2880);
    assert_eq!(upd.key_encrypt().unwrap().bits(), 128);
    assert_eq!(upd.key_auth().unwrap().bits(), 160);
    // the key log has the phase-1 line and four ESP lines per side
    let kl =
        p.a.events
            .iter()
            .filter(|e| matches!(e, Event::KeyLog(_)))
            .count();
    assert_eq!(kl, 3);
    // the ESP key a uses outbound is the key b uses inbound; Debug never shows keys
    let esp = |peer: &Peer| -> Vec<(u32, Vec<u8>, Vec<u8>, String)> {
        peer.events
            .iter()
            .filter_map(|e| match e {
                Event::KeyLog(
                    k @ ike::KeyLog::Esp {
                        spi,
                        enc_key,
                        auth_key,
                        ..
                    },
                ) => Some((*spi, enc_key.to_vec(), auth_key.to_vec(), format!("{k:?}"))),
                _ => None,
            })
            .collect()
    };
    let (ka, kb) = (esp(&p.a), esp(&p.b));
    for (spi, e, a, dbg) in &ka {
        let other = kb.iter().find(|x| x.0 == *spi).expect("same SPI on b");
        assert_eq!((&other.1, &other.2), (e, a));
        assert_eq!(e.len(), 16);
        assert!(dbg.contains("redacted") && !dbg.contains(&format!("{:02x?}", &e[..4])));
    }
    assert_loop(&mut p);
}

#[test]
fn main_mode_with_pfs_group14_and_several_transforms() {
    let mut s = Setup::default();
    s.a.ike = "encryption_algorithm aes 256; hash_algorithm sha256; authentication_method pre_shared_key; dh_group modp2048;";
    s.b.ike = s.a.ike;
    s.a.esp = "encryption_algorithm 3des, aes 256; authentication_algorithm hmac_md5, hmac_sha256;";
    s.b.esp = "encryption_algorithm aes 256; authentication_algorithm hmac_sha256;";
    s.a.pfs = "pfs_group modp2048;";
    s.b.pfs = "pfs_group modp2048;";
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(
        p.a.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    // responder picked AES-256 + HMAC-SHA-256 (kernel numbers 12 / 5)
    for (_, auth, enc, _) in esp_sas(&p.a) {
        assert_eq!((auth, enc), (5, 12));
    }
    // QM1 carried a KE payload: the initiator's QM1 is longer than without PFS by >256 bytes
    assert_loop(&mut p);
}

#[test]
fn aggressive_mode_fqdn() {
    let mut s = Setup::default();
    s.a.mode = "aggressive";
    s.b.mode = "aggressive";
    s.a.extra_remote = "my_identifier fqdn \"a.example.org\";".into();
    s.b.extra_remote = "my_identifier fqdn \"b.example.org\";".into();
    s.psk_b = "a.example.org s3cret-psk\n".into();
    s.psk_a = "b.example.org s3cret-psk\n".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(
        p.a.established_ph1(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    let info = p.a.ep.list_phase1();
    assert!(info[0].aggressive);
    assert_loop(&mut p);
}

#[test]
fn nat_traversal_floats_and_uses_udp_encapsulation() {
    let mut s = Setup::default();
    s.a.extra_remote = "nat_traversal on;".into();
    s.b.extra_remote = "nat_traversal on;".into();
    s.b.remote_sel = "anonymous".into();
    s.b.extra_remote = "nat_traversal on; generate_policy on;".into();
    s.b_policies = false;
    s.psk_b = "198.51.100.9 s3cret-psk\n".into();
    let mut p = pair(&s);
    p.nat = Some(ip("198.51.100.9"));
    trigger(&mut p);
    assert_eq!(
        p.b.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    // MM1-MM4 on 500, everything after on 4500 with the non-ESP marker
    let ports: Vec<(u16, bool)> = p
        .captured
        .iter()
        .filter(|d| d.t.data != [0xff])
        .map(|d| (d.t.remote.port() % 10000, d.t.non_esp_marker))
        .collect();
    assert!(ports[..4].iter().all(|x| *x == (500, false)), "{ports:?}");
    assert!(ports[4..].iter().all(|x| *x == (4500, true)), "{ports:?}");
    // a is behind the NAT: it sends keepalives (a single 0xFF, no marker)
    assert!(p
        .captured
        .iter()
        .any(|d| d.a_to_b && d.t.data == [0xff] && !d.t.non_esp_marker));
    // ESP-in-UDP SAs on both sides; b sees a's translated port
    for (_, _, _, natt) in esp_sas(&p.a) {
        assert_eq!(natt, Some(4500));
    }
    assert!(esp_sas(&p.b).iter().any(|x| x.3 == Some(14500)));
    let upd =
        p.a.sent
            .iter()
            .find(|m| m.header.msg_type == pfkey::MsgType::UPDATE)
            .unwrap();
    assert_eq!(upd.nat_t_type(), Some(&pfkey::NatTType::ESPINUDP));
    assert_loop(&mut p);
}

#[test]
fn lost_message_3_is_retransmitted() {
    let mut p = pair(&Setup::default());
    p.drop_if = Box::new(|n, _| n == 2);
    trigger(&mut p);
    assert_eq!(p.a.established_ph2(), 1, "a: {:?}", p.a.logs());
    assert_loop(&mut p);
}

#[test]
fn duplicated_message_2_is_ignored() {
    let mut p = pair(&Setup::default());
    p.dup_if = Box::new(|n, _| n == 1);
    trigger(&mut p);
    assert_eq!(p.a.established_ph1(), 1);
    assert_eq!(p.b.established_ph2(), 1);
    // exactly one MM3: a did not answer the duplicate
    let from_a_phase1 = p
        .captured
        .iter()
        .filter(|d| d.a_to_b && d.t.data[18] == 2)
        .count();
    assert_eq!(from_a_phase1, 3, "MM1, MM3, MM5 once each");
    assert_loop(&mut p);
}

#[test]
fn reordered_delivery_still_establishes() {
    let mut p = pair(&Setup::default());
    p.reorder = true;
    trigger(&mut p);
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
}

#[test]
fn wrong_psk_installs_nothing() {
    let mut s = Setup::default();
    s.psk_b = format!("{A} other-secret\n");
    let mut p = pair(&s);
    trigger(&mut p);
    p.drive_for(Duration::from_secs(300));
    assert_eq!(p.a.sa_count(), 0);
    assert_eq!(p.b.sa_count(), 0);
    assert!(
        p.b.logs().iter().any(|l| l.contains("bad pre-shared key")),
        "{:?}",
        p.b.logs()
    );
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase1Failed { .. })));
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase2Failed { .. })));
    // the ACQUIRE was answered with ENOENT
    assert!(p
        .a
        .sent
        .iter()
        .any(|m| m.header.msg_type == pfkey::MsgType::ACQUIRE && m.header.errno == 2));
}

#[test]
fn no_proposal_chosen() {
    let mut s = Setup::default();
    s.b.ike = "encryption_algorithm 3des; hash_algorithm md5; authentication_method pre_shared_key; dh_group modp1024;";
    let mut p = pair(&s);
    trigger(&mut p);
    p.drive_for(Duration::from_secs(300));
    assert_eq!(p.a.sa_count() + p.b.sa_count(), 0);
    assert!(p
        .b
        .logs()
        .iter()
        .any(|l| l.contains("no suitable proposal")));
    // a saw the cleartext notify but did not act on it (it times out instead)
    assert!(p
        .a
        .logs()
        .iter()
        .any(|l| l.contains("ignoring unauthenticated notification")));
}

#[test]
fn no_proposal_chosen_in_quick_mode() {
    let mut s = Setup::default();
    s.b.esp = "encryption_algorithm 3des; authentication_algorithm hmac_md5;";
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.a.established_ph1(), 1);
    assert_eq!(p.a.sa_count() + p.b.sa_count(), 0);
    // b answered with an encrypted, authenticated NO-PROPOSAL-CHOSEN
    assert!(
        p.a.logs().iter().any(|l| l.contains("NO-PROPOSAL-CHOSEN")),
        "{:?}",
        p.a.logs()
    );
}

#[test]
fn delete_tears_down_both_sides() {
    let mut p = pair(&Setup::default());
    trigger(&mut p);
    assert_eq!(p.b.sa_count(), 2);
    let now = p.now;
    p.a.ep.delete_sa(now, ip(B));
    p.drive();
    assert_eq!(p.a.sa_count(), 0);
    assert_eq!(p.b.sa_count(), 0, "b: {:?}", p.b.logs());
    assert!(p
        .b
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase1Deleted { .. })));
}

#[test]
fn generate_policy_on_responder() {
    let mut s = Setup::default();
    s.b_policies = false;
    s.b.extra_remote = "generate_policy on;".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    // in, fwd, out
    let gen: Vec<pfkey::Dir> =
        p.b.sent
            .iter()
            .filter(|m| m.header.msg_type == pfkey::MsgType::X_SPDUPDATE)
            .map(|m| m.policy().unwrap().dir)
            .collect();
    assert_eq!(gen, vec![Dir::IN, Dir::FWD, Dir::OUT]);
    assert_loop(&mut p);
}

#[test]
fn initial_contact_purges_old_sas() {
    let mut p = pair(&Setup::default());
    trigger(&mut p);
    assert_eq!(p.b.sa_count(), 2);
    // a restarts (SIGKILL: its kernel keeps the old SAs, the daemon forgot everything)
    let conf_a = conf(B, "10.1.0.0/16", "10.2.0.0/16", &Opts::default());
    let fresh = Peer::new(ip(A), &conf_a, &format!("{B} s3cret-psk\n"), 99, p.now);
    p.a.ep = fresh.ep;
    p.drive();
    let now = p.now;
    assert!(p.a.ep.establish_sa(
        now,
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap()
    ));
    p.drive();
    assert!(p.b.logs().iter().any(|l| l.contains("INITIAL-CONTACT")));
    assert_eq!(p.b.sa_count(), 0, "b purged the SAs of the old a");
}

#[test]
fn dpd_under_total_loss_declares_the_peer_dead() {
    let mut s = Setup::default();
    s.a.extra_remote = "dpd_delay 5; dpd_retry 2; dpd_maxfail 3;".into();
    s.b.extra_remote = "dpd_delay 0;".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.a.sa_count(), 2);
    // one probe answered while the network works
    p.drive_for(Duration::from_secs(6));
    assert!(!p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::PeerDead { .. })));
    p.drop_if = Box::new(|_, _| true);
    p.drive_for(Duration::from_secs(60));
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::PeerDead { .. })),
        "{:?}",
        p.a.logs()
    );
    assert_eq!(p.a.sa_count(), 0);
}

#[test]
fn rekey_on_soft_expire() {
    let mut s = Setup::default();
    s.a.lifetime = 100;
    s.b.lifetime = 100;
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.a.established_ph2(), 1);
    // soft expiry at 80 s starts a new Quick Mode on the initiator
    p.drive_for(Duration::from_secs(90));
    assert_eq!(p.a.established_ph2(), 2, "a: {:?}", p.a.logs());
    assert_eq!(p.b.established_ph2(), 2);
    assert_loop(&mut p);
}

#[test]
fn garbage_never_panics_and_is_dropped() {
    let mut p = pair(&Setup::default());
    trigger(&mut p);
    let now = p.now;
    let local = "192.0.2.2:500".parse().unwrap();
    let remote = "192.0.2.1:500".parse().unwrap();
    let mut rng = 0x1234_5678_u64;
    let real: Vec<Vec<u8>> = p.captured.iter().map(|d| d.t.data.clone()).collect();
    for i in 0..3000 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut d = real[i % real.len()].clone();
        let pos = (rng >> 33) as usize % d.len();
        d[pos] ^= (rng >> 17) as u8 | 1;
        d.truncate(((rng >> 40) as usize % (d.len() + 1)).max(1));
        p.b.ep.handle_datagram(now, local, remote, &d);
    }
    // the established SAs survived
    assert_eq!(p.b.sa_count(), 2);
    assert_loop(&mut p);
}

#[test]
fn aggressive_mode_early_quick_mode_is_queued() {
    let mut s = Setup::default();
    s.a.mode = "aggressive";
    s.b.mode = "aggressive";
    let mut p = pair(&s);
    // AM3 and QM1 leave a together; deliver them in reverse order
    p.reorder = true;
    trigger(&mut p);
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    assert!(
        p.b.logs().iter().any(|l| l.contains("queued")),
        "the race happened"
    );
    // no QM1 retransmission was needed: a sent exactly AM1, AM3, QM1, QM3 (+ INITIAL-CONTACT)
    let quick_from_a = p
        .captured
        .iter()
        .filter(|d| d.a_to_b && d.t.data[18] == 32)
        .count();
    assert_eq!(quick_from_a, 2);
    assert_loop(&mut p);
}

#[test]
fn claim_shortens_lifetime_with_responder_lifetime() {
    let mut s = Setup::default();
    s.a.lifetime = 3600;
    s.b.lifetime = 600;
    s.b.extra_remote = "proposal_check claim;".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.a.established_ph2(), 1, "b: {:?}", p.b.logs());
    for peer in [&p.a, &p.b] {
        for m in peer
            .sent
            .iter()
            .filter(|m| m.header.msg_type == pfkey::MsgType::ADD)
        {
            assert_eq!(m.lifetime_hard().unwrap().addtime, 600);
            assert_eq!(m.lifetime_soft().unwrap().addtime, 480);
        }
    }
}

#[test]
fn strict_rejects_a_longer_lifetime() {
    let mut s = Setup::default();
    s.a.lifetime = 3600;
    s.b.lifetime = 600;
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.a.established_ph1(), 1);
    assert_eq!(p.a.sa_count() + p.b.sa_count(), 0);
}

#[test]
fn half_open_responders_are_capped() {
    let mut p = pair(&Setup::default());
    let now = p.now;
    // valid MM1s with fresh cookies from the configured peer
    let mm1 = {
        let a2 = harness::Peer::new(
            ip(A),
            &conf(B, "10.1.0.0/16", "10.2.0.0/16", &Opts::default()),
            "",
            5,
            now,
        );
        let mut ep = a2.ep;
        assert!(ep.establish_sa(
            now,
            "192.0.2.1:500".parse().unwrap(),
            "192.0.2.2:500".parse().unwrap()
        ));
        ep.poll_transmit().unwrap().data
    };
    let local = "192.0.2.2:500".parse().unwrap();
    let remote = "192.0.2.1:500".parse().unwrap();
    for i in 0..(ike::MAX_HALF_OPEN as u32 + 100) {
        let mut d = mm1.clone();
        d[..4].copy_from_slice(&i.to_be_bytes());
        p.b.ep.handle_datagram(now, local, remote, &d);
    }
    assert_eq!(p.b.ep.list_phase1().len(), ike::MAX_HALF_OPEN);
    // and they go away at the phase-1 timer
    p.drive_for(Duration::from_secs(120));
    assert_eq!(p.b.ep.list_phase1().len(), 0);
}

#[test]
fn transport_mode_host_to_host() {
    let now = std::time::Instant::now();
    let c = |peer: &str, me: &str| {
        format!(
            "remote {peer} {{ exchange_mode main; proposal {{ encryption_algorithm 3des; hash_algorithm md5; authentication_method pre_shared_key; dh_group modp1024; }} }}
sainfo address {me} any address {peer} any {{ encryption_algorithm aes 256; authentication_algorithm hmac_sha256; compression_algorithm deflate; }}
"
        )
    };
    let a = Peer::new(ip(A), &c(B, A), &format!("{B} k\n"), 3, now);
    let b = Peer::new(ip(B), &c(A, B), &format!("{A} k\n"), 4, now);
    let mut p = Pair::new(a, b);
    let n = p.know();
    p.a.spdadd(
        n,
        "192.0.2.1/32",
        "192.0.2.2/32",
        Dir::OUT,
        None,
        IpsecProto::ESP,
    );
    p.a.spdadd(
        n,
        "192.0.2.2/32",
        "192.0.2.1/32",
        Dir::IN,
        None,
        IpsecProto::ESP,
    );
    p.b.spdadd(
        n,
        "192.0.2.2/32",
        "192.0.2.1/32",
        Dir::OUT,
        None,
        IpsecProto::ESP,
    );
    p.b.spdadd(
        n,
        "192.0.2.1/32",
        "192.0.2.2/32",
        Dir::IN,
        None,
        IpsecProto::ESP,
    );
    p.drive();
    p.first_packet(ip(A), ip(B));
    p.drive_for(Duration::from_secs(30));
    assert_eq!(
        p.b.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    let upd =
        p.b.sent
            .iter()
            .find(|m| m.header.msg_type == pfkey::MsgType::UPDATE)
            .unwrap();
    assert_eq!(upd.sa2().unwrap().mode, pfkey::Mode::TRANSPORT);
    // HMAC-SHA-256 with a 256-bit key, AES-256
    assert_eq!(upd.key_auth().unwrap().bits(), 256);
    assert_eq!(upd.key_encrypt().unwrap().bits(), 256);
    let got = p.send_packet(true, ip(A), ip(B), b"transport").unwrap();
    assert!(got.ends_with(b"transport"));
}

#[test]
fn lost_quick_mode_3_is_recovered_by_resending_the_stored_reply() {
    let mut p = pair(&Setup::default());
    let mut quick_from_a = 0;
    p.drop_if = Box::new(move |_, d| {
        if d.a_to_b && d.t.data[18] == 32 {
            quick_from_a += 1;
            return quick_from_a == 2; // QM3
        }
        false
    });
    trigger(&mut p);
    // b retransmitted QM2, a answered with its stored QM3, b installed
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    let qm3s = p
        .captured
        .iter()
        .filter(|d| d.a_to_b && d.t.data[18] == 32)
        .count();
    assert_eq!(qm3s, 3, "QM1, QM3, QM3 again");
    assert_loop(&mut p);
}

#[test]
fn phase1_expiry_rekeys_when_phase2_exists() {
    let mut s = Setup::default();
    s.a.extra_remote = "lifetime time 200 sec;".into();
    s.b.extra_remote = "lifetime time 200 sec;".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.a.established_ph1(), 1);
    p.drive_for(Duration::from_secs(150));
    assert!(p
        .b
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase1Deleted { .. })));
    assert_eq!(p.a.established_ph1(), 2, "a: {:?}", p.a.logs());
    assert_eq!(p.a.ep.list_phase1().len(), 1, "{:?}", p.a.ep.list_phase1());
}

#[test]
fn reload_without_remotes_drops_phase1_and_keeps_running() {
    let mut p = pair(&Setup::default());
    trigger(&mut p);
    assert_eq!(p.a.ep.list_phase1().len(), 1);
    let empty = harness::parse_conf("");
    p.a.ep.reload(empty, conf::parse_psk("").unwrap());
    assert_eq!(p.a.ep.list_phase1().len(), 0);
    // a message for the old SA and a timer run do not panic
    let now = p.now;
    let old = p.captured[0].t.data.clone();
    p.a.ep.handle_datagram(
        now,
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap(),
        &old,
    );
    p.drive_for(Duration::from_secs(100));
}

#[test]
fn aggressive_mode_user_fqdn_and_key_id() {
    let mut s = Setup::default();
    s.a.mode = "aggressive";
    s.b.mode = "aggressive";
    s.a.extra_remote = "my_identifier user_fqdn \"alice@example.org\";".into();
    s.b.extra_remote = "my_identifier keyid tag \"gw-b\"; peers_identifier user_fqdn \"alice@example.org\"; verify_identifier on;".into();
    s.psk_b = "alice@example.org s3cret-psk\n".into();
    s.psk_a = "gw-b s3cret-psk\n".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(
        p.b.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    assert_loop(&mut p);
}

#[test]
fn verify_identifier_rejects_another_id() {
    let mut s = Setup::default();
    s.a.mode = "aggressive";
    s.b.mode = "aggressive";
    s.a.extra_remote = "my_identifier fqdn \"mallory.example.org\";".into();
    s.b.extra_remote = "peers_identifier fqdn \"alice.example.org\"; verify_identifier on;".into();
    s.psk_b = "mallory.example.org s3cret-psk\n".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.b.established_ph1(), 0);
    assert_eq!(p.a.sa_count() + p.b.sa_count(), 0);
}

#[test]
fn duplicated_message_1_gets_the_stored_reply_and_no_second_sa() {
    let mut p = pair(&Setup::default());
    p.dup_if = Box::new(|n, _| n == 0);
    trigger(&mut p);
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    assert_eq!(p.b.ep.list_phase1().len(), 1);
    // b sent MM2 twice (the second is the stored reply)
    let mm2 = p
        .captured
        .iter()
        .filter(|d| !d.a_to_b && d.t.data[18] == 2)
        .count();
    assert_eq!(mm2, 4, "MM2 twice, MM4, MM6");
    assert_loop(&mut p);
}

#[test]
fn phase1_rekey_force_starts_the_new_sa_at_80_percent() {
    let mut s = Setup::default();
    s.a.extra_remote = "lifetime time 200 sec; rekey force;".into();
    s.b.extra_remote = "lifetime time 200 sec;".into();
    let mut p = pair(&s);
    trigger(&mut p);
    assert_eq!(p.a.established_ph1(), 1);
    // trigger drove 60 s; 80 % of 200 s is 160 s
    p.drive_for(Duration::from_secs(110));
    assert_eq!(p.a.established_ph1(), 2, "a: {:?}", p.a.logs());
    assert_eq!(
        p.a.ep.list_phase1().len(),
        2,
        "old one still alive until 200 s"
    );
    p.drive_for(Duration::from_secs(40));
    assert_eq!(p.a.ep.list_phase1().len(), 1);
    assert_eq!(p.a.established_ph1(), 2, "no third phase 1");
    // the phase 2 SAs keep working, and a new Quick Mode runs under the new phase 1
    assert_loop(&mut p);
}

/// Aggressive Mode through a NAT: the responder learns the NAT from the NAT-D payloads in AM3
/// (RFC 3947 §3.2) and installs ESP-in-UDP SAs, as the initiator does (strongSwan as AM
/// initiator: phase 2 completed, but our responder's SAs were plain ESP).
#[test]
fn aggressive_mode_responder_detects_nat_from_am3() {
    let mut s = Setup::default();
    s.a.mode = "aggressive";
    s.b.mode = "aggressive";
    s.a.extra_remote = "nat_traversal on; my_identifier fqdn \"a.example.org\";".into();
    s.b.remote_sel = "anonymous".into();
    s.b.extra_remote =
        "nat_traversal on; my_identifier fqdn \"b.example.org\"; generate_policy on;".into();
    s.b_policies = false;
    s.psk_a = "b.example.org s3cret-psk\n".into();
    s.psk_b = "a.example.org s3cret-psk\n".into();
    let mut p = pair(&s);
    p.nat = Some(ip("198.51.100.9"));
    trigger(&mut p);
    assert_eq!(
        p.b.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    // AM1, AM2 on 500; AM3 and everything after on 4500 with the marker
    let ports: Vec<(u16, bool)> = p
        .captured
        .iter()
        .filter(|d| d.t.data != [0xff])
        .map(|d| (d.t.remote.port() % 10000, d.t.non_esp_marker))
        .collect();
    assert!(ports[..2].iter().all(|x| *x == (500, false)), "{ports:?}");
    assert!(ports[2..].iter().all(|x| *x == (4500, true)), "{ports:?}");
    // both sides' SAs are UDP-encapsulated; b's towards a's translated port
    assert!(esp_sas(&p.a).iter().all(|x| x.3 == Some(4500)));
    assert!(!esp_sas(&p.b).is_empty());
    assert!(
        esp_sas(&p.b).iter().all(|x| x.3.is_some()),
        "{:?}",
        esp_sas(&p.b)
    );
    assert!(esp_sas(&p.b).iter().any(|x| x.3 == Some(14500)));
    assert_loop(&mut p);
}

/// The responder that cannot decrypt MM5 (another pre-shared key) answers with an
/// AUTHENTICATION-FAILED notify in the clear, to where MM5 came from, and keeps its SA.
#[test]
fn undecryptable_mm5_is_answered_with_a_cleartext_authentication_failed() {
    let mut s = Setup::default();
    s.psk_b = format!("{A} other-secret\n");
    let mut p = pair(&s);
    trigger(&mut p);
    // b's answers after MM4 (b sends MM2, MM4, then notifies)
    let from_b: Vec<&harness::Dgram> = p.captured.iter().filter(|d| !d.a_to_b).collect();
    let notifies: Vec<isakmp::Message> = from_b
        .iter()
        .filter_map(|d| isakmp::Message::decode(&d.t.data).ok())
        .filter(|m| m.header.exchange == isakmp::ExchangeType::INFORMATIONAL)
        .collect();
    assert!(!notifies.is_empty(), "b: {:?}", p.b.logs());
    for m in &notifies {
        assert!(!m.header.is_encrypted());
        let n = m
            .payloads()
            .iter()
            .find_map(|x| match x {
                isakmp::Payload::Notify(n) => Some(n.clone()),
                _ => None,
            })
            .expect("a notify");
        assert_eq!(n.notify_type, isakmp::NotifyType::AUTHENTICATION_FAILED);
        assert_eq!(n.spi.len(), 16);
    }
    // one notify per undecryptable MM5 (a retransmits), never more
    let mm5s = p
        .captured
        .iter()
        .filter(|d| d.a_to_b)
        .filter_map(|d| isakmp::Header::decode(&d.t.data).ok())
        .filter(|h| h.exchange == isakmp::ExchangeType::MAIN && h.is_encrypted())
        .count();
    assert!(
        notifies.len() <= mm5s,
        "{} notifies for {mm5s} MM5",
        notifies.len()
    );
    // a does not act on an unauthenticated notify; it only logs it
    assert!(p
        .a
        .logs()
        .iter()
        .any(|l| l.contains("unauthenticated notification")));
    assert_eq!(p.a.sa_count() + p.b.sa_count(), 0);
}

/// `unique` policies without a number get their reqids from the kernel, a different one per
/// policy (Linux gen_reqid; our engine alike). The inbound SA must carry the inbound policy's
/// reqid and the outbound SA the outbound one's (racoon's reqid_in / reqid_out), or the data
/// path drops what arrives (two-children against strongSwan).
#[test]
fn unique_policies_with_generated_reqids_per_direction() {
    let s = Setup {
        b_policies: false,
        ..Setup::default()
    };
    let mut p = pair(&s);
    let n = p.know();
    // a's policies again, now `unique` (reqid 0: the kernel picks)
    let (ia, ib) = (ip(A), ip(B));
    for (src, dst, dir, t) in [
        ("10.1.0.0/16", "10.2.0.0/16", Dir::OUT, (ia, ib)),
        ("10.2.0.0/16", "10.1.0.0/16", Dir::IN, (ib, ia)),
    ] {
        let parse = |x: &str| {
            let (a, l) = x.split_once('/').unwrap();
            (a.parse::<IpAddr>().unwrap(), l.parse::<u8>().unwrap())
        };
        let ((sa, sl), (da, dl)) = (parse(src), parse(dst));
        let mut pol = pfkey::Policy::new(pfkey::PolicyType::IPSEC, dir);
        pol.requests.push(pfkey::IpsecRequest {
            proto: IpsecProto::ESP,
            mode: pfkey::Mode::TUNNEL,
            level: pfkey::Level::UNIQUE,
            reqid: 0,
            tunnel: Some(pfkey::Endpoints {
                src: std::net::SocketAddr::new(t.0, 0),
                dst: std::net::SocketAddr::new(t.1, 0),
            }),
        });
        let m = pfkey::Message::new(pfkey::MsgType::X_SPDUPDATE, pfkey::SaType::UNSPEC)
            .with_seq(7)
            .with_pid(1)
            .with(pfkey::Extension::AddressSrc(pfkey::Address::new(
                std::net::SocketAddr::new(sa, 0),
                sl,
                255,
            )))
            .with(pfkey::Extension::AddressDst(pfkey::Address::new(
                std::net::SocketAddr::new(da, 0),
                dl,
                255,
            )))
            .with(pfkey::Extension::Policy(pol));
        let outs = p.a.k.handle_message(n, harness::SETKEY, m, &mut p.a.krng);
        p.a.deliver_kernel(n, outs, Some(harness::SETKEY));
    }
    // b answers with generated (require) policies
    p.b.ep.reload(
        harness::parse_conf(&format!(
            "remote anonymous {{ exchange_mode main; generate_policy on; proposal {{ {} }} }}
sainfo anonymous {{ encryption_algorithm aes 128; authentication_algorithm hmac_sha1; compression_algorithm deflate; }}",
            s.b.ike
        )),
        conf::parse_psk(&s.psk_b).unwrap(),
    );
    p.drive();
    trigger(&mut p);
    assert_eq!(
        p.a.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    let sel = |a: &str| ike::spd::Sel {
        addr: ip(a),
        prefix: 16,
        port: 0,
    };
    let reqid_of = |dir: Dir, src: &str, dst: &str| {
        let e =
            p.a.ep
                .spd()
                .find(dir, &sel(src), &sel(dst), 255)
                .expect("policy");
        assert_eq!(e.requests[0].level, pfkey::Level::UNIQUE);
        e.requests[0].reqid
    };
    let r_in = reqid_of(Dir::IN, "10.2.0.0", "10.1.0.0");
    let r_out = reqid_of(Dir::OUT, "10.1.0.0", "10.2.0.0");
    assert!(r_in != 0 && r_out != 0 && r_in != r_out, "{r_in} {r_out}");
    let sas: Vec<(IpAddr, u32)> =
        p.a.k
            .sad()
            .iter()
            .filter(|x| x.state != engine::sad::SaState::Larval)
            .map(|x| (x.dst.ip(), x.reqid))
            .collect();
    assert!(sas.contains(&(ia, r_in)), "{sas:?}");
    assert!(sas.contains(&(ib, r_out)), "{sas:?}");
    assert_loop(&mut p);
}

fn quick_headers(p: &Pair, a_to_b: bool) -> Vec<isakmp::Header> {
    p.captured
        .iter()
        .filter(|d| d.a_to_b == a_to_b && d.t.data != [0xff])
        .filter_map(|d| isakmp::Header::decode(&d.t.data).ok())
        .filter(|h| h.exchange == isakmp::ExchangeType::QUICK)
        .collect()
}

/// Sets the commit bit in the header of a's first Quick Mode message (the header is not
/// covered by HASH(1), so b sees an initiator that asked for it).
fn commit_bit_in_qm1(p: &mut Pair) {
    let mut done = false;
    p.mutate = Box::new(move |_, d| {
        if !done && d.a_to_b && d.t.data.len() > 28 && d.t.data[18] == 32 {
            d.t.data[19] |= 0x02;
            done = true;
        }
    });
}

/// Commit bit (RFC 2408 §4.8, racoon quick_r3send / quick_i3recv): the responder echoes C,
/// installs after QM3 and sends CONNECTED (QM4, HASH(4)); the initiator installs only then.
#[test]
fn commit_bit_responder_sends_connected_and_initiator_waits_for_it() {
    let mut p = pair(&Setup::default());
    commit_bit_in_qm1(&mut p);
    trigger(&mut p);
    assert_eq!(
        p.a.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    assert_eq!(p.b.established_ph2(), 1);
    let (from_a, from_b) = (quick_headers(&p, true), quick_headers(&p, false));
    // a: QM1, QM3; b: QM2, QM4 (CONNECTED), all of the exchange with C after QM1
    assert_eq!(from_a.len(), 2, "{from_a:?}");
    assert_eq!(from_b.len(), 2, "{from_b:?}");
    assert!(from_b
        .iter()
        .all(|h| h.flags.contains(isakmp::Flags::COMMIT) && h.message_id == from_a[0].message_id));
    assert!(from_a[1].flags.contains(isakmp::Flags::COMMIT));
    assert_loop(&mut p);
}

/// Without CONNECTED the committed initiator installs nothing: QM3 is retransmitted, each
/// copy gets the stored QM4 again from the responder, and a lost QM4 is recovered that way.
#[test]
fn commit_bit_initiator_installs_only_on_connected() {
    // every QM4 lost: a never installs, b (which installed after QM3) does
    let mut p = pair(&Setup::default());
    commit_bit_in_qm1(&mut p);
    let mut seen = 0;
    p.drop_if = Box::new(move |_, d| {
        let quick = !d.a_to_b
            && isakmp::Header::decode(&d.t.data)
                .is_ok_and(|h| h.exchange == isakmp::ExchangeType::QUICK);
        if quick {
            seen += 1;
        }
        quick && seen >= 2
    });
    trigger(&mut p);
    assert_eq!(p.b.established_ph2(), 1, "b: {:?}", p.b.logs());
    assert_eq!(p.a.established_ph2(), 0, "a: {:?}", p.a.logs());
    assert_eq!(p.a.sa_count(), 0);
    assert!(quick_headers(&p, true).len() > 2, "QM3 retransmitted");
    // the first QM4 lost only: the retransmitted QM3 brings it
    let mut p = pair(&Setup::default());
    commit_bit_in_qm1(&mut p);
    let mut seen = 0;
    p.drop_if = Box::new(move |_, d| {
        let quick = !d.a_to_b
            && isakmp::Header::decode(&d.t.data)
                .is_ok_and(|h| h.exchange == isakmp::ExchangeType::QUICK);
        if quick {
            seen += 1;
        }
        quick && seen == 2
    });
    trigger(&mut p);
    assert_eq!(p.a.established_ph2(), 1, "a: {:?}", p.a.logs());
    assert_eq!(p.b.established_ph2(), 1);
    assert_loop(&mut p);
}

/// Transport mode through a NAT: both sides send NAT-OAi and NAT-OAr (RFC 3947 §5.2) and put
/// the peer's original address into the inbound SA and our address as the peer saw it into
/// the outbound one (X_NAT_T_OA), as racoon does.
#[test]
fn transport_mode_behind_nat_exchanges_nat_oa() {
    let now = std::time::Instant::now();
    let ike = "encryption_algorithm aes 128; hash_algorithm sha1; authentication_method pre_shared_key; dh_group modp1024;";
    let esp = "encryption_algorithm aes 128; authentication_algorithm hmac_sha1; compression_algorithm deflate;";
    let a = Peer::new(
        ip(A),
        &format!(
            "remote {B} {{ exchange_mode main; nat_traversal on; proposal {{ {ike} }} }}
sainfo address {A} any address {B} any {{ {esp} }}"
        ),
        &format!("{B} k\n"),
        5,
        now,
    );
    let b = Peer::new(
        ip(B),
        &format!(
            "remote anonymous {{ exchange_mode main; nat_traversal on; generate_policy on; proposal {{ {ike} }} }}
sainfo anonymous {{ {esp} }}"
        ),
        "198.51.100.9 k\n",
        6,
        now,
    );
    let mut p = Pair::new(a, b);
    p.nat = Some(ip("198.51.100.9"));
    let n = p.know();
    p.a.spdadd(
        n,
        "192.0.2.1/32",
        "192.0.2.2/32",
        Dir::OUT,
        None,
        IpsecProto::ESP,
    );
    p.a.spdadd(
        n,
        "192.0.2.2/32",
        "192.0.2.1/32",
        Dir::IN,
        None,
        IpsecProto::ESP,
    );
    p.drive();
    p.first_packet(ip(A), ip(B));
    p.drive_for(Duration::from_secs(30));
    assert_eq!(
        p.b.established_ph2(),
        1,
        "a: {:?}\nb: {:?}",
        p.a.logs(),
        p.b.logs()
    );
    let oa = |peer: &Peer, t: pfkey::MsgType| {
        let m = peer
            .sent
            .iter()
            .find(|m| m.header.msg_type == t)
            .unwrap_or_else(|| panic!("no {t:?}"));
        assert_eq!(m.sa2().unwrap().mode, pfkey::Mode::TRANSPORT);
        assert!(m.nat_t_type().is_some());
        m.nat_t_oa().map(|a| a.addr.ip())
    };
    // b: the initiator's own address (NAT-OAi), b's address as a knows it (NAT-OAr)
    assert_eq!(oa(&p.b, pfkey::MsgType::UPDATE), Some(ip(A)));
    assert_eq!(oa(&p.b, pfkey::MsgType::ADD), Some(ip(B)));
    // a: b's own address (NAT-OAr from b), a's address as b saw it (the NAT's)
    assert_eq!(oa(&p.a, pfkey::MsgType::UPDATE), Some(ip(B)));
    assert_eq!(oa(&p.a, pfkey::MsgType::ADD), Some(ip("198.51.100.9")));
}

/// Main Mode responder that rejects the initiator's ID at MM5: keys exist, so (as racoon's
/// isakmp_info_send_common) it sends INVALID-ID-INFORMATION encrypted with HASH(1); the
/// initiator verifies it and ends its phase 1 at once with the reason, instead of
/// retransmitting MM5 until its phase-1 timer gives up.
#[test]
fn rejected_id_is_reported_under_hash1_and_ends_the_initiators_phase1() {
    let mut s = Setup::default();
    s.a.extra_remote = "my_identifier fqdn \"mallory.example.org\";".into();
    s.b.extra_remote = "peers_identifier fqdn \"alice.example.org\"; verify_identifier on;".into();
    let mut p = pair(&s);
    let t0 = p.now;
    trigger(&mut p);
    assert_eq!(p.a.sa_count() + p.b.sa_count(), 0);
    let a_logs = p.a.logs();
    assert!(
        a_logs
            .iter()
            .any(|l| l.contains("the peer sent INVALID-ID-INFORMATION")),
        "a: {a_logs:?}\nb: {:?}",
        p.b.logs()
    );
    // b's notify was encrypted (HASH(1)), and a sent MM5 once: no retransmission needed
    let infos: Vec<isakmp::Header> = p
        .captured
        .iter()
        .filter(|d| !d.a_to_b)
        .filter_map(|d| isakmp::Header::decode(&d.t.data).ok())
        .filter(|h| h.exchange == isakmp::ExchangeType::INFORMATIONAL)
        .collect();
    assert_eq!(infos.len(), 1, "{infos:?}");
    assert!(infos[0].is_encrypted());
    let mm5s = p
        .captured
        .iter()
        .filter(|d| d.a_to_b)
        .filter_map(|d| isakmp::Header::decode(&d.t.data).ok())
        .filter(|h| h.exchange == isakmp::ExchangeType::MAIN && h.is_encrypted())
        .count();
    assert_eq!(mm5s, 1);
    let failed_at =
        p.a.events
            .iter()
            .position(|e| matches!(e, Event::Phase1Failed { .. }));
    assert!(failed_at.is_some(), "a: {a_logs:?}");
    assert!(p.now.duration_since(t0) <= Duration::from_secs(61));
}

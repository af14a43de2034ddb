//! No state left behind after failures: larval (GETSPI) SAs of a failed Quick Mode are
//! deleted at once, INITIAL-CONTACT purges the restarted peer's stale phase 1, and a
//! `flush-sa isakmp` fails the phase 2s waiting for a phase 1. Two endpoints in memory, each
//! with an `engine` kernel as its fake kernel (see `harness`).

mod harness;

use std::net::IpAddr;
use std::time::Duration;

use engine::sad::SaState;
use harness::{Pair, Peer};
use ike::Event;
use pfkey::{Dir, IpsecProto, MsgType};

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn conf(peer: &str, local_net: &str, remote_net: &str, esp: &str) -> String {
    format!(
        "timer {{ phase1 20 sec; phase2 15 sec; }}
remote {peer} {{
    exchange_mode main;
    proposal {{ encryption_algorithm aes 128; hash_algorithm sha1;
        authentication_method pre_shared_key; dh_group modp1024; }}
}}
sainfo address {local_net} any address {remote_net} any {{
    {esp}
    compression_algorithm deflate;
    lifetime time 3600 sec;
}}
"
    )
}

const ESP: &str = "encryption_algorithm aes 128; authentication_algorithm hmac_sha1;";

fn peer_a(esp: &str, seed: u64, now: std::time::Instant) -> Peer {
    Peer::new(
        ip(A),
        &conf(B, "10.1.0.0/16", "10.2.0.0/16", esp),
        &format!("{B} s3cret-psk\n"),
        seed,
        now,
    )
}

fn pair(esp_b: &str) -> Pair {
    let now = std::time::Instant::now();
    let a = peer_a(ESP, 11, now);
    let b = Peer::new(
        ip(B),
        &conf(A, "10.2.0.0/16", "10.1.0.0/16", esp_b),
        &format!("{A} s3cret-psk\n"),
        22,
        now,
    );
    let mut p = Pair::new(a, b);
    let n = p.know();
    let (ia, ib) = (ip(A), ip(B));
    for (peer, l, r, me, them) in [
        (&mut p.a, "10.1.0.0/16", "10.2.0.0/16", ia, ib),
        (&mut p.b, "10.2.0.0/16", "10.1.0.0/16", ib, ia),
    ] {
        peer.spdadd(n, l, r, Dir::OUT, Some((me, them)), IpsecProto::ESP);
        peer.spdadd(n, r, l, Dir::IN, Some((them, me)), IpsecProto::ESP);
    }
    p.drive();
    p
}

/// The first packet from a's side: raises the ACQUIRE (returns whether it did).
fn packet(p: &mut Pair) -> bool {
    p.first_packet(ip("10.1.0.5"), ip("10.2.0.7"))
}

fn larval(peer: &Peer) -> usize {
    peer.k
        .sad()
        .iter()
        .filter(|s| s.state == SaState::Larval)
        .count()
}

fn ph2_failed(peer: &Peer) -> Vec<String> {
    peer.events
        .iter()
        .filter_map(|e| match e {
            Event::Phase2Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn failed_quick_mode_deletes_its_larval_sa_at_once() {
    // b accepts phase 1 but refuses every ESP proposal: a's Quick Mode fails after a's GETSPI
    let mut p = pair("encryption_algorithm 3des; authentication_algorithm hmac_md5;");
    assert!(packet(&mut p));
    // a only logs b's NO-PROPOSAL-CHOSEN (as racoon) and gives up by its phase-2 timer
    // (15 s): still well before the engine's own 30 s larval expiry
    p.drive_for(Duration::from_secs(20));
    assert!(
        !ph2_failed(&p.a).is_empty(),
        "a's phase 2 failed: {:?}",
        p.a.logs()
    );
    let getspi =
        p.a.sent
            .iter()
            .filter(|m| m.header.msg_type == MsgType::GETSPI)
            .count();
    assert_eq!(getspi, 1, "a asked for an SPI");
    let deletes =
        p.a.sent
            .iter()
            .filter(|m| m.header.msg_type == MsgType::DELETE)
            .count();
    assert_eq!(deletes, 1, "a deleted its larval SA");
    assert_eq!(larval(&p.a), 0, "no larval SA left in a's kernel");
    assert_eq!(p.a.k.sad().iter().count() + p.b.k.sad().iter().count(), 0);
}

#[test]
fn quick_mode_timeout_deletes_the_larval_sa() {
    // b never answers Quick Mode (every b->a datagram after phase 1 is lost): a gives up
    // by retransmission count or the phase-2 timer (15 s), before the engine's 30 s
    let mut p = pair(ESP);
    p.drop_if = Box::new(|n, d| !d.a_to_b && n >= 6);
    assert!(packet(&mut p));
    p.drive_for(Duration::from_secs(20));
    assert_eq!(ph2_failed(&p.a).len(), 1, "{:?}", p.a.logs());
    assert_eq!(larval(&p.a), 0, "a: no larval SA left");
    // b got QM1, made its own larval SA and installed nothing: its phase 2 fails too
    // (no QM3) and deletes its larval SA, or it is still waiting
    let b_failed = !ph2_failed(&p.b).is_empty();
    assert!(
        !b_failed || larval(&p.b) == 0,
        "b failed and left a larval SA"
    );
}

#[test]
fn initial_contact_purges_the_stale_phase1() {
    let mut p = pair(ESP);
    assert!(packet(&mut p));
    p.drive_for(Duration::from_secs(10));
    assert_eq!(p.b.ep.list_phase1().len(), 1);
    assert_eq!(p.b.sa_count(), 2, "{:?}", p.b.logs());
    // a restarts (its kernel keeps the old SAs, the daemon forgot everything)
    let now = p.now;
    p.a.ep = peer_a(ESP, 99, now).ep;
    p.drive();
    assert!(p.a.ep.establish_sa(
        now,
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap()
    ));
    p.drive();
    assert!(p.b.logs().iter().any(|l| l.contains("INITIAL-CONTACT")));
    assert_eq!(p.b.sa_count(), 0, "b purged the SAs of the old a");
    let ph1 = p.b.ep.list_phase1();
    assert_eq!(ph1.len(), 1, "only the new phase 1 is left: {ph1:?}");
    let deleted =
        p.b.events
            .iter()
            .filter(|e| matches!(e, Event::Phase1Deleted { .. }))
            .count();
    assert_eq!(deleted, 1);
}

#[test]
fn flushed_phase1_fails_the_waiting_phase2_at_once() {
    let mut p = pair(ESP);
    // b never answers: a's phase 1 hangs, its phase 2 waits for it
    p.drop_if = Box::new(|_, d| !d.a_to_b);
    assert!(packet(&mut p));
    p.drive_for(Duration::from_secs(2));
    assert!(ph2_failed(&p.a).is_empty());
    assert_eq!(p.a.ep.list_phase1().len(), 1);
    let now = p.now;
    p.a.ep.flush_phase1(now);
    p.drive_for(Duration::from_millis(1));
    assert!(p.a.ep.list_phase1().is_empty());
    assert_eq!(
        ph2_failed(&p.a),
        vec!["phase 1 flushed".to_string()],
        "{:?}",
        p.a.logs()
    );
    // the ACQUIRE was answered with ENOENT
    assert!(p
        .a
        .sent
        .iter()
        .any(|m| m.header.msg_type == MsgType::ACQUIRE && m.header.errno == 2));
    assert_eq!(p.a.k.sad().iter().count(), 0);
}

#[test]
fn simultaneous_phase1s_with_initial_contact_keep_each_other() {
    // both sides start a phase 1 at the same instant, each sends its INITIAL-CONTACT: neither
    // phase 1 is "stale" (both began before either was established), so both sides end up
    // with the same phase 1s
    let mut p = pair(ESP);
    let now = p.now;
    assert!(p.a.ep.establish_sa(
        now,
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap()
    ));
    assert!(p.b.ep.establish_sa(
        now,
        "192.0.2.2:500".parse().unwrap(),
        "192.0.2.1:500".parse().unwrap()
    ));
    p.drive();
    let cookies = |peer: &Peer| {
        let mut v: Vec<([u8; 8], [u8; 8])> = peer
            .ep
            .list_phase1()
            .iter()
            .map(|i| (i.icookie, i.rcookie))
            .collect();
        v.sort();
        v
    };
    assert_eq!(cookies(&p.a).len(), 2, "{:?}", p.a.logs());
    assert_eq!(cookies(&p.a), cookies(&p.b));
}

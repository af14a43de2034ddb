//! `authentication_method rsasig`: two endpoints in memory (the `Pair` harness), certificates
//! from `pki/tests/data` (root → intermediate → end, CRL in `certdir`, validity 2024-2034), and
//! an injected wall clock. Main and Aggressive Mode in both roles, then every failure case:
//! expired, not yet valid, untrusted CA, revoked, wrong identity, bad signature — each with its
//! log line and nothing installed.

mod harness;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::{Pair, Peer};
use ike::{Credentials, Event, RemoteCreds, Signer};
use pfkey::{Dir, IpsecProto};

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";
/// 2027-01-15: inside every fixture's validity.
const NOW: i64 = 1_800_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../pki/tests/data")
        .join(name)
}

fn cert(name: &str) -> pki::Certificate {
    pki::load::load_certificates(&data(name)).unwrap().remove(0)
}

fn key(name: &str) -> Arc<dyn Signer> {
    Arc::new(pki::load::load_private_key(&data(name)).unwrap())
}

/// The hashed CA directory: root, intermediate and the intermediate's CRL.
fn certdir() -> pki::TrustStore {
    let mut t = pki::TrustStore::new();
    pki::load::load_ca_dir(&data("certdir"), &mut t).unwrap();
    t
}

/// Only the root (the intermediate must come in a CERT payload).
fn root_only() -> pki::TrustStore {
    let mut t = pki::TrustStore::new();
    t.add(cert("root.crt"));
    t
}

struct Side {
    mode: &'static str,
    /// The `certificate_type` line (the files are loaded by the test, not by the core).
    cert_line: &'static str,
    remote: String,
    creds: RemoteCreds,
    clock: i64,
}

impl Side {
    fn a() -> Side {
        Side {
            mode: "main",
            cert_line: "certificate_type x509 \"end.crt\" \"end.key\";",
            remote: "my_identifier asn1dn;".into(),
            creds: RemoteCreds {
                my_certs: vec![cert("end.crt"), cert("inter.crt")],
                signer: Some(key("end.key")),
                trust: root_only(),
                ..Default::default()
            },
            clock: NOW,
        }
    }
    fn b() -> Side {
        Side {
            mode: "main",
            cert_line: "certificate_type x509 \"peer.crt\" \"peer.key\";",
            remote: "my_identifier asn1dn;".into(),
            creds: RemoteCreds {
                my_certs: vec![cert("peer.crt"), cert("inter.crt")],
                signer: Some(key("peer.key")),
                trust: certdir(),
                ..Default::default()
            },
            clock: NOW,
        }
    }
    fn aggressive(mut self) -> Side {
        self.mode = "aggressive";
        self
    }
}

fn conf(peer: &str, local_net: &str, remote_net: &str, s: &Side) -> String {
    format!(
        "remote {peer} {{
    exchange_mode {mode};
    {cert_line}
    {extra}
    proposal {{ encryption_algorithm aes 128; hash_algorithm sha1; authentication_method rsasig; dh_group modp1024; }}
}}
sainfo address {local_net} any address {remote_net} any {{
    encryption_algorithm aes 128; authentication_algorithm hmac_sha1;
    compression_algorithm deflate;
    lifetime time 3600 sec;
}}
",
        mode = s.mode,
        cert_line = s.cert_line,
        extra = s.remote,
    )
}

fn peer(addr: &str, other: &str, nets: (&str, &str), s: Side, seed: u64) -> Peer {
    let mut p = Peer::new(
        ip(addr),
        &conf(other, nets.0, nets.1, &s),
        "",
        seed,
        std::time::Instant::now(),
    );
    let clock = Arc::new(AtomicI64::new(s.clock));
    p.ep.set_credentials(Credentials {
        remotes: vec![s.creds],
        clock: Arc::new(move || clock.load(Ordering::Relaxed)),
    });
    p
}

fn pair(a: Side, b: Side) -> Pair {
    let a = peer(A, B, ("10.1.0.0/16", "10.2.0.0/16"), a, 11);
    let b = peer(B, A, ("10.2.0.0/16", "10.1.0.0/16"), b, 22);
    let mut p = Pair::new(a, b);
    let n = p.know();
    let (ia, ib) = (ip(A), ip(B));
    for (peer, (src, dst), (ts, td)) in [
        (&mut p.a, ("10.1.0.0/16", "10.2.0.0/16"), (ia, ib)),
        (&mut p.b, ("10.2.0.0/16", "10.1.0.0/16"), (ib, ia)),
    ] {
        peer.spdadd(n, src, dst, Dir::OUT, Some((ts, td)), IpsecProto::ESP);
        peer.spdadd(n, dst, src, Dir::IN, Some((td, ts)), IpsecProto::ESP);
    }
    p.drive();
    p
}

/// a sends the first packet (ACQUIRE) and both negotiate.
fn trigger(p: &mut Pair) {
    p.first_packet(ip("10.1.0.5"), ip("10.2.0.7"));
    p.drive_for(Duration::from_secs(60));
}

fn assert_up(p: &mut Pair) {
    assert_eq!(p.a.established_ph1(), 1, "a: {:#?}", p.a.logs());
    assert_eq!(p.b.established_ph1(), 1, "b: {:#?}", p.b.logs());
    assert_eq!(p.a.established_ph2(), 1, "a: {:#?}", p.a.logs());
    assert_eq!(p.b.established_ph2(), 1, "b: {:#?}", p.b.logs());
    p.assert_loop(ip("10.1.0.5"), ip("10.2.0.7"));
}

/// Negotiation failed, with `needle` in the failing side's log and nothing installed anywhere.
fn assert_failed(p: &Pair, a_fails: bool, needle: &str) {
    assert_eq!(p.a.established_ph2() + p.b.established_ph2(), 0);
    assert_eq!(p.a.sa_count(), 0, "a installed SAs");
    assert_eq!(p.b.sa_count(), 0, "b installed SAs");
    let (who, other) = if a_fails { (&p.a, &p.b) } else { (&p.b, &p.a) };
    assert_eq!(who.established_ph1(), 0, "{:#?}", who.logs());
    let logs = who.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("phase1 negotiation failed") && l.contains(needle)),
        "no failure line with {needle:?}: {logs:#?}"
    );
    assert!(who
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase1Failed { reason, .. } if reason.contains(needle))));
    let _ = other;
}

/// Payload types of every cleartext datagram sent by a (true) or b.
fn clear_payloads(p: &Pair, from_a: bool) -> Vec<Vec<isakmp::PayloadType>> {
    p.captured
        .iter()
        .filter(|d| d.a_to_b == from_a)
        .filter_map(|d| isakmp::Message::decode(&d.t.data).ok())
        .filter(|m| !m.header.is_encrypted())
        .map(|m| m.payloads().iter().map(|x| x.payload_type()).collect())
        .collect()
}

/// Exchange types of the encrypted datagrams b sent after phase 1 started.
fn sent_informational(p: &Pair, from_a: bool) -> bool {
    p.captured.iter().filter(|d| d.a_to_b == from_a).any(|d| {
        isakmp::Header::decode(&d.t.data)
            .is_ok_and(|h| h.exchange == isakmp::ExchangeType::INFORMATIONAL)
    })
}

#[test]
fn main_mode_rsasig_with_intermediate_from_cert_payload() {
    let mut p = pair(Side::a(), Side::b());
    trigger(&mut p);
    assert_up(&mut p);
    // MM3 and MM4 carry a CR (send_cr on by default)
    use isakmp::PayloadType as T;
    let a3 = &clear_payloads(&p, true)[1];
    assert!(a3.contains(&T::CR) && a3.contains(&T::KE), "{a3:?}");
    let b4 = &clear_payloads(&p, false)[1];
    assert!(b4.contains(&T::CR), "{b4:?}");
    assert!(!p.a.logs().iter().any(|l| l.contains("failed")));
}

#[test]
fn aggressive_mode_rsasig() {
    let mut p = pair(Side::a().aggressive(), Side::b().aggressive());
    trigger(&mut p);
    assert_up(&mut p);
    // AM2 is cleartext: b's certificate and SIG are in it, and a CR
    use isakmp::PayloadType as T;
    let am2 = &clear_payloads(&p, false)[0];
    for t in [T::SA, T::KE, T::NONCE, T::ID, T::CERT, T::SIG, T::CR] {
        assert!(am2.contains(&t), "AM2 lacks {t:?}: {am2:?}");
    }
    let am1 = &clear_payloads(&p, true)[0];
    assert!(am1.contains(&T::CR), "{am1:?}");
}

#[test]
fn fqdn_user_fqdn_and_address_ids_are_checked_against_subject_alt_name() {
    for id in [
        "my_identifier fqdn \"gw.example.net\";",
        "my_identifier user_fqdn \"admin@example.net\";",
        "my_identifier address;",
    ] {
        let mut a = Side::a();
        a.remote = id.into();
        let mut p = pair(a, Side::b());
        trigger(&mut p);
        assert_up(&mut p);
    }
}

#[test]
fn my_identifier_asn1dn_hex_form() {
    let hex: String = cert("end.crt")
        .subject_der()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut a = Side::a();
    a.remote = format!("my_identifier asn1dn \"~{hex}\";");
    let mut b = Side::b();
    b.remote =
        format!("my_identifier asn1dn; verify_identifier on; peers_identifier asn1dn \"~{hex}\";");
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_up(&mut p);
}

#[test]
fn the_peer_certificate_is_found_when_its_ca_comes_first() {
    // a sends CERT(intermediate) before CERT(end); the explicit DN keeps its ID right
    let mut a = Side::a();
    a.creds.my_certs = vec![cert("inter.crt"), cert("end.crt")];
    a.remote = "my_identifier asn1dn \"C=XX, O=Example, CN=gw.example.net\";".into();
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    assert_up(&mut p);
}

#[test]
fn send_cr_off_sends_no_certificate_request() {
    let mut a = Side::a();
    a.remote = "my_identifier asn1dn; send_cr off;".into();
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    assert_up(&mut p);
    use isakmp::PayloadType as T;
    assert!(clear_payloads(&p, true).iter().all(|m| !m.contains(&T::CR)));
    assert!(
        clear_payloads(&p, false)[1].contains(&T::CR),
        "b still asks"
    );
}

#[test]
fn peers_identifier_fqdn_with_a_certificate() {
    let mut a = Side::a();
    a.remote = "my_identifier fqdn \"gw.example.net\";".into();
    let mut b = Side::b();
    b.remote = "my_identifier asn1dn; verify_identifier on; \
                peers_identifier fqdn \"gw.example.net\";"
        .into();
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_up(&mut p);
    // another name that is also in a's certificate is not the one b expects
    let mut a = Side::a();
    a.remote = "my_identifier user_fqdn \"admin@example.net\";".into();
    let mut b = Side::b();
    b.remote = "my_identifier asn1dn; verify_identifier on; \
                peers_identifier fqdn \"gw.example.net\";"
        .into();
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_failed(&p, false, "does not match peers_identifier");
}

#[test]
fn a_cr_for_a_ca_outside_our_chain_is_logged() {
    let mut b = Side::b();
    b.creds.cr_ca = Some(cert("pl0-root.crt"));
    let mut p = pair(Side::a(), b);
    trigger(&mut p);
    // a still sends its certificate (b trusts it) and says the CR was not answered
    assert_up(&mut p);
    assert!(p
        .a
        .logs()
        .iter()
        .any(|l| l.contains("certificate request for C=XX, O=Racoon Test, CN=PathLen0 Root")));
}

#[test]
fn an_id_not_in_the_certificate_is_refused() {
    let mut a = Side::a();
    a.remote = "my_identifier fqdn \"other.example.net\";".into();
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    assert_failed(&p, false, "does not match its certificate");
    // the responder told the initiator, encrypted, and the initiator read it
    assert!(sent_informational(&p, false));
    assert!(
        p.a.logs()
            .iter()
            .any(|l| l.contains("the peer sent") && l.contains("AUTHENTICATION-FAILED")),
        "{:#?}",
        p.a.logs()
    );
}

#[test]
fn expired_certificate_is_refused() {
    let mut b = Side::b();
    b.clock = 2_100_000_000; // 2036: past notAfter 2034
    let mut p = pair(Side::a(), b);
    trigger(&mut p);
    assert_failed(&p, false, "has expired");
    assert!(sent_informational(&p, false));
    // a decrypts b's notify (sent under the IV a holds after MM5) and gives up at once
    assert!(
        p.a.logs()
            .iter()
            .any(|l| l.contains("the peer sent") && l.contains("INVALID-CERTIFICATE")),
        "{:#?}",
        p.a.logs()
    );
    assert_eq!(p.a.ep.list_phase1().len(), 0);
}

#[test]
fn not_yet_valid_certificate_is_refused() {
    let mut a = Side::a();
    a.clock = 1_700_000_000; // 2023: before notBefore 2024
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    // a (the initiator) refuses b's MM6; b had already established
    assert_failed(&p, true, "is not yet valid");
}

#[test]
fn untrusted_ca_is_refused() {
    // a root with the trusted root's name but another key
    let mut a = Side::a();
    a.creds.my_certs = vec![cert("rogue-end.crt")];
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    assert_failed(
        &p,
        false,
        "signature by \"C=XX, O=Racoon Test, CN=Racoon Test Root CA\" does not verify",
    );
    // a CA b does not know at all
    let mut b = Side::b();
    b.creds.trust = pki::TrustStore::new();
    b.creds.trust.add(cert("pl0-root.crt"));
    let mut p = pair(Side::a(), b);
    trigger(&mut p);
    assert_failed(&p, false, "is not trusted");
}

#[test]
fn revoked_certificate_is_refused() {
    let mut b = Side::b();
    b.creds.my_certs = vec![cert("revoked.crt")];
    let mut a = Side::a();
    a.creds.trust = certdir(); // has the intermediate's CRL
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_failed(&p, true, "has been revoked");
}

#[test]
fn bad_signature_is_refused() {
    // a's certificate with another key: the SIG does not verify with the certificate's key
    let mut a = Side::a();
    a.creds.signer = Some(key("peer.key"));
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    assert_failed(&p, false, "RSA signature does not verify");
}

#[test]
fn bad_signature_in_aggressive_mode_2_is_refused() {
    let mut b = Side::b().aggressive();
    b.creds.signer = Some(key("end.key"));
    let mut p = pair(Side::a().aggressive(), b);
    trigger(&mut p);
    assert_failed(&p, true, "RSA signature does not verify");
    assert_eq!(p.b.established_ph1(), 0);
}

#[test]
fn peers_identifier_asn1dn_with_wildcards() {
    let mut a = Side::a();
    a.remote = "my_identifier asn1dn; verify_identifier on; \
                peers_identifier asn1dn \"C=XX, O=Example, OU=*, CN=peer.example.net\";"
        .into();
    let mut b = Side::b();
    // explicit DN equal to a's certificate subject
    b.remote = "my_identifier asn1dn; verify_identifier on; \
                peers_identifier asn1dn \"C=XX, O=Example, CN=gw.example.net\";"
        .into();
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_up(&mut p);

    let mut b = Side::b();
    b.remote = "my_identifier asn1dn; verify_identifier on; \
                peers_identifier asn1dn \"C=XX, O=Example, CN=*.example.org\";"
        .into();
    let mut p = pair(Side::a(), b);
    trigger(&mut p);
    assert_failed(&p, false, "does not match peers_identifier");
}

#[test]
fn explicit_asn1dn_must_still_name_the_certificate() {
    // my_identifier asn1dn "DN" that is not our subject: the peer refuses (verify_cert on)
    let mut a = Side::a();
    a.remote = "my_identifier asn1dn \"C=XX, O=Example, CN=impostor\";".into();
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    assert_failed(&p, false, "does not match its certificate");
}

#[test]
fn verify_cert_off_accepts_an_untrusted_chain_but_still_checks_the_signature() {
    let mut a = Side::a();
    a.creds.my_certs = vec![cert("rogue-end.crt")];
    let mut b = Side::b();
    b.remote = "my_identifier asn1dn; verify_cert off;".into();
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_up(&mut p);

    let mut a = Side::a();
    a.creds.my_certs = vec![cert("rogue-end.crt")];
    a.creds.signer = Some(key("peer.key"));
    let mut b = Side::b();
    b.remote = "my_identifier asn1dn; verify_cert off;".into();
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_failed(&p, false, "RSA signature does not verify");
}

#[test]
fn peers_certfile_x509_without_cert_payloads() {
    let mut a = Side::a();
    a.remote = "my_identifier asn1dn; send_cert off;".into();
    let mut b = Side::b();
    b.creds.peer_certs = vec![cert("end.crt")];
    let mut p = pair(a, b);
    trigger(&mut p);
    assert_up(&mut p);
    // without the pinned certificate b has nothing to verify with
    let mut a = Side::a();
    a.remote = "my_identifier asn1dn; send_cert off;".into();
    let mut p = pair(a, Side::b());
    trigger(&mut p);
    assert_failed(&p, false, "sent no certificate");
}

#[test]
fn plain_rsa_keys_both_ways() {
    let keys = pki::load::load_plain_rsa(&data("end.plainrsa")).unwrap();
    let pkey = match &keys[0].key {
        pki::PlainRsaKey::Private(k) => (**k).clone(),
        pki::PlainRsaKey::Public(_) => panic!("private key expected"),
    };
    let public = |addr: &str| pki::PlainRsaEntry {
        selectors: vec![addr.into()],
        key: pki::PlainRsaKey::Public(pkey.public_key()),
    };
    let side = |peer: &str| Side {
        mode: "main",
        cert_line: "",
        remote: "certificate_type plain_rsa \"end.plainrsa\"; \
                 peers_certfile plain_rsa \"end.pub\"; my_identifier address;"
            .into(),
        creds: RemoteCreds {
            signer: Some(Arc::new(pkey.clone())),
            peer_keys: vec![public(peer)],
            ..Default::default()
        },
        clock: NOW,
    };
    let mut p = pair(side(B), side(A));
    trigger(&mut p);
    assert_up(&mut p);
    // no CERT and no CR on the wire
    for from_a in [true, false] {
        for m in clear_payloads(&p, from_a) {
            assert!(!m.contains(&isakmp::PayloadType::CR));
        }
    }
    // a key registered for another address does not authenticate the peer
    let mut b = side(A);
    b.creds.peer_keys = vec![public("192.0.2.99")];
    let mut p = pair(side(B), b);
    trigger(&mut p);
    assert_failed(&p, false, "any plain_rsa key");
}

/// The largest datagram a 1280-byte IPv4 path carries (IP 20 + UDP 8).
const PATH_LIMIT: usize = 1280 - 28;

fn frag_pair(a_frag: &str, b_frag: &str, aggressive: bool) -> Pair {
    let mut a = Side::a();
    // a three-certificate chain: end, intermediate, root (~3 KB of CERT payloads)
    a.creds.my_certs = vec![cert("end.crt"), cert("inter.crt"), cert("root.crt")];
    a.remote = format!("my_identifier asn1dn; ike_frag {a_frag};");
    let mut b = Side::b();
    b.creds.my_certs = vec![cert("peer.crt"), cert("inter.crt"), cert("root.crt")];
    b.remote = format!("my_identifier asn1dn; ike_frag {b_frag};");
    if aggressive {
        a = a.aggressive();
        b = b.aggressive();
    }
    let mut p = pair(a, b);
    p.drop_if = Box::new(|_, d| d.t.data.len() > PATH_LIMIT);
    p
}

fn fragments_sent(p: &Pair, from_a: bool) -> usize {
    p.captured
        .iter()
        .filter(|d| d.a_to_b == from_a)
        .filter(|d| {
            isakmp::Header::decode(&d.t.data)
                .is_ok_and(|h| h.next_payload == isakmp::PayloadType::FRAGMENT)
        })
        .count()
}

#[test]
fn fragmentation_carries_a_three_cert_chain_over_a_1280_byte_path() {
    for aggressive in [false, true] {
        let mut p = frag_pair("on", "on", aggressive);
        trigger(&mut p);
        assert_up(&mut p);
        assert!(fragments_sent(&p, true) >= 3, "a fragmented MM5/AM3");
        assert!(fragments_sent(&p, false) >= 3, "b fragmented MM6/AM2");
        assert!(p.captured.iter().all(|d| d.t.data.len() <= PATH_LIMIT));
    }
}

#[test]
fn without_fragmentation_the_chain_does_not_pass_the_path() {
    // b does not announce fragmentation: a (ike_frag on) sends MM5 whole, the path drops it
    let mut p = frag_pair("on", "off", false);
    trigger(&mut p);
    assert_eq!(fragments_sent(&p, true), 0);
    assert_eq!(p.a.established_ph1() + p.b.established_ph1(), 0);
    assert_eq!(p.a.sa_count() + p.b.sa_count(), 0);
}

#[test]
fn ike_frag_force_on_both_sides() {
    for b in ["force", "on"] {
        let mut p = frag_pair("force", b, false);
        trigger(&mut p);
        assert_up(&mut p);
        assert!(fragments_sent(&p, true) >= 3);
        assert!(fragments_sent(&p, false) >= 3);
    }
}

#[test]
fn lost_fragment_is_recovered_by_retransmission() {
    let mut p = frag_pair("on", "on", false);
    let lost = std::rc::Rc::new(std::cell::Cell::new(0));
    let l = lost.clone();
    p.drop_if = Box::new(move |_, d| {
        if d.t.data.len() > PATH_LIMIT {
            return true;
        }
        // the first fragment numbered 2 is lost once
        let frag2 = d.t.data.len() > 34
            && isakmp::Header::decode(&d.t.data)
                .is_ok_and(|h| h.next_payload == isakmp::PayloadType::FRAGMENT)
            && d.t.data[34] == 2;
        if frag2 && l.get() == 0 {
            l.set(1);
            return true;
        }
        false
    });
    trigger(&mut p);
    assert_eq!(lost.get(), 1, "a fragment was lost");
    assert_up(&mut p);
}

#[test]
fn incomplete_fragment_sets_expire_on_the_timer() {
    // fragment 2 of everything a sends is lost: b holds the fragment-1 sets (bounded) ...
    let mut p = frag_pair("on", "on", false);
    p.drop_if = Box::new(move |_, d| {
        d.t.data.len() > PATH_LIMIT
            || (d.a_to_b
                && d.t.data.len() > 34
                && isakmp::Header::decode(&d.t.data)
                    .is_ok_and(|h| h.next_payload == isakmp::PayloadType::FRAGMENT)
                && d.t.data[34] == 2)
    });
    p.first_packet(ip("10.1.0.5"), ip("10.2.0.7"));
    p.drive_for(Duration::from_secs(2));
    assert!(p.b.ep.ike_fragments_pending() >= 1);
    // ... until their 30 s are over, without any further fragment arriving
    let later = p.now + Duration::from_secs(40);
    p.b.ep.handle_timeout(later);
    assert_eq!(p.b.ep.ike_fragments_pending(), 0);
    assert_eq!(p.b.established_ph1(), 0);
}

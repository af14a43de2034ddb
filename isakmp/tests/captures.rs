//! Decoding real captures and known-bad datagrams.

mod common;
use common::*;
use isakmp::*;

fn decode_all(msgs: &[Vec<u8>]) -> Vec<Message> {
    msgs.iter()
        .map(|m| Message::decode(m).unwrap_or_else(|e| panic!("{e}: {}", hexs(m))))
        .collect()
}

fn split_concatenated(mut d: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while d.len() >= HEADER_LEN {
        let l = u32::from_be_bytes([d[24], d[25], d[26], d[27]]) as usize;
        let l = l.clamp(HEADER_LEN, d.len());
        v.push(d[..l].to_vec());
        d = &d[l..];
    }
    v
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Cleartext messages must re-encode to exactly the bytes received (all reserved fields are
/// zero in these captures), and SA/ID raw bytes must be the payload bodies.
fn check_roundtrip(bytes: &[u8], m: &Message) {
    if !m.header.is_encrypted() {
        assert_eq!(hexs(&m.encode().unwrap()), hexs(bytes));
    }
}

#[test]
fn zeek_main_mode() {
    let msgs = ike_messages(&testdata(
        "zeek-spicy-ipsec/ipsec-ikev1-isakmp-main-mode.pcap",
    ));
    assert!(msgs.len() >= 6);
    let ms = decode_all(&msgs);
    for (b, m) in msgs.iter().zip(&ms) {
        check_roundtrip(b, m);
    }
    assert!(ms[..6]
        .iter()
        .all(|m| m.header.exchange == ExchangeType::MAIN));
    // MM1: SA + vendor IDs, one proposal for ISAKMP with KEY_IKE transforms.
    let Payload::Sa(sa) = &ms[0].payloads()[0] else {
        panic!("MM1 starts with SA")
    };
    assert_eq!(sa.doi, Doi::IPSEC);
    assert_eq!(sa.proposals[0].protocol, ProtocolId::ISAKMP);
    assert!(sa.proposals[0].transforms.iter().all(|t| t.id == KEY_IKE));
    let a = IkeAttrs::parse(&sa.proposals[0].transforms[0].attributes).unwrap();
    assert!(a.encryption.is_some() && a.hash.is_some() && a.group.is_some());
    // SA raw is the body after the generic header.
    assert_eq!(&msgs[0][32..32 + sa.raw.len()], &sa.raw[..]);
    // MM3/MM4 carry KE and NONCE.
    for m in &ms[2..4] {
        let tys: Vec<_> = m.payloads().iter().map(Payload::payload_type).collect();
        assert!(
            tys.contains(&PayloadType::KE) && tys.contains(&PayloadType::NONCE),
            "{tys:?}"
        );
    }
    // MM5/MM6 are encrypted.
    assert!(ms[4].header.is_encrypted() && ms[5].header.is_encrypted());
    assert!(matches!(ms[4].body, Body::Encrypted(ref c) if c.len() % 8 == 0));
}

#[test]
fn zeek_aggressive_mode() {
    let msgs = ike_messages(&testdata(
        "zeek-spicy-ipsec/ipsec-ikev1-isakmp-aggressive-mode.pcap",
    ));
    assert!(msgs.len() >= 2);
    let ms = decode_all(&msgs);
    for (b, m) in msgs.iter().zip(&ms) {
        check_roundtrip(b, m);
    }
    assert!(ms[..2]
        .iter()
        .all(|m| m.header.exchange == ExchangeType::AGGRESSIVE));
    let tys: Vec<_> = ms[0].payloads().iter().map(Payload::payload_type).collect();
    for t in [
        PayloadType::SA,
        PayloadType::KE,
        PayloadType::NONCE,
        PayloadType::ID,
    ] {
        assert!(tys.contains(&t), "{tys:?}");
    }
    let id = ms[0]
        .payloads()
        .iter()
        .find_map(|p| match p {
            Payload::Id(id) => Some(id),
            _ => None,
        })
        .unwrap();
    assert_eq!(id.raw, id.body_bytes());
}

#[test]
fn zeek_mixed_capture() {
    let msgs = ike_messages(&testdata("zeek-spicy-ipsec/ipsec.cap"));
    assert!(!msgs.is_empty());
    let ms = decode_all(&msgs);
    for (b, m) in msgs.iter().zip(&ms) {
        check_roundtrip(b, m);
    }
    assert!(ms
        .iter()
        .any(|m| m.header.exchange == ExchangeType::INFORMATIONAL
            || m.header.exchange == ExchangeType::QUICK));
}

#[test]
fn zeek_malformed_rejected() {
    let bad = ike_messages(&testdata(
        "zeek-spicy-ipsec/ipsec-ikev1-payload-bad-length.pcap",
    ));
    assert_eq!(bad.len(), 1);
    let e = Message::decode(&bad[0]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadPayloadLength, "{e}");
    let zero = ike_messages(&testdata("zeek-spicy-ipsec/ipsec-ikev1-zero-length.pcap"));
    assert_eq!(zero.len(), 1);
    let e = Message::decode(&zero[0]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadMessageLength, "{e}");
    assert_eq!(e.offset, 24);
}

#[test]
fn wireshark_certs_cleartext() {
    let msgs = ike_messages(&testdata("wireshark/ikev1-certs.pcap"));
    let ms = decode_all(&msgs);
    // This capture has 10 vendor IDs and proposal #0 (test-material.md §3).
    let vids = ms
        .iter()
        .flat_map(|m| m.payloads())
        .filter(|p| matches!(p, Payload::VendorId(_)))
        .count();
    assert!(vids >= 8, "{vids}");
    for (b, m) in msgs.iter().zip(&ms) {
        check_roundtrip(b, m);
    }
}

#[test]
fn strongswan_captures_headers_and_cleartext() {
    for f in [
        "strongswan-generated/s1-main-psk-qm-pfs-dpd-delete.pcapng",
        "strongswan-generated/s2-aggressive-psk-fqdn.pcapng",
    ] {
        let msgs = ike_messages(&testdata(f));
        assert!(msgs.len() >= 6, "{f}");
        let ms = decode_all(&msgs);
        let mut nat_d = 0;
        for (b, m) in msgs.iter().zip(&ms) {
            check_roundtrip(b, m);
            nat_d += m
                .payloads()
                .iter()
                .filter(|p| matches!(p, Payload::NatD { draft: false, .. }))
                .count();
        }
        assert!(nat_d >= 2, "{f}: NAT-D payloads in cleartext");
        assert!(ms.iter().any(|m| m.header.exchange == ExchangeType::QUICK));
    }
}

#[test]
fn rub_nds_recorded_pairs() {
    let text = std::fs::read_to_string(testdata("rub-nds-ipsec-sme/ikev1-vectors.json")).unwrap();
    let mut n = 0;
    for key in ["request", "response"] {
        for datagram in json_hex_values(&text, key) {
            // One recorded response holds two messages back to back (MM6 + Informational).
            for m in split_concatenated(&datagram) {
                let d = Message::decode(&m).unwrap_or_else(|e| panic!("{e}: {}", hexs(&m)));
                check_roundtrip(&m, &d);
                n += 1;
            }
        }
    }
    assert!(n >= 30, "{n}");
}

#[test]
fn libreswan_crashers_rejected_without_panic() {
    let text = std::fs::read_to_string(testdata("libreswan/fuzzer-ikev1-packets.json")).unwrap();
    let pkts = json_hex_values(&text, "hex");
    assert_eq!(pkts.len(), 6);
    // Codec-level verdicts. Three are structurally well-formed: the core must refuse them
    // (unknown payload type 15 -> INVALID-PAYLOAD-TYPE; an unencrypted Informational carrying
    // an SA; a SIG in Main Mode message 1), which the exchange rule table does.
    let expect: [Result<&[PayloadType], ErrorKind>; 6] = [
        Err(ErrorKind::UnsupportedVersion),
        Err(ErrorKind::UnsupportedSituation),
        Ok(&[PayloadType(15)]),
        Err(ErrorKind::BadSubstructureLength),
        Ok(&[PayloadType::SA, PayloadType::VENDOR_ID]),
        Ok(&[
            PayloadType::SIG,
            PayloadType::VENDOR_ID,
            PayloadType::VENDOR_ID,
        ]),
    ];
    for (p, want) in pkts.iter().zip(expect) {
        isakmp::fuzz::message(p);
        let got = Message::decode(p)
            .map(|m| {
                m.payloads()
                    .iter()
                    .map(Payload::payload_type)
                    .collect::<Vec<_>>()
            })
            .map_err(|e| e.kind);
        assert_eq!(got.as_deref().map_err(|e| *e), want, "{}", hexs(p));
    }
}

/// Every strict prefix of a message is rejected, both as a datagram and with the header
/// length patched to the prefix length (which exercises the payload parsers).
#[test]
fn every_prefix_truncation() {
    let mut all = ike_messages(&testdata(
        "zeek-spicy-ipsec/ipsec-ikev1-isakmp-main-mode.pcap",
    ));
    all.extend(ike_messages(&testdata(
        "zeek-spicy-ipsec/ipsec-ikev1-isakmp-aggressive-mode.pcap",
    )));
    all.extend(ike_messages(&testdata("wireshark/ikev1-certs.pcap")));
    let mut checked = 0;
    for m in all.iter().filter(|m| m[19] & 1 == 0) {
        for n in 0..m.len() {
            let mut p = m[..n].to_vec();
            assert!(Message::decode(&p).is_err());
            if n >= HEADER_LEN {
                p[24..28].copy_from_slice(&(n as u32).to_be_bytes());
                assert!(Message::decode(&p).is_err(), "prefix {n} of {}", hexs(m));
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

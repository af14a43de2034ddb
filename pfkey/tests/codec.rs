//! Round trips, hand-assembled golden messages, malformed-input classes, check().
mod common;

use common::*;
use pfkey::*;

fn rt(m: &Message) -> Vec<u8> {
    let b = m.encode().expect("encode");
    assert_eq!(b.len() % 8, 0, "encoding not 8-aligned");
    assert_eq!(usize::from(u16::from_ne_bytes([b[4], b[5]])) * 8, b.len());
    let back = Message::decode(&b).unwrap_or_else(|e| panic!("decode {m:?}: {e}"));
    assert_eq!(&back, m);
    b
}

#[test]
fn every_extension_round_trips_alone() {
    for e in every_extension() {
        let m = Message::new(MsgType::DUMP, SaType::ESP).with(e.clone());
        let b = rt(&m);
        // Extension length field matches what follows.
        let elen = usize::from(u16::from_ne_bytes([b[16], b[17]])) * 8;
        assert_eq!(elen, b.len() - 16, "{e:?}");
        assert_eq!(u16::from_ne_bytes([b[18], b[19]]), e.ext_type().0);
    }
}

#[test]
fn all_extensions_in_one_message_keep_order() {
    let exts = every_extension();
    // AddressSrc/Dst in the sample have equal families and protos.
    let mut m = Message::new(MsgType::GET, SaType::ESP)
        .with_seq(1)
        .with_pid(2);
    m.exts = exts.clone();
    m.exts.reverse();
    rt(&m);
    let back = Message::decode(&m.encode().unwrap()).unwrap();
    let types: Vec<_> = back.exts.iter().map(|e| e.ext_type().0).collect();
    assert_eq!(types, (1..=26).rev().collect::<Vec<u16>>());
}

#[test]
fn every_message_type_round_trips_and_checks() {
    let msgs = typical_messages();
    assert_eq!(msgs.len(), 24);
    for m in &msgs {
        rt(m);
        m.check()
            .unwrap_or_else(|e| panic!("{:?}: {e}", m.header.msg_type));
    }
}

#[test]
fn accessors_find_extensions() {
    let mut m = Message::new(MsgType::GET, SaType::ESP);
    m.exts = every_extension();
    assert_eq!(m.sa().unwrap().spi, 0xdeadbeef);
    assert_eq!(m.addr_src().unwrap().addr.port(), 500);
    assert_eq!(m.addr_dst().unwrap().addr.port(), 4500);
    assert_eq!(m.addr_proxy().unwrap().prefixlen, 64);
    assert_eq!(m.key_auth().unwrap().bytes(), &[0xa5; 20]);
    assert_eq!(m.key_encrypt().unwrap().bits(), 36);
    assert_eq!(m.lifetime_current().unwrap().allocations, 2);
    assert_eq!(m.lifetime_hard().unwrap().allocations, 3);
    assert_eq!(m.lifetime_soft().unwrap().allocations, 4);
    assert_eq!(m.identity_src().unwrap().data, b"vpn.example.org");
    assert_eq!(m.identity_dst().unwrap().ident_type, IdentType::USERFQDN);
    assert_eq!(m.sensitivity().unwrap().integ_bitmap, vec![u64::MAX]);
    assert_eq!(m.proposal().unwrap().combs.len(), 2);
    assert_eq!(m.supported_auth().unwrap().algs.len(), 2);
    assert_eq!(m.supported_encrypt().unwrap().algs[0].ivlen, 16);
    assert_eq!(m.spirange().unwrap().max, 0xffff);
    assert_eq!(m.kmprivate().unwrap().len(), 16);
    assert_eq!(m.policy().unwrap().requests.len(), 2);
    assert_eq!(m.sa2().unwrap().reqid, 16385);
    assert_eq!(m.nat_t_type(), Some(&NatTType::ESPINUDP));
    assert_eq!(m.nat_t_sport(), Some(&4500));
    assert_eq!(m.nat_t_dport(), Some(&31337));
    assert!(m.nat_t_oa().is_some());
    assert_eq!(m.sec_ctx().unwrap().alg, 1);
    assert_eq!(m.kmaddress().unwrap().remote.port(), 500);
    assert_eq!(m.filter().unwrap().dplen, 16);
    assert!(m.has(ExtType::X_FILTER));
    assert!(m.remove(ExtType::X_FILTER).is_some());
    assert!(m.filter().is_none());
    // `with` replaces, `push` appends.
    let m2 = Message::new(MsgType::ADD, SaType::ESP)
        .with(Extension::Sa(sa(1)))
        .with(Extension::Sa(sa(2)));
    assert_eq!(m2.exts.len(), 1);
    assert_eq!(m2.sa().unwrap().spi, 2);
}

#[test]
fn key_debug_is_redacted() {
    let k = Key::new(&[0xab; 16]).unwrap();
    let s = format!("{:?}", Extension::KeyEncrypt(k));
    assert!(s.contains("redacted"), "{s}");
    assert!(
        !s.contains("171") && !s.to_lowercase().contains("ab, "),
        "{s}"
    );
}

#[test]
fn names_and_unknown_values() {
    assert_eq!(SaType::ESP.name(), Some("esp"));
    assert_eq!(SaType(42).name(), None);
    assert_eq!(SaType(42).to_string(), "42");
    assert_eq!(EncAlg::DES3_CBC.to_string(), "3des-cbc");
    assert_eq!(
        AuthAlg::from_name("hmac-sha256"),
        Some(AuthAlg::HMAC_SHA256)
    );
    assert_eq!(Mode::TUNNEL.name(), Some("tunnel"));
    assert_eq!(Dir::FWD.name(), Some("fwd"));
    assert_eq!(PolicyType::BYPASS.name(), Some("bypass"));
    assert_eq!(Level::UNIQUE.name(), Some("unique"));
    assert_eq!(SaState::DYING.name(), Some("dying"));
    assert_eq!(CompAlg::DEFLATE.name(), Some("deflate"));
    assert_eq!(MsgType::X_MIGRATE.0, 24);
    assert_eq!(ExtType::X_FILTER.0, 26);
    assert_eq!(SaType::IPCOMP.ipsec_proto(), Some(IpsecProto::IPCOMP));
    assert_eq!(SaType::from_ipsec_proto(IpsecProto::AH), Some(SaType::AH));
    // Unknown values survive a round trip.
    let m = Message::new(MsgType(99), SaType(200)).with(Extension::Sa(Sa {
        spi: 1,
        replay: 0,
        state: SaState(77),
        auth: AuthAlg(199),
        encrypt: EncAlg(198),
        flags: SaFlags(0xffff_ffff),
    }));
    rt(&m);
    assert!(m.check().is_err());
}

#[test]
fn unknown_extension_strict_vs_lenient() {
    let m = Message::new(MsgType::DUMP, SaType::ESP)
        .with(Extension::Sa(sa(5)))
        .with(Extension::Unknown {
            ext_type: ExtType(300),
            body: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        });
    let b = m.encode().unwrap();
    let e = Message::decode(&b).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnknownExt(ExtType(300)));
    assert_eq!(e.offset, 16 + 16 + 2);
    assert_eq!(Message::decode_lenient(&b).unwrap(), m);
    // Type 0 is unknown too.
    let mut b0 = b.clone();
    b0[34..36].copy_from_slice(&0u16.to_ne_bytes());
    assert_eq!(
        Message::decode(&b0).unwrap_err().kind,
        DecodeErrorKind::UnknownExt(ExtType(0))
    );
}

// ---------------------------------------------------------------------------
// Hand-assembled messages (Linux ABI, little-endian host).

#[cfg(target_endian = "little")]
mod golden {
    use super::*;

    fn sockaddr_in(port: u16, a: [u8; 4]) -> Vec<u8> {
        let mut v = vec![2, 0]; // AF_INET, host order
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&a);
        v.extend_from_slice(&[0; 8]);
        v
    }

    #[test]
    fn add_esp_sa() {
        let auth_key: Vec<u8> = (0..20).collect();
        let enc_key: Vec<u8> = (100..116).collect();
        let mut x: Vec<u8> = vec![];
        // sadb_msg: version 2, ADD 3, errno 0, ESP 3, len 25 words, reserved, seq 0x11223344, pid 1000
        x.extend_from_slice(&[
            2, 3, 0, 3, 25, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0xe8, 0x03, 0, 0,
        ]);
        // sadb_sa: len 2, type 1, spi 0x0a0b0c0d big-endian, replay 4, mature, hmac-sha1 3, aes-cbc 12, flags 0
        x.extend_from_slice(&[2, 0, 1, 0, 0x0a, 0x0b, 0x0c, 0x0d, 4, 1, 3, 12, 0, 0, 0, 0]);
        // lifetime hard: len 4, type 3, alloc 0, bytes 0, addtime 3600, usetime 0
        x.extend_from_slice(&[4, 0, 3, 0, 0, 0, 0, 0]);
        x.extend_from_slice(&0u64.to_le_bytes());
        x.extend_from_slice(&3600u64.to_le_bytes());
        x.extend_from_slice(&0u64.to_le_bytes());
        // lifetime soft: 2880
        x.extend_from_slice(&[4, 0, 4, 0, 0, 0, 0, 0]);
        x.extend_from_slice(&0u64.to_le_bytes());
        x.extend_from_slice(&2880u64.to_le_bytes());
        x.extend_from_slice(&0u64.to_le_bytes());
        // address src: len 3, type 5, proto 255, prefixlen 32, reserved; sockaddr_in 192.0.2.1:500
        x.extend_from_slice(&[3, 0, 5, 0, 255, 32, 0, 0]);
        x.extend_from_slice(&sockaddr_in(500, [192, 0, 2, 1]));
        x.extend_from_slice(&[3, 0, 6, 0, 255, 32, 0, 0]);
        x.extend_from_slice(&sockaddr_in(500, [192, 0, 2, 2]));
        // key auth: len 4, type 8, bits 160, reserved, 20 key bytes + 4 pad
        x.extend_from_slice(&[4, 0, 8, 0, 160, 0, 0, 0]);
        x.extend_from_slice(&auth_key);
        x.extend_from_slice(&[0; 4]);
        // key encrypt: len 3, type 9, bits 128
        x.extend_from_slice(&[3, 0, 9, 0, 128, 0, 0, 0]);
        x.extend_from_slice(&enc_key);
        assert_eq!(x.len(), 25 * 8);

        let m = Message::new(MsgType::ADD, SaType::ESP)
            .with_seq(0x11223344)
            .with_pid(1000)
            .with(Extension::Sa(Sa {
                spi: 0x0a0b0c0d,
                replay: 4,
                state: SaState::MATURE,
                auth: AuthAlg::HMAC_SHA1,
                encrypt: EncAlg::AES_CBC,
                flags: SaFlags::NONE,
            }))
            .with(Extension::LifetimeHard(Lifetime {
                addtime: 3600,
                ..Default::default()
            }))
            .with(Extension::LifetimeSoft(Lifetime {
                addtime: 2880,
                ..Default::default()
            }))
            .with(Extension::AddressSrc(Address::host(sa4("192.0.2.1:500"))))
            .with(Extension::AddressDst(Address::host(sa4("192.0.2.2:500"))))
            .with(Extension::KeyAuth(Key::new(&auth_key).unwrap()))
            .with(Extension::KeyEncrypt(Key::new(&enc_key).unwrap()));
        assert_eq!(m.encode().unwrap(), x);
        assert_eq!(Message::decode(&x).unwrap(), m);
        m.check().unwrap();
    }

    #[test]
    fn spdadd_tunnel_esp() {
        let mut x: Vec<u8> = vec![];
        // sadb_msg: X_SPDADD 14, satype 0, len 16 words, seq 5, pid 77
        x.extend_from_slice(&[2, 14, 0, 0, 16, 0, 0, 0, 5, 0, 0, 0, 77, 0, 0, 0]);
        // selectors 10.0.0.0/24 any -> 10.0.1.0/24 any, proto any (255)
        x.extend_from_slice(&[3, 0, 5, 0, 255, 24, 0, 0]);
        x.extend_from_slice(&sockaddr_in(0, [10, 0, 0, 0]));
        x.extend_from_slice(&[3, 0, 6, 0, 255, 24, 0, 0]);
        x.extend_from_slice(&sockaddr_in(0, [10, 0, 1, 0]));
        // sadb_x_policy: len 8, type 18, IPSEC 2 (u16), dir out 2, reserved, id 0, priority 0x80000000
        x.extend_from_slice(&[8, 0, 18, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        // sadb_x_ipsecrequest: len 48 bytes, proto 50, tunnel 2, require 2, reserved, reqid 0, reserved2
        x.extend_from_slice(&[48, 0, 50, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        x.extend_from_slice(&sockaddr_in(0, [192, 0, 2, 1]));
        x.extend_from_slice(&sockaddr_in(0, [192, 0, 2, 2]));
        assert_eq!(x.len(), 16 * 8);

        let m = Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
            .with_seq(5)
            .with_pid(77)
            .with(Extension::AddressSrc(Address::new(
                sa4("10.0.0.0:0"),
                24,
                IPSEC_ULPROTO_ANY,
            )))
            .with(Extension::AddressDst(Address::new(
                sa4("10.0.1.0:0"),
                24,
                IPSEC_ULPROTO_ANY,
            )))
            .with(Extension::Policy(Policy {
                policy_type: PolicyType::IPSEC,
                dir: Dir::OUT,
                id: 0,
                priority: PRIORITY_DEFAULT,
                requests: vec![IpsecRequest {
                    proto: IpsecProto::ESP,
                    mode: Mode::TUNNEL,
                    level: Level::REQUIRE,
                    reqid: 0,
                    tunnel: Some(Endpoints {
                        src: sa4("192.0.2.1:0"),
                        dst: sa4("192.0.2.2:0"),
                    }),
                }],
            }));
        assert_eq!(m.encode().unwrap(), x);
        assert_eq!(Message::decode(&x).unwrap(), m);
        m.check().unwrap();
    }

    #[test]
    fn register_reply_with_supported_lists() {
        let mut x: Vec<u8> = vec![];
        // REGISTER 7, ESP, len 2+4+3 = 9 words, seq 1, pid 4321
        x.extend_from_slice(&[2, 7, 0, 3, 9, 0, 0, 0, 1, 0, 0, 0, 0xe1, 0x10, 0, 0]);
        // supported auth: len 4 (8 + 3*8), type 14, reserved
        x.extend_from_slice(&[4, 0, 14, 0, 0, 0, 0, 0]);
        // sadb_alg: id, ivlen, minbits, maxbits, reserved
        x.extend_from_slice(&[2, 0, 128, 0, 128, 0, 0, 0]);
        x.extend_from_slice(&[3, 0, 160, 0, 160, 0, 0, 0]);
        x.extend_from_slice(&[251, 0, 0, 0, 0, 8, 0, 0]);
        // supported encrypt: len 3, type 15
        x.extend_from_slice(&[3, 0, 15, 0, 0, 0, 0, 0]);
        x.extend_from_slice(&[3, 8, 192, 0, 192, 0, 0, 0]);
        x.extend_from_slice(&[12, 16, 128, 0, 0, 1, 0, 0]);

        let alg = |id, ivlen, minbits, maxbits| Alg {
            id,
            ivlen,
            minbits,
            maxbits,
        };
        let m = Message::new(MsgType::REGISTER, SaType::ESP)
            .with_seq(1)
            .with_pid(4321)
            .with(Extension::SupportedAuth(Supported {
                algs: vec![
                    alg(2, 0, 128, 128),
                    alg(3, 0, 160, 160),
                    alg(251, 0, 0, 2048),
                ],
            }))
            .with(Extension::SupportedEncrypt(Supported {
                algs: vec![alg(3, 8, 192, 192), alg(12, 16, 128, 256)],
            }));
        assert_eq!(m.encode().unwrap(), x);
        assert_eq!(Message::decode(&x).unwrap(), m);
    }

    #[test]
    fn getspi_ipv6_spirange_sa2_natt() {
        let a = |last: u8| {
            let mut v = vec![10, 0]; // AF_INET6 = 10
            v.extend_from_slice(&4500u16.to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 0]); // flowinfo
            let mut ip = [0u8; 16];
            ip[0] = 0x20;
            ip[1] = 0x01;
            ip[2] = 0x0d;
            ip[3] = 0xb8;
            ip[15] = last;
            v.extend_from_slice(&ip);
            v.extend_from_slice(&[0, 0, 0, 0]); // scope id
            v.extend_from_slice(&[0, 0, 0, 0]); // pad 28 -> 32
            v
        };
        let mut x: Vec<u8> = vec![];
        // GETSPI, ESP, len 2 + 2 (sa2) + 5 + 5 + 2 (spirange) + 1 (type) + 1 + 1 = 19
        x.extend_from_slice(&[2, 1, 0, 3, 19, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        // sa2: len 2, type 19, mode transport 1, reserved, sequence 0, reqid 0x4001
        x.extend_from_slice(&[2, 0, 19, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x40, 0, 0]);
        x.extend_from_slice(&[5, 0, 5, 0, 17, 128, 0, 0]);
        x.extend_from_slice(&a(1));
        x.extend_from_slice(&[5, 0, 6, 0, 17, 128, 0, 0]);
        x.extend_from_slice(&a(2));
        // spirange: min 0x100, max 0xffff (host order), reserved
        x.extend_from_slice(&[2, 0, 16, 0, 0, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
        // NAT-T type 2, sport/dport 4500 network order
        x.extend_from_slice(&[1, 0, 20, 0, 2, 0, 0, 0]);
        x.extend_from_slice(&[1, 0, 21, 0, 0x11, 0x94, 0, 0]);
        x.extend_from_slice(&[1, 0, 22, 0, 0x11, 0x94, 0, 0]);
        assert_eq!(x.len(), 19 * 8);

        let m = Message::new(MsgType::GETSPI, SaType::ESP)
            .with_seq(9)
            .with(Extension::Sa2(Sa2 {
                mode: Mode::TRANSPORT,
                sequence: 0,
                reqid: 0x4001,
            }))
            .with(Extension::AddressSrc(Address::new(
                "[2001:db8::1]:4500".parse().unwrap(),
                128,
                17,
            )))
            .with(Extension::AddressDst(Address::new(
                "[2001:db8::2]:4500".parse().unwrap(),
                128,
                17,
            )))
            .with(Extension::SpiRange(SpiRange {
                min: 0x100,
                max: 0xffff,
            }))
            .with(Extension::NatTType(NatTType::ESPINUDP))
            .with(Extension::NatTSport(4500))
            .with(Extension::NatTDport(4500));
        assert_eq!(m.encode().unwrap(), x);
        assert_eq!(Message::decode(&x).unwrap(), m);
    }
}

// ---------------------------------------------------------------------------
// Malformed input.

fn kind(b: &[u8]) -> DecodeErrorKind {
    Message::decode(b).expect_err("must fail").kind
}

fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

fn base_add() -> Vec<u8> {
    typical_messages()[2].encode().unwrap()
}

#[test]
fn every_strict_prefix_fails() {
    let mut all: Vec<Message> = typical_messages();
    let mut big = Message::new(MsgType::GET, SaType::ESP);
    big.exts = every_extension();
    all.push(big);
    for m in all {
        let b = m.encode().unwrap();
        for n in 0..b.len() {
            assert!(
                Message::decode(&b[..n]).is_err(),
                "prefix {n} of {:?}",
                m.header.msg_type
            );
            assert!(Message::decode_lenient(&b[..n]).is_err());
        }
        // Also: claiming the prefix length in the header must still fail or
        // decode to something structurally valid that re-encodes (no panic).
        for n in (16..b.len()).step_by(8) {
            let mut p = b[..n].to_vec();
            set_u16(&mut p, 4, (n / 8) as u16);
            if let Ok(d) = Message::decode(&p) {
                let again = d.encode().unwrap();
                assert_eq!(Message::decode(&again).unwrap(), d);
            }
        }
    }
}

#[test]
fn short_and_header_length_errors() {
    let b = base_add();
    assert_eq!(kind(&[]), DecodeErrorKind::Truncated);
    assert_eq!(kind(&b[..15]), DecodeErrorKind::Truncated);
    // Header says more than the buffer holds.
    let mut x = b.clone();
    set_u16(&mut x, 4, (b.len() / 8 + 1) as u16);
    assert_eq!(kind(&x), DecodeErrorKind::Truncated);
    // Header says less: trailing garbage.
    let mut x = b.clone();
    set_u16(&mut x, 4, (b.len() / 8 - 1) as u16);
    let e = Message::decode(&x).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Overlong);
    assert_eq!(e.offset, b.len() - 8);
    // Extra non-word bytes after the message.
    let mut x = b.clone();
    x.extend_from_slice(&[0, 0, 0]);
    assert_eq!(kind(&x), DecodeErrorKind::Misaligned);
    // Length below header size.
    let mut x = b.clone();
    set_u16(&mut x, 4, 1);
    assert_eq!(kind(&x), DecodeErrorKind::BadMsgLen);
    // Version.
    let mut x = b.clone();
    x[0] = 1;
    assert_eq!(kind(&x), DecodeErrorKind::BadVersion(1));
}

#[test]
fn extension_length_errors() {
    let b = base_add();
    // First extension (SA) at 16.
    let mut x = b.clone();
    set_u16(&mut x, 16, 0);
    assert_eq!(
        Message::decode(&x).unwrap_err(),
        DecodeError {
            offset: 16,
            kind: DecodeErrorKind::ZeroExtLen
        }
    );
    let mut x = b.clone();
    set_u16(&mut x, 16, 0x7fff);
    assert_eq!(kind(&x), DecodeErrorKind::ExtPastEnd);
    // SA claiming 3 words swallows the next ext header: wrong length for its type.
    let mut x = b.clone();
    set_u16(&mut x, 16, 3);
    assert_eq!(kind(&x), DecodeErrorKind::BadExtLen(ExtType::SA));
}

#[test]
fn duplicate_extension() {
    let m = Message::new(MsgType::DELETE, SaType::ESP).with(Extension::Sa(sa(1)));
    let mut b = m.encode().unwrap();
    b.extend_from_within(16..32);
    let w = (b.len() / 8) as u16;
    set_u16(&mut b, 4, w);
    let e = Message::decode(&b).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::DuplicateExt(ExtType::SA));
    assert_eq!(e.offset, 34);
    // `push` can build such a message; decoding rejects it.
    let mut m2 = m.clone();
    m2.push(Extension::Sa(sa(2)));
    assert_eq!(
        kind(&m2.encode().unwrap()),
        DecodeErrorKind::DuplicateExt(ExtType::SA)
    );
}

fn addr_msg(src: Address, dst: Address) -> Message {
    Message::new(MsgType::DELETE, SaType::ESP)
        .with(Extension::Sa(sa(1)))
        .with(Extension::AddressSrc(src))
        .with(Extension::AddressDst(dst))
}

#[test]
fn bad_sockaddrs() {
    let m = addr_msg(
        Address::host(sa4("1.2.3.4:0")),
        Address::host(sa4("5.6.7.8:0")),
    );
    let b = m.encode().unwrap();
    // src address ext at 32; sockaddr at 40.
    let mut x = b.clone();
    set_u16(&mut x, 40, 1); // AF_UNIX
    assert_eq!(
        kind(&x),
        DecodeErrorKind::BadSockaddr(SockaddrError::Family(1))
    );
    // AF_INET6 in a 3-word extension: too short for sockaddr_in6.
    let mut x = b.clone();
    set_u16(&mut x, 40, layout::AF_INET6);
    assert_eq!(kind(&x), DecodeErrorKind::BadSockaddr(SockaddrError::Short));
    // prefix length 33 for IPv4.
    let mut x = b.clone();
    x[37] = 33;
    assert_eq!(
        Message::decode(&x).unwrap_err(),
        DecodeError {
            offset: 37,
            kind: DecodeErrorKind::BadPrefixLen(33)
        }
    );
    // IPv6 prefix 129.
    let m6 = addr_msg(
        Address::new("[::1]:0".parse().unwrap(), 128, 255),
        Address::new("[::2]:0".parse().unwrap(), 128, 255),
    );
    let mut x = m6.encode().unwrap();
    x[37] = 129;
    assert_eq!(kind(&x), DecodeErrorKind::BadPrefixLen(129));
    // Address extension with an extra word: overlong for its type.
    let mut y = b[..32].to_vec();
    y.extend_from_slice(&[4, 0, 5, 0, 255, 32, 0, 0]);
    y.extend_from_slice(&b[40..56]);
    y.extend_from_slice(&[0; 8]);
    y.extend_from_slice(&b[56..]);
    let w = (y.len() / 8) as u16;
    set_u16(&mut y, 4, w);
    assert_eq!(kind(&y), DecodeErrorKind::BadExtLen(ExtType::ADDRESS_SRC));
}

#[test]
fn src_dst_mismatch() {
    let fam = addr_msg(
        Address::host(sa4("1.2.3.4:0")),
        Address::host("[::1]:0".parse().unwrap()),
    );
    let b = fam.encode().unwrap();
    assert_eq!(kind(&b), DecodeErrorKind::FamilyMismatch);
    assert_eq!(Message::decode_lenient(&b).unwrap(), fam);
    assert_eq!(fam.check(), Err(CheckError::FamilyMismatch));

    let proto = addr_msg(
        Address::new(sa4("1.2.3.4:0"), 32, 6),
        Address::new(sa4("1.2.3.5:0"), 32, 17),
    );
    let b = proto.encode().unwrap();
    assert_eq!(kind(&b), DecodeErrorKind::ProtoMismatch);
    assert_eq!(Message::decode_lenient(&b).unwrap(), proto);
    assert_eq!(proto.check(), Err(CheckError::ProtoMismatch));
}

#[test]
fn bad_keys_and_payload_lengths() {
    let m = Message::new(MsgType::ADD, SaType::ESP)
        .with(Extension::KeyAuth(Key::new(&[7; 8]).unwrap()));
    let b = m.encode().unwrap(); // key ext at 16: len 2, bits 64
    let mut x = b.clone();
    set_u16(&mut x, 20, 65);
    assert_eq!(kind(&x), DecodeErrorKind::BadKeyLen);
    let mut x = b.clone();
    set_u16(&mut x, 20, 0xffff);
    assert_eq!(kind(&x), DecodeErrorKind::BadKeyLen);
    // Fewer bits than the extension holds by more than padding.
    let mut x = b.clone();
    set_u16(&mut x, 20, 0);
    assert_eq!(kind(&x), DecodeErrorKind::BadExtLen(ExtType::KEY_AUTH));

    // Sensitivity whose bitmap lengths disagree with the extension length.
    let s = Message::new(MsgType::ACQUIRE, SaType::ESP).with(Extension::Sensitivity(Sensitivity {
        sens_bitmap: vec![1],
        ..Default::default()
    }));
    let mut x = s.encode().unwrap();
    x[16 + 9] = 5; // sens_len
    assert_eq!(kind(&x), DecodeErrorKind::BadExtLen(ExtType::SENSITIVITY));

    // Proposal body not a whole number of combs.
    let p = Message::new(MsgType::ACQUIRE, SaType::ESP)
        .with(Extension::Proposal(Proposal {
            replay: 0,
            combs: vec![Comb::default()],
        }))
        .with(Extension::Sa2(Sa2::default()));
    let mut x = p.encode().unwrap();
    set_u16(&mut x, 16, 1 + 9 + 2); // swallow the SA2 ext
    assert_eq!(kind(&x), DecodeErrorKind::BadExtLen(ExtType::PROPOSAL));

    // Security context length past the extension.
    let c = Message::new(MsgType::ADD, SaType::ESP).with(Extension::SecCtx(SecCtx {
        alg: 1,
        doi: 1,
        ctx: b"abc".to_vec(),
    }));
    let mut x = c.encode().unwrap();
    set_u16(&mut x, 22, 9);
    assert_eq!(kind(&x), DecodeErrorKind::BadExtLen(ExtType::X_SEC_CTX));
}

#[test]
fn bad_ipsec_requests() {
    let mut m = Message::new(MsgType::X_SPDADD, SaType::UNSPEC);
    m.exts = vec![every_extension()[17].clone()];
    assert!(m.policy().is_some());
    let b = m.encode().unwrap();
    rt(&m);
    // First request at 16 + 16 = 32; its length is 16 + 2*28 = 72.
    assert_eq!(u16::from_ne_bytes([b[32], b[33]]), 72);
    for bad in [0u16, 8, 15, 71, 74, 1000] {
        let mut x = b.clone();
        set_u16(&mut x, 32, bad);
        let e = Message::decode(&x).unwrap_err();
        assert!(
            matches!(
                e.kind,
                DecodeErrorKind::BadRequestLen | DecodeErrorKind::BadSockaddr(_)
            ),
            "{bad}: {e:?}"
        );
    }
    // Tunnel endpoint family mismatch: turn the dst sockaddr's family into AF_INET.
    let mut x = b.clone();
    set_u16(&mut x, 32 + 16 + 28, layout::AF_INET);
    assert_eq!(kind(&x), DecodeErrorKind::EndpointFamilyMismatch);
    // Encoding refuses mixed families.
    let mut p = m.policy().unwrap().clone();
    p.requests[0].tunnel = Some(Endpoints {
        src: sa4("1.1.1.1:0"),
        dst: "[::1]:0".parse().unwrap(),
    });
    let bad = Message::new(MsgType::X_SPDADD, SaType::UNSPEC).with(Extension::Policy(p));
    assert_eq!(
        bad.encode(),
        Err(EncodeError::FamilyMismatch(ExtType::X_POLICY))
    );
}

#[test]
fn encode_limits() {
    let big = Message::new(MsgType::ADD, SaType::ESP).with(Extension::KmPrivate(vec![0; 600_000]));
    assert_eq!(
        big.encode(),
        Err(EncodeError::ExtTooLong(ExtType::X_KMPRIVATE))
    );
    let mut out = vec![1, 2, 3];
    assert!(big.encode_into(&mut out).is_err());
    assert_eq!(out, vec![1, 2, 3]);
    let sens = Message::new(MsgType::ADD, SaType::ESP).with(Extension::Sensitivity(Sensitivity {
        sens_bitmap: vec![0; 256],
        ..Default::default()
    }));
    assert_eq!(
        sens.encode(),
        Err(EncodeError::FieldTooLong(ExtType::SENSITIVITY))
    );
    let mut many = Message::new(MsgType::ADD, SaType::ESP);
    for t in 100..200u16 {
        many.push(Extension::Unknown {
            ext_type: ExtType(t),
            body: vec![0; 8000],
        });
    }
    assert_eq!(many.encode(), Err(EncodeError::MessageTooLong));
}

#[test]
fn check_satype_rules() {
    let chk = |t: MsgType, s: SaType| Message::new(t, s).check();
    for t in [
        MsgType::GETSPI,
        MsgType::UPDATE,
        MsgType::ADD,
        MsgType::DELETE,
        MsgType::GET,
        MsgType::ACQUIRE,
        MsgType::EXPIRE,
        MsgType::X_NAT_T_NEW_MAPPING,
    ] {
        assert!(
            matches!(chk(t, SaType::UNSPEC), Err(CheckError::SaTypeMisuse { .. })),
            "{t:?}"
        );
        assert_eq!(chk(t, SaType::ESP), Ok(()));
    }
    for t in [
        MsgType::X_SPDADD,
        MsgType::X_SPDDELETE,
        MsgType::X_SPDGET,
        MsgType::X_SPDDUMP,
        MsgType::X_SPDFLUSH,
    ] {
        assert!(chk(t, SaType::AH).is_err(), "{t:?}");
        assert_eq!(chk(t, SaType::UNSPEC), Ok(()));
    }
    assert_eq!(chk(MsgType::FLUSH, SaType::UNSPEC), Ok(()));
    assert_eq!(chk(MsgType::REGISTER, SaType::IPCOMP), Ok(()));
    assert!(chk(MsgType::X_NAT_T_NEW_MAPPING, SaType::AH).is_err());
    let e = chk(MsgType::ADD, SaType::RSVP).unwrap_err();
    assert_eq!(e, CheckError::SaTypeNotSupported(SaType::RSVP));
    assert_eq!(e.errno(), libc_eopnotsupp());
    assert_eq!(chk(MsgType::X_PROMISC, SaType(1)), Ok(()));
    assert!(chk(MsgType::DUMP, SaType(1)).is_err());
    assert!(chk(MsgType::DUMP, SaType(77)).is_err());
    assert!(matches!(
        chk(MsgType(25), SaType::ESP),
        Err(CheckError::BadMsgType(_))
    ));
    assert!(matches!(
        chk(MsgType(0), SaType::ESP),
        Err(CheckError::BadMsgType(_))
    ));
    let mut m = Message::new(MsgType::ADD, SaType::ESP);
    m.header.version = 3;
    assert_eq!(m.check(), Err(CheckError::BadVersion(3)));
}

fn libc_eopnotsupp() -> i32 {
    95 // Linux EOPNOTSUPP
}

#[test]
fn header_peek_and_error_reply() {
    let b = base_add();
    let (h, len) = Header::peek(&b).unwrap();
    assert_eq!(len, b.len());
    assert_eq!(h.msg_type, MsgType::ADD);
    assert!(Header::peek(&b[..15]).is_none());
    let m = Message::decode(&b).unwrap();
    let r = m.error_reply(17);
    assert_eq!(r.header.errno, 17);
    assert_eq!(r.header.seq, m.header.seq);
    assert!(r.exts.is_empty());
    let rb = r.encode().unwrap();
    assert_eq!(rb.len(), 16);
    assert_eq!(rb[2], 17);
}

#[test]
fn identity_trailing_nul_and_kmprivate_padding() {
    let m = Message::new(MsgType::ADD, SaType::ESP).with(Extension::IdentitySrc(Identity {
        ident_type: IdentType::FQDN,
        id: 0,
        data: b"abc".to_vec(),
    }));
    let b = m.encode().unwrap();
    assert_eq!(b.len(), 16 + 24);
    assert_eq!(&b[32..40], b"abc\0\0\0\0\0");
    assert_eq!(Message::decode(&b).unwrap(), m);
    let k = Message::new(MsgType::ADD, SaType::ESP).with(Extension::KmPrivate(vec![1, 2, 3]));
    let d = Message::decode(&k.encode().unwrap()).unwrap();
    assert_eq!(d.kmprivate().unwrap(), &vec![1, 2, 3, 0, 0, 0, 0, 0]);
}

#[test]
fn duplicate_unknown_extension_lenient() {
    let mut m = Message::new(MsgType::DUMP, SaType::ESP);
    m.push(Extension::Unknown {
        ext_type: ExtType(4000),
        body: vec![0; 4],
    });
    m.push(Extension::Unknown {
        ext_type: ExtType(65535),
        body: vec![0; 4],
    });
    m.push(Extension::Unknown {
        ext_type: ExtType(63),
        body: vec![0; 4],
    });
    let b = m.encode().unwrap();
    assert_eq!(Message::decode_lenient(&b).unwrap(), m);
    m.push(Extension::Unknown {
        ext_type: ExtType(65535),
        body: vec![0; 4],
    });
    let e = Message::decode_lenient(&m.encode().unwrap()).unwrap_err();
    assert_eq!(
        e,
        DecodeError {
            offset: 16 + 24 + 2,
            kind: DecodeErrorKind::DuplicateExt(ExtType(65535))
        }
    );
}

#[test]
fn largest_message_of_tiny_unknown_extensions() {
    // 65509 distinct unknown 8-byte extensions: the maximum count of
    // extensions a lenient decode can produce. Must be linear, not quadratic.
    let mut m = Message::new(MsgType::DUMP, SaType::ESP);
    for t in 27..=u16::MAX {
        m.push(Extension::Unknown {
            ext_type: ExtType(t),
            body: vec![0; 4],
        });
    }
    let b = m.encode().unwrap();
    assert_eq!(b.len(), 16 + 8 * 65509);
    let t = std::time::Instant::now();
    let d = Message::decode_lenient(&b).unwrap();
    assert_eq!(d.exts.len(), 65509);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    // Strict mode stops at the first one.
    assert_eq!(
        Message::decode(&b).unwrap_err(),
        DecodeError {
            offset: 18,
            kind: DecodeErrorKind::UnknownExt(ExtType(27))
        }
    );
}

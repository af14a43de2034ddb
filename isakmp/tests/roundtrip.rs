//! Round trip of every payload kind, NAT-T marker handling, encrypted-body decoding, and a
//! property test over generated messages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use isakmp::*;
use proptest::prelude::*;

fn header(exchange: ExchangeType, flags: Flags, message_id: u32) -> Header {
    Header {
        initiator_cookie: [1, 2, 3, 4, 5, 6, 7, 8],
        responder_cookie: [9, 10, 11, 12, 13, 14, 15, 16],
        next_payload: PayloadType::NONE,
        version: VERSION_1_0,
        exchange,
        flags,
        message_id,
        length: 0,
    }
}

fn sample_payloads() -> Vec<Payload> {
    let ike = IkeAttrs {
        encryption: Some(EncryptionAlgorithm::AES_CBC),
        hash: Some(HashAlgorithm::SHA1),
        auth_method: Some(AuthMethod::PRE_SHARED_KEY),
        group: Some(GroupDescription::MODP_2048),
        key_length: Some(128),
        lifetimes: vec![Lifetime {
            kind: LifeType::SECONDS,
            value: 86400,
        }],
        ..Default::default()
    };
    let esp = IpsecAttrs {
        lifetimes: vec![
            Lifetime {
                kind: LifeType::SECONDS,
                value: 3600,
            },
            Lifetime {
                kind: LifeType::KILOBYTES,
                value: 1 << 40,
            },
        ],
        group: Some(GroupDescription::MODP_1024),
        encapsulation: Some(EncapsulationMode::UDP_TUNNEL),
        auth: Some(AuthAlgorithm::HMAC_SHA2_256),
        key_length: Some(256),
        ..Default::default()
    };
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let v6m = IpAddr::V6(Ipv6Addr::new(0xffff, 0xffff, 0xffff, 0xffff, 0, 0, 0, 0));
    vec![
        Payload::Sa(Sa::new(vec![Proposal {
            number: 1,
            protocol: ProtocolId::ISAKMP,
            spi: vec![],
            transforms: vec![
                Transform {
                    number: 1,
                    id: KEY_IKE,
                    attributes: ike.to_attributes(),
                },
                Transform {
                    number: 2,
                    id: KEY_IKE,
                    attributes: vec![],
                },
            ],
        }])),
        Payload::Sa(Sa::new(vec![
            Proposal {
                number: 1,
                protocol: ProtocolId::IPSEC_ESP,
                spi: vec![0xc6, 0xaf, 0x22, 0xee],
                transforms: vec![Transform {
                    number: 1,
                    id: EspTransformId::AES_CBC.0,
                    attributes: esp.to_attributes(),
                }],
            },
            Proposal {
                number: 1,
                protocol: ProtocolId::IPCOMP,
                spi: vec![0x12, 0x34],
                transforms: vec![Transform {
                    number: 1,
                    id: IpcompTransformId::DEFLATE.0,
                    attributes: vec![],
                }],
            },
        ])),
        Payload::Ke(vec![0xab; 256]),
        Payload::Nonce(vec![0x11; 32]),
        Payload::Id(Identification::new(&IdValue::Addr(v4(10, 0, 3, 10)), 0, 0)),
        Payload::Id(Identification::new(&IdValue::Addr(v6), 17, 500)),
        Payload::Id(Identification::new(
            &IdValue::Subnet(v4(10, 1, 0, 0), v4(255, 255, 0, 0)),
            6,
            80,
        )),
        Payload::Id(Identification::new(&IdValue::Subnet(v6, v6m), 0, 0)),
        Payload::Id(Identification::new(
            &IdValue::Range(v4(10, 0, 0, 1), v4(10, 0, 0, 9)),
            0,
            0,
        )),
        Payload::Id(Identification::new(&IdValue::Range(v6, v6), 0, 0)),
        Payload::Id(Identification::new(
            &IdValue::Fqdn(b"vpn.example.org"),
            0,
            0,
        )),
        Payload::Id(Identification::new(
            &IdValue::UserFqdn(b"a@example.org"),
            0,
            0,
        )),
        Payload::Id(Identification::new(
            &IdValue::DerAsn1Dn(&[0x30, 0x00]),
            0,
            0,
        )),
        Payload::Id(Identification::new(
            &IdValue::DerAsn1Gn(&[0x30, 0x01, 0]),
            0,
            0,
        )),
        Payload::Id(Identification::new(&IdValue::KeyId(b"key-1"), 0, 0)),
        Payload::Cert {
            encoding: CertEncoding::X509_SIG,
            data: vec![0x30, 0x82, 0x01],
        },
        Payload::CertReq {
            encoding: CertEncoding::X509_SIG,
            authority: vec![],
        },
        Payload::Hash(vec![7; 20]),
        Payload::Sig(vec![8; 128]),
        Payload::Notify(Notify {
            doi: Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            notify_type: NotifyType::R_U_THERE,
            spi: vec![1; 16],
            data: vec![0, 0, 0, 5],
        }),
        Payload::Notify(Notify {
            doi: Doi::IPSEC,
            protocol: ProtocolId::IPSEC_ESP,
            notify_type: NotifyType::RESPONDER_LIFETIME,
            spi: vec![1, 2, 3, 4],
            data: vec![
                0x80, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x04, 0, 0, 0x0e, 0x10,
            ],
        }),
        Payload::Delete(Delete {
            doi: Doi::IPSEC,
            protocol: ProtocolId::IPSEC_ESP,
            spi_size: 4,
            spis: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 9, 9, 9]],
        }),
        Payload::Delete(Delete {
            doi: Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            spi_size: 16,
            spis: vec![vec![3; 16]],
        }),
        Payload::VendorId(b"RFC 3947 vendor id hash".to_vec()),
        Payload::Attr(ConfigAttributes {
            cfg_type: CfgType::REPLY,
            identifier: 0x1234,
            attributes: vec![
                Attribute::variable(CfgAttrType::INTERNAL_IP4_ADDRESS.0, vec![10, 0, 0, 2]),
                Attribute::basic(CfgAttrType::XAUTH_STATUS.0, 1),
                Attribute::variable(CfgAttrType::INTERNAL_IP4_DNS.0, vec![]),
            ],
        }),
        Payload::NatD {
            draft: false,
            hash: vec![0x55; 20],
        },
        Payload::NatD {
            draft: true,
            hash: vec![0x66; 16],
        },
        Payload::NatOa {
            draft: false,
            addr: v4(192, 168, 1, 2),
        },
        Payload::NatOa {
            draft: true,
            addr: v6,
        },
        Payload::Fragment(vec![0, 1, 0, 1, 1, 1, 0xaa]),
        Payload::Unknown {
            payload_type: PayloadType(200),
            body: vec![1, 2, 3],
        },
    ]
}

fn roundtrip(m: &Message) -> Message {
    let bytes = m.encode().unwrap();
    assert_eq!(
        bytes.len(),
        u32::from_be_bytes(bytes[24..28].try_into().unwrap()) as usize
    );
    Message::decode(&bytes).unwrap()
}

#[test]
fn every_payload_roundtrips() {
    for p in sample_payloads() {
        let m = Message {
            header: header(ExchangeType::MAIN, Flags::default(), 0),
            body: Body::Plain(vec![p.clone()]),
        };
        let d = roundtrip(&m);
        assert_eq!(d.header.next_payload, p.payload_type());
        let got = &d.payloads()[0];
        // raw bytes kept on decode equal the canonical body bytes
        match (got, &p) {
            (Payload::Sa(g), Payload::Sa(w)) => {
                assert_eq!(g.raw, w.body_bytes().unwrap());
                assert_eq!(g.proposals, w.proposals);
            }
            (Payload::Id(g), Payload::Id(w)) => {
                assert_eq!(g.raw, w.body_bytes());
                assert_eq!(g.value(), w.value());
                assert!(!matches!(g.value(), IdValue::Other(_)));
            }
            _ => assert_eq!(got, &p),
        }
    }
}

#[test]
fn whole_chain_roundtrips_and_truncation_fails() {
    let payloads = sample_payloads();
    let m = Message {
        header: header(ExchangeType::AGGRESSIVE, Flags::COMMIT, 0),
        body: Body::Plain(payloads.clone()),
    };
    let bytes = m.encode().unwrap();
    let d = Message::decode(&bytes).unwrap();
    assert_eq!(d.payloads().len(), payloads.len());
    assert_eq!(d.encode().unwrap(), bytes);
    assert!(d.header.flags.contains(Flags::COMMIT));
    for n in HEADER_LEN..bytes.len() {
        let mut p = bytes[..n].to_vec();
        p[24..28].copy_from_slice(&(n as u32).to_be_bytes());
        assert!(Message::decode(&p).is_err(), "prefix {n}");
    }
}

#[test]
fn encrypted_body_then_payload_chain_with_padding() {
    let payloads = vec![Payload::Hash(vec![1; 20]), Payload::Nonce(vec![2; 16])];
    let mut chain = Vec::new();
    let first = encode_payloads(&payloads, &mut chain).unwrap();
    // "decrypted" body padded to a 16-byte block, last byte = pad length as some peers do
    while chain.len() % 16 != 15 {
        chain.push(0);
    }
    chain.push(7);
    let mut h = header(ExchangeType::QUICK, Flags::ENCRYPTION, 0xdead_beef);
    h.next_payload = first;
    let m = Message {
        header: h,
        body: Body::Encrypted(chain.clone()),
    };
    let bytes = m.encode().unwrap();
    let d = Message::decode(&bytes).unwrap();
    assert_eq!(d.header.next_payload, PayloadType::HASH);
    let Body::Encrypted(body) = &d.body else {
        panic!()
    };
    assert_eq!(body, &chain);
    let ps = decode_payloads(d.header.next_payload, body, HEADER_LEN, Trailing::Padding).unwrap();
    assert_eq!(ps, payloads);
    // without padding allowed, the same bytes are rejected (with the absolute offset)
    let e =
        decode_payloads(d.header.next_payload, body, HEADER_LEN, Trailing::Forbidden).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TrailingData);
    assert_eq!(e.offset, HEADER_LEN + 24 + 20);
}

#[test]
fn non_esp_marker() {
    let m = Message {
        header: header(ExchangeType::INFORMATIONAL, Flags::default(), 1),
        body: Body::Plain(vec![Payload::Hash(vec![0; 20])]),
    };
    let bytes = m.encode().unwrap();
    let wire = add_non_esp_marker(&bytes);
    assert_eq!(&wire[..4], &[0, 0, 0, 0]);
    assert_eq!(strip_non_esp_marker(&wire), Some(&bytes[..]));
    assert_eq!(classify_port_4500(&wire), Ok(Port4500::Ike(&bytes[..])));
    assert_eq!(classify_port_4500(&[0xff]), Ok(Port4500::Keepalive));
    let esp = [0, 0, 1, 0, 0, 0, 0, 1, 9, 9];
    assert_eq!(classify_port_4500(&esp), Ok(Port4500::Esp(&esp[..])));
    assert!(classify_port_4500(&[0, 0]).is_err());
    assert_eq!(strip_non_esp_marker(&esp), None);
}

#[test]
fn caps_and_bad_lengths() {
    // 65 vendor IDs exceed MAX_PAYLOADS.
    let many = vec![Payload::VendorId(vec![1]); MAX_PAYLOADS + 1];
    let m = Message {
        header: header(ExchangeType::MAIN, Flags::default(), 0),
        body: Body::Plain(many),
    };
    let bytes = m.encode().unwrap();
    assert_eq!(
        Message::decode(&bytes).unwrap_err().kind,
        ErrorKind::TooManyPayloads
    );
    // header length larger than the datagram / past the cap / below 28
    let mut b = Message {
        header: header(ExchangeType::MAIN, Flags::default(), 0),
        body: Body::Plain(vec![]),
    }
    .encode()
    .unwrap();
    for (len, kind) in [
        (29u32, ErrorKind::BadMessageLength),
        (27, ErrorKind::BadMessageLength),
        (0xffff_ffff, ErrorKind::MessageTooLarge),
    ] {
        b[24..28].copy_from_slice(&len.to_be_bytes());
        assert_eq!(Message::decode(&b).unwrap_err().kind, kind);
    }
    // IKEv2 version byte
    b[24..28].copy_from_slice(&28u32.to_be_bytes());
    b[17] = 0x20;
    assert_eq!(
        Message::decode(&b).unwrap_err().kind,
        ErrorKind::UnsupportedVersion
    );
    // delete whose SPI count does not fill the payload
    let mut d = Vec::new();
    encode_payloads(
        &[Payload::Delete(Delete {
            doi: Doi::IPSEC,
            protocol: ProtocolId::IPSEC_ESP,
            spi_size: 4,
            spis: vec![vec![1; 4]],
        })],
        &mut d,
    )
    .unwrap();
    d[11] = 2; // claim two SPIs
    let e = decode_payloads(PayloadType::DELETE, &d, 0, Trailing::Forbidden).unwrap_err();
    assert_eq!((e.kind, e.offset), (ErrorKind::BadSpi, 10));
    // IPv4 ID with 5 bytes of data
    let mut id = Vec::new();
    encode_payloads(
        &[Payload::Id(Identification::new(
            &IdValue::KeyId(&[1; 5]),
            0,
            0,
        ))],
        &mut id,
    )
    .unwrap();
    id[4] = IdType::IPV4_ADDR.0;
    let e = decode_payloads(PayloadType::ID, &id, 0, Trailing::Forbidden).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadIdLength);
}

fn arb_payload() -> impl Strategy<Value = Payload> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    let attr = (
        0u16..0x8000,
        any::<bool>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(k, b, v, bs)| {
            if b {
                Attribute::basic(k, v)
            } else {
                Attribute::variable(k, bs)
            }
        });
    let transform = (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(attr.clone(), 0..6),
    )
        .prop_map(|(number, id, attributes)| Transform {
            number,
            id,
            attributes,
        });
    let proposal = (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..8),
        proptest::collection::vec(transform, 0..4),
    )
        .prop_map(|(number, p, spi, transforms)| Proposal {
            number,
            protocol: ProtocolId(p),
            spi,
            transforms,
        });
    prop_oneof![
        proptest::collection::vec(proposal, 0..4).prop_map(|p| Payload::Sa(Sa::new(p))),
        bytes().prop_map(Payload::Ke),
        bytes().prop_map(Payload::Nonce),
        bytes().prop_map(Payload::VendorId),
        (any::<u16>(), bytes(), bytes()).prop_map(|(t, spi, data)| Payload::Notify(Notify {
            doi: Doi::IPSEC,
            protocol: ProtocolId::IPSEC_ESP,
            notify_type: NotifyType(t),
            spi,
            data
        })),
        (1u8..20, 0usize..5).prop_map(|(s, n)| Payload::Delete(Delete {
            doi: Doi::IPSEC,
            protocol: ProtocolId::IPSEC_AH,
            spi_size: s,
            spis: vec![vec![s; s as usize]; n]
        })),
        (
            any::<u8>(),
            any::<u16>(),
            proptest::collection::vec(attr, 0..5)
        )
            .prop_map(|(t, i, a)| Payload::Attr(ConfigAttributes {
                cfg_type: CfgType(t),
                identifier: i,
                attributes: a
            })),
        (bytes(), any::<u8>(), any::<u16>()).prop_map(|(d, p, port)| Payload::Id(
            Identification::new(&IdValue::KeyId(&d), p, port)
        )),
    ]
}

proptest! {
    #[test]
    fn generated_messages_roundtrip(ps in proptest::collection::vec(arb_payload(), 0..8),
                                    xch in any::<u8>(), mid in any::<u32>()) {
        let mut h = header(ExchangeType(xch), Flags::default(), mid);
        h.next_payload = ps.first().map_or(PayloadType::NONE, Payload::payload_type);
        let m = Message { header: h, body: Body::Plain(ps) };
        let bytes = m.encode().unwrap();
        let d = Message::decode(&bytes).unwrap();
        prop_assert_eq!(d.encode().unwrap(), bytes.clone());
        prop_assert_eq!(isakmp::fuzz::strip_raw(d), isakmp::fuzz::strip_raw(m));
        // no prefix decodes
        for n in HEADER_LEN..bytes.len() {
            let mut p = bytes[..n].to_vec();
            p[24..28].copy_from_slice(&(n as u32).to_be_bytes());
            prop_assert!(Message::decode(&p).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        isakmp::fuzz::message(&data);
    }
}

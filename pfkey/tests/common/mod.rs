//! Sample messages shared by the integration tests (and used to write the fuzz corpus).
#![allow(dead_code)]

use pfkey::*;
use std::net::SocketAddr;

pub fn sa4(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn lifetime(seed: u64) -> Lifetime {
    Lifetime {
        allocations: seed as u32 + 1,
        bytes: seed * 1000 + 2,
        addtime: seed * 60 + 3,
        usetime: seed * 30 + 4,
    }
}

pub fn sa(spi: u32) -> Sa {
    Sa {
        spi,
        replay: 4,
        state: SaState::MATURE,
        auth: AuthAlg::HMAC_SHA1,
        encrypt: EncAlg::AES_CBC,
        flags: SaFlags::NONE,
    }
}

/// One instance of every extension variant (Linux numbering), IPv4 and IPv6 mixed
/// where they do not need to agree.
pub fn every_extension() -> Vec<Extension> {
    let tunnel6 = Endpoints {
        src: "[2001:db8::1]:0".parse().unwrap(),
        dst: "[2001:db8::2]:0".parse().unwrap(),
    };
    vec![
        Extension::Sa(sa(0xdeadbeef)),
        Extension::LifetimeCurrent(lifetime(1)),
        Extension::LifetimeHard(lifetime(2)),
        Extension::LifetimeSoft(lifetime(3)),
        Extension::AddressSrc(Address::new(sa4("10.0.0.1:500"), 32, 17)),
        Extension::AddressDst(Address::new(sa4("10.0.0.2:4500"), 32, 17)),
        Extension::AddressProxy(Address::new(
            "[fe80::1%3]:0".parse().unwrap(),
            64,
            IPSEC_ULPROTO_ANY,
        )),
        Extension::KeyAuth(Key::new(&[0xa5; 20]).unwrap()),
        Extension::KeyEncrypt(Key::with_bits(36, &[1, 2, 3, 4, 5]).unwrap()),
        Extension::IdentitySrc(Identity {
            ident_type: IdentType::FQDN,
            id: 7,
            data: b"vpn.example.org".to_vec(),
        }),
        Extension::IdentityDst(Identity {
            ident_type: IdentType::USERFQDN,
            id: 0,
            data: b"12345678".to_vec(),
        }),
        Extension::Sensitivity(Sensitivity {
            dpd: 1,
            sens_level: 2,
            integ_level: 3,
            sens_bitmap: vec![0x0102030405060708, 9],
            integ_bitmap: vec![u64::MAX],
        }),
        Extension::Proposal(Proposal {
            replay: 32,
            combs: vec![
                Comb {
                    auth: AuthAlg::HMAC_SHA256,
                    encrypt: EncAlg::AES_CBC,
                    flags: 1,
                    auth_minbits: 256,
                    auth_maxbits: 256,
                    encrypt_minbits: 128,
                    encrypt_maxbits: 256,
                    soft_allocations: 1,
                    hard_allocations: 2,
                    soft_bytes: 3,
                    hard_bytes: 4,
                    soft_addtime: 2880,
                    hard_addtime: 3600,
                    soft_usetime: 5,
                    hard_usetime: 6,
                },
                Comb::default(),
            ],
        }),
        Extension::SupportedAuth(Supported {
            algs: vec![
                Alg {
                    id: AuthAlg::HMAC_MD5.0,
                    ivlen: 0,
                    minbits: 128,
                    maxbits: 128,
                },
                Alg {
                    id: AuthAlg::HMAC_SHA1.0,
                    ivlen: 0,
                    minbits: 160,
                    maxbits: 160,
                },
            ],
        }),
        Extension::SupportedEncrypt(Supported {
            algs: vec![Alg {
                id: EncAlg::AES_CBC.0,
                ivlen: 16,
                minbits: 128,
                maxbits: 256,
            }],
        }),
        Extension::SpiRange(SpiRange {
            min: 0x100,
            max: 0xffff,
        }),
        Extension::KmPrivate(vec![9; 16]),
        Extension::Policy(Policy {
            policy_type: PolicyType::IPSEC,
            dir: Dir::OUT,
            id: 0x1234,
            priority: PRIORITY_DEFAULT,
            requests: vec![
                IpsecRequest {
                    proto: IpsecProto::ESP,
                    mode: Mode::TUNNEL,
                    level: Level::UNIQUE,
                    reqid: 0x10000,
                    tunnel: Some(tunnel6),
                },
                IpsecRequest {
                    proto: IpsecProto::AH,
                    mode: Mode::TRANSPORT,
                    level: Level::REQUIRE,
                    reqid: 0,
                    tunnel: None,
                },
            ],
        }),
        Extension::Sa2(Sa2 {
            mode: Mode::TUNNEL,
            sequence: 99,
            reqid: 16385,
        }),
        Extension::NatTType(NatTType::ESPINUDP),
        Extension::NatTSport(4500),
        Extension::NatTDport(31337),
        Extension::NatTOa(Address::host(sa4("172.16.0.5:0"))),
        Extension::SecCtx(SecCtx {
            alg: 1,
            doi: 1,
            ctx: b"system_u:object_r:ipsec_spd_t:s0".to_vec(),
        }),
        Extension::KmAddress(KmAddress {
            local: sa4("192.0.2.1:500"),
            remote: sa4("198.51.100.7:500"),
        }),
        Extension::Filter(Filter {
            saddr: [10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            daddr: [10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            family: pfkey::layout::AF_INET,
            splen: 8,
            dplen: 16,
        }),
    ]
}

/// A typical message for every message type 1..=24.
pub fn typical_messages() -> Vec<Message> {
    let src = Extension::AddressSrc(Address::host(sa4("192.0.2.1:0")));
    let dst = Extension::AddressDst(Address::host(sa4("192.0.2.2:0")));
    let sel_src = Extension::AddressSrc(Address::new(sa4("10.0.0.0:0"), 24, 6));
    let sel_dst = Extension::AddressDst(Address::new(sa4("10.0.1.0:80"), 24, 6));
    let pol = |t, d| {
        let mut p = Policy::new(t, d);
        p.priority = PRIORITY_DEFAULT;
        Extension::Policy(p)
    };
    let mut out = Vec::new();
    for t in 1..=24u8 {
        let mt = MsgType(t);
        let st = if mt.is_spd() {
            SaType::UNSPEC
        } else {
            SaType::ESP
        };
        let mut m = Message::new(mt, st)
            .with_seq(u32::from(t) * 3)
            .with_pid(4242);
        match mt {
            MsgType::GETSPI => {
                m = m
                    .with(Extension::Sa2(Sa2 {
                        mode: Mode::TRANSPORT,
                        sequence: 0,
                        reqid: 0,
                    }))
                    .with(src.clone())
                    .with(dst.clone())
                    .with(Extension::SpiRange(SpiRange {
                        min: 256,
                        max: 0xffff_ffff,
                    }))
            }
            MsgType::UPDATE | MsgType::ADD | MsgType::GET | MsgType::EXPIRE => {
                m = m
                    .with(Extension::Sa(sa(0x01020304 + u32::from(t))))
                    .with(Extension::Sa2(Sa2 {
                        mode: Mode::TUNNEL,
                        sequence: 0,
                        reqid: 5,
                    }))
                    .with(Extension::LifetimeCurrent(lifetime(0)))
                    .with(Extension::LifetimeHard(lifetime(10)))
                    .with(Extension::LifetimeSoft(lifetime(8)))
                    .with(src.clone())
                    .with(dst.clone())
                    .with(Extension::KeyAuth(Key::new(&[0x11; 20]).unwrap()))
                    .with(Extension::KeyEncrypt(Key::new(&[0x22; 32]).unwrap()))
            }
            MsgType::DELETE => {
                m = m
                    .with(Extension::Sa(sa(7)))
                    .with(src.clone())
                    .with(dst.clone())
            }
            MsgType::ACQUIRE => {
                m = m
                    .with(src.clone())
                    .with(dst.clone())
                    .with(Extension::Proposal(Proposal {
                        replay: 32,
                        combs: vec![Comb {
                            auth: AuthAlg::HMAC_SHA1,
                            encrypt: EncAlg::AES_CBC,
                            ..Default::default()
                        }],
                    }))
            }
            MsgType::REGISTER => {
                m = m
                    .with(Extension::SupportedAuth(Supported {
                        algs: vec![Alg {
                            id: 3,
                            ivlen: 0,
                            minbits: 160,
                            maxbits: 160,
                        }],
                    }))
                    .with(Extension::SupportedEncrypt(Supported {
                        algs: vec![Alg {
                            id: 12,
                            ivlen: 16,
                            minbits: 128,
                            maxbits: 256,
                        }],
                    }))
            }
            MsgType::FLUSH
            | MsgType::DUMP
            | MsgType::X_PROMISC
            | MsgType::X_SPDFLUSH
            | MsgType::X_SPDDUMP => {}
            MsgType::X_NAT_T_NEW_MAPPING => {
                m = m
                    .with(Extension::Sa(sa(77)))
                    .with(Extension::AddressSrc(Address::host(sa4("192.0.2.1:4500"))))
                    .with(Extension::AddressDst(Address::host(sa4("192.0.2.2:4501"))))
                    .with(Extension::NatTSport(4500))
                    .with(Extension::NatTDport(4501))
            }
            MsgType::X_MIGRATE => {
                m = m
                    .with(Extension::KmAddress(KmAddress {
                        local: sa4("192.0.2.1:0"),
                        remote: sa4("192.0.2.9:0"),
                    }))
                    .with(sel_src.clone())
                    .with(sel_dst.clone())
                    .with(pol(PolicyType::IPSEC, Dir::OUT))
            }
            MsgType::X_SPDDELETE2 | MsgType::X_SPDGET => {
                let mut p = Policy::new(PolicyType::DISCARD, Dir::ANY);
                p.id = 1234;
                m = m.with(Extension::Policy(p))
            }
            _ => {
                // Remaining SPD messages and PCHANGE / SETIDX: selector + policy.
                m = m
                    .with(sel_src.clone())
                    .with(sel_dst.clone())
                    .with(Extension::LifetimeHard(lifetime(5)))
                    .with(pol(PolicyType::NONE, Dir::IN))
            }
        }
        out.push(m);
    }
    out
}

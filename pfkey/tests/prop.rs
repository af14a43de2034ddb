//! Property tests: generated messages round-trip; mutated messages never panic.
mod common;

use pfkey::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

fn v4() -> impl Strategy<Value = SocketAddr> {
    (any::<u32>(), any::<u16>())
        .prop_map(|(a, p)| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), p)))
}

fn v6() -> impl Strategy<Value = SocketAddr> {
    (any::<u128>(), any::<u16>(), any::<u32>(), any::<u32>())
        .prop_map(|(a, p, f, s)| SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(a), p, f, s)))
}

fn sockaddr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![v4(), v6()]
}

fn address() -> impl Strategy<Value = Address> {
    (sockaddr(), any::<u8>(), any::<u8>()).prop_map(|(addr, proto, p)| {
        let max = if addr.is_ipv4() { 33 } else { 129 };
        Address::new(addr, p % max, proto)
    })
}

fn lifetime() -> impl Strategy<Value = Lifetime> {
    (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c, d)| Lifetime {
        allocations: a,
        bytes: b,
        addtime: c,
        usetime: d,
    })
}

fn key() -> impl Strategy<Value = Key> {
    (vec(any::<u8>(), 0..70), any::<u8>()).prop_map(|(d, drop)| {
        // Some keys with a bit count that is not a multiple of 8.
        if !d.is_empty() && drop % 2 == 0 {
            let bits = (d.len() * 8 - usize::from(drop % 8)) as u16;
            Key::with_bits(bits, &d).unwrap()
        } else {
            Key::new(&d).unwrap()
        }
    })
}

fn ident() -> impl Strategy<Value = Identity> {
    (any::<u16>(), any::<u64>(), vec(1u8..=255, 0..40)).prop_map(|(t, id, data)| Identity {
        ident_type: IdentType(t),
        id,
        data,
    })
}

fn comb() -> impl Strategy<Value = Comb> {
    (
        any::<[u8; 2]>(),
        any::<[u16; 5]>(),
        any::<[u32; 2]>(),
        any::<[u64; 6]>(),
    )
        .prop_map(|(a, b, c, d)| Comb {
            auth: AuthAlg(a[0]),
            encrypt: EncAlg(a[1]),
            flags: b[0],
            auth_minbits: b[1],
            auth_maxbits: b[2],
            encrypt_minbits: b[3],
            encrypt_maxbits: b[4],
            soft_allocations: c[0],
            hard_allocations: c[1],
            soft_bytes: d[0],
            hard_bytes: d[1],
            soft_addtime: d[2],
            hard_addtime: d[3],
            soft_usetime: d[4],
            hard_usetime: d[5],
        })
}

fn supported() -> impl Strategy<Value = Supported> {
    vec(any::<(u8, u8, u16, u16)>(), 0..10).prop_map(|v| Supported {
        algs: v
            .into_iter()
            .map(|(id, ivlen, minbits, maxbits)| Alg {
                id,
                ivlen,
                minbits,
                maxbits,
            })
            .collect(),
    })
}

fn endpoints() -> impl Strategy<Value = Endpoints> {
    prop_oneof![(v4(), v4()), (v6(), v6())].prop_map(|(src, dst)| Endpoints { src, dst })
}

fn request() -> impl Strategy<Value = IpsecRequest> {
    (
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
        proptest::option::of(endpoints()),
    )
        .prop_map(|(p, m, l, reqid, tunnel)| IpsecRequest {
            proto: IpsecProto(p),
            mode: Mode(m),
            level: Level(l),
            reqid,
            tunnel,
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        any::<u16>(),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        vec(request(), 0..4),
    )
        .prop_map(|(t, d, id, priority, requests)| Policy {
            policy_type: PolicyType(t),
            dir: Dir(d),
            id,
            priority,
            requests,
        })
}

/// One extension of the given kind index (0..=26).
fn extension(kind: u16) -> BoxedStrategy<Extension> {
    match kind {
        0 => (any::<u32>(), any::<[u8; 4]>(), any::<u32>())
            .prop_map(|(spi, b, f)| {
                Extension::Sa(Sa {
                    spi,
                    replay: b[0],
                    state: SaState(b[1]),
                    auth: AuthAlg(b[2]),
                    encrypt: EncAlg(b[3]),
                    flags: SaFlags(f),
                })
            })
            .boxed(),
        1 => lifetime().prop_map(Extension::LifetimeCurrent).boxed(),
        2 => lifetime().prop_map(Extension::LifetimeHard).boxed(),
        3 => lifetime().prop_map(Extension::LifetimeSoft).boxed(),
        4 => address().prop_map(Extension::AddressSrc).boxed(),
        5 => address().prop_map(Extension::AddressDst).boxed(),
        6 => address().prop_map(Extension::AddressProxy).boxed(),
        7 => key().prop_map(Extension::KeyAuth).boxed(),
        8 => key().prop_map(Extension::KeyEncrypt).boxed(),
        9 => ident().prop_map(Extension::IdentitySrc).boxed(),
        10 => ident().prop_map(Extension::IdentityDst).boxed(),
        11 => (
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            vec(any::<u64>(), 0..5),
            vec(any::<u64>(), 0..5),
        )
            .prop_map(|(dpd, sl, il, s, i)| {
                Extension::Sensitivity(Sensitivity {
                    dpd,
                    sens_level: sl,
                    integ_level: il,
                    sens_bitmap: s,
                    integ_bitmap: i,
                })
            })
            .boxed(),
        12 => (any::<u8>(), vec(comb(), 0..4))
            .prop_map(|(replay, combs)| Extension::Proposal(Proposal { replay, combs }))
            .boxed(),
        13 => supported().prop_map(Extension::SupportedAuth).boxed(),
        14 => supported().prop_map(Extension::SupportedEncrypt).boxed(),
        15 => any::<(u32, u32)>()
            .prop_map(|(min, max)| Extension::SpiRange(SpiRange { min, max }))
            .boxed(),
        16 => vec(any::<u64>(), 0..6)
            .prop_map(|w| Extension::KmPrivate(w.iter().flat_map(|x| x.to_ne_bytes()).collect()))
            .boxed(),
        17 => policy().prop_map(Extension::Policy).boxed(),
        18 => any::<(u8, u32, u32)>()
            .prop_map(|(m, sequence, reqid)| {
                Extension::Sa2(Sa2 {
                    mode: Mode(m),
                    sequence,
                    reqid,
                })
            })
            .boxed(),
        19 => any::<u8>()
            .prop_map(|t| Extension::NatTType(NatTType(t)))
            .boxed(),
        20 => any::<u16>().prop_map(Extension::NatTSport).boxed(),
        21 => any::<u16>().prop_map(Extension::NatTDport).boxed(),
        22 => address().prop_map(Extension::NatTOa).boxed(),
        23 => (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..50))
            .prop_map(|(alg, doi, ctx)| Extension::SecCtx(SecCtx { alg, doi, ctx }))
            .boxed(),
        24 => prop_oneof![(v4(), v4()), (v6(), v6())]
            .prop_map(|(local, remote)| Extension::KmAddress(KmAddress { local, remote }))
            .boxed(),
        25 => (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
        )
            .prop_map(|(saddr, daddr, family, splen, dplen)| {
                Extension::Filter(Filter {
                    saddr,
                    daddr,
                    family,
                    splen,
                    dplen,
                })
            })
            .boxed(),
        _ => (27u16..2000, 0usize..5, any::<u8>())
            .prop_map(|(t, words, fill)| Extension::Unknown {
                ext_type: ExtType(t),
                body: vec![fill; 4 + 8 * words],
            })
            .boxed(),
    }
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<[u8; 3]>(),
        any::<(u16, u32, u32)>(),
        proptest::sample::subsequence((0u16..27).collect::<Vec<_>>(), 0..12),
    )
        .prop_flat_map(|(h, (reserved, seq, pid), kinds)| {
            let exts: Vec<_> = kinds.into_iter().map(extension).collect();
            (Just((h, reserved, seq, pid)), exts).prop_shuffle_exts()
        })
        .prop_map(|((h, reserved, seq, pid), exts)| {
            let mut m = Message::new(MsgType(h[0]), SaType(h[2]));
            m.header.errno = h[1];
            m.header.reserved = reserved;
            m.header.seq = seq;
            m.header.pid = pid;
            m.exts = exts;
            m
        })
}

/// Small helper so the strategy above reads naturally.
trait ShuffleExts {
    type Out;
    fn prop_shuffle_exts(self) -> Self::Out;
}

impl<A: Strategy, B: Strategy<Value = Vec<Extension>>> ShuffleExts for (A, B) {
    type Out = (A, proptest::strategy::Shuffle<B>);
    fn prop_shuffle_exts(self) -> Self::Out {
        (self.0, self.1.prop_shuffle())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_round_trip(m in message()) {
        let b = m.encode().unwrap();
        prop_assert_eq!(b.len() % 8, 0);
        let back = Message::decode_with(&b, DecodeOptions::LENIENT).unwrap();
        prop_assert_eq!(&back, &m);
        // Strict decoding agrees whenever it succeeds, and fails only for the
        // documented reasons.
        match Message::decode(&b) {
            Ok(s) => prop_assert_eq!(s, m),
            Err(e) => prop_assert!(matches!(
                e.kind,
                DecodeErrorKind::UnknownExt(_)
                    | DecodeErrorKind::FamilyMismatch
                    | DecodeErrorKind::ProtoMismatch
            ), "{:?}", e),
        }
        // Every strict prefix fails.
        for n in [0, 1, 8, 15, 16, b.len() / 2, b.len().saturating_sub(1)] {
            if n < b.len() {
                prop_assert!(Message::decode_lenient(&b[..n]).is_err());
            }
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        m in message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut b = m.encode().unwrap();
        for (i, v) in flips {
            let i = i.index(b.len());
            b[i] = v;
        }
        pfkey::fuzzing::decode_roundtrip(&b);
    }

    #[test]
    fn random_bytes_never_panic(data in vec(any::<u8>(), 0..300), len_ok in any::<bool>()) {
        let mut data = data;
        if len_ok && data.len() >= 16 {
            let n = data.len() / 8 * 8;
            data.truncate(n);
            data[0] = 2;
            let w = (n / 8) as u16;
            data[4..6].copy_from_slice(&w.to_ne_bytes());
        }
        pfkey::fuzzing::decode_roundtrip(&data);
    }
}

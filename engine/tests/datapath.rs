//! The sans-I/O data plane: two kernels configured over PF_KEY as peers,
//! packets carried from one's `outbound` to the other's `inbound`.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

use engine::datapath::{classify_udp4500, parse_ip, DropReason, PacketBuf, Udp4500, Verdict};
use engine::handler::{Dest, Kernel, Output};
use engine::{Errno, Now};
use pfkey::{
    Address, AuthAlg, Dir as PDir, EncAlg, Endpoints, Extension, IpsecProto, IpsecRequest, Key,
    Level, Lifetime, Message, Mode, MsgType, NatTType, Policy, PolicyType, Sa, Sa2, SaState,
    SaType,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn t0() -> Now {
    static BASE: OnceLock<Instant> = OnceLock::new();
    Now::new(*BASE.get_or_init(Instant::now), 1_700_000_000)
}

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Host {
    k: Kernel,
    rng: StdRng,
}

#[derive(Clone, Copy)]
struct SaSpec {
    satype: SaType,
    spi: u32,
    enc: u8,
    ekey: &'static [u8],
    auth: u8,
    akey: &'static [u8],
    mode: u8,
    replay: u8,
    natt: bool,
    soft_bytes: u64,
}

fn esp(spi: u32) -> SaSpec {
    SaSpec {
        satype: SaType::ESP,
        spi,
        enc: 12,
        ekey: &[0x22; 16],
        auth: 3,
        akey: &[0x11; 20],
        mode: 0,
        replay: 32,
        natt: false,
        soft_bytes: 0,
    }
}

impl Host {
    fn new() -> Host {
        let mut k = Kernel::default();
        k.connect(1);
        k.handle_message(
            t0(),
            1,
            Message::new(MsgType::REGISTER, SaType::ESP),
            &mut StdRng::seed_from_u64(1),
        );
        Host {
            k,
            rng: StdRng::seed_from_u64(7),
        }
    }

    fn send(&mut self, m: Message) -> Vec<Output> {
        self.k.handle_message(t0(), 1, m, &mut self.rng)
    }

    fn add_sa(&mut self, src: &str, dst: &str, s: SaSpec) -> u8 {
        let mut m = Message::new(MsgType::ADD, s.satype)
            .with(Extension::Sa(Sa {
                spi: s.spi,
                replay: s.replay,
                state: SaState::MATURE,
                auth: AuthAlg(s.auth),
                encrypt: EncAlg(s.enc),
                ..Default::default()
            }))
            .with(Extension::AddressSrc(Address::host(SocketAddr::new(
                ip(src),
                0,
            ))))
            .with(Extension::AddressDst(Address::host(SocketAddr::new(
                ip(dst),
                0,
            ))))
            .with(Extension::Sa2(Sa2 {
                mode: Mode(s.mode),
                sequence: 0,
                reqid: 0,
            }));
        if !s.akey.is_empty() {
            m.push(Extension::KeyAuth(Key::new(s.akey).unwrap()));
        }
        if !s.ekey.is_empty() {
            m.push(Extension::KeyEncrypt(Key::new(s.ekey).unwrap()));
        }
        if s.natt {
            m.push(Extension::NatTType(NatTType(2)));
            m.push(Extension::NatTSport(4500));
            m.push(Extension::NatTDport(4500));
        }
        if s.soft_bytes != 0 {
            m.push(Extension::LifetimeSoft(Lifetime {
                bytes: s.soft_bytes,
                ..Default::default()
            }));
        }
        let out = self.send(m);
        out.iter()
            .find(|o| o.msg.header.msg_type == MsgType::ADD)
            .map(|o| o.msg.header.errno)
            .unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn add_policy(
        &mut self,
        dir: u8,
        src: (&str, u8),
        dst: (&str, u8),
        action: PolicyType,
        reqs: &[Req<'_>],
    ) {
        let mut p = Policy::new(action, PDir(dir));
        p.requests = reqs
            .iter()
            .map(|(proto, mode, t)| IpsecRequest {
                proto: IpsecProto(*proto),
                mode: Mode(*mode),
                level: Level(2),
                reqid: 0,
                tunnel: t.map(|(s, d)| Endpoints {
                    src: SocketAddr::new(ip(s), 0),
                    dst: SocketAddr::new(ip(d), 0),
                }),
            })
            .collect();
        let m = Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
            .with(Extension::AddressSrc(Address::new(
                SocketAddr::new(ip(src.0), 0),
                src.1,
                255,
            )))
            .with(Extension::AddressDst(Address::new(
                SocketAddr::new(ip(dst.0), 0),
                dst.1,
                255,
            )))
            .with(Extension::Policy(p));
        let out = self.send(m);
        assert_eq!(out[0].msg.header.errno, 0);
    }
}

/// An IPv4 ICMP echo (or any protocol) packet with a recognizable payload.
fn v4_packet(src: &str, dst: &str, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    if let (IpAddr::V4(s), IpAddr::V4(d)) = (ip(src), ip(dst)) {
        p[12..16].copy_from_slice(&s.octets());
        p[16..20].copy_from_slice(&d.octets());
    }
    p[20..].copy_from_slice(payload);
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p
}

fn v6_packet(src: &str, dst: &str, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload.len()];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = proto;
    p[7] = 64;
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (ip(src), ip(dst)) {
        p[8..24].copy_from_slice(&s.octets());
        p[24..40].copy_from_slice(&d.octets());
    }
    p[40..].copy_from_slice(payload);
    p
}

/// (protocol, mode, tunnel endpoints) of one policy request.
type Req<'a> = (u16, u8, Option<(&'a str, &'a str)>);

const MARK: &[u8] = b"INNER-ICMP-PAYLOAD-racoon-rs-0123456789";

fn echo() -> Vec<u8> {
    let mut v = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    v.extend_from_slice(MARK);
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Sends `pkt` from `a` to `b`; returns the outer packet and `b`'s verdict with the delivered bytes.
fn carry(a: &mut Host, b: &mut Host, pkt: &[u8]) -> (Vec<u8>, Result<Vec<u8>, DropReason>) {
    let mut buf = PacketBuf::new();
    buf.load(pkt);
    let mut out = Vec::new();
    let wire = match a.k.outbound(t0(), &mut buf, &mut out) {
        Verdict::Raw { packet, .. } => buf.get(packet).to_vec(),
        v => panic!("outbound: {v:?}"),
    };
    (wire.clone(), deliver(b, &wire))
}

fn deliver(b: &mut Host, wire: &[u8]) -> Result<Vec<u8>, DropReason> {
    let mut buf = PacketBuf::new();
    buf.load(wire);
    let mut out = Vec::new();
    match b.k.inbound(t0(), &mut buf, &mut out) {
        Verdict::ToTun(r) => Ok(buf.get(r).to_vec()),
        Verdict::Drop(r) => Err(r),
        v => panic!("inbound: {v:?}"),
    }
}

/// Tunnel mode between the gateways for 198.51.100.0/25 <-> .128/25, both directions' SAs.
fn tunnel_pair(sa_ab: SaSpec, sa_ba: SaSpec, reqs: &[u16]) -> (Host, Host) {
    let (mut a, mut b) = (Host::new(), Host::new());
    for h in [&mut a, &mut b] {
        let mut s1 = sa_ab;
        s1.mode = 2;
        let mut s2 = sa_ba;
        s2.mode = 2;
        assert_eq!(h.add_sa(A, B, s1), 0);
        assert_eq!(h.add_sa(B, A, s2), 0);
    }
    let r = |s: &'static str, d: &'static str| -> Vec<Req<'static>> {
        reqs.iter().map(|p| (*p, 2, Some((s, d)))).collect()
    };
    a.add_policy(
        2,
        ("198.51.100.0", 25),
        ("198.51.100.128", 25),
        PolicyType::IPSEC,
        &r(A, B),
    );
    a.add_policy(
        1,
        ("198.51.100.128", 25),
        ("198.51.100.0", 25),
        PolicyType::IPSEC,
        &r(B, A),
    );
    b.add_policy(
        2,
        ("198.51.100.128", 25),
        ("198.51.100.0", 25),
        PolicyType::IPSEC,
        &r(B, A),
    );
    b.add_policy(
        1,
        ("198.51.100.0", 25),
        ("198.51.100.128", 25),
        PolicyType::IPSEC,
        &r(A, B),
    );
    (a, b)
}

#[test]
fn esp_tunnel_v4_round_trip_and_replay() {
    let (mut a, mut b) = tunnel_pair(esp(0x1001), esp(0x1002), &[50]);
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 1, &echo());
    let (wire, got) = carry(&mut a, &mut b, &pkt);
    let outer = parse_ip(&wire).unwrap();
    assert_eq!(outer.proto, 50);
    assert_eq!((outer.src, outer.dst), (ip(A), ip(B)));
    assert!(!contains(&wire, MARK), "inner payload visible on the wire");
    assert_eq!(got.unwrap(), pkt);
    // The same packet again: replay.
    assert_eq!(deliver(&mut b, &wire), Err(DropReason::Replay));
    assert_eq!(b.k.stats().drops_for(DropReason::Replay), 1);
    assert_eq!(b.k.stats().in_packets, 1);
    assert_eq!(a.k.stats().out_packets, 1);
    // And back.
    let back = v4_packet("198.51.100.129", "198.51.100.1", 1, &echo());
    let (_, got) = carry(&mut b, &mut a, &back);
    assert_eq!(got.unwrap(), back);
    // Current lifetime visible to GET.
    let sa =
        a.k.sad()
            .get(&engine::sad::SaKey {
                spi: 0x1001,
                dst: ip(B),
                satype: 3,
            })
            .unwrap();
    assert_eq!(sa.current.allocations, 1);
    assert_eq!(sa.current.bytes, pkt.len() as u64);
}

#[test]
fn every_cipher_and_integrity_round_trips() {
    let combos: &[(u8, &'static [u8], u8, &'static [u8])] = &[
        (2, &[1; 8], 2, &[2; 16]),
        (3, &[1; 24], 3, &[2; 20]),
        (6, &[1; 16], 5, &[2; 32]),
        (7, &[1; 16], 6, &[2; 48]),
        (12, &[1; 32], 7, &[2; 64]),
        (12, &[1; 24], 9, &[2; 16]),
        (13, &[1; 20], 3, &[2; 20]),
        (20, &[1; 20], 0, &[]),
        (20, &[1; 36], 0, &[]),
        (11, &[], 3, &[2; 20]),
        (12, &[1; 16], 0, &[]),
    ];
    for &(enc, ekey, auth, akey) in combos {
        let s = SaSpec {
            enc,
            ekey,
            auth,
            akey,
            ..esp(0x2000 + u32::from(enc))
        };
        let (mut a, mut b) = tunnel_pair(
            s,
            SaSpec {
                spi: s.spi + 1,
                ..s
            },
            &[50],
        );
        let pkt = v4_packet("198.51.100.5", "198.51.100.200", 17, &echo());
        let (wire, got) = carry(&mut a, &mut b, &pkt);
        assert_eq!(got.unwrap(), pkt, "enc {enc} auth {auth}");
        if enc != 11 {
            assert!(!contains(&wire, MARK), "enc {enc}");
        }
    }
}

#[test]
fn wrong_keys_are_dropped_and_counted() {
    let (mut a, _) = tunnel_pair(esp(0x3001), esp(0x3002), &[50]);
    let (_, mut b) = tunnel_pair(
        SaSpec {
            akey: &[0x99; 20],
            ..esp(0x3001)
        },
        esp(0x3002),
        &[50],
    );
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 1, &echo());
    for _ in 0..3 {
        let (_, got) = carry(&mut a, &mut b, &pkt);
        assert_eq!(got, Err(DropReason::BadIcv));
    }
    assert_eq!(b.k.stats().drops_for(DropReason::BadIcv), 3);
    assert_eq!(b.k.stats().in_packets, 0);
}

#[test]
fn transport_mode_v4_and_v6_with_bundle() {
    for (src, dst) in [(A, B), ("2001:db8::1", "2001:db8::2")] {
        let (mut a, mut b) = (Host::new(), Host::new());
        let ah = SaSpec {
            satype: SaType::AH,
            enc: 0,
            ekey: &[],
            auth: 5,
            akey: &[3; 32],
            ..esp(0x4100)
        };
        let gcm = SaSpec {
            enc: 20,
            ekey: &[4; 20],
            auth: 0,
            akey: &[],
            ..esp(0x4200)
        };
        for h in [&mut a, &mut b] {
            assert_eq!(h.add_sa(src, dst, gcm), 0);
            assert_eq!(h.add_sa(src, dst, ah), 0);
        }
        let pfx = if src.contains(':') { 128 } else { 32 };
        let reqs = [(50, 1, None), (51, 1, None)];
        a.add_policy(2, (src, pfx), (dst, pfx), PolicyType::IPSEC, &reqs);
        b.add_policy(1, (src, pfx), (dst, pfx), PolicyType::IPSEC, &reqs);
        let mut tcp = vec![0x30, 0x39, 0x00, 0x50];
        tcp.extend_from_slice(&[0; 16]);
        tcp.extend_from_slice(MARK);
        let pkt = if pfx == 32 {
            v4_packet(src, dst, 6, &tcp)
        } else {
            v6_packet(src, dst, 6, &tcp)
        };
        let (wire, got) = carry(&mut a, &mut b, &pkt);
        let outer = parse_ip(&wire).unwrap();
        assert_eq!(outer.proto, 51, "AH outermost");
        assert!(!contains(&wire, MARK));
        assert_eq!(got.unwrap(), pkt, "{src}");

        // A packet that went through ESP only does not satisfy the ESP+AH policy.
        let (mut a2, mut b2) = (Host::new(), Host::new());
        assert_eq!(a2.add_sa(src, dst, gcm), 0);
        assert_eq!(b2.add_sa(src, dst, gcm), 0);
        assert_eq!(b2.add_sa(src, dst, ah), 0);
        a2.add_policy(
            2,
            (src, pfx),
            (dst, pfx),
            PolicyType::IPSEC,
            &[(50, 1, None)],
        );
        b2.add_policy(1, (src, pfx), (dst, pfx), PolicyType::IPSEC, &reqs);
        let (_, got) = carry(&mut a2, &mut b2, &pkt);
        assert_eq!(got, Err(DropReason::PolicyMismatch));
    }
}

#[test]
fn ipcomp_then_esp_in_tunnel() {
    let comp = SaSpec {
        satype: SaType::IPCOMP,
        spi: 0x4444,
        enc: 2,
        ekey: &[],
        auth: 0,
        akey: &[],
        ..esp(0)
    };
    let (mut a, mut b) = (Host::new(), Host::new());
    for h in [&mut a, &mut b] {
        assert_eq!(h.add_sa(A, B, SaSpec { mode: 2, ..comp }), 0);
        assert_eq!(
            h.add_sa(
                A,
                B,
                SaSpec {
                    mode: 1,
                    ..esp(0x5001)
                }
            ),
            0
        );
    }
    let reqs = [(108, 2, Some((A, B))), (50, 1, None)];
    a.add_policy(
        2,
        ("198.51.100.0", 25),
        ("198.51.100.128", 25),
        PolicyType::IPSEC,
        &reqs,
    );
    b.add_policy(
        1,
        ("198.51.100.0", 25),
        ("198.51.100.128", 25),
        PolicyType::IPSEC,
        &reqs,
    );
    let text: Vec<u8> = MARK.iter().cycle().take(1200).copied().collect();
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 17, &text);
    let (wire, got) = carry(&mut a, &mut b, &pkt);
    assert!(
        wire.len() < pkt.len(),
        "compressed: {} vs {}",
        wire.len(),
        pkt.len()
    );
    assert_eq!(parse_ip(&wire).unwrap().proto, 50);
    assert_eq!(got.unwrap(), pkt);
    // Incompressible short payloads go without IPComp and are still accepted
    // (the IPComp request is `require` here, but RFC 3173 allows skipping it).
    let small = v4_packet("198.51.100.1", "198.51.100.129", 17, b"tiny");
    let mut buf = PacketBuf::new();
    buf.load(&small);
    let v = a.k.outbound(t0(), &mut buf, &mut Vec::new());
    assert!(matches!(v, Verdict::Raw { .. }));
}

#[test]
fn missing_sa_sends_one_acquire_and_drops() {
    let mut a = Host::new();
    a.add_policy(
        2,
        ("198.51.100.0", 25),
        ("198.51.100.128", 25),
        PolicyType::IPSEC,
        &[(50, 2, Some((A, B)))],
    );
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 1, &echo());
    let mut acquires = 0;
    for _ in 0..5 {
        let mut buf = PacketBuf::new();
        buf.load(&pkt);
        let mut out = Vec::new();
        assert_eq!(
            a.k.outbound(t0(), &mut buf, &mut out),
            Verdict::Drop(DropReason::NoSa)
        );
        for o in &out {
            assert_eq!(o.msg.header.msg_type, MsgType::ACQUIRE);
            assert_eq!(o.dest, Dest::Registered(3));
            assert_eq!(o.msg.addr_dst().unwrap().addr.ip(), ip(B));
            acquires += 1;
        }
    }
    assert_eq!(acquires, 1);
    assert_eq!(a.k.stats().drops_for(DropReason::NoSa), 5);
    assert_eq!(a.k.stats().acquires, 1);
}

#[test]
fn policies_discard_bypass_and_ike() {
    let mut a = Host::new();
    a.add_policy(2, (A, 32), (B, 32), PolicyType::IPSEC, &[(50, 1, None)]);
    a.add_policy(
        2,
        ("198.51.100.0", 24),
        ("203.0.113.0", 24),
        PolicyType::DISCARD,
        &[],
    );
    let mut run = |pkt: Vec<u8>| {
        let mut buf = PacketBuf::new();
        buf.load(&pkt);
        a.k.outbound(t0(), &mut buf, &mut Vec::new())
    };
    // IKE between the hosts passes in the clear although the policy covers it.
    let mut ike = vec![0x01, 0xf4, 0x01, 0xf4, 0, 8, 0, 0];
    ike.extend_from_slice(b"isakmp");
    assert!(matches!(
        run(v4_packet(A, B, 17, &ike)),
        Verdict::Raw { .. }
    ));
    assert_eq!(
        run(v4_packet("198.51.100.1", "203.0.113.1", 1, &echo())),
        Verdict::Drop(DropReason::PolicyDiscard)
    );
    assert!(matches!(
        run(v4_packet("198.51.100.1", "198.51.100.2", 1, &echo())),
        Verdict::Raw { .. }
    ));
    assert_eq!(run(vec![0x45, 0, 0]), Verdict::Drop(DropReason::Malformed));
    assert_eq!(a.k.stats().bypass_packets, 2);
}

#[test]
fn unusable_key_length_is_refused() {
    let mut a = Host::new();
    let bad = SaSpec {
        ekey: &[1; 17],
        ..esp(0x6001)
    };
    assert_eq!(a.add_sa(A, B, bad), Errno::EINVAL.0);
    assert!(a.k.sad().is_empty());
}

#[test]
fn esp_in_udp_and_soft_expire() {
    let s = SaSpec {
        natt: true,
        soft_bytes: 100,
        ..esp(0x7001)
    };
    let (mut a, mut b) = tunnel_pair(s, SaSpec { spi: 0x7002, ..s }, &[50]);
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 1, &echo());
    let mut buf = PacketBuf::new();
    buf.load(&pkt);
    let mut out = Vec::new();
    let (payload, local, remote) = match a.k.outbound(t0(), &mut buf, &mut out) {
        Verdict::Udp {
            payload,
            local,
            remote,
        } => (buf.get(payload).to_vec(), local, remote),
        v => panic!("{v:?}"),
    };
    assert!(out.is_empty());
    assert_eq!(local, SocketAddr::new(ip(A), 4500));
    assert_eq!(remote, SocketAddr::new(ip(B), 4500));
    assert_eq!(classify_udp4500(&payload), Udp4500::Esp);
    assert_eq!(&payload[..4], &0x7001u32.to_be_bytes());
    let mut rb = PacketBuf::new();
    rb.load(&payload);
    let mut bout = Vec::new();
    match b.k.inbound_udp(t0(), &mut rb, remote, local, &mut bout) {
        Verdict::ToTun(r) => assert_eq!(rb.get(r), &pkt[..]),
        v => panic!("{v:?}"),
    }
    // Second packet crosses the 100-byte soft limit on both sides.
    buf.load(&pkt);
    let mut out = Vec::new();
    let _ = a.k.outbound(t0(), &mut buf, &mut out);
    assert!(
        out.iter()
            .any(|o| o.msg.header.msg_type == MsgType::EXPIRE && o.msg.lifetime_soft().is_some()),
        "{out:?}"
    );
    assert_eq!(classify_udp4500(&[0xff]), Udp4500::Keepalive);
    assert_eq!(classify_udp4500(&[0, 0, 0, 0, 1, 2, 3]), Udp4500::Ike);
}

#[test]
fn hostile_inbound_never_panics() {
    let (_, mut b) = tunnel_pair(esp(0x8001), esp(0x8002), &[50, 51]);
    let base = v4_packet(A, B, 50, &[0, 0, 0x80, 0x01, 0, 0, 0, 1, 9, 9, 9, 9]);
    let mut rng = StdRng::seed_from_u64(3);
    for i in 0..2000usize {
        let mut p = base.clone();
        let n = rand::Rng::gen_range(&mut rng, 0..p.len() + 40);
        p.resize(n, (i % 251) as u8);
        for _ in 0..3 {
            if !p.is_empty() {
                let j = rand::Rng::gen_range(&mut rng, 0..p.len());
                p[j] = rand::Rng::gen(&mut rng);
            }
        }
        let _ = deliver(&mut b, &p);
        let mut buf = PacketBuf::new();
        buf.load(&p);
        let _ = b.k.outbound(t0(), &mut buf, &mut Vec::new());
    }
    assert!(b.k.stats().total_drops() > 0);
}

#[test]
fn ah_tunnel_and_v6_inside_v4() {
    let ah = SaSpec {
        satype: SaType::AH,
        enc: 0,
        ekey: &[],
        auth: 7,
        akey: &[5; 64],
        ..esp(0x9001)
    };
    let (mut a, mut b) = tunnel_pair(ah, SaSpec { spi: 0x9002, ..ah }, &[51]);
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 1, &echo());
    let (wire, got) = carry(&mut a, &mut b, &pkt);
    assert_eq!(parse_ip(&wire).unwrap().proto, 51);
    assert_eq!(got.unwrap(), pkt);
    // A flipped bit anywhere in the AH-protected packet (but the TTL) fails the ICV.
    let (wire2, _) = {
        let mut buf = PacketBuf::new();
        buf.load(&pkt);
        match a.k.outbound(t0(), &mut buf, &mut Vec::new()) {
            Verdict::Raw { packet, .. } => (buf.get(packet).to_vec(), ()),
            v => panic!("{v:?}"),
        }
    };
    let mut bad = wire2.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(deliver(&mut b, &bad), Err(DropReason::BadIcv));
    let mut ttl = wire2;
    ttl[8] = 3;
    assert!(deliver(&mut b, &ttl).is_ok(), "TTL is mutable");

    // IPv6 subnets through an IPv4 ESP tunnel.
    let (mut a, mut b) = (Host::new(), Host::new());
    for h in [&mut a, &mut b] {
        assert_eq!(
            h.add_sa(
                A,
                B,
                SaSpec {
                    mode: 2,
                    ..esp(0xa001)
                }
            ),
            0
        );
    }
    let r = [(50u16, 2u8, Some((A, B)))];
    a.add_policy(
        2,
        ("2001:db8:a::", 64),
        ("2001:db8:b::", 64),
        PolicyType::IPSEC,
        &r,
    );
    b.add_policy(
        1,
        ("2001:db8:a::", 64),
        ("2001:db8:b::", 64),
        PolicyType::IPSEC,
        &r,
    );
    let pkt = v6_packet("2001:db8:a::1", "2001:db8:b::1", 58, &echo());
    let (wire, got) = carry(&mut a, &mut b, &pkt);
    let outer = parse_ip(&wire).unwrap();
    assert!(!outer.v6);
    assert_eq!(outer.proto, 50);
    assert_eq!(got.unwrap(), pkt);
}

#[test]
fn sequence_numbers_never_wrap_silently() {
    let (mut a, _) = tunnel_pair(esp(0xb001), esp(0xb002), &[50]);
    let key = engine::sad::SaKey {
        spi: 0xb001,
        dst: ip(B),
        satype: 3,
    };
    assert!(a.k.set_seq_out(&key, u64::from(u32::MAX) - 1));
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 1, &echo());
    let mut buf = PacketBuf::new();
    buf.load(&pkt);
    let mut out = Vec::new();
    assert!(matches!(
        a.k.outbound(t0(), &mut buf, &mut out),
        Verdict::Raw { .. }
    ));
    buf.load(&pkt);
    assert_eq!(
        a.k.outbound(t0(), &mut buf, &mut out),
        Verdict::Drop(DropReason::SeqExhausted)
    );
    assert!(
        out.iter()
            .any(|o| o.msg.header.msg_type == MsgType::EXPIRE && o.msg.lifetime_hard().is_some()),
        "{out:?}"
    );
    assert!(a.k.sad().get(&key).is_none(), "the exhausted SA is gone");
    // Next packet: no SA, so an ACQUIRE.
    buf.load(&pkt);
    let mut out = Vec::new();
    assert_eq!(
        a.k.outbound(t0(), &mut buf, &mut out),
        Verdict::Drop(DropReason::NoSa)
    );
    assert!(out
        .iter()
        .any(|o| o.msg.header.msg_type == MsgType::ACQUIRE));
}

#[test]
fn sa_of_mode_any_serves_a_tunnel_request() {
    let (mut a, mut b) = (Host::new(), Host::new());
    for h in [&mut a, &mut b] {
        // mode 0 ("any", setkey's default without -m)
        assert_eq!(h.add_sa(A, B, esp(0xc001)), 0);
    }
    let r = [(50u16, 2u8, Some((A, B)))];
    a.add_policy(
        2,
        ("198.51.100.0", 25),
        ("198.51.100.128", 25),
        PolicyType::IPSEC,
        &r,
    );
    b.add_policy(
        1,
        ("198.51.100.0", 25),
        ("198.51.100.128", 25),
        PolicyType::IPSEC,
        &r,
    );
    let pkt = v4_packet("198.51.100.1", "198.51.100.129", 1, &echo());
    let (wire, got) = carry(&mut a, &mut b, &pkt);
    let outer = parse_ip(&wire).unwrap();
    assert_eq!(
        (outer.src, outer.dst),
        (ip(A), ip(B)),
        "wrapped in the tunnel header"
    );
    assert_eq!(got.unwrap(), pkt);
}

#[test]
fn batch_crypto_defers_single_esp_and_finishes_in_a_shared_buffer() {
    let (mut a, mut b) = tunnel_pair(esp(0x1001), esp(0x1002), &[50]);
    a.k.set_batch_crypto(true);
    // Several packets laid out in one buffer (as the I/O layer's send batch),
    // then finished together (multi-buffer AES-CBC + HMAC-SHA1).
    const SLOT: usize = 2048;
    let mut arena = vec![0u8; 8 * SLOT];
    let mut jobs = Vec::new();
    let mut key = None;
    let mut pkts = Vec::new();
    let mut lens = Vec::new();
    for i in 0..8usize {
        let pkt = v4_packet(
            "198.51.100.1",
            "198.51.100.129",
            17,
            &vec![i as u8; 100 + 97 * i],
        );
        let mut buf = PacketBuf::new();
        buf.load(&pkt);
        let mut out = Vec::new();
        let Verdict::Raw { packet, .. } = a.k.outbound(t0(), &mut buf, &mut out) else {
            panic!("outbound");
        };
        let d = a.k.take_deferred().expect("single ESP SA defers");
        assert!(a.k.take_deferred().is_none(), "taken once");
        let wire = buf.get(packet.clone());
        // Not yet encrypted: the inner packet is still readable.
        assert!(contains(wire, &pkt[20..]), "plaintext until finished");
        arena[i * SLOT..i * SLOT + wire.len()].copy_from_slice(wire);
        jobs.push((i * SLOT + d.esp_start - packet.start, d.d));
        key = Some(d.key);
        pkts.push(pkt);
        lens.push(wire.len());
    }
    assert!(a.k.finish_deferred(&key.unwrap(), &mut arena, &jobs));
    for (i, pkt) in pkts.iter().enumerate() {
        let wire = &arena[i * SLOT..i * SLOT + lens[i]];
        assert!(!contains(wire, &pkt[20..]), "encrypted after finishing");
        assert_eq!(deliver(&mut b, wire).unwrap(), *pkt);
    }
    // A finish against a missing SA fails (the caller drops the packets).
    let gone = engine::sad::SaKey {
        spi: 0x9999,
        dst: ip(B),
        satype: 3,
    };
    assert!(!a.k.finish_deferred(&gone, &mut arena, &jobs));
    // Without batch crypto nothing is deferred.
    a.k.set_batch_crypto(false);
    let (_, got) = carry(&mut a, &mut b, &pkts[0]);
    assert!(a.k.take_deferred().is_none());
    assert_eq!(got.unwrap(), pkts[0]);
}

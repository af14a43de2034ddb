//! Every PF_KEY operation of the sans-I/O handler, with the errno a Linux/KAME
//! kernel answers.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use engine::handler::{Dest, Kernel, Output, SocketId};
use engine::sad::SaKey;
use engine::spd::{Dir, PacketSel, IPSEC_MANUAL_REQID_MAX};
use engine::{Errno, Now};
use pfkey::{
    Address, AuthAlg, Dir as PDir, EncAlg, Endpoints, Extension, IpsecProto, IpsecRequest, Key,
    Level, Lifetime, Message, Mode, MsgType, Policy, PolicyType, Sa, Sa2, SaState, SaType,
    SpiRange,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const A: SocketId = 1;
const B: SocketId = 2;
const C: SocketId = 3;

fn t0() -> Now {
    static BASE: OnceLock<Instant> = OnceLock::new();
    Now::new(*BASE.get_or_init(Instant::now), 1_700_000_000)
}

struct H {
    k: Kernel,
    rng: StdRng,
    now: Now,
}

impl H {
    fn new() -> H {
        let mut k = Kernel::default();
        for s in [A, B, C] {
            k.connect(s);
        }
        H {
            k,
            rng: StdRng::seed_from_u64(42),
            now: t0(),
        }
    }

    fn send(&mut self, from: SocketId, m: Message) -> Vec<Output> {
        self.k.handle_message(self.now, from, m, &mut self.rng)
    }

    /// The single reply, asserting its destination.
    fn one(&mut self, from: SocketId, m: Message, dest: Dest) -> Message {
        let out = self.send(from, m);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].dest, dest, "{out:#?}");
        out[0].msg.clone()
    }

    fn errno(&mut self, from: SocketId, m: Message) -> u8 {
        let r = self.one(from, m, Dest::Sender);
        assert!(r.exts.is_empty());
        r.header.errno
    }
}

fn sa4(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 0)
}

fn esp_add(spi: u32, seq: u32) -> Message {
    Message::new(MsgType::ADD, SaType::ESP)
        .with_seq(seq)
        .with_pid(77)
        .with(Extension::Sa(Sa {
            spi,
            replay: 4,
            state: SaState::MATURE,
            auth: AuthAlg::HMAC_SHA1,
            encrypt: EncAlg::AES_CBC,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(sa4("192.0.2.1"))))
        .with(Extension::AddressDst(Address::host(sa4("192.0.2.2"))))
        .with(Extension::KeyAuth(Key::new(&[0x11; 20]).unwrap()))
        .with(Extension::KeyEncrypt(Key::new(&[0x22; 16]).unwrap()))
}

fn sa_req(t: MsgType, satype: SaType, spi: u32, src: &str, dst: &str) -> Message {
    Message::new(t, satype)
        .with_seq(9)
        .with(Extension::Sa(Sa {
            spi,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(sa4(src))))
        .with(Extension::AddressDst(Address::host(sa4(dst))))
}

fn key_of(spi: u32, dst: &str) -> SaKey {
    SaKey {
        spi,
        dst: dst.parse().unwrap(),
        satype: 3,
    }
}

#[test]
fn register_lists_algorithms_and_tracks_registration() {
    let mut h = H::new();
    let r = h.one(
        A,
        Message::new(MsgType::REGISTER, SaType::UNSPEC).with_seq(1),
        Dest::Sender,
    );
    assert_eq!(r.header.errno, 0);
    assert_eq!(r.header.seq, 1);
    let auth: Vec<u8> = r
        .supported_auth()
        .unwrap()
        .algs
        .iter()
        .map(|a| a.id)
        .collect();
    let enc: Vec<u8> = r
        .supported_encrypt()
        .unwrap()
        .algs
        .iter()
        .map(|a| a.id)
        .collect();
    for id in [2, 3, 5, 6, 7, 9, 251] {
        assert!(auth.contains(&id), "auth {id}");
    }
    for id in [2, 3, 6, 7, 11, 12, 13, 20] {
        assert!(enc.contains(&id), "enc {id}");
    }
    let aes = r
        .supported_encrypt()
        .unwrap()
        .algs
        .iter()
        .find(|a| a.id == 12)
        .copied()
        .unwrap();
    assert_eq!((aes.minbits, aes.maxbits), (128, 256));
    // UNSPEC registers nothing
    assert!(!h.k.is_registered(A, 3));

    let r = h.one(
        B,
        Message::new(MsgType::REGISTER, SaType::ESP),
        Dest::Registered(3),
    );
    assert!(r.supported_encrypt().is_some());
    assert!(h.k.is_registered(B, 3));
    assert_eq!(h.k.recipients(Dest::Registered(3), Some(B)), vec![B]);
    assert_eq!(h.k.recipients(Dest::Registered(0), Some(B)), vec![B]);
    assert_eq!(
        h.k.recipients(Dest::Registered(2), Some(B)),
        Vec::<SocketId>::new()
    );
    assert_eq!(h.errno(B, Message::new(MsgType::REGISTER, SaType::ESP)), 17);

    let r = h.one(
        C,
        Message::new(MsgType::REGISTER, SaType::IPCOMP),
        Dest::Registered(9),
    );
    let calgs: Vec<u8> = r
        .supported_encrypt()
        .unwrap()
        .algs
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(calgs, vec![2]);

    h.k.disconnect(B);
    assert!(!h.k.is_registered(B, 3));
    assert_eq!(h.k.recipients(Dest::All, Some(A)), vec![A, C]);
}

#[test]
fn add_duplicate_get_delete() {
    let mut h = H::new();
    let r = h.one(A, esp_add(0x1234, 5), Dest::All);
    assert_eq!(r.header.errno, 0);
    assert_eq!(r.header.msg_type, MsgType::ADD);
    assert_eq!((r.header.seq, r.header.pid), (5, 77));
    assert_eq!(r.sa().unwrap().spi, 0x1234);
    assert_eq!(r.sa().unwrap().state, SaState::MATURE);
    assert!(
        r.key_auth().is_none() && r.key_encrypt().is_none(),
        "broadcast carries no keys"
    );
    assert_eq!(h.k.recipients(Dest::All, Some(A)), vec![A, B, C]);

    assert_eq!(h.errno(A, esp_add(0x1234, 6)), Errno::EEXIST.0);

    let g = h.one(
        B,
        sa_req(MsgType::GET, SaType::ESP, 0x1234, "192.0.2.1", "192.0.2.2"),
        Dest::Sender,
    );
    assert_eq!(g.header.errno, 0);
    assert_eq!(g.key_auth().unwrap().bytes(), &[0x11; 20]);
    assert_eq!(g.key_encrypt().unwrap().bytes(), &[0x22; 16]);
    assert_eq!(g.sa().unwrap().auth, AuthAlg::HMAC_SHA1);
    assert_eq!(g.lifetime_current().unwrap().addtime, t0().wall);

    // missing SA: ESRCH, as Linux
    assert_eq!(
        h.errno(
            A,
            sa_req(MsgType::GET, SaType::ESP, 0x9999, "192.0.2.1", "192.0.2.2")
        ),
        Errno::ESRCH.0
    );
    // other satype, other dst: different SAs
    assert_eq!(
        h.errno(
            A,
            sa_req(MsgType::GET, SaType::AH, 0x1234, "192.0.2.1", "192.0.2.2")
        ),
        Errno::ESRCH.0
    );
    assert_eq!(
        h.errno(
            A,
            sa_req(MsgType::GET, SaType::ESP, 0x1234, "192.0.2.1", "192.0.2.3")
        ),
        Errno::ESRCH.0
    );

    let d = h.one(
        A,
        sa_req(
            MsgType::DELETE,
            SaType::ESP,
            0x1234,
            "192.0.2.1",
            "192.0.2.2",
        ),
        Dest::All,
    );
    assert_eq!(d.header.errno, 0);
    assert_eq!(d.sa().unwrap().spi, 0x1234);
    assert!(h.k.sad().is_empty());
    assert_eq!(
        h.errno(
            A,
            sa_req(
                MsgType::DELETE,
                SaType::ESP,
                0x1234,
                "192.0.2.1",
                "192.0.2.2"
            )
        ),
        Errno::ESRCH.0
    );
}

#[test]
fn add_validation_errnos() {
    let mut h = H::new();
    // unknown encryption algorithm
    let mut m = esp_add(0x1000, 1);
    m.set(Extension::Sa(Sa {
        spi: 0x1000,
        auth: AuthAlg::HMAC_SHA1,
        encrypt: EncAlg(200),
        ..Default::default()
    }));
    assert_eq!(h.errno(A, m), Errno::ENOSYS.0);
    // key of the wrong size
    let m = esp_add(0x1000, 1).with(Extension::KeyEncrypt(Key::new(&[1; 5]).unwrap()));
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // missing encryption key
    let mut m = esp_add(0x1000, 1);
    m.remove(pfkey::ExtType::KEY_ENCRYPT);
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // AH with an encryption algorithm
    let mut m = esp_add(0x1000, 1);
    m.header.satype = SaType::AH;
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // AES-GCM with a separate MAC
    let mut m = esp_add(0x1000, 1).with(Extension::KeyEncrypt(Key::new(&[1; 20]).unwrap()));
    m.set(Extension::Sa(Sa {
        spi: 0x1000,
        auth: AuthAlg::HMAC_SHA1,
        encrypt: EncAlg::AES_GCM_16,
        ..Default::default()
    }));
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // no SA extension
    let mut m = esp_add(0x1000, 1);
    m.remove(pfkey::ExtType::SA);
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // UNSPEC satype on ADD
    let mut m = esp_add(0x1000, 1);
    m.header.satype = SaType::UNSPEC;
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // family mismatch
    let m = esp_add(0x1000, 1).with(Extension::AddressDst(Address::host(
        "[2001:db8::1]:0".parse().unwrap(),
    )));
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // non-zero reserved header field
    let mut m = esp_add(0x1000, 1);
    m.header.reserved = 1;
    assert_eq!(h.errno(A, m), Errno::EINVAL.0);
    // messages a kernel never takes from user space
    assert_eq!(
        h.errno(A, Message::new(MsgType::X_PCHANGE, SaType::UNSPEC)),
        Errno::EOPNOTSUPP.0
    );
    assert!(h.k.sad().is_empty());

    // valid AH, IPComp and null-encryption ESP SAs
    let mut m = esp_add(0x2000, 1);
    m.header.satype = SaType::AH;
    m.set(Extension::Sa(Sa {
        spi: 0x2000,
        auth: AuthAlg::HMAC_SHA256,
        ..Default::default()
    }));
    m.remove(pfkey::ExtType::KEY_ENCRYPT);
    m.set(Extension::KeyAuth(Key::new(&[3; 32]).unwrap()));
    assert_eq!(h.one(A, m, Dest::All).header.errno, 0);
    let m = Message::new(MsgType::ADD, SaType::IPCOMP)
        .with(Extension::Sa(Sa {
            spi: 0x3000,
            encrypt: EncAlg(2),
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(sa4("192.0.2.1"))))
        .with(Extension::AddressDst(Address::host(sa4("192.0.2.2"))));
    assert_eq!(h.one(A, m, Dest::All).header.errno, 0);
    let mut m = esp_add(0x4000, 1);
    m.set(Extension::Sa(Sa {
        spi: 0x4000,
        auth: AuthAlg::HMAC_MD5,
        encrypt: EncAlg::NULL,
        ..Default::default()
    }));
    m.remove(pfkey::ExtType::KEY_ENCRYPT);
    m.set(Extension::KeyAuth(Key::new(&[3; 16]).unwrap()));
    assert_eq!(h.one(A, m, Dest::All).header.errno, 0);
    assert_eq!(h.k.sad().len(), 3);
}

#[test]
fn getspi_in_range_then_update() {
    let mut h = H::new();
    let gs = Message::new(MsgType::GETSPI, SaType::ESP)
        .with_seq(1234)
        .with_pid(50)
        .with(Extension::AddressSrc(Address::host(sa4("192.0.2.2"))))
        .with(Extension::AddressDst(Address::host(sa4("192.0.2.1"))))
        .with(Extension::Sa2(Sa2 {
            mode: Mode::TUNNEL,
            sequence: 0,
            reqid: 16385,
        }))
        .with(Extension::SpiRange(SpiRange {
            min: 0x4000,
            max: 0x4fff,
        }));
    let r = h.one(A, gs.clone(), Dest::Sender);
    assert_eq!((r.header.errno, r.header.seq, r.header.pid), (0, 1234, 50));
    let spi = r.sa().unwrap().spi;
    assert!((0x4000..=0x4fff).contains(&spi), "{spi:#x}");
    assert_eq!(r.sa().unwrap().state, SaState::LARVAL);
    let r2 = h.one(A, gs.clone(), Dest::Sender);
    assert_ne!(r2.sa().unwrap().spi, spi, "unique per (dst, proto)");

    // UPDATE completes the larval SA
    let mut up = esp_add(spi, 1234);
    up.header.msg_type = MsgType::UPDATE;
    up.set(Extension::AddressSrc(Address::host(sa4("192.0.2.2"))));
    up.set(Extension::AddressDst(Address::host(sa4("192.0.2.1"))));
    up.set(Extension::Sa2(Sa2 {
        mode: Mode::TUNNEL,
        sequence: 0,
        reqid: 16385,
    }));
    let r = h.one(A, up.clone(), Dest::All);
    assert_eq!(
        (r.header.errno, r.header.msg_type, r.header.seq),
        (0, MsgType::UPDATE, 1234)
    );
    assert_eq!(r.sa().unwrap().state, SaState::MATURE);
    assert_eq!(r.sa2().unwrap().reqid, 16385);
    let sa = h.k.sad().get(&key_of(spi, "192.0.2.1")).unwrap();
    assert_eq!(
        sa.key_encrypt.as_ref().unwrap().data.as_slice(),
        &[0x22; 16]
    );

    // UPDATE of an SA that does not exist
    let mut bad = up.clone();
    bad.set(Extension::Sa(Sa {
        spi: 0x5555,
        auth: AuthAlg::HMAC_SHA1,
        encrypt: EncAlg::AES_CBC,
        ..Default::default()
    }));
    assert_eq!(h.errno(A, bad), Errno::ESRCH.0);

    // exact SPI taken -> EAGAIN; inverted range -> EINVAL; CPI range > 16 bits -> EINVAL
    let exact = gs
        .clone()
        .with(Extension::SpiRange(SpiRange { min: spi, max: spi }));
    assert_eq!(h.errno(A, exact), Errno::EAGAIN.0);
    let inv = gs.clone().with(Extension::SpiRange(SpiRange {
        min: 9000,
        max: 300,
    }));
    assert_eq!(h.errno(A, inv), Errno::EINVAL.0);
    let mut cpi = gs.clone().with(Extension::SpiRange(SpiRange {
        min: 0x100,
        max: 0x10000,
    }));
    cpi.header.satype = SaType::IPCOMP;
    assert_eq!(h.errno(A, cpi), Errno::EINVAL.0);
    let mut cpi = gs.clone();
    cpi.remove(pfkey::ExtType::SPIRANGE);
    cpi.header.satype = SaType::IPCOMP;
    let r = h.one(A, cpi, Dest::Sender);
    assert!(r.sa().unwrap().spi <= 0xffff);
    // without a range: the kernel's default range
    let mut d = gs;
    d.remove(pfkey::ExtType::SPIRANGE);
    let r = h.one(A, d, Dest::Sender);
    assert!((0x100..=0x0fff_ffff).contains(&r.sa().unwrap().spi));
}

#[test]
fn getspi_range_exhaustion_gives_eagain() {
    let mut h = H::new();
    let gs = Message::new(MsgType::GETSPI, SaType::ESP)
        .with(Extension::AddressSrc(Address::host(sa4("192.0.2.2"))))
        .with(Extension::AddressDst(Address::host(sa4("192.0.2.1"))))
        .with(Extension::SpiRange(SpiRange {
            min: 0x1000,
            max: 0x1003,
        }));
    for _ in 0..4 {
        assert_eq!(h.one(A, gs.clone(), Dest::Sender).header.errno, 0);
    }
    assert_eq!(h.errno(A, gs), Errno::EAGAIN.0);
}

#[test]
fn larval_sas_disappear_silently() {
    let mut h = H::new();
    let gs = Message::new(MsgType::GETSPI, SaType::ESP)
        .with(Extension::AddressSrc(Address::host(sa4("192.0.2.2"))))
        .with(Extension::AddressDst(Address::host(sa4("192.0.2.1"))));
    h.one(A, gs, Dest::Sender);
    assert_eq!(h.k.sad().len(), 1);
    assert!(h.k.handle_timeout(t0().plus_secs(29)).is_empty());
    assert_eq!(h.k.sad().len(), 1);
    assert!(h.k.handle_timeout(t0().plus_secs(31)).is_empty());
    assert!(h.k.sad().is_empty());
}

#[test]
fn dump_counts_down_and_flush_per_satype() {
    let mut h = H::new();
    assert_eq!(
        h.errno(A, Message::new(MsgType::DUMP, SaType::UNSPEC)),
        Errno::ENOENT.0
    );
    for spi in [0x100, 0x200, 0x300] {
        h.one(A, esp_add(spi, 1), Dest::All);
    }
    let mut ah = esp_add(0x400, 1);
    ah.header.satype = SaType::AH;
    ah.set(Extension::Sa(Sa {
        spi: 0x400,
        auth: AuthAlg::HMAC_SHA1,
        ..Default::default()
    }));
    ah.remove(pfkey::ExtType::KEY_ENCRYPT);
    h.one(A, ah, Dest::All);

    let out = h.send(
        B,
        Message::new(MsgType::DUMP, SaType::ESP)
            .with_seq(99)
            .with_pid(4),
    );
    assert_eq!(out.len(), 3);
    let seqs: Vec<u32> = out.iter().map(|o| o.msg.header.seq).collect();
    assert_eq!(seqs, vec![2, 1, 0]);
    for o in &out {
        assert_eq!(o.dest, Dest::Sender);
        assert_eq!(o.msg.header.satype, SaType::ESP);
        assert_eq!(o.msg.header.pid, 4);
        assert!(o.msg.key_encrypt().is_some(), "dumps carry keys");
    }
    let all = h.send(B, Message::new(MsgType::DUMP, SaType::UNSPEC));
    assert_eq!(all.len(), 4);
    assert_eq!(all.last().unwrap().msg.header.seq, 0);

    // flush ESP only: broadcast
    let f = h.one(
        A,
        Message::new(MsgType::FLUSH, SaType::ESP).with_seq(3),
        Dest::All,
    );
    assert_eq!((f.header.errno, f.header.seq), (0, 3));
    assert_eq!(h.k.sad().len(), 1);
    let d = h.send(B, Message::new(MsgType::DUMP, SaType::UNSPEC));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].msg.header.satype, SaType::AH);
    h.one(A, Message::new(MsgType::FLUSH, SaType::UNSPEC), Dest::All);
    // nothing to flush: answered to the sender only
    h.one(
        A,
        Message::new(MsgType::FLUSH, SaType::UNSPEC),
        Dest::Sender,
    );
    assert!(h.k.sad().is_empty());
}

#[test]
fn delete_without_sa_ext_deletes_by_address_pair() {
    let mut h = H::new();
    h.one(A, esp_add(0x100, 1), Dest::All);
    h.one(A, esp_add(0x200, 1), Dest::All);
    let other = esp_add(0x300, 1).with(Extension::AddressDst(Address::host(sa4("192.0.2.9"))));
    h.one(A, other, Dest::All);
    let mut del = sa_req(MsgType::DELETE, SaType::ESP, 0, "192.0.2.1", "192.0.2.2");
    del.remove(pfkey::ExtType::SA);
    let r = h.one(A, del, Dest::All);
    assert_eq!(r.header.errno, 0);
    assert_eq!(h.k.sad().len(), 1);
    assert!(h.k.sad().get(&key_of(0x300, "192.0.2.9")).is_some());
}

fn tunnel_policy(
    dir: PDir,
    src: &str,
    dst: &str,
    t_src: &str,
    t_dst: &str,
    level: Level,
) -> Message {
    let mut xp = Policy::new(PolicyType::IPSEC, dir);
    xp.priority = pfkey::PRIORITY_DEFAULT;
    xp.requests.push(IpsecRequest {
        proto: IpsecProto::ESP,
        mode: Mode::TUNNEL,
        level,
        reqid: 0,
        tunnel: Some(Endpoints {
            src: sa4(t_src),
            dst: sa4(t_dst),
        }),
    });
    xp.requests.push(IpsecRequest {
        proto: IpsecProto::AH,
        mode: Mode::TRANSPORT,
        level: Level::REQUIRE,
        reqid: 0,
        tunnel: None,
    });
    Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
        .with_seq(11)
        .with(Extension::AddressSrc(Address::new(sa4(src), 24, 255)))
        .with(Extension::AddressDst(Address::new(sa4(dst), 24, 255)))
        .with(Extension::Policy(xp))
}

#[test]
fn spd_add_dump_get_delete() {
    let mut h = H::new();
    assert_eq!(
        h.errno(A, Message::new(MsgType::X_SPDDUMP, SaType::UNSPEC)),
        Errno::ENOENT.0
    );
    let out = tunnel_policy(
        PDir::OUT,
        "10.1.0.0",
        "10.2.0.0",
        "192.0.2.1",
        "192.0.2.2",
        Level::UNIQUE,
    );
    let r = h.one(A, out.clone(), Dest::All);
    assert_eq!(
        (r.header.errno, r.header.seq, r.header.msg_type),
        (0, 11, MsgType::X_SPDADD)
    );
    let xp = r.policy().unwrap();
    assert_eq!(xp.id % 8, 1, "out policies have xfrm dir 1 in the id");
    assert!(
        xp.requests[0].reqid > IPSEC_MANUAL_REQID_MAX,
        "unique gets an automatic reqid"
    );
    assert_eq!(xp.requests[1].reqid, 0);
    let out_id = xp.id;
    assert_eq!(h.errno(A, out.clone()), Errno::EEXIST.0);

    let inp = tunnel_policy(
        PDir::IN,
        "10.2.0.0",
        "10.1.0.0",
        "192.0.2.2",
        "192.0.2.1",
        Level::REQUIRE,
    );
    let in_id = h.one(A, inp.clone(), Dest::All).policy().unwrap().id;
    assert_eq!(in_id % 8, 0);

    let d = h.send(
        B,
        Message::new(MsgType::X_SPDDUMP, SaType::UNSPEC).with_seq(5),
    );
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].msg.header.seq, 1);
    assert_eq!(d[1].msg.header.seq, 0);
    let dumped = d
        .iter()
        .find(|o| o.msg.policy().unwrap().id == out_id)
        .unwrap();
    let xp = dumped.msg.policy().unwrap();
    assert_eq!(xp.requests.len(), 2);
    assert_eq!(xp.requests[0].tunnel.unwrap().dst, sa4("192.0.2.2"));
    assert_eq!(xp.requests[0].mode, Mode::TUNNEL);
    assert_eq!(xp.requests[1].proto, IpsecProto::AH);
    assert_eq!(dumped.msg.addr_src().unwrap().prefixlen, 24);

    // the data plane finds it
    let pkt = PacketSel {
        src: "10.1.0.7".parse().unwrap(),
        dst: "10.2.0.9".parse().unwrap(),
        proto: 6,
        sport: 1,
        dport: 2,
    };
    assert_eq!(
        h.k.lookup_policy(t0(), Dir::Out, &pkt).map(|p| p.id),
        Some(out_id)
    );

    // SPDGET by id
    let mut get = Message::new(MsgType::X_SPDGET, SaType::UNSPEC);
    let mut xp = Policy::new(PolicyType::IPSEC, PDir::ANY);
    xp.id = in_id;
    get.push(Extension::Policy(xp.clone()));
    let g = h.one(B, get.clone(), Dest::Sender);
    assert_eq!(g.policy().unwrap().dir, PDir::IN);
    // an id whose low bits are no direction
    let mut bad = get.clone();
    let mut bxp = xp.clone();
    bxp.id = 8 + 5;
    bad.set(Extension::Policy(bxp));
    assert_eq!(h.errno(B, bad), Errno::EINVAL.0);

    // SPDDELETE2 by id, then the id is gone
    let mut del2 = get.clone();
    del2.header.msg_type = MsgType::X_SPDDELETE2;
    let r = h.one(B, del2.clone(), Dest::All);
    assert_eq!(r.header.msg_type, MsgType::X_SPDDELETE2);
    assert_eq!(h.errno(B, del2), Errno::ENOENT.0);
    assert_eq!(h.errno(B, get), Errno::ENOENT.0);

    // SPDDELETE by selector + dir
    let mut del = out.clone();
    del.header.msg_type = MsgType::X_SPDDELETE;
    let r = h.one(A, del.clone(), Dest::All);
    assert_eq!(r.policy().unwrap().id, out_id);
    assert_eq!(h.errno(A, del), Errno::ENOENT.0);
    assert!(h.k.spd().is_empty());
}

#[test]
fn spd_update_flush_and_validation() {
    let mut h = H::new();
    let p = tunnel_policy(
        PDir::OUT,
        "10.1.0.0",
        "10.2.0.0",
        "192.0.2.1",
        "192.0.2.2",
        Level::REQUIRE,
    );
    let id = h.one(A, p.clone(), Dest::All).policy().unwrap().id;
    let mut up = p.clone();
    up.header.msg_type = MsgType::X_SPDUPDATE;
    let mut xp = Policy::new(PolicyType::DISCARD, PDir::OUT);
    xp.priority = 5;
    up.set(Extension::Policy(xp));
    let r = h.one(A, up.clone(), Dest::All);
    assert_eq!(r.policy().unwrap().id, id, "SPDUPDATE keeps the id");
    assert_eq!(r.policy().unwrap().policy_type, PolicyType::DISCARD);
    assert_eq!(h.k.spd().len(), 1);
    // SPDUPDATE of a new selector adds it
    let up2 = up.with(Extension::AddressDst(Address::new(
        sa4("10.3.0.0"),
        24,
        255,
    )));
    h.one(A, up2, Dest::All);
    assert_eq!(h.k.spd().len(), 2);

    // validation
    let mut bad = p.clone();
    bad.set(Extension::Policy(Policy::new(PolicyType::NONE, PDir::ANY)));
    assert_eq!(h.errno(A, bad), Errno::EINVAL.0);
    let mut bad = p.clone();
    bad.set(Extension::Policy(Policy::new(PolicyType(7), PDir::IN)));
    assert_eq!(h.errno(A, bad), Errno::EINVAL.0);
    let mut bad = p.clone();
    bad.remove(pfkey::ExtType::X_POLICY);
    assert_eq!(h.errno(A, bad), Errno::EINVAL.0);
    let mut bad = p.clone();
    bad.header.satype = SaType::ESP;
    assert_eq!(h.errno(A, bad), Errno::EINVAL.0);
    // entrust and bypass are accepted (KAME)
    for (t, d) in [
        (PolicyType::ENTRUST, "10.8.0.0"),
        (PolicyType::BYPASS, "10.9.0.0"),
    ] {
        let m = p
            .clone()
            .with(Extension::AddressDst(Address::new(sa4(d), 24, 255)))
            .with(Extension::Policy(Policy::new(t, PDir::OUT)));
        assert_eq!(h.one(A, m, Dest::All).header.errno, 0);
    }

    let f = h.one(
        A,
        Message::new(MsgType::X_SPDFLUSH, SaType::UNSPEC),
        Dest::All,
    );
    assert_eq!(f.header.errno, 0);
    assert!(h.k.spd().is_empty());
    h.one(
        A,
        Message::new(MsgType::X_SPDFLUSH, SaType::UNSPEC),
        Dest::Sender,
    );
}

#[test]
fn sa_soft_and_hard_expire_to_registered_sockets() {
    let mut h = H::new();
    h.one(
        B,
        Message::new(MsgType::REGISTER, SaType::ESP),
        Dest::Registered(3),
    );
    let m = esp_add(0x700, 1)
        .with(Extension::LifetimeHard(Lifetime {
            addtime: 3,
            ..Default::default()
        }))
        .with(Extension::LifetimeSoft(Lifetime {
            addtime: 2,
            ..Default::default()
        }));
    h.one(A, m, Dest::All);
    assert!(h.k.handle_timeout(t0().plus_secs(1)).is_empty());
    assert!(h.k.poll_timeout().is_some());
    let out = h.k.handle_timeout(t0().plus_secs(2));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dest, Dest::Registered(3));
    let e = &out[0].msg;
    assert_eq!(e.header.msg_type, MsgType::EXPIRE);
    assert!(e.lifetime_soft().is_some() && e.lifetime_hard().is_none());
    assert!(e.lifetime_current().is_some());
    assert_eq!(e.sa().unwrap().spi, 0x700);
    assert_eq!(h.k.recipients(out[0].dest, None), vec![B]);
    // soft fires once
    assert!(h.k.handle_timeout(t0().plus_secs(2)).is_empty());
    let out = h.k.handle_timeout(t0().plus_secs(3));
    assert_eq!(out.len(), 1);
    assert!(out[0].msg.lifetime_hard().is_some() && out[0].msg.lifetime_soft().is_none());
    assert!(h.k.sad().is_empty(), "hard expiry deletes the SA");
}

#[test]
fn byte_lifetimes_expire_through_accounting() {
    let mut h = H::new();
    let m = esp_add(0x700, 1)
        .with(Extension::LifetimeHard(Lifetime {
            bytes: 1000,
            ..Default::default()
        }))
        .with(Extension::LifetimeSoft(Lifetime {
            bytes: 800,
            ..Default::default()
        }));
    h.one(A, m, Dest::All);
    let k = key_of(0x700, "192.0.2.2");
    assert!(h.k.account(t0(), &k, 500, 1).is_empty());
    let out = h.k.account(t0(), &k, 300, 1);
    assert_eq!(out.len(), 1);
    assert!(out[0].msg.lifetime_soft().is_some());
    assert_eq!(out[0].msg.lifetime_current().unwrap().bytes, 800);
    assert!(h.k.account(t0(), &k, 100, 1).is_empty());
    let out = h.k.account(t0(), &k, 100, 1);
    assert!(out[0].msg.lifetime_hard().is_some());
    assert!(h.k.sad().get(&k).is_none());
}

#[test]
fn acquire_is_rate_limited_per_policy() {
    let mut h = H::new();
    h.one(
        B,
        Message::new(MsgType::REGISTER, SaType::ESP),
        Dest::Registered(3),
    );
    let p = tunnel_policy(
        PDir::OUT,
        "10.1.0.0",
        "10.2.0.0",
        "192.0.2.1",
        "192.0.2.2",
        Level::REQUIRE,
    );
    let id = h.one(A, p, Dest::All).policy().unwrap().id;
    let src = "10.1.0.1".parse().unwrap();
    let dst = "10.2.0.1".parse().unwrap();
    let out = h.k.acquire(t0(), id, 0, src, dst);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dest, Dest::Registered(3));
    let m = &out[0].msg;
    assert_eq!(m.header.msg_type, MsgType::ACQUIRE);
    assert_eq!(m.header.satype, SaType::ESP);
    assert_eq!(
        m.addr_dst().unwrap().addr,
        sa4("192.0.2.2"),
        "tunnel endpoint"
    );
    assert_eq!(m.policy().unwrap().id, id);
    assert!(!m.proposal().unwrap().combs.is_empty());
    let seq = m.header.seq;
    // blocked while larval
    assert!(h.k.acquire(t0().plus_secs(1), id, 0, src, dst).is_empty());
    // the key manager reports failure: still blocked, then free after the block time
    let fail = Message::new(MsgType::ACQUIRE, SaType::ESP)
        .with_seq(seq)
        .with_errno(2);
    assert!(h.send(B, fail).is_empty());
    assert!(h.k.acquire(t0().plus_secs(29), id, 0, src, dst).is_empty());
    h.k.handle_timeout(t0().plus_secs(31));
    assert_eq!(h.k.acquire(t0().plus_secs(31), id, 0, src, dst).len(), 1);
    // an SA for (dst, ESP) answers it
    h.one(A, esp_add(0x900, 1), Dest::All);
    assert_eq!(h.k.acquire(t0().plus_secs(32), id, 0, src, dst).len(), 1);
    // AH request of the bundle, transport mode: packet addresses
    let out = h.k.acquire(t0().plus_secs(32), id, 1, src, dst);
    assert_eq!(out[0].msg.header.satype, SaType::AH);
    assert_eq!(out[0].msg.addr_dst().unwrap().addr.ip(), dst);
    // unknown policy / request
    assert!(h.k.acquire(t0(), 9999, 0, src, dst).is_empty());
    assert!(h.k.acquire(t0(), id, 5, src, dst).is_empty());
}

#[test]
fn policy_lifetime_gives_spdexpire() {
    let mut h = H::new();
    h.one(
        B,
        Message::new(MsgType::REGISTER, SaType::ESP),
        Dest::Registered(3),
    );
    let p = tunnel_policy(
        PDir::OUT,
        "10.1.0.0",
        "10.2.0.0",
        "192.0.2.1",
        "192.0.2.2",
        Level::REQUIRE,
    )
    .with(Extension::LifetimeHard(Lifetime {
        addtime: 5,
        ..Default::default()
    }));
    let id = h.one(A, p, Dest::All).policy().unwrap().id;
    assert!(h.k.handle_timeout(t0().plus_secs(4)).is_empty());
    let out = h.k.handle_timeout(t0().plus_secs(5));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].msg.header.msg_type, MsgType::X_SPDEXPIRE);
    assert_eq!(out[0].dest, Dest::Registered(0));
    assert_eq!(out[0].msg.policy().unwrap().id, id);
    assert!(h.k.spd().is_empty());
}

#[test]
fn promiscuous_sockets_see_everything() {
    let mut h = H::new();
    let r = h.one(C, Message::new(MsgType::X_PROMISC, SaType(1)), Dest::All);
    assert_eq!(r.header.msg_type, MsgType::X_PROMISC);
    let out = h.send(A, esp_add(0x100, 1));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].dest, Dest::Promisc);
    assert_eq!(out[0].msg.header.msg_type, MsgType::ADD);
    assert_eq!(h.k.recipients(Dest::Promisc, Some(A)), vec![C]);
    // a reply to A alone also reaches the promiscuous socket
    assert_eq!(h.k.recipients(Dest::Sender, Some(A)), vec![A, C]);
    // turning it off: the request itself is still copied (C was promiscuous)
    let out = h.send(C, Message::new(MsgType::X_PROMISC, SaType::UNSPEC));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].dest, Dest::All);
    assert_eq!(h.send(A, esp_add(0x200, 1)).len(), 1);
    assert_eq!(
        h.errno(C, Message::new(MsgType::X_PROMISC, SaType(4))),
        Errno::EINVAL.0
    );
}

#[test]
fn malformed_bytes_never_stop_the_engine() {
    let mut h = H::new();
    let now = t0();
    // shorter than a header: dropped
    assert!(h.k.handle_bytes(now, A, &[2, 3, 0], &mut h.rng).is_empty());
    // header readable, length lying: EINVAL echoing the header
    let mut b = esp_add(0x100, 8).encode().unwrap();
    b[4] = 0xff;
    let out = h.k.handle_bytes(now, A, &b, &mut h.rng);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].msg.header.errno, Errno::EINVAL.0);
    assert_eq!(out[0].msg.header.seq, 8);
    // truncated
    let b = esp_add(0x100, 8).encode().unwrap();
    let out = h.k.handle_bytes(now, A, &b[..b.len() - 8], &mut h.rng);
    assert_eq!(out[0].msg.header.errno, Errno::EINVAL.0);
    // bad version / unknown type
    let mut b = esp_add(0x100, 8).encode().unwrap();
    b[0] = 1;
    assert_eq!(
        h.k.handle_bytes(now, A, &b, &mut h.rng)[0].msg.header.errno,
        22
    );
    let mut b = esp_add(0x100, 8).encode().unwrap();
    b[1] = 200;
    assert_eq!(
        h.k.handle_bytes(now, A, &b, &mut h.rng)[0].msg.header.errno,
        22
    );
    // still serving
    let b = esp_add(0x100, 8).encode().unwrap();
    let out = h.k.handle_bytes(now, A, &b, &mut h.rng);
    assert_eq!(out[0].msg.header.errno, 0);
    assert_eq!(out[0].dest, Dest::All);
    // every prefix of a valid message is handled without panicking
    for n in 0..b.len() {
        let _ = h.k.handle_bytes(now, A, &b[..n], &mut h.rng);
    }
}

#[test]
fn huge_lifetimes_do_not_overflow_timers() {
    // found by the corpus mutation test: Instant + u64::MAX seconds panicked
    let mut h = H::new();
    let huge = Lifetime {
        addtime: u64::MAX,
        usetime: u64::MAX,
        ..Default::default()
    };
    let m = esp_add(0x700, 1)
        .with(Extension::LifetimeHard(huge))
        .with(Extension::LifetimeSoft(huge));
    h.one(A, m, Dest::All);
    let p = tunnel_policy(
        PDir::OUT,
        "10.1.0.0",
        "10.2.0.0",
        "192.0.2.1",
        "192.0.2.2",
        Level::REQUIRE,
    )
    .with(Extension::LifetimeHard(huge));
    h.one(A, p, Dest::All);
    h.k.account(t0(), &key_of(0x700, "192.0.2.2"), 1, 1);
    let _ = h.k.poll_timeout();
    assert!(h.k.handle_timeout(t0().plus_secs(u64::MAX)).is_empty() || h.k.sad().is_empty());
    assert!(h.k.handle_timeout(t0().plus_secs(3600)).is_empty());
}

#[test]
fn deleting_a_larval_sa_ends_the_acquire_block_for_its_peer() {
    let mut h = H::new();
    h.one(
        B,
        Message::new(MsgType::REGISTER, SaType::ESP),
        Dest::Registered(3),
    );
    let p = tunnel_policy(
        PDir::OUT,
        "10.1.0.0",
        "10.2.0.0",
        "192.0.2.1",
        "192.0.2.2",
        Level::REQUIRE,
    );
    let id = h.one(A, p, Dest::All).policy().unwrap().id;
    let (src, dst) = ("10.1.0.1".parse().unwrap(), "10.2.0.1".parse().unwrap());
    let seq = h.k.acquire(t0(), id, 0, src, dst)[0].msg.header.seq;
    // the key manager's GETSPI (peer -> us), then the negotiation fails
    let gs = Message::new(MsgType::GETSPI, SaType::ESP)
        .with_seq(77)
        .with_pid(50)
        .with(Extension::AddressSrc(Address::host(sa4("192.0.2.2"))))
        .with(Extension::AddressDst(Address::host(sa4("192.0.2.1"))));
    let spi = h.one(B, gs, Dest::Sender).sa().unwrap().spi;
    let fail = Message::new(MsgType::ACQUIRE, SaType::ESP)
        .with_seq(seq)
        .with_errno(2);
    assert!(h.send(B, fail).is_empty());
    assert!(h.k.acquire(t0().plus_secs(1), id, 0, src, dst).is_empty());
    // a larval SA of another peer does not unblock it
    let other = Message::new(MsgType::GETSPI, SaType::ESP)
        .with_seq(78)
        .with_pid(50)
        .with(Extension::AddressSrc(Address::host(sa4("192.0.2.9"))))
        .with(Extension::AddressDst(Address::host(sa4("192.0.2.1"))));
    let spi9 = h.one(B, other, Dest::Sender).sa().unwrap().spi;
    let del = |spi: u32, peer: &str| {
        Message::new(MsgType::DELETE, SaType::ESP)
            .with_pid(50)
            .with(Extension::Sa(Sa {
                spi,
                ..Sa::default()
            }))
            .with(Extension::AddressSrc(Address::host(sa4(peer))))
            .with(Extension::AddressDst(Address::host(sa4("192.0.2.1"))))
    };
    h.one(B, del(spi9, "192.0.2.9"), Dest::All);
    assert!(h.k.acquire(t0().plus_secs(2), id, 0, src, dst).is_empty());
    // the failed negotiation's larval SA is deleted: the next packet raises a new ACQUIRE
    h.one(B, del(spi, "192.0.2.2"), Dest::All);
    assert_eq!(h.k.acquire(t0().plus_secs(2), id, 0, src, dst).len(), 1);
}

//! Golden tests of the output formats, from PF_KEY messages built by hand.
//! Expected texts follow ipsec-tools' pfkey_dump.c / setkey.c printf formats.

use pfkey::*;
use setkey_rs::dump::{self, FixedClock};

const T0: u64 = 1_000_000_000; // Sun Sep  9 01:46:40 2001 UTC

fn key(n: u8, len: usize) -> Key {
    Key::new(
        &(0..len)
            .map(|i| n.wrapping_add(i as u8))
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn esp_sa() -> Message {
    Message::new(MsgType::DUMP, SaType::ESP)
        .with_seq(1)
        .with_pid(77)
        .with(Extension::Sa(Sa {
            spi: 0x1234_5678,
            replay: 4,
            state: SaState::MATURE,
            auth: AuthAlg::HMAC_SHA1,
            encrypt: EncAlg::AES_CBC,
            flags: SaFlags(0),
        }))
        .with(Extension::Sa2(Sa2 {
            mode: Mode::TUNNEL,
            sequence: 0,
            reqid: 0,
        }))
        .with(Extension::LifetimeCurrent(Lifetime {
            allocations: 0,
            bytes: 0,
            addtime: T0,
            usetime: 0,
        }))
        .with(Extension::LifetimeHard(Lifetime {
            addtime: 43200,
            ..Default::default()
        }))
        .with(Extension::LifetimeSoft(Lifetime {
            addtime: 34560,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(
            "192.1.2.23:0".parse().unwrap(),
        )))
        .with(Extension::AddressDst(Address::host(
            "192.1.2.45:0".parse().unwrap(),
        )))
        .with(Extension::KeyAuth(key(0, 20)))
        .with(Extension::KeyEncrypt(key(0, 16)))
}

#[test]
fn sadump_esp_tunnel() {
    let mut out = String::new();
    dump::sadump(&mut out, &esp_sa(), false, &FixedClock(T0 + 10));
    let want = "192.1.2.23 192.1.2.45 \n\
\tesp mode=tunnel spi=305419896(0x12345678) reqid=0(0x00000000)\n\
\tE: aes-cbc  00010203 04050607 08090a0b 0c0d0e0f\n\
\tA: hmac-sha1  00010203 04050607 08090a0b 0c0d0e0f 10111213\n\
\tseq=0x00000000 replay=4 flags=0x00000000 state=mature \n\
\tcreated: Sep  9 01:46:40 2001\tcurrent: Sep  9 01:46:50 2001\n\
\tdiff: 10(s)\thard: 43200(s)\tsoft: 34560(s)\n\
\tlast:                     \thard: 0(s)\tsoft: 0(s)\n\
\tcurrent: 0(bytes)\thard: 0(bytes)\tsoft: 0(bytes)\n\
\tallocated: 0\thard: 0\tsoft: 0\n\
\tsadb_seq=1 pid=77 refcnt=0\n";
    assert_eq!(out, want);
}

#[test]
fn sadump_long_key_wraps_at_32_bytes() {
    let m = esp_sa()
        .with(Extension::KeyEncrypt(key(0, 40)))
        .with(Extension::Sa(Sa {
            spi: 1,
            replay: 0,
            state: SaState::DYING,
            auth: AuthAlg(200),
            encrypt: EncAlg::BLOWFISH_CBC,
            flags: SaFlags(0x40),
        }));
    let mut m = m;
    m.remove(ExtType::LIFETIME_CURRENT);
    m.header.reserved = 3;
    let mut out = String::new();
    dump::sadump(&mut out, &m, false, &FixedClock(T0));
    let want = "192.1.2.23 192.1.2.45 \n\
\tesp mode=tunnel spi=1(0x00000001) reqid=0(0x00000000)\n\
\tE: blowfish-cbc  00010203 04050607 08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e1f\n 20212223 24252627\n\
\tA: 200  00010203 04050607 08090a0b 0c0d0e0f 10111213\n\
\tseq=0x00000000 replay=0 flags=0x00000040 state=dying \n\
\tsadb_seq=1 pid=77 refcnt=3\n";
    assert_eq!(out, want);
}

#[test]
fn sadump_natt_with_ports_and_ipcomp() {
    let m = Message::new(MsgType::GET, SaType::ESP)
        .with(Extension::Sa(Sa {
            spi: 0x100,
            state: SaState::MATURE,
            encrypt: EncAlg::NULL,
            flags: SaFlags(0x40),
            ..Default::default()
        }))
        .with(Extension::Sa2(Sa2::default()))
        .with(Extension::AddressSrc(Address::host(
            "10.0.0.1:0".parse().unwrap(),
        )))
        .with(Extension::AddressDst(Address::host(
            "[fd00::2]:500".parse().unwrap(),
        )))
        .with(Extension::KeyEncrypt(Key::new(&[]).unwrap()))
        .with(Extension::NatTType(NatTType(2)))
        .with(Extension::NatTSport(4500))
        .with(Extension::NatTDport(4501))
        .with(Extension::NatTOa(Address::host(
            "192.168.0.1:0".parse().unwrap(),
        )));
    let mut out = String::new();
    dump::sadump(&mut out, &m, true, &FixedClock(T0));
    let want = "10.0.0.1[0][4500] fd00::2[500][4501] \n\
\tesp-udp mode=any spi=256(0x00000100) reqid=0(0x00000000)\n\
\tNAT OA=192.168.0.1\n\
\tE: null \n\
\tseq=0x00000000 replay=0 flags=0x00000040 state=mature \n\
\tsadb_seq=0 pid=0 refcnt=0\n";
    assert_eq!(out, want);

    let m = Message::new(MsgType::DUMP, SaType::IPCOMP)
        .with(Extension::Sa(Sa {
            spi: 0x4000,
            state: SaState::MATURE,
            encrypt: EncAlg(2),
            flags: SaFlags(0xc0),
            ..Default::default()
        }))
        .with(Extension::Sa2(Sa2 {
            mode: Mode::TRANSPORT,
            sequence: 9,
            reqid: 0x4001,
        }))
        .with(Extension::AddressSrc(Address::host(
            "10.0.0.1:0".parse().unwrap(),
        )))
        .with(Extension::AddressDst(Address::host(
            "10.0.0.2:0".parse().unwrap(),
        )));
    let mut out = String::new();
    dump::sadump(&mut out, &m, false, &FixedClock(T0));
    let want = "10.0.0.1 10.0.0.2 \n\
\tipcomp mode=transport spi=16384(0x00004000) reqid=16385(0x00004001)\n\
\tC: deflate \tseq=0x00000009 replay=0 flags=0x000000c0 state=mature \n\
\tsadb_seq=0 pid=0 refcnt=0\n";
    assert_eq!(out, want);
}

fn spd(policy: Policy, src: &str, sp: u8, dst: &str, dp: u8, proto: u8) -> Message {
    Message::new(MsgType::X_SPDDUMP, SaType::UNSPEC)
        .with_pid(55)
        .with(Extension::Policy(policy))
        .with(Extension::AddressSrc(Address::new(
            src.parse().unwrap(),
            sp,
            proto,
        )))
        .with(Extension::AddressDst(Address::new(
            dst.parse().unwrap(),
            dp,
            proto,
        )))
}

#[test]
fn spdump_forms() {
    let mut p = Policy::new(PolicyType::IPSEC, Dir::OUT);
    p.id = 1;
    p.priority = PRIORITY_DEFAULT;
    p.requests.push(IpsecRequest {
        proto: IpsecProto(50),
        mode: Mode::TUNNEL,
        level: Level::REQUIRE,
        reqid: 0,
        tunnel: Some(Endpoints {
            src: "192.1.2.45:0".parse().unwrap(),
            dst: "192.1.2.23:0".parse().unwrap(),
        }),
    });
    p.requests.push(IpsecRequest {
        proto: IpsecProto(51),
        mode: Mode::TRANSPORT,
        level: Level::UNIQUE,
        reqid: 0x4000,
        tunnel: None,
    });
    let m = spd(p, "192.0.1.0:0", 24, "192.0.2.0:0", 24, 255)
        .with(Extension::LifetimeCurrent(Lifetime {
            addtime: T0,
            ..Default::default()
        }))
        .with(Extension::LifetimeHard(Lifetime::default()));
    let mut out = String::new();
    dump::spdump(&mut out, &m, false, &FixedClock(T0));
    let want = "192.0.1.0/24[any] 192.0.2.0/24[any] 255\n\
\tout prio def ipsec\n\
\tesp/tunnel/192.1.2.45-192.1.2.23/require\n\
\tah/transport//unique#16384\n\
\tcreated: Sep  9 01:46:40 2001  lastused:                     \n\
\tlifetime: 0(s) validtime: 0(s)\n\
\tspid=1 seq=0 pid=55\n\
\trefcnt=0\n";
    assert_eq!(out, want);

    let mut p = Policy::new(PolicyType::NONE, Dir::IN);
    p.priority = PRIORITY_LOW - 5;
    p.id = 8;
    let m = spd(p, "[::]:135", 0, "[::]:0", 0, 58);
    let mut out = String::new();
    dump::spdump(&mut out, &m, false, &FixedClock(T0));
    assert_eq!(
        out,
        "::/0 ::/0 ipv6-icmp 135,0\n\tin prio low + 5 none\n\tspid=8 seq=0 pid=55\n\trefcnt=0\n"
    );

    let mut p = Policy::new(PolicyType::DISCARD, Dir::FWD);
    p.priority = PRIORITY_DEFAULT + 7;
    p.id = 18;
    let m = spd(p, "10.0.0.1:80", 32, "10.0.0.2:0", 32, 6);
    let mut out = String::new();
    dump::spdump(&mut out, &m, false, &FixedClock(T0));
    assert_eq!(
        out,
        "10.0.0.1[80] 10.0.0.2[any] tcp\n\tfwd prio def - 7 discard\n\tspid=18 seq=0 pid=55\n\trefcnt=0\n"
    );

    // per-socket id, mismatched protocols
    let mut p = Policy::new(PolicyType::BYPASS, Dir(5));
    p.id = 11;
    let m = spd(p.clone(), "10.0.0.1:0", 32, "10.0.0.2:0", 32, 6);
    let mut out = String::new();
    dump::spdump(&mut out, &m, false, &FixedClock(T0));
    assert_eq!(
        out,
        "(per-socket policy) \n\tout(socket) bypass\n\tspid=11 seq=0 pid=55\n\trefcnt=0\n"
    );
    p.id = 16;
    let mut m = spd(p, "10.0.0.1:0", 32, "10.0.0.2:0", 32, 6);
    m.set(Extension::AddressDst(Address::new(
        "10.0.0.2:0".parse().unwrap(),
        32,
        17,
    )));
    let mut out = String::new();
    dump::spdump(&mut out, &m, false, &FixedClock(T0));
    assert_eq!(
        out,
        "10.0.0.1[any] 10.0.0.2[any] upper layer protocol mismatched.\n"
    );
}

#[test]
fn shortdump_row() {
    let mut out = String::new();
    dump::shortdump_hdr(&mut out);
    dump::shortdump(&mut out, &esp_sa(), T0 + 10);
    assert_eq!(
        out,
        "time p   s spi      ltime   src -> dst\n\
4650 esp M 12345678  10/big #255 192.1.2.23 -> #255 192.1.2.45\n"
    );
}

#[test]
fn kdebug_forms() {
    let m = Message::new(MsgType::FLUSH, SaType::UNSPEC).with_pid(42);
    let mut out = String::new();
    dump::kdebug(&mut out, &m.encode().unwrap());
    assert_eq!(
        out,
        "sadb_msg{ version=2 type=9 errno=0 satype=0\n  len=2 reserved=0 seq=0 pid=42\n"
    );
    let m = Message::new(MsgType::ADD, SaType::ESP)
        .with(Extension::Sa(Sa {
            spi: 0x1000,
            replay: 4,
            flags: SaFlags(0x40),
            encrypt: EncAlg::DES3_CBC,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(
            "10.0.0.1:0".parse().unwrap(),
        )))
        .with(Extension::KeyEncrypt(key(0, 8)));
    let mut out = String::new();
    dump::kdebug(&mut out, &m.encode().unwrap());
    assert_eq!(
        out,
        "sadb_msg{ version=2 type=3 errno=0 satype=3\n  len=9 reserved=0 seq=0 pid=0\n\
sadb_ext{ len=2 type=1 }\nsadb_sa{ spi=4096 replay=4 state=0\n  auth=0 encrypt=3 flags=0x00000040 }\n\
sadb_ext{ len=3 type=5 }\nsadb_address{ proto=255 prefixlen=32 reserved=0x0000 }\n\
sockaddr{ len=16 family=2 port=0\n 0a000001  }\n\
sadb_ext{ len=2 type=9 }\nsadb_key{ bits=64 reserved=0\n  key= 00010203 04050607 }\n"
    );
    // truncated and garbage input never panics
    let b = m.encode().unwrap();
    for n in 0..b.len() {
        let mut o = String::new();
        dump::kdebug(&mut o, &b[..n]);
    }
}

#[test]
fn dates() {
    assert_eq!(dump::date20_with_offset(T0, 0), "Sep  9 01:46:40 2001");
    assert_eq!(dump::date20_with_offset(0, 3600), "Jan  1 01:00:00 1970");
    assert_eq!(
        dump::date20_with_offset(951_782_400, 0),
        "Feb 29 00:00:00 2000"
    );
}

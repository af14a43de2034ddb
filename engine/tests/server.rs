//! The PF_KEY server end to end: a temp socket, clients speaking raw bytes.
#![cfg(feature = "io")]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use engine::io::{Config, Engine};
use pfkey::{
    Address, Dir as PDir, Endpoints, Extension, IpsecProto, IpsecRequest, Level, Message, Mode,
    MsgType, Policy, PolicyType, SaType, SpiRange,
};
use tokio::time::timeout;
use tokio_seqpacket::UnixSeqpacket;

fn temp_socket(name: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("engine-test-{}-{name}", std::process::id()))
        .join("sub")
        .join("pfkey.sock")
}

async fn recv_raw(s: &UnixSeqpacket) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 70_000];
    match timeout(Duration::from_secs(3), s.recv(&mut buf)).await {
        Ok(Ok(info)) => {
            buf.truncate(info.bytes_read());
            Some(buf)
        }
        _ => None,
    }
}

async fn recv(s: &UnixSeqpacket) -> Message {
    let b = recv_raw(s).await.expect("a message within 3 s");
    assert_eq!(b.len() % 8, 0);
    assert_eq!(usize::from(u16::from_ne_bytes([b[4], b[5]])) * 8, b.len());
    Message::decode(&b).expect("a valid PF_KEY message")
}

/// Receive until a message of type `t` arrives (skipping broadcasts of others).
async fn recv_type(s: &UnixSeqpacket, t: MsgType) -> Message {
    for _ in 0..32 {
        let m = recv(s).await;
        if m.header.msg_type == t {
            return m;
        }
    }
    panic!("no {t:?}");
}

async fn nothing_pending(s: &UnixSeqpacket) -> bool {
    let mut buf = [0u8; 64];
    timeout(Duration::from_millis(150), s.recv(&mut buf))
        .await
        .is_err()
}

fn hdr(msg_type: u8, satype: u8, len_words: u16, seq: u32, pid: u32) -> Vec<u8> {
    let mut v = vec![2, msg_type, 0, satype];
    v.extend_from_slice(&len_words.to_ne_bytes());
    v.extend_from_slice(&0u16.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&pid.to_ne_bytes());
    v
}

fn ext_hdr(v: &mut Vec<u8>, len_words: u16, t: u16) {
    v.extend_from_slice(&len_words.to_ne_bytes());
    v.extend_from_slice(&t.to_ne_bytes());
}

/// sadb_address + Linux sockaddr_in, 24 bytes.
fn addr_ext(v: &mut Vec<u8>, t: u16, ip: [u8; 4]) {
    ext_hdr(v, 3, t);
    v.extend_from_slice(&[255, 32, 0, 0]); // proto any, prefixlen 32
    v.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    v.extend_from_slice(&0u16.to_be_bytes()); // port
    v.extend_from_slice(&ip);
    v.extend_from_slice(&[0; 8]);
}

/// An ESP ADD assembled by hand from RFC 2367 / <linux/pfkeyv2.h>:
/// hmac-sha1 (3) + aes-cbc (12), keys 0x11×20 and 0x22×16.
fn raw_add(spi: u32, seq: u32, soft_hard: Option<(u64, u64)>) -> Vec<u8> {
    let mut v = Vec::new();
    // sadb_sa
    ext_hdr(&mut v, 2, 1);
    v.extend_from_slice(&spi.to_be_bytes());
    v.extend_from_slice(&[4, 1, 3, 12]); // replay, state mature, auth, encrypt
    v.extend_from_slice(&0u32.to_ne_bytes());
    if let Some((soft, hard)) = soft_hard {
        for (t, secs) in [(3u16, hard), (4u16, soft)] {
            ext_hdr(&mut v, 4, t);
            v.extend_from_slice(&0u32.to_ne_bytes());
            v.extend_from_slice(&0u64.to_ne_bytes());
            v.extend_from_slice(&secs.to_ne_bytes());
            v.extend_from_slice(&0u64.to_ne_bytes());
        }
    }
    addr_ext(&mut v, 5, [192, 0, 2, 1]);
    addr_ext(&mut v, 6, [192, 0, 2, 2]);
    // sadb_key auth: 4 + 20 bytes -> 24 bytes (3 words)... header 8 + 20 = 28 -> 32
    ext_hdr(&mut v, 4, 8);
    v.extend_from_slice(&160u16.to_ne_bytes());
    v.extend_from_slice(&0u16.to_ne_bytes());
    v.extend_from_slice(&[0x11; 20]);
    v.extend_from_slice(&[0; 4]);
    // sadb_key encrypt: 8 + 16 = 24
    ext_hdr(&mut v, 3, 9);
    v.extend_from_slice(&128u16.to_ne_bytes());
    v.extend_from_slice(&0u16.to_ne_bytes());
    v.extend_from_slice(&[0x22; 16]);
    let mut m = hdr(3, 3, (16 + v.len() as u16) / 8, seq, 4242);
    m.extend_from_slice(&v);
    m
}

fn sa_msg(t: MsgType, spi: u32) -> Message {
    Message::new(t, SaType::ESP)
        .with_seq(spi)
        .with(Extension::Sa(pfkey::Sa {
            spi,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(
            "192.0.2.1:0".parse().unwrap(),
        )))
        .with(Extension::AddressDst(Address::host(
            "192.0.2.2:0".parse().unwrap(),
        )))
}

async fn send(s: &UnixSeqpacket, m: &Message) {
    s.send(&m.encode().unwrap()).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn pfkey_server_end_to_end() {
    let path = temp_socket("e2e");
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    let handle = Engine::spawn(Config::new(&path)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let km = UnixSeqpacket::connect(&path).await.unwrap(); // key manager
    let admin = UnixSeqpacket::connect(&path).await.unwrap(); // setkey-like

    // REGISTER (raw 16-byte header)
    km.send(&hdr(7, 3, 2, 1, 100)).await.unwrap();
    let r = recv(&km).await;
    assert_eq!(
        (r.header.msg_type, r.header.errno, r.header.seq),
        (MsgType::REGISTER, 0, 1)
    );
    let enc: Vec<u8> = r
        .supported_encrypt()
        .unwrap()
        .algs
        .iter()
        .map(|a| a.id)
        .collect();
    assert!(enc.contains(&12) && enc.contains(&3) && enc.contains(&20));

    // ADD (raw), broadcast to both sockets without keys
    admin.send(&raw_add(0x1001, 7, None)).await.unwrap();
    let r = recv(&admin).await;
    assert_eq!(
        (
            r.header.msg_type,
            r.header.errno,
            r.header.seq,
            r.header.pid
        ),
        (MsgType::ADD, 0, 7, 4242)
    );
    assert!(r.key_encrypt().is_none());
    let r = recv(&km).await;
    assert_eq!(r.header.msg_type, MsgType::ADD);
    assert_eq!(r.sa().unwrap().spi, 0x1001);

    // duplicate ADD -> EEXIST to the sender only
    admin.send(&raw_add(0x1001, 8, None)).await.unwrap();
    let r = recv(&admin).await;
    assert_eq!((r.header.errno, r.header.seq), (17, 8));
    assert!(nothing_pending(&km).await);

    // GET with keys
    send(&admin, &sa_msg(MsgType::GET, 0x1001)).await;
    let r = recv(&admin).await;
    assert_eq!(r.header.errno, 0);
    assert_eq!(r.key_auth().unwrap().bytes(), &[0x11; 20]);
    assert_eq!(r.key_encrypt().unwrap().bytes(), &[0x22; 16]);

    // GETSPI in a range, then UPDATE
    let gs = Message::new(MsgType::GETSPI, SaType::ESP)
        .with_seq(55)
        .with(Extension::AddressSrc(Address::host(
            "192.0.2.1:0".parse().unwrap(),
        )))
        .with(Extension::AddressDst(Address::host(
            "192.0.2.2:0".parse().unwrap(),
        )))
        .with(Extension::SpiRange(SpiRange {
            min: 0xc000,
            max: 0xcfff,
        }));
    send(&km, &gs).await;
    let r = recv(&km).await;
    assert_eq!(
        (r.header.msg_type, r.header.errno, r.header.seq),
        (MsgType::GETSPI, 0, 55)
    );
    let spi = r.sa().unwrap().spi;
    assert!((0xc000..=0xcfff).contains(&spi));
    let mut up = Message::decode(&raw_add(spi, 55, None)).unwrap();
    up.header.msg_type = MsgType::UPDATE;
    send(&km, &up).await;
    let r = recv_type(&km, MsgType::UPDATE).await;
    assert_eq!((r.header.errno, r.header.seq), (0, 55));
    assert_eq!(r.sa().unwrap().state, pfkey::SaState::MATURE);
    let _ = recv_type(&admin, MsgType::UPDATE).await;

    // DUMP: two SAs, seq counting down to 0
    send(
        &admin,
        &Message::new(MsgType::DUMP, SaType::UNSPEC).with_seq(3),
    )
    .await;
    let d1 = recv(&admin).await;
    let d2 = recv(&admin).await;
    assert_eq!((d1.header.msg_type, d1.header.seq), (MsgType::DUMP, 1));
    assert_eq!(d2.header.seq, 0);
    let mut spis = vec![d1.sa().unwrap().spi, d2.sa().unwrap().spi];
    spis.sort();
    assert_eq!(spis, vec![0x1001, spi]);

    // DELETE
    send(&admin, &sa_msg(MsgType::DELETE, 0x1001)).await;
    let r = recv(&admin).await;
    assert_eq!((r.header.msg_type, r.header.errno), (MsgType::DELETE, 0));
    let _ = recv_type(&km, MsgType::DELETE).await;
    send(&admin, &sa_msg(MsgType::DELETE, 0x1001)).await;
    assert_eq!(recv(&admin).await.header.errno, 3);

    // X_SPDADD with a tunnel bundle, X_SPDDUMP
    let mut xp = Policy::new(PolicyType::IPSEC, PDir::OUT);
    xp.requests.push(IpsecRequest {
        proto: IpsecProto::ESP,
        mode: Mode::TUNNEL,
        level: Level::UNIQUE,
        reqid: 0,
        tunnel: Some(Endpoints {
            src: "192.0.2.1:0".parse().unwrap(),
            dst: "192.0.2.2:0".parse().unwrap(),
        }),
    });
    xp.requests.push(IpsecRequest {
        proto: IpsecProto::AH,
        mode: Mode::TRANSPORT,
        level: Level::REQUIRE,
        reqid: 0,
        tunnel: None,
    });
    let spd = Message::new(MsgType::X_SPDADD, SaType::UNSPEC)
        .with_seq(20)
        .with(Extension::AddressSrc(Address::new(
            "10.1.0.0:0".parse().unwrap(),
            16,
            255,
        )))
        .with(Extension::AddressDst(Address::new(
            "10.2.0.0:0".parse().unwrap(),
            16,
            255,
        )))
        .with(Extension::Policy(xp));
    send(&admin, &spd).await;
    let r = recv(&admin).await;
    assert_eq!((r.header.msg_type, r.header.errno), (MsgType::X_SPDADD, 0));
    let id = r.policy().unwrap().id;
    let _ = recv_type(&km, MsgType::X_SPDADD).await; // racoon's SPD image stays current
    send(&admin, &Message::new(MsgType::X_SPDDUMP, SaType::UNSPEC)).await;
    let r = recv(&admin).await;
    assert_eq!(
        (r.header.msg_type, r.header.seq, r.header.errno),
        (MsgType::X_SPDDUMP, 0, 0)
    );
    let p = r.policy().unwrap();
    assert_eq!(p.id, id);
    assert_eq!(p.requests.len(), 2);
    assert_eq!(p.requests[0].mode, Mode::TUNNEL);
    assert!(p.requests[0].reqid > 0x3fff);
    assert_eq!(
        p.requests[0].tunnel.unwrap().dst,
        "192.0.2.2:0".parse().unwrap()
    );
    assert_eq!(r.addr_src().unwrap().prefixlen, 16);

    // malformed input: EINVAL when the header is readable, silence otherwise
    let mut bad = hdr(3, 3, 40, 99, 1);
    bad.extend_from_slice(&[0; 8]);
    admin.send(&bad).await.unwrap();
    let r = recv(&admin).await;
    assert_eq!((r.header.errno, r.header.seq), (22, 99));
    admin.send(&[1, 2, 3]).await.unwrap();
    assert!(nothing_pending(&admin).await);

    // soft then hard EXPIRE on the registered socket (soft 1 s, hard 2 s)
    admin
        .send(&raw_add(0x2002, 30, Some((1, 2))))
        .await
        .unwrap();
    assert_eq!(recv(&admin).await.header.errno, 0);
    let soft = recv_type(&km, MsgType::EXPIRE).await;
    assert!(soft.lifetime_soft().is_some() && soft.lifetime_hard().is_none());
    assert_eq!(soft.sa().unwrap().spi, 0x2002);
    let hard = recv_type(&km, MsgType::EXPIRE).await;
    assert!(hard.lifetime_hard().is_some());
    assert_eq!(hard.sa().unwrap().spi, 0x2002);
    // the unregistered socket got no EXPIRE
    for _ in 0..8 {
        match recv_raw(&admin).await {
            None => break,
            Some(b) => assert_ne!(b[1], 8, "EXPIRE on an unregistered socket"),
        }
    }
    send(&admin, &sa_msg(MsgType::GET, 0x2002)).await;
    assert_eq!(
        recv(&admin).await.header.errno,
        3,
        "hard expiry deleted the SA"
    );

    // in-process client: same engine, same broadcasts
    let mut inproc = handle.connect(64).unwrap();
    inproc
        .send(Message::new(MsgType::REGISTER, SaType::AH).with_seq(5))
        .await
        .unwrap();
    let r = timeout(Duration::from_secs(2), inproc.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.header.msg_type, r.header.errno, r.header.seq),
        (MsgType::REGISTER, 0, 5)
    );
    let n = handle
        .call(|k, _| (k.spd().len(), Vec::new()))
        .await
        .unwrap();
    assert_eq!(n, 1);

    drop(km);
    drop(admin);
    handle.shutdown().await;
    assert!(!path.exists(), "socket removed on shutdown");
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

#[tokio::test(flavor = "current_thread")]
async fn refuses_a_path_in_use_and_bounds_clients() {
    let path = temp_socket("limits");
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    let mut cfg = Config::new(&path);
    cfg.max_clients = 1;
    let handle = Engine::spawn(cfg.clone()).unwrap();
    assert!(matches!(
        Engine::spawn(cfg),
        Err(engine::io::Error::InUse { .. })
    ));
    // the in-use probe was a client for a moment: let the server see it go
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a = UnixSeqpacket::connect(&path).await.unwrap();
    a.send(&hdr(7, 0, 2, 1, 1)).await.unwrap();
    assert_eq!(recv(&a).await.header.errno, 0);
    // a second client is closed at once
    let b = UnixSeqpacket::connect(&path).await.unwrap();
    let _ = b.send(&hdr(7, 0, 2, 1, 1)).await;
    assert!(recv_raw(&b).await.is_none());
    // the first still works
    a.send(&hdr(18, 0, 2, 2, 1)).await.unwrap();
    assert_eq!(recv(&a).await.header.errno, 2, "empty SPD dump: ENOENT");
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

#[tokio::test(flavor = "current_thread")]
async fn ipsecd_serves_and_exits_cleanly_on_sigterm() {
    let path = temp_socket("ipsecd");
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ipsecd"))
        .arg("-F")
        .env("PFKEY_SOCKET", &path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut sock = None;
    for _ in 0..100 {
        if let Ok(s) = UnixSeqpacket::connect(&path).await {
            sock = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = sock.expect("ipsecd listening within 5 s");
    s.send(&hdr(7, 3, 2, 9, 1)).await.unwrap();
    let r = recv(&s).await;
    assert_eq!(
        (r.header.msg_type, r.header.errno, r.header.seq),
        (MsgType::REGISTER, 0, 9)
    );
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!path.exists(), "socket removed on SIGTERM");
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

//! The blocking client over unix SOCK_SEQPACKET sockets.
mod common;

use pfkey::client::{Client, ClientError};
use pfkey::*;
use socket2::{Domain, SockAddr, Socket, Type};
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn socket_path_precedence() {
    std::env::remove_var(SOCKET_ENV);
    assert_eq!(socket_path(None), Path::new(DEFAULT_SOCKET_PATH));
    std::env::set_var(SOCKET_ENV, "");
    assert_eq!(socket_path(None), Path::new(DEFAULT_SOCKET_PATH));
    std::env::set_var(SOCKET_ENV, "/tmp/x.sock");
    assert_eq!(socket_path(None), Path::new("/tmp/x.sock"));
    assert_eq!(socket_path(Some(Path::new("/a/b"))), Path::new("/a/b"));
    std::env::remove_var(SOCKET_ENV);
    assert_eq!(DEFAULT_SOCKET_PATH, "/run/racoon-rs/pfkey.sock");
    assert_eq!(SOCKET_ENV, "PFKEY_SOCKET");
}

#[test]
fn pair_one_message_per_packet() {
    let (a, b) = Client::pair().unwrap();
    let msgs = common::typical_messages();
    for m in &msgs {
        a.send(m).unwrap();
    }
    for m in &msgs {
        assert_eq!(&b.recv().unwrap(), m);
    }
}

#[test]
fn timeout_and_size_cap_and_garbage() {
    let (a, mut b) = Client::pair().unwrap();
    b.set_timeout(Some(Duration::from_millis(50))).unwrap();
    let t = Instant::now();
    let e = b.recv().unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(t.elapsed() >= Duration::from_millis(40));

    b.set_max_len(64);
    let mut big = Message::new(MsgType::ADD, SaType::ESP);
    big.exts = common::every_extension();
    a.send(&big).unwrap();
    assert!(matches!(b.recv(), Err(ClientError::TooBig(64))));
    // The oversized packet was consumed; the next one arrives intact.
    let small = Message::new(MsgType::FLUSH, SaType::UNSPEC).with_seq(3);
    a.send(&small).unwrap();
    assert_eq!(b.recv().unwrap(), small);

    a.send_raw(&[2, 3, 0, 3, 9, 0]).unwrap();
    assert!(matches!(b.recv(), Err(ClientError::Decode(_))));
    drop(a);
    assert!(matches!(b.recv(), Err(ClientError::Closed)));
}

#[test]
fn connect_to_listener_and_request() {
    let dir = std::env::temp_dir().join(format!("pfkey-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pfkey.sock");
    let _ = std::fs::remove_file(&path);
    let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    listener.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    listener.listen(4).unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let s = Client::from_socket(s);
        let req = s.recv().unwrap();
        // A broadcast first, then the reply.
        s.send(&Message::new(MsgType::X_SPDFLUSH, SaType::UNSPEC).with_seq(999))
            .unwrap();
        let reply = req.error_reply(libc_eexist());
        s.send(&reply).unwrap();
    });
    let c = Client::connect(&path).unwrap();
    c.set_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = Message::new(MsgType::ADD, SaType::ESP)
        .with_seq(42)
        .with_pid(7);
    let r = c.request(&req, 4).unwrap();
    assert_eq!(r.header.seq, 42);
    assert_eq!(r.header.errno, libc_eexist());
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn libc_eexist() -> u8 {
    17
}

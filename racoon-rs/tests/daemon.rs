//! End to end: `racoon -F` with the embedded engine (and against a separate
//! engine) on high loopback ports, unprivileged thanks to the test-only
//! `RACOON_TEST_UNPRIVILEGED=1`: PF_KEY socket, racoonctl, hostile
//! datagrams and admin requests, SIGHUP reload, SIGTERM clean exit.

use std::fs;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pfkey::{Address, EncAlg, Extension, Key, Message, MsgType, Sa, SaState, SaType};

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    ike: u16,
    natt: u16,
}

impl Daemon {
    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("racoon.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_racoonctl"))
            .arg("-s")
            .arg(self.path("racoon.sock"))
            .args(args)
            .output()
            .unwrap()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(extra: &[&str], pfkey: Option<&Path>) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let (ike, natt) = (free_udp_port(), free_udp_port());
    let d = dir.path();
    fs::write(d.join("psk.txt"), "127.0.0.2 secret\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(d.join("psk.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    let conf = format!(
        "path pre_shared_key \"{psk}\";
path pidfile \"{pid}\";
log debug;
listen {{
	isakmp 127.0.0.1 [{ike}];
	isakmp_natt 127.0.0.1 [{natt}];
	adminsock \"{sock}\";
	strict_address;
}}
remote anonymous {{
	exchange_mode main;
	proposal {{
		encryption_algorithm aes;
		hash_algorithm sha1;
		authentication_method pre_shared_key;
		dh_group 2;
	}}
}}
sainfo anonymous {{
	encryption_algorithm aes;
	authentication_algorithm hmac_sha1;
	compression_algorithm deflate;
}}
",
        psk = d.join("psk.txt").display(),
        pid = d.join("racoon.pid").display(),
        sock = d.join("racoon.sock").display(),
    );
    fs::write(d.join("racoon.conf"), conf).unwrap();
    let pfkey = pfkey.map_or_else(|| d.join("pfkey.sock"), Path::to_path_buf);
    let log = fs::File::create(d.join("racoon.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_racoon"))
        .env("RACOON_TEST_UNPRIVILEGED", "1")
        .arg("-F")
        .arg("-f")
        .arg(d.join("racoon.conf"))
        .arg("--pfkey-socket")
        .arg(&pfkey)
        .arg("--no-dataplane")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut dm = Daemon {
        child,
        dir,
        ike,
        natt,
    };
    let pid = dm.path("racoon.pid");
    let t = Instant::now();
    while !pid.exists() {
        assert!(dm.alive(), "racoon exited early:\n{}", dm.log());
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "racoon did not start:\n{}",
            dm.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    dm
}

fn esp_add(spi: u32) -> Message {
    Message::new(MsgType::ADD, SaType::ESP)
        .with_seq(spi)
        .with(Extension::Sa(Sa {
            spi,
            replay: 4,
            state: SaState::MATURE,
            encrypt: EncAlg::AES_CBC,
            ..Default::default()
        }))
        .with(Extension::AddressSrc(Address::host(
            "192.0.2.1:0".parse().unwrap(),
        )))
        .with(Extension::AddressDst(Address::host(
            "192.0.2.2:0".parse().unwrap(),
        )))
        .with(Extension::KeyEncrypt(Key::new(&[0x11; 16]).unwrap()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn setkey_bin() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_BIN_EXE_racoon"))
        .parent()?
        .join("setkey");
    p.exists().then_some(p)
}

#[test]
fn embedded_engine_racoonctl_reload_hostile_input_and_clean_exit() {
    let mut d = start(&[], None);
    let pid_text = fs::read_to_string(d.path("racoon.pid")).unwrap();
    assert_eq!(pid_text.trim(), d.child.id().to_string());
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(d.path("racoon.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The PF_KEY socket is served: add an SA as setkey would.
    let c = pfkey::Client::connect(&d.path("pfkey.sock")).unwrap();
    c.set_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = c.request(&esp_add(0x1001), 16).unwrap();
    assert_eq!(r.header.errno, 0);

    // racoonctl show-sa esp prints setkey -D blocks.
    let o = d.ctl(&["show-sa", "esp"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let shown = text(&o.stdout);
    assert!(shown.starts_with("192.0.2.1 192.0.2.2"), "{shown}");
    assert!(shown.contains("spi=4097(0x00001001)"), "{shown}");
    if let Some(setkey) = setkey_bin() {
        let o = Command::new(setkey)
            .env("PFKEY_SOCKET", d.path("pfkey.sock"))
            .arg("-D")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        // Same block apart from the "diff"/"current" times that can tick.
        let first = |s: &str| s.lines().take(3).collect::<Vec<_>>().join("\n");
        assert_eq!(first(&text(&o.stdout)), first(&shown));
    } else {
        eprintln!("target/debug/setkey not built; skipping the setkey -D comparison");
    }
    let o = d.ctl(&["--json", "show-sa", "ipsec"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j[0]["spi"], 0x1001);
    assert_eq!(j[0]["dst"], "192.0.2.2");

    // show-sa isakmp: no phase 1 yet, header only.
    let o = d.ctl(&["show-sa", "isakmp"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&o.stdout),
        "Destination            Cookies                           Created\n"
    );
    let o = d.ctl(&["-l", "ss", "isakmp"]);
    assert!(text(&o.stdout).starts_with("Destination            Cookies                           ST S  V E Created             Phase2\n"));
    assert_eq!(text(&d.ctl(&["--json", "ss", "isakmp"]).stdout), "[]\n");
    // establish-sa starts a phase 1 towards the peer (the IKE core is in):
    // exit 0 silently, and the phase 1 shows up in show-sa isakmp.
    let o = d.ctl(&["establish-sa", "isakmp", "inet", "127.0.0.1", "127.0.0.2"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "");
    let rows = text(&d.ctl(&["show-sa", "isakmp"]).stdout);
    assert!(
        rows.lines().count() >= 2 && rows.contains("127.0.0.2."),
        "{rows}"
    );
    // Unknown command.
    let o = d.ctl(&["bogus"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), "Invalid command [bogus]\n");
    // show-schedule prints its header.
    assert_eq!(
        text(&d.ctl(&["show-schedule"]).stdout),
        "index    tick     xtime    created\n"
    );

    // Hostile datagrams on both ports.
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/testdata/libreswan/fuzzer-ikev1-packets.json"),
        )
        .unwrap_or_else(|_| "{\"packets\":[]}".into()),
    )
    .unwrap();
    let mut datagrams: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff],
        vec![0; 4],
        vec![0; 3],
        vec![0xaa; 65_000],
        vec![0, 0, 0, 0, 0xde, 0xad],
        (0..=255u8).collect(),
    ];
    if let Some(ps) = json["packets"].as_array() {
        for p in ps {
            if let Some(h) = p["hex"].as_str() {
                let b: Vec<u8> = (0..h.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
                    .collect();
                let mut marked = vec![0; 4];
                marked.extend_from_slice(&b);
                datagrams.push(b.clone());
                datagrams.push(b[..b.len() / 2].to_vec());
                datagrams.push(marked);
            }
        }
    }
    let mut x: u32 = 12345;
    for len in [1usize, 7, 28, 29, 100, 1500] {
        let b: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        datagrams.push(b);
    }
    for dg in &datagrams {
        for port in [d.ike, d.natt] {
            let _ = peer.send_to(dg, ("127.0.0.1", port));
        }
    }
    // Malformed admin requests: garbage, a short header, an oversized length, a stall.
    for junk in [
        &b"\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        &b"\x08\x00"[..],
        &[0x00, 0x10, 0x01, 0x81, 1, 0, 0xff, 0x01][..],
        &[8, 0, 0x01, 0x81, 1, 0, 0x34, 0x12][..],
    ] {
        let mut s = UnixStream::connect(d.path("racoon.sock")).unwrap();
        let _ = s.write_all(junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read_to_end(&mut sink);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(d.alive(), "racoon died:\n{}", d.log());
    let o = d.ctl(&["show-sa", "esp"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("spi=4097"));

    // SIGHUP and reload-config.
    d.signal("-HUP");
    wait_for("reload", Duration::from_secs(5), || {
        d.log().contains("configuration reloaded")
    });
    assert_eq!(d.ctl(&["reload-config"]).status.code(), Some(0));
    assert!(d.alive());

    // show-event sees "Racoon terminated" on SIGTERM.
    let mut ev = Command::new(env!("CARGO_BIN_EXE_racoonctl"))
        .arg("-s")
        .arg(d.path("racoon.sock"))
        .arg("show-event")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // SIGTERM: exit 0 within a few seconds, files removed.
    d.signal("-TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(5)), Some(0), "{}", d.log());
    for f in ["racoon.sock", "racoon.pid", "pfkey.sock"] {
        assert!(!d.path(f).exists(), "{f} left behind");
    }
    let mut out = String::new();
    ev.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = ev.wait();
    assert!(
        out.contains("Racoon terminated : unknown -> unknown"),
        "{out:?}"
    );
    let log = d.log();
    assert!(!log.contains("IKE not available"), "{log}");
    assert!(log.contains("caught signal 15"), "{log}");
    // racoon's line format on stderr with -F: "YYYY-MM-DD hh:mm:ss: LEVEL: text".
    let line = log.lines().find(|l| l.contains("INFO: ")).unwrap();
    assert_eq!(&line[4..5], "-");
    assert_eq!(&line[19..21], ": ");
}

#[test]
fn external_engine_is_flushed_on_exit_and_stale_pid_file_is_ignored() {
    let edir = tempfile::tempdir().unwrap();
    let sock = edir.path().join("ipsecd.sock");
    // A separate engine (what ipsecd runs), driven by its own thread.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let esock = sock.clone();
    let driver = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let engine = engine::io::Engine::spawn(engine::io::Config::new(&esock)).unwrap();
            ready_tx.send(()).unwrap();
            while stop_rx.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            engine.shutdown().await;
        })
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    let c = pfkey::Client::connect(&sock).unwrap();
    c.set_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(c.request(&esp_add(0x2002), 16).unwrap().header.errno, 0);

    let mut d = start(&["--no-embedded-engine"], Some(&sock));
    // A stale pid file from a killed run does not block a restart: stop,
    // leave a bogus pid file, start again on the same files.
    let o = d.ctl(&["show-sa", "esp"]);
    assert!(text(&o.stdout).contains("spi=8194"), "{}", text(&o.stdout));
    d.signal("-TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(5)), Some(0), "{}", d.log());
    // racoon FLUSHed every SA in the engine, and left the engine's socket alone.
    assert!(sock.exists());
    let dump = c
        .request(&Message::new(MsgType::DUMP, SaType::UNSPEC).with_seq(9), 16)
        .unwrap();
    assert_eq!(dump.header.errno, 2, "SAD not flushed: {dump:?}");

    fs::write(d.path("racoon.pid"), "999999\n").unwrap();
    let conf_dir = d.dir.path().to_path_buf();
    let child = Command::new(env!("CARGO_BIN_EXE_racoon"))
        .env("RACOON_TEST_UNPRIVILEGED", "1")
        .args(["-F", "--no-embedded-engine", "--no-dataplane", "-f"])
        .arg(conf_dir.join("racoon.conf"))
        .arg("--pfkey-socket")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(fs::File::create(conf_dir.join("racoon2.log")).unwrap())
        .spawn()
        .unwrap();
    d.child = child;
    wait_for("restart", Duration::from_secs(10), || {
        fs::read_to_string(d.path("racoon.pid")).is_ok_and(|p| p.trim() == d.child.id().to_string())
    });
    assert_eq!(d.ctl(&["show-sa", "esp"]).status.code(), Some(0));
    d.signal("-INT");
    assert_eq!(d.wait_exit(Duration::from_secs(5)), Some(0));

    let _ = stop_tx.send(());
    driver.join().unwrap();
}

//! End to end through real sockets: two network namespaces joined by veth,
//! `ipsecd --tun` + `setkey -f` with manual keys on each side; ping and a TCP
//! transfer through a tunnel-mode SA pair (IPv4 and IPv6), a transport-mode pair, a
//! transport-mode IPComp+ESP+AH bundle and an
//! ESP-in-UDP pair; tshark on the veth sees only ESP / ESP-in-UDP; wrong keys
//! are dropped and counted; a policy without SAs sends one ACQUIRE to a
//! `setkey -x` listener. The work is done by `tests/netns/dataplane.sh`.
//!
//! Needs root (skipped with a message otherwise; fails under `CI=true`) and
//! the `setkey` binary (`cargo build -p setkey-rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn setkey_bin() -> PathBuf {
    let ipsecd = Path::new(env!("CARGO_BIN_EXE_ipsecd"));
    let p = ipsecd.parent().expect("target dir").join("setkey");
    assert!(
        p.exists(),
        "{} missing: build it with `cargo build -p setkey-rs`",
        p.display()
    );
    p
}

fn run(scenario: &str) {
    let dir = std::env::temp_dir().join(format!("racoon-rs-dp-{scenario}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/dataplane.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_ipsecd"))
        .arg(setkey_bin())
        .arg(&dir)
        .arg(scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dataplane.sh");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            // SIGTERM lets the script's trap remove namespaces and processes.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            std::thread::sleep(Duration::from_secs(8));
            let _ = child.kill();
            let _ = child.wait();
            panic!("{scenario}: timed out");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{scenario} failed:\n{text}");
    assert!(text.contains("OK "), "{scenario}: no OK line:\n{text}");
}

#[test]
fn esp_through_tun_between_namespaces() {
    if !is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("this test must run as root under CI");
        }
        eprintln!("SKIPPED: network-namespace data plane test needs root");
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        panic!("iproute2 `ip` is required");
    }
    for scenario in [
        "tunnel",
        "tunnel6",
        "transport",
        "bundle",
        "udp",
        "wrongkey",
        "acquire",
    ] {
        run(scenario);
    }
}

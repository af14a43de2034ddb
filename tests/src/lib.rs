//! Helpers for the end-to-end tests: find the workspace's binaries, run a
//! standalone engine (`ipsecd`) on a private socket, and clean up after it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Path of a binary built by this workspace (`target/<profile>/<name>`).
///
/// Integration tests live in `target/<profile>/deps/`, so the binaries are one
/// level up. Panics with a clear message (this is test code) when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build it first with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// A fresh private directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let unique = format!(
            "racoon-rs-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `ipsecd -F` on a private socket; killed (by PID) when dropped.
pub struct Ipsecd {
    child: Child,
    pub socket: PathBuf,
    _dir: TempDir,
}

impl Ipsecd {
    pub fn start() -> Ipsecd {
        let dir = TempDir::new("ipsecd");
        let socket = dir.path().join("pfkey.sock");
        let pid_file = dir.path().join("ipsecd.pid");
        let child = Command::new(bin("ipsecd"))
            .arg("-F")
            .arg("--pfkey-socket")
            .arg(&socket)
            .arg("--pid-file")
            .arg(&pid_file)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn ipsecd");
        let mut d = Ipsecd {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d.socket.exists() {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("ipsecd exited before creating its socket: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "ipsecd did not create its socket in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }
}

impl Drop for Ipsecd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Skip a test for a missing tool, loudly; under CI (`CI` set) a missing tool
/// is a failure instead, since `.ci/run` installs everything.
pub fn require_tool(program: &str) -> bool {
    if have(program) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{program} is required under CI but was not found"
    );
    eprintln!("SKIPPED: {program} not found on PATH");
    false
}

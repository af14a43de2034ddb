//! racoon-rs <-> racoon-rs in network namespaces (tests/netns/run.sh): the
//! self-interop matrix (Main/Aggressive Mode, PFS, transport, NAT-T), SIGTERM
//! cleanup, kill -9 recovery, rekey under ping, hostile datagrams, one crafted
//! input per racoon CVE and a half-open flood.
//!
//! Needs root and `ip netns`; otherwise it prints SKIPPED (and passes: the
//! suite cannot run there, which the message says). `RACOON_NETNS_SCENARIOS`
//! (space-separated) selects scenarios; `bash tests/netns/run.sh --list`
//! lists them. Binaries come from this test's target directory (build them
//! first: `cargo build --workspace --bins`).

use std::process::Command;

#[test]
fn racoon_rs_pairs_in_network_namespaces() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc_getuid() } != 0 {
        println!("SKIPPED: tests/netns/run.sh needs root (network namespaces)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/netns/run.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .env("RACOON_BIN", tests::bin("racoon"))
        .env("RACOONCTL_BIN", tests::bin("racoonctl"))
        .env("SETKEY_BIN", tests::bin("setkey"));
    if let Ok(sel) = std::env::var("RACOON_NETNS_SCENARIOS") {
        cmd.args(sel.split_whitespace());
    }
    let out = cmd.output().expect("run bash tests/netns/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(77) {
        println!("SKIPPED: {}", stdout.trim());
        return;
    }
    assert!(out.status.success(), "netns suite failed:\n{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

//! Runs the `baseline-strongswan` scenario (strongSwan against strongSwan in two network
//! namespaces) through `interop/run.sh` when root, `ip`, charon and the tools are available.
//! Elsewhere it prints `SKIPPED: <reason>`; under CI (`CI` set) a missing tool is a failure.

use interop::{interop_dir, missing_prerequisites};
use std::process::Command;

#[test]
fn baseline_strongswan_end_to_end() {
    if let Some(why) = missing_prerequisites() {
        if std::env::var_os("CI").is_some() {
            panic!("CI: interop prerequisites missing: {why}");
        }
        println!("SKIPPED: {why}");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let results = work.path().join("results.tsv");
    // bounded: two 10 s iperf3 runs plus set-up; the runner cleans up on SIGTERM
    let out = Command::new("timeout")
        .args(["--kill-after=15", "110", "bash"])
        .arg(interop_dir().join("run.sh"))
        .arg("baseline-strongswan")
        .env("INTEROP_WORK", work.path().join("run"))
        .env("INTEROP_RESULTS", &results)
        .env("INTEROP_SCENARIO_TIMEOUT", "100")
        .output()
        .expect("run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run.sh failed:\n{stdout}\n{stderr}");
    let rows = std::fs::read_to_string(&results).expect("results");
    let row: Vec<&str> = rows
        .lines()
        .find(|l| l.starts_with("baseline-strongswan\t"))
        .expect("baseline row")
        .split('\t')
        .collect();
    assert_eq!(row[2], "PASS", "{row:?}");
    let est: u64 = row[3]
        .trim_end_matches(" ms")
        .parse()
        .expect("establish time");
    assert!(est > 0 && est < 15_000, "establish {est} ms");
    for suite in ["aes128-sha1", "aes128gcm16"] {
        let mbit: f64 = row[4]
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{suite}=")))
            .unwrap_or_else(|| panic!("no {suite} throughput in {row:?}"))
            .parse()
            .expect("Mbit/s");
        assert!(mbit > 1.0, "{suite}: {mbit} Mbit/s");
    }
    assert!(stdout.contains("racoon-rs throughput target"), "{stdout}");
    // nothing of ours is left behind: every namespace and process the run registered is gone
    let done = std::fs::read_to_string(
        work.path()
            .join("run/baseline-strongswan-initiator/registry.done"),
    )
    .expect("registry.done");
    let ns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let ns = String::from_utf8_lossy(&ns.stdout);
    let mut n_ns = 0;
    for line in done.lines() {
        match line.split_once(' ') {
            Some(("ns", name)) => {
                n_ns += 1;
                assert!(
                    !ns.lines()
                        .any(|l| l.split_whitespace().next() == Some(name)),
                    "namespace {name} left behind"
                );
            }
            Some(("pid", pid)) => assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .is_ok_and(|s| s.contains(") Z ")),
                "process {pid} left running"
            ),
            _ => panic!("bad registry line {line:?}"),
        }
    }
    assert_eq!(n_ns, 2, "expected two namespaces in {done}");
}

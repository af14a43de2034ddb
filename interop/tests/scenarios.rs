//! Static checks of every scenario directory; needs neither root nor strongSwan.

use interop::{interop_dir, plain_vars, scenario_dirs, substitute};
use std::process::Command;

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_scenario_has_its_files() {
    let dirs = scenario_dirs().expect("scenarios");
    assert!(dirs.len() >= 15, "only {} scenarios", dirs.len());
    for d in &dirs {
        for f in [
            "description",
            "scenario",
            "checks",
            "swanctl.conf",
            "strongswan.conf",
        ] {
            assert!(d.join(f).is_file(), "{} lacks {f}", d.display());
        }
        let scen = read(&d.join("scenario"));
        if scen.contains("SIDE_A=strongswan") {
            assert!(d.join("side-a/swanctl.conf").is_file(), "{}", d.display());
        } else {
            for f in ["racoon.conf", "psk.txt", "setkey.conf"] {
                assert!(d.join(f).is_file(), "{} lacks {f}", d.display());
            }
            assert!(
                scen.contains("ROLES=\"initiator responder\""),
                "{}: racoon-rs must run as initiator and responder",
                d.display()
            );
        }
        let sw = read(&d.join("swanctl.conf"));
        assert!(sw.contains("version = 1"), "{}: not IKEv1", d.display());
        assert!(
            sw.contains("mode = tunnel"),
            "{}: libipsec is tunnel only",
            d.display()
        );
    }
}

#[test]
fn racoon_side_parses_with_our_conf_crate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for d in scenario_dirs().expect("scenarios") {
        let conf_path = d.join("racoon.conf");
        if !conf_path.is_file() {
            continue;
        }
        let vars = plain_vars(tmp.path());
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let text = substitute(&read(&conf_path), &vars);
        assert!(
            !["@A_", "@B_", "@DIR@", "@IN_"]
                .iter()
                .any(|p| text.contains(p)),
            "{}: unreplaced placeholder",
            d.display()
        );
        let parsed = conf::parse(&text, &conf_path.display().to_string())
            .unwrap_or_else(|e| panic!("{}:\n{}", conf_path.display(), e.render()));
        assert_eq!(parsed.config.remotes.len(), 1, "{}", d.display());
        assert!(!parsed.config.sainfos.is_empty(), "{}", d.display());
        let psk = substitute(&read(&d.join("psk.txt")), &vars);
        conf::parse_psk(&psk).unwrap_or_else(|e| panic!("{}/psk.txt: {e}", d.display()));
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} racoon-rs scenarios");
}

#[test]
fn runner_lists_both_roles_and_is_valid_bash() {
    let run = interop_dir().join("run.sh");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&run)
        .status()
        .expect("bash");
    assert!(syntax.success(), "bash -n run.sh failed");
    let out = Command::new("bash")
        .arg(&run)
        .arg("--list")
        .output()
        .expect("run.sh --list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.lines().any(|l| l == "baseline-strongswan:initiator"));
    assert!(list.lines().any(|l| l == "main-psk-addr:initiator"));
    assert!(list.lines().any(|l| l == "main-psk-addr:responder"));
    assert!(!list.lines().any(|l| l == "baseline-strongswan:responder"));
    let unknown = Command::new("bash")
        .arg(&run)
        .arg("no-such-scenario")
        .output()
        .expect("run.sh");
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "unknown scenario must be a usage error"
    );
}

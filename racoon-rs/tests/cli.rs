//! Runs the built `racoon` binary: --check, -C, -V, usage errors and start-up refusals.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn racoon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_racoon"))
        .args(args)
        .output()
        .expect("run racoon")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const GOOD: &str = "remote anonymous {
	exchange_mode main;
	proposal {
		encryption_algorithm aes;
		hash_algorithm sha1;
		authentication_method pre_shared_key;
		dh_group 2;
	}
}
sainfo anonymous {
	encryption_algorithm aes 256;
	authentication_algorithm hmac_sha1;
	compression_algorithm deflate;
}
";

#[test]
fn check_accepts_a_good_config() {
    let dir = tempfile::tempdir().unwrap();
    let psk = dir.path().join("psk.txt");
    fs::write(&psk, "192.0.2.1 secret\n").unwrap();
    fs::set_permissions(&psk, fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = dir.path().join("racoon.conf");
    fs::write(
        &cfg,
        format!("path pre_shared_key \"{}\";\n{GOOD}", psk.display()),
    )
    .unwrap();
    let o = racoon(&["--check", "-f", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "");
    assert!(text(&o.stdout).contains("configuration OK (1 remote(s), 1 sainfo(s))"));
}

#[test]
fn check_reports_errors_with_location_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("racoon.conf");
    fs::write(
        &cfg,
        "log info;\nremote anonymous {\n\texchange_mode main;\n\tdh_group 2;\n}\nbogus;\n",
    )
    .unwrap();
    let o = racoon(&["--check", "-f", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    let f = cfg.display();
    assert!(e.contains(&format!("{f}:4:2: error: dh_group cannot be defined here (it belongs inside a proposal block)\n\tdh_group 2;\n\t^~~~~~~~\n")), "{e}");
    assert!(
        e.contains(&format!("{f}:6:1: error: unknown statement \"bogus\"")),
        "{e}"
    );
    assert!(e.contains("failed to parse configuration file"), "{e}");
    assert_eq!(text(&o.stdout), "");
}

#[test]
fn check_short_flag_and_testdata() {
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/libreswan/interop-racoon"
    );
    let cfg = format!("{base}/interop-racoon-21-main-responder-ikev1/east.racoon.conf");
    let o = racoon(&["-C", "-f", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("remote anonymous [500] {\n\texchange_mode main;\n"),
        "{out}"
    );
    assert!(
        out.contains("\tpeers_identifier address 192.1.2.45;\n"),
        "{out}"
    );
    assert!(out.contains("\tlifetime time 86400 sec;\n"), "{out}");
    assert!(
        out.contains("sainfo anonymous {\n\tencryption_algorithm aes 128;\n"),
        "{out}"
    );
    // /etc/racoon/psk.txt does not exist here: a warning, not an error.
    let o = racoon(&["--check", "-f", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn check_refuses_weak_psk_file() {
    let dir = tempfile::tempdir().unwrap();
    let psk = dir.path().join("psk.txt");
    fs::write(&psk, "192.0.2.1 secret\n").unwrap();
    fs::set_permissions(&psk, fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = dir.path().join("racoon.conf");
    fs::write(
        &cfg,
        format!("path pre_shared_key \"{}\";\n{GOOD}", psk.display()),
    )
    .unwrap();
    let o = racoon(&["--check", "-f", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(e.contains("has weak file permission"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn warnings_do_not_fail_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("racoon.conf");
    fs::write(&cfg, format!("privsep {{ user \"racoon\"; }}\n{GOOD}")).unwrap();
    let o = racoon(&["--check", "-f", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains(":1:1: warning: privsep is not implemented"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn missing_file_and_default_path() {
    let o = racoon(&["--check", "-f", "/nonexistent/racoon.conf"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("/nonexistent/racoon.conf"));
    let o = racoon(&["-h"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("/etc/racoon/racoon.conf"));
}

#[test]
fn daemon_refuses_a_missing_config_or_non_root() {
    for args in [
        &["-f", "/nonexistent/racoon.conf"][..],
        &["-F", "-d", "-d", "-f", "/nonexistent/racoon.conf"][..],
    ] {
        let o = racoon(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = text(&o.stderr);
        // SAFETY: getuid has no preconditions.
        if unsafe { libc_getuid() } == 0 {
            assert!(e.contains("failed to parse configuration file"), "{e}");
        } else {
            assert!(e.contains("must be root to invoke this program."), "{e}");
        }
    }
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

#[test]
fn usage_errors_exit_1_and_version_exits_0() {
    assert_eq!(racoon(&["-x"]).status.code(), Some(1));
    assert_eq!(racoon(&["extra"]).status.code(), Some(1));
    assert_eq!(racoon(&["-4", "-6"]).status.code(), Some(1));
    let o = racoon(&["-V"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).starts_with("racoon-rs "));
}

//! Every example under `examples/` passes `racoon --check`, and its
//! setkey.conf parses and builds PF_KEY messages.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "racoon.conf") {
                out.push(d.clone());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn examples_pass_racoon_check() {
    let dirs = example_dirs();
    assert!(dirs.len() >= 7, "{dirs:?}");
    for d in dirs {
        let t = tempfile::tempdir().unwrap();
        let psk = t.path().join("psk.txt");
        fs::copy(d.join("psk.txt"), &psk).unwrap();
        fs::set_permissions(&psk, fs::Permissions::from_mode(0o600)).unwrap();
        let conf = fs::read_to_string(d.join("racoon.conf"))
            .unwrap()
            .replace("/etc/racoon/psk.txt", psk.to_str().unwrap());
        fs::write(t.path().join("racoon.conf"), conf).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_racoon"))
            .arg("--check")
            .arg("-f")
            .arg(t.path().join("racoon.conf"))
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            d.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn examples_setkey_scripts_build() {
    use setkey_rs::{build, parser, resolve};
    for d in example_dirs() {
        let src = fs::read(d.join("setkey.conf")).unwrap();
        let r = resolve::StaticResolver::default();
        let sup = parser::Supported::linux_default();
        let mut p = parser::Parser::new(
            &src,
            parser::ParseCtx {
                resolver: &r,
                supported: Some(&sup),
            },
        );
        let opts = build::BuildOpts {
            pid: 1,
            rfc_mode: true,
        };
        let mut n = 0;
        loop {
            match p.next_stmt() {
                Ok(Some(stmt)) => {
                    let msgs = build::build(&stmt.cmd, &opts)
                        .unwrap_or_else(|e| panic!("{}: {e:?}", d.display()));
                    n += msgs.len();
                }
                Ok(None) => break,
                Err(e) => panic!("{}: {e:?}", d.display()),
            }
        }
        assert!(n >= 2, "{}: {n} messages", d.display());
    }
}

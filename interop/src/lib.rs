//! Interoperability scenarios against strongSwan in network namespaces.
//!
//! The runner is `interop/run.sh` (see `interop/README.md`); this crate holds its Rust
//! integration tests and the few helpers they share.

use std::path::{Path, PathBuf};

/// The `interop/` directory.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The scenario directories, sorted by name.
pub fn scenario_dirs() -> std::io::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(interop_dir().join("scenarios"))? {
        let p = e?.path();
        if p.is_dir() {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// Replace the runner's `@NAME@` placeholders, as `run.sh` does with sed.
pub fn substitute(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("@{k}@"), v);
    }
    out
}

/// The placeholders of a scenario without NAT, with `dir` as the instance directory.
pub fn plain_vars(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DIR", dir.display().to_string()),
        ("A_LOCAL", "192.0.2.1".into()),
        ("A_PEER", "192.0.2.2".into()),
        ("B_LOCAL", "192.0.2.2".into()),
        ("B_PEER", "192.0.2.1".into()),
        ("IN_A", "198.51.100.1".into()),
        ("IN_B", "198.51.100.129".into()),
    ]
}

/// Why the namespace scenarios cannot run here (not root, a tool missing), or `None`.
pub fn missing_prerequisites() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some("not running as root (network namespaces need root)".into());
    }
    let tools = [
        "ip", "swanctl", "tshark", "dumpcap", "mergecap", "iperf3", "ping", "nft", "ss", "timeout",
        "bash",
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| !std::env::split_paths(&path).any(|d| is_executable(&d.join(t))))
        .map(|t| (*t).to_owned())
        .collect();
    let charon = std::env::var("CHARON").unwrap_or_else(|_| "/usr/sbin/charon-systemd".into());
    if !is_executable(Path::new(&charon)) {
        missing.push(charon);
    }
    if missing.is_empty() {
        None
    } else {
        Some(format!(
            "missing {} (install line in interop/README.md)",
            missing.join(", ")
        ))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitute_replaces_every_placeholder() {
        let vars = [("A_LOCAL", "192.0.2.1"), ("DIR", "/x")];
        assert_eq!(
            substitute("remote @A_LOCAL@ @A_LOCAL@ \"@DIR@/psk\" @B@", &vars),
            "remote 192.0.2.1 192.0.2.1 \"/x/psk\" @B@"
        );
    }

    #[test]
    fn scenario_dirs_are_found() {
        let d = scenario_dirs().expect("read scenarios");
        assert!(d.iter().any(|p| p.ends_with("baseline-strongswan")));
    }
}

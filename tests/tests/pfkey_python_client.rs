//! Drive `ipsecd` with a PF_KEY client written in Python from RFC 2367 and the
//! Linux headers alone (tests/scripts/pfkey_client.py), sharing no code with
//! our codec: REGISTER, ADD, duplicate ADD, GET with keys, GETSPI + UPDATE,
//! DUMP, DELETE, X_SPDADD/SPDDUMP with a tunnel bundle, soft and hard EXPIRE.

use std::process::Command;
use tests::{require_tool, Ipsecd};

#[test]
fn independent_python_client_drives_ipsecd() {
    if !require_tool("python3") {
        return;
    }
    let engine = Ipsecd::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pfkey_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&engine.socket)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "python PF_KEY client failed:\n{stdout}"
    );
    assert!(stdout.contains("all steps passed"));
}

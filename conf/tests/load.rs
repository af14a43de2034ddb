//! File loading: include globs, nesting limit, errors located in included files, psk.txt
//! permission checks.

use conf::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const REMOTE: &str = "remote anonymous { exchange_mode main; proposal { encryption_algorithm aes; hash_algorithm sha1; authentication_method pre_shared_key; dh_group 2; } }\n";

#[test]
fn include_glob_in_order() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("racoon.conf");
    fs::write(
        &top,
        format!("log debug2;\ninclude \"{fixtures}/include.d/*.conf\";\n"),
    )
    .unwrap();
    let p = load(&top).unwrap_or_else(|d| panic!("{}", d.render()));
    // include.d/a.conf sets log notify after the top file's debug2.
    assert_eq!(p.config.log, LogLevel::Notify);
    assert_eq!(p.config.remotes.len(), 1);
    assert_eq!(p.config.included.len(), 2);
    assert!(p.config.included[0].ends_with("include.d/a.conf"));
    assert!(p.config.included[1].ends_with("include.d/b.conf"));
}

#[test]
fn include_relative_to_path_include() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("peers")).unwrap();
    fs::write(dir.path().join("peers/one.conf"), REMOTE).unwrap();
    let top = dir.path().join("racoon.conf");
    fs::write(
        &top,
        format!(
            "path include \"{}\";\ninclude \"peers/*.conf\";\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let p = load(&top).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(p.config.remotes.len(), 1);
}

#[test]
fn errors_in_included_files_carry_their_location() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("racoon.conf");
    fs::write(
        &top,
        format!("log info;\ninclude \"{fixtures}/include.d/c-broken.conf.off\";\nlog bad;\n"),
    )
    .unwrap();
    let d = load(&top).unwrap_err();
    let r = d.render();
    let inc = format!("{fixtures}/include.d/c-broken.conf.off");
    assert!(
        r.contains(&format!(
            "{inc}:5:2: error: unknown directive \"bogus\" in sainfo block\n\tbogus 1;\n\t^~~~~\n"
        )),
        "{r}"
    );
    assert!(
        r.contains(&format!(
            "{}:3:5: error: expected a log level",
            top.display()
        )),
        "{r}"
    );
    assert_eq!(d.error_count(), 2);
}

#[test]
fn include_without_match_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("racoon.conf");
    fs::write(
        &top,
        format!("include \"{}/nothing-*.conf\";\n", dir.path().display()),
    )
    .unwrap();
    let d = load(&top).unwrap_err();
    assert!(d.render().contains("no file matches"), "{}", d.render());
}

#[test]
fn include_nesting_limit() {
    let dir = tempfile::tempdir().unwrap();
    let me = dir.path().join("self.conf");
    fs::write(&me, format!("include \"{}\";\n", me.display())).unwrap();
    let d = load(&me).unwrap_err();
    assert_eq!(d.error_count(), 1, "{}", d.render());
    assert!(d.render().contains(&format!(
        "include nesting deeper than {} levels",
        parser::MAX_INCLUDE_DEPTH
    )));
    // The chain below the limit is fine: 10 levels of nesting.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..=parser::MAX_INCLUDE_DEPTH {
        let next = dir.path().join(format!("{}.conf", i + 1));
        let body = if i < parser::MAX_INCLUDE_DEPTH {
            format!("include \"{}\";\n", next.display())
        } else {
            REMOTE.to_string()
        };
        fs::write(dir.path().join(format!("{i}.conf")), body).unwrap();
    }
    let p = load(&dir.path().join("0.conf")).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(p.config.remotes.len(), 1);
}

#[test]
fn missing_top_file() {
    let d = load(Path::new("/nonexistent/racoon.conf")).unwrap_err();
    assert_eq!(d.error_count(), 1);
    assert!(
        d.render().starts_with("error: /nonexistent/racoon.conf: "),
        "{}",
        d.render()
    );
}

fn psk_file(mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("psk.txt");
    fs::write(&p, "# keys\n192.0.2.1 secret one\n* 0x6869\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    (dir, p)
}

#[test]
fn psk_private_file_loads() {
    let (_d, p) = psk_file(0o600);
    let f = load_psk(&p).unwrap();
    assert_eq!(f.lookup("192.0.2.1").unwrap().expose(), b"secret one");
    assert_eq!(f.lookup("198.51.100.1").unwrap().expose(), b"hi");
    let (_d, p) = psk_file(0o400);
    assert!(load_psk(&p).is_ok());
}

#[test]
fn psk_group_or_world_accessible_is_refused() {
    for mode in [0o640, 0o604, 0o660, 0o644, 0o610, 0o601] {
        let (_d, p) = psk_file(mode);
        match load_psk(&p) {
            Err(PskError::WeakPermission { mode: m, .. }) => assert_eq!(m, mode),
            other => panic!("mode {mode:o}: {other:?}"),
        }
    }
}

#[test]
fn psk_owned_by_another_user_is_refused() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let (_d, p) = psk_file(0o600);
    if euid == 0 {
        // As root we can give the file away.
        std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
        match load_psk(&p) {
            Err(PskError::InvalidOwner {
                uid: 65534,
                euid: 0,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    } else {
        // Not root: a file owned by root is another user's (e.g. /etc/passwd is 0644 so use
        // a root-owned directory entry instead).
        match load_psk(Path::new("/etc/hostname")) {
            Err(PskError::InvalidOwner { .. }) | Err(PskError::Io { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn psk_not_regular_or_missing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_psk(dir.path()),
        Err(PskError::NotRegular { .. })
    ));
    assert!(matches!(
        load_psk(&dir.path().join("none")),
        Err(PskError::Io {
            source: psk::IoKind::NotFound,
            ..
        })
    ));
}

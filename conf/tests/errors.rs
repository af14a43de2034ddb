//! Golden tests of rendered diagnostics: every `tests/errors/NAME.conf` must fail to parse
//! and render exactly `tests/errors/NAME.expected`. Regenerate (then review the diff!) with
//! `UPDATE_GOLDEN=1 cargo test -p conf --test errors`.

use std::path::Path;

#[test]
fn golden_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 25,
        "expected the golden cases, found {}",
        cases.len()
    );
    let mut failures = vec![];
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let src = std::fs::read_to_string(case).unwrap();
        let diags = match conf::parse(&src, &name) {
            Ok(p) => {
                failures.push(format!(
                    "{name}: parsed without error; warnings:\n{}",
                    p.warnings.render()
                ));
                continue;
            }
            Err(d) => d,
        };
        assert!(diags.error_count() >= 1);
        let got = diags.render();
        let exp_path = case.with_extension("expected");
        if update {
            std::fs::write(&exp_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&exp_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{name}: rendered diagnostics differ\n--- expected\n{expected}--- got\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every error is `FILE:LINE:COL: error: ...` followed by the line and a caret line.
#[test]
fn rendered_shape() {
    let d = conf::parse("log info;\n  bogus 1;\n", "x.conf").unwrap_err();
    assert_eq!(
        d.render(),
        "x.conf:2:3: error: unknown statement \"bogus\" (expected one of path, include, privsep, listen, timer, padding, log, pfkey_buffer, gss_id_enc, complex_bundle, remote, sainfo, mode_cfg, ldapcfg, radiuscfg)\n  bogus 1;\n  ^~~~~\n"
    );
    assert_eq!(d.error_count(), 1);
}

#[test]
fn too_many_errors_stops() {
    let src = "bogus;\n".repeat(1000);
    let d = conf::parse(&src, "x").unwrap_err();
    assert_eq!(d.list.len(), conf::parser::MAX_ERRORS + 1);
    assert!(d.render().contains("too many errors"));
}

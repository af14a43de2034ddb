//! Entry points shared by the cargo-fuzz targets (`conf/fuzz`) and the corpus replay test.

/// Parse arbitrary bytes as racoon.conf; render whatever comes out; on success the dump
/// must parse again (the dump is valid racoon.conf).
pub fn racoon_conf(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match crate::parse(text, "fuzz.conf") {
        Ok(p) => {
            let _ = p.warnings.render();
            let dump = crate::dump::remotes_and_sainfos(&p.config);
            if let Err(d) = crate::parse(&dump, "dump.conf") {
                panic!("dump does not parse:\n{}\n{dump}", d.render());
            }
        }
        Err(d) => {
            assert!(d.has_errors());
            let _ = d.render();
        }
    }
}

/// Parse arbitrary bytes as psk.txt and look a few identities up.
pub fn psk(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(f) = crate::parse_psk(&text) {
        for e in &f.entries {
            assert!(f.lookup(&e.identity).is_some());
        }
        let _ = format!("{f:?}");
    }
}

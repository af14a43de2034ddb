//! Replays every committed fuzz corpus file through the fuzz entry points.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        f(&std::fs::read(&p).unwrap());
        n += 1;
    }
    n
}

#[test]
fn racoon_conf_corpus() {
    assert!(replay("racoon_conf", conf::fuzzing::racoon_conf) >= 30);
}

#[test]
fn psk_corpus() {
    assert!(replay("psk", conf::fuzzing::psk) >= 5);
}

/// Truncating a valid config at every byte never panics and always errors or succeeds cleanly.
#[test]
fn every_prefix_of_a_full_config() {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/everything.conf"),
    )
    .unwrap();
    for i in (0..src.len()).filter(|&i| src.is_char_boundary(i)) {
        conf::fuzzing::racoon_conf(&src.as_bytes()[..i]);
    }
}

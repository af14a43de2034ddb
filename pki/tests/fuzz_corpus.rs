//! Replays the committed cargo-fuzz seed corpora through the fuzz entry points.

use std::path::PathBuf;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
fn parse_corpus() {
    assert!(replay("parse", pki::fuzz_entry::parse_any) >= 5);
}

#[test]
fn isakmp_frag_corpus() {
    assert!(replay("isakmp_frag", isakmp::frag::fuzz_reassemble) >= 3);
}

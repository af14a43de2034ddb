//! Replays every file of the fuzz seed corpus through the fuzz entry point,
//! so CI exercises the corpus without cargo-fuzz.
mod common;

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode")
}

#[test]
fn replay_decode_corpus() {
    let mut n = 0;
    let mut valid = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus dir") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        pfkey::fuzzing::decode_roundtrip(&data);
        if pfkey::Message::decode_lenient(&data).is_ok() {
            valid += 1;
        }
        n += 1;
    }
    assert!(n >= 20, "seed corpus has only {n} files");
    assert!(valid >= 20, "only {valid} valid seeds");
}

/// Regenerate the seed corpus: `cargo test -p pfkey --test corpus -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    use pfkey::*;
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut msgs = common::typical_messages();
    let mut all = Message::new(MsgType::GET, SaType::ESP);
    all.exts = common::every_extension();
    msgs.push(all);
    for (i, e) in common::every_extension().into_iter().enumerate() {
        msgs.push(
            Message::new(MsgType::DUMP, SaType::ESP)
                .with_seq(i as u32)
                .with(e),
        );
    }
    msgs.push(
        Message::new(MsgType::DUMP, SaType::ESP).with(Extension::Unknown {
            ext_type: ExtType(77),
            body: vec![0xee; 12],
        }),
    );
    for (i, m) in msgs.iter().enumerate() {
        let name = format!(
            "{:02}-{}",
            i,
            m.header.msg_type.name().unwrap_or("x").to_lowercase()
        );
        std::fs::write(dir.join(name), m.encode().unwrap()).unwrap();
    }
}

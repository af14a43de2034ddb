//! Replays the cargo-fuzz seed corpus through the fuzz entry point, so CI exercises it
//! without cargo-fuzz.

#[test]
fn replay_message_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/message");
    let mut n = 0;
    let mut decoded = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        isakmp::fuzz::message(&data);
        let body = isakmp::strip_non_esp_marker(&data).unwrap_or(&data);
        decoded += usize::from(isakmp::Message::decode(body).is_ok());
        n += 1;
    }
    assert!(n >= 40, "corpus has {n} files");
    assert!(
        decoded * 2 > n,
        "most seeds are valid messages ({decoded}/{n})"
    );
}

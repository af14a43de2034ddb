//! Replays every committed fuzz seed through the fuzz entry point.

#[test]
fn replay_script_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/script");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("corpus dir") {
        let p = e.expect("entry").path();
        let data = std::fs::read(&p).expect("read seed");
        setkey_rs::fuzz_script(&data);
        // every prefix too: truncated statements must not panic either
        for k in 0..data.len() {
            setkey_rs::fuzz_script(&data[..k]);
        }
        n += 1;
    }
    assert!(n >= 5, "corpus has {n} files");
}

//! Decode arbitrary bytes strictly and leniently; anything that decodes must
//! re-encode and decode to an equal message (see `pfkey::fuzzing`).
//!
//! Run: `cargo fuzz run decode` from `pfkey/` (seeds in `fuzz/corpus/decode`).
//! Without cargo-fuzz, on nightly, from `pfkey/fuzz`:
//! `RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
//! -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
//! -Cllvm-args=-sanitizer-coverage-pc-table --cfg fuzzing -Cdebug-assertions"
//! cargo +nightly build --release --bin decode --target x86_64-unknown-linux-gnu`
//! then run the binary with a copy of the corpus directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pfkey::fuzzing::decode_roundtrip(data);
});

//! Entry points shared by the cargo-fuzz targets and the corpus-replay test.

use crate::message::{DecodeOptions, Message};

/// Decode `data` strictly and leniently; whatever decodes must re-encode and
/// decode again to an equal message, and `check()` must not panic.
/// Panics (which the fuzzer reports) only when that invariant breaks.
pub fn decode_roundtrip(data: &[u8]) {
    for opts in [DecodeOptions::STRICT, DecodeOptions::LENIENT] {
        if let Ok(m) = Message::decode_with(data, opts) {
            let _ = m.check();
            let enc = m.encode().expect("a decoded message must re-encode");
            assert!(enc.len() <= data.len(), "re-encoding grew the message");
            let again = Message::decode_with(&enc, opts).expect("re-encoded message must decode");
            assert_eq!(again, m, "decode(encode(m)) != m");
        }
    }
}

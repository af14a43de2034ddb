//! Random input never panics the parser or the psk reader.

use proptest::prelude::*;

const WORDS: &[&str] = &[
    "remote",
    "sainfo",
    "anonymous",
    "{",
    "}",
    ";",
    ",",
    "proposal",
    "exchange_mode",
    "main",
    "aggressive",
    "encryption_algorithm",
    "aes",
    "256",
    "hash_algorithm",
    "sha1",
    "authentication_method",
    "pre_shared_key",
    "dh_group",
    "2",
    "address",
    "10.0.0.1",
    "/24",
    "[500]",
    "[any]",
    "any",
    "\"x\"",
    "inherit",
    "lifetime",
    "time",
    "hour",
    "listen",
    "isakmp",
    "include",
    "path",
    "#c\n",
    "10.0.0.1-10.0.0.2",
    "fe80::1%e",
    "0x10",
    "mode_cfg",
    "from",
    "fqdn",
    "compression_algorithm",
    "deflate",
    "authentication_algorithm",
    "hmac_sha1",
];

proptest! {
    #[test]
    fn token_soup_never_panics(toks in proptest::collection::vec(0..WORDS.len(), 0..80)) {
        let src: Vec<&str> = toks.iter().map(|&i| WORDS[i]).collect();
        conf::fuzzing::racoon_conf(src.join(" ").as_bytes());
    }

    #[test]
    fn bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        conf::fuzzing::racoon_conf(&data);
        conf::fuzzing::psk(&data);
    }
}

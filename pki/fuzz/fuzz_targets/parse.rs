//! Certificates, CRLs, keys, DNs and plain_rsa files from arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pki::fuzz_entry::parse_any(data));

//! The decrypted-payload-chain path: byte 0 is the header's next-payload, the rest the
//! decrypted body (with padding), as the core sees it after decryption.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ike::fuzz::decrypted_chain(data));

//! Whole datagrams into a responder endpoint (header, cookies, retransmission check,
//! decryption, rules, state handlers).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ike::fuzz::datagram(data));

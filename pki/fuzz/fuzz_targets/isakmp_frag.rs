//! IKE fragment reassembly from a stream of length-prefixed datagrams.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| isakmp::frag::fuzz_reassemble(data));

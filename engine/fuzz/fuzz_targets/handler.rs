//! Arbitrary bytes into the PF_KEY handler: never a panic, never a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    engine::handler::fuzz_entry(data);
});

//! Arbitrary packets into the data plane (inbound raw, inbound ESP-in-UDP,
//! outbound from TUN): never a panic, never a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    engine::datapath::fuzz_entry(data);
});

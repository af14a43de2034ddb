//! Admin-socket messages (requests the daemon reads, replies racoonctl reads).
//! Run: `cd racoon-rs && cargo fuzz run admin fuzz/corpus/admin`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    racoon_rs::admin::fuzz_admin(data);
});

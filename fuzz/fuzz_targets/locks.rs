//! Fuzzes the /proc/locks parser: no panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pidaudit::system::locks::parse_locks(data);
});

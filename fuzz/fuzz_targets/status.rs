//! Fuzzes the /proc/PID/status parser: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidaudit::system::status::parse_status;

fuzz_target!(|data: &[u8]| {
    let _ = parse_status(data);
});

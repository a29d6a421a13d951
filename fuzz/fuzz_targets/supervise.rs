//! Fuzzes the supervisors' status parsers (daemontools, runit, s6 `supervise/status`; runit's
//! `supervise/stat`): no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidaudit::supervise::{parse_runit_stat, parse_status};

fuzz_target!(|data: &[u8]| {
    let _ = parse_status(data);
    let _ = parse_runit_stat(data);
});

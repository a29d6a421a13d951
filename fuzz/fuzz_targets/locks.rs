//! Fuzzes the /proc/locks and fdinfo `lock:` parsers: no panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pidaudit::system::locks::parse_proc_locks(data);
    let _ = pidaudit::system::locks::parse_fdinfo_locks(data);
});

//! Fuzzes the /proc/PID/stat parser: no panic, and comm is what lies between the first '(' and the
//! last ')'.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidaudit::system::stat::parse_stat;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = parse_stat(data) {
        let open = data.iter().position(|&b| b == b'(').unwrap();
        let close = data.iter().rposition(|&b| b == b')').unwrap();
        assert_eq!(s.comm, String::from_utf8_lossy(&data[open + 1..close]));
    }
});

//! Fuzzes the strict pidfile parser: no panic, and a PID only from 1 to pid_max.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidaudit::pidfile::{parse, Format, READ_CAP};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format and a pid_max; the rest is the content.
    let (format, pid_max, content) = match data.split_first() {
        Some((b, rest)) => (
            if b & 1 == 0 {
                Format::Plain
            } else {
                Format::Postmaster
            },
            [32_768, 4_194_304, 1, u32::MAX][usize::from(b >> 1) % 4],
            rest,
        ),
        None => (Format::Plain, 4_194_304, data),
    };
    for size in [content.len() as u64, content.len() as u64 + 1, u64::MAX] {
        if let Some(pid) = parse(content, size, format, pid_max).pid() {
            assert!(pid >= 1 && pid <= pid_max);
            assert!(size <= READ_CAP as u64);
            assert!(!content.contains(&0) || format == Format::Postmaster);
        }
    }
});

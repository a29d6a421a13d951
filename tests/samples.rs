//! Pidfiles written by real daemons (`fixtures/samples/`, see its README) parse as valid PIDs in the
//! format each daemon writes.

mod common;
use common::*;
use pidaudit::pidfile::{parse, Format, Parsed};
use std::path::{Path, PathBuf};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/samples")
}

/// The samples, with the PID each holds and whether it ends with a newline.
const SAMPLES: &[(&str, u32, bool)] = &[
    ("nginx.pid", 26514, true),
    ("sshd.pid", 28980, true),
    ("redis-server.pid", 26591, true),
    ("memcached.pid", 26677, true),
    ("memcached-start-stop-daemon.pid", 26677, false),
    ("postgresql-15-main.pid", 26828, true),
    ("postmaster.pid", 26828, true),
    ("supervisord.pid", 28539, true),
];

/// Every sample parses (strictly, as pidaudit reads it) to the PID it holds, in its daemon's layout.
#[test]
fn every_sample_is_a_valid_pid() {
    let mut listed: Vec<String> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pid"))
        .collect();
    listed.sort();
    let mut known: Vec<String> = SAMPLES.iter().map(|s| s.0.to_string()).collect();
    known.sort();
    assert_eq!(
        listed, known,
        "every sample is listed here and in the README"
    );
    for (name, pid, newline) in SAMPLES {
        let bytes = std::fs::read(samples().join(name)).unwrap();
        let format = Format::for_name(std::ffi::OsStr::new(name));
        assert_eq!(
            parse(&bytes, bytes.len() as u64, format, 4_194_304),
            Parsed::Pid(*pid),
            "{name}"
        );
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap();
        assert_eq!(first_line, pid.to_string().as_bytes(), "{name}");
        if format == Format::Plain {
            assert_eq!(bytes.ends_with(b"\n"), *newline, "{name}");
            assert_eq!(bytes.len(), pid.to_string().len() + usize::from(*newline));
        }
    }
}

/// PostgreSQL's postmaster.pid has its eight documented lines, and only its first is the PID.
#[test]
fn postmaster_pid_lines() {
    let text = std::fs::read_to_string(samples().join("postmaster.pid")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text:?}");
    assert!(lines[1].starts_with('/'), "data directory: {}", lines[1]);
    assert!(lines[2].parse::<u64>().is_ok(), "start time: {}", lines[2]);
    assert!(lines[3].parse::<u16>().is_ok(), "port: {}", lines[3]);
    assert!(lines[4].starts_with('/'), "socket directory: {}", lines[4]);
    assert_eq!(lines[7].trim_end(), "ready");
    // The same content under another name is read as FHS readers do: the PID of the first line,
    // with the further lines as a deviation from the one-line form.
    let bytes = text.as_bytes();
    let pid: u32 = lines[0].parse().unwrap();
    assert!(matches!(
        parse(bytes, bytes.len() as u64, Format::Plain, 4_194_304),
        Parsed::Lenient { pid: p, deviation } if p == pid && deviation.extra_lines == 7
    ));
}

/// The binary reads every sample as a PID: no content or file-type finding for any of them.
#[test]
fn binary_reads_every_sample() {
    let dir = samples();
    let r = run(&[
        "--format",
        "json",
        "--select",
        "empty,malformed,invalid-pid,not-a-file,symlink,unreadable",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let doc = r.json();
    assert_eq!(doc["pidfiles"].as_array().unwrap().len(), SAMPLES.len());
    for (name, pid, _) in SAMPLES {
        let e = pidfile(&doc, &dir.join(name));
        assert_eq!(e["pid"], *pid, "{e:#}");
        assert!(codes(e).is_empty(), "{e:#}");
    }
}

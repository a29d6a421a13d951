//! Property tests of the byte parsers: they never panic on arbitrary input, and what a well-behaved
//! writer produces parses back to what it wrote.

use pidaudit::pidfile::{parse, Format, Parsed, READ_CAP};
use pidaudit::system::locks::{parse_fdinfo_locks, parse_proc_locks, LockKind, LockMode};
use pidaudit::system::stat::parse_stat;
use pidaudit::system::status::parse_status;
use proptest::prelude::*;

const PID_MAX: u32 = 4_194_304;

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Plain), Just(Format::Postmaster)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The pidfile parser never panics, whatever the bytes, the claimed size and the format, and
    /// only ever returns a PID from 1 to pid_max.
    #[test]
    fn pidfile_parse_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        extra in 0u64..10_000,
        pid_max in 1u32..=PID_MAX,
        format in format(),
    ) {
        for size in [bytes.len() as u64, bytes.len() as u64 + extra] {
            if let Some(pid) = parse(&bytes, size, format, pid_max).pid() {
                prop_assert!(pid >= 1 && pid <= pid_max);
                prop_assert!(size <= READ_CAP as u64);
            }
        }
    }

    /// Digit-heavy input (the shapes that reach the number conversion) never panics either.
    #[test]
    fn pidfile_parse_digits_never_panics(s in "[-+0-9\n \t\0]{0,40}") {
        let _ = parse(s.as_bytes(), s.len() as u64, Format::Plain, PID_MAX);
    }

    /// Any valid PID, written with or without a trailing newline (and with leading zeros), parses back.
    #[test]
    fn valid_pid_round_trips(pid in 1u32..=PID_MAX, newline in any::<bool>(), zeros in 0usize..3) {
        let text = format!("{}{pid}{}", "0".repeat(zeros), if newline { "\n" } else { "" });
        prop_assert_eq!(
            parse(text.as_bytes(), text.len() as u64, Format::Plain, PID_MAX),
            Parsed::Pid(pid)
        );
        let pg = format!("{pid}\n/var/lib/postgresql/data\n1700000000\n5432\n");
        prop_assert_eq!(
            parse(pg.as_bytes(), pg.len() as u64, Format::Postmaster, PID_MAX),
            Parsed::Pid(pid)
        );
    }

    /// A PID followed by anything but one newline is never in the writer's form, and a lenient
    /// reading never yields another PID than the one written first.
    #[test]
    fn trailing_garbage_is_never_another_pid(
        pid in 1u32..=PID_MAX,
        tail in "[^\n0-9][^\n]{0,7}|\n.{1,8}",
    ) {
        let text = format!("{pid}{tail}");
        let parsed = parse(text.as_bytes(), text.len() as u64, Format::Plain, PID_MAX);
        prop_assert_ne!(&parsed, &Parsed::Pid(pid));
        prop_assert!(parsed.pid().is_none_or(|p| p == pid), "{text:?} -> {parsed:?}");
    }

    /// The /proc/PID/stat parser never panics on arbitrary bytes.
    #[test]
    fn stat_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_stat(&bytes);
    }

    /// Stat-shaped input with parentheses in odd places never panics.
    #[test]
    fn stat_shaped_never_panics(s in "[0-9]{0,6} ?\\(?[() a-zA-Z0-9]{0,20}\\)?[ 0-9a-zA-Z()-]{0,80}") {
        let _ = parse_stat(s.as_bytes());
    }

    /// A stat line built from any comm, parentheses and spaces included, parses back its fields.
    #[test]
    fn stat_round_trips(
        pid in 1i32..=i32::MAX,
        comm in "[ ()a-zA-Z0-9:/.-]{0,64}",
        state in prop::sample::select(vec!['R', 'S', 'D', 'Z', 'T', 't', 'X', 'I']),
        ppid in 0i32..=i32::MAX,
        flags in any::<u32>(),
        starttime in any::<u64>(),
    ) {
        // Fields 3..=52 of a real line; flags is field 9, starttime field 22.
        let mut fields: Vec<String> = (3..=52).map(|i| i.to_string()).collect();
        fields[0] = state.to_string();
        fields[1] = ppid.to_string();
        fields[6] = flags.to_string();
        fields[19] = starttime.to_string();
        let line = format!("{pid} ({comm}) {}\n", fields.join(" "));
        let s = parse_stat(line.as_bytes()).unwrap();
        prop_assert_eq!(s.pid, pid);
        prop_assert_eq!(&s.comm, &comm);
        prop_assert_eq!(s.state, state);
        prop_assert_eq!(s.ppid, ppid);
        prop_assert_eq!(s.flags, flags);
        prop_assert_eq!(s.starttime, starttime);
    }

    /// The /proc/PID/status parser never panics, and finds NSpid wherever the line is.
    #[test]
    fn status_parse_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        nspid in proptest::collection::vec(1i32..=i32::MAX, 1..4),
    ) {
        let _ = parse_status(&bytes);
        let line = format!(
            "Name:\tx\nNSpid:\t{}\n",
            nspid.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\t")
        );
        prop_assert_eq!(parse_status(line.as_bytes()).nspid, nspid);
    }

    /// The /proc/locks and fdinfo parsers never panic on arbitrary bytes, and every line they cannot
    /// read is reported as an error rather than dropped.
    #[test]
    fn locks_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let parsed = parse_proc_locks(&bytes);
        let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        let waiters: usize = parsed.locks.iter().map(|l| l.waiters.len()).sum();
        prop_assert!(parsed.locks.len() + waiters + parsed.errors.len() <= lines);
        let _ = parse_fdinfo_locks(&bytes);
    }

    /// A lock line as the kernel prints it parses back to its fields, whatever the device numbers.
    #[test]
    fn lock_line_round_trips(
        id in 1u64..100_000,
        kind in prop_oneof![Just(("POSIX", LockKind::Posix)), Just(("FLOCK", LockKind::Flock)), Just(("OFDLCK", LockKind::Ofd))],
        mode in prop_oneof![Just(("READ", LockMode::Read)), Just(("WRITE", LockMode::Write))],
        pid in 1i32..4_194_304,
        major in 0u32..4096,
        minor in 0u32..1_048_576,
        ino in any::<u64>(),
        start in 0i64..i64::MAX,
        end in proptest::option::of(0i64..i64::MAX),
    ) {
        let pid = if kind.1 == LockKind::Ofd { -1 } else { pid };
        let end_s = end.map(|e| e.to_string()).unwrap_or_else(|| "EOF".into());
        let line = format!(
            "{id}: {:<6} ADVISORY  {:<5} {pid} {major:02x}:{minor:02x}:{ino} {start} {end_s}\n",
            kind.0, mode.0
        );
        let parsed = parse_proc_locks(line.as_bytes());
        prop_assert!(parsed.errors.is_empty(), "{:?} {line}", parsed.errors);
        prop_assert_eq!(parsed.locks.len(), 1);
        let l = &parsed.locks[0].line;
        prop_assert_eq!(l.id, id);
        prop_assert_eq!(l.kind, kind.1);
        prop_assert_eq!(l.mode, mode.1);
        prop_assert_eq!(l.pid, pid);
        let f = l.file.as_ref().unwrap();
        prop_assert_eq!((f.major, f.minor, f.ino), (major, minor, ino));
        prop_assert_eq!(l.start, start);
        prop_assert_eq!(l.end, end);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The supervisors' status parsers never panic, whatever the bytes (each size they accept is
    /// tried), and only ever return a PID a process can have.
    #[test]
    fn supervise_status_never_panics(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 18..=18),
            proptest::collection::vec(any::<u8>(), 20..=20),
            proptest::collection::vec(any::<u8>(), 35..=35),
        ],
    ) {
        if let Ok(s) = pidaudit::supervise::parse_status(&bytes) {
            prop_assert!(s.pid.is_none_or(|p| (1..=PID_MAX).contains(&p)));
            prop_assert!(s.since >= 0.0);
        }
        let _ = pidaudit::supervise::parse_runit_stat(&bytes);
    }

    /// What daemontools, runit and s6 write (their layouts, any time, PID and flags) parses back to
    /// what was written.
    #[test]
    fn supervise_status_round_trips(
        secs in 0u64..(1 << 34),
        nanos in 0u32..1_000_000_000,
        pid in 0u32..=PID_MAX,
        paused in any::<bool>(),
        want_up in any::<bool>(),
        phase in 0u8..3,
    ) {
        use pidaudit::supervise::{parse_status, Phase, Supervisor};
        let tai = |offset: u64| {
            let mut b = ((1u64 << 62) + offset + secs).to_be_bytes().to_vec();
            b.extend(nanos.to_be_bytes());
            b
        };
        let want = if want_up { b'u' } else { b'd' };
        // daemontools and runit: TAI64N, PID little-endian, paused, want (runit: term, phase).
        let mut dt = tai(10);
        dt.extend(pid.to_le_bytes());
        dt.extend([u8::from(paused), want]);
        let mut runit = dt.clone();
        runit.extend([0, phase]);
        // s6: TAI64N twice, PID as 8 bytes big-endian, wait status, flags.
        let mut s6 = tai(37);
        s6.extend(tai(37));
        s6.extend(u64::from(pid).to_be_bytes());
        s6.extend([0, 0, u8::from(paused) | (u8::from(want_up) << 2)]);
        for (bytes, sup) in [(dt, Supervisor::Daemontools), (runit, Supervisor::Runit), (s6, Supervisor::S6)] {
            let s = parse_status(&bytes).unwrap();
            prop_assert_eq!(s.supervisor, sup);
            prop_assert_eq!(s.pid, (pid != 0).then_some(pid));
            prop_assert_eq!(s.paused, paused);
            prop_assert_eq!(s.want_up, Some(want_up));
            prop_assert!((s.since - (secs as f64 + f64::from(nanos) / 1e9)).abs() < 1e-3);
            if sup == Supervisor::Runit {
                let want_phase = [Phase::Down, Phase::Run, Phase::Finish][phase as usize];
                prop_assert_eq!(s.phase, want_phase);
            }
        }
    }
}

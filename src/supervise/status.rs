//! The status files supervisors write in a service's `supervise/` directory, parsed from bytes (no
//! I/O, never a panic). The layouts are those of the supervisors' sources, checked against files
//! the Debian packages' tools write (`tests/supervisors.rs`):
//!
//! | supervisor | file | bytes | layout |
//! |---|---|---|---|
//! | daemontools `supervise` | `status` | 18 | TAI64N (12, big-endian) of the last change; PID (4, little-endian, 0 when down); paused (1); want (`u`, `d`, or 0 after `svc -o`) |
//! | runit `runsv` | `status` | 20 | as daemontools, then got TERM (1) and the phase (0 down, 1 run, 2 finish) |
//! | runit `runsv` | `stat` | text | `run`, `down` or `finish`, then `, paused`, `, got TERM`, `, want down`, `, want exit` |
//! | runit `runsv` | `pid` | text | the PID and a newline; empty while the service is down |
//! | s6 `s6-supervise` (2.11) | `status` | 35 | TAI64N of the last change (12); TAI64N when it became ready (12); PID (8, big-endian, 0 when down); wait status of the last death (2, big-endian); flags (1): paused 1, finishing 2, want up 4, ready 8 |
//!
//! TAI64 labels count from 2^62. daemontools and runit take the system clock as TAI - 10 s; skalibs
//! (s6) converts it from UTC with its leap-second table, TAI - 37 s since 2017. The file's size
//! says which supervisor wrote it.

use std::fmt;

/// The supervisors whose status files are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Supervisor {
    Daemontools,
    Runit,
    S6,
}

impl Supervisor {
    pub fn as_str(self) -> &'static str {
        match self {
            Supervisor::Daemontools => "daemontools",
            Supervisor::Runit => "runit",
            Supervisor::S6 => "s6",
        }
    }

    /// The supervising process's comm.
    pub fn comm(self) -> &'static str {
        match self {
            Supervisor::Daemontools => "supervise",
            Supervisor::Runit => "runsv",
            Supervisor::S6 => "s6-supervise",
        }
    }

    /// The control command that has the supervisor send SIGTERM to its service (the supervisor
    /// restarts it when it is wanted up): the one way to restart a supervised daemon without
    /// fighting its supervisor.
    pub fn term_command(self) -> &'static str {
        match self {
            Supervisor::Daemontools => "svc -t",
            Supervisor::Runit => "sv term",
            Supervisor::S6 => "s6-svc -t",
        }
    }

    /// The control command that takes the service down (and keeps it down).
    pub fn down_command(self) -> &'static str {
        match self {
            Supervisor::Daemontools => "svc -d",
            Supervisor::Runit => "sv down",
            Supervisor::S6 => "s6-svc -d",
        }
    }

    /// The status command of the supervision suite.
    pub fn status_command(self) -> &'static str {
        match self {
            Supervisor::Daemontools => "svstat",
            Supervisor::Runit => "sv status",
            Supervisor::S6 => "s6-svstat",
        }
    }

    /// The size of its binary `supervise/status`.
    pub fn status_size(self) -> usize {
        match self {
            Supervisor::Daemontools => DAEMONTOOLS_SIZE,
            Supervisor::Runit => RUNIT_SIZE,
            Supervisor::S6 => S6_SIZE,
        }
    }
}

pub const DAEMONTOOLS_SIZE: usize = 18;
pub const RUNIT_SIZE: usize = 20;
pub const S6_SIZE: usize = 35;

/// TAI64 labels start here (2^62 is 1970-01-01 00:00:00 TAI).
const TAI64_BASE: u64 = 1 << 62;
/// TAI - system clock, as daemontools and runit assume it.
const DJB_OFFSET: u64 = 10;
/// TAI - UTC as skalibs computes it since 2017-01-01 (10 s + 27 leap seconds).
const SKALIBS_OFFSET: u64 = 37;
/// PIDs above this cannot exist on Linux (`PID_MAX_LIMIT`).
const PID_LIMIT: u64 = 4_194_304;

/// What the supervisor is doing with the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// No process: stopped, or between a death and the restart.
    Down,
    /// The service's process runs.
    Run,
    /// The service died and its `finish` script runs (runit, s6).
    Finish,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Down => "down",
            Phase::Run => "run",
            Phase::Finish => "finish",
        }
    }
}

/// A decoded `supervise/status`.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub supervisor: Supervisor,
    /// When the service last changed state (started, died, was paused), in Unix seconds.
    pub since: f64,
    /// The service's PID while it runs.
    pub pid: Option<u32>,
    pub phase: Phase,
    /// Stopped with SIGSTOP by `svc -p` / `sv pause` / `s6-svc -p`.
    pub paused: bool,
    /// Wanted up (`Some(true)`), down (`Some(false)`), or run once and not restarted (`None`,
    /// daemontools' `svc -o`).
    pub want_up: Option<bool>,
    /// runit: a TERM was sent and the service has not died yet.
    pub got_term: bool,
    /// s6: the service notified readiness (and when).
    pub ready: Option<f64>,
    /// s6: the wait status of the last death (exit code or signal).
    pub wstat: Option<u16>,
}

/// Why bytes are not a supervisor's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusError {
    /// No supervisor writes a status of this size.
    Size(usize),
    /// The timestamp is not a TAI64 label of this era.
    Timestamp,
    /// The want byte is not `u`, `d` (or 0 for daemontools).
    Want(u8),
    /// runit's phase byte is not 0, 1 or 2.
    Phase(u8),
    /// A PID no process can have.
    Pid(u64),
}

impl StatusError {
    /// A stable snake_case name, for the evidence.
    pub fn reason(&self) -> &'static str {
        match self {
            StatusError::Size(_) => "status_size",
            StatusError::Timestamp => "status_timestamp",
            StatusError::Want(_) => "status_want",
            StatusError::Phase(_) => "status_phase",
            StatusError::Pid(_) => "status_pid",
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::Size(n) => write!(
                f,
                "{n} bytes: no supervisor writes such a status (daemontools {DAEMONTOOLS_SIZE}, runit {RUNIT_SIZE}, s6 {S6_SIZE})"
            ),
            StatusError::Timestamp => f.write_str("the timestamp is not a TAI64N label"),
            StatusError::Want(b) => write!(f, "the want byte is {b:#04x}, not 'u' or 'd'"),
            StatusError::Phase(b) => write!(f, "the phase byte is {b}, not 0, 1 or 2"),
            StatusError::Pid(p) => write!(f, "the PID {p} cannot exist"),
        }
    }
}

fn be_u64(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |n, &x| (n << 8) | u64::from(x))
}

fn le_u32(b: &[u8]) -> u32 {
    b.iter()
        .take(4)
        .rev()
        .fold(0u32, |n, &x| (n << 8) | u32::from(x))
}

/// A TAI64N label (12 bytes) as Unix seconds, given TAI - clock.
pub fn tai64n(b: &[u8], offset: u64) -> Option<f64> {
    if b.len() < 12 {
        return None;
    }
    let secs = be_u64(&b[..8]);
    let nanos = be_u64(&b[8..12]);
    // Before 1970 or beyond the year 2^35-ish: not a clock any supervisor read.
    let unix = secs.checked_sub(TAI64_BASE + offset)?;
    if unix >= 1 << 40 || nanos >= 1_000_000_000 {
        return None;
    }
    Some(unix as f64 + nanos as f64 / 1e9)
}

/// A TAI64N label that may be all zeroes (s6's ready stamp of a service never ready).
fn tai64n_or_zero(b: &[u8], offset: u64) -> Result<Option<f64>, StatusError> {
    if b.iter().all(|&x| x == 0) {
        return Ok(None);
    }
    tai64n(b, offset).map(Some).ok_or(StatusError::Timestamp)
}

fn pid_of(n: u64) -> Result<Option<u32>, StatusError> {
    match n {
        0 => Ok(None),
        n if n <= PID_LIMIT => Ok(Some(n as u32)),
        n => Err(StatusError::Pid(n)),
    }
}

/// Decodes a `supervise/status`; its size says which supervisor wrote it.
pub fn parse_status(b: &[u8]) -> Result<Status, StatusError> {
    match b.len() {
        DAEMONTOOLS_SIZE | RUNIT_SIZE => {
            let runit = b.len() == RUNIT_SIZE;
            let since = tai64n(&b[..12], DJB_OFFSET).ok_or(StatusError::Timestamp)?;
            let pid = pid_of(u64::from(le_u32(&b[12..16])))?;
            let want_up = match b[17] {
                b'u' => Some(true),
                b'd' => Some(false),
                0 if !runit => None,
                x => return Err(StatusError::Want(x)),
            };
            let (got_term, phase) = if runit {
                let phase = match b[19] {
                    0 => Phase::Down,
                    1 => Phase::Run,
                    2 => Phase::Finish,
                    x => return Err(StatusError::Phase(x)),
                };
                (b[18] != 0, phase)
            } else {
                (
                    false,
                    if pid.is_some() {
                        Phase::Run
                    } else {
                        Phase::Down
                    },
                )
            };
            Ok(Status {
                supervisor: if runit {
                    Supervisor::Runit
                } else {
                    Supervisor::Daemontools
                },
                since,
                pid,
                phase,
                paused: b[16] != 0,
                want_up,
                got_term,
                ready: None,
                wstat: None,
            })
        }
        S6_SIZE => {
            let since = tai64n(&b[..12], SKALIBS_OFFSET).ok_or(StatusError::Timestamp)?;
            let ready = tai64n_or_zero(&b[12..24], SKALIBS_OFFSET)?;
            let pid = pid_of(be_u64(&b[24..32]))?;
            let wstat = u16::from_be_bytes([b[32], b[33]]);
            let flags = b[34];
            let phase = match (pid, flags & 2 != 0) {
                (Some(_), _) => Phase::Run,
                (None, true) => Phase::Finish,
                (None, false) => Phase::Down,
            };
            Ok(Status {
                supervisor: Supervisor::S6,
                since,
                pid,
                phase,
                paused: flags & 1 != 0,
                want_up: Some(flags & 4 != 0),
                got_term: false,
                ready: ready.filter(|_| flags & 8 != 0),
                wstat: Some(wstat),
            })
        }
        n => Err(StatusError::Size(n)),
    }
}

/// One death s6 recorded in `supervise/death_tally` (s6 2.11): 14 bytes each, the TAI64N of the
/// death, the exit code and the signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Death {
    /// When, in Unix seconds.
    pub at: f64,
    pub exit: u8,
    pub signal: u8,
}

/// The size of one `death_tally` record.
pub const DEATH_SIZE: usize = 14;

/// Decodes s6's `death_tally`; `None` when it is not whole records with valid timestamps.
pub fn parse_death_tally(b: &[u8]) -> Option<Vec<Death>> {
    if b.len() % DEATH_SIZE != 0 {
        return None;
    }
    b.chunks_exact(DEATH_SIZE)
        .map(|r| {
            Some(Death {
                at: tai64n(&r[..12], SKALIBS_OFFSET)?,
                exit: r[12],
                signal: r[13],
            })
        })
        .collect()
}

/// runit's text `supervise/stat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunitStat {
    pub phase: Phase,
    pub paused: bool,
    pub got_term: bool,
    /// `want down` or `want exit` (runsv prints the want only when it differs from the phase).
    pub want_down: bool,
}

/// Parses runit's `supervise/stat` (`run`, `down, normally up`-less forms as runsv writes them:
/// the phase, then comma-separated flags, then a newline). `None` when it is anything else.
pub fn parse_runit_stat(b: &[u8]) -> Option<RunitStat> {
    let text = std::str::from_utf8(b).ok()?;
    let text = text.strip_suffix('\n')?;
    let mut parts = text.split(", ");
    let phase = match parts.next()? {
        "run" => Phase::Run,
        "down" => Phase::Down,
        "finish" => Phase::Finish,
        _ => return None,
    };
    let mut out = RunitStat {
        phase,
        paused: false,
        got_term: false,
        want_down: false,
    };
    for p in parts {
        match p {
            "paused" => out.paused = true,
            "got TERM" => out.got_term = true,
            "want down" | "want exit" => out.want_down = true,
            "want up" => {}
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files written by the Debian packages' tools (daemontools 0.76, runit 2.1.2, s6 2.11.3):
    /// up, then down after the control command.
    const DT_UP: [u8; 18] = [
        0x40, 0, 0, 0, 0x6b, 0x08, 0x69, 0x9a, 0x2a, 0x92, 0x6a, 0x24, 0x28, 0x0d, 0, 0, 0, b'u',
    ];
    const DT_DOWN: [u8; 18] = [
        0x40, 0, 0, 0, 0x6b, 0x08, 0x69, 0xa1, 0x04, 0x59, 0x84, 0x8c, 0, 0, 0, 0, 0, b'd',
    ];
    const RUNIT_UP: [u8; 20] = [
        0x40, 0, 0, 0, 0x6b, 0x08, 0x69, 0x9a, 0x2a, 0x93, 0x73, 0xc4, 0x29, 0x0d, 0, 0, 0, b'u',
        0, 1,
    ];
    const RUNIT_DOWN: [u8; 20] = [
        0x40, 0, 0, 0, 0x6b, 0x08, 0x69, 0xa1, 0x04, 0x80, 0xd6, 0xf4, 0, 0, 0, 0, 0, b'd', 0, 0,
    ];
    const S6_UP: [u8; 35] = [
        0x40, 0, 0, 0, 0x6b, 0x08, 0x69, 0xb5, 0x2a, 0xb7, 0x98, 0x34, 0x40, 0, 0, 0, 0x6b, 0x08,
        0x69, 0xb5, 0x2a, 0xb1, 0xde, 0x95, 0, 0, 0, 0, 0, 0, 0x0d, 0x2a, 0, 0, 0x04,
    ];
    const S6_DOWN: [u8; 35] = [
        0x40, 0, 0, 0, 0x6b, 0x08, 0x69, 0xbc, 0x04, 0x82, 0xb3, 0x8c, 0x40, 0, 0, 0, 0x6b, 0x08,
        0x69, 0xbc, 0x04, 0x8c, 0xf5, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0x08,
    ];
    /// `date +%s` two seconds after the three services were started.
    const STARTED: f64 = 1_795_713_424.0;

    #[test]
    fn daemontools() {
        let up = parse_status(&DT_UP).unwrap();
        assert_eq!(up.supervisor, Supervisor::Daemontools);
        assert_eq!(up.pid, Some(3368));
        assert_eq!(up.phase, Phase::Run);
        assert_eq!(up.want_up, Some(true));
        assert!(!up.paused);
        assert!((up.since - STARTED).abs() < 1.0, "{}", up.since);
        let down = parse_status(&DT_DOWN).unwrap();
        assert_eq!((down.pid, down.phase), (None, Phase::Down));
        assert_eq!(down.want_up, Some(false));
        let mut once = DT_UP;
        once[17] = 0;
        assert_eq!(parse_status(&once).unwrap().want_up, None);
    }

    #[test]
    fn runit() {
        let up = parse_status(&RUNIT_UP).unwrap();
        assert_eq!(up.supervisor, Supervisor::Runit);
        assert_eq!((up.pid, up.phase), (Some(3369), Phase::Run));
        assert!((up.since - STARTED).abs() < 1.0);
        let down = parse_status(&RUNIT_DOWN).unwrap();
        assert_eq!((down.pid, down.phase), (None, Phase::Down));
        assert_eq!(down.want_up, Some(false));
        let mut bad = RUNIT_UP;
        bad[19] = 3;
        assert_eq!(parse_status(&bad), Err(StatusError::Phase(3)));
        bad = RUNIT_UP;
        bad[17] = 0;
        assert_eq!(parse_status(&bad), Err(StatusError::Want(0)));
    }

    #[test]
    fn s6() {
        let up = parse_status(&S6_UP).unwrap();
        assert_eq!(up.supervisor, Supervisor::S6);
        assert_eq!((up.pid, up.phase), (Some(3370), Phase::Run));
        assert_eq!(up.want_up, Some(true));
        assert!((up.since - STARTED).abs() < 1.0, "{}", up.since);
        let down = parse_status(&S6_DOWN).unwrap();
        assert_eq!((down.pid, down.phase), (None, Phase::Down));
        assert_eq!(down.want_up, Some(false));
        assert_eq!(down.wstat, Some(15));
        assert!(down.ready.is_some());
        let mut big = S6_UP;
        big[26] = 1;
        assert!(matches!(parse_status(&big), Err(StatusError::Pid(_))));
    }

    #[test]
    fn rejects_other_sizes_and_clocks() {
        assert_eq!(parse_status(b""), Err(StatusError::Size(0)));
        assert_eq!(parse_status(&[0; 19]), Err(StatusError::Size(19)));
        assert_eq!(parse_status(&[0; 18]), Err(StatusError::Timestamp));
        let mut nanos = DT_UP;
        nanos[8] = 0xff;
        assert_eq!(parse_status(&nanos), Err(StatusError::Timestamp));
    }

    /// Three deaths with exit code 3, as s6-supervise 2.11.3 wrote them (`s6-svdt` printed
    /// `exitcode 3` for each).
    #[test]
    fn s6_death_tally() {
        let b = [
            0x40, 0, 0, 0, 0x6b, 0x08, 0x70, 0xbb, 0x1f, 0xdb, 0x53, 0xbf, 3, 0, 0x40, 0, 0, 0,
            0x6b, 0x08, 0x70, 0xbc, 0x2c, 0x0f, 0xe5, 0x04, 3, 0, 0x40, 0, 0, 0, 0x6b, 0x08, 0x70,
            0xbd, 0x38, 0x68, 0xbb, 0xae, 3, 0,
        ];
        let d = parse_death_tally(&b).unwrap();
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|x| x.exit == 3 && x.signal == 0));
        // `date +%s` printed 1795715226 moments after the third.
        assert!(
            (1_795_715_222.0..1_795_715_226.0).contains(&d[2].at),
            "{}",
            d[2].at
        );
        assert_eq!(parse_death_tally(&b[..13]), None);
        assert_eq!(parse_death_tally(b""), Some(Vec::new()));
    }

    #[test]
    fn runit_stat() {
        let s = parse_runit_stat(b"run\n").unwrap();
        assert_eq!(s.phase, Phase::Run);
        let s = parse_runit_stat(b"run, paused, got TERM, want down\n").unwrap();
        assert!(s.paused && s.got_term && s.want_down);
        assert_eq!(parse_runit_stat(b"down\n").unwrap().phase, Phase::Down);
        assert_eq!(
            parse_runit_stat(b"finish, want exit\n").unwrap().phase,
            Phase::Finish
        );
        assert_eq!(parse_runit_stat(b"run"), None);
        assert_eq!(parse_runit_stat(b"up\n"), None);
        assert_eq!(parse_runit_stat(b"run, sideways\n"), None);
        assert_eq!(parse_runit_stat(&[0xff, b'\n']), None);
    }
}

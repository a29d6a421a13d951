//! `/proc/PID/stat` parsing. Takes bytes, does no I/O, never panics.
//!
//! `comm` is the text between the first `(` and the **last** `)`: a process can name itself
//! `a) R 1 (b`, and only the last parenthesis ends the name.

use std::fmt;

/// The `/proc/PID/stat` fields the audit judges on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    /// `R`, `S`, `D`, `Z`, `T`, `t`, `X`, `I`, ...
    pub state: char,
    pub ppid: i32,
    /// Process group and session IDs. The kernel never hands out a PID that still names a group or a
    /// session, so members of a dead leader's session were forked (directly or not) by that leader.
    pub pgrp: i32,
    pub session: i32,
    /// Kernel `PF_*` flags.
    pub flags: u32,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
}

/// `PF_KTHREAD`: the task is a kernel thread.
pub const PF_KTHREAD: u32 = 0x0020_0000;

impl Stat {
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }

    /// The state letter is `Z`: a zombie, or a live process whose main thread exited. Whether the
    /// process is dead is [`crate::system::Snapshot::is_dead`].
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Why a stat line could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatError(pub &'static str);

impl fmt::Display for StatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unparseable /proc/PID/stat: {}", self.0)
    }
}

impl std::error::Error for StatError {}

/// Parses one `/proc/PID/stat` line.
pub fn parse_stat(bytes: &[u8]) -> Result<Stat, StatError> {
    let open = bytes
        .iter()
        .position(|&b| b == b'(')
        .ok_or(StatError("no '('"))?;
    let close = bytes
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(StatError("no ')'"))?;
    if close < open {
        return Err(StatError("')' before '('"));
    }
    let pid = std::str::from_utf8(&bytes[..open])
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .ok_or(StatError("bad pid"))?;
    let comm = String::from_utf8_lossy(&bytes[open + 1..close]).into_owned();
    let rest =
        std::str::from_utf8(&bytes[close + 1..]).map_err(|_| StatError("non-UTF-8 fields"))?;
    // Fields after comm, 0-based: state(0) ppid(1) pgrp(2) session(3) tty_nr(4) tpgid(5) flags(6) ...
    // starttime is field 22 of the line, index 19 here.
    let mut fields = rest.split_ascii_whitespace();
    let state_field = fields.next().ok_or(StatError("no state"))?;
    let mut state_chars = state_field.chars();
    let state = state_chars.next().ok_or(StatError("no state"))?;
    if state_chars.next().is_some() {
        return Err(StatError("bad state"));
    }
    let ppid = fields
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(StatError("bad ppid"))?;
    let pgrp = fields
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(StatError("bad pgrp"))?;
    let session = fields
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(StatError("bad session"))?;
    let flags = fields
        .nth(2)
        .and_then(|s| s.parse().ok())
        .ok_or(StatError("bad flags"))?;
    let starttime = fields
        .nth(12)
        .and_then(|s| s.parse().ok())
        .ok_or(StatError("bad starttime"))?;
    Ok(Stat {
        pid,
        comm,
        state,
        ppid,
        pgrp,
        session,
        flags,
        starttime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line from a sleeping shell parses into the fields the checks use.
    #[test]
    fn real_line() {
        let line = b"4242 (bash) S 4200 4242 4242 34816 4300 4194560 1190 2473 0 0 1 1 3 2 20 0 1 0 123456 8704000 1280 18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 4242,
                comm: "bash".into(),
                state: 'S',
                ppid: 4200,
                pgrp: 4242,
                session: 4242,
                flags: 4194560,
                starttime: 123456,
            }
        );
        assert!(!s.is_kernel_thread());
    }

    /// comm ends at the last ')', so a hostile process name cannot shift the fields.
    #[test]
    fn hostile_comm() {
        let line = b"7 (a) R 1 (b) Z 99 7 7 0 -1 2097216 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "a) R 1 (b");
        assert_eq!(s.state, 'Z');
        assert_eq!(s.ppid, 99);
        assert!(s.is_kernel_thread());
        assert_eq!(s.starttime, 555);
        assert_eq!((s.pgrp, s.session), (7, 7));
    }

    /// Truncated and garbled lines are errors, not panics.
    #[test]
    fn garbage() {
        for bad in [
            &b""[..],
            b"(",
            b")",
            b")(",
            b"1 (x)",
            b"1 (x) RR 1",
            b"x (y) R 1 1 1 1 1 1",
            b"1 (x) R 1 1 1 1 1 1",
        ] {
            assert!(
                parse_stat(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

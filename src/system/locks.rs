//! `/proc/locks` and `/proc/PID/fdinfo/FD` `lock:` line parsing. Takes bytes, does no I/O, never
//! panics.
//!
//! Both files print locks with the kernel's `lock_get_status()` (`fs/locks.c`):
//!
//! ```text
//! ID: [PREFIX]KIND FLAVOR MODE PID MAJ:MIN:INODE START END
//! 1: POSIX  ADVISORY  WRITE 16642 fe:00:10035311 0 EOF
//! 2: -> POSIX  ADVISORY  WRITE 16685 fe:00:10035311 0 EOF
//! 2:  -> POSIX  ADVISORY  WRITE 16686 fe:00:10035311 0 EOF
//! 5: OFDLCK ADVISORY  READ -1 fe:00:10035307 200 209
//! 4: LEASE  BREAKING  UNLCK 16761 fe:00:10035320 0 EOF
//! 4: -> LEASE  BREAKER   WRITE 16802 <none>:0 0 EOF
//! ```
//!
//! - KIND: `POSIX` (fcntl/lockf, owned by the process), `FLOCK` (owned by the open file
//!   description), `OFDLCK` (fcntl `F_OFD_SETLK`, owned by the open file description), `LEASE`,
//!   `DELEG` (NFS server delegation), `ACCESS` (a transient access check), `UNKNOWN`.
//! - FLAVOR: `ADVISORY`, `MANDATORY` (kernels before 5.15), `*NOINODE*` (a POSIX lock with no file),
//!   `MSNFS` (an old `LOCK_MAND` flock, kernels before 5.18); for leases `ACTIVE`, `BREAKING` (being
//!   broken) or `BREAKER` (the request breaking it); `UNKNOWN` with kind `UNKNOWN`.
//! - MODE: `READ`, `WRITE`, `UNLCK` (a lease being broken to nothing), and for `MSNFS` locks `RW`
//!   and `NONE`.
//! - PID: the acquirer's PID in the proc mount's PID namespace; `-1` for OFD locks (they belong to no
//!   process). A flock's PID is whoever called `flock()`, which may have exited since, leaving the lock
//!   to processes that inherited the descriptor.
//! - `MAJ:MIN:INODE`: the superblock's device, major and minor in hex (at least two digits; minors
//!   go above `ff`), and the inode number in decimal; `<none>:0` when the lock has no file (a lease
//!   breaker).
//! - START END: the byte range, `EOF` for "to the end of file"; always `0 EOF` for flocks and leases.
//!
//! In `/proc/locks`, requests blocked on a lock follow it with the same ID and a `->` prefix; a
//! request blocked on another blocked request is indented one more space (`PREFIX` is `-> `
//! right-aligned in a field of `depth + 2`). In fdinfo each line is prefixed by `lock:\t` and only
//! granted locks appear.

use serde::Serialize;
use std::fmt;

/// What kind of lock a line describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockKind {
    /// `POSIX`: fcntl `F_SETLK` or `lockf`; owned by the process (not inherited across fork).
    Posix,
    /// `FLOCK`: owned by the open file description (shared with every process that inherited it).
    Flock,
    /// `OFDLCK`: fcntl `F_OFD_SETLK`; owned by the open file description.
    Ofd,
    /// `LEASE`: fcntl `F_SETLEASE`; owned by the open file description.
    Lease,
    /// `DELEG`: an NFS server delegation.
    Deleg,
    /// `ACCESS`: a transient access check.
    Access,
    /// `UNKNOWN`.
    Unknown,
}

impl LockKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Posix => "posix",
            LockKind::Flock => "flock",
            LockKind::Ofd => "ofd",
            LockKind::Lease => "lease",
            LockKind::Deleg => "delegation",
            LockKind::Access => "access",
            LockKind::Unknown => "unknown",
        }
    }

    /// Whether the lock belongs to an open file description rather than a process: every process
    /// holding a descriptor of that description (inherited across fork, passed over a socket) holds
    /// the lock, and it outlives the process that took it.
    pub fn follows_descriptor(self) -> bool {
        matches!(self, LockKind::Flock | LockKind::Ofd | LockKind::Lease)
    }
}

/// The second column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockFlavor {
    Advisory,
    Mandatory,
    /// `*NOINODE*`.
    NoInode,
    /// `MSNFS`: a `LOCK_MAND` flock (kernels before 5.18).
    Msnfs,
    /// A lease in force.
    Active,
    /// A lease being broken.
    Breaking,
    /// The request breaking a lease.
    Breaker,
    Unknown,
}

/// The access a lock grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockMode {
    Read,
    Write,
    /// `UNLCK`: a lease being broken to nothing.
    Unlock,
    /// `RW` (old `MSNFS` locks).
    ReadWrite,
    /// `NONE` (old `MSNFS` locks).
    NoAccess,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Read => "read",
            LockMode::Write => "write",
            LockMode::Unlock => "unlock",
            LockMode::ReadWrite => "read-write",
            LockMode::NoAccess => "none",
        }
    }
}

/// The file a lock is on: the superblock's device as `/proc/locks` prints it, and the inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct LockFile {
    /// `MAJOR(s_dev)`, printed in hex.
    pub major: u32,
    /// `MINOR(s_dev)`, printed in hex; may exceed `ff`.
    pub minor: u32,
    pub ino: u64,
}

impl LockFile {
    /// The device number as `stat()` reports it in `st_dev` (glibc's `makedev`).
    pub fn dev(&self) -> u64 {
        makedev(self.major, self.minor)
    }
}

/// glibc's `gnu_dev_makedev`: the userspace encoding of a device number (`st_dev`).
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0x0000_0fff) << 8)
        | ((major & 0xffff_f000) << 32)
        | (minor & 0x0000_00ff)
        | ((minor & 0xffff_ff00) << 12)
}

/// One lock as printed on one line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct LockLine {
    /// The ordinal the kernel printed (the same for a lock and the requests blocked on it).
    pub id: u64,
    pub kind: LockKind,
    pub flavor: LockFlavor,
    pub mode: LockMode,
    /// The acquirer's PID; `-1` for OFD locks (and whatever the kernel printed otherwise).
    pub pid: i32,
    /// `None` for `<none>:0` (a lock with no file, such as a lease breaker).
    pub file: Option<LockFile>,
    pub start: i64,
    /// `None` for `EOF`.
    pub end: Option<i64>,
}

impl LockLine {
    /// Whether two lines describe the same lock, ignoring the ordinal (which differs between
    /// `/proc/locks` and fdinfo).
    pub fn same_lock(&self, other: &LockLine) -> bool {
        self.kind == other.kind
            && self.mode == other.mode
            && self.pid == other.pid
            && self.file == other.file
            && self.start == other.start
            && self.end == other.end
    }

    /// The acquirer's PID when the line names one (not for OFD locks).
    pub fn acquirer(&self) -> Option<i32> {
        (self.pid > 0).then_some(self.pid)
    }
}

/// A request blocked on a lock, directly or through another blocked request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiter {
    pub line: LockLine,
    /// 1 when blocked on the granted lock itself, 2 when blocked on a depth-1 waiter, ...
    pub depth: u32,
    /// The index (in the same `waiters` list) of the request this one is blocked on; `None` when it
    /// is blocked on the granted lock.
    pub blocked_on: Option<usize>,
}

/// A granted lock and the requests blocked on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lock {
    pub line: LockLine,
    pub waiters: Vec<Waiter>,
}

/// A line that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub reason: &'static str,
    /// The line, escaped and cut to 120 bytes.
    pub text: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} ({:?})", self.line, self.reason, self.text)
    }
}

/// Every lock of a `/proc/locks` text, and the lines that could not be parsed (skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcLocks {
    pub locks: Vec<Lock>,
    pub errors: Vec<LineError>,
}

/// One line split into its ordinal, its waiter depth (0 for a granted lock) and the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedLine {
    pub id: u64,
    pub depth: u32,
    pub lock: LockLine,
}

/// Parses `/proc/locks`. Blocked requests (`->` lines) are attached to the granted lock they follow;
/// unparseable lines are reported in `errors` and skipped.
pub fn parse_proc_locks(bytes: &[u8]) -> ProcLocks {
    let mut out = ProcLocks::default();
    // The latest waiter index at each depth (1-based depth -> index at depth-1) of the current lock.
    let mut chain: Vec<usize> = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let error = |reason| LineError {
            line: i + 1,
            reason,
            text: escape(raw),
        };
        let parsed = match parse_lock_line(raw) {
            Ok(p) => p,
            Err(reason) => {
                out.errors.push(error(reason));
                continue;
            }
        };
        if parsed.depth == 0 {
            chain.clear();
            out.locks.push(Lock {
                line: parsed.lock,
                waiters: Vec::new(),
            });
            continue;
        }
        let Some(holder) = out.locks.last_mut() else {
            out.errors.push(error("blocked request before any lock"));
            continue;
        };
        if holder.line.id != parsed.id {
            out.errors
                .push(error("blocked request with another lock's number"));
            continue;
        }
        let depth = parsed.depth as usize;
        if depth > chain.len() + 1 {
            out.errors
                .push(error("blocked request deeper than the one before it"));
            continue;
        }
        chain.truncate(depth - 1);
        let blocked_on = chain.last().copied();
        chain.push(holder.waiters.len());
        holder.waiters.push(Waiter {
            line: parsed.lock,
            depth: parsed.depth,
            blocked_on,
        });
    }
    out
}

/// Parses the `lock:` lines of a `/proc/PID/fdinfo/FD` file (the locks held through that descriptor).
/// Other lines are ignored; malformed `lock:` lines are reported in the error list.
pub fn parse_fdinfo_locks(bytes: &[u8]) -> (Vec<LockLine>, Vec<LineError>) {
    let mut locks = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let Some(rest) = raw.strip_prefix(b"lock:") else {
            continue;
        };
        match parse_lock_line(rest) {
            Ok(p) if p.depth == 0 => locks.push(p.lock),
            Ok(_) => errors.push(LineError {
                line: i + 1,
                reason: "blocked request in fdinfo",
                text: escape(raw),
            }),
            Err(reason) => errors.push(LineError {
                line: i + 1,
                reason,
                text: escape(raw),
            }),
        }
    }
    (locks, errors)
}

/// The `flags:` of a `/proc/PID/fdinfo/FD` file: the descriptor's open flags (octal in the file),
/// `None` when the line is missing or malformed.
pub fn parse_fdinfo_flags(bytes: &[u8]) -> Option<u32> {
    bytes.split(|&b| b == b'\n').find_map(|raw| {
        let rest = raw.strip_prefix(b"flags:")?;
        let text = std::str::from_utf8(rest).ok()?.trim_matches([' ', '\t']);
        if text.is_empty() || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        u32::from_str_radix(text, 8).ok()
    })
}

/// Parses one line of `lock_get_status()` output (without the fdinfo `lock:` prefix): the ordinal,
/// the waiter depth (the number of spaces before `->`), and the lock.
pub fn parse_lock_line(raw: &[u8]) -> Result<ParsedLine, &'static str> {
    let line = std::str::from_utf8(raw).map_err(|_| "not UTF-8")?;
    let line = line.trim_start_matches([' ', '\t']).trim_end();
    let (id, rest) = line.split_once(':').ok_or("no ordinal")?;
    let id: u64 = parse_dec(id).ok_or("bad ordinal")?;
    let spaces = rest.len() - rest.trim_start_matches(' ').len();
    let rest = &rest[spaces..];
    let (depth, rest) = match rest.strip_prefix("->") {
        Some(r) => {
            let depth = u32::try_from(spaces).map_err(|_| "bad waiter prefix")?;
            if depth == 0 {
                return Err("bad waiter prefix");
            }
            (depth, r)
        }
        None => (0, rest),
    };
    let mut f = rest.split_ascii_whitespace();
    let kind = match f.next().ok_or("no kind")? {
        "POSIX" => LockKind::Posix,
        "FLOCK" => LockKind::Flock,
        "OFDLCK" => LockKind::Ofd,
        "LEASE" => LockKind::Lease,
        "DELEG" => LockKind::Deleg,
        "ACCESS" => LockKind::Access,
        "UNKNOWN" => LockKind::Unknown,
        _ => return Err("unknown kind"),
    };
    let flavor = match f.next().ok_or("no flavor")? {
        "ADVISORY" => LockFlavor::Advisory,
        "MANDATORY" => LockFlavor::Mandatory,
        "*NOINODE*" => LockFlavor::NoInode,
        "MSNFS" => LockFlavor::Msnfs,
        "ACTIVE" => LockFlavor::Active,
        "BREAKING" => LockFlavor::Breaking,
        "BREAKER" => LockFlavor::Breaker,
        "UNKNOWN" => LockFlavor::Unknown,
        _ => return Err("unknown flavor"),
    };
    let mode = match f.next().ok_or("no mode")? {
        "READ" => LockMode::Read,
        "WRITE" => LockMode::Write,
        "UNLCK" => LockMode::Unlock,
        "RW" => LockMode::ReadWrite,
        "NONE" => LockMode::NoAccess,
        _ => return Err("unknown mode"),
    };
    let pid = f.next().ok_or("no pid")?;
    let pid: i32 = if pid == "-1" {
        -1
    } else {
        parse_dec(pid)
            .and_then(|p: u64| i32::try_from(p).ok())
            .ok_or("bad pid")?
    };
    let file = parse_file(f.next().ok_or("no device and inode")?)?;
    let start = f.next().ok_or("no range start")?;
    let start: i64 = parse_signed(start).ok_or("bad range start")?;
    let end = match f.next().ok_or("no range end")? {
        "EOF" => None,
        e => Some(parse_signed(e).ok_or("bad range end")?),
    };
    if f.next().is_some() {
        return Err("trailing fields");
    }
    Ok(ParsedLine {
        id,
        depth,
        lock: LockLine {
            id,
            kind,
            flavor,
            mode,
            pid,
            file,
            start,
            end,
        },
    })
}

/// `MAJ:MIN:INODE` (hex, hex, decimal) or `<none>:0`.
fn parse_file(s: &str) -> Result<Option<LockFile>, &'static str> {
    if s == "<none>:0" {
        return Ok(None);
    }
    let mut parts = s.split(':');
    let (Some(major), Some(minor), Some(ino), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("bad device and inode");
    };
    let hex = |h: &str| {
        if h.is_empty() || h.len() > 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            None
        } else {
            u32::from_str_radix(h, 16).ok()
        }
    };
    Ok(Some(LockFile {
        major: hex(major).ok_or("bad major")?,
        minor: hex(minor).ok_or("bad minor")?,
        ino: parse_dec(ino).ok_or("bad inode")?,
    }))
}

/// Unsigned decimal digits only (no sign, no spaces).
fn parse_dec<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decimal with an optional leading `-`.
fn parse_signed(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(d) => parse_dec::<i64>(d).map(|v| -v),
        None => parse_dec(s),
    }
}

fn escape(raw: &[u8]) -> String {
    let shown = &raw[..raw.len().min(120)];
    shown.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(major: u32, minor: u32, ino: u64) -> Option<LockFile> {
        Some(LockFile { major, minor, ino })
    }

    #[allow(clippy::too_many_arguments)] // mirrors the eight fields of a line
    fn line(
        id: u64,
        kind: LockKind,
        flavor: LockFlavor,
        mode: LockMode,
        pid: i32,
        f: Option<LockFile>,
        start: i64,
        end: Option<i64>,
    ) -> LockLine {
        LockLine {
            id,
            kind,
            flavor,
            mode,
            pid,
            file: f,
            start,
            end,
        }
    }

    /// `/proc/locks` captured on Linux 6.18 (ext4 root, `fe:00`) with a Python process holding a
    /// flock, a shared flock, POSIX locks on two ranges, OFD locks on three ranges, a read lease, and
    /// children blocked on a flock, a POSIX lock and an OFD lock (the second blocked child of each
    /// waits on the first, one level deeper).
    const REAL_6_18: &str = "\
1: OFDLCK ADVISORY  WRITE -1 fe:00:10035310 0 EOF
1: -> OFDLCK ADVISORY  WRITE -1 fe:00:10035310 0 EOF
2: POSIX  ADVISORY  WRITE 16642 fe:00:10035311 0 EOF
2: -> POSIX  ADVISORY  WRITE 16685 fe:00:10035311 0 EOF
2:  -> POSIX  ADVISORY  WRITE 16686 fe:00:10035311 0 EOF
3: FLOCK  ADVISORY  WRITE 16642 fe:00:10035309 0 EOF
3: -> FLOCK  ADVISORY  WRITE 16683 fe:00:10035309 0 EOF
3:  -> FLOCK  ADVISORY  WRITE 16684 fe:00:10035309 0 EOF
4: LEASE  ACTIVE    READ 16642 fe:00:10035312 0 EOF
5: OFDLCK ADVISORY  WRITE -1 fe:00:10035307 0 199
6: OFDLCK ADVISORY  READ -1 fe:00:10035307 200 209
7: OFDLCK ADVISORY  WRITE -1 fe:00:10035307 210 EOF
8: POSIX  ADVISORY  READ 16642 fe:00:10035306 100 EOF
9: POSIX  ADVISORY  WRITE 16642 fe:00:10035306 5 14
10: FLOCK  ADVISORY  READ 16642 fe:00:10035305 0 EOF
11: FLOCK  ADVISORY  WRITE 16642 fe:00:10035304 0 EOF
";

    /// Every line of a real `/proc/locks` parses, with blocked requests attached to their lock.
    #[test]
    fn real_proc_locks() {
        use LockFlavor::*;
        use LockKind::*;
        use LockMode::*;
        let p = parse_proc_locks(REAL_6_18.as_bytes());
        assert_eq!(p.errors, vec![]);
        assert_eq!(p.locks.len(), 11);
        let root = file(0xfe, 0, 10035310);
        assert_eq!(
            p.locks[0],
            Lock {
                line: line(1, Ofd, Advisory, Write, -1, root, 0, None),
                waiters: vec![Waiter {
                    line: line(1, Ofd, Advisory, Write, -1, root, 0, None),
                    depth: 1,
                    blocked_on: None,
                }],
            }
        );
        let posix = &p.locks[1];
        assert_eq!(posix.line.pid, 16642);
        assert_eq!(posix.line.kind, Posix);
        assert_eq!(posix.waiters.len(), 2);
        assert_eq!(posix.waiters[0].line.pid, 16685);
        assert_eq!(posix.waiters[0].depth, 1);
        assert_eq!(posix.waiters[0].blocked_on, None);
        assert_eq!(posix.waiters[1].line.pid, 16686);
        assert_eq!(posix.waiters[1].depth, 2);
        assert_eq!(posix.waiters[1].blocked_on, Some(0));
        assert_eq!(p.locks[2].line.kind, Flock);
        assert_eq!(p.locks[2].waiters[1].line.pid, 16684);
        assert_eq!(
            p.locks[3].line,
            line(
                4,
                Lease,
                Active,
                Read,
                16642,
                file(0xfe, 0, 10035312),
                0,
                None
            )
        );
        assert_eq!(
            p.locks[4].line,
            line(
                5,
                Ofd,
                Advisory,
                Write,
                -1,
                file(0xfe, 0, 10035307),
                0,
                Some(199)
            )
        );
        assert_eq!(p.locks[5].line.mode, Read);
        assert_eq!(
            (p.locks[5].line.start, p.locks[5].line.end),
            (200, Some(209))
        );
        assert_eq!((p.locks[6].line.start, p.locks[6].line.end), (210, None));
        assert_eq!(
            p.locks[8].line,
            line(
                9,
                Posix,
                Advisory,
                Write,
                16642,
                file(0xfe, 0, 10035306),
                5,
                Some(14)
            )
        );
        assert_eq!(
            p.locks[10].line,
            line(
                11,
                Flock,
                Advisory,
                Write,
                16642,
                file(0xfe, 0, 10035304),
                0,
                None
            )
        );
        assert!(p.locks.iter().skip(3).all(|l| l.waiters.is_empty()));
    }

    /// A read lease being broken by a writer's open, captured on Linux 6.18: the holder's lease is
    /// `BREAKING` towards `UNLCK`, and the breaker, which has no file, prints `<none>:0`.
    #[test]
    fn real_lease_break() {
        let p = parse_proc_locks(
            b"1: LEASE  BREAKING  UNLCK 16761 fe:00:10035320 0 EOF\n\
              1: -> LEASE  BREAKER   WRITE 16802 <none>:0 0 EOF\n",
        );
        assert_eq!(p.errors, vec![]);
        assert_eq!(
            p.locks,
            vec![Lock {
                line: line(
                    1,
                    LockKind::Lease,
                    LockFlavor::Breaking,
                    LockMode::Unlock,
                    16761,
                    file(0xfe, 0, 10035320),
                    0,
                    None
                ),
                waiters: vec![Waiter {
                    line: line(
                        1,
                        LockKind::Lease,
                        LockFlavor::Breaker,
                        LockMode::Write,
                        16802,
                        None,
                        0,
                        None
                    ),
                    depth: 1,
                    blocked_on: None,
                }],
            }]
        );
    }

    /// tmpfs (`/dev/shm`, device 0:27) prints a two-digit hex minor: `00:1b` is st_dev 27.
    #[test]
    fn real_tmpfs_device() {
        let p = parse_proc_locks(b"11: FLOCK  ADVISORY  WRITE 16691 00:1b:4044 0 EOF\n");
        let f = p.locks[0].line.file.unwrap();
        assert_eq!((f.major, f.minor, f.ino), (0, 0x1b, 4044));
        assert_eq!(f.dev(), 27);
        // The ext4 root of the same machine: fe:00 is st_dev 65024.
        assert_eq!(makedev(0xfe, 0), 65024);
    }

    /// Device numbers convert like glibc's makedev, including minors above 255 and majors above 4095.
    #[test]
    fn large_device_numbers() {
        for (maj, min) in [
            (0, 0),
            (8, 1),
            (0, 0x10a),
            (0, 0xfffff),
            (259, 3),
            (0xfff, 0xff),
            (0x1000, 0x100),
            (0xfffff_u32 >> 8, 0xfffff),
        ] {
            assert_eq!(
                makedev(maj, min),
                rustix::fs::makedev(maj, min) as u64,
                "{maj:x}:{min:x}"
            );
        }
        let p = parse_proc_locks(b"3: POSIX  ADVISORY  WRITE 42 00:10a:99 0 EOF\n");
        assert_eq!(
            p.locks[0].line.file.unwrap().dev(),
            rustix::fs::makedev(0, 0x10a) as u64
        );
        assert_eq!(p.locks[0].line.file.unwrap().dev(), (0x1 << 20) | 0x0a);
    }

    /// Forms only older kernels print, or that cannot be produced on demand, in the kernel's exact
    /// spacing: mandatory POSIX locks (before 5.15), `MSNFS` flocks with `RW`/`NONE` (before 5.18),
    /// `*NOINODE*`, NFS delegations, access checks, unknown locks and negative-looking offsets.
    #[test]
    fn other_kernel_forms() {
        use LockFlavor::*;
        use LockKind::*;
        use LockMode::*;
        let text = "\
1: POSIX  MANDATORY WRITE 812 08:01:1311 0 EOF
2: FLOCK  MSNFS     RW    900 08:01:77 0 EOF
3: FLOCK  MSNFS     NONE  901 08:01:78 0 EOF
4: POSIX *NOINODE* READ 902 <none>:0 0 9
5: DELEG  ACTIVE    READ 903 00:2f:123456 0 EOF
6: ACCESS ADVISORY  READ 904 08:01:5 0 EOF
7: UNKNOWN UNKNOWN  UNLCK 905 08:01:6 0 EOF
8: LEASE  BREAKER   READ 906 08:01:7 0 EOF
9: POSIX  ADVISORY  WRITE 907 103:02:18446744073709551615 9223372036854775806 EOF
";
        let p = parse_proc_locks(text.as_bytes());
        assert_eq!(p.errors, vec![]);
        let got: Vec<_> = p
            .locks
            .iter()
            .map(|l| (l.line.kind, l.line.flavor, l.line.mode, l.line.pid))
            .collect();
        assert_eq!(
            got,
            vec![
                (Posix, Mandatory, Write, 812),
                (Flock, Msnfs, ReadWrite, 900),
                (Flock, Msnfs, NoAccess, 901),
                (Posix, NoInode, Read, 902),
                (Deleg, Active, Read, 903),
                (Access, Advisory, Read, 904),
                (LockKind::Unknown, LockFlavor::Unknown, Unlock, 905),
                (Lease, Breaker, Read, 906),
                (Posix, Advisory, Write, 907),
            ]
        );
        assert_eq!(p.locks[3].line.file, None);
        assert_eq!(p.locks[3].line.end, Some(9));
        let nvme = p.locks[8].line.file.unwrap();
        assert_eq!((nvme.major, nvme.minor, nvme.ino), (0x103, 2, u64::MAX));
        assert_eq!(p.locks[8].line.start, i64::MAX - 1);
    }

    /// Older kernels printed the waiter prefix as `"%lld:%s "` with `" ->"`: the same text as a
    /// depth-1 waiter today.
    #[test]
    fn old_waiter_prefix() {
        let p = parse_proc_locks(
            b"1: POSIX  ADVISORY  WRITE 10 08:01:2 0 EOF\n1: -> POSIX  ADVISORY  WRITE 11 08:01:2 0 EOF\n",
        );
        assert_eq!(p.errors, vec![]);
        assert_eq!(p.locks[0].waiters[0].depth, 1);
    }

    /// A deep chain of blocked requests attaches each to the nearest shallower one before it.
    #[test]
    fn waiter_tree() {
        let text = "\
7: FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF
7: -> FLOCK  ADVISORY  WRITE 2 08:01:2 0 EOF
7:  -> FLOCK  ADVISORY  WRITE 3 08:01:2 0 EOF
7:   -> FLOCK  ADVISORY  WRITE 4 08:01:2 0 EOF
7:  -> FLOCK  ADVISORY  WRITE 5 08:01:2 0 EOF
7: -> FLOCK  ADVISORY  READ 6 08:01:2 0 EOF
8: FLOCK  ADVISORY  WRITE 9 08:01:3 0 EOF
";
        let p = parse_proc_locks(text.as_bytes());
        assert_eq!(p.errors, vec![]);
        let w: Vec<_> = p.locks[0]
            .waiters
            .iter()
            .map(|w| (w.line.pid, w.depth, w.blocked_on))
            .collect();
        assert_eq!(
            w,
            vec![
                (2, 1, None),
                (3, 2, Some(0)),
                (4, 3, Some(1)),
                (5, 2, Some(0)),
                (6, 1, None),
            ]
        );
        assert!(p.locks[1].waiters.is_empty());
    }

    /// The `lock:` lines of real fdinfo files: a flock, POSIX locks on two ranges, OFD locks, a
    /// lease; other lines are ignored.
    #[test]
    fn real_fdinfo() {
        let (locks, errors) = parse_fdinfo_locks(
            b"pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t10035306\n\
              lock:\t1: POSIX  ADVISORY  WRITE 16642 fe:00:10035306 5 14\n\
              lock:\t2: POSIX  ADVISORY  READ 16642 fe:00:10035306 100 EOF\n",
        );
        assert_eq!(errors, vec![]);
        assert_eq!(locks.len(), 2);
        assert_eq!((locks[0].start, locks[0].end), (5, Some(14)));
        assert_eq!(locks[1].mode, LockMode::Read);
        let (locks, _) = parse_fdinfo_locks(
            b"pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t10035307\n\
              lock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:10035307 0 199\n",
        );
        assert_eq!(locks[0].pid, -1);
        assert_eq!(locks[0].kind, LockKind::Ofd);
        let (locks, _) = parse_fdinfo_locks(
            b"pos:\t0\nflags:\t02120000\nmnt_id:\t27\nino:\t10035312\n\
              lock:\t1: LEASE  ACTIVE    READ 16642 fe:00:10035312 0 EOF\n",
        );
        assert_eq!(locks[0].kind, LockKind::Lease);
        // A descriptor with no lock.
        let (locks, errors) =
            parse_fdinfo_locks(b"pos:\t0\nflags:\t0100000\nmnt_id:\t24\nino:\t3\n");
        assert!(locks.is_empty() && errors.is_empty());
    }

    /// The same lock in /proc/locks and in fdinfo compares equal despite different ordinals.
    #[test]
    fn same_lock_ignores_ordinal() {
        let a = parse_lock_line(b"11: FLOCK  ADVISORY  WRITE 16642 fe:00:10035304 0 EOF").unwrap();
        let b = parse_lock_line(b"\t1: FLOCK  ADVISORY  WRITE 16642 fe:00:10035304 0 EOF").unwrap();
        assert!(a.lock.same_lock(&b.lock));
        let c = parse_lock_line(b"1: FLOCK  ADVISORY  READ 16642 fe:00:10035304 0 EOF").unwrap();
        assert!(!a.lock.same_lock(&c.lock));
    }

    /// Malformed lines are reported with a reason and skipped; the good lines around them survive.
    #[test]
    fn malformed_lines() {
        let cases: &[(&[u8], &str)] = &[
            (b"FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF", "bad ordinal"),
            (b"FLOCK", "no ordinal"),
            (b"x: FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF", "bad ordinal"),
            (b"1: BOGUS ADVISORY WRITE 1 08:01:2 0 EOF", "unknown kind"),
            (b"1: FLOCK  BOGUS  WRITE 1 08:01:2 0 EOF", "unknown flavor"),
            (b"1: FLOCK  ADVISORY  BOTH 1 08:01:2 0 EOF", "unknown mode"),
            (b"1: FLOCK  ADVISORY  WRITE x 08:01:2 0 EOF", "bad pid"),
            (b"1: FLOCK  ADVISORY  WRITE -2 08:01:2 0 EOF", "bad pid"),
            (
                b"1: FLOCK  ADVISORY  WRITE 4294967295 08:01:2 0 EOF",
                "bad pid",
            ),
            (
                b"1: FLOCK  ADVISORY  WRITE 1 08:01 0 EOF",
                "bad device and inode",
            ),
            (b"1: FLOCK  ADVISORY  WRITE 1 zz:01:2 0 EOF", "bad major"),
            (b"1: FLOCK  ADVISORY  WRITE 1 08:-1:2 0 EOF", "bad minor"),
            (b"1: FLOCK  ADVISORY  WRITE 1 08:01:2x 0 EOF", "bad inode"),
            (
                b"1: FLOCK  ADVISORY  WRITE 1 08:01:2 a EOF",
                "bad range start",
            ),
            (
                b"1: FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOFX",
                "bad range end",
            ),
            (b"1: FLOCK  ADVISORY  WRITE 1 08:01:2 0", "no range end"),
            (
                b"1: FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF 7",
                "trailing fields",
            ),
            (b"1:", "no kind"),
            (
                b"1:-> FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF",
                "bad waiter prefix",
            ),
            (b"1: \xff", "not UTF-8"),
        ];
        for (bad, reason) in cases {
            assert_eq!(
                parse_lock_line(bad).map(|_| ()),
                Err(*reason),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let p = parse_proc_locks(
            b"1: FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF\ngarbage\n2: POSIX  ADVISORY  READ 3 08:01:4 0 EOF\n",
        );
        assert_eq!(p.locks.len(), 2);
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, 2);
        assert_eq!(p.errors[0].reason, "no ordinal");
    }

    /// A blocked request needs a granted lock with its number before it, and cannot skip a level.
    #[test]
    fn orphan_waiters() {
        let p = parse_proc_locks(b"1: -> FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF\n");
        assert!(p.locks.is_empty());
        assert_eq!(p.errors[0].reason, "blocked request before any lock");
        let p = parse_proc_locks(
            b"1: FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF\n2: -> FLOCK  ADVISORY  WRITE 5 08:01:2 0 EOF\n1:  -> FLOCK  ADVISORY  WRITE 6 08:01:2 0 EOF\n",
        );
        assert_eq!(p.locks.len(), 1);
        assert!(p.locks[0].waiters.is_empty());
        assert_eq!(
            p.errors[0].reason,
            "blocked request with another lock's number"
        );
        assert_eq!(
            p.errors[1].reason,
            "blocked request deeper than the one before it"
        );
    }

    /// Every prefix of real input, and every single-byte corruption of it, parses without panicking.
    #[test]
    fn never_panics_on_truncation_or_corruption() {
        let text = REAL_6_18.as_bytes();
        for n in 0..=text.len() {
            let _ = parse_proc_locks(&text[..n]);
            let _ = parse_fdinfo_locks(&text[..n]);
        }
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..text.len() {
            let mut t = text.to_vec();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            t[i] = (seed & 0xff) as u8;
            let _ = parse_proc_locks(&t);
            let mut f = b"lock:\t".to_vec();
            f.extend_from_slice(&t);
            let _ = parse_fdinfo_locks(&f);
        }
        // Long runs of spaces before `->` (a very deep waiter) are not a problem either.
        let mut deep = b"1: FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF\n1:".to_vec();
        deep.extend(std::iter::repeat_n(b' ', 100_000));
        deep.extend_from_slice(b"-> FLOCK  ADVISORY  WRITE 1 08:01:2 0 EOF\n");
        let p = parse_proc_locks(&deep);
        assert_eq!(p.errors.len(), 1);
    }

    /// The fdinfo `flags:` line is read as octal; a missing or malformed one is `None`.
    #[test]
    fn fdinfo_flags() {
        let info = b"pos:\t0\nflags:\t0100002\nmnt_id:\t25\nino:\t12\nlock:\t1: FLOCK  ADVISORY  WRITE 7 00:19:12 0 EOF\n";
        assert_eq!(parse_fdinfo_flags(info), Some(0o100002));
        assert_eq!(parse_fdinfo_flags(b"flags:\t0100000\n"), Some(0o100000));
        assert_eq!(parse_fdinfo_flags(b"pos:\t0\n"), None);
        assert_eq!(parse_fdinfo_flags(b"flags:\t01x9\n"), None);
        assert_eq!(parse_fdinfo_flags(b"flags:\t\n"), None);
    }
}

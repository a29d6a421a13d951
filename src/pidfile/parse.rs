//! Pidfile parsing, as the FHS says readers should: lenient on the form, strict on the PID. Takes
//! bytes, does no I/O.
//!
//! The writer's form is decimal digits and one newline, naming a PID from 1 to `pid_max`. A reader
//! (FHS 3.0, `/run`) ignores whitespace around the number, leading zeroes, a missing trailing
//! newline and additional lines (sendmail writes its command line on the second; some scripts
//! write one PID per line): such content is [`Parsed::Lenient`], the PID with the deviations from
//! the writer's form. Lenient never means guessing: the first line must hold one decimal number
//! and nothing else (`12abc`, `1 2`, a `+`, a NUL anywhere are not a PID). Known multi-line
//! formats (PostgreSQL's `postmaster.pid`) are read by their first line.
//!
//! # Several PIDs
//! A file is read as naming several PIDs when every line after the first holds one PID too (one
//! PID per line, as haproxy and some LSB scripts write): [`Deviation::more_pids`]. Several PIDs
//! on *one* line are read only for a [`Format::Several`] file, whose writer is known to write
//! them so (haproxy's `haproxy*.pid`), and only when every word of every line is a PID: in any
//! other file `1 2` is malformed, since it may be one number split by a space, and a reader must
//! not guess which PID the writer meant.

use std::ffi::OsStr;
use std::fmt;

/// The layout of a pidfile, known from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line: the PID.
    Plain,
    /// PostgreSQL's `postmaster.pid`: the PID on the first line, then the data directory, start time,
    /// port, socket directory, listen address, shared memory key and status.
    Postmaster,
    /// A file whose writer may put several PIDs on a line, separated by spaces (haproxy's
    /// `haproxy*.pid`).
    Several,
}

impl Format {
    /// The format a file of this name is written in.
    pub fn for_name(name: &OsStr) -> Format {
        let bytes = name.as_encoded_bytes();
        if name == "postmaster.pid" {
            Format::Postmaster
        } else if bytes.starts_with(b"haproxy") && bytes.ends_with(b".pid") {
            Format::Several
        } else {
            Format::Plain
        }
    }
}

/// What a pidfile's content says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A PID from 1 to pid_max, in the writer's form.
    Pid(u32),
    /// A PID from 1 to pid_max, in a form FHS readers accept but writers should not produce.
    Lenient { pid: u32, deviation: Deviation },
    /// No content (or only a newline).
    Empty,
    /// Not a single decimal PID.
    Malformed(Malformed),
    /// A number, but not a PID that can exist.
    Invalid(Invalid),
}

/// How content that names a PID departs from the writer's form (decimal digits and one newline).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deviation {
    /// Spaces or tabs around the number on its line.
    pub whitespace: bool,
    /// The line ends with `\r\n` (written on or for Windows, or by some Java daemons).
    pub crlf: bool,
    /// Lines after the PID's (a command line, more PIDs, blank lines).
    pub extra_lines: usize,
    /// The further lines that are PIDs themselves, as a writer of several PIDs puts them.
    pub more_pids: Vec<u32>,
}

impl Deviation {
    fn any(&self) -> bool {
        self.whitespace || self.crlf || self.extra_lines > 0
    }

    /// Stable snake_case names of the deviations, for the evidence.
    pub fn reasons(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.whitespace {
            out.push("whitespace");
        }
        if self.crlf {
            out.push("crlf");
        }
        if !self.more_pids.is_empty() {
            out.push("several_pids");
        } else if self.extra_lines > 0 {
            out.push("extra_lines");
        }
        out
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.whitespace {
            parts.push("whitespace around the number".to_string());
        }
        if self.crlf {
            parts.push("a CRLF line end".to_string());
        }
        if !self.more_pids.is_empty() {
            parts.push(format!(
                "{} more PID{}",
                self.more_pids.len(),
                if self.more_pids.len() == 1 { "" } else { "s" }
            ));
        } else if self.extra_lines > 0 {
            parts.push(format!(
                "{} more line{} after the PID",
                self.extra_lines,
                if self.extra_lines == 1 { "" } else { "s" }
            ));
        }
        f.write_str(&parts.join(", "))
    }
}

impl Parsed {
    /// The PID named, in the writer's form or not.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Parsed::Pid(pid) | Parsed::Lenient { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

/// Why content is not a single decimal PID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// More bytes than any pidfile has.
    Oversize { size: u64 },
    /// A NUL byte.
    Nul,
    /// Leading, trailing or inner whitespace (other than the one final newline), vertical tab
    /// included.
    Whitespace,
    /// A leading `+`.
    Sign,
    /// Something other than ASCII decimal digits (hex, letters, non-ASCII digits).
    NotDecimal,
    /// A multi-line format (`postmaster.pid`) whose first line, the PID's, is empty while more lines
    /// follow.
    FirstLineEmpty,
}

/// Why a number is not a valid PID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    Zero,
    Negative,
    /// Larger than any integer a PID can be.
    Overflow,
    /// Larger than `/proc/sys/kernel/pid_max`.
    AbovePidMax {
        value: u64,
        pid_max: u32,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Oversize { size } => {
                write!(f, "is {size} bytes long; a pidfile holds a few")
            }
            Malformed::Nul => f.write_str("contains a NUL byte"),
            Malformed::Whitespace => f.write_str("contains whitespace around or inside the number"),
            Malformed::Sign => f.write_str("has a '+' sign"),
            Malformed::NotDecimal => f.write_str("is not a decimal number"),
            Malformed::FirstLineEmpty => {
                f.write_str("has an empty first line where the PID belongs, and more lines")
            }
        }
    }
}

impl Malformed {
    /// A stable snake_case name for the evidence.
    pub fn reason(&self) -> &'static str {
        match self {
            Malformed::Oversize { .. } => "oversize",
            Malformed::Nul => "nul",
            Malformed::Whitespace => "whitespace",
            Malformed::Sign => "sign",
            Malformed::NotDecimal => "not_decimal",
            Malformed::FirstLineEmpty => "first_line_empty",
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Zero => f.write_str("0 is not a process ID"),
            Invalid::Negative => f.write_str("negative numbers are not process IDs"),
            Invalid::Overflow => f.write_str("the number is larger than any process ID"),
            Invalid::AbovePidMax { value, pid_max } => {
                write!(f, "{value} is above the kernel's pid_max ({pid_max})")
            }
        }
    }
}

impl Invalid {
    /// A stable snake_case name for the evidence.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::Zero => "zero",
            Invalid::Negative => "negative",
            Invalid::Overflow => "overflow",
            Invalid::AbovePidMax { .. } => "above_pid_max",
        }
    }
}

/// Parses pidfile content. `size` is the file's size, which may exceed `bytes.len()` when the read was
/// capped; `pid_max` bounds the PID.
pub fn parse(bytes: &[u8], size: u64, format: Format, pid_max: u32) -> Parsed {
    if size > bytes.len() as u64 || size > super::READ_CAP as u64 {
        return Parsed::Malformed(Malformed::Oversize { size });
    }
    let line = match format {
        Format::Plain => return plain(bytes, pid_max),
        Format::Several => return several(bytes, pid_max).unwrap_or_else(|| plain(bytes, pid_max)),
        Format::Postmaster => match bytes.iter().position(|&b| b == b'\n') {
            // No PID, but not an empty file either: the other lines were written.
            Some(0) if bytes.len() > 1 => {
                return Parsed::Malformed(Malformed::FirstLineEmpty);
            }
            Some(end) => &bytes[..end],
            None => bytes,
        },
    };
    check(classify(line), pid_max)
}

/// A one-PID file read as FHS readers do (see the module docs).
fn plain(bytes: &[u8], pid_max: u32) -> Parsed {
    if bytes.contains(&0) {
        return Parsed::Malformed(Malformed::Nul);
    }
    let (first, rest) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &bytes[..0]),
    };
    let mut deviation = Deviation::default();
    let first = match first.strip_suffix(b"\r") {
        Some(f) => {
            deviation.crlf = true;
            f
        }
        None => first,
    };
    let number = trim_space(first);
    deviation.whitespace = number.len() != first.len();
    let mut further: Vec<&[u8]> = Vec::new();
    if !rest.is_empty() {
        further.extend(rest.split(|&b| b == b'\n'));
        // The final newline leaves an empty piece after it.
        if rest.ends_with(b"\n") {
            further.pop();
        }
    }
    if number.is_empty() {
        // No PID on the first line: nothing at all, or something that put it elsewhere.
        return if further.iter().all(|l| trim_space(l).is_empty()) {
            Parsed::Empty
        } else {
            Parsed::Malformed(Malformed::FirstLineEmpty)
        };
    }
    if number.iter().any(|&b| is_space(b)) {
        return Parsed::Malformed(Malformed::Whitespace);
    }
    let pid = match check(classify(number), pid_max) {
        Parsed::Pid(pid) => pid,
        other => return other,
    };
    deviation.extra_lines = further.len();
    for l in &further {
        let l = trim_space(l);
        if let Parsed::Pid(p) = check(classify(l), pid_max) {
            deviation.more_pids.push(p);
        }
    }
    if deviation.more_pids.len() != further.len() {
        deviation.more_pids.clear();
    }
    if deviation.any() {
        Parsed::Lenient { pid, deviation }
    } else {
        Parsed::Pid(pid)
    }
}

/// A [`Format::Several`] file naming PIDs separated by spaces and newlines: `None` unless every
/// word is a valid PID and some line holds more than one (then the plain reading decides).
fn several(bytes: &[u8], pid_max: u32) -> Option<Parsed> {
    if bytes.contains(&0) {
        return None;
    }
    let mut pids = Vec::new();
    let mut same_line = false;
    for line in bytes.split(|&b| b == b'\n') {
        let words: Vec<&[u8]> = line
            .split(|&b| is_space(b))
            .filter(|w| !w.is_empty())
            .collect();
        same_line |= words.len() > 1;
        for w in words {
            match check(classify(w), pid_max) {
                Parsed::Pid(p) => pids.push(p),
                _ => return None,
            }
        }
    }
    if !same_line {
        return None;
    }
    let (&pid, more) = pids.split_first()?;
    Some(Parsed::Lenient {
        pid,
        deviation: Deviation {
            whitespace: true,
            more_pids: more.to_vec(),
            ..Deviation::default()
        },
    })
}

/// Trims C's `isspace` characters (`trim_ascii` leaves the vertical tab).
fn trim_space(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_space(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_space(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Zero and values above `pid_max` are not PIDs.
fn check(parsed: Parsed, pid_max: u32) -> Parsed {
    match parsed {
        Parsed::Pid(0) => Parsed::Invalid(Invalid::Zero),
        Parsed::Pid(pid) if pid > pid_max => Parsed::Invalid(Invalid::AbovePidMax {
            value: u64::from(pid),
            pid_max,
        }),
        other => other,
    }
}

/// Classifies one line (without its newline). Returns `Pid` for digits that fit a `u32`, unchecked
/// against zero and pid_max, except where the value needs more than 32 bits.
fn classify(line: &[u8]) -> Parsed {
    if line.is_empty() {
        return Parsed::Empty;
    }
    if line.contains(&0) {
        return Parsed::Malformed(Malformed::Nul);
    }
    if line.iter().any(|&b| is_space(b)) {
        return Parsed::Malformed(Malformed::Whitespace);
    }
    let (negative, digits) = match line {
        [b'-', rest @ ..] => (true, rest),
        [b'+', ..] => return Parsed::Malformed(Malformed::Sign),
        _ => (false, line),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Parsed::Malformed(Malformed::NotDecimal);
    }
    if negative {
        return Parsed::Invalid(Invalid::Negative);
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        {
            Some(v) => v,
            None => return Parsed::Invalid(Invalid::Overflow),
        };
    }
    match u32::try_from(value) {
        Ok(v) if v <= i32::MAX as u32 => Parsed::Pid(v),
        _ => Parsed::Invalid(Invalid::Overflow),
    }
}

/// ASCII whitespace as C's `isspace` has it: `u8::is_ascii_whitespace` plus the vertical tab.
fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bytes: &[u8]) -> Parsed {
        parse(bytes, bytes.len() as u64, Format::Plain, 4_194_304)
    }

    fn lenient(pid: u32, deviation: Deviation) -> Parsed {
        Parsed::Lenient { pid, deviation }
    }

    fn ws() -> Deviation {
        Deviation {
            whitespace: true,
            ..Deviation::default()
        }
    }

    /// Every content case from the safety notes, with its exact outcome.
    #[test]
    fn content_matrix() {
        assert_eq!(p(b"1234\n"), Parsed::Pid(1234));
        assert_eq!(p(b"1234"), Parsed::Pid(1234));
        assert_eq!(p(b"007\n"), Parsed::Pid(7));
        assert_eq!(p(b""), Parsed::Empty);
        assert_eq!(p(b"\n"), Parsed::Empty);
        assert_eq!(p(b"\n\n"), Parsed::Empty);
        assert_eq!(p(b" \t\r\n"), Parsed::Empty);
        assert_eq!(p(b"\n123\n"), Parsed::Malformed(Malformed::FirstLineEmpty));
        assert_eq!(p(b" 1"), lenient(1, ws()));
        assert_eq!(p(b"1 "), lenient(1, ws()));
        assert_eq!(p(b"1 2"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(p(b" 1 2 \n"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(
            p(b"1\r\n"),
            lenient(
                1,
                Deviation {
                    crlf: true,
                    ..Deviation::default()
                }
            )
        );
        assert_eq!(p(b"123\x0b"), lenient(123, ws()));
        assert_eq!(p(b"\x0b123\n"), lenient(123, ws()));
        assert_eq!(p(b"1\x0c2"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(p(b"+1"), Parsed::Malformed(Malformed::Sign));
        assert_eq!(p(b"-1"), Parsed::Invalid(Invalid::Negative));
        assert_eq!(p(b"-"), Parsed::Malformed(Malformed::NotDecimal));
        assert_eq!(p(b"0"), Parsed::Invalid(Invalid::Zero));
        assert_eq!(p(b"000\n"), Parsed::Invalid(Invalid::Zero));
        assert_eq!(p(b"0x1F"), Parsed::Malformed(Malformed::NotDecimal));
        assert_eq!(p(b"4294967297"), Parsed::Invalid(Invalid::Overflow));
        assert_eq!(
            p(b"99999999999999999999999999"),
            Parsed::Invalid(Invalid::Overflow)
        );
        assert_eq!(
            p(b"12\n34\n"),
            lenient(
                12,
                Deviation {
                    extra_lines: 1,
                    more_pids: vec![34],
                    ..Deviation::default()
                }
            )
        );
        // sendmail: the PID, then its command line.
        assert_eq!(
            p(b"4321\n/usr/sbin/sendmail-mta -Am -L sm-mta -bd -q10m\n"),
            lenient(
                4321,
                Deviation {
                    extra_lines: 1,
                    ..Deviation::default()
                }
            )
        );
        assert_eq!(
            p(b"123\n\n"),
            lenient(
                123,
                Deviation {
                    extra_lines: 1,
                    ..Deviation::default()
                }
            )
        );
        assert_eq!(p(b"12abc\n34\n"), Parsed::Malformed(Malformed::NotDecimal));
        assert_eq!(p(b"12\n3\x004\n"), Parsed::Malformed(Malformed::Nul));
        assert_eq!(p(b"12\0"), Parsed::Malformed(Malformed::Nul));
        assert_eq!(
            p("١٢٣".as_bytes()),
            Parsed::Malformed(Malformed::NotDecimal)
        );
        assert_eq!(p(b"123abc"), Parsed::Malformed(Malformed::NotDecimal));
        assert_eq!(
            p(b"4194305"),
            Parsed::Invalid(Invalid::AbovePidMax {
                value: 4194305,
                pid_max: 4194304
            })
        );
        assert_eq!(p(b"4194304"), Parsed::Pid(4194304));
    }

    /// A file larger than the read cap is malformed whatever its first bytes say.
    #[test]
    fn oversize() {
        assert_eq!(
            parse(b"1111", 10_000_000, Format::Plain, 32768),
            Parsed::Malformed(Malformed::Oversize { size: 10_000_000 })
        );
    }

    /// PostgreSQL's postmaster.pid is judged by its first line.
    #[test]
    fn postmaster() {
        let content = b"4242\n/var/lib/postgresql/15/main\n1700000000\n5432\n/var/run/postgresql\nlocalhost\n  5432001   0\nready   \n";
        let parsed = parse(content, content.len() as u64, Format::Postmaster, 32768);
        assert_eq!(parsed, Parsed::Pid(4242));
        let bad = b"abc\n/var/lib\n";
        assert_eq!(
            parse(bad, bad.len() as u64, Format::Postmaster, 32768),
            Parsed::Malformed(Malformed::NotDecimal)
        );
        // An empty first line with the other lines written is no PID, but not an empty file.
        let headless = b"\n/var/lib/postgresql/15/main\n1700000000\n5432\n";
        assert_eq!(
            parse(headless, headless.len() as u64, Format::Postmaster, 32768),
            Parsed::Malformed(Malformed::FirstLineEmpty)
        );
        for empty in [&b""[..], b"\n"] {
            assert_eq!(
                parse(empty, empty.len() as u64, Format::Postmaster, 32768),
                Parsed::Empty
            );
        }
        assert_eq!(
            Format::for_name(OsStr::new("postmaster.pid")),
            Format::Postmaster
        );
        assert_eq!(Format::for_name(OsStr::new("nginx.pid")), Format::Plain);
    }

    /// Several PIDs on one line only where the writer is known to write them so, and only when
    /// every word is a PID; one PID per line in any file.
    #[test]
    fn several_pids() {
        let several = |b: &[u8]| parse(b, b.len() as u64, Format::Several, 32768);
        let want = |pid, more: Vec<u32>| {
            lenient(
                pid,
                Deviation {
                    whitespace: true,
                    more_pids: more,
                    ..Deviation::default()
                },
            )
        };
        assert_eq!(several(b"10 11 12\n"), want(10, vec![11, 12]));
        assert_eq!(several(b"10 11\n12\n"), want(10, vec![11, 12]));
        assert_eq!(
            several(b"10 11a\n"),
            Parsed::Malformed(Malformed::Whitespace)
        );
        assert_eq!(several(b"10 0\n"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(several(b"10 1\x002\n"), Parsed::Malformed(Malformed::Nul));
        assert_eq!(several(b"10\n"), Parsed::Pid(10));
        assert_eq!(
            several(b"10\n11\n"),
            lenient(
                10,
                Deviation {
                    extra_lines: 1,
                    more_pids: vec![11],
                    ..Deviation::default()
                }
            )
        );
        assert_eq!(p(b"10 11\n"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(Format::for_name(OsStr::new("haproxy.pid")), Format::Several);
        assert_eq!(
            Format::for_name(OsStr::new("haproxy-web.pid")),
            Format::Several
        );
    }
}

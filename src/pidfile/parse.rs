//! Strict pidfile parsing. Takes bytes, does no I/O.
//!
//! A valid pidfile is decimal digits with at most one trailing newline, naming a PID from 1 to
//! `pid_max`. Known multi-line formats (PostgreSQL's `postmaster.pid`) are read by their first line.

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
}

impl Format {
    /// The format a file of this name is written in.
    pub fn for_name(name: &OsStr) -> Format {
        if name == "postmaster.pid" {
            Format::Postmaster
        } else {
            Format::Plain
        }
    }
}

/// What a pidfile's content says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A PID from 1 to pid_max.
    Pid(u32),
    /// No content (or only a newline).
    Empty,
    /// Not a single decimal PID.
    Malformed(Malformed),
    /// A number, but not a PID that can exist.
    Invalid(Invalid),
}

/// Why content is not a single decimal PID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// More bytes than any pidfile has.
    Oversize { size: u64 },
    /// A NUL byte.
    Nul,
    /// More than one line.
    MultipleLines,
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
            Malformed::MultipleLines => f.write_str("has more than one line"),
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
            Malformed::MultipleLines => "multiple_lines",
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
        Format::Plain => {
            let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            if body.contains(&b'\n') {
                return classify(body, true);
            }
            body
        }
        Format::Postmaster => match bytes.iter().position(|&b| b == b'\n') {
            // No PID, but not an empty file either: the other lines were written.
            Some(0) if bytes.len() > 1 => {
                return Parsed::Malformed(Malformed::FirstLineEmpty);
            }
            Some(end) => &bytes[..end],
            None => bytes,
        },
    };
    match classify(line, false) {
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
fn classify(line: &[u8], multi: bool) -> Parsed {
    if line.is_empty() && !multi {
        return Parsed::Empty;
    }
    if line.contains(&0) {
        return Parsed::Malformed(Malformed::Nul);
    }
    if multi {
        return Parsed::Malformed(Malformed::MultipleLines);
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

    /// Every content case from the safety notes, with its exact outcome.
    #[test]
    fn content_matrix() {
        assert_eq!(p(b"1234\n"), Parsed::Pid(1234));
        assert_eq!(p(b"1234"), Parsed::Pid(1234));
        assert_eq!(p(b"007\n"), Parsed::Pid(7));
        assert_eq!(p(b""), Parsed::Empty);
        assert_eq!(p(b"\n"), Parsed::Empty);
        assert_eq!(p(b"\n\n"), Parsed::Malformed(Malformed::MultipleLines));
        assert_eq!(p(b" 1"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(p(b"1 "), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(p(b"1\r\n"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(p(b"123\x0b"), Parsed::Malformed(Malformed::Whitespace));
        assert_eq!(p(b"\x0b123\n"), Parsed::Malformed(Malformed::Whitespace));
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
        assert_eq!(p(b"12\n34\n"), Parsed::Malformed(Malformed::MultipleLines));
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
}

//! Untrusted text made safe to show: one escaping for every report format.
//!
//! File names, process names (`comm`, argv, the executable's name) and file contents are chosen by
//! unprivileged users. Written raw, an escape sequence can clear an operator's screen or hide lines,
//! a line feed can forge a report line, and a bidirectional override can make text read backwards.
//!
//! - [`text`] escapes, in text for people, every control character (C0, DEL, C1) and every
//!   bidirectional formatting character as `\xNN`, one per byte of its UTF-8 encoding.
//! - [`path`] (and [`bytes`]) write a file name *losslessly*: the same escapes, plus `\xNN` for
//!   every byte that is not valid UTF-8 and `\\` for a backslash. [`unescape`] recovers the exact
//!   bytes, so two names that differ only in invalid UTF-8 never look alike. Every report format,
//!   and every finding subject that is a path, uses this form; the JSON report adds the exact bytes
//!   (`path_bytes`) when the form is not the name verbatim.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether a character is escaped in text shown to people: controls (C0, DEL, C1), bidirectional
/// formatting characters, and the Unicode line and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

fn push_escaped_char(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        let _ = write!(out, "\\x{b:02x}");
    }
}

/// Text for people: unsafe characters (see [`is_unsafe`]) as `\xNN` per byte; everything else,
/// backslashes included, as it is.
pub fn text(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_escaped_char(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Bytes (a file name) written losslessly: `\\` for a backslash, `\xNN` for each byte that is not
/// valid UTF-8 or belongs to an unsafe character, everything else as it is. [`unescape`] inverts it.
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if is_unsafe(c) {
                push_escaped_char(&mut out, c);
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A path written losslessly (see [`bytes`]).
pub fn path(p: &Path) -> String {
    bytes(p.as_os_str().as_bytes())
}

/// Whether [`bytes`] writes these bytes as they are (valid UTF-8, nothing escaped).
pub fn is_verbatim(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(|s| !s.chars().any(|c| c == '\\' || is_unsafe(c)))
}

/// The bytes an escaped string (from [`bytes`] or [`path`]) stands for; `None` when it is not one.
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = s.get(i + 2..i + 4)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    /// Controls, DEL, C1 and bidi overrides are escaped in text; printable text and backslashes are not.
    #[test]
    fn text_escapes_controls_and_bidi() {
        assert_eq!(text("a\x1b[2Jb\nc"), "a\\x1b[2Jb\\x0ac");
        assert_eq!(text("del\x7f c1\u{85}"), "del\\x7f c1\\xc2\\x85");
        assert_eq!(text("evil\u{202E}txt"), "evil\\xe2\\x80\\xaetxt");
        assert_eq!(text("plain é \\ ✓"), "plain é \\ ✓");
    }

    /// Names that differ only in invalid UTF-8 stay distinct, and every escaped form round-trips.
    #[test]
    fn paths_are_lossless() {
        let a = Path::new(OsStr::from_bytes(b"/run/a\xff.pid"));
        let b = Path::new(OsStr::from_bytes(b"/run/a\xfe.pid"));
        assert_eq!(path(a), "/run/a\\xff.pid");
        assert_ne!(path(a), path(b));
        for raw in [
            &b"/run/a\xff.pid"[..],
            b"/run/back\\slash\\x41",
            b"/run/esc\x1b[2J\n\xc2\x85",
            "/run/é\u{202E}.pid".as_bytes(),
            b"",
        ] {
            let escaped = bytes(raw);
            assert!(!escaped.chars().any(is_unsafe), "{escaped}");
            assert_eq!(unescape(&escaped).as_deref(), Some(raw), "{escaped}");
            assert_eq!(is_verbatim(raw), escaped.as_bytes() == raw);
        }
        assert_eq!(unescape("bad\\q"), None);
        assert_eq!(unescape("bad\\x4"), None);
    }
}

//! Untrusted text made safe to show: one escaping for every report format.
//!
//! File names, process names (`comm`, argv, the executable's name) and file contents are chosen by
//! unprivileged users. Written raw, an escape sequence can clear an operator's screen or hide lines,
//! a line feed can forge a report line, and a bidirectional override can make text read backwards.
//!
//! - [`text`] escapes, in text for people, every control character (C0, DEL, C1) and every
//!   bidirectional formatting character as `\xNN`, one per byte of its UTF-8 encoding.

use std::fmt::Write as _;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Controls, DEL, C1 and bidi overrides are escaped in text; printable text and backslashes are not.
    #[test]
    fn text_escapes_controls_and_bidi() {
        assert_eq!(text("a\x1b[2Jb\nc"), "a\\x1b[2Jb\\x0ac");
        assert_eq!(text("del\x7f c1\u{85}"), "del\\x7f c1\\xc2\\x85");
        assert_eq!(text("evil\u{202E}txt"), "evil\\xe2\\x80\\xaetxt");
        assert_eq!(text("plain é \\ ✓"), "plain é \\ ✓");
    }
}

//! Unit names and specifiers, as systemd's system manager resolves them (systemd.unit(5),
//! "Specifiers"; "String Escaping for Inclusion in Unit Names"). Pure: no I/O, never panics.
//!
//! Resolved from the unit's name, its file and the system manager's fixed directories:
//! `%n %N %p %P %i %I %j %J %f` (the name), `%y %Y` (the unit file), `%t %C %E %L %S` (`/run`,
//! `/var/cache`, `/etc`, `/var/log`, `/var/lib`), `%u %U %g %G %h` (the system manager runs as
//! root: `root`, `0`, `root`, `0`, `/root`) and `%%`. Every other specifier (host name, machine
//! and boot ID, kernel, architecture, `/etc/os-release` fields, the shell, credentials, and
//! `%T`/`%V`, which follow PID 1's environment) is not guessed: [`expand`] says which one stopped it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// A `NAME.service` split as systemd splits unit names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name<'a> {
    /// The whole name (`foo@bar.service`).
    pub full: &'a str,
    /// Without the type suffix (`foo@bar`).
    pub stem: &'a str,
    /// Before the first `@` (`foo`), or the stem.
    pub prefix: &'a str,
    /// Between the first `@` and the suffix (`bar`); `None` for a unit that is no instance, empty
    /// for a template (`foo@.service`).
    pub instance: Option<&'a str>,
}

/// Splits a `.service` unit's name; `None` for another type or an empty prefix.
pub fn split(full: &str) -> Option<Name<'_>> {
    let stem = full.strip_suffix(".service")?;
    let (prefix, instance) = match stem.split_once('@') {
        Some((p, i)) => (p, Some(i)),
        None => (stem, None),
    };
    if prefix.is_empty() {
        return None;
    }
    Some(Name {
        full,
        stem,
        prefix,
        instance,
    })
}

/// `foo@bar.service` -> `foo@.service`: the template an instance is made from.
pub fn template_of(full: &str) -> Option<String> {
    let n = split(full)?;
    n.instance.filter(|i| !i.is_empty())?;
    Some(format!("{}@.service", n.prefix))
}

/// Undoes systemd's escaping of a unit name part: `-` is `/`, `\xNN` a byte (`systemd-escape -u`).
/// `None` for a malformed escape.
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' => out.push(b'/'),
            b'\\' => {
                if b.get(i + 1) != Some(&b'x') {
                    return None;
                }
                let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// Path unescaping (`systemd-escape -u -p`, the `%f` specifier): `-` alone is `/`, else `/`
/// followed by the unescaped string.
pub fn unescape_path(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return Some(b"/".to_vec());
    }
    let mut out = b"/".to_vec();
    out.extend(unescape(s)?);
    Some(out)
}

/// Why a value could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// A specifier whose value depends on more than the unit files (`%H`, `%m`, ...).
    Specifier(char),
    /// A `%` at the end of the value, or a malformed escape in the unit's name.
    Malformed,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::Specifier(c) => write!(
                f,
                "specifier %{c} depends on the running system, not on the unit files"
            ),
            Unresolved::Malformed => f.write_str("malformed specifier or unit name escape"),
        }
    }
}

/// Expands the specifiers of `value` for the unit `name` read from `fragment` (the unit file's
/// path, for `%y`/`%Y`).
pub fn expand(value: &str, name: &Name<'_>, fragment: &str) -> Result<OsString, Unresolved> {
    let mut out: Vec<u8> = Vec::with_capacity(value.len());
    let mut chars = value.chars();
    let instance = name.instance.unwrap_or("");
    let last = name.prefix.rsplit('-').next().unwrap_or(name.prefix);
    while let Some(c) = chars.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let s = chars.next().ok_or(Unresolved::Malformed)?;
        let piece: Vec<u8> = match s {
            'n' => name.full.into(),
            'N' => name.stem.into(),
            'p' => name.prefix.into(),
            'P' => unescape(name.prefix).ok_or(Unresolved::Malformed)?,
            'i' => instance.into(),
            'I' => unescape(instance).ok_or(Unresolved::Malformed)?,
            'j' => last.into(),
            'J' => unescape(last).ok_or(Unresolved::Malformed)?,
            'f' if !instance.is_empty() => unescape_path(instance).ok_or(Unresolved::Malformed)?,
            'f' => unescape_path(name.prefix).ok_or(Unresolved::Malformed)?,
            'y' => fragment.into(),
            'Y' => match fragment.rfind('/') {
                Some(0) => "/".into(),
                Some(i) => fragment[..i].into(),
                None => return Err(Unresolved::Malformed),
            },
            't' => "/run".into(),
            'C' => "/var/cache".into(),
            'E' => "/etc".into(),
            'L' => "/var/log".into(),
            'S' => "/var/lib".into(),
            'u' | 'g' => "root".into(),
            'U' | 'G' => "0".into(),
            'h' => "/root".into(),
            '%' => "%".into(),
            other => return Err(Unresolved::Specifier(other)),
        };
        out.extend(piece);
    }
    Ok(OsString::from_vec(out))
}

/// The cgroup (below the cgroup v2 mount, no leading `/`) of a slice: `a-b.slice` is
/// `a.slice/a-b.slice`, `-.slice` the root (`""`). `None` for a malformed slice name.
pub fn slice_path(slice: &str) -> Option<String> {
    let stem = slice.strip_suffix(".slice")?;
    if stem == "-" {
        return Some(String::new());
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return None;
    }
    if stem.contains('/') || stem.starts_with('.') {
        return None;
    }
    let mut out = String::new();
    for (i, _) in stem.match_indices('-').chain([(stem.len(), "")]) {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&stem[..i]);
        out.push_str(".slice");
    }
    Some(out)
}

/// systemd's escaping of a string into a unit name part (`systemd-escape`): `/` is `-`, every
/// byte but ASCII alphanumerics, `:`, `_` and `.` (and a leading `.`) is `\xNN`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.') => {
                out.push(b as char)
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The slice systemd puts a service in without `Slice=`: `system.slice`, and for an instance of a
/// template `system-PREFIX.slice`, the prefix escaped (`system.slice/system-foo.slice/foo@bar.service`;
/// `systemd-fsck@.service`'s instances are in `system-systemd\x2dfsck.slice`).
pub fn default_slice(name: &Name<'_>) -> String {
    match name.instance {
        Some(_) => format!("system-{}.slice", escape(name.prefix)),
        None => "system.slice".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(value: &str, unit: &str) -> Result<String, Unresolved> {
        expand(
            value,
            &split(unit).unwrap(),
            "/etc/systemd/system/foo@.service",
        )
        .map(|s| s.into_string().unwrap())
    }

    #[test]
    fn names() {
        let n = split("foo-bar@a\\x2db.service").unwrap();
        assert_eq!(
            (n.stem, n.prefix, n.instance),
            ("foo-bar@a\\x2db", "foo-bar", Some("a\\x2db"))
        );
        assert_eq!(split("plain.service").unwrap().instance, None);
        assert_eq!(split("@x.service"), None);
        assert_eq!(split("a.socket"), None);
        assert_eq!(
            template_of("foo@bar.service").as_deref(),
            Some("foo@.service")
        );
        assert_eq!(template_of("foo@.service"), None);
        assert_eq!(template_of("foo.service"), None);
    }

    /// Each specifier, against what `systemd-escape -u` and systemd.unit(5) give.
    #[test]
    fn specifiers() {
        let u = "web-front@site-a\\x2db.service";
        assert_eq!(
            x("/run/foo/%i.pid", u).unwrap(),
            "/run/foo/site-a\\x2db.pid"
        );
        assert_eq!(x("/run/foo/%I.pid", u).unwrap(), "/run/foo/site/a-b.pid");
        assert_eq!(
            x("%n|%N|%p|%P", u).unwrap(),
            format!("{u}|web-front@site-a\\x2db|web-front|web/front")
        );
        assert_eq!(x("%j|%J", u).unwrap(), "front|front");
        assert_eq!(x("%f", u).unwrap(), "/site/a-b");
        assert_eq!(x("%f", "srv-www.service").unwrap(), "/srv/www");
        assert_eq!(
            x("%t/%C/%E/%L/%S", u).unwrap(),
            "/run//var/cache//etc//var/log//var/lib"
        );
        assert_eq!(x("%u%U%g%G%h", u).unwrap(), "root0root0/root");
        assert_eq!(
            x("%y %Y", u).unwrap(),
            "/etc/systemd/system/foo@.service /etc/systemd/system"
        );
        assert_eq!(x("100%%", u).unwrap(), "100%");
        assert_eq!(x("%i", "plain.service").unwrap(), "");
        assert_eq!(x("%p-%j", "plain.service").unwrap(), "plain-plain");
        for s in [
            'H', 'l', 'm', 'b', 'v', 'a', 'o', 'w', 'T', 'V', 'd', 's', 'q', 'Z',
        ] {
            assert_eq!(
                x(&format!("/run/%{s}.pid"), u),
                Err(Unresolved::Specifier(s))
            );
        }
        assert_eq!(x("/run/x%", u), Err(Unresolved::Malformed));
        assert_eq!(x("%I", "a@b\\xzz.service"), Err(Unresolved::Malformed));
        assert_eq!(x("%I", "a@b\\x.service"), Err(Unresolved::Malformed));
        assert_eq!(x("%I", "a@b\\x4é.service"), Err(Unresolved::Malformed));
    }

    #[test]
    fn slices() {
        assert_eq!(slice_path("system.slice").as_deref(), Some("system.slice"));
        assert_eq!(
            slice_path("system-foo.slice").as_deref(),
            Some("system.slice/system-foo.slice")
        );
        assert_eq!(
            slice_path("a-b-c.slice").as_deref(),
            Some("a.slice/a-b.slice/a-b-c.slice")
        );
        assert_eq!(slice_path("-.slice").as_deref(), Some(""));
        for bad in [
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a.service",
            ".slice",
            "../x.slice",
            "a/b.slice",
        ] {
            assert_eq!(slice_path(bad), None, "{bad}");
        }
        assert_eq!(
            default_slice(&split("foo@bar.service").unwrap()),
            "system-foo.slice"
        );
        assert_eq!(
            default_slice(&split("foo.service").unwrap()),
            "system.slice"
        );
        assert_eq!(
            default_slice(&split("systemd-fsck@dev-sda1.service").unwrap()),
            "system-systemd\\x2dfsck.slice"
        );
        assert_eq!(
            slice_path("system-systemd\\x2dfsck.slice").as_deref(),
            Some("system.slice/system-systemd\\x2dfsck.slice")
        );
        assert_eq!(escape(".a/b-c d"), "\\x2ea-b\\x2dc\\x20d");
    }
}

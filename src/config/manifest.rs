//! The expectations manifest (`--expect FILE`, TOML): which daemons must run, and how.
//!
//! ```toml
//! [[service]]
//! name = "nginx"                      # required: a label for messages
//! pidfile = "/run/nginx.pid"          # required: absolute path; audited even when no PATH names it
//! exe = "/usr/sbin/nginx"             # the executable (path, or any path to the same file)
//! cmdline = "^nginx: master process"  # a regex matched against the arguments joined by spaces
//! user = "root"                       # a user name or a numeric uid
//! instances = 1                       # how many independent copies must run (default 1)
//! lock = "required"                   # or "optional" (default): must the daemon hold its pidfile's lock
//! started_after = 2024-05-01T12:00:00Z  # RFC 3339 (string or TOML datetime) or Unix seconds
//! ```
//!
//! Every key is checked: an unknown key, a value of the wrong type, a bad regex, an unknown user or a
//! time without a zone is reported with the file, line and column, and the run stops (exit 2) before
//! any work. [`parse`] takes the text and a user resolver and does no I/O of its own.

use regex::Regex;
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use toml::{Spanned, Value};

/// Whether a daemon must hold a lock on its pidfile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lock {
    /// `unlocked` is an error for this pidfile.
    Required,
    /// The lock is not judged beyond the default checks.
    #[default]
    Optional,
}

/// One validated manifest entry.
#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub pidfile: PathBuf,
    pub exe: Option<PathBuf>,
    pub cmdline: Option<Regex>,
    /// The uid the daemon must run as, and how the manifest spelled it.
    pub user: Option<(u32, String)>,
    pub instances: u32,
    pub lock: Lock,
    pub started_after: Option<SystemTime>,
}

impl Service {
    /// Whether the manifest says what the daemon's process looks like (`exe` or `cmdline`). Without
    /// either, the pidfile's name is the only clue.
    pub fn has_identity(&self) -> bool {
        self.exe.is_some() || self.cmdline.is_some()
    }
}

/// A validated manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The file, as named on the command line.
    pub path: PathBuf,
    pub services: Vec<Service>,
}

impl Manifest {
    /// The entry whose pidfile is `path`.
    pub fn service_for(&self, path: &Path) -> Option<&Service> {
        self.services.iter().find(|s| s.pidfile == path)
    }
}

/// What is wrong with a manifest, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ManifestError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    service: Vec<Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    pidfile: Spanned<String>,
    exe: Option<Spanned<String>>,
    cmdline: Option<Spanned<String>>,
    user: Option<Spanned<Value>>,
    instances: Option<Spanned<i64>>,
    lock: Option<Spanned<String>>,
    started_after: Option<Spanned<Value>>,
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Parses and validates a manifest. `file` names it in messages; `resolve_user` maps a user name to
/// its uid.
pub fn parse(
    text: &str,
    file: &Path,
    resolve_user: impl Fn(&str) -> Option<u32>,
) -> Result<Manifest, ManifestError> {
    let err = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        ManifestError {
            file: file.display().to_string(),
            line,
            column,
            message,
        }
    };
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        err(offset, e.message().trim().to_string())
    })?;
    if raw.service.is_empty() {
        return Err(err(
            0,
            "no [[service]] entry: the manifest expects nothing".into(),
        ));
    }
    let mut names = HashSet::new();
    let mut pidfiles = HashSet::new();
    let mut services = Vec::new();
    for entry in raw.service {
        let raw = entry.into_inner();
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(err(raw.name.span().start, "`name` is empty".into()));
        }
        if !names.insert(name.clone()) {
            return Err(err(
                raw.name.span().start,
                format!("`name` \"{name}\" is used by an earlier [[service]]"),
            ));
        }
        let pidfile = PathBuf::from(raw.pidfile.get_ref());
        if !pidfile.is_absolute() {
            return Err(err(
                raw.pidfile.span().start,
                format!(
                    "`pidfile` \"{}\" is not an absolute path",
                    raw.pidfile.get_ref()
                ),
            ));
        }
        if !pidfiles.insert(pidfile.clone()) {
            return Err(err(
                raw.pidfile.span().start,
                format!(
                    "`pidfile` \"{}\" is used by an earlier [[service]]",
                    pidfile.display()
                ),
            ));
        }
        let exe = match &raw.exe {
            Some(e) if !Path::new(e.get_ref()).is_absolute() => {
                return Err(err(
                    e.span().start,
                    format!("`exe` \"{}\" is not an absolute path", e.get_ref()),
                ))
            }
            Some(e) => Some(PathBuf::from(e.get_ref())),
            None => None,
        };
        let cmdline = match &raw.cmdline {
            Some(c) => Some(Regex::new(c.get_ref()).map_err(|e| {
                err(
                    c.span().start,
                    format!("`cmdline` is not a valid regex: {}", regex_reason(&e)),
                )
            })?),
            None => None,
        };
        let user = match &raw.user {
            None => None,
            Some(u) => Some(match u.get_ref() {
                Value::Integer(n) if (0..u32::MAX as i64).contains(n) => (*n as u32, n.to_string()),
                Value::Integer(n) => {
                    return Err(err(
                        u.span().start,
                        format!("`user` {n} is not a valid uid"),
                    ))
                }
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                    match s.parse::<u32>() {
                        Ok(n) if n < u32::MAX => (n, s.clone()),
                        _ => {
                            return Err(err(
                                u.span().start,
                                format!("`user` \"{s}\" is not a valid uid"),
                            ))
                        }
                    }
                }
                Value::String(s) => match resolve_user(s) {
                    Some(uid) => (uid, s.clone()),
                    None => {
                        return Err(err(
                            u.span().start,
                            format!("`user` \"{s}\": no such user on this machine"),
                        ))
                    }
                },
                other => {
                    return Err(err(
                        u.span().start,
                        format!(
                            "`user` must be a user name or a uid, not a {}",
                            other.type_str()
                        ),
                    ))
                }
            }),
        };
        let instances = match &raw.instances {
            None => 1,
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(v) if v >= 1 => v,
                _ => {
                    return Err(err(
                        n.span().start,
                        format!("`instances` must be at least 1, not {}", n.get_ref()),
                    ))
                }
            },
        };
        let lock = match &raw.lock {
            None => Lock::Optional,
            Some(l) => match l.get_ref().as_str() {
                "required" => Lock::Required,
                "optional" => Lock::Optional,
                other => {
                    return Err(err(
                        l.span().start,
                        format!("`lock` must be \"required\" or \"optional\", not \"{other}\""),
                    ))
                }
            },
        };
        let started_after = match &raw.started_after {
            None => None,
            Some(t) => {
                let parsed = match t.get_ref() {
                    Value::Integer(n) if *n >= 0 => crate::util::time::parse(&n.to_string()),
                    Value::String(s) => crate::util::time::parse(s),
                    Value::Datetime(d) => crate::util::time::parse(&d.to_string()),
                    other => Err(format!(
                        "must be RFC 3339 or Unix seconds, not a {}",
                        if matches!(other, Value::Integer(_)) {
                            "negative number"
                        } else {
                            other.type_str()
                        }
                    )),
                };
                Some(parsed.map_err(|m| err(t.span().start, format!("`started_after`: {m}")))?)
            }
        };
        services.push(Service {
            name,
            pidfile,
            exe,
            cmdline,
            user,
            instances,
            lock,
            started_after,
        });
    }
    Ok(Manifest {
        path: file.to_path_buf(),
        services,
    })
}

/// The one-line reason of a regex error (its display spans several lines with a caret).
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or("invalid"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(name: &str) -> Option<u32> {
        match name {
            "root" => Some(0),
            "www-data" => Some(33),
            _ => None,
        }
    }

    fn p(text: &str) -> Result<Manifest, ManifestError> {
        parse(text, Path::new("m.toml"), users)
    }

    fn e(text: &str) -> String {
        p(text).unwrap_err().to_string()
    }

    /// A complete entry parses into the validated form; omitted keys take their defaults.
    #[test]
    fn full_and_minimal_entries() {
        let m = p(r#"
[[service]]
name = "nginx"
pidfile = "/run/nginx.pid"
exe = "/usr/sbin/nginx"
cmdline = "^nginx: master"
user = "www-data"
instances = 2
lock = "required"
started_after = 2024-05-01T12:00:00Z

[[service]]
name = "redis"
pidfile = "/run/redis/redis-server.pid"
user = 0
started_after = 1714564800
"#)
        .unwrap();
        let s = &m.services[0];
        assert_eq!(s.user, Some((33, "www-data".into())));
        assert_eq!(s.instances, 2);
        assert_eq!(s.lock, Lock::Required);
        assert!(s
            .cmdline
            .as_ref()
            .unwrap()
            .is_match("nginx: master process"));
        assert_eq!(
            crate::util::time::unix(s.started_after.unwrap()),
            1_714_564_800.0
        );
        let r = &m.services[1];
        assert_eq!(
            (r.instances, r.lock, r.exe.is_none()),
            (1, Lock::Optional, true)
        );
        assert_eq!(r.started_after, s.started_after);
        assert!(m.service_for(Path::new("/run/nginx.pid")).is_some());
    }

    /// The example shipped in `contrib/` is a valid manifest.
    #[test]
    fn shipped_example_parses() {
        let text = include_str!("../../contrib/expect.example.toml");
        let m = parse(text, Path::new("expect.example.toml"), |_| Some(1000)).unwrap();
        assert_eq!(m.services.len(), 3);
        assert_eq!(m.services[2].user, Some((33, "33".into())));
        assert_eq!(m.services[1].started_after, m.services[2].started_after);
    }

    /// Every kind of mistake is reported with its line, column and the offending key or value.
    #[test]
    fn precise_errors() {
        let head = "[[service]]\nname = \"a\"\npidfile = \"/run/a.pid\"\n";
        assert_eq!(
            e(&format!("{head}pidfil = \"x\"\n")),
            "m.toml:4:1: unknown field `pidfil`, expected one of `name`, `pidfile`, `exe`, `cmdline`, `user`, `instances`, `lock`, `started_after`"
        );
        assert_eq!(
            e(&format!("{head}cmdline = \"(unclosed\"\n")),
            "m.toml:4:11: `cmdline` is not a valid regex: unclosed group"
        );
        assert_eq!(
            e(&format!("{head}lock = \"always\"\n")),
            "m.toml:4:8: `lock` must be \"required\" or \"optional\", not \"always\""
        );
        assert_eq!(
            e(&format!("{head}instances = 0\n")),
            "m.toml:4:13: `instances` must be at least 1, not 0"
        );
        assert_eq!(
            e(&format!("{head}instances = \"two\"\n")),
            "m.toml:4:13: invalid type: string \"two\", expected i64"
        );
        assert_eq!(
            e(&format!("{head}user = \"nobody-here\"\n")),
            "m.toml:4:8: `user` \"nobody-here\": no such user on this machine"
        );
        assert_eq!(
            e(&format!("{head}started_after = \"2024-05-01T12:00:00\"\n")),
            "m.toml:4:17: `started_after`: '2024-05-01T12:00:00' is not RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00) or Unix seconds"
        );
        assert_eq!(
            e("[[service]]\nname = \"a\"\npidfile = \"run/a.pid\"\n"),
            "m.toml:3:11: `pidfile` \"run/a.pid\" is not an absolute path"
        );
        assert!(e("[[service]]\nname = \"a\"\n").starts_with("m.toml:1:1: missing field `pidfile`"));
        assert_eq!(
            e(&format!(
                "{head}[[service]]\nname = \"a\"\npidfile = \"/run/b.pid\"\n"
            )),
            "m.toml:5:8: `name` \"a\" is used by an earlier [[service]]"
        );
        assert!(e("services = 1\n").starts_with("m.toml:1:1: unknown field `services`"));
        assert_eq!(
            e(""),
            "m.toml:1:1: no [[service]] entry: the manifest expects nothing"
        );
        assert!(e("[[service]\n").starts_with("m.toml:1:"));
    }
}

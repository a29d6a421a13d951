//! Name: does the live process look like the daemon the pidfile is named after?
//!
//! # The matching rule
//! Names are split into lowercase alphanumeric *tokens*; trailing digits are dropped (`php8` is `php`,
//! `apache2` is `apache`), a trailing `d` is dropped from tokens longer than three letters (`crond` is
//! `cron`, `mysqld` is `mysql`), all-digit tokens and generic words (`pid`, `run`, `main`, `master`,
//! `server`, `daemon`, `service`, `worker`) are ignored, and known aliases are folded (`mariadb` is
//! `mysql`, `postmaster` and `postgresql` are `postgres`, `httpd` is `apache`).
//!
//! - The file's tokens come from its name without `.pid` and from the names of its two parent
//!   directories (`/run/postgresql/15-main.pid` gives `postgres`), except `run`, `var`, `lib`, `tmp`.
//! - The process's tokens come from its `comm`, the basename of its executable, the first word of
//!   `argv[0]` (`nginx: master process` gives `nginx`) and, when it runs an interpreter (python, perl,
//!   ruby, node, java, a shell, php), the basenames of its first arguments.
//!
//! They match when the file's stem equals the comm, or any two tokens are equal, or one is a prefix of
//! the other and at least four letters long (`comm` is cut at 15 bytes: `unattended-upgr`). When the
//! file's name has no token left, nothing is judged. The check only runs on a live, non-reused process
//! that does not hold the file's write lock (`own_lock`: only the daemon could hold it, whatever its
//! name).
//!
//! # The orphan rule (finding an untracked daemon by its pidfile's name)
//! Stricter, because it picks processes out of the whole system rather than judging the one a file
//! names: the *name tokens* are the tokens of the file's name alone (of its parent directory when the
//! name has none: `/run/postgresql/15-main.pid` gives `postgres`), and the tokens of one of the
//! process's names must be **exactly** that set: its comm, its executable's basename, or, for an
//! interpreter, the basename of its script (its first non-option argument). No prefixes, no
//! `argv[0]` (which a process can rewrite at will). `redis-server.pid` finds `redis-server` but not
//! `redis-sentinel`; `dhclient.eth0.pid` finds nothing (no process is named `dhclient eth`), which is
//! the point: when in doubt, no finding.

use super::Cx;
use super::Entry;
use crate::model::State;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::pidfile::{Chase, ReadOutcome};
use crate::system::Process;
use std::path::Path;

pub const NAME_MISMATCH: Code = Code::new(&CodeDoc {
    code: "name-mismatch",
    severity: Severity::Warning,
    summary: "The live process does not look like the daemon the pidfile is named after.",
    why: "`nginx.pid` naming a `bash` means the file is stale and the PID was reused, or the file was overwritten by something else: a stop script would signal the wrong process. The rule compares the file's name and directories with the process's comm, executable and arguments (see `pidaudit explain name-mismatch` and the check's docs). A process that holds the file's write lock through a descriptor opened for writing, as only the daemon could, is never a mismatch: a service's pidfile may be named after the service rather than the program.",
    fix: "Look at the process in the evidence. If it is not the daemon, do not signal it: remove the file and restart the daemon. If it is (a daemon with an unusual name), ignore the code for this path with `--ignore name-mismatch` or an `--exclude`.",
});

/// Every code this check emits.
pub const CODES: &[Code] = &[NAME_MISMATCH];

const GENERIC: &[&str] = &[
    "pid",
    "run",
    "var",
    "main",
    "master",
    "server",
    "daemon",
    "service",
    "worker",
    "process",
    "supervise",
    "lock",
    "tmp",
    "lib",
];
const SKIP_DIRS: &[&str] = &["run", "var", "lib", "tmp", "pid", "pids", "", "/"];
const ALIASES: &[(&str, &str)] = &[
    ("mariadb", "mysql"),
    ("postmaster", "postgres"),
    ("postgresql", "postgres"),
    ("pgsql", "postgres"),
    ("http", "apache"),
    ("apache", "apache"),
];
const INTERPRETERS: &[&str] = &[
    "python", "perl", "ruby", "node", "nodejs", "java", "bash", "sh", "dash", "zsh", "php", "lua",
    "tclsh", "env",
];

fn normalize(token: &str) -> Option<String> {
    let t = token.trim_end_matches(|c: char| c.is_ascii_digit());
    if t.len() < 2 {
        return None;
    }
    let t = if t.len() > 3 && t.ends_with('d') {
        &t[..t.len() - 1]
    } else {
        t
    };
    let t = ALIASES
        .iter()
        .find(|(from, _)| *from == t)
        .map(|(_, to)| *to)
        .unwrap_or(t);
    if GENERIC.contains(&t) {
        return None;
    }
    Some(t.to_string())
}

fn tokens(s: &str, out: &mut Vec<String>) {
    for raw in s.to_lowercase().split(|c: char| !c.is_ascii_alphanumeric()) {
        if let Some(t) = normalize(raw) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
}

/// Appends the tokens of a name (split, normalised, generic words dropped) to `out`.
pub fn tokens_of(s: &str, out: &mut Vec<String>) {
    tokens(s, out);
}

/// The tokens a pidfile's path names.
pub fn file_tokens(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(stem) = path.file_name().and_then(|n| n.to_str()) {
        tokens(stem.strip_suffix(".pid").unwrap_or(stem), &mut out);
    }
    for dir in path.ancestors().skip(1).take(2) {
        if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
            if !SKIP_DIRS.contains(&name) {
                tokens(name, &mut out);
            }
        }
    }
    out
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The tokens a process's names give.
pub fn process_tokens(comm: &str, exe: Option<&Path>, argv: Option<&[String]>) -> Vec<String> {
    let mut out = Vec::new();
    tokens(comm, &mut out);
    let mut interpreter = INTERPRETERS.iter().any(|i| comm.starts_with(i));
    if let Some(exe) = exe.and_then(|e| e.to_str()) {
        let b = basename(exe.strip_suffix(" (deleted)").unwrap_or(exe));
        interpreter |= INTERPRETERS.iter().any(|i| b.starts_with(i));
        tokens(b, &mut out);
    }
    if let Some(argv) = argv {
        if let Some(first) = argv.first().and_then(|a| a.split_whitespace().next()) {
            tokens(basename(first.trim_end_matches(':')), &mut out);
        }
        if interpreter {
            for arg in argv.iter().skip(1).filter(|a| !a.starts_with('-')).take(3) {
                tokens(basename(arg), &mut out);
            }
        }
    }
    out
}

fn token_match(a: &str, b: &str) -> bool {
    a == b || (a.len().min(b.len()) >= 4 && (a.starts_with(b) || b.starts_with(a)))
}

/// The verdict of the rule: `None` when the file's name says nothing to judge by.
pub fn names_match(path: &Path, comm: &str, process: &[String]) -> Option<bool> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".pid").unwrap_or(n).to_lowercase());
    if stem.as_deref() == Some(comm.to_lowercase().as_str()) {
        return Some(true);
    }
    let file = file_tokens(path);
    if file.is_empty() {
        return None;
    }
    Some(
        file.iter()
            .any(|f| process.iter().any(|p| token_match(f, p))),
    )
}

/// Whether a process runs an interpreter (python, perl, a shell, ...), by comm or executable.
pub fn is_interpreter(comm: &str, exe: Option<&Path>) -> bool {
    let b = exe
        .and_then(|e| e.to_str())
        .map(|e| basename(e.strip_suffix(" (deleted)").unwrap_or(e)));
    INTERPRETERS
        .iter()
        .any(|i| comm.starts_with(i) || b.is_some_and(|b| b.starts_with(i)))
}

/// The tokens of the orphan rule: the file's name, or its parent directory when the name has none.
pub fn name_tokens(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        tokens(name.strip_suffix(".pid").unwrap_or(name), &mut out);
    }
    if out.is_empty() {
        if let Some(dir) = path
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
        {
            if !SKIP_DIRS.contains(&dir) {
                tokens(dir, &mut out);
            }
        }
    }
    out
}

/// Whether a process with this comm could pass the orphan rule for these name tokens, judged on the
/// comm alone: a token of it is a name token, or it is an interpreter, or it was cut at 15 bytes (the
/// executable's name may say more).
pub fn comm_could_match(name: &[String], comm: &str) -> bool {
    let (t, always) = comm_tokens(comm);
    always || t.iter().any(|x| name.contains(x))
}

/// A comm's name tokens, and whether it could match any pidfile's name whatever its tokens (a
/// comm of 15 bytes may be truncated; an interpreter runs scripts of any name): what
/// [`comm_could_match`] compares, to compute once per comm.
pub fn comm_tokens(comm: &str) -> (Vec<String>, bool) {
    let mut t = Vec::new();
    tokens(comm, &mut t);
    let always = comm.len() >= 15 || INTERPRETERS.iter().any(|i| comm.starts_with(i));
    (t, always)
}

/// The extensions of scripts that run as daemons (`preforkd.py`): a script's name without it is the
/// daemon's, as the pidfile's name (`preforkd.pid`) has it.
const SCRIPT_EXTENSIONS: &[&str] = &[
    ".py", ".pyw", ".pl", ".pm", ".rb", ".php", ".js", ".mjs", ".cjs", ".ts", ".sh", ".bash",
    ".lua", ".tcl", ".jar",
];

/// A script's name without its extension.
fn without_script_extension(name: &str) -> &str {
    SCRIPT_EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext).filter(|s| !s.is_empty()))
        .unwrap_or(name)
}

/// The orphan rule (module docs): the tokens of the comm, of the executable's basename, or of an
/// interpreter's script (without a script extension) are exactly the name tokens.
pub fn strictly_named(
    name: &[String],
    comm: &str,
    exe: Option<&Path>,
    argv: Option<&[String]>,
) -> bool {
    if name.is_empty() {
        return false;
    }
    let same = |s: &str| {
        let mut t = Vec::new();
        tokens(without_script_extension(s), &mut t);
        t.len() == name.len() && t.iter().all(|x| name.contains(x))
    };
    if same(comm) {
        return true;
    }
    let mut interpreter = INTERPRETERS.iter().any(|i| comm.starts_with(i));
    if let Some(exe) = exe.and_then(|e| e.to_str()) {
        let b = basename(exe.strip_suffix(" (deleted)").unwrap_or(exe));
        if same(b) {
            return true;
        }
        interpreter |= INTERPRETERS.iter().any(|i| b.starts_with(i));
    }
    interpreter
        && argv
            .unwrap_or_default()
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .is_some_and(|script| same(basename(script)))
}

/// Whether the process looks like the daemon the entry's file is named after (`None` when the file's
/// name says nothing), with the process tokens compared.
pub fn verdict(cx: &Cx<'_>, entry: &Entry, process: &Process) -> (Option<bool>, Vec<String>) {
    let comm = &process.stat.comm;
    // A symlinked pidfile read through a safe chain is named by its link and by its target.
    let resolved = match &entry.read {
        ReadOutcome::Symlink {
            chase: Chase::Followed { resolved, .. },
            ..
        } => Some(resolved.as_path()),
        _ => None,
    };
    let judge = |tokens: &[String]| {
        let on_link = names_match(&entry.path, comm, tokens);
        match resolved.map(|r| names_match(r, comm, tokens)) {
            Some(Some(true)) => Some(true),
            Some(on_target) if on_link.is_none() => on_target,
            _ => on_link,
        }
    };
    // comm alone usually decides; exe and argv are read only when it does not.
    let quick = process_tokens(comm, None, None);
    if judge(&quick) == Some(true) {
        return (Some(true), quick);
    }
    let d = cx.snapshot.details(process);
    let all = process_tokens(comm, d.exe, d.cmdline);
    (judge(&all), all)
}

/// Reports a live process whose names share nothing with the pidfile's.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    // A process that holds the file's write lock, as only its daemon could (`locks`), is that
    // daemon whatever its name: a service whose pidfile is named after the service, not the program.
    // A supervised service's process is whatever its `run` script runs, under any name: whether it
    // is the supervisor's child decides (`supervised`).
    if entry.state() != State::Running || entry.facts.own_lock || entry.supervision.is_some() {
        return;
    }
    let Some(process) = entry.process.clone() else {
        return;
    };
    if let (Some(false), tokens) = verdict(cx, entry, &process) {
        let d = cx.snapshot.details(&process);
        let subject = entry.subject();
        entry.findings.push(
            Finding::new(
                NAME_MISMATCH,
                &subject,
                format!(
                    "PID {} is {}, which does not look like the daemon this file is named after",
                    process.pid(),
                    process.stat.comm
                ),
            )
            .with("pid", process.pid())
            .with("comm", process.stat.comm.clone())
            .with("exe", d.exe.as_ref().map(|e| e.display().to_string()))
            .with("cmdline", d.cmdline)
            .with("file_tokens", file_tokens(&entry.path))
            .with("process_tokens", tokens),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str, comm: &str, exe: Option<&str>, argv: &[&str]) -> Option<bool> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let t = process_tokens(comm, exe.map(Path::new), Some(&argv));
        names_match(Path::new(path), comm, &t)
    }

    /// Real daemons and the pidfiles they write match.
    #[test]
    fn real_daemons_match() {
        let cases: &[(&str, &str, Option<&str>, &[&str])] = &[
            (
                "/run/nginx.pid",
                "nginx",
                Some("/usr/sbin/nginx"),
                &["nginx: master process /usr/sbin/nginx"],
            ),
            (
                "/run/sshd.pid",
                "sshd",
                Some("/usr/sbin/sshd"),
                &["sshd: /usr/sbin/sshd -D [listener]"],
            ),
            (
                "/run/redis/redis-server.pid",
                "redis-server",
                Some("/usr/bin/redis-check-rdb"),
                &["/usr/bin/redis-server 127.0.0.1:6379"],
            ),
            ("/run/redis_6379.pid", "redis-server", None, &[]),
            (
                "/run/memcached/memcached.pid",
                "memcached",
                Some("/usr/bin/memcached"),
                &["/usr/bin/memcached", "-m", "64"],
            ),
            (
                "/var/lib/postgresql/15/main/postmaster.pid",
                "postgres",
                Some("/usr/lib/postgresql/15/bin/postgres"),
                &["/usr/lib/postgresql/15/bin/postgres", "-D"],
            ),
            (
                "/run/postgresql/15-main.pid",
                "postgres",
                Some("/usr/lib/postgresql/15/bin/postgres"),
                &[],
            ),
            (
                "/run/mysqld/mysqld.pid",
                "mariadbd",
                Some("/usr/sbin/mariadbd"),
                &["/usr/sbin/mariadbd"],
            ),
            (
                "/run/crond.pid",
                "cron",
                Some("/usr/sbin/cron"),
                &["/usr/sbin/cron", "-f"],
            ),
            (
                "/run/php/php8.2-fpm.pid",
                "php-fpm8.2",
                Some("/usr/sbin/php-fpm8.2"),
                &["php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"],
            ),
            (
                "/run/supervisord.pid",
                "supervisord",
                Some("/usr/bin/python3.11"),
                &["/usr/bin/python3", "/usr/bin/supervisord", "-n"],
            ),
            (
                "/run/gunicorn.pid",
                "python3",
                Some("/usr/bin/python3.11"),
                &["/usr/bin/python3", "/usr/local/bin/gunicorn", "app:app"],
            ),
            (
                "/run/unattended-upgrades.pid",
                "unattended-upgr",
                Some("/usr/bin/python3.11"),
                &[
                    "/usr/bin/python3",
                    "/usr/share/unattended-upgrades/unattended-upgrade-shutdown",
                ],
            ),
            ("/run/docker.pid", "dockerd", Some("/usr/bin/dockerd"), &[]),
            (
                "/run/apache2/apache2.pid",
                "apache2",
                Some("/usr/sbin/apache2"),
                &[],
            ),
            (
                "/run/httpd/httpd.pid",
                "httpd",
                Some("/usr/sbin/httpd"),
                &[],
            ),
            ("/run/chrony/chronyd.pid", "chronyd", None, &[]),
            ("/run/dhclient.eth0.pid", "dhclient", None, &[]),
            (
                "/var/spool/postfix/pid/master.pid",
                "master",
                Some("/usr/lib/postfix/sbin/master"),
                &[],
            ),
            ("/run/openvpn/server.pid", "openvpn", None, &[]),
            ("/run/atd.pid", "atd", None, &[]),
        ];
        for (path, comm, exe, argv) in cases {
            assert_eq!(m(path, comm, *exe, argv), Some(true), "{path} vs {comm}");
        }
    }

    /// A pidfile naming an unrelated process does not match.
    #[test]
    fn unrelated_processes_do_not_match() {
        assert_eq!(
            m("/run/nginx.pid", "bash", Some("/usr/bin/bash"), &["bash"]),
            Some(false)
        );
        assert_eq!(
            m(
                "/run/redis.pid",
                "sleep",
                Some("/usr/bin/sleep"),
                &["sleep", "1000"]
            ),
            Some(false)
        );
        assert_eq!(m("/run/sshd.pid", "kworker/0:1", None, &[]), Some(false));
    }

    fn strict(path: &str, comm: &str, exe: Option<&str>, argv: &[&str]) -> bool {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        strictly_named(
            &name_tokens(Path::new(path)),
            comm,
            exe.map(Path::new),
            Some(&argv),
        )
    }

    /// The orphan rule finds real daemons by their pidfile's name, and nothing that merely resembles it.
    #[test]
    fn orphan_rule() {
        assert!(strict(
            "/run/nginx.pid",
            "nginx",
            Some("/usr/sbin/nginx"),
            &["nginx: master process"]
        ));
        assert!(strict(
            "/run/redis/redis-server.pid",
            "redis-server",
            Some("/usr/bin/redis-check-rdb"),
            &[]
        ));
        assert!(strict(
            "/run/memcached/memcached.pid",
            "memcached",
            Some("/usr/bin/memcached"),
            &[]
        ));
        assert!(strict("/run/postgresql/15-main.pid", "postgres", None, &[]));
        assert!(strict("/run/sshd.pid", "sshd", Some("/usr/sbin/sshd"), &[]));
        assert!(strict(
            "/run/php/php8.2-fpm.pid",
            "php-fpm8.2",
            Some("/usr/sbin/php-fpm8.2"),
            &[]
        ));
        assert!(strict(
            "/run/gunicorn.pid",
            "python3",
            Some("/usr/bin/python3.11"),
            &["python3", "/usr/local/bin/gunicorn", "app:app"]
        ));
        // Prefixes, argv[0] and partial names are not enough.
        assert!(!strict(
            "/run/redis/redis-server.pid",
            "redis-sentinel",
            None,
            &[]
        ));
        assert!(!strict(
            "/run/nginx.pid",
            "bash",
            Some("/usr/bin/bash"),
            &["nginx: fake"]
        ));
        assert!(!strict(
            "/run/dhclient.eth0.pid",
            "dhclient",
            Some("/usr/sbin/dhclient"),
            &[]
        ));
        assert!(!strict("/run/mem.pid", "memcached", None, &[]));
        assert!(!strict("/run/pid", "anything", None, &[]));
        assert!(!strict("/run/main.pid", "main", None, &[]));
        // The comm pre-filter lets through everything the full rule could accept.
        let n = name_tokens(Path::new("/run/gunicorn.pid"));
        assert!(comm_could_match(&n, "python3") && comm_could_match(&n, "gunicorn"));
        assert!(comm_could_match(&n, "unattended-upgr") && !comm_could_match(&n, "nginx"));
    }

    /// A file whose name says nothing (only generic words) is not judged.
    #[test]
    fn generic_names_are_not_judged() {
        assert_eq!(m("/run/pid", "anything", None, &[]), None);
        assert_eq!(m("/run/main.pid", "bash", None, &[]), None);
    }
}

//! The human report: grouped by pidfile, a one-line summary, colour only when asked or on a terminal.
//!
//! Every piece of text that came from the system (paths, process names, command lines, messages
//! that quote them, evidence) is written through [`text`]: control and bidirectional formatting
//! characters appear as `\xNN`, so a file or process name cannot move the cursor, clear the screen
//! or forge a report line.

use super::model::{Counts, LockReport, PidfileReport};
use super::{RunInfo, Sink};
use crate::config::{Config, Verbosity};
use crate::model::text::text;
use crate::model::{Finding, Severity, State};
use owo_colors::{OwoColorize, Style};
use std::io::Write;

struct Paint {
    on: bool,
    users: Users,
}

impl Paint {
    fn style(&self, text: &str, style: Style) -> String {
        if self.on {
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }

    fn severity(&self, s: Severity) -> String {
        let style = match s {
            Severity::Error => Style::new().red().bold(),
            Severity::Warning => Style::new().yellow().bold(),
            Severity::Unknown => Style::new().magenta(),
            Severity::Info => Style::new().blue(),
        };
        self.style(s.as_str(), style)
    }

    fn state(&self, s: State) -> String {
        let style = match s {
            State::Running => Style::new().green(),
            State::Stale | State::NotAFile | State::Missing => Style::new().yellow(),
            State::Down => Style::new().blue(),
            State::Zombie | State::Reused | State::Invalid => Style::new().red(),
            State::Unreadable | State::Unknown => Style::new().magenta(),
        };
        self.style(s.as_str(), style)
    }
}

/// The human report as a sink: each pidfile is written as it arrives, the findings about no
/// single pidfile and the summary at the end.
pub struct Human<'a> {
    config: &'a Config,
    paint: Paint,
    counts: Counts,
    other: Vec<Finding>,
}

impl<'a> Human<'a> {
    pub fn new(config: &'a Config) -> Human<'a> {
        Human {
            config,
            paint: Paint {
                on: config.color,
                users: Users::new(config),
            },
            counts: Counts::default(),
            other: Vec::new(),
        }
    }
}

/// User names from the system's user database, next to uid numbers. Only for the live `/proc`: the
/// uids of another `/proc` (`--proc-root`) are another machine's.
struct Users(super::model::UserNames);

impl Users {
    fn new(config: &Config) -> Users {
        Users(super::model::UserNames::new(
            config.proc_root == std::path::Path::new("/proc"),
        ))
    }

    /// `1000 (alice)`, or the number alone when the name is unknown.
    fn uid(&self, uid: u32) -> String {
        match self.0.name(uid) {
            Some(n) => format!("{uid} ({n})"),
            None => uid.to_string(),
        }
    }
}

/// How one evidence value reads: timestamps (keys ending in `time`, `mtime`, `started_after`) in
/// RFC 3339 after the number, uids (`uid`, `*_uid`) with the user's name.
fn evidence_value(users: &Users, key: &str, v: &serde_json::Value) -> String {
    let is_time = key.ends_with("time") || key.ends_with("mtime") || key == "started_after";
    let is_uid = key == "uid" || key.ends_with("_uid");
    match v.as_f64() {
        Some(t) if is_time && t > 0.0 => {
            format!("{v} ({})", crate::util::time::rfc3339(t))
        }
        _ if is_uid => match v.as_u64().and_then(|u| u32::try_from(u).ok()) {
            Some(uid) => users.uid(uid),
            None => text(&v.to_string()),
        },
        _ => text(&v.to_string()),
    }
}

impl Sink for Human<'_> {
    fn pidfile(&mut self, p: PidfileReport, out: &mut dyn Write) -> std::io::Result<()> {
        self.counts.pidfile(&p);
        // Quiet: only what needs a look (a warning, an error, or something that could not be
        // judged); the summary still counts everything.
        if self.config.verbosity == Verbosity::Quiet
            && !p.findings.iter().any(|f| f.severity > Severity::Info)
        {
            return Ok(());
        }
        pidfile(&self.paint, self.config, &p, out)
    }

    fn finding(&mut self, f: Finding, _: &mut dyn Write) -> std::io::Result<()> {
        self.counts.finding(&f);
        self.other.push(f);
        Ok(())
    }

    fn finish(&mut self, _: &RunInfo, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.other.is_empty() {
            writeln!(
                out,
                "{}",
                self.paint.style("other findings", Style::new().bold())
            )?;
            for f in &self.other {
                finding(&self.paint, self.config, f, out)?;
            }
        }
        summary(&self.paint, &self.counts, out)
    }
}

fn pidfile(
    paint: &Paint,
    config: &Config,
    p: &PidfileReport,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    write!(
        out,
        "{}: {}",
        paint.style(&text(&p.path), Style::new().bold()),
        paint.state(p.state)
    )?;
    if let Some(pid) = p.pid {
        write!(out, ", PID {pid}")?;
    }
    if let Some(proc) = &p.process {
        write!(out, " ({})", text(&proc.name))?;
    }
    writeln!(out)?;
    if !p.pids.is_empty() {
        let listed: Vec<String> = p
            .pids
            .iter()
            .map(|l| match &l.comm {
                Some(c) => format!("{} {} ({})", l.pid, l.verdict, text(c)),
                None => format!("{} {}", l.pid, l.verdict),
            })
            .collect();
        writeln!(out, "    pids: {}", listed.join(", "))?;
    }
    if let Some(sv) = &p.supervised {
        supervised_line(sv, out)?;
    }
    if let Some(unit) = &p.unit {
        writeln!(out, "    unit: {} (PIDFile=)", text(unit))?;
    }
    if config.verbosity == Verbosity::Verbose {
        if let Some(proc) = &p.process {
            let user = proc
                .uid
                .map(|u| paint.users.uid(u))
                .unwrap_or_else(|| "?".into());
            let exe = text(proc.exe.as_deref().unwrap_or("?"));
            // The comm, when the process is named by the script it runs.
            let comm = if proc.name == proc.comm {
                String::new()
            } else {
                format!(", comm {}", text(&proc.comm))
            };
            writeln!(
                out,
                "    process: ppid {}, uid {user}, state {}{comm}, exe {exe}",
                proc.ppid,
                text(&proc.state),
            )?;
            if let Some(argv) = proc.cmdline.as_ref().filter(|a| !a.is_empty()) {
                writeln!(out, "    cmdline: {}", text(&argv.join(" ")))?;
            }
        }
        if let Some(lock) = &p.lock {
            lock_line(lock, out)?;
        }
    }
    for f in &p.findings {
        finding(paint, config, f, out)?;
    }
    Ok(())
}

/// What the supervisor says, in the words of its status command.
fn supervised_line(
    sv: &crate::checks::supervised::ServiceFacts,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut parts: Vec<String> = Vec::new();
    let who = sv.supervisor.map_or("supervisor unknown", |s| s.as_str());
    parts.push(format!("{who} service {}", text(&sv.service)));
    if let Some(phase) = sv.phase {
        let mut s = phase.as_str().to_string();
        if let Some(secs) = sv.for_secs {
            s.push_str(&format!(" {secs:.0} s"));
        }
        parts.push(s);
    }
    if let Some(want) = sv.want {
        parts.push(format!("want {want}"));
    }
    if sv.paused {
        parts.push("paused".into());
    }
    match sv.normally_up {
        Some(true) => parts.push("normally up".into()),
        Some(false) => parts.push("normally down".into()),
        None => {}
    }
    match (sv.supervisor_alive, sv.supervisor_pid) {
        (Some(true), Some(pid)) => parts.push(format!("supervisor PID {pid}")),
        (Some(false), _) => parts.push("supervisor not running".into()),
        _ => parts.push("supervisor unknown".into()),
    }
    write!(out, "    supervised: {}", parts.join(", "))?;
    if let Some(c) = &sv.control {
        write!(out, "; restart: {}", text(c))?;
    }
    writeln!(out)
}

fn lock_line(lock: &LockReport, out: &mut dyn Write) -> std::io::Result<()> {
    if !lock.locked {
        return writeln!(out, "    lock: none");
    }
    let holders: Vec<String> = lock
        .holders
        .iter()
        .map(|h| match h.fd {
            Some(fd) => format!("{} ({}) fd {fd}", h.pid, text(&h.comm)),
            None => format!("{} ({})", h.pid, text(&h.comm)),
        })
        .collect();
    let held = if holders.is_empty() {
        "holder not found".to_string()
    } else {
        format!("held by {}", holders.join(", "))
    };
    write!(
        out,
        "    lock: {} {}, {held}",
        lock.mode.unwrap_or("?"),
        lock.kind.unwrap_or("?")
    )?;
    if let Some(pid) = lock.reported_pid {
        write!(out, "; /proc/locks names {pid}")?;
    }
    if !lock.waiters.is_empty() {
        write!(out, "; {} waiting", lock.waiters.len())?;
    }
    writeln!(out)
}

fn finding(
    paint: &Paint,
    config: &Config,
    f: &Finding,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "  {}[{}]: {}",
        paint.severity(f.severity),
        f.code,
        text(&f.message)
    )?;
    if config.verbosity == Verbosity::Verbose {
        for (k, v) in &f.evidence {
            // A user's name the report added shows beside its uid.
            let beside = super::model::uid_key(k)
                .and_then(|u| f.evidence.get(u))
                .and_then(|u| u32::try_from(u.as_u64()?).ok())
                .and_then(|u| paint.users.0.name(u));
            if beside.is_some() && beside.as_deref() == v.as_str() {
                continue;
            }
            writeln!(out, "      {k}: {}", evidence_value(&paint.users, k, v))?;
        }
    }
    Ok(())
}

fn summary(paint: &Paint, counts: &Counts, out: &mut dyn Write) -> std::io::Result<()> {
    let n = counts.pidfiles;
    let states: Vec<String> = counts
        .by_state
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(s, c)| format!("{c} {s}"))
        .collect();
    let sev = &counts.by_severity;
    let findings: Vec<String> = Severity::ALL
        .iter()
        .filter(|s| sev.get(s.as_str()).copied().unwrap_or(0) > 0)
        .map(|s| {
            let c = sev[s.as_str()];
            let word = match (s, c) {
                (Severity::Error, 1) => "error".to_string(),
                (Severity::Warning, 1) => "warning".to_string(),
                (Severity::Error | Severity::Warning, _) => format!("{}s", s.as_str()),
                _ => s.as_str().to_string(),
            };
            format!("{c} {}", paint.severity_word(*s, &word))
        })
        .collect();
    let files = if n == 1 { "pidfile" } else { "pidfiles" };
    let mut line = format!("{n} {files}");
    if !states.is_empty() {
        line.push_str(&format!(" ({})", states.join(", ")));
    }
    if findings.is_empty() {
        line.push_str(": no findings");
    } else {
        line.push_str(&format!(": {}", findings.join(", ")));
    }
    writeln!(out, "{line}")
}

impl Paint {
    fn severity_word(&self, s: Severity, word: &str) -> String {
        let style = match s {
            Severity::Error => Style::new().red().bold(),
            Severity::Warning => Style::new().yellow().bold(),
            Severity::Unknown => Style::new().magenta(),
            Severity::Info => Style::new().blue(),
        };
        self.style(word, style)
    }
}

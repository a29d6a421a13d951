//! What `pidaudit watch` prints: one line per event (human), or one JSON object per line (JSON
//! lines, schema in `schema/pidaudit-watch.schema.json`); and the watch's counters appended to the
//! Prometheus exposition served at `/metrics`.

use crate::model::text;
use crate::watch::{Event, Kind, Stats};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write;

/// Bumped on every incompatible change of an event line's shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Line<'a> {
    schema_version: u32,
    #[serde(flatten)]
    event: &'a Event,
}

/// One event as one line of JSON.
pub fn json(e: &Event, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer(
        &mut *out,
        &Line {
            schema_version: SCHEMA_VERSION,
            event: e,
        },
    )?;
    out.write_all(b"\n")
}

/// One event as one line for people: time, event, then what it is about.
pub fn human(e: &Event, out: &mut dyn Write) -> std::io::Result<()> {
    let mut line = format!(
        "{} {:<17}",
        humantime::format_rfc3339_millis(e.time),
        e.event.as_str()
    );
    if let Some(path) = &e.path {
        let _ = write!(line, " {path}");
    }
    if let (Some(code), Some(sev)) = (e.code, e.severity) {
        let _ = write!(line, " [{} {}]", sev.as_str(), code.as_str());
    }
    // Messages carry escaped names already; a control character left in one ends no line here.
    let _ = write!(line, " {}", text::text(&e.message));
    writeln!(out, "{line}")
}

/// The watch's own metrics, appended to the scan's exposition: counters of events and audits,
/// and what is watched.
pub fn metrics(stats: &Stats) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# HELP pidaudit_watch_events_total Events pidaudit watch emitted, by event."
    );
    let _ = writeln!(t, "# TYPE pidaudit_watch_events_total counter");
    for kind in Kind::ALL {
        let n = stats.events.get(kind.as_str()).copied().unwrap_or(0);
        let _ = writeln!(
            t,
            "pidaudit_watch_events_total{{event=\"{}\"}} {n}",
            kind.as_str()
        );
    }
    let _ = writeln!(
        t,
        "# HELP pidaudit_watch_audits_total Full audits judged since the watch started."
    );
    let _ = writeln!(t, "# TYPE pidaudit_watch_audits_total counter");
    let _ = writeln!(t, "pidaudit_watch_audits_total {}", stats.audits);
    let _ = writeln!(
        t,
        "# HELP pidaudit_watch_intervals_total Interval checks, by outcome: quiet (nothing the events do not report had changed: no audit) or audited."
    );
    let _ = writeln!(t, "# TYPE pidaudit_watch_intervals_total counter");
    for (outcome, n) in [
        ("audited", stats.audited_intervals),
        ("quiet", stats.quiet_intervals),
    ] {
        let _ = writeln!(
            t,
            "pidaudit_watch_intervals_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    for (name, help, v) in [
        (
            "pidaudit_watch_directories",
            "Directories watched with inotify.",
            stats.watched_directories,
        ),
        (
            "pidaudit_watch_unwatched_directories",
            "Directories that could not be watched (audited every interval only).",
            stats.unwatched_directories,
        ),
        (
            "pidaudit_watch_daemons",
            "Daemons tracked with a pidfd.",
            stats.tracked_daemons,
        ),
        (
            "pidaudit_watch_untracked_daemons",
            "Daemons that could not be tracked (audited every interval only).",
            stats.untracked_daemons,
        ),
    ] {
        let _ = writeln!(t, "# HELP {name} {help}");
        let _ = writeln!(t, "# TYPE {name} gauge");
        let _ = writeln!(t, "{name} {v}");
    }
    t
}

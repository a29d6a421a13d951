//! Test support for the check families' unit tests: a default configuration, a context over an
//! in-memory snapshot ([`crate::system::fake`]), and entries for pidfiles that were never on disk
//! (their read outcome is set directly), so a check runs with no `/proc` and no files.

use super::{Cx, Entry};
use crate::config::{ColorChoice, Config, Options, OutputFormat};
use crate::model::Code;
use crate::pidfile::{FileFacts, FileKind, ReadOutcome};
use crate::system::fake::BOOT_TIME;
use crate::system::locks::makedev;
use crate::system::Snapshot;
use std::path::Path;

/// The device of every fake pidfile (`08:01` in `/proc/locks`).
pub fn dev() -> u64 {
    makedev(8, 1)
}

/// The configuration of a plain `pidaudit scan`.
pub fn config() -> Config {
    let options = Options {
        format: OutputFormat::Json,
        proc_root: "/fake/proc".into(),
        color: ColorChoice::Never,
        ..Options::default()
    };
    Config::new(&options, &super::lookup).expect("default options are valid")
}

pub fn cx<'a>(snapshot: &'a Snapshot, config: &'a Config) -> Cx<'a> {
    Cx {
        snapshot,
        config,
        trust: Default::default(),
        elsewhere: Vec::new(),
        files_elsewhere: Default::default(),
        root_dirs: Vec::new(),
    }
}

/// A root-owned regular file, mode 0644, one link, inode `ino` on [`dev`], last written `written`
/// seconds after boot.
pub fn file(ino: u64, written: i64) -> FileFacts {
    FileFacts {
        dev: dev(),
        ino,
        kind: FileKind::Regular,
        mode: 0o644,
        uid: 0,
        gid: 0,
        nlink: 1,
        size: 4,
        mtime: BOOT_TIME as i64 + written,
        mtime_nsec: 0,
    }
}

/// An entry for the pidfile at `path` whose read gave `read`.
pub fn entry(path: &str, read: ReadOutcome) -> Entry {
    let mut e = Entry::missing(Path::new(path));
    e.read = read;
    e
}

/// An entry for a regular pidfile at `path` holding `content`.
pub fn pidfile(path: &str, content: &str, facts: FileFacts) -> Entry {
    let mut facts = facts;
    facts.size = content.len() as u64;
    entry(
        path,
        ReadOutcome::Content {
            facts,
            bytes: content.as_bytes().to_vec(),
        },
    )
}

/// Every per-pidfile check on each entry, then the checks across entries (except the search for
/// replaced pidfiles, which looks at real directories) and the resolution rules.
pub fn judge(cx: &Cx<'_>, entries: &mut [Entry]) {
    for e in entries.iter_mut() {
        super::check_pidfile(cx, e);
    }
    super::check_entries(cx, entries);
    for e in entries.iter_mut() {
        super::resolve::finish(e);
    }
}

/// The codes of an entry's findings, in order.
pub fn codes(entry: &Entry) -> Vec<Code> {
    entry.findings.iter().map(|f| f.code).collect()
}

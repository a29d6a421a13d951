//! Undo: restoring what a `fix` run removed or rewrote, from its journal. Signals cannot be
//! undone: a stop is listed as `irreversible`.
//!
//! A rewritten file (a retrack) is restored when the path still holds what the run wrote (its
//! bytes): the old bytes are written over it in place (never empty in between), then its owner,
//! mode and mtime are set through the descriptor; anything else at the path refuses the restore.
//!
//! For each file the run removed (an `after` record with status `done`, or a `before` record with
//! no `after`: the run ended between the two) and that no earlier undo restored: the directory is
//! opened by its journaled absolute path one component at a time without following links and
//! must be the journaled directory (dev/inode); the file is created in it with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` (anything at the name, a link included, refuses the restore), gets
//! the journaled bytes, owner (`fchown`), mode (`fchmod`) and mtime (`futimens`), and the file and
//! the directory are fsynced. Each restore is appended to the run's journal file.

use super::journal::{timestamp, Journal, JournalError};
use super::safedir;
use rustix::fs::{Mode, OFlags, Timespec, Timestamps};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::SystemTime;

/// How restoring one journaled change ended.
#[derive(Clone, Debug, Serialize)]
pub struct Restore {
    pub target: String,
    /// `restored`, `refused`, or `nothing` (the change was skipped, or restored before).
    pub status: &'static str,
    pub message: String,
}

/// The outcome of an undo.
#[derive(Clone, Debug, Serialize)]
pub struct Undo {
    pub run: String,
    pub items: Vec<Restore>,
}

impl Undo {
    pub fn refused(&self) -> usize {
        self.items.iter().filter(|i| i.status == "refused").count()
    }
}

/// A run as `undo --list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run: String,
    pub started_at: Option<String>,
    pub removed: usize,
    pub rewritten: usize,
    /// Processes signalled (stops): cannot be undone.
    pub signalled: usize,
    pub skipped: usize,
    pub restored: usize,
    /// Changes begun with no outcome recorded (the run was interrupted).
    pub unfinished: usize,
}

/// Summaries of every run in the journal, oldest first.
pub fn list(journal: &Journal) -> Result<Vec<RunSummary>, JournalError> {
    let mut out = Vec::new();
    for id in journal.run_ids()? {
        let records = journal.read(&id)?;
        let s = state(&records);
        let started_at = records
            .iter()
            .find(|r| r["record"] == "run")
            .and_then(|r| r["started_at"].as_str().map(String::from));
        out.push(RunSummary {
            run: id,
            started_at,
            removed: s
                .iter()
                .filter(|c| c.status == Some("done") && c.action() == "remove")
                .count(),
            rewritten: s
                .iter()
                .filter(|c| {
                    c.status == Some("done")
                        && matches!(c.action(), "retrack" | "write" | "fix-permissions")
                })
                .count(),
            signalled: s
                .iter()
                .filter(|c| c.action() == "stop" && c.signalled())
                .count(),
            skipped: s.iter().filter(|c| c.status == Some("skipped")).count(),
            restored: s.iter().filter(|c| c.restored).count(),
            unfinished: s.iter().filter(|c| c.status.is_none()).count(),
        });
    }
    Ok(out)
}

/// One journaled change and what became of it.
struct Change<'a> {
    seq: u64,
    before: &'a Value,
    after: Option<&'a Value>,
    status: Option<&'static str>,
    restored: bool,
}

impl Change<'_> {
    fn action(&self) -> &str {
        self.before["action"].as_str().unwrap_or("remove")
    }

    /// Whether a stop sent a signal (or may have: the run ended before recording it).
    fn signalled(&self) -> bool {
        match self.after {
            Some(a) => a["signals"].as_array().is_some_and(|s| !s.is_empty()),
            None => true,
        }
    }
}

fn state(records: &[Value]) -> Vec<Change<'_>> {
    let mut changes: Vec<Change<'_>> = records
        .iter()
        .filter(|r| r["record"] == "before")
        .filter_map(|r| {
            Some(Change {
                seq: r["seq"].as_u64()?,
                before: r,
                after: None,
                status: None,
                restored: false,
            })
        })
        .collect();
    for r in records {
        let Some(seq) = r["seq"].as_u64() else {
            continue;
        };
        let Some(c) = changes.iter_mut().find(|c| c.seq == seq) else {
            continue;
        };
        match r["record"].as_str() {
            Some("after") => {
                c.after = Some(r);
                c.status = match r["status"].as_str() {
                    Some("done") => Some("done"),
                    Some("incomplete") => Some("incomplete"),
                    _ => Some("skipped"),
                }
            }
            Some("restored") => c.restored = true,
            _ => {}
        }
    }
    changes
}

/// Restores what run `id` (the last run when `None`) removed.
pub fn undo(journal: &Journal, id: Option<&str>) -> Result<Undo, JournalError> {
    let id = match id {
        Some(id) => id.to_string(),
        None => journal
            .run_ids()?
            .pop()
            .ok_or_else(|| JournalError(format!("no runs in {}", journal.path.display())))?,
    };
    let records = journal.read(&id)?;
    let mut items = Vec::new();
    let mut done = Vec::new();
    for c in state(&records) {
        let target = c.before["path"].as_str().unwrap_or("?").to_string();
        if c.action() == "stop" {
            let pid = c.before["process"]["pid"].as_u64().unwrap_or(0);
            items.push(Restore {
                target,
                status: if c.signalled() { "irreversible" } else { "nothing" },
                message: if c.signalled() {
                    format!("PID {pid} was signalled to stop: a signal cannot be undone; start the daemon again if it was needed")
                } else {
                    format!("PID {pid} was not signalled")
                },
            });
            continue;
        }
        if matches!(c.action(), "retrack" | "write") && c.status.is_none() {
            remove_leftover(c.before);
        }
        if matches!(c.action(), "fix-permissions" | "write")
            && !c.restored
            && c.status != Some("skipped")
        {
            let result = if c.action() == "write" {
                written_back(&c)
            } else {
                permissions_back(&c)
            };
            match result {
                Ok((dev, ino)) => {
                    done.push(restored_record(c.seq, dev, ino));
                    items.push(Restore {
                        target,
                        status: "restored",
                        message: if c.action() == "write" {
                            "the file the run wrote is removed again".into()
                        } else {
                            "its former owner and mode are back".into()
                        },
                    });
                }
                Err(msg) => items.push(Restore {
                    target,
                    status: "refused",
                    message: msg,
                }),
            }
            continue;
        }
        if c.action() == "retrack" && !c.restored && c.status != Some("skipped") {
            match rewrite_back(&c) {
                Ok(None) => items.push(Restore {
                    target,
                    status: "nothing",
                    message: "the run ended before rewriting it: it is unchanged".into(),
                }),
                Ok(Some((dev, ino))) => {
                    done.push(restored_record(c.seq, dev, ino));
                    items.push(Restore {
                        target,
                        status: "restored",
                        message: "rewritten back to its former bytes, owner, mode and mtime".into(),
                    });
                }
                Err(msg) => items.push(Restore {
                    target,
                    status: "refused",
                    message: msg,
                }),
            }
            continue;
        }
        if c.restored || c.status == Some("skipped") {
            items.push(Restore {
                target,
                status: "nothing",
                message: if c.restored {
                    "restored by an earlier undo".into()
                } else {
                    "the run did not change it".into()
                },
            });
            continue;
        }
        if c.status.is_none() && still_there(c.before) {
            items.push(Restore {
                target,
                status: "nothing",
                message: "the run ended before removing it: it is still there".into(),
            });
            continue;
        }
        match restore(c.before) {
            Ok((dev, ino)) => {
                done.push(restored_record(c.seq, dev, ino));
                items.push(Restore {
                    target,
                    status: "restored",
                    message: if c.status.is_none() {
                        "restored (the run ended before recording whether it removed it)".into()
                    } else {
                        "restored".into()
                    },
                });
            }
            Err(msg) => items.push(Restore {
                target,
                status: "refused",
                message: msg,
            }),
        }
    }
    if !done.is_empty() {
        journal.append(&id, &done)?;
    }
    Ok(Undo { run: id, items })
}

/// The journal record of one restore: the file now at the path.
fn restored_record(seq: u64, dev: u64, ino: u64) -> Value {
    json!({
        "record": "restored",
        "seq": seq,
        "dev": dev,
        "ino": ino,
        "at": timestamp(SystemTime::now()),
    })
}

/// Whether the journaled file itself (its dev/inode) still stands at its path.
fn still_there(rec: &Value) -> bool {
    let get = || -> Option<bool> {
        let dir = crate::model::text::unescape(rec["dir"].as_str()?)?;
        let name = crate::model::text::unescape(rec["name"].as_str()?)?;
        let dir =
            safedir::open_plain(std::path::Path::new(std::ffi::OsStr::from_bytes(&dir))).ok()?;
        let st = rustix::fs::statat(
            &dir,
            std::ffi::OsStr::from_bytes(&name),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .ok()?;
        let b = &rec["before"];
        Some(
            Some(st.st_dev as u64) == b["dev"].as_u64()
                && Some(st.st_ino as u64) == b["ino"].as_u64(),
        )
    };
    get().unwrap_or(false)
}

/// Recreates one journaled file; returns its new dev/inode.
fn restore(rec: &Value) -> Result<(u64, u64), String> {
    let field = |k: &str| {
        rec[k]
            .as_str()
            .ok_or_else(|| format!("journal record lacks {k}"))
    };
    let num = |v: &Value, k: &str| {
        v[k].as_u64()
            .ok_or_else(|| format!("journal record lacks {k}"))
    };
    let unescape = |s: &str, k: &str| {
        crate::model::text::unescape(s).ok_or_else(|| format!("journal record: bad {k}"))
    };
    let dir_path = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(
        field("dir")?,
        "dir",
    )?));
    let name = unescape(field("name")?, "name")?;
    let name = std::ffi::OsStr::from_bytes(&name);
    if name.is_empty() || name.as_bytes().contains(&b'/') || name == "." || name == ".." {
        return Err("journal record: bad name".into());
    }
    let b = &rec["before"];
    let content = unescape(
        b["content"]
            .as_str()
            .ok_or("journal record lacks content")?,
        "content",
    )?;
    let dir = safedir::open_plain(&dir_path)
        .map_err(|e| format!("{}: cannot open the directory: {e}", dir_path.display()))?;
    let st = rustix::fs::fstat(&dir).map_err(|e| format!("directory: fstat: {e}"))?;
    if (st.st_dev as u64, st.st_ino as u64) != (num(rec, "dir_dev")?, num(rec, "dir_ino")?) {
        return Err(format!(
            "{} is not the directory the file was removed from",
            dir_path.display()
        ));
    }
    let fd = match rustix::fs::openat(
        &dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::EXIST) => return Err("something exists at the path".into()),
        Err(e) => return Err(format!("create: {e}")),
    };
    let mtime = Timespec {
        tv_sec: b["mtime"].as_i64().ok_or("journal record lacks mtime")?,
        tv_nsec: num(b, "mtime_nsec")? as _,
    };
    let fill = || -> Result<(u64, u64), String> {
        let mut f = std::fs::File::from(fd.try_clone().map_err(|e| e.to_string())?);
        f.write_all(&content).map_err(|e| format!("write: {e}"))?;
        let uid = rustix::process::Uid::from_raw(num(b, "uid")? as u32);
        let gid = rustix::process::Gid::from_raw(num(b, "gid")? as u32);
        rustix::fs::fchown(&fd, Some(uid), Some(gid)).map_err(|e| format!("fchown: {e}"))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(num(b, "mode")? as u32 & 0o7777))
            .map_err(|e| format!("fchmod: {e}"))?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: now.as_secs() as _,
                tv_nsec: now.subsec_nanos() as _,
            },
            last_modification: mtime,
        };
        rustix::fs::futimens(&fd, &times).map_err(|e| format!("futimens: {e}"))?;
        rustix::fs::fsync(&fd).map_err(|e| format!("fsync: {e}"))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| format!("fstat: {e}"))?;
        Ok((st.st_dev as u64, st.st_ino as u64))
    };
    match fill() {
        Ok(ids) => {
            rustix::fs::fsync(&dir).map_err(|e| format!("fsync directory: {e}"))?;
            Ok(ids)
        }
        Err(e) => {
            // Never leave a half-restored file: the one we created O_EXCL a moment ago, if the
            // name still names it.
            let ours = rustix::fs::fstat(&fd).ok().map(|s| (s.st_dev, s.st_ino));
            let at = rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .ok()
                .map(|s| (s.st_dev, s.st_ino));
            if ours.is_some() && ours == at {
                let _ = rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty());
            }
            Err(e)
        }
    }
}

/// Writes a retracked file back to its journaled former state, when the path still holds what the
/// run wrote. `Ok(None)`: the run never changed it.
fn rewrite_back(c: &Change<'_>) -> Result<Option<(u64, u64)>, String> {
    let rec = c.before;
    let unescape = |v: &Value, k: &str| -> Result<Vec<u8>, String> {
        crate::model::text::unescape(
            v.as_str()
                .ok_or_else(|| format!("journal record lacks {k}"))?,
        )
        .ok_or_else(|| format!("journal record: bad {k}"))
    };
    let num = |v: &Value, k: &str| {
        v[k].as_u64()
            .ok_or_else(|| format!("journal record lacks {k}"))
    };
    let b = &rec["before"];
    let old = unescape(&b["content"], "content")?;
    let new = unescape(&rec["retrack"]["content"], "retrack content")?;
    let (dir, handle, facts, name) = open_journaled(rec)?;
    let name = name.as_os_str();
    let file = crate::pidfile::read::reopen(&handle, rustix::fd::AsFd::as_fd(&dir), name, &facts)
        .map_err(|e| format!("reopen: {e}"))?;
    let now = super::apply::read_all(&file).map_err(|e| format!("read: {e}"))?;
    let same_inode = Some(facts.dev) == b["dev"].as_u64() && Some(facts.ino) == b["ino"].as_u64();
    if c.status.is_none() && now == old && same_inode {
        return Ok(None);
    }
    // Killed between writing the new bytes over the old and truncating: the new bytes followed by
    // the old ones' tail.
    let torn = c.status.is_none()
        && same_inode
        && new.len() < old.len()
        && now.len() == old.len()
        && now.starts_with(&new)
        && now[new.len()..] == old[new.len()..];
    if now != new && !torn {
        return Err("the file changed since the run rewrote it: it is left as it is".into());
    }
    if let Some(a) = c.after.map(|a| &a["after"]) {
        if (a["dev"].as_u64(), a["ino"].as_u64()) != (Some(facts.dev), Some(facts.ino)) {
            return Err("another file stands at the path than the one the run wrote".into());
        }
    }
    let w = super::retrack::reopen_write(&handle)?;
    super::retrack::write_over(&w, &old)?;
    rustix::fs::fchown(
        &w,
        Some(rustix::process::Uid::from_raw(num(b, "uid")? as u32)),
        Some(rustix::process::Gid::from_raw(num(b, "gid")? as u32)),
    )
    .map_err(|e| format!("fchown: {e}"))?;
    rustix::fs::fchmod(&w, Mode::from_raw_mode(num(b, "mode")? as u32 & 0o7777))
        .map_err(|e| format!("fchmod: {e}"))?;
    let mtime = Timespec {
        tv_sec: b["mtime"].as_i64().ok_or("journal record lacks mtime")?,
        tv_nsec: num(b, "mtime_nsec")? as _,
    };
    let times = Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    rustix::fs::futimens(&w, &times).map_err(|e| format!("futimens: {e}"))?;
    rustix::fs::fsync(&w).map_err(|e| format!("fsync: {e}"))?;
    Ok(Some((facts.dev, facts.ino)))
}

/// The journaled directory (opened by its absolute path without following a link, and checked to
/// be the journaled dev/inode) and an `O_PATH|O_NOFOLLOW` handle of the journaled name in it, with
/// its `fstat` facts and the name.
fn open_journaled(
    rec: &Value,
) -> Result<
    (
        rustix::fd::OwnedFd,
        rustix::fd::OwnedFd,
        crate::pidfile::FileFacts,
        std::ffi::OsString,
    ),
    String,
> {
    let unescape = |k: &str| -> Result<Vec<u8>, String> {
        crate::model::text::unescape(
            rec[k]
                .as_str()
                .ok_or_else(|| format!("journal record lacks {k}"))?,
        )
        .ok_or_else(|| format!("journal record: bad {k}"))
    };
    let num = |k: &str| {
        rec[k]
            .as_u64()
            .ok_or_else(|| format!("journal record lacks {k}"))
    };
    let dir_path = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape("dir")?));
    let name = std::ffi::OsStr::from_bytes(&unescape("name")?).to_os_string();
    if name.is_empty() || name.as_bytes().contains(&b'/') || name == "." || name == ".." {
        return Err("journal record: bad name".into());
    }
    let dir = safedir::open_plain(&dir_path)
        .map_err(|e| format!("{}: cannot open the directory: {e}", dir_path.display()))?;
    let st = rustix::fs::fstat(&dir).map_err(|e| format!("directory: fstat: {e}"))?;
    if (st.st_dev as u64, st.st_ino as u64) != (num("dir_dev")?, num("dir_ino")?) {
        return Err(format!(
            "{} is not the directory the run changed",
            dir_path.display()
        ));
    }
    let handle = rustix::fs::openat(
        &dir,
        &name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOENT => "nothing stands at the path".to_string(),
        e => format!("open: {e}"),
    })?;
    let facts = crate::pidfile::FileFacts::from_stat(
        &rustix::fs::fstat(&handle).map_err(|e| format!("fstat: {e}"))?,
    );
    // Only a regular file is ever reopened (a FIFO or a device is never opened).
    if facts.kind != crate::pidfile::FileKind::Regular {
        return Err(format!("now a {}", facts.kind.describe()));
    }
    Ok((dir, handle, facts, name))
}

/// Gives a file whose permissions a run fixed its former owner and mode back, when it is still
/// the same inode with the owner and mode the run left.
fn permissions_back(c: &Change<'_>) -> Result<(u64, u64), String> {
    let b = &c.before["before"];
    let after = c
        .after
        .map(|a| &a["after"]["permissions"])
        .ok_or("the run ended before recording whether it changed it")?;
    let (dir, handle, facts, name) = open_journaled(c.before)?;
    if (Some(facts.dev), Some(facts.ino)) != (b["dev"].as_u64(), b["ino"].as_u64()) {
        return Err("another file stands at the path".into());
    }
    if (
        Some(facts.uid as u64),
        Some(facts.gid as u64),
        Some((facts.mode & 0o7777) as u64),
    ) != (
        after["uid"].as_u64(),
        after["gid"].as_u64(),
        after["mode"].as_u64(),
    ) {
        return Err("its owner or mode changed since the run: it is left as it is".into());
    }
    let file = crate::pidfile::read::reopen(&handle, rustix::fd::AsFd::as_fd(&dir), &name, &facts)
        .map_err(|e| format!("reopen: {e}"))?;
    let get = |k: &str| {
        b[k].as_u64()
            .ok_or_else(|| format!("journal record lacks {k}"))
    };
    rustix::fs::fchown(
        &file,
        Some(rustix::process::Uid::from_raw(get("uid")? as u32)),
        Some(rustix::process::Gid::from_raw(get("gid")? as u32)),
    )
    .map_err(|e| format!("fchown: {e}"))?;
    rustix::fs::fchmod(&file, Mode::from_raw_mode(get("mode")? as u32 & 0o7777))
        .map_err(|e| format!("fchmod: {e}"))?;
    rustix::fs::fsync(&file).map_err(|e| format!("fsync: {e}"))?;
    Ok((facts.dev, facts.ino))
}

/// Removes a pidfile a run wrote, when the path still holds that very file with its bytes.
fn written_back(c: &Change<'_>) -> Result<(u64, u64), String> {
    let after = c
        .after
        .map(|a| &a["after"])
        .ok_or("the run ended before recording whether it wrote it")?;
    let (dir, handle, facts, name) = open_journaled(c.before)?;
    if (Some(facts.dev), Some(facts.ino)) != (after["dev"].as_u64(), after["ino"].as_u64()) {
        return Err("another file stands at the path than the one the run wrote".into());
    }
    let file = crate::pidfile::read::reopen(&handle, rustix::fd::AsFd::as_fd(&dir), &name, &facts)
        .map_err(|e| format!("reopen: {e}"))?;
    let now = super::apply::read_all(&file).map_err(|e| format!("read: {e}"))?;
    let wrote = after["content"]
        .as_str()
        .and_then(crate::model::text::unescape)
        .ok_or("journal record lacks content")?;
    if now != wrote {
        return Err("the file changed since the run wrote it: it is left as it is".into());
    }
    rustix::fs::unlinkat(&dir, &name, rustix::fs::AtFlags::empty())
        .map_err(|e| format!("unlink: {e}"))?;
    let _ = rustix::fs::fsync(&dir);
    Ok((facts.dev, facts.ino))
}

/// Removes the temporary file a run killed between creating it and renaming it into place left in
/// the journaled directory (its journaled name, a regular file of at most a pidfile's size).
fn remove_leftover(rec: &Value) {
    let Some(tmp) = rec["retrack"]["tmp"]
        .as_str()
        .and_then(crate::model::text::unescape)
    else {
        return;
    };
    let tmp = std::ffi::OsStr::from_bytes(&tmp);
    if !tmp.as_bytes().starts_with(b".") || tmp.as_bytes().contains(&b'/') {
        return;
    }
    let Some(dir) = rec["dir"]
        .as_str()
        .and_then(crate::model::text::unescape)
        .and_then(|d| {
            safedir::open_plain(std::path::Path::new(std::ffi::OsStr::from_bytes(&d))).ok()
        })
    else {
        return;
    };
    let same_dir = rustix::fs::fstat(&dir).ok().is_some_and(|st| {
        Some(st.st_dev as u64) == rec["dir_dev"].as_u64()
            && Some(st.st_ino as u64) == rec["dir_ino"].as_u64()
    });
    let Ok(st) = rustix::fs::statat(&dir, tmp, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) else {
        return;
    };
    let regular =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
    if same_dir && regular && st.st_size as usize <= crate::pidfile::READ_CAP {
        let _ = rustix::fs::unlinkat(&dir, tmp, rustix::fs::AtFlags::empty());
    }
}

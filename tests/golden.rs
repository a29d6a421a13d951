//! Golden tests on fake `/proc` trees (`fixtures/proc/<scenario>/`): deterministic JSON and human
//! reports compared with the expected files committed next to each scenario.
//!
//! A scenario directory is the `--proc-root` (`stat` with `btime`, `sys/kernel/pid_max`, `PID/stat`,
//! `PID/status`, `PID/cmdline`, `PID/exe`; a thread is a `TID -> TGID/task/TID` symlink, listed by
//! no readdir as in the real `/proc`) and also holds `pidfiles/` (copied to a temporary
//! `var/run/`), `mtimes` (the modification times the copies get), an optional `args` file (more
//! arguments) and the expected outputs `expected.json` and `expected.txt`.
//!
//! `PIDAUDIT_BLESS=1 cargo test --test golden` rewrites the expected files from the actual output;
//! review the diff before committing it.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PLACEHOLDER: &str = "$PIDFILES";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proc")
}

/// Reads a fixture list file: one entry a line, `#` comments.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Copies `src` into `dst` (files, directories, symlinks as links) with fixed permissions.
fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    chmod(dst, 0o755);
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let ft = entry.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
        } else if ft.is_dir() {
            copy_tree(&from, &to);
        } else {
            std::fs::copy(&from, &to).unwrap();
            chmod(&to, 0o644);
        }
    }
}

/// Sets the mtime (and atime) of every entry under `root`, links included, from the `mtimes` list:
/// `RELPATH SECONDS`, with `* SECONDS` the default.
fn set_mtimes(root: &Path, spec: &[String]) {
    let mut default = None;
    let mut times = BTreeMap::new();
    for line in spec {
        let (path, secs) = line.split_once(' ').expect("RELPATH SECONDS");
        let secs: i64 = secs.trim().parse().unwrap();
        if path == "*" {
            default = Some(secs);
        } else {
            times.insert(root.join(path), secs);
        }
    }
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.symlink_metadata().unwrap().is_dir() {
                walk(&p, out);
            }
            out.push(p);
        }
    }
    let mut all = Vec::new();
    walk(root, &mut all);
    for p in &times {
        assert!(
            all.contains(p.0),
            "mtimes names {} which is not a pidfile",
            p.0.display()
        );
    }
    for p in all {
        let secs = times
            .get(&p)
            .copied()
            .or(default)
            .unwrap_or_else(|| panic!("no mtime for {}", p.display()));
        let ts = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            &p,
            &ts,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
}

/// Replaces what differs between runs and machines: the temporary path, times, host, version.
fn normalize_json(v: &mut serde_json::Value, tmp: &str) {
    use serde_json::Value;
    match v {
        Value::String(s) => *s = s.replace(tmp, PLACEHOLDER),
        Value::Array(a) => a.iter_mut().for_each(|x| normalize_json(x, tmp)),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match k.as_str() {
                    "generated_at" => *x = "GENERATED_AT".into(),
                    "duration_ms" => *x = 0.into(),
                    "host" => *x = "HOST".into(),
                    _ => normalize_json(x, tmp),
                }
            }
            if let Some(tool) = o.get_mut("tool") {
                tool["version"] = "VERSION".into();
            }
        }
        _ => {}
    }
}

/// Zeroes what identifies the copied file on this machine: device, inode, owner, directory size.
fn normalize_file(doc: &mut serde_json::Value) {
    for e in doc["pidfiles"].as_array_mut().unwrap() {
        if let Some(f) = e.get_mut("file").filter(|f| f.is_object()) {
            for k in ["dev", "ino", "uid", "gid"] {
                f[k] = 0.into();
            }
            // A directory's size depends on the filesystem.
            if f["kind"] == "directory" {
                f["size"] = 0.into();
            }
        }
    }
}

struct Outcome {
    json: String,
    human: String,
}

fn run_scenario(name: &str) -> Outcome {
    let scenario = fixtures().join(name);
    let tmp = tempfile::tempdir().unwrap();
    // Under var/run, whose names the name rule ignores, so the random temporary name cannot match.
    let pidfiles = tmp.path().join("var/run");
    copy_tree(&scenario.join("pidfiles"), &pidfiles);
    set_mtimes(&pidfiles, &lines(&scenario.join("mtimes")));
    let pidfiles_str = pidfiles.to_str().unwrap().to_string();
    let extra: Vec<String> = lines(&scenario.join("args"))
        .iter()
        .map(|a| a.replace(PLACEHOLDER, &pidfiles_str))
        .collect();
    let proc_root = scenario.to_str().unwrap().to_string();
    let mut args = vec!["--proc-root", &proc_root, &pidfiles_str];
    args.extend(extra.iter().map(String::as_str));

    // `--verbose`: every process detail the fixtures hold is shown.
    let mut json_args = vec!["--format", "json", "--verbose"];
    json_args.extend(&args);
    let r = run(&json_args);
    assert!(
        r.code == 0 || r.code == 1,
        "{name}: exit {}: {}",
        r.code,
        r.stderr
    );
    assert!(r.stderr.is_empty(), "{name}: {}", r.stderr);
    let mut doc = r.json();
    normalize_file(&mut doc);
    normalize_json(&mut doc, &pidfiles_str);
    let json = serde_json::to_string_pretty(&doc).unwrap() + "\n";

    let mut human_args = vec!["--verbose", "--color", "never"];
    human_args.extend(&args);
    let h = run(&human_args);
    assert_eq!(
        h.code, r.code,
        "{name}: the format does not change the exit status"
    );
    Outcome {
        json,
        human: h.stdout.replace(&pidfiles_str, PLACEHOLDER),
    }
}

fn compare(name: &str, file: &str, actual: &str) {
    let path = fixtures().join(name).join(file);
    if std::env::var_os("PIDAUDIT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with PIDAUDIT_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("golden-{name}-{file}"));
        std::fs::write(&out, actual).unwrap();
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the actual output (written to {}) first at line {}:\n  expected: {:?}\n  actual:   {:?}\nIf the change is intended, rerun with PIDAUDIT_BLESS=1 and review the diff.",
            path.display(),
            out.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

/// The codes (and their states) an expected document holds, per pidfile name.
fn codes_by_file(doc: &serde_json::Value) -> BTreeMap<String, (String, Vec<String>)> {
    doc["pidfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let path = e["path"].as_str().unwrap();
            let rel = path
                .strip_prefix(&format!("{PLACEHOLDER}/"))
                .unwrap_or(path)
                .to_string();
            (rel, (e["state"].as_str().unwrap().to_string(), codes(e)))
        })
        .collect()
}

/// The host scenario (a systemd machine) produces exactly the committed JSON and human reports.
#[test]
fn golden_host() {
    let out = run_scenario("host");
    compare("host", "expected.json", &out.json);
    compare("host", "expected.txt", &out.human);
}

/// The container scenario (nginx is PID 1) produces exactly the committed JSON and human reports.
#[test]
fn golden_container() {
    let out = run_scenario("container");
    compare("container", "expected.json", &out.json);
    compare("container", "expected.txt", &out.human);
}

/// The committed host expectations say what each fixture pidfile is for: one verdict per file, and
/// every code of the core families (content, liveness, target, name) that a fake /proc can produce
/// appears (hidden-process needs a live /proc and pidfd;
/// unreadable needs an unprivileged run: both are covered by the real-process tests).
#[test]
fn host_expectations_cover_every_code() {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("host/expected.json")).unwrap(),
    )
    .unwrap();
    let by_file = codes_by_file(&doc);
    let want: &[(&str, &str, &[&str])] = &[
        ("absent.pid", "missing", &["missing-pidfile"]),
        // uid 1000's python3: no orphan of a root-owned file.
        ("app.pid", "invalid", &["thread-id"]),
        ("cron.pid", "stale", &["stale"]),
        ("dir.pid", "not-a-file", &["not-a-file"]),
        ("empty.pid", "invalid", &["empty"]),
        ("foo.pid", "invalid", &["targets-init"]),
        ("garbage.pid", "invalid", &["malformed"]),
        ("garbled.pid", "unknown", &["process-unknown"]),
        ("huge.pid", "invalid", &["invalid-pid"]),
        ("kthread.pid", "invalid", &["kernel-thread"]),
        ("link.pid", "running", &["symlink"]),
        ("memcached/memcached.pid", "zombie", &["zombie"]),
        ("negative.pid", "invalid", &["invalid-pid"]),
        ("nginx.pid", "running", &[]),
        ("old.pid", "stale", &["previous-boot", "stale"]),
        ("postgresql/15/main/postmaster.pid", "running", &[]),
        (
            "several.pid",
            "running",
            &[
                "nonstandard-format",
                "listed-pid-not-running",
                "name-mismatch",
            ],
        ),
        ("redis/redis-server.pid", "running", &["name-mismatch"]),
        ("sshd.pid", "reused", &["pid-reused"]),
        ("supervisord.pid", "running", &[]),
        (
            "two-lines.pid",
            "running",
            &["nonstandard-format", "name-mismatch"],
        ),
        ("workerd.pid", "running", &["main-thread-exited"]),
        ("x.pid", "invalid", &["targets-init"]),
        ("zero.pid", "invalid", &["invalid-pid"]),
    ];
    let want_map: BTreeMap<String, (String, Vec<String>)> = want
        .iter()
        .map(|(f, s, c)| {
            (
                f.to_string(),
                (s.to_string(), c.iter().map(|c| c.to_string()).collect()),
            )
        })
        .collect();
    assert_eq!(by_file, want_map);
    let seen: std::collections::BTreeSet<&str> = want
        .iter()
        .flat_map(|(_, _, c)| c.iter().copied())
        .collect();
    // The core families judge a pidfile and its process from /proc alone; locks, instances, trust
    // and deploy have real-process suites of their own (tests/locks.rs has a fake-/proc case too).
    use pidaudit::checks::{content, liveness, name, target};
    for doc in [content::CODES, liveness::CODES, target::CODES, name::CODES]
        .into_iter()
        .flatten()
    {
        let code = doc.as_str();
        // Only an unprivileged audit of the live system meets these (tests/hostile.rs,
        // tests/visibility.rs).
        if ["hidden-process", "unreadable", "not-visible"].contains(&code) {
            continue;
        }
        assert!(seen.contains(code), "no fixture produces {code}");
    }
}

/// In a container whose daemon is PID 1, a file named after it is clean, a file whose name says
/// nothing still targets init, and a file with a generic name is not judged by name.
#[test]
fn container_expectations() {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("container/expected.json")).unwrap(),
    )
    .unwrap();
    let by_file = codes_by_file(&doc);
    assert_eq!(by_file["nginx.pid"], ("running".into(), vec![]));
    assert_eq!(
        by_file["x.pid"],
        ("invalid".into(), vec!["targets-init".into()])
    );
    assert_eq!(by_file["worker.pid"].0, "running");
}

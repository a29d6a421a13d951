//! Helpers of the repair tests: `fix` and `undo` runs, their JSON outcomes, and in-process plans
//! (so a test can change the world between the plan and the apply of one action).

use super::*;
use pidaudit::config::{ColorChoice, Config, Options};
use serde_json::Value;
use std::path::Path;

pub fn fix(args: &[&str]) -> Run {
    run(&[&["fix"], args].concat())
}

pub fn apply(journal: &Path, path: &Path) -> Run {
    fix(&[
        "--apply",
        "--yes",
        "--format",
        "json",
        "--journal",
        journal.to_str().unwrap(),
        path.to_str().unwrap(),
    ])
}

pub fn undo(journal: &Path, extra: &[&str]) -> Run {
    run(&[&["undo", "--journal", journal.to_str().unwrap()], extra].concat())
}

pub fn outcomes(doc: &Value) -> Vec<(String, String)> {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["target"].as_str().unwrap().to_string(),
                a["outcome"]["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

pub fn refused<'a>(doc: &'a Value, path: &Path) -> &'a Value {
    doc["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == path.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} not refused: {doc:#}", path.display()))
}

/// The plan of one path, judged in-process (so a test can change the world between the plan and
/// the apply of one action).
pub fn planned(path: &Path) -> pidaudit::commands::fix::Planned {
    let opts = Options {
        paths: vec![path.to_path_buf()],
        color: ColorChoice::Never,
        ..Options::default()
    };
    let config = Config::new(&opts, &pidaudit::checks::lookup).unwrap();
    pidaudit::commands::fix::plan(&config)
}

/// Applies the plan's only action now, as `fix --apply` would.
pub fn remove_now(p: &pidaudit::commands::fix::Planned) -> Result<(), String> {
    assert_eq!(p.plan.actions.len(), 1, "{:#?}", p.plan);
    pidaudit::fix::apply::remove(&p.plan.actions[0], p.audit.snapshot.proc_dir().unwrap())
}

/// Starts `sleep` with exactly PID `pid` by setting `ns_last_pid` (root, this PID namespace),
/// retrying when another fork takes the PID first. Fails the test if it never gets it: a reuse
/// race that could not be staged is not a pass.
pub fn sleep_with_pid(pid: u32) -> std::process::Child {
    try_sleep_with_pid(pid).unwrap_or_else(|| panic!("could not give PID {pid} to a new process"))
}

fn try_sleep_with_pid(pid: u32) -> Option<std::process::Child> {
    for _ in 0..200 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let mut c = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        if c.id() == pid {
            return Some(c);
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    None
}

/// Checks a `fix --format json` document against `schema/pidaudit-fix.schema.json`.
pub fn assert_fix_schema(doc: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/pidaudit-fix.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// Runs `fix --apply` over `dir` and SIGKILLs it at random points, `PIDAUDIT_KILL_RUNS` times
/// (`runs` by default); after each kill, `undo` of the run (when it got far enough to have one)
/// must succeed, then `check` runs. Returns how many runs were undone.
pub fn kill_applies_and_undo(
    journal: &Path,
    dir: &Path,
    runs: u64,
    mut check: impl FnMut(),
) -> u64 {
    let runs = std::env::var("PIDAUDIT_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(runs);
    let mut seed = std::process::id() as u64;
    let mut undone = 0;
    for _ in 0..runs {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_micros((seed >> 33) % 50_000);
        let mut child = pidaudit()
            .args(["fix", "--apply", "--yes", "--journal"])
            .arg(journal)
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let list = undo(journal, &["--list"]);
        if !list.stdout.starts_with("no runs") {
            let u = undo(journal, &[]);
            assert_eq!(u.code, 0, "{}{}", u.stdout, u.stderr);
            undone += 1;
        }
        check();
    }
    eprintln!("{runs} killed applies, {undone} undone");
    undone
}

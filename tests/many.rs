//! Many pidfiles at once: the audit spreads reads, checks and process details over threads; every
//! verdict and every process detail must still land on its own pidfile.

mod common;
use common::*;
use std::process::{Command, Stdio};

const LIVE: usize = 90;
const STALE: usize = 90;

/// With more pidfiles than run on one thread, each live pidfile gets its own process (PID and the
/// distinct command line read for it), each stale one is stale, misnamed ones are flagged, and the
/// report keeps path order.
#[test]
fn every_verdict_lands_on_its_own_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    let live_dir = dir.path().join("live");
    let stale_dir = dir.path().join("stale");
    std::fs::create_dir(&live_dir).unwrap();
    std::fs::create_dir(&stale_dir).unwrap();
    let mut sleepers = Vec::new();
    let mut live = Vec::new();
    // Misnamed files are named after nginx, uniquely: a real nginx would be an orphan of theirs.
    let nginx = unique_name("nginx");
    for i in 0..LIVE {
        let arg = (200_000 + i).to_string();
        let child = Daemon::from_child(
            Command::new("sleep")
                .arg(&arg)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // Every fifth file is named after a daemon the process is not.
        let misnamed = i % 5 == 0;
        let name = if misnamed { &nginx } else { "sleep" };
        let pf = live_dir.join(format!("{name}-{i:03}.pid"));
        write_pid(&pf, child.pid);
        live.push((pf, child.pid, arg, misnamed));
        sleepers.push(child);
    }
    let dead: Vec<u32> = (0..8).map(|_| dead_pid()).collect();
    let mut stale = Vec::new();
    for i in 0..STALE {
        let pid = dead[i % dead.len()];
        let pf = stale_dir.join(format!("sleep-{i:03}.pid"));
        write_pid(&pf, pid);
        stale.push((pf, pid));
    }

    let doc = audit_path(dir.path(), &["--verbose"]).1;
    let paths: Vec<&str> = doc["pidfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), LIVE + STALE);
    assert!(paths.windows(2).all(|w| w[0] < w[1]), "not in path order");
    for (pf, pid, arg, misnamed) in &live {
        let e = pidfile(&doc, pf);
        assert_eq!(e["state"], "running", "{e:#}");
        assert_eq!(e["pid"], *pid);
        assert_eq!(e["process"]["pid"], *pid);
        assert_eq!(
            e["process"]["cmdline"],
            serde_json::json!(["sleep", arg]),
            "{e:#}"
        );
        assert_eq!(
            codes(e).contains(&"name-mismatch".to_string()),
            *misnamed,
            "{e:#}"
        );
    }
    for (pf, pid) in &stale {
        let e = pidfile(&doc, pf);
        assert_eq!(e["state"], "stale", "{e:#}");
        assert_eq!(e["pid"], *pid);
        assert!(e["process"].is_null());
    }
}

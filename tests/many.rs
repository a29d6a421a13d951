//! Many pidfiles at once: the audit spreads reads, checks and process details over threads; every
//! verdict and every process detail must still land on its own pidfile.

mod common;
use common::*;
use std::process::{Command, Stdio};

const LIVE: usize = 90;
const STALE: usize = 90;

/// Kills and reaps the sleepers when the test ends, whatever happens.
struct Sleepers(Vec<std::process::Child>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

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
    let mut sleepers = Sleepers(Vec::new());
    let mut live = Vec::new();
    for i in 0..LIVE {
        let arg = (200_000 + i).to_string();
        let child = Command::new("sleep")
            .arg(&arg)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // Every fifth file is named after a daemon the process is not.
        let name = if i % 5 == 0 { "nginx" } else { "sleep" };
        let pf = live_dir.join(format!("{name}-{i:03}.pid"));
        write_pidfile(&pf, &format!("{}\n", child.id()));
        live.push((pf, child.id(), arg, name == "nginx"));
        sleepers.0.push(child);
    }
    let dead: Vec<u32> = (0..8).map(|_| dead_pid()).collect();
    let mut stale = Vec::new();
    for i in 0..STALE {
        let pid = dead[i % dead.len()];
        let pf = stale_dir.join(format!("sleep-{i:03}.pid"));
        write_pidfile(&pf, &format!("{pid}\n"));
        stale.push((pf, pid));
    }

    let r = run(&[
        "--format",
        "json",
        "--verbose",
        dir.path().to_str().unwrap(),
    ]);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
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

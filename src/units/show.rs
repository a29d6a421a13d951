//! What a running systemd says of its units: one `systemctl show
//! --property=Id,MainPID,ControlGroup,PIDFile UNIT...` for all of them, run only where systemd
//! runs (`/run/systemd/system` exists), by absolute path (`/bin/systemctl` or
//! `/usr/bin/systemctl`), with an empty environment, no shell, stdin closed, its output capped at
//! [`OUTPUT_CAP`] and a [`TIMEOUT`]: a read of systemd's state, nothing is changed.
//!
//! `PIDAUDIT_SYSTEMCTL=PROGRAM` (an absolute path) says that systemd runs and that PROGRAM is the
//! `systemctl` to ask: for tests on machines whose PID 1 is something else.
//!
//! [`parse`] is pure: blocks of `KEY=VALUE` lines separated by an empty line, one per unit.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The environment variable naming the `systemctl` to run (and saying systemd runs).
pub const SYSTEMCTL_ENV: &str = "PIDAUDIT_SYSTEMCTL";
/// How long `systemctl show` may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The most bytes of its output read.
pub const OUTPUT_CAP: u64 = 4 << 20;

/// One unit as systemd shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shown {
    /// `MainPID=`: 0 when systemd knows no main process.
    pub main_pid: u32,
    /// `ControlGroup=` (`/system.slice/foo.service`), empty when the unit has none.
    pub control_group: String,
    /// `PIDFile=`, empty when unset.
    pub pidfile: String,
}

/// The `systemctl` to run: the override, else the first of `/bin/systemctl`, `/usr/bin/systemctl`
/// that exists; `None` when systemd does not run.
pub fn program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SYSTEMCTL_ENV) {
        let p = PathBuf::from(p);
        return p.is_absolute().then_some(p);
    }
    if !super::systemd_booted() {
        return None;
    }
    ["/bin/systemctl", "/usr/bin/systemctl"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Parses `systemctl show` output, by `Id=`. Lines without `=` and blocks without an `Id=` are
/// ignored; a `MainPID=` that is no number is 0.
pub fn parse(text: &str) -> HashMap<String, Shown> {
    let mut out = HashMap::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut shown = Shown::default();
        for line in block.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "Id" => id = Some(v.to_string()),
                "MainPID" => shown.main_pid = v.trim().parse().unwrap_or(0),
                "ControlGroup" => shown.control_group = v.to_string(),
                "PIDFile" => shown.pidfile = v.to_string(),
                _ => {}
            }
        }
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            out.insert(id, shown);
        }
    }
    out
}

/// Asks `program` about `units` in one call. `Err` says why nothing could be learnt.
pub fn show(program: &std::path::Path, units: &[String]) -> Result<HashMap<String, Shown>, String> {
    if units.is_empty() {
        return Ok(HashMap::new());
    }
    let mut child = Command::new(program)
        .env_clear()
        .arg("show")
        .arg("--property=Id,MainPID,ControlGroup,PIDFile")
        .arg("--")
        .args(units)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("no pipe to systemctl".to_string());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = stdout.take(OUTPUT_CAP).read_to_end(&mut buf).map(|_| buf);
        let _ = tx.send(r);
    });
    let out = match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(buf)) => buf,
        Ok(Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("cannot read {}'s output: {e}", program.display()));
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} show did not answer within {} s",
                program.display(),
                TIMEOUT.as_secs()
            ));
        }
    };
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("{} show failed: {status}", program.display()));
    }
    Ok(parse(&String::from_utf8_lossy(&out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let text = "Id=a.service\nMainPID=42\nControlGroup=/system.slice/a.service\nPIDFile=/run/a.pid\n\n\
                    MainPID=0\nId=b@x.service\nControlGroup=\nPIDFile=\n\nnoise\n\nId=\nMainPID=7\n";
        let m = parse(text);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m["a.service"],
            Shown {
                main_pid: 42,
                control_group: "/system.slice/a.service".into(),
                pidfile: "/run/a.pid".into()
            }
        );
        assert_eq!(m["b@x.service"], Shown::default());
        assert_eq!(parse("Id=c.service\nMainPID=x\n")["c.service"].main_pid, 0);
    }
}

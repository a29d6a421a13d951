//! The configuration of `pidaudit status --pidfile FILE`: an audit of that one file, with
//! `--exec` and `--user` as a one-service expectations manifest (so the manifest's identity checks
//! judge them) and `--name` kept for the command to compare with the process's comm.

use super::manifest::{Lock, Manifest, Service};
use super::{ColorChoice, Config, Options, UsageError};
use std::path::PathBuf;

/// The options of `pidaudit status`, as given.
#[derive(Clone, Debug)]
pub struct StatusOptions {
    pub pidfile: PathBuf,
    pub exec: Option<PathBuf>,
    pub user: Option<String>,
    pub name: Option<String>,
    pub proc_root: PathBuf,
}

/// A validated `pidaudit status` run.
#[derive(Clone, Debug)]
pub struct StatusConfig {
    /// The audit of the one pidfile.
    pub config: Config,
    /// The pidfile, absolute (as the audit names it).
    pub pidfile: PathBuf,
    /// `--name`: the process's comm must be this (cut to the kernel's 15 bytes, as
    /// start-stop-daemon compares it).
    pub comm: Option<String>,
    /// How the status line names the daemon: `--name`, else the pidfile's name without `.pid`.
    pub label: String,
}

/// The longest comm the kernel keeps (TASK_COMM_LEN - 1).
const COMM_LEN: usize = 15;

impl StatusConfig {
    /// Validates the options; `lookup` is [`Config::new`]'s.
    pub fn new(
        o: &StatusOptions,
        lookup: super::CodeLookup<'_>,
    ) -> Result<StatusConfig, UsageError> {
        let pidfile = std::path::absolute(&o.pidfile)
            .map_err(|e| UsageError(format!("--pidfile {}: {e}", o.pidfile.display())))?;
        let options = Options {
            proc_root: o.proc_root.clone(),
            color: ColorChoice::Never,
            ..Options::default()
        };
        let mut config = Config::new(&options, lookup)?;
        config.discover.paths = vec![pidfile.clone()];
        let user = o.user.as_deref().map(resolve_user).transpose()?;
        let label = o.name.clone().unwrap_or_else(|| {
            let name = pidfile.file_name().unwrap_or_default().to_string_lossy();
            name.strip_suffix(".pid").unwrap_or(&name).to_string()
        });
        if o.exec.is_some() || user.is_some() {
            config.expect = Some(Manifest {
                path: PathBuf::from("--pidfile"),
                services: vec![Service {
                    name: label.clone(),
                    pidfile: pidfile.clone(),
                    exe: o.exec.clone(),
                    cmdline: None,
                    user,
                    instances: 1,
                    lock: Lock::Optional,
                    started_after: None,
                }],
            });
        }
        let comm = o.name.as_deref().map(|n| {
            let mut end = n.len().min(COMM_LEN);
            while !n.is_char_boundary(end) {
                end -= 1;
            }
            n[..end].to_string()
        });
        Ok(StatusConfig {
            config,
            pidfile,
            comm,
            label,
        })
    }
}

/// A user name or a numeric uid, and how it was spelled.
fn resolve_user(user: &str) -> Result<(u32, String), UsageError> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok((uid, user.to_string()));
    }
    match nix::unistd::User::from_name(user) {
        Ok(Some(u)) => Ok((u.uid.as_raw(), user.to_string())),
        _ => Err(UsageError(format!("--user: no such user '{user}'"))),
    }
}

//! Validated configuration: raw command-line options become a [`Config`] before any work starts.

use crate::cli::{ColorChoice, FailOn, OutputFormat, ScanArgs};
use crate::discover;
use globset::{Glob, GlobSetBuilder};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;

/// How much the human report says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Only pidfiles with findings, and the summary.
    Quiet,
    /// Every pidfile, its findings, and the summary.
    Normal,
    /// Also the evidence of each finding and the process behind each pidfile.
    Verbose,
}

/// Everything a run needs, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub discover: discover::Options,
    pub proc_root: PathBuf,
    pub select: Option<BTreeSet<String>>,
    pub ignore: BTreeSet<String>,
    pub fail_on: FailOn,
    pub format: OutputFormat,
    pub color: bool,
    pub verbosity: Verbosity,
    /// Read exe, cmdline and uid of every live process a pidfile names (for the report), not only
    /// where a check needs them.
    pub details: bool,
    /// The expectations manifest (`--expect`), validated.
    pub expect: Option<crate::expect::Manifest>,
    /// `--started-after`: audited daemons must have started after it.
    pub started_after: Option<std::time::SystemTime>,
    /// `--textfile DIR`: also write the Prometheus metrics to `DIR/pidaudit.prom`.
    pub textfile: Option<PathBuf>,
    /// `-w` / `-c` (Nagios mode only).
    pub thresholds: crate::report::nagios::Thresholds,
}

/// A usage error, reported with exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn codes(list: &[String], flag: &str) -> Result<BTreeSet<String>, UsageError> {
    let mut out = BTreeSet::new();
    for code in list.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        if crate::checks::doc(code).is_none() {
            return Err(UsageError(format!(
                "{flag}: unknown finding code '{code}' (`pidaudit explain` lists them)"
            )));
        }
        out.insert(code.to_string());
    }
    Ok(out)
}

impl Config {
    /// Validates the scan options.
    pub fn from_args(args: &ScanArgs) -> Result<Config, UsageError> {
        let mut globs = GlobSetBuilder::new();
        for pattern in &args.exclude {
            let glob = Glob::new(pattern).map_err(|e| UsageError(format!("--exclude: {e}")))?;
            globs.add(glob);
        }
        let exclude = globs
            .build()
            .map_err(|e| UsageError(format!("--exclude: {e}")))?;
        if args.max_depth == Some(0) {
            return Err(UsageError("--max-depth must be at least 1".into()));
        }
        let select = if args.select.is_empty() {
            None
        } else {
            Some(codes(&args.select, "--select")?)
        };
        let ignore = codes(&args.ignore, "--ignore")?;
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let verbosity = if args.quiet {
            Verbosity::Quiet
        } else if args.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        let expect = args.expect.as_deref().map(load_manifest).transpose()?;
        let started_after = args
            .started_after
            .as_deref()
            .map(|t| crate::time::parse(t).map_err(|m| UsageError(format!("--started-after: {m}"))))
            .transpose()?;
        let mut paths = args.paths.clone();
        // A manifest's pidfiles are audited (as if named on the command line) even with no PATH.
        if let Some(m) = &expect {
            paths.extend(m.services.iter().map(|s| s.pidfile.clone()));
        }
        let thresholds = thresholds(args)?;
        Ok(Config {
            discover: discover::Options {
                paths,
                max_depth: args.max_depth.unwrap_or(discover::DEFAULT_MAX_DEPTH),
                exclude,
            },
            proc_root: args.proc_root.clone(),
            select,
            ignore,
            fail_on: args.fail_on,
            format: args.format,
            color,
            verbosity,
            details: verbosity == Verbosity::Verbose,
            expect,
            started_after,
            textfile: args.textfile.clone(),
            thresholds,
        })
    }
}

/// Reads and validates an expectations manifest.
fn load_manifest(path: &std::path::Path) -> Result<crate::expect::Manifest, UsageError> {
    let bytes =
        std::fs::read(path).map_err(|e| UsageError(format!("--expect {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| UsageError(format!("--expect {}: not UTF-8", path.display())))?;
    crate::expect::parse(&text, path, |name| {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    })
    .map_err(|e| UsageError(e.to_string()))
}

/// Parses `-w` / `-c` (Nagios ranges); they apply only to `--format nagios`.
fn thresholds(args: &ScanArgs) -> Result<crate::report::nagios::Thresholds, UsageError> {
    use crate::report::nagios::{Range, Thresholds};
    let parse = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(Range::parse)
            .transpose()
            .map_err(|e| UsageError(format!("{flag}: {e}")))
    };
    let t = Thresholds {
        warning: parse("-w/--warning", &args.warning)?,
        critical: parse("-c/--critical", &args.critical)?,
    };
    if t.is_set() && args.format != OutputFormat::Nagios {
        return Err(UsageError(
            "-w/--warning and -c/--critical apply only to --format nagios".into(),
        ));
    }
    Ok(t)
}

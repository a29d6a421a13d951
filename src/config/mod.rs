//! Validated configuration: raw options ([`Options`], filled by the command line) become a
//! [`Config`] before any work starts. Nothing here knows clap or a renderer: the output format,
//! the fail-on threshold and colour are plain settings, Nagios ranges live in [`range`], the
//! expectations manifest in [`manifest`].

pub mod manifest;
pub mod range;
pub mod status;

use crate::discover;
use crate::model::Code;
use globset::{Glob, GlobSetBuilder};
use range::{Range, Thresholds};
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

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Grouped by pidfile, for people; colour on a terminal.
    Human,
    /// One versioned JSON document.
    Json,
    /// A Nagios/Icinga plugin: status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Nagios,
    /// The Prometheus text exposition format (gauges).
    Prometheus,
    /// JUnit XML for CI systems: one test case per pidfile.
    Junit,
}

/// The severity from which findings fail a run (`--fail-on`; the policy is `exit::fails`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

impl FailOn {
    pub const ALL: [FailOn; 4] = [FailOn::Error, FailOn::Warning, FailOn::Info, FailOn::Never];

    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Error => "error",
            FailOn::Warning => "warning",
            FailOn::Info => "info",
            FailOn::Never => "never",
        }
    }
}

/// When to colour the human report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The options as given, before validation.
#[derive(Clone, Debug)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub format: OutputFormat,
    pub fail_on: FailOn,
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    pub exclude: Vec<String>,
    pub max_depth: Option<usize>,
    pub proc_root: PathBuf,
    pub color: ColorChoice,
    pub quiet: bool,
    pub verbose: bool,
    pub expect: Option<PathBuf>,
    pub started_after: Option<String>,
    pub own_pid_namespace: bool,
    pub textfile: Option<PathBuf>,
    pub warning: Option<String>,
    pub critical: Option<String>,
}

impl Default for Options {
    /// The defaults of the command line: no PATH, the human format, `--fail-on error`, `/proc`.
    fn default() -> Options {
        Options {
            paths: Vec::new(),
            format: OutputFormat::Human,
            fail_on: FailOn::Error,
            select: Vec::new(),
            ignore: Vec::new(),
            exclude: Vec::new(),
            max_depth: None,
            proc_root: PathBuf::from("/proc"),
            color: ColorChoice::Auto,
            quiet: false,
            verbose: false,
            expect: None,
            started_after: None,
            own_pid_namespace: false,
            textfile: None,
            warning: None,
            critical: None,
        }
    }
}

/// Which finding codes a report shows (`--select`, `--ignore`).
#[derive(Clone, Debug, Default)]
pub struct CodeFilter {
    pub select: Option<BTreeSet<Code>>,
    pub ignore: BTreeSet<Code>,
}

impl CodeFilter {
    /// Whether findings with this code are shown.
    pub fn keeps(&self, code: Code) -> bool {
        self.select.as_ref().is_none_or(|s| s.contains(&code)) && !self.ignore.contains(&code)
    }
}

/// Everything a run needs, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub discover: discover::Options,
    /// The PATHs named on the command line (the manifest's pidfiles are added to
    /// `discover.paths`, not here).
    pub named: Vec<PathBuf>,
    pub proc_root: PathBuf,
    pub filter: CodeFilter,
    pub fail_on: FailOn,
    pub format: OutputFormat,
    pub color: bool,
    pub verbosity: Verbosity,
    /// Read exe, cmdline and uid of every live process a pidfile names (for the report), not only
    /// where a check needs them.
    pub details: bool,
    /// The expectations manifest (`--expect`), validated.
    pub expect: Option<manifest::Manifest>,
    /// `--started-after`: audited daemons must have started after it.
    pub started_after: Option<std::time::SystemTime>,
    /// `--own-pid-namespace`: every audited pidfile was written from the PID namespace of the
    /// `/proc` read, so a PID missing there is dead even when that namespace is nested.
    pub own_pid_namespace: bool,
    /// `--textfile DIR`: also write the Prometheus metrics to `DIR/pidaudit.prom`.
    pub textfile: Option<PathBuf>,
    /// `-w` / `-c` (Nagios mode only).
    pub thresholds: Thresholds,
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

/// Finds the code a user named (in any case), or says why not (with a suggestion); the catalogue
/// belongs to the checks, which come later in the pipeline, so the caller passes it in.
pub type CodeLookup<'a> = &'a dyn Fn(&str) -> Result<Code, String>;

fn codes(
    list: &[String],
    flag: &str,
    lookup: CodeLookup<'_>,
) -> Result<BTreeSet<Code>, UsageError> {
    let mut out = BTreeSet::new();
    for name in list.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        let code = lookup(name).map_err(|e| UsageError(format!("{flag}: {e}")))?;
        out.insert(code);
    }
    Ok(out)
}

impl Config {
    /// Validates the options; `lookup` resolves finding codes named in `--select`/`--ignore`.
    pub fn new(args: &Options, lookup: CodeLookup<'_>) -> Result<Config, UsageError> {
        let mut globs = GlobSetBuilder::new();
        for pattern in &args.exclude {
            let glob = Glob::new(pattern).map_err(|e| UsageError(format!("--exclude: {e}")))?;
            globs.add(glob);
        }
        let exclude = globs
            .build()
            .map_err(|e| UsageError(format!("--exclude: {e}")))?;
        if args.max_depth == Some(0) {
            return Err(UsageError(
                "--max-depth must be at least 1: the pidfiles directly in a directory are depth 1 \
                 (to audit only some files, name them as PATHs)"
                    .into(),
            ));
        }
        let select = if args.select.is_empty() {
            None
        } else {
            Some(codes(&args.select, "--select", lookup)?)
        };
        let ignore = codes(&args.ignore, "--ignore", lookup)?;
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
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
            .map(|t| {
                crate::util::time::parse_cli(t, std::time::SystemTime::now(), &local_time)
                    .map_err(|m| UsageError(format!("--started-after: {m}")))
            })
            .transpose()?;
        let mut paths = args.paths.clone();
        // A manifest's pidfiles are audited (as if named on the command line) even with no PATH.
        if let Some(m) = &expect {
            paths.extend(m.services.iter().map(|s| s.pidfile.clone()));
        }
        let thresholds = thresholds(args)?;
        Ok(Config {
            named: args.paths.clone(),
            discover: discover::Options {
                paths,
                max_depth: args.max_depth.unwrap_or(discover::DEFAULT_MAX_DEPTH),
                exclude,
            },
            proc_root: args.proc_root.clone(),
            filter: CodeFilter { select, ignore },
            fail_on: args.fail_on,
            format: args.format,
            color,
            verbosity,
            details: verbosity == Verbosity::Verbose,
            expect,
            started_after,
            own_pid_namespace: args.own_pid_namespace,
            textfile: args.textfile.clone(),
            thresholds,
        })
    }
}

/// Whether a PATH that does not exist was meant as a directory: it ends in `/`, or its name has no
/// dot and is not `pid` (runit's `supervise/pid`). Such a PATH is a usage error; any other PATH
/// that does not exist is a pidfile that should be there, a `missing-pidfile` finding (post-deploy
/// checks rely on it). Pure: whether the PATH exists is found by the walk, which never lets the
/// kernel follow a link or enter a mount that could hang.
pub fn meant_as_directory(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    bytes.ends_with(b"/") || (!name.contains(&b'.') && name != b"pid")
}

/// The instant a wall-clock time (given as if it were UTC) names in the machine's time zone
/// (`TZ`, `/etc/localtime`), by mktime(3).
fn local_time(wall: std::time::SystemTime) -> Option<std::time::SystemTime> {
    use std::time::{Duration, UNIX_EPOCH};
    let secs = libc::time_t::try_from(wall.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    // SAFETY: gmtime_r and mktime read and write only the `tm` given; a zeroed tm is valid.
    let t = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::gmtime_r(&secs, &mut tm).is_null() {
            return None;
        }
        let (hour, min) = (tm.tm_hour, tm.tm_min);
        tm.tm_isdst = -1;
        let t = libc::mktime(&mut tm);
        // mktime moves a time in a DST gap; such a wall-clock time does not exist.
        if t == -1 || tm.tm_hour != hour || tm.tm_min != min {
            return None;
        }
        t
    };
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(t).ok()?))
}

/// Reads and validates an expectations manifest.
fn load_manifest(path: &std::path::Path) -> Result<manifest::Manifest, UsageError> {
    let bytes =
        std::fs::read(path).map_err(|e| UsageError(format!("--expect {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| UsageError(format!("--expect {}: not UTF-8", path.display())))?;
    manifest::parse(&text, path, |name| {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    })
    .map_err(|e| UsageError(e.to_string()))
}

/// Parses `-w` / `-c` (Nagios ranges); they apply only to `--format nagios`.
fn thresholds(args: &Options) -> Result<Thresholds, UsageError> {
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

//! The command line (clap derive) and the glue that runs a command and maps its result to an exit
//! status.

use crate::config::{Config, UsageError};
use crate::exit::{ExitStatus, NagiosStatus};
use crate::finding::Severity;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// Audit pidfiles against the live system: stale, reused, zombie, invalid, misnamed.
///
/// With no PATH, walks /run and /var/run. A PATH that is a directory is walked; a PATH that is a file
/// is audited as a pidfile whatever its name.
#[derive(Debug, Parser)]
#[command(name = "pidaudit", version, args_conflicts_with_subcommands = true, after_help = EXIT_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

const EXIT_HELP: &str = "Exit status: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage or internal error.\nWith --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also usage errors and --help).\n`pidaudit explain` documents every finding code.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit pidfiles (the default command).
    Scan(Box<ScanArgs>),
    /// Document a finding code: what it means, why it matters, what to do (all codes when none is given).
    Explain {
        /// A finding code, such as `stale` or `pid-reused`.
        code: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Grouped by pidfile, for people; colour on a terminal.
    Human,
    /// One versioned JSON document (schema in schema/pidaudit.schema.json).
    Json,
    /// A Nagios/Icinga plugin: status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Nagios,
    /// The Prometheus text exposition format (gauges).
    Prometheus,
    /// JUnit XML for CI systems: one test case per pidfile.
    Junit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

impl FailOn {
    /// Whether a finding of this severity fails the run.
    pub fn fails(self, severity: Severity) -> bool {
        match self {
            FailOn::Error => severity >= Severity::Error,
            FailOn::Warning => severity >= Severity::Warning,
            FailOn::Info => true,
            FailOn::Never => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug, Args)]
pub struct ScanArgs {
    /// Pidfiles and directories to audit (default: /run and /var/run).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Exit 1 when a finding has this severity or worse (info < unknown < warning < error).
    #[arg(long, value_enum, default_value_t = FailOn::Error, value_name = "SEVERITY")]
    pub fail_on: FailOn,
    /// Report only these finding codes (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CODE,...")]
    pub select: Vec<String>,
    /// Do not report these finding codes (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CODE,...")]
    pub ignore: Vec<String>,
    /// Skip files and directories whose path or name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// How many directory levels to walk below each root (default 4).
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,
    /// Read this directory as /proc (for tests, and for auditing from outside a container).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// When to colour the human report (auto: on a terminal, unless NO_COLOR is set).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Show only pidfiles with findings.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Show evidence and process details.
    #[arg(short, long)]
    pub verbose: bool,
    /// Expectations manifest (TOML): which daemons must run, as whom, how many (see README).
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Every audited daemon must have started after TIME (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME")]
    pub started_after: Option<String>,
    /// Also write the Prometheus metrics to DIR/pidaudit.prom, atomically (node exporter's textfile
    /// collector directory).
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
    /// With --format nagios: WARNING when the number of problem pidfiles (with an error or warning
    /// finding) is outside this Nagios range (10, 10:, ~:10, 10:20, @10:20).
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub warning: Option<String>,
    /// With --format nagios: CRITICAL when the number of problem pidfiles is outside this range.
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub critical: Option<String>,
}

/// Parses the command line, runs, and returns the exit status.
pub fn main() -> std::process::ExitCode {
    // clap parses before the format is known: look for `--format nagios` first, so usage errors and
    // `--help` in that mode exit UNKNOWN.
    let nagios_mode = crate::report::nagios::requested(std::env::args_os().skip(1));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if nagios_mode => return nagios_usage_error(&e).into(),
        Err(e) => {
            let code = if e.use_stderr() {
                ExitStatus::Error
            } else {
                ExitStatus::Clean
            };
            let _ = e.print();
            return code.into();
        }
    };
    if let Some(args) = nagios_args(&cli) {
        return nagios(args).into();
    }
    match run(cli) {
        Ok(status) => status.into(),
        Err(e) if is_broken_pipe(&e) => ExitStatus::Clean.into(),
        Err(e) => {
            eprintln!("pidaudit: {e}");
            ExitStatus::Error.into()
        }
    }
}

/// Any error that ends a run with exit status 2.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn is_broken_pipe(e: &Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<ExitStatus, Error> {
    match cli.command {
        Some(Command::Explain { code }) => explain(code.as_deref()),
        Some(Command::Scan(args)) => scan(&args),
        None => scan(&cli.scan),
    }
}

fn scan(args: &ScanArgs) -> Result<ExitStatus, Error> {
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            eprintln!("pidaudit: {msg}");
            return Ok(ExitStatus::Error);
        }
    };
    let report = crate::audit::run(&config);
    write_textfile(&config, &report)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    crate::report::render(&config, &report, &mut out)?;
    out.flush()?;
    let failed = report.findings().any(|f| config.fail_on.fails(f.severity));
    Ok(if failed {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    })
}

/// Writes `--textfile DIR/pidaudit.prom` when asked: the one file a scan writes.
fn write_textfile(config: &Config, report: &crate::audit::Report) -> Result<(), Error> {
    if let Some(dir) = &config.textfile {
        let text = crate::report::prometheus::exposition(report);
        crate::textfile::write(dir, text.as_bytes())?;
    }
    Ok(())
}

/// The scan options when the parsed command line is a scan in Nagios mode.
fn nagios_args(cli: &Cli) -> Option<&ScanArgs> {
    let args = match &cli.command {
        Some(Command::Scan(args)) => args,
        None => &cli.scan,
        Some(_) => return None,
    };
    (args.format == OutputFormat::Nagios).then_some(args)
}

/// A command line clap rejected (or `--help` / `--version`) in Nagios mode: UNKNOWN, with a status
/// line on stdout (the monitoring system reads only stdout) and clap's message where it belongs.
fn nagios_usage_error(e: &clap::Error) -> NagiosStatus {
    if e.use_stderr() {
        let rendered = e.to_string();
        let first = rendered.lines().next().unwrap_or("invalid arguments");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let _ =
            crate::report::nagios::unknown_line(&format!("usage: {first}"), &mut std::io::stdout());
    }
    let _ = e.print();
    NagiosStatus::Unknown
}

/// Runs a scan as a Nagios plugin; every failure is UNKNOWN.
fn nagios(args: &ScanArgs) -> NagiosStatus {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let status = match nagios_scan(args, &mut out) {
        Ok(status) => status,
        Err(e) => {
            let _ = crate::report::nagios::unknown_line(&e.to_string(), &mut out);
            NagiosStatus::Unknown
        }
    };
    let _ = out.flush();
    status
}

fn nagios_scan(args: &ScanArgs, out: &mut dyn Write) -> Result<NagiosStatus, Error> {
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            crate::report::nagios::unknown_line(&format!("usage: {msg}"), out)?;
            eprintln!("pidaudit: {msg}");
            return Ok(NagiosStatus::Unknown);
        }
    };
    let report = crate::audit::run(&config);
    write_textfile(&config, &report)?;
    Ok(crate::report::nagios::render(
        &report,
        &config.thresholds,
        out,
    )?)
}

fn explain(code: Option<&str>) -> Result<ExitStatus, Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match code {
        Some(code) => match crate::checks::doc(code) {
            Some(doc) => crate::report::explain::one(doc, &mut out)?,
            None => {
                eprintln!(
                    "pidaudit: unknown finding code '{code}' (`pidaudit explain` lists them)"
                );
                return Ok(ExitStatus::Error);
            }
        },
        None => crate::report::explain::all(&mut out)?,
    }
    Ok(ExitStatus::Clean)
}

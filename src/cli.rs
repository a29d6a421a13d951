//! The command line (clap derive) and the glue that runs a command and maps its result to an exit
//! status.

use crate::config::{self, ColorChoice, Config, FailOn, OutputFormat, UsageError};
use crate::exit::{ExitStatus, NagiosStatus};
use crate::report::{self, Report};
use clap::builder::PossibleValue;
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

const EXIT_HELP: &str = "Exit status: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage or internal error.\nWith --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also usage errors and --help).\n\nManual: `man pidaudit`. Finding codes: `pidaudit explain [CODE]`.";

const FIX_HELP: &str = "Exit status: 0 nothing left to do; 1 actions planned (dry run), or refused, skipped or not run; 2 usage or internal error.\n\nManual: `man pidaudit-fix`.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit pidfiles (the default command).
    Scan(Box<ScanArgs>),
    /// Document a finding code: what it means, why it matters, what to do (all codes when none is given).
    Explain {
        /// A finding code, such as `stale` or `pid-reused`.
        code: Option<String>,
    },
    /// Plan repairs (a dry run); --apply performs the safe ones, re-verified and journaled.
    ///
    /// Removes pidfiles that are stale, name a reused PID, are empty, malformed or invalid, or name
    /// init, a kernel thread or a thread, when they are trusted and no process holds a lock on them.
    /// Everything else is listed as refused, with the reason.
    ///
    /// At the moment of removal every fact the plan was based on is re-verified on held
    /// descriptors: the directory, the file's identity, size, mtime, owner, mode and content, that
    /// nobody holds a lock on it (a non-blocking exclusive flock is taken, and F_OFD_GETLK asked),
    /// and the PID (still dead, or still the same process by its start time); anything changed
    /// skips the action. Each change is journaled before and after it is made, in
    /// /var/lib/pidaudit/journal/RUN-ID.jsonl (or --journal DIR), locked so that two runs never act
    /// at once; `pidaudit undo` restores from it.
    #[command(after_help = FIX_HELP)]
    Fix(Box<FixArgs>),
    /// Restore what a fix run removed, from its journal (the last run by default).
    Undo(UndoArgs),
    /// Print a shell completion script (bash, zsh or fish) to standard output.
    ///
    /// The Debian package installs all three. Otherwise, for example:
    ///   pidaudit completions bash > ~/.local/share/bash-completion/completions/pidaudit
    ///   pidaudit completions zsh > ~/.zfunc/_pidaudit    (with fpath+=~/.zfunc before compinit)
    ///   pidaudit completions fish > ~/.config/fish/completions/pidaudit.fish
    #[command(verbatim_doc_comment)]
    Completions {
        /// The shell to complete for.
        shell: crate::completions::Shell,
    },
}

// The settings are the configuration's own types; these impls are how clap names them.

impl ValueEnum for OutputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            OutputFormat::Human,
            OutputFormat::Json,
            OutputFormat::Nagios,
            OutputFormat::Prometheus,
            OutputFormat::Junit,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            OutputFormat::Human => {
                PossibleValue::new("human").help("Grouped by pidfile, for people; colour on a terminal")
            }
            OutputFormat::Json => PossibleValue::new("json")
                .help("One versioned JSON document (its JSON Schema is listed under FILES in pidaudit(1))"),
            OutputFormat::Nagios => PossibleValue::new("nagios").help(
                "A Nagios/Icinga plugin: status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
            ),
            OutputFormat::Prometheus => {
                PossibleValue::new("prometheus").help("The Prometheus text exposition format (gauges)")
            }
            OutputFormat::Junit => PossibleValue::new("junit")
                .help("JUnit XML for CI systems: one test case per pidfile"),
        })
    }
}

impl ValueEnum for FailOn {
    fn value_variants<'a>() -> &'a [Self] {
        &FailOn::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for ColorChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &[ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }))
    }
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
    /// Expectations manifest (TOML): which daemons must run, as whom, how many (see pidaudit(1)).
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

impl ScanArgs {
    /// The options as given, for validation by [`Config::new`].
    pub fn options(&self) -> config::Options {
        config::Options {
            paths: self.paths.clone(),
            format: self.format,
            fail_on: self.fail_on,
            select: self.select.clone(),
            ignore: self.ignore.clone(),
            exclude: self.exclude.clone(),
            max_depth: self.max_depth,
            proc_root: self.proc_root.clone(),
            color: self.color,
            quiet: self.quiet,
            verbose: self.verbose,
            expect: self.expect.clone(),
            started_after: self.started_after.clone(),
            textfile: self.textfile.clone(),
            warning: self.warning.clone(),
            critical: self.critical.clone(),
        }
    }
}

/// The formats of `fix` and `undo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FixFormat {
    /// For people.
    Human,
    /// One JSON document (its JSON Schema is listed under FILES in pidaudit(1)).
    Json,
}

#[derive(Clone, Debug, Args)]
pub struct FixArgs {
    /// Pidfiles and directories to audit and repair (default: /run and /var/run).
    pub paths: Vec<PathBuf>,
    /// Output format of the plan and the result.
    #[arg(long, value_enum, default_value_t = FixFormat::Human)]
    pub format: FixFormat,
    /// Perform the safe actions (asks on a terminal unless --yes).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: do not ask.
    #[arg(short, long, requires = "apply")]
    pub yes: bool,
    /// The journal directory (created mode 0700; refused if not root's or writable by others).
    #[arg(long, value_name = "DIR", default_value = crate::fix::journal::DEFAULT_DIR)]
    pub journal: PathBuf,
    /// Act only on findings with these codes (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CODE,...")]
    pub select: Vec<String>,
    /// Do not act on findings with these codes (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CODE,...")]
    pub ignore: Vec<String>,
    /// Skip files and directories whose path or name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// How many directory levels to walk below each root (default 4).
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,
    /// Read this directory as /proc (a plan only: nothing is applied unless it is the live /proc).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// Expectations manifest (TOML), as for scan.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Every audited daemon must have started after TIME (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME")]
    pub started_after: Option<String>,
}

impl FixArgs {
    fn options(&self) -> config::Options {
        config::Options {
            paths: self.paths.clone(),
            format: OutputFormat::Human,
            fail_on: FailOn::Error,
            select: self.select.clone(),
            ignore: self.ignore.clone(),
            exclude: self.exclude.clone(),
            max_depth: self.max_depth,
            proc_root: self.proc_root.clone(),
            color: ColorChoice::Never,
            quiet: false,
            verbose: false,
            expect: self.expect.clone(),
            started_after: self.started_after.clone(),
            textfile: None,
            warning: None,
            critical: None,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct UndoArgs {
    /// The run to undo (default: the last one; `--list` shows them).
    #[arg(value_name = "RUN-ID")]
    pub run: Option<String>,
    /// List the journal's runs instead.
    #[arg(long, conflicts_with = "run")]
    pub list: bool,
    /// The journal directory.
    #[arg(long, value_name = "DIR", default_value = crate::fix::journal::DEFAULT_DIR)]
    pub journal: PathBuf,
}

/// Parses the command line, runs, and returns the exit status.
pub fn main() -> std::process::ExitCode {
    // clap parses before the format is known: look for `--format nagios` first, so usage errors and
    // `--help` in that mode exit UNKNOWN.
    let nagios_mode = report::nagios::requested(std::env::args_os().skip(1));
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
    std::process::ExitCode::from(run(cli))
}

/// Any error that ends a run with exit status 2.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// Runs one command and returns its exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Some(Command::Explain { code }) => explain(code.as_deref()) as u8,
        Some(Command::Scan(args)) => scan(&args),
        Some(Command::Fix(args)) => fix(&args),
        Some(Command::Undo(args)) => undo(&args),
        Some(Command::Completions { shell }) => {
            crate::completions::print(shell, &mut <Cli as clap::CommandFactory>::command()) as u8
        }
        None => scan(&cli.scan),
    }
}

/// The one scan pipeline, whatever the format: validate, judge, write the textfile, render, exit.
/// A closed stdout does not change the exit status: it reflects the audit.
fn scan(args: &ScanArgs) -> u8 {
    let nagios = args.format == OutputFormat::Nagios;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Nagios reads only stdout: every failure is an UNKNOWN status line there too.
    let fail = |out: &mut dyn Write, msg: &str, line: &str| -> u8 {
        eprintln!("pidaudit: {msg}");
        if nagios {
            let _ = report::nagios::unknown_line(line, out);
            let _ = out.flush();
            NagiosStatus::Unknown as u8
        } else {
            ExitStatus::Error as u8
        }
    };
    let config = match Config::new(&args.options(), &crate::checks::lookup) {
        Ok(c) => c,
        Err(UsageError(msg)) => return fail(&mut out, &msg, &format!("usage: {msg}")),
    };
    let scan = crate::commands::scan::run(&config);
    let code = scan.exit_code(&config);
    let nagios_status = scan.nagios;
    let report = Report::from(&scan.audit);
    drop(scan);
    if let Some(dir) = &config.textfile {
        let text = report::prometheus::exposition(&report);
        if let Err(e) = crate::textfile::write(dir, text.as_bytes()) {
            let msg = e.to_string();
            return fail(&mut out, &msg, &msg);
        }
    }
    let mut sink = report::sink(&config, nagios_status);
    let written = report::emit(report, &mut *sink, &mut out).and_then(|()| out.flush());
    match written {
        Ok(()) => code,
        Err(e) if is_broken_pipe(&e) => code,
        Err(e) => {
            let msg = e.to_string();
            fail(&mut std::io::sink(), &msg, &msg)
        }
    }
}

/// `pidaudit fix`: validate, lock the journal (to apply), judge, plan, render the plan, ask, apply,
/// render the result.
fn fix(args: &FixArgs) -> u8 {
    use std::io::IsTerminal;
    let error = |msg: &str| {
        eprintln!("pidaudit: {msg}");
        ExitStatus::Error as u8
    };
    let config = match Config::new(&args.options(), &crate::checks::lookup) {
        Ok(c) => c,
        Err(UsageError(msg)) => return error(&msg),
    };
    let ask = args.apply && !args.yes;
    if ask && !std::io::stdin().is_terminal() {
        return error("--apply without --yes needs a terminal to ask on");
    }
    // Locked before judging, so a plan never races another run's changes.
    let journal = if args.apply {
        match crate::fix::journal::Journal::open(&args.journal) {
            Ok(j) => Some(j),
            Err(e) => return error(&e.to_string()),
        }
    } else {
        None
    };
    let planned = crate::commands::fix::plan(&config);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let view = |outcomes, run| report::fix::FixView {
        host: &planned.audit.host,
        generated_at: planned.audit.generated_at,
        plan: &planned.plan,
        outcomes,
        run,
    };
    let render = |out: &mut dyn Write, v: &report::fix::FixView<'_>| match args.format {
        FixFormat::Human => report::fix::human(v, out),
        FixFormat::Json => report::fix::json(v, out),
    };
    let finish = |written: std::io::Result<()>, code: ExitStatus| match written {
        Err(e) if !is_broken_pipe(&e) => error(&e.to_string()),
        _ => code as u8,
    };
    let (Some(journal), true) = (journal, args.apply) else {
        let code =
            crate::exit::fix_status(planned.plan.actions.len(), planned.plan.refused.len(), None);
        let written = render(&mut out, &view(None, None)).and_then(|()| out.flush());
        return finish(written, code);
    };
    if ask && !planned.plan.actions.is_empty() {
        if let Err(e) = report::fix::human(&view(None, None), &mut std::io::stderr()) {
            return error(&e.to_string());
        }
        eprint!(
            "Apply the {} safe action(s)? [y/N] ",
            planned.plan.actions.len()
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            eprintln!("pidaudit: nothing applied");
            return ExitStatus::Findings as u8;
        }
    }
    let applied = crate::commands::fix::apply(&planned, &journal);
    // The journal lock is released before the result is written (a slow reader of the output
    // never holds up the next run).
    drop(journal);
    let mut applied = match applied {
        Ok(a) => a,
        Err(e) => return error(&e.to_string()),
    };
    crate::commands::fix::recheck(&config, &planned, &mut applied);
    let code = crate::exit::fix_status(
        planned.plan.actions.len(),
        planned.plan.refused.len(),
        Some(applied.not_done()),
    );
    let written = render(
        &mut out,
        &view(
            Some((&applied.outcomes, &applied.recheck)),
            applied.run.as_ref(),
        ),
    )
    .and_then(|()| out.flush());
    finish(written, code)
}

/// `pidaudit undo [RUN-ID]` / `pidaudit undo --list`.
fn undo(args: &UndoArgs) -> u8 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = if args.list {
        crate::commands::undo::list(&args.journal)
            .map(|runs| (report::fix::runs_human(&runs, &mut out), ExitStatus::Clean))
    } else {
        crate::commands::undo::run(&args.journal, args.run.as_deref()).map(|u| {
            (
                report::fix::undo_human(&u, &mut out),
                crate::exit::undo_status(u.refused()),
            )
        })
    };
    match result {
        Ok((Err(e), _)) if !is_broken_pipe(&e) => {
            eprintln!("pidaudit: {e}");
            ExitStatus::Error as u8
        }
        Ok((_, code)) => code as u8,
        Err(e) => {
            eprintln!("pidaudit: {e}");
            ExitStatus::Error as u8
        }
    }
}

/// A command line clap rejected (or `--help` / `--version`) in Nagios mode: UNKNOWN, with a status
/// line on stdout (the monitoring system reads only stdout) and clap's message where it belongs.
fn nagios_usage_error(e: &clap::Error) -> NagiosStatus {
    if e.use_stderr() {
        let rendered = e.to_string();
        let first = rendered.lines().next().unwrap_or("invalid arguments");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let _ = report::nagios::unknown_line(&format!("usage: {first}"), &mut std::io::stdout());
    }
    let _ = e.print();
    NagiosStatus::Unknown
}

fn explain(code: Option<&str>) -> ExitStatus {
    let codes = match crate::commands::explain::run(code) {
        Ok(codes) => codes,
        Err(msg) => {
            eprintln!("pidaudit: {msg}");
            return ExitStatus::Error;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match (code, codes.as_slice()) {
        (Some(_), [one]) => report::explain::one(*one, &mut out),
        _ => report::explain::all(&codes, &mut out),
    };
    match written {
        Err(e) if !is_broken_pipe(&e) => {
            eprintln!("pidaudit: {e}");
            ExitStatus::Error
        }
        _ => ExitStatus::Clean,
    }
}

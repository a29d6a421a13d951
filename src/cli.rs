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

const FIX_HELP: &str = "Exit status: 0 nothing left to do; 1 actions planned (dry run), or refused, skipped, incomplete or not run (an unsafe action without --unsafe); 2 usage or internal error.\n\nManual: `man pidaudit-fix`.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit pidfiles (the default command).
    Scan(Box<ScanArgs>),
    /// Document a finding code: what it means, why it matters, what to do (all codes when none is given).
    Explain {
        /// A finding code, such as `stale` or `pid-reused`.
        code: Option<String>,
    },
    /// Plan repairs (a dry run); --apply performs the safe ones, --unsafe the others too.
    ///
    /// Safe: remove pidfiles that are stale, name a reused PID, are empty, malformed or invalid, or
    /// name init, a kernel thread or a thread, when they are trusted and no process holds a lock on
    /// them; retrack (rewrite to the live instance) a pidfile whose write lock, or the replaced
    /// file's, the instance holds as only the daemon could. Unsafe (--unsafe): retrack to an
    /// instance found by name, command line or manifest only; stop (SIGTERM through a pidfd) a
    /// duplicate copy no supervisor runs and the orphaned workers of a dead master; fix a file's
    /// permissions; write a manifest entry's missing pidfile. A supervised copy is never signalled:
    /// the plan names the supervisor's control command. Everything else is listed as refused, with
    /// the reason.
    ///
    /// At the moment of acting every fact the plan was based on is re-verified on held descriptors
    /// and pidfds: the directory, the file's identity, size, mtime, owner, mode and content, its
    /// locks, the PID (still dead, or still the same process by its start time), and a process
    /// acted on or named (pinned by pidfd_open; start time, executable and user); anything changed
    /// skips the action. Each change is journaled before and after it is made, in
    /// /var/lib/pidaudit/journal/RUN-ID.jsonl (or --journal DIR), locked so that two runs never act
    /// at once; `pidaudit undo` restores files from it (signals cannot be undone).
    #[command(after_help = FIX_HELP)]
    Fix(Box<FixArgs>),
    /// Restore what a fix run removed or rewrote, from its journal (the last run by default).
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
    /// An init script's status action: is the daemon of one pidfile running?
    ///
    /// Exits with the LSB status codes: 0 running, 1 dead and the pidfile exists, 3 not running
    /// (no pidfile), 4 unknown (also usage errors); prints one line. A zombie, a reused PID, a
    /// process that is not the daemon, invalid content or an untrusted file is never running.
    Status(StatusArgs),
    /// Audit, then keep watching: one event per change, as it happens.
    ///
    /// Starts with a full audit (its findings are the first events), then watches every audited
    /// directory with inotify and every daemon a pidfile names with a pidfd, and audits again on
    /// each change: a finding raised or cleared, a pidfile created, rewritten or removed, a
    /// tracked daemon exited. Every --interval, a check of what no event reports (a process
    /// started or ended: a second copy started by hand, a reused PID; a lock taken or released; a
    /// daemon's executable replaced; a unit file changed) runs the full audit when any did, and the
    /// full audit runs at least hourly. Writes nothing but the --textfile file, takes
    /// no lock, sends no signal. Stops on SIGTERM or SIGINT.
    #[command(after_help = WATCH_HELP)]
    Watch(Box<WatchArgs>),
}

const WATCH_HELP: &str = "Exit status: 0 stopped by SIGTERM or SIGINT; 2 usage or internal error.\n\nManual: `man pidaudit-watch`. Event lines: schema/pidaudit-watch.schema.json.";

/// The formats of `watch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    /// One line per event, for people.
    Human,
    /// One JSON object per line (its JSON Schema is listed under FILES in pidaudit(1)).
    Json,
}

#[derive(Clone, Debug, Args)]
pub struct WatchArgs {
    /// Pidfiles and directories to watch (default: /run and /var/run).
    pub paths: Vec<PathBuf>,
    /// Output format of the events.
    #[arg(long, value_enum, default_value_t = WatchFormat::Human)]
    pub format: WatchFormat,
    /// Check this often for what no event reports, and audit everything again if any changed
    /// (`60s`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_interval)]
    pub interval: std::time::Duration,
    /// Rewrite DIR/pidaudit.prom (node exporter's textfile collector) atomically after every change.
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
    /// Serve /metrics (the Prometheus exposition, with the watch's counters) and /healthz over HTTP
    /// on ADDR: PORT or :PORT (on 127.0.0.1), or ADDRESS:PORT.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub judged: Judged,
}

/// A `--interval`: a humantime duration of at least one second.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_secs(1) {
        return Err("at least 1s".to_string());
    }
    Ok(d)
}

/// The options of `pidaudit status`.
#[derive(Clone, Debug, Args)]
pub struct StatusArgs {
    /// The daemon's pidfile.
    #[arg(long, value_name = "FILE")]
    pub pidfile: PathBuf,
    /// The process must run this executable (a path, or any path to the same file).
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
    /// The process must run as this user (a name or a numeric uid).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The process's name (comm, as `ps -o comm` shows it; cut to 15 bytes) must be this.
    #[arg(long, value_name = "COMM")]
    pub name: Option<String>,
    /// Read this directory as /proc.
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
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
    #[command(flatten)]
    pub judged: Judged,
    /// When to colour the human report (auto: on a terminal, unless NO_COLOR is set or TERM is dumb).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Show only pidfiles with findings above info (warnings, errors, unknowns).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Show evidence and process details.
    #[arg(short, long)]
    pub verbose: bool,
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
            quiet: self.quiet,
            verbose: self.verbose,
            textfile: self.textfile.clone(),
            warning: self.warning.clone(),
            critical: self.critical.clone(),
            ..self
                .judged
                .options(&self.paths, self.format, self.fail_on, self.color)
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
    /// With --apply: also perform the unsafe actions (retracks found by name only, stopping
    /// copies).
    #[arg(long = "unsafe", requires = "apply")]
    pub unsafe_actions: bool,
    /// How long a stopped copy is waited for after SIGTERM, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_timeout)]
    pub timeout: f64,
    /// With --unsafe: SIGKILL a copy still running after the timeout.
    #[arg(long, requires = "unsafe_actions")]
    pub kill: bool,
    /// The journal directory (created mode 0700; refused if not root's or writable by others).
    #[arg(long, value_name = "DIR", default_value = crate::fix::journal::DEFAULT_DIR)]
    pub journal: PathBuf,
    #[command(flatten)]
    pub judged: Judged,
}

/// A `--timeout`: seconds, 0 to 3600.
fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if (0.0..=3600.0).contains(&t) => Ok(t),
        _ => Err(format!("'{s}' is not a number of seconds from 0 to 3600")),
    }
}

/// What the audit judges and which findings count: the options `scan` and `fix` share.
#[derive(Clone, Debug, Args)]
pub struct Judged {
    /// Only these finding codes (comma-separated, any case): reported by scan, acted on by fix.
    #[arg(long, value_delimiter = ',', value_name = "CODE,...")]
    pub select: Vec<String>,
    /// Not these finding codes (comma-separated): neither reported nor acted on.
    #[arg(long, value_delimiter = ',', value_name = "CODE,...")]
    pub ignore: Vec<String>,
    /// Skip files and directories whose path or name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Audit pidfiles at most N levels below each directory PATH (default 4; at least 1: the files
    /// directly in it are level 1).
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,
    /// Read this directory as /proc (for tests, and for auditing from outside a container; fix
    /// then only plans).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// Expectations manifest (TOML): which daemons must run, as whom, how many (see pidaudit(1)).
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Every audited daemon must have started after TIME: RFC 3339, Unix seconds, a local time
    /// (`2026-11-26 13:00`) or a time ago (`10m`, `2h ago`).
    #[arg(long, value_name = "TIME")]
    pub started_after: Option<String>,
    /// Every audited pidfile was written from this PID namespace (a container auditing its own
    /// private /run): a PID missing here is stale. Without it, when /proc is a nested PID
    /// namespace, a missing PID is foreign-namespace (unknown): a host process may have written it.
    #[arg(long)]
    pub own_pid_namespace: bool,
}

impl Judged {
    /// The options as given, with these settings for the rest.
    fn options(
        &self,
        paths: &[PathBuf],
        format: OutputFormat,
        fail_on: FailOn,
        color: ColorChoice,
    ) -> config::Options {
        config::Options {
            paths: paths.to_vec(),
            format,
            fail_on,
            select: self.select.clone(),
            ignore: self.ignore.clone(),
            exclude: self.exclude.clone(),
            max_depth: self.max_depth,
            proc_root: self.proc_root.clone(),
            color,
            expect: self.expect.clone(),
            started_after: self.started_after.clone(),
            own_pid_namespace: self.own_pid_namespace,
            ..config::Options::default()
        }
    }
}

impl FixArgs {
    fn options(&self) -> config::Options {
        self.judged.options(
            &self.paths,
            OutputFormat::Human,
            FailOn::Error,
            ColorChoice::Never,
        )
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
    let args = match arrange(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(msg) => {
            let status_mode = false;
            return usage_error(&msg, nagios_mode, status_mode).into();
        }
    };
    let status_mode = args.get(1).is_some_and(|a| a == "status");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if nagios_mode => return nagios_usage_error(&e).into(),
        Err(e) if e.use_stderr() => {
            let rendered = e.to_string();
            let msg = rendered.strip_prefix("error: ").unwrap_or(&rendered);
            eprint!("pidaudit: error: {msg}");
            return if status_mode {
                crate::exit::LsbStatus::Unknown as u8
            } else {
                ExitStatus::Error as u8
            }
            .into();
        }
        Err(e) => {
            let _ = e.print();
            return ExitStatus::Clean.into();
        }
    };
    std::process::ExitCode::from(run(cli))
}

/// A usage error found before clap parses: stderr in the one style, and the exit status of the
/// mode (Nagios: an UNKNOWN status line on stdout too).
fn usage_error(msg: &str, nagios: bool, status: bool) -> u8 {
    error(msg);
    if nagios {
        let _ = report::nagios::unknown_line(&format!("usage: {msg}"), &mut std::io::stdout());
        NagiosStatus::Unknown as u8
    } else if status {
        crate::exit::LsbStatus::Unknown as u8
    } else {
        ExitStatus::Error as u8
    }
}

/// Puts the command first, wherever the options before it put it, and refuses a bare word that
/// looks like a mistyped command.
///
/// The command is the first word that is neither an option nor an option's value: `pidaudit
/// --format json scan F` is `pidaudit scan --format json F` (the scan options also belong to
/// `scan`), and `pidaudit -q explain stale` is `pidaudit explain -q stale`, which clap refuses
/// (`explain` has no `-q`). A first word that is no command is a PATH of the default scan, but a
/// PATH with no `/` that does not exist and is one or two letters away from a command name
/// (`sacn`, `explian`) is a usage error with a suggestion. After `--` every word is a PATH.
pub fn arrange(mut args: Vec<std::ffi::OsString>) -> Result<Vec<std::ffi::OsString>, String> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let long_valued: Vec<&str> = cmd
        .get_arguments()
        .filter(|a| takes_value(a))
        .filter_map(|a| a.get_long())
        .collect();
    let short_valued: Vec<char> = cmd
        .get_arguments()
        .filter(|a| takes_value(a))
        .filter_map(|a| a.get_short())
        .collect();
    let commands: Vec<&str> = cmd
        .get_subcommands()
        .map(|s| s.get_name())
        .chain(["help"])
        .collect();
    let mut i = 1;
    let mut first = true;
    while i < args.len() {
        let word = args[i].to_string_lossy().into_owned();
        i += 1;
        if word == "--" {
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            if !long.contains('=') && long_valued.contains(&long) {
                i += 1;
            }
            continue;
        }
        if word.len() > 1 && word.starts_with('-') {
            // A cluster of short options; the first that takes a value ends it (`-w5`, `-qw 5`).
            let cluster: Vec<char> = word[1..].chars().collect();
            if let Some(at) = cluster.iter().position(|c| short_valued.contains(c)) {
                if at + 1 == cluster.len() {
                    i += 1;
                }
            }
            continue;
        }
        if first && commands.contains(&word.as_str()) {
            let command = args.remove(i - 1);
            args.insert(1, command);
            return Ok(args);
        }
        first = false;
        if !word.contains('/') && std::fs::symlink_metadata(&word).is_err() {
            if commands.contains(&word.as_str()) {
                return Err(format!("the command '{word}' must come before the PATHs"));
            }
            if let Some(c) = crate::util::suggest::closest(&word, commands.iter().copied()) {
                return Err(format!(
                    "unrecognized command '{word}'; did you mean '{c}'?"
                ));
            }
        }
    }
    Ok(args)
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
        Some(Command::Status(args)) => status(&args) as u8,
        Some(Command::Watch(args)) => watch(&args),
        None => scan(&cli.scan),
    }
}

/// `pidaudit status`: one line on stdout, the LSB status as the exit code.
fn status(args: &StatusArgs) -> crate::exit::LsbStatus {
    use crate::config::status::{StatusConfig, StatusOptions};
    let options = StatusOptions {
        pidfile: args.pidfile.clone(),
        exec: args.exec.clone(),
        user: args.user.clone(),
        name: args.name.clone(),
        proc_root: args.proc_root.clone(),
    };
    let config = match StatusConfig::new(&options, &crate::checks::lookup) {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            error(&msg);
            return crate::exit::LsbStatus::Unknown;
        }
    };
    let verdict = crate::commands::status::run(&config);
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", verdict.line).and_then(|()| out.flush()) {
        Err(e) if !is_broken_pipe(&e) => error(&e.to_string()),
        _ => {}
    }
    verdict.status
}

/// Reports an error on stderr, in the one style of every pidaudit error.
fn error(msg: &str) {
    eprintln!("pidaudit: error: {msg}");
}

/// The one scan pipeline, whatever the format: validate, judge, write the textfile, render, exit.
/// A closed stdout does not change the exit status: it reflects the audit.
fn scan(args: &ScanArgs) -> u8 {
    let nagios = args.format == OutputFormat::Nagios;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Nagios reads only stdout: every failure is an UNKNOWN status line there too.
    let fail = |out: &mut dyn Write, msg: &str, line: &str| -> u8 {
        error(msg);
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
    let scan = match crate::commands::scan::run(&config) {
        Ok(s) => s,
        Err(UsageError(msg)) => return fail(&mut out, &msg, &format!("usage: {msg}")),
    };
    let code = scan.exit_code(&config);
    let nagios_status = scan.nagios;
    let report = Report::from(scan.audit);
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
        let n = planned
            .plan
            .actions
            .iter()
            .filter(|a| args.unsafe_actions || a.class == crate::fix::Class::Safe)
            .count();
        eprint!(
            "Apply the {n} {}action(s)? [y/N] ",
            if args.unsafe_actions {
                "safe and unsafe "
            } else {
                "safe "
            }
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            eprintln!("pidaudit: nothing applied");
            return ExitStatus::Findings as u8;
        }
    }
    let opts = crate::commands::fix::ApplyOptions {
        unsafe_actions: args.unsafe_actions,
        timeout: std::time::Duration::from_secs_f64(args.timeout),
        kill: args.kill,
    };
    let applied = crate::commands::fix::apply(&planned, &journal, &opts);
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
        eprint!(
            "pidaudit: error: {}",
            rendered.strip_prefix("error: ").unwrap_or(&rendered)
        );
    } else {
        let _ = e.print();
    }
    NagiosStatus::Unknown
}

fn explain(code: Option<&str>) -> ExitStatus {
    let codes = match crate::commands::explain::run(code) {
        Ok(codes) => codes,
        Err(msg) => {
            error(&msg);
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
            error(&e.to_string());
            ExitStatus::Error
        }
        _ => ExitStatus::Clean,
    }
}

/// What `watch` does with each event and each audit: prints the event, rewrites the textfile and
/// the `/metrics` body.
struct WatchOutput {
    format: WatchFormat,
    out: std::io::Stdout,
    textfile: Option<PathBuf>,
    metrics: Option<crate::watch::http::Metrics>,
    /// The exposition of the last audit, restamped when an interval confirms it.
    last: Option<String>,
}

impl crate::watch::Observer for WatchOutput {
    fn wants_audits(&self) -> bool {
        self.textfile.is_some() || self.metrics.is_some()
    }

    fn event(&mut self, e: &crate::watch::Event) -> std::io::Result<()> {
        let mut out = self.out.lock();
        match self.format {
            WatchFormat::Human => report::watch::human(e, &mut out),
            WatchFormat::Json => report::watch::json(e, &mut out),
        }?;
        out.flush()
    }

    fn audited(
        &mut self,
        audit: crate::audit::Audit,
        changed: bool,
        stats: &crate::watch::Stats,
    ) -> std::io::Result<()> {
        if self.textfile.is_none() && self.metrics.is_none() {
            return Ok(());
        }
        let text = report::prometheus::exposition(&Report::from(audit));
        self.publish(text, changed, stats);
        Ok(())
    }

    fn confirmed(
        &mut self,
        at: std::time::SystemTime,
        stats: &crate::watch::Stats,
    ) -> std::io::Result<()> {
        if let Some(last) = &self.last {
            let text = report::prometheus::restamp(last, at);
            self.publish(text, true, stats);
        }
        Ok(())
    }
}

impl WatchOutput {
    /// Writes the textfile (when `changed`) and sets the `/metrics` body.
    fn publish(&mut self, text: String, changed: bool, stats: &crate::watch::Stats) {
        if let (Some(dir), true) = (&self.textfile, changed) {
            // A failure here is reported and tried again at the next change; the watch goes on.
            if let Err(e) = crate::textfile::write(dir, text.as_bytes()) {
                error(&e.to_string());
            }
        }
        if let Some(m) = &self.metrics {
            m.set(text.clone() + &report::watch::metrics(stats));
        }
        self.last = Some(text);
    }
}

/// `pidaudit watch`: validate, set up the signals and the epoll set, serve, watch until stopped.
fn watch(args: &WatchArgs) -> u8 {
    let options = config::Options {
        textfile: args.textfile.clone(),
        ..args.judged.options(
            &args.paths,
            OutputFormat::Human,
            FailOn::Error,
            ColorChoice::Never,
        )
    };
    let config = match Config::new(&options, &crate::checks::lookup) {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            error(&msg);
            return ExitStatus::Error as u8;
        }
    };
    let listen = match args.listen.as_deref().map(crate::watch::http::parse_listen) {
        Some(Err(msg)) => {
            error(&msg);
            return ExitStatus::Error as u8;
        }
        Some(Ok(addr)) => Some(addr),
        None => None,
    };
    // Before any thread starts: the signals must wait for the signalfd in every thread.
    let watch = match crate::watch::Watch::new(args.interval) {
        Ok(w) => w,
        Err(e) => {
            error(&e.to_string());
            return ExitStatus::Error as u8;
        }
    };
    // The textfile directory is checked before the first audit: a bad one is a usage error.
    if let Some(dir) = &config.textfile {
        if let Err(e) = crate::textfile::check_dir(dir) {
            error(&e.to_string());
            return ExitStatus::Error as u8;
        }
    }
    let metrics = match listen {
        Some(addr) => {
            let m = crate::watch::http::Metrics::default();
            if let Err(msg) = crate::watch::http::serve(addr, m.clone()) {
                error(&msg);
                return ExitStatus::Error as u8;
            }
            Some(m)
        }
        None => None,
    };
    let mut output = WatchOutput {
        format: args.format,
        out: std::io::stdout(),
        textfile: config.textfile.clone(),
        metrics,
        last: None,
    };
    match watch.run(&config, &mut output) {
        Ok(()) => ExitStatus::Clean as u8,
        // Whoever read the events went away: nothing left to tell.
        Err(e) if is_broken_pipe(&e) => ExitStatus::Clean as u8,
        Err(e) => {
            error(&e.to_string());
            ExitStatus::Error as u8
        }
    }
}

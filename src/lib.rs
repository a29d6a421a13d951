//! pidaudit audits pidfiles against the live system and reports what is wrong with them.
//!
//! The pipeline, in stages; a module imports only from its own stage or earlier ones
//! (`tests/layers.rs` enforces it):
//!
//! 0. [`model`] (finding codes, severities, findings, pidfile states) and [`util`].
//! 1. [`discover`]: roots and paths -> candidate pidfiles (a dirfd walk that never follows links);
//!    [`pidfile`]: each is read safely and parsed strictly (the parser does no I/O); [`system`]: one
//!    [`system::Snapshot`] of `/proc`, read once, under a configurable root; [`supervise`]: what
//!    daemontools, runit and s6 keep in a service's `supervise/` directory (pure status parsers);
//!    [`units`]: systemd units' `PIDFile=` and their cgroups.
//! 2. [`config`]: options validated into a [`config::Config`] before any work; [`exit`]: every exit
//!    status and the policies that choose them.
//! 3. [`checks`]: one file per family; they record facts and findings on each entry, and
//!    [`checks::resolve`] derives the states.
//! 4. [`audit`]: [`audit::judge`] runs the stages and keeps the judged [`audit::Audit`].
//! 5. [`commands`]: scan, status, explain, fix and undo, each a function from a config to an
//!    outcome; [`fix`]: repair plans, re-verified actions, the journal and undo; [`watch`]: the
//!    audit kept current from inotify and pidfds, one event per change.
//! 6. [`report`]: the render model built from an audit, and the reporters (human, JSON, Nagios,
//!    Prometheus, JUnit), which decide nothing; [`textfile`] writes the metrics for node exporter.
//! 7. [`cli`]: parses the command line, runs a command, renders, maps the outcome to an exit code;
//!    [`completions`] writes its shell completion scripts.
//! 8. [`manpage`]: the manual pages, generated from the [`cli`] definition and the finding catalogue.

pub mod audit;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod completions;
pub mod config;
pub mod discover;
pub mod exit;
pub mod fix;
pub mod manpage;
pub mod model;
pub mod pidfile;
pub mod report;
pub mod supervise;
pub mod system;
pub mod textfile;
pub mod units;
pub mod util;
pub mod watch;

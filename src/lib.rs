//! pidaudit audits pidfiles against the live system and reports what is wrong with them.
//!
//! The pipeline, one module per stage:
//!
//! 1. [`discover`]: roots and paths -> candidate pidfiles (a dirfd walk that never follows links).
//! 2. [`pidfile`]: each candidate is read safely and parsed strictly (the parser does no I/O).
//! 3. [`system`]: one [`system::Snapshot`] of `/proc`, read once, under a configurable root.
//! 4. [`checks`]: one file per family; they turn entries into states and [`finding::Finding`]s.
//! 5. [`audit`]: runs the stages and builds the [`audit::Report`] model.
//! 6. [`report`]: renders the report (human, JSON, Nagios, Prometheus, JUnit); reporters decide
//!    nothing. [`textfile`] writes the Prometheus metrics for node exporter, when asked.
//!
//! [`cli`] parses the command line, [`config`] validates it (and the [`expect`] manifest, with
//! [`time`] for deploy times) before any work starts, and [`exit`] holds every exit status.
//! [`identity`] says what makes two processes the same daemon; [`parallel`] spreads independent
//! work over the cores.

pub mod audit;
pub mod checks;
pub mod cli;
pub mod config;
pub mod discover;
pub mod exit;
pub mod expect;
pub mod finding;
pub mod identity;
pub mod parallel;
pub mod pidfile;
pub mod report;
pub mod system;
pub mod textfile;
pub mod time;

//! Reporters: they render what was judged, and decide nothing.
//!
//! Every format is a [`Sink`]: it receives pidfile results and findings as they are judged, then
//! one [`Sink::finish`] call. The human report streams; the buffered formats (JSON, Nagios,
//! Prometheus, JUnit) collect and write in `finish`. A one-shot scan feeds a sink from a
//! [`Report`] ([`emit`]); a long-running command feeds it as results arrive.

pub mod explain;
pub mod fix;
pub mod human;
pub mod json;
pub mod junit;
pub mod model;
pub mod nagios;
pub mod prometheus;
pub mod watch;

pub use model::{PidfileReport, ProcessInfo, Report};

use crate::config::{Config, OutputFormat};
use crate::exit::NagiosStatus;
use crate::model::Finding;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// What a run is, apart from its results: known before the first result, complete at the end.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub host: String,
    pub generated_at: SystemTime,
    pub duration: Duration,
    pub roots: Vec<PathBuf>,
}

/// A reporter that receives results as they are judged.
pub trait Sink {
    /// One pidfile's result.
    fn pidfile(&mut self, p: PidfileReport, out: &mut dyn Write) -> std::io::Result<()>;
    /// A finding about no single pidfile.
    fn finding(&mut self, f: Finding, out: &mut dyn Write) -> std::io::Result<()>;
    /// The end of the run: buffered formats write everything here, streaming ones a summary.
    fn finish(&mut self, run: &RunInfo, out: &mut dyn Write) -> std::io::Result<()>;
}

/// A sink that collects the results and renders them as one document in `finish`.
pub struct Buffered<F: FnMut(&Report, &mut dyn Write) -> std::io::Result<()>> {
    pidfiles: Vec<PidfileReport>,
    findings: Vec<Finding>,
    render: F,
}

impl<F: FnMut(&Report, &mut dyn Write) -> std::io::Result<()>> Buffered<F> {
    pub fn new(render: F) -> Self {
        Buffered {
            pidfiles: Vec::new(),
            findings: Vec::new(),
            render,
        }
    }
}

impl<F: FnMut(&Report, &mut dyn Write) -> std::io::Result<()>> Sink for Buffered<F> {
    fn pidfile(&mut self, p: PidfileReport, _: &mut dyn Write) -> std::io::Result<()> {
        self.pidfiles.push(p);
        Ok(())
    }

    fn finding(&mut self, f: Finding, _: &mut dyn Write) -> std::io::Result<()> {
        self.findings.push(f);
        Ok(())
    }

    fn finish(&mut self, run: &RunInfo, out: &mut dyn Write) -> std::io::Result<()> {
        let report = Report {
            host: run.host.clone(),
            generated_at: run.generated_at,
            duration: run.duration,
            roots: run.roots.clone(),
            pidfiles: std::mem::take(&mut self.pidfiles),
            system_findings: std::mem::take(&mut self.findings),
        };
        (self.render)(&report, out)
    }
}

/// The sink for the configured format. `nagios` is the plugin status the exit policy chose.
pub fn sink<'a>(config: &'a Config, nagios: NagiosStatus) -> Box<dyn Sink + 'a> {
    match config.format {
        OutputFormat::Human => Box::new(human::Human::new(config)),
        OutputFormat::Json => Box::new(Buffered::new(json::render)),
        OutputFormat::Nagios => Box::new(Buffered::new(move |r: &Report, out: &mut dyn Write| {
            nagios::render(r, nagios, &config.thresholds, out)
        })),
        OutputFormat::Prometheus => Box::new(Buffered::new(prometheus::render)),
        OutputFormat::Junit => Box::new(Buffered::new(move |r: &Report, out: &mut dyn Write| {
            junit::render(r, config.fail_on, out)
        })),
    }
}

/// Feeds a finished report to a sink.
pub fn emit(report: Report, sink: &mut dyn Sink, out: &mut dyn Write) -> std::io::Result<()> {
    let run = RunInfo {
        host: report.host,
        generated_at: report.generated_at,
        duration: report.duration,
        roots: report.roots,
    };
    for p in report.pidfiles {
        sink.pidfile(p, out)?;
    }
    for f in report.system_findings {
        sink.finding(f, out)?;
    }
    sink.finish(&run, out)
}

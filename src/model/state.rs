//! The verdict on one pidfile.

use serde::Serialize;

/// The verdict on one pidfile, derived from the checks' facts by `checks::resolve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The PID is alive and plausibly the writer.
    Running,
    /// No process has the PID.
    Stale,
    /// The PID is a zombie.
    Zombie,
    /// The PID is alive but belongs to a process that started after the file was written.
    Reused,
    /// The content is not a valid PID, or names something no daemon can be (a thread, a kernel
    /// thread, init).
    Invalid,
    /// The file could not be read.
    Unreadable,
    /// The truth could not be determined.
    Unknown,
    /// A FIFO, socket, device, directory or symlink stands at the path.
    NotAFile,
    /// A pidfile named explicitly does not exist.
    Missing,
    /// A supervised service that is down: its supervisor's status names no process (runit empties
    /// `supervise/pid`), on purpose or between a death and the restart.
    Down,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Running,
        State::Stale,
        State::Zombie,
        State::Reused,
        State::Invalid,
        State::Unreadable,
        State::Unknown,
        State::NotAFile,
        State::Missing,
        State::Down,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stale => "stale",
            State::Zombie => "zombie",
            State::Reused => "reused",
            State::Invalid => "invalid",
            State::Unreadable => "unreadable",
            State::Unknown => "unknown",
            State::NotAFile => "not-a-file",
            State::Missing => "missing",
            State::Down => "down",
        }
    }
}

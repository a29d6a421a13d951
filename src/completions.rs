//! `pidaudit completions SHELL`: shell completion scripts, generated from the clap definition in
//! [`crate::cli`] (passed in as its `Command`) so they never drift from the options the binary
//! takes.
//!
//! The Debian package installs the same scripts, committed under `doc/completions/`
//! (`tests/ship.rs` regenerates them and compares).

use crate::exit::ExitStatus;
use clap::ValueEnum;
use std::io::Write;

/// A shell pidaudit writes completions for (those whose scripts the tests check with the shell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// The completion script of `cmd` (the `pidaudit` command) for `shell`.
pub fn script(shell: Shell, cmd: &mut clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell.generator(), cmd, "pidaudit", &mut out);
    out
}

/// Prints the completion script; a reader that closes the pipe early is not an error.
pub fn print(shell: Shell, cmd: &mut clap::Command) -> ExitStatus {
    let mut out = std::io::stdout().lock();
    match out
        .write_all(&script(shell, cmd))
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("pidaudit: error: {e}");
            ExitStatus::Error
        }
        _ => ExitStatus::Clean,
    }
}

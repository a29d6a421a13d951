fn main() -> std::process::ExitCode {
    raise_fd_limit();
    pidaudit::cli::main()
}

/// Raises the soft limit on open descriptors to the hard limit. The audit keeps the descriptors it
/// holds bounded whatever the number of directories and files, but threads, `/proc` and lock
/// holders each use a few at a time; a low soft limit (1024 is common) should not be what makes a
/// pidfile unreadable when the hard limit allows more.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let raise = match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if raise {
        // Failing (an infinite hard limit above `fs.nr_open`) leaves the soft limit as it was.
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}

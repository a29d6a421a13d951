//! `/proc/PID/status` parsing. Takes bytes, does no I/O, never panics.

/// The `/proc/PID/status` fields the audit judges on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Thread group ID: equal to the PID for a process, different for a thread.
    pub tgid: Option<i32>,
    pub ppid: Option<i32>,
    /// Real, effective, saved and filesystem UIDs.
    pub uids: Option<[u32; 4]>,
    /// The PID in each nested PID namespace, outermost first (Linux 4.1+).
    pub nspid: Vec<i32>,
    /// The number of threads in the thread group. A leader whose main thread has exited shows state
    /// `Z` while its other threads keep the process running.
    pub threads: Option<u32>,
}

impl Status {
    /// The real UID.
    pub fn uid(&self) -> Option<u32> {
        self.uids.map(|u| u[0])
    }
}

/// Parses `/proc/PID/status`. Unknown and malformed lines are skipped.
pub fn parse_status(bytes: &[u8]) -> Status {
    let mut out = Status::default();
    for line in bytes.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Tgid" => out.tgid = value.parse().ok(),
            "PPid" => out.ppid = value.parse().ok(),
            "Threads" => out.threads = value.parse().ok(),
            "Uid" => {
                let v: Vec<u32> = value
                    .split_ascii_whitespace()
                    .filter_map(|s| s.parse().ok())
                    .collect();
                if v.len() == 4 {
                    out.uids = Some([v[0], v[1], v[2], v[3]]);
                }
            }
            "NSpid" => {
                out.nspid = value
                    .split_ascii_whitespace()
                    .filter_map(|s| s.parse().ok())
                    .collect()
            }
            _ => {}
        }
    }
    out
}

/// Parses the `btime` line of `/proc/stat`: boot time in Unix seconds.
pub fn parse_btime(bytes: &[u8]) -> Option<u64> {
    bytes
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"btime "))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields used from a real status file, including a nested namespace.
    #[test]
    fn real_status() {
        let s = parse_status(b"Name:\tnginx\nState:\tS (sleeping)\nTgid:\t812\nNgid:\t0\nPid:\t812\nPPid:\t1\nUid:\t33\t33\t33\t33\nThreads:\t3\nNSpid:\t812\t1\n");
        assert_eq!(s.tgid, Some(812));
        assert_eq!(s.ppid, Some(1));
        assert_eq!(s.uid(), Some(33));
        assert_eq!(s.nspid, vec![812, 1]);
        assert_eq!(s.threads, Some(3));
    }

    #[test]
    fn btime() {
        assert_eq!(
            parse_btime(b"cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_btime(b"cpu 1\n"), None);
    }
}

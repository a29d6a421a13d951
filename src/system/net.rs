//! The sockets a process listens on: its socket descriptors (`socket:[INODE]` links under
//! `/proc/PID/fd`) matched against its network namespace's tables (`/proc/PID/net/tcp`, `tcp6`,
//! `udp`, `udp6`).
//!
//! Read only for the few processes a check asks about (orphaned workers, which may keep a port a
//! new master needs), through the process's verified `/proc/PID`, at most [`MAX_SOCKET_FDS`]
//! descriptors each, and [`TABLE_READ_CAP`] bytes of each table once per network namespace
//! ([`Tables`]). [`parse_table`] is a pure parser.

use super::{read_at, Process, Snapshot};
use rustix::fd::AsFd;
use rustix::io::Errno;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most descriptors looked at in one process.
pub const MAX_SOCKET_FDS: usize = 4096;
/// The most bytes read of one socket table (about 150 bytes a socket).
pub const TABLE_READ_CAP: usize = 8 << 20;

/// The kernel's `TCP_LISTEN` state as the tables print it.
const TCP_LISTEN: u8 = 0x0A;
/// `TCP_CLOSE`: how an unconnected (bound) UDP socket is printed.
const UDP_UNCONNECTED: u8 = 0x07;

/// The transport of a socket table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One socket bound to a local address that a new instance would need: a TCP socket in `LISTEN`,
/// or an unconnected UDP socket bound to a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

impl Listener {
    /// `127.0.0.1:8080/tcp`, `[::]:53/udp`.
    pub fn describe(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => format!("{a}:{}/{}", self.port, self.proto.as_str()),
            IpAddr::V6(a) => format!("[{a}]:{}/{}", self.port, self.proto.as_str()),
        }
    }
}

/// The listening entries of one table (`/proc/net/tcp`, `tcp6`, `udp`, `udp6`); lines that do
/// not parse are skipped. Addresses are printed as 32-bit words in host byte order, so the words'
/// native bytes are the address's network-order bytes. Pure.
pub fn parse_table(bytes: &[u8], proto: Proto) -> Vec<Listener> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .skip(1)
        .filter_map(|line| parse_line(line, proto))
        .collect()
}

fn parse_line(line: &str, proto: Proto) -> Option<Listener> {
    let mut f = line.split_whitespace();
    let _slot = f.next()?;
    let local = f.next()?;
    let remote = f.next()?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    let inode: u64 = f.nth(5)?.parse().ok()?;
    let (addr, port) = parse_addr(local)?;
    let (_, remote_port) = parse_addr(remote)?;
    let listening = match proto {
        Proto::Tcp => state == TCP_LISTEN,
        Proto::Udp => state == UDP_UNCONNECTED && remote_port == 0 && port != 0,
    };
    (listening && inode != 0).then_some(Listener {
        proto,
        addr,
        port,
        inode,
    })
}

/// `0100007F:1F90` or a 32-digit IPv6 address and a port.
fn parse_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(w, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The inode a `socket:[INODE]` link names.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    std::str::from_utf8(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
        .ok()?
        .parse()
        .ok()
}

/// The bound sockets of each network namespace read so far, by the namespace's link text
/// (`net:[INODE]`): the processes of one namespace (a dead master's workers) share its tables,
/// which are read once.
#[derive(Default)]
pub struct Tables {
    by_ns: HashMap<Vec<u8>, Result<Vec<Listener>, Errno>>,
}

/// The sockets `process` listens on (sorted, without duplicates), read through its verified
/// `/proc/PID`; `Err` when its descriptors or its network tables could not be read.
pub fn listening(
    snap: &Snapshot,
    process: &Process,
    tables: &mut Tables,
) -> Result<Vec<Listener>, Errno> {
    let dir = snap.verified_dir(process).ok_or(Errno::SRCH)?;
    let inodes = socket_inodes(&dir)?;
    if inodes.is_empty() {
        return Ok(Vec::new());
    }
    let ns = rustix::fs::readlinkat(&dir, "ns/net", Vec::new())?.into_bytes();
    let bound = tables
        .by_ns
        .entry(ns)
        .or_insert_with(|| read_tables(&dir))
        .as_ref()
        .map_err(|e| *e)?;
    let mut out: Vec<Listener> = bound
        .iter()
        .filter(|l| inodes.contains(&l.inode))
        .cloned()
        .collect();
    out.sort_by(|a, b| (a.port, a.proto.as_str(), a.addr).cmp(&(b.port, b.proto.as_str(), b.addr)));
    out.dedup();
    Ok(out)
}

/// Every bound socket of the network namespace `/proc/PID` (`dir`) is in. The kernel prints a
/// TCP table's listening sockets before its connections, so a table cut at [`TABLE_READ_CAP`]
/// keeps them.
fn read_tables(dir: impl AsFd) -> Result<Vec<Listener>, Errno> {
    let mut out = Vec::new();
    for (table, proto) in [
        ("net/tcp", Proto::Tcp),
        ("net/tcp6", Proto::Tcp),
        ("net/udp", Proto::Udp),
        ("net/udp6", Proto::Udp),
    ] {
        match read_at(&dir, table, TABLE_READ_CAP) {
            Ok(bytes) => out.extend(parse_table(&bytes, proto)),
            // A kernel without IPv6 has no tcp6/udp6.
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The inodes of the sockets among the first [`MAX_SOCKET_FDS`] descriptors under `dir/fd`.
fn socket_inodes(dir: impl AsFd) -> Result<HashSet<u64>, Errno> {
    use rustix::fs::{Mode, OFlags};
    let fds = rustix::fs::openat(
        &dir,
        "fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = HashSet::new();
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
    let mut entries = rustix::fs::RawDir::new(&fds, &mut buf);
    let mut seen = 0;
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes().first().is_none_or(|b| !b.is_ascii_digit()) {
            continue;
        }
        seen += 1;
        if seen > MAX_SOCKET_FDS {
            break;
        }
        if let Ok(link) = rustix::fs::readlinkat(&fds, name, Vec::new()) {
            out.extend(socket_inode(link.as_bytes()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1\n garbage\n";

    /// Only the listening socket is kept; the established connection and garbage are not.
    #[test]
    fn tcp_listen_entries() {
        let l = parse_table(TCP.as_bytes(), Proto::Tcp);
        assert_eq!(l.len(), 1);
        let want = if cfg!(target_endian = "little") {
            "127.0.0.1:8080/tcp"
        } else {
            "1.0.0.127:8080/tcp"
        };
        assert_eq!(l[0].describe(), want);
        assert_eq!(l[0].inode, 4242);
    }

    /// IPv6 wildcard and loopback; a bound unconnected UDP socket counts, a port-0 one does not.
    #[test]
    fn ipv6_and_udp() {
        let tcp6 = "h\n 0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 77 1\n";
        assert_eq!(
            parse_table(tcp6.as_bytes(), Proto::Tcp)[0].describe(),
            "[::]:80/tcp"
        );
        let udp = "h\n 1: 00000000:0035 00000000:0000 07 0:0 0:0 0 0 0 78 2\n 2: 00000000:0000 00000000:0000 07 0:0 0:0 0 0 0 79 2\n";
        let l = parse_table(udp.as_bytes(), Proto::Udp);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].describe(), "0.0.0.0:53/udp");
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
    }

    /// Never panics on arbitrary bytes.
    #[test]
    fn hostile_bytes() {
        for b in [
            &b"\xff\xfe"[..],
            b"h\n0: :\n",
            b"h\n0: 1:2 3:4 zz",
            b"h\n0: 0100007F:FFFFF 0:0 0A a b c d e 1",
        ] {
            let _ = parse_table(b, Proto::Tcp);
        }
    }
}

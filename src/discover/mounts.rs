//! Mounts: which filesystem a directory or file is on, known before anything on it is touched.
//!
//! A FUSE server that never answers (any user can mount one with the setuid `fusermount`), an
//! unreachable NFS or SMB server, or an automount trigger can hang a process that looks a name up,
//! opens, `stat`s or `statfs`es a file there. pidaudit opens every component with
//! `O_PATH|O_NOFOLLOW` (which asks the filesystem nothing) and examines the descriptor with
//! `statx(AT_STATX_DONT_SYNC|AT_NO_AUTOMOUNT)` (cached attributes: no request to a FUSE or network
//! server, no automount); its mount ID says, through the table parsed here from
//! `/proc/self/mountinfo`, which filesystem it is on. Only a component on a filesystem that cannot
//! hang ([`FsKind::may_hang`]) is then opened for reading or looked into.
//!
//! The table is read once per run (capped at [`MOUNTINFO_CAP`] bytes) and again, at most
//! [`MAX_REFRESHES`] times, when a mount ID is not in it (a mount made during the run). A mount
//! that is still unknown is treated as one that may hang.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, Statx, StatxFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{OnceLock, RwLock};

/// The most bytes of `/proc/self/mountinfo` read (about 100,000 mounts).
pub const MOUNTINFO_CAP: usize = 16 << 20;
/// How often per run the table is read again for a mount ID it does not hold.
pub const MAX_REFRESHES: u32 = 4;

/// What kind of filesystem a mount is, as far as reading it safely goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FsKind {
    /// A local filesystem (ext4, xfs, btrfs, tmpfs, overlay, ...).
    Local,
    /// procfs: magic links that resolve to open files rather than paths.
    Proc,
    /// sysfs: reading runs driver code.
    Sys,
    /// FUSE (`fuse`, `fuseblk`, `fuse.*`): its server, possibly any user's process, answers every
    /// request, or never does.
    Fuse,
    /// A network or cluster filesystem (NFS, SMB, 9p, AFS, Ceph, ...): an unreachable server hangs
    /// its readers.
    Network,
    /// An automount point: entering it mounts something, perhaps from the network.
    Automount,
    /// A mount not found in `/proc/self/mountinfo`.
    Unknown,
}

impl FsKind {
    /// The kind of a `mountinfo` filesystem type.
    pub fn of(fstype: &str) -> FsKind {
        const NETWORK: &[&str] = &[
            "nfs",
            "nfs4",
            "cifs",
            "smb3",
            "smbfs",
            "ncpfs",
            "9p",
            "afs",
            "ceph",
            "coda",
            "glusterfs",
            "lustre",
            "gfs2",
            "ocfs2",
            "orangefs",
            "beegfs",
            "gpfs",
            "davfs",
        ];
        match fstype {
            "proc" => FsKind::Proc,
            "sysfs" => FsKind::Sys,
            "fuse" | "fuseblk" => FsKind::Fuse,
            "autofs" => FsKind::Automount,
            t if t.starts_with("fuse.") || t.starts_with("fuseblk.") => FsKind::Fuse,
            t if NETWORK.contains(&t) => FsKind::Network,
            _ => FsKind::Local,
        }
    }

    /// Whether looking into, opening or `stat`ing (without `AT_STATX_DONT_SYNC`) something on it may
    /// block for ever.
    pub fn may_hang(self) -> bool {
        matches!(
            self,
            FsKind::Fuse | FsKind::Network | FsKind::Automount | FsKind::Unknown
        )
    }

    /// The operation refused on a directory of this kind met by the walk ("cannot enter FUSE mount
    /// PATH").
    pub fn enter_op(self) -> &'static str {
        match self {
            FsKind::Fuse => "enter FUSE mount",
            FsKind::Network => "enter network mount",
            FsKind::Automount => "enter automount point",
            _ => "enter unidentified mount",
        }
    }

    /// The operation refused on a path named on the command line that leads through such a mount
    /// ("cannot follow a path through a FUSE mount to PATH").
    pub fn through_op(self) -> &'static str {
        match self {
            FsKind::Fuse => "follow a path through a FUSE mount to",
            FsKind::Network => "follow a path through a network mount to",
            FsKind::Automount => "follow a path through an automount point to",
            _ => "follow a path through an unidentified mount to",
        }
    }

    /// The operation refused on a pidfile that is itself on such a mount.
    pub fn open_op(self) -> &'static str {
        match self {
            FsKind::Fuse => "open a file on a FUSE mount",
            FsKind::Network => "open a file on a network mount",
            FsKind::Automount => "open an automount point",
            _ => "open a file on an unidentified mount",
        }
    }
}

/// The errno reported for something not entered or opened because its filesystem may hang
/// (`EREMOTE`, "Object is remote").
pub const REFUSED: Errno = Errno::REMOTE;

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    /// Device `(major, minor)`.
    pub dev: (u32, u32),
    /// Where it is mounted (octal escapes decoded).
    pub point: Vec<u8>,
    pub fstype: String,
}

/// Parses `/proc/self/mountinfo`. Takes bytes, does no I/O; lines that do not parse (a line cut by
/// the read cap) are skipped.
pub fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    text.split(|&b| b == b'\n').filter_map(parse_line).collect()
}

/// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`: mount
/// ID, parent ID, `major:minor`, root, mount point, options, optional fields up to `-`, filesystem
/// type, source, superblock options.
fn parse_line(line: &[u8]) -> Option<Mount> {
    let mut fields = line.split(|&b| b == b' ');
    let id = number(fields.next()?)?;
    number(fields.next()?)?;
    let dev = fields.next()?;
    let colon = dev.iter().position(|&b| b == b':')?;
    let dev = (
        u32::try_from(number(&dev[..colon])?).ok()?,
        u32::try_from(number(&dev[colon + 1..])?).ok()?,
    );
    fields.next()?;
    let point = unescape(fields.next()?);
    fields.next()?;
    // Optional fields (`shared:N`, `master:N`, ...), then the separator.
    while fields.next()? != b"-" {}
    let fstype = String::from_utf8(unescape(fields.next()?)).ok()?;
    if fstype.is_empty() {
        return None;
    }
    Some(Mount {
        id,
        dev,
        point,
        fstype,
    })
}

fn number(field: &[u8]) -> Option<u64> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Decodes the kernel's `\ooo` escapes (space, tab, newline, backslash).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field.get(i + 1..i + 4).filter(|d| {
            d.iter().all(|b| (b'0'..=b'7').contains(b)) && d[0] <= b'3' && field[i] == b'\\'
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// The kind of every mount, by mount ID and by device.
#[derive(Clone, Debug, Default)]
pub struct MountTable {
    by_id: HashMap<u64, FsKind>,
    /// Mounts of one device share a superblock; should kinds differ, the one that may hang wins.
    by_dev: HashMap<(u32, u32), FsKind>,
}

impl MountTable {
    /// Builds the table from parsed mounts. Pure.
    pub fn new(mounts: &[Mount]) -> MountTable {
        let mut t = MountTable::default();
        for m in mounts {
            let kind = FsKind::of(&m.fstype);
            t.by_id.insert(m.id, kind);
            let e = t.by_dev.entry(m.dev).or_insert(kind);
            if kind.may_hang() && !e.may_hang() {
                *e = kind;
            }
        }
        t
    }

    /// The kind of the mount with this ID (when `statx` gave one) or, failing that, device.
    pub fn kind(&self, id: Option<u64>, dev: (u32, u32)) -> Option<FsKind> {
        match id {
            Some(id) => self.by_id.get(&id).copied(),
            None => self.by_dev.get(&dev).copied(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// This process's mount table and how often it was read again.
struct Loaded {
    table: MountTable,
    refreshes: u32,
}

fn loaded() -> &'static RwLock<Loaded> {
    static TABLE: OnceLock<RwLock<Loaded>> = OnceLock::new();
    TABLE.get_or_init(|| {
        RwLock::new(Loaded {
            table: read_table(),
            refreshes: 0,
        })
    })
}

/// Reads and parses `/proc/self/mountinfo` (an empty table when it cannot be read: every mount is
/// then unknown).
fn read_table() -> MountTable {
    let Ok(fd) = rustix::fs::open(
        "/proc/self/mountinfo",
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    ) else {
        return MountTable::default();
    };
    let mut buf = vec![0u8; 64 << 10];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if buf.len() >= MOUNTINFO_CAP {
                break;
            }
            buf.resize((buf.len() * 2).min(MOUNTINFO_CAP), 0);
        }
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    buf.truncate(len);
    // A line cut by the cap is dropped, not half-parsed.
    if len == MOUNTINFO_CAP {
        if let Some(end) = buf.iter().rposition(|&b| b == b'\n') {
            buf.truncate(end);
        }
    }
    MountTable::new(&parse_mountinfo(&buf))
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// The kind of filesystem a `statx` result (from [`probe`]) is on.
pub fn kind_of(st: &Statx) -> FsKind {
    let id = (st.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(st.stx_mnt_id);
    let dev = (st.stx_dev_major, st.stx_dev_minor);
    let lock = loaded();
    if let Some(kind) = read_lock(lock).table.kind(id, dev) {
        return kind;
    }
    let mut w = lock.write().unwrap_or_else(|e| e.into_inner());
    if let Some(kind) = w.table.kind(id, dev) {
        return kind;
    }
    if w.refreshes >= MAX_REFRESHES {
        return FsKind::Unknown;
    }
    w.refreshes += 1;
    w.table = read_table();
    w.table.kind(id, dev).unwrap_or(FsKind::Unknown)
}

/// `statx` of what a descriptor refers to (a link itself for an `O_PATH|O_NOFOLLOW` one), from
/// cached attributes: no request reaches a FUSE or network server, no automount is triggered.
pub fn probe(fd: BorrowedFd<'_>) -> Result<Statx, Errno> {
    rustix::fs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH
            | AtFlags::SYMLINK_NOFOLLOW
            | AtFlags::STATX_DONT_SYNC
            | AtFlags::NO_AUTOMOUNT,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )
}

/// A component opened without asking its filesystem anything: an `O_PATH|O_NOFOLLOW` descriptor
/// (a final symlink is the link itself), its cached `statx` and the kind of its mount.
pub struct Component {
    pub fd: OwnedFd,
    pub st: Statx,
    pub kind: FsKind,
}

impl Component {
    pub fn is_dir(&self) -> bool {
        u32::from(self.st.stx_mode) & 0o170000 == 0o040000
    }

    pub fn is_symlink(&self) -> bool {
        u32::from(self.st.stx_mode) & 0o170000 == 0o120000
    }

    /// `(device, inode)`, the device encoded as `st_dev` is.
    pub fn id(&self) -> (u64, u64) {
        id_of(&self.st)
    }
}

/// `(device, inode)` of a `statx` result, the device encoded as `st_dev` is.
pub fn id_of(st: &Statx) -> (u64, u64) {
    (
        rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor) as u64,
        st.stx_ino,
    )
}

/// Opens `name` in `dir` as a [`Component`]. `dir` must be on a filesystem that cannot hang: the
/// name is looked up there.
pub fn open_component(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Component, Errno> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = probe(fd.as_fd())?;
    let kind = kind_of(&st);
    Ok(Component { fd, st, kind })
}

/// `fstat`, unless the descriptor is on a filesystem that may hang (then [`REFUSED`]): its cached
/// attributes are examined first.
pub fn fstat_safe(fd: BorrowedFd<'_>) -> Result<rustix::fs::Stat, Errno> {
    let st = probe(fd)?;
    if kind_of(&st).may_hang() {
        return Err(REFUSED);
    }
    rustix::fs::fstat(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684084k
42 27 0:39 / /tmp/with\\040space/mnt rw,relatime - fuse deadfuse rw,user_id=0,group_id=0
43 27 0:40 / /home/u/remote rw,nosuid,nodev shared:7 master:3 - fuse.sshfs u@host: rw
44 27 0:41 / /srv/nfs rw - nfs4 server:/export rw,vers=4.2
45 27 0:42 / /net rw - autofs systemd-1 rw
46 27 0:43 / /disk rw - fuseblk /dev/sdb1 rw
";

    /// Every field a line holds is read, escapes decoded, optional fields skipped.
    #[test]
    fn parses_lines() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 8);
        assert_eq!(
            m[1],
            Mount {
                id: 27,
                dev: (254, 0),
                point: b"/".to_vec(),
                fstype: "ext4".into()
            }
        );
        assert_eq!(m[3].point, b"/tmp/with space/mnt");
        assert_eq!(m[3].fstype, "fuse");
        assert_eq!(m[4].fstype, "fuse.sshfs");
        assert_eq!(m[4].dev, (0, 40));
    }

    /// Filesystem types map to the kinds that decide whether a mount is entered.
    #[test]
    fn kinds() {
        let t = MountTable::new(&parse_mountinfo(SAMPLE));
        let kind = |id| t.kind(Some(id), (9999, 9999)).unwrap();
        assert_eq!(kind(22), FsKind::Proc);
        assert_eq!(kind(27), FsKind::Local);
        assert_eq!(kind(30), FsKind::Local);
        assert_eq!(kind(42), FsKind::Fuse);
        assert_eq!(kind(43), FsKind::Fuse);
        assert_eq!(kind(44), FsKind::Network);
        assert_eq!(kind(45), FsKind::Automount);
        assert_eq!(kind(46), FsKind::Fuse);
        assert_eq!(t.kind(Some(99), (254, 0)), None);
        // Without a mount ID the device decides.
        assert_eq!(t.kind(None, (0, 39)), Some(FsKind::Fuse));
        assert_eq!(t.kind(None, (254, 0)), Some(FsKind::Local));
        for k in [
            FsKind::Fuse,
            FsKind::Network,
            FsKind::Automount,
            FsKind::Unknown,
        ] {
            assert!(k.may_hang());
        }
        for k in [FsKind::Local, FsKind::Proc, FsKind::Sys] {
            assert!(!k.may_hang());
        }
        assert_eq!(FsKind::of("virtiofs"), FsKind::Local);
        assert_eq!(FsKind::of("cifs"), FsKind::Network);
    }

    /// Garbage, truncated lines and a missing separator are skipped, never a panic.
    #[test]
    fn hostile_lines() {
        for line in [
            &b""[..],
            b"x",
            b"1 2 3",
            b"1 2 0:1 / /a rw shared:1",
            b"1 2 0:1 / /a rw -",
            b"1 2 0x:1 / /a rw - ext4 x rw",
            b"99999999999999999999999 2 0:1 / /a rw - ext4 x rw",
            b"1 2 0:99999999999 / /a rw - ext4 x rw",
            b"1 2 0:1 / /a\\ rw - ext4 x rw",
            b"1 2 0:1 / /a\\777 rw - ext4 x rw",
        ] {
            let m = parse_mountinfo(line);
            assert!(m.len() <= 1, "{line:?}");
        }
        assert_eq!(
            parse_mountinfo(b"1 2 0:1 / /a\\777 rw - ext4 x rw")[0].point,
            b"/a\\777"
        );
    }

    /// This process's table holds the root mount, and `/` is local and found by its statx.
    #[test]
    fn live_table() {
        let root = rustix::fs::open("/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let st = probe(root.as_fd()).unwrap();
        assert!(!kind_of(&st).may_hang());
        let proc =
            rustix::fs::open("/proc", OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap();
        assert_eq!(kind_of(&probe(proc.as_fd()).unwrap()), FsKind::Proc);
    }
}

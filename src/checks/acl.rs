//! POSIX access ACLs, for the trust check: who besides the owner, the group and others may write a
//! pidfile or a directory on its path.
//!
//! Linux stores a file's access ACL in the `system.posix_acl_access` extended attribute: a 4-byte
//! little-endian version (2), then 8-byte entries of tag (u16), permissions (u16) and id (u32). Named
//! users and groups (`ACL_USER`, `ACL_GROUP`) get at most what the mask (`ACL_MASK`) allows, and an
//! ACL with named entries always has a mask, which the mode's group bits show: a write grant to a
//! named user or group is possible only when the mode has the group write bit, so the attribute is
//! read only then. [`parse`] takes bytes and does no I/O; [`read`] fetches the attribute of an
//! open descriptor.

use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;

/// The extended attribute that holds the access ACL.
pub const XATTR: &str = "system.posix_acl_access";

const VERSION: u32 = 2;
const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
const ACL_WRITE: u16 = 0x02;

/// Who an entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    UserObj,
    User,
    GroupObj,
    Group,
    Mask,
    Other,
}

/// One ACL entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub tag: Tag,
    /// `rwx` bits: 4 read, 2 write, 1 execute.
    pub perm: u16,
    /// The uid (`User`) or gid (`Group`); meaningless for the other tags.
    pub id: u32,
}

/// A parsed access ACL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    pub entries: Vec<AclEntry>,
}

/// A named user or group whose entry lets it write (the mask allowing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `true` for a named user (`id` is a uid), `false` for a named group (`id` is a gid).
    pub user: bool,
    pub id: u32,
}

impl Grant {
    /// `user` or `group`, as evidence says it.
    pub fn kind(self) -> &'static str {
        if self.user {
            "user"
        } else {
            "group"
        }
    }
}

/// Why an ACL attribute could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclError(pub &'static str);

/// Parses a `system.posix_acl_access` value.
pub fn parse(bytes: &[u8]) -> Result<Acl, AclError> {
    let (version, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or(AclError("shorter than its header"))?;
    if u32::from_le_bytes(*version) != VERSION {
        return Err(AclError("unknown version"));
    }
    if rest.len() % 8 != 0 {
        return Err(AclError("truncated entry"));
    }
    let entries = rest
        .chunks_exact(8)
        .map(|e| {
            let tag = match u16::from_le_bytes([e[0], e[1]]) {
                ACL_USER_OBJ => Tag::UserObj,
                ACL_USER => Tag::User,
                ACL_GROUP_OBJ => Tag::GroupObj,
                ACL_GROUP => Tag::Group,
                ACL_MASK => Tag::Mask,
                ACL_OTHER => Tag::Other,
                _ => return Err(AclError("unknown tag")),
            };
            Ok(AclEntry {
                tag,
                perm: u16::from_le_bytes([e[2], e[3]]),
                id: u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Acl { entries })
}

impl Acl {
    fn mask_writes(&self) -> bool {
        self.entries
            .iter()
            .find(|e| e.tag == Tag::Mask)
            .is_none_or(|m| m.perm & ACL_WRITE != 0)
    }

    /// The named users and groups that may write, the mask allowing.
    pub fn write_grants(&self) -> Vec<Grant> {
        if !self.mask_writes() {
            return Vec::new();
        }
        self.entries
            .iter()
            .filter(|e| e.perm & ACL_WRITE != 0)
            .filter_map(|e| match e.tag {
                Tag::User => Some(Grant {
                    user: true,
                    id: e.id,
                }),
                Tag::Group => Some(Grant {
                    user: false,
                    id: e.id,
                }),
                _ => None,
            })
            .collect()
    }

    /// Whether the owning group may write (its entry, the mask allowing): with an ACL, the mode's
    /// group bits show the mask, not the owning group's permissions.
    pub fn group_obj_writes(&self) -> bool {
        self.mask_writes()
            && self
                .entries
                .iter()
                .any(|e| e.tag == Tag::GroupObj && e.perm & ACL_WRITE != 0)
    }
}

/// The largest extended attribute value Linux stores (`XATTR_SIZE_MAX`).
const XATTR_SIZE_MAX: usize = 65536;

/// The access ACL of an open file or directory; `Ok(None)` when it has none (or the filesystem has
/// no ACLs). An `O_PATH` descriptor (which `fgetxattr` refuses) is read through its
/// `/proc/self/fd` link, which names the open file itself: no path is looked up by name.
pub fn read(fd: BorrowedFd<'_>) -> Result<Option<Acl>, Errno> {
    let mut buf = vec![0u8; XATTR_SIZE_MAX];
    let got = match rustix::fs::fgetxattr(fd, XATTR, &mut buf[..]) {
        Err(Errno::BADF) => rustix::fs::getxattr(
            format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
            XATTR,
            &mut buf[..],
        ),
        r => r,
    };
    match got {
        Ok(n) => parse(&buf[..n]).map(Some).map_err(|_| Errno::INVAL),
        Err(Errno::NODATA | Errno::NOTSUP) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut b = VERSION.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&perm.to_le_bytes());
            b.extend_from_slice(&id.to_le_bytes());
        }
        b
    }

    const NONE: u32 = u32::MAX;

    /// What `setfacl -m u:nobody:rwx` on a `drwxr-xr-x` directory stores: nobody may write.
    #[test]
    fn named_user_write() {
        let bytes = acl(&[
            (ACL_USER_OBJ, 7, NONE),
            (ACL_USER, 7, 65534),
            (ACL_GROUP_OBJ, 5, NONE),
            (ACL_MASK, 7, NONE),
            (ACL_OTHER, 5, NONE),
        ]);
        let a = parse(&bytes).unwrap();
        assert_eq!(
            a.write_grants(),
            [Grant {
                user: true,
                id: 65534
            }]
        );
        assert!(!a.group_obj_writes());
    }

    /// A mask without write takes it from named entries and the owning group alike.
    #[test]
    fn mask_limits_grants() {
        let a = parse(&acl(&[
            (ACL_USER_OBJ, 6, NONE),
            (ACL_USER, 6, 1000),
            (ACL_GROUP_OBJ, 6, NONE),
            (ACL_GROUP, 6, 50),
            (ACL_MASK, 4, NONE),
            (ACL_OTHER, 4, NONE),
        ]))
        .unwrap();
        assert!(a.write_grants().is_empty());
        assert!(!a.group_obj_writes());
        let a = parse(&acl(&[
            (ACL_USER_OBJ, 6, NONE),
            (ACL_GROUP_OBJ, 6, NONE),
            (ACL_GROUP, 2, 50),
            (ACL_MASK, 6, NONE),
            (ACL_OTHER, 4, NONE),
        ]))
        .unwrap();
        assert_eq!(
            a.write_grants(),
            [Grant {
                user: false,
                id: 50
            }]
        );
        assert!(a.group_obj_writes());
    }

    /// Malformed attributes are errors, never a partial ACL.
    #[test]
    fn malformed() {
        assert!(parse(b"").is_err());
        assert!(parse(&1u32.to_le_bytes()).is_err());
        let mut b = acl(&[(ACL_USER_OBJ, 6, NONE)]);
        b.pop();
        assert!(parse(&b).is_err());
        assert!(parse(&acl(&[(0x40, 6, NONE)])).is_err());
        assert_eq!(parse(&acl(&[])).unwrap(), Acl::default());
    }
}

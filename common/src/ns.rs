//! The namespace table: the only one in nstools. Parsers, `/proc/PID/ns/`
//! lookups, type checks and the man pages all follow it.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// One namespace type.
#[derive(Debug, PartialEq, Eq)]
pub struct Namespace {
    /// The type name `lsns` and `readlink /proc/PID/ns/X` show: `mnt`, `net`, …
    pub name: &'static str,
    /// The file under `/proc/PID/ns/`.
    pub proc_name: &'static str,
    /// `CLONE_NEW*`, also what `NS_GET_NSTYPE` answers.
    pub flag: libc::c_int,
    /// The short option that asks for it (`-m`), as in unshare(1).
    pub letter: char,
    /// The long option that asks for it (`--mount`), as in unshare(1).
    pub long: &'static str,
    /// The first Linux release with this namespace type.
    pub since: &'static str,
}

/// Every namespace type, in the order to enter them when gaining privilege
/// (user first; nsenter(1) documents why).
pub const NAMESPACES: [Namespace; 8] = [
    Namespace { name: "user", proc_name: "user", flag: libc::CLONE_NEWUSER, letter: 'U', long: "user", since: "3.8" },
    Namespace {
        name: "cgroup",
        proc_name: "cgroup",
        flag: libc::CLONE_NEWCGROUP,
        letter: 'C',
        long: "cgroup",
        since: "4.6",
    },
    Namespace { name: "ipc", proc_name: "ipc", flag: libc::CLONE_NEWIPC, letter: 'i', long: "ipc", since: "2.6.19" },
    Namespace { name: "uts", proc_name: "uts", flag: libc::CLONE_NEWUTS, letter: 'u', long: "uts", since: "2.6.19" },
    Namespace { name: "net", proc_name: "net", flag: libc::CLONE_NEWNET, letter: 'n', long: "net", since: "2.6.24" },
    Namespace { name: "pid", proc_name: "pid", flag: libc::CLONE_NEWPID, letter: 'p', long: "pid", since: "2.6.24" },
    Namespace { name: "mnt", proc_name: "mnt", flag: libc::CLONE_NEWNS, letter: 'm', long: "mount", since: "2.4.19" },
    Namespace { name: "time", proc_name: "time", flag: libc::CLONE_NEWTIME, letter: 'T', long: "time", since: "5.6" },
];

/// Look a type up by its type name (`mnt`) or its long option (`mount`).
pub fn by_name(name: &str) -> Option<&'static Namespace> {
    NAMESPACES.iter().find(|ns| ns.name == name || ns.long == name)
}

/// Look a type up by its `CLONE_NEW*` flag.
pub fn by_flag(flag: libc::c_int) -> Option<&'static Namespace> {
    NAMESPACES.iter().find(|ns| ns.flag == flag)
}

/// Look a type up by its short option letter.
pub fn by_letter(letter: char) -> Option<&'static Namespace> {
    NAMESPACES.iter().find(|ns| ns.letter == letter)
}

/// The type names, for messages: `user, cgroup, ipc, …`.
pub fn names() -> String {
    NAMESPACES.iter().map(|ns| ns.name).collect::<Vec<_>>().join(", ")
}

/// The id (inode) of the namespace a `/proc/PID/ns/*` entry or ns file names.
pub fn id_of(path: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The long options of the types in `flags`, for traces: `--net --mount`.
pub fn long_options(flags: libc::c_int) -> String {
    let names: Vec<String> =
        NAMESPACES.iter().filter(|n| flags & n.flag != 0).map(|n| format!("--{}", n.long)).collect();
    if names.is_empty() { "(no new namespaces)".to_owned() } else { names.join(" ") }
}

/// What an open file is, seen as a namespace.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Namespace(&'static Namespace),
    /// Not a file of the nsfs filesystem.
    NotNamespace,
}

/// Ask the kernel what namespace type `fd` refers to (Linux 4.11).
pub fn kind_of(fd: BorrowedFd<'_>) -> Result<Kind, Errno> {
    let fs = nix::sys::statfs::fstatfs(fd)?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return Ok(Kind::NotNamespace);
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    let flag = Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_NSTYPE) })?;
    Ok(by_flag(flag).map_or(Kind::NotNamespace, Kind::Namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for (i, a) in NAMESPACES.iter().enumerate() {
            for b in &NAMESPACES[i + 1..] {
                assert_ne!(a.flag, b.flag);
                assert_ne!(a.letter, b.letter);
                assert_ne!(a.long, b.long);
                assert_ne!(a.name, b.name);
            }
            assert_eq!(by_flag(a.flag), Some(a));
            assert_eq!(by_letter(a.letter), Some(a));
            assert_eq!(by_name(a.name), Some(a));
            assert_eq!(by_name(a.long), Some(a));
        }
        assert_eq!(by_name("mount").map(|n| n.name), Some("mnt"));
        assert_eq!(by_name("bogus"), None);
    }

    #[test]
    fn long_options_for_traces() {
        assert_eq!(long_options(libc::CLONE_NEWNS | libc::CLONE_NEWNET), "--net --mount");
        assert_eq!(long_options(0), "(no new namespaces)");
    }

    #[test]
    fn letters_follow_unshare() {
        let letters: String = NAMESPACES.iter().map(|n| n.letter).collect();
        assert_eq!(letters, "UCiunpmT");
    }

    #[test]
    fn every_proc_entry_of_this_kernel_is_known() {
        for ns in &NAMESPACES {
            let p = format!("/proc/self/ns/{}", ns.proc_name);
            if let Ok(link) = std::fs::read_link(&p) {
                assert!(link.to_string_lossy().starts_with(&format!("{}:[", ns.name)), "{p} -> {link:?}");
            }
        }
    }
}

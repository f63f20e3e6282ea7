//! The namespace table: the only one in nstools. Parsers, `/proc/PID/ns/`
//! lookups, type checks and the man pages all follow it.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open as open_at};
use nix::mount::{MsFlags, mount};

use crate::error::Error;
use crate::trace;

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
    /// Its name in an OCI config's linux.namespaces[].type (`network`, `mount`, …).
    pub oci: &'static str,
}

/// Every namespace type, in the order to enter them when gaining privilege
/// (user first; nsenter(1) documents why).
pub const NAMESPACES: [Namespace; 8] = [
    Namespace {
        name: "user",
        proc_name: "user",
        flag: libc::CLONE_NEWUSER,
        letter: 'U',
        long: "user",
        since: "3.8",
        oci: "user",
    },
    Namespace {
        name: "cgroup",
        proc_name: "cgroup",
        flag: libc::CLONE_NEWCGROUP,
        letter: 'C',
        long: "cgroup",
        since: "4.6",
        oci: "cgroup",
    },
    Namespace {
        name: "ipc",
        proc_name: "ipc",
        flag: libc::CLONE_NEWIPC,
        letter: 'i',
        long: "ipc",
        since: "2.6.19",
        oci: "ipc",
    },
    Namespace {
        name: "uts",
        proc_name: "uts",
        flag: libc::CLONE_NEWUTS,
        letter: 'u',
        long: "uts",
        since: "2.6.19",
        oci: "uts",
    },
    Namespace {
        name: "net",
        proc_name: "net",
        flag: libc::CLONE_NEWNET,
        letter: 'n',
        long: "net",
        since: "2.6.24",
        oci: "network",
    },
    Namespace {
        name: "pid",
        proc_name: "pid",
        flag: libc::CLONE_NEWPID,
        letter: 'p',
        long: "pid",
        since: "2.6.24",
        oci: "pid",
    },
    Namespace {
        name: "mnt",
        proc_name: "mnt",
        flag: libc::CLONE_NEWNS,
        letter: 'm',
        long: "mount",
        since: "2.4.19",
        oci: "mount",
    },
    Namespace {
        name: "time",
        proc_name: "time",
        flag: libc::CLONE_NEWTIME,
        letter: 'T',
        long: "time",
        since: "5.6",
        oci: "time",
    },
];

/// Look a type up by its type name (`mnt`) or its long option (`mount`).
pub fn by_name(name: &str) -> Option<&'static Namespace> {
    NAMESPACES.iter().find(|ns| ns.name == name || ns.long == name)
}

/// Look a type up by its file under `/proc/PID/ns/` (`mnt`, `net`, …).
pub fn by_proc_name(name: &str) -> Option<&'static Namespace> {
    NAMESPACES.iter().find(|ns| ns.proc_name == name)
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

/// What a failed unshare/clone means for the user.
pub fn namespace_failure(what: &str, flags: libc::c_int, errno: Errno) -> Error {
    let names: Vec<&str> = crate::ns::NAMESPACES.iter().filter(|n| flags & n.flag != 0).map(|n| n.name).collect();
    let object = names.join(",");
    let filtered = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| under_seccomp_filter(&s));
    let hint = match errno {
        // A filter refuses before the kernel's own rules are asked: name it, not them.
        Errno::EPERM if filtered => "Operation not permitted (this process runs under a seccomp filter, which may refuse new namespaces: mkroot's default filter does (see its --seccomp=unconfined), as do container runtimes' and systemd's RestrictNamespaces=)".to_owned(),
        Errno::EPERM if flags & libc::CLONE_NEWUSER != 0 => {
            "Operation not permitted (unprivileged user namespaces may be disabled: see kernel.unprivileged_userns_clone, user.max_user_namespaces and AppArmor's userns restriction)"
                .to_owned()
        }
        Errno::EPERM => "Operation not permitted (needs root, or -r/-U to work in a user namespace)".to_owned(),
        Errno::ENOSPC | Errno::EUSERS => format!(
            "{} (a namespace limit was reached: see /proc/sys/user/max_*_namespaces)",
            errno.desc()
        ),
        Errno::EINVAL if flags & libc::CLONE_NEWTIME != 0 => {
            "Invalid argument (time namespaces need Linux 5.6)".to_owned()
        }
        Errno::EINVAL => format!("{} (is this kernel built with these namespaces?)", errno.desc()),
        _ => errno.desc().to_owned(),
    };
    Error::new(what, object, hint)
}

/// Whether /proc/self/status (`status`) shows a seccomp filter on this process.
fn under_seccomp_filter(status: &str) -> bool {
    status.lines().any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() == "2"))
}

/// What namespace `file` pins already, if it is a namespace file.
fn pinned_kind(file: &Path) -> Option<String> {
    let fd = nix::fcntl::open(
        file,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    // O_PATH descriptors take fstatfs, not the ioctl: the type from the file itself.
    let fs = nix::sys::statfs::fstatfs(&fd).ok()?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return None;
    }
    let named = std::fs::File::open(file).ok().and_then(|f| match kind_of(f.as_fd()) {
        Ok(Kind::Namespace(n)) => Some(format!("a {} namespace", n.name)),
        _ => None,
    });
    Some(named.unwrap_or_else(|| "a namespace".to_owned()))
}

/// Check a pin file before anything is created: its directory must exist,
/// on no kernel file system (a pin over /proc/version would hide it on the
/// host), and the file, if there, must be a regular file.
pub fn check_pin(file: &Path) -> Result<(), Error> {
    let parent = crate::parent_dir(file);
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::new("cannot pin a namespace at", file.display(), "its parent is not a directory")),
        Err(e) => return Err(Error::new("cannot pin a namespace at", file.display(), crate::io_reason(&e))),
    }
    if let Some(name) = crate::mount::kernel_file_system(parent) {
        return Err(Error::new(
            "cannot pin a namespace at",
            file.display(),
            format!("on a {name} file system: give a file of your own (such as /run/netns/NAME)"),
        ));
    }
    match std::fs::symlink_metadata(file) {
        // A pin of an earlier run: another on top would hide it, and stack up.
        Ok(m)
            if m.is_file()
                && let Some(kind) = pinned_kind(file) =>
        {
            Err(Error::new(
                "cannot pin a namespace at",
                file.display(),
                format!("it already pins {kind}: one file holds one namespace (umount it first)"),
            ))
        }
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::new("cannot pin a namespace at", file.display(), "not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::new("cannot pin a namespace at", file.display(), crate::io_reason(&e))),
    }
}

/// The `/proc/PID/ns/` entry that names a new namespace of `pid`, to pin:
/// its own entry, except for a PID or time namespace that `pid` made with
/// unshare(2) (in `unshared`), which only its children enter:
/// `pid_for_children`, `time_for_children`.
pub fn pin_source(pid: libc::pid_t, ns: &Namespace, unshared: libc::c_int) -> std::path::PathBuf {
    let leaf = match ns.flag {
        libc::CLONE_NEWPID if unshared & libc::CLONE_NEWPID != 0 => "pid_for_children",
        libc::CLONE_NEWTIME if unshared & libc::CLONE_NEWTIME != 0 => "time_for_children",
        _ => ns.proc_name,
    };
    std::path::PathBuf::from(format!("/proc/{pid}/ns/{leaf}"))
}

/// Refuse one file named by two options (`--net=F --uts=F`, a pin and the
/// pid file), compared resolved: the parent directory's real path and the name.
pub fn check_distinct_files(files: &[(String, &Path)]) -> Result<(), Error> {
    let key = |file: &Path| {
        let parent = crate::parent_dir(file);
        match (std::fs::canonicalize(parent), file.file_name()) {
            (Ok(dir), Some(name)) => dir.join(name),
            _ => file.to_path_buf(),
        }
    };
    for (i, (option, file)) in files.iter().enumerate() {
        if let Some((other, _)) = files[..i].iter().find(|(_, f)| key(f) == key(file)) {
            return Err(Error::new(
                format!("cannot use {option}"),
                file.display(),
                format!("the same file as {other}: give each its own file"),
            ));
        }
    }
    Ok(())
}

/// Keep a namespace alive after its processes: bind its ns file onto `file`
/// (created empty if missing, and removed again if the bind fails). Returns
/// whether the file was created, so that a later failure can remove it too.
pub fn pin(source: &Path, file: &Path) -> Result<bool, Error> {
    let created = match std::fs::OpenOptions::new().write(true).create_new(true).open(file) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(Error::new("cannot create", file.display(), crate::io_reason(&e))),
    };
    trace::step(|| format!("mount --bind {} {}", source.display(), file.display()));
    let result = mount(Some(source), file, None::<&str>, MsFlags::MS_BIND, None::<&str>);
    if let Err(e) = result {
        if created {
            let _ = std::fs::remove_file(file);
        }
        let why = match e {
            Errno::EINVAL if source.ends_with("mnt") => {
                "Invalid argument (a mount namespace can only be pinned on a private mount: mount --make-private the directory first)".to_owned()
            }
            e => e.desc().to_owned(),
        };
        return Err(Error::new(format!("cannot pin {}", source.display()), file.display(), why));
    }
    Ok(created)
}

/// Undo pins after a later failure: unmount each, and remove the files we created.
pub fn unpin(pinned: &[(&Path, bool)]) {
    for &(file, created) in pinned {
        let _ = nix::mount::umount2(file, nix::mount::MntFlags::MNT_DETACH);
        if created {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Open `file` and make sure it is a namespace. The first open is `O_PATH`, so
/// that naming a FIFO or a device has no side effect; only an nsfs file is
/// then reopened for the ioctls.
pub fn open(file: &OsStr) -> Result<(OwnedFd, &'static Namespace), Error> {
    let shown = crate::error::shown(file);
    let path_fd = open_at(file, OFlag::O_PATH | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| Error::sys("cannot open", &shown, e))?;
    let fs = nix::sys::statfs::fstatfs(path_fd.as_fd()).map_err(|e| Error::sys("cannot examine", &shown, e))?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return Err(Error::not_a_namespace(&shown));
    }
    let reopen = format!("/proc/self/fd/{}", path_fd.as_raw_fd());
    let fd = open_at(reopen.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| Error::sys("cannot open", &shown, e))?;
    match kind_of(fd.as_fd()) {
        Ok(Kind::Namespace(ns)) => Ok((fd, ns)),
        Ok(Kind::NotNamespace) => Err(Error::not_a_namespace(&shown)),
        Err(e) => Err(Error::sys("cannot ask the namespace type of", &shown, e)),
    }
}

/// A namespace related to `fd` by one of the nsfs ioctls, when the kernel lets
/// us see it (EPERM: outside our view; EINVAL: the relation does not apply).
pub fn related(fd: BorrowedFd<'_>, request: libc::Ioctl) -> Option<OwnedFd> {
    // SAFETY: NS_GET_USERNS and NS_GET_PARENT take no argument and return a new fd.
    let raw = unsafe { libc::ioctl(fd.as_raw_fd(), request) };
    // SAFETY: a non-negative result is a fresh descriptor that we now own.
    (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The uid that owns a user namespace (NS_GET_OWNER_UID).
pub fn owner_uid(fd: BorrowedFd<'_>) -> Option<libc::uid_t> {
    let mut uid: libc::uid_t = 0;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t through the pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_OWNER_UID, &mut uid as *mut libc::uid_t) };
    Errno::result(rc).ok().map(|_| uid)
}

/// The inode number of a namespace file: its identity within nsfs.
pub fn inode(fd: BorrowedFd<'_>) -> Option<u64> {
    nix::sys::stat::fstat(fd).ok().map(|st| st.st_ino)
}

/// Whether two namespace files name the same namespace: the same nsfs inode.
pub fn same(a: &OsStr, b: &OsStr) -> Result<bool, Error> {
    let identity = |file: &OsStr| -> Result<(u64, u64), Error> {
        let (fd, _) = open(file)?;
        let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|e| Error::sys("cannot stat", file.to_string_lossy(), e))?;
        Ok((st.st_dev, st.st_ino))
    };
    Ok(identity(a)? == identity(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seccomp_filter_is_seen_in_the_status() {
        assert!(under_seccomp_filter("Name:\tsh\nSeccomp:\t2\nSeccomp_filters:\t1\n"));
        assert!(!under_seccomp_filter("Name:\tsh\nSeccomp:\t0\nSeccomp_filters:\t0\n"));
        assert!(!under_seccomp_filter("Name:\tsh\n"));
    }

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

    #[test]
    fn namespace_failures_say_what_to_do() {
        let user = namespace_failure("cannot create namespaces", libc::CLONE_NEWUSER, Errno::EPERM).to_string();
        assert!(user.starts_with("cannot create namespaces: user: ") && user.contains("max_user_namespaces"), "{user}");
        let mount = namespace_failure("cannot create namespaces", libc::CLONE_NEWNS, Errno::EPERM).to_string();
        assert_eq!(
            mount,
            "cannot create namespaces: mnt: Operation not permitted (needs root, or -r/-U to work in a user namespace)"
        );
        for errno in [Errno::ENOSPC, Errno::EUSERS] {
            let limit = namespace_failure("cannot create namespaces", libc::CLONE_NEWUSER | libc::CLONE_NEWNET, errno)
                .to_string();
            assert!(
                limit.starts_with("cannot create namespaces: user,net: ")
                    && limit.contains("/proc/sys/user/max_*_namespaces"),
                "{limit}"
            );
        }
        let time = namespace_failure("cannot create namespace", libc::CLONE_NEWTIME, Errno::EINVAL).to_string();
        assert!(time.contains("Linux 5.6"), "{time}");
    }
}

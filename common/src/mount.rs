//! Mount namespaces seen from inside: how mount events travel (propagation),
//! and a proc for a new PID namespace.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};

use crate::error::{Error, quoted};
use crate::trace;

/// How mount events travel between the new mount namespace and the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Slave,
    Shared,
    Unchanged,
}

impl Propagation {
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "private" => Ok(Self::Private),
            "slave" => Ok(Self::Slave),
            "shared" => Ok(Self::Shared),
            "unchanged" => Ok(Self::Unchanged),
            _ => Err(Error::new("invalid propagation", quoted(text), "expected private, slave, shared or unchanged")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Slave => "slave",
            Self::Shared => "shared",
            Self::Unchanged => "unchanged",
        }
    }
}

/// Make `/` (recursively) private, slave or shared in a new mount namespace,
/// before any other mount, so nothing mounted inside reaches the host.
pub fn set_propagation(propagation: Propagation) -> Result<(), Error> {
    let flag = match propagation {
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Unchanged => return Ok(()),
    };
    trace::step(|| format!("mount --make-r{} /", propagation.name()));
    mount(None::<&str>, "/", None::<&str>, flag | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys(format!("cannot make / {}", propagation.name()), "/", e))
}

/// Mount a proc for the caller's PID namespace on `dir` (`--mount-proc`),
/// in a mount namespace whose propagation no longer reaches the host.
pub fn mount_proc(dir: &Path) -> Result<(), Error> {
    trace::step(|| format!("mount -t proc proc {}", dir.display()));
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), dir, Some("proc"), flags, None::<&str>)
        .map_err(|e| explain_proc_failure(Error::sys("cannot mount proc on", dir.display(), e)))
}

/// What a refused proc mount means: in a user namespace, proc can be mounted
/// only for a PID namespace that namespace owns, and only while no part of
/// the host's /proc is hidden by another mount.
pub fn explain_proc_failure(err: Error) -> Error {
    match err.errno {
        Some(Errno::EPERM) => Error { reason: "Operation not permitted (in a user namespace, proc can be mounted only for a new PID namespace of its own, and only when no part of the host /proc is hidden by another mount)".to_owned(), ..err },
        _ => err,
    }
}

/// Kernel file systems, by statfs magic: never an image, never a place for a pin.
pub const KERNEL_FILE_SYSTEMS: [(libc::c_long, &str); 16] = [
    (libc::PROC_SUPER_MAGIC, "proc"),
    (0x6265_6572, "sysfs"),
    (0x1cd1, "devpts"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0xcafe_4a11, "bpf"),
    (0x6e73_6673, "nsfs"),
    (0x6265_6570, "configfs"),
    (0x6165_676c, "pstore"),
    (0xde5e_81e4, "efivarfs"),
    (0x1980_0202, "mqueue"),
    (0x9584_58f6, "hugetlbfs"),
    (0x4249_4e4d, "binfmt_misc"),
];

/// The kernel file system `path` is on, if it is on one.
pub fn kernel_file_system(path: &Path) -> Option<&'static str> {
    let kind = nix::sys::statfs::statfs(path).ok()?.filesystem_type().0 as libc::c_long;
    KERNEL_FILE_SYSTEMS.iter().find(|(magic, _)| *magic == kind).map(|(_, name)| *name)
}

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

/// Mount a fresh proc for the caller's PID namespace (the mount namespace is
/// new and no longer propagates to the host).
pub fn mount_proc(dir: &Path) -> Result<(), Error> {
    trace::step(|| format!("mount -t proc proc {}", dir.display()));
    // A private /proc first, so unmounting the old one cannot travel anywhere.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), dir, Some("proc"), flags, None::<&str>).map_err(|e| {
        let why = match e {
            Errno::EPERM => "Operation not permitted (in a user namespace, /proc can be mounted only with a new PID namespace, -p, and when no part of the host /proc is hidden by another mount)".to_owned(),
            e => e.desc().to_owned(),
        };
        Error::new("cannot mount proc on", dir.display(), why)
    })
}

//! The inside of new namespaces, set up in one fixed order by the process
//! that lives in them: mount propagation first (before any mount), then
//! /proc, the names, loopback, and last the time namespace (entered at exec
//! or by the next child).

use std::ffi::OsStr;
use std::path::Path;

use crate::error::Error;
use crate::mount::{self, Propagation};
use crate::{net, timens, uts};

/// What to set up; each field is `None` (or `false`) when its namespace is
/// not new or another process does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inside<'a> {
    /// The new mount namespace's propagation.
    pub propagation: Option<Propagation>,
    pub mount_proc: Option<&'a Path>,
    pub hostname: Option<&'a OsStr>,
    pub domainname: Option<&'a OsStr>,
    pub loopback: bool,
    /// A new time namespace with its monotonic and boottime offsets.
    pub time: Option<(Option<i64>, Option<i64>)>,
}

pub fn set_up(inside: &Inside) -> Result<(), Error> {
    if let Some(propagation) = inside.propagation {
        mount::set_propagation(propagation)?;
    }
    if let Some(dir) = inside.mount_proc {
        mount::mount_proc(dir)?;
    }
    if let Some(name) = inside.hostname {
        uts::set_hostname(name)?;
    }
    if let Some(name) = inside.domainname {
        uts::set_domainname(name)?;
    }
    if inside.loopback {
        net::loopback_up()?;
    }
    if let Some((monotonic, boottime)) = inside.time {
        timens::new_time_namespace(monotonic, boottime)?;
    }
    Ok(())
}

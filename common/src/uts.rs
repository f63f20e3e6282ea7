//! UTS namespaces: the host and NIS domain names.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use crate::error::Error;
use crate::trace;

pub fn set_hostname(name: &OsStr) -> Result<(), Error> {
    trace::step(|| format!("hostname {}", name.to_string_lossy()));
    // SAFETY: the pointer and length describe `name`'s bytes.
    let rc = unsafe { libc::sethostname(name.as_bytes().as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop).map_err(|e| Error::sys("cannot set hostname", name.to_string_lossy(), e))
}

pub fn set_domainname(name: &OsStr) -> Result<(), Error> {
    trace::step(|| format!("domainname {}", name.to_string_lossy()));
    // SAFETY: the pointer and length describe `name`'s bytes.
    let rc = unsafe { libc::setdomainname(name.as_bytes().as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop).map_err(|e| Error::sys("cannot set domainname", name.to_string_lossy(), e))
}

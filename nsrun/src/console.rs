//! `process.terminal`: a pty made in the container's own devpts (its
//! /dev/ptmx), its far end the process's stdin, stdout, stderr and
//! controlling terminal, and its master sent to the engine over
//! `--console-socket` (SCM_RIGHTS, the pty's name as payload, as runc sends it).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use common::Error;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr};

/// Connect to the engine's socket (before anything changes our root).
pub fn connect(path: &Path) -> Result<OwnedFd, Error> {
    let fd = nix::sys::socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("cannot make", "a socket", e))?;
    let addr = UnixAddr::new(path).map_err(|e| Error::sys("cannot use", path.display(), e))?;
    nix::sys::socket::connect(fd.as_raw_fd(), &addr).map_err(|e| Error::sys("cannot connect to", path.display(), e))?;
    Ok(fd)
}

/// Make the pty in the devpts at /dev/pts (ours, the container's), send its
/// master over `socket` with its name, and take its far end as our terminal.
pub fn take_terminal(socket: &OwnedFd) -> Result<(), Error> {
    let (master, slave) = common::terminal::open_pty()?;
    let name = common::terminal::pty_name(master.as_fd())?;
    common::sync::send_fd(socket.as_fd(), master.as_fd(), name.as_bytes())
        .map_err(|e| Error::new("cannot send the pty over", "--console-socket", e.reason))?;
    drop(master);
    common::terminal::take_as_controlling(&slave)
}

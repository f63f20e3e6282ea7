//! `process.terminal`: a pty made in the container's own devpts (its
//! /dev/ptmx), its far end the process's stdin, stdout, stderr and
//! controlling terminal, and its master sent to the engine over
//! `--console-socket` (SCM_RIGHTS, the pty's name as payload, as runc sends it).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use common::Error;
use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr};

/// Connect to the engine's socket (before anything changes our root).
pub fn connect(path: &Path) -> Result<OwnedFd, Error> {
    let fd = nix::sys::socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("cannot make", "a socket", e))?;
    let addr = UnixAddr::new(path).map_err(|e| Error::sys("cannot use", path.display(), e))?;
    nix::sys::socket::connect(fd.as_raw_fd(), &addr).map_err(|e| Error::sys("cannot connect to", path.display(), e))?;
    Ok(fd)
}

/// Make the pty in the devpts at /dev/pts (ours, the container's), send its
/// master over `socket`, and take its far end as our terminal.
pub fn take_terminal(socket: &OwnedFd) -> Result<(), Error> {
    use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
    let master: PtyMaster =
        posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::sys("cannot open", "/dev/ptmx", e))?;
    grantpt(&master).map_err(|e| Error::sys("cannot grant", "the pty", e))?;
    unlockpt(&master).map_err(|e| Error::sys("cannot unlock", "the pty", e))?;
    let name = ptsname_r(&master).map_err(|e| Error::sys("cannot name", "the pty", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", &name, e))?;
    let fds = [master.as_raw_fd()];
    let payload = [IoSlice::new(name.as_bytes())];
    nix::sys::socket::sendmsg::<()>(
        socket.as_raw_fd(),
        &payload,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::sys("cannot send the pty over", "--console-socket", e))?;
    drop(master);
    nix::unistd::setsid().map_err(|e| Error::sys("cannot start", "a session", e))?;
    // SAFETY: TIOCSCTTY on a pty we opened, as the leader of a session without a terminal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::sys("cannot take", &name, nix::errno::Errno::last()));
    }
    for fd in 0..3 {
        // SAFETY: dup2(2) of a descriptor we own onto stdio; the result is checked.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(Error::sys("cannot make", format!("{name} our stdio"), nix::errno::Errno::last()));
        }
    }
    Ok(())
}

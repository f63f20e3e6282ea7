//! `process.terminal`: a pty made in the container's own devpts (its
//! /dev/ptmx), its far end the process's stdin, stdout, stderr and
//! controlling terminal, owned by the process's user, and its master sent
//! over a socket (SCM_RIGHTS, the pty's name as payload, as runc sends it):
//! the engine's `--console-socket`, or for a foreground `run` or `exec -t`
//! without one, nsrun's own end, which relays the master to its stdio.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use common::{Error, process};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr};

use crate::config::Process;

/// Connect to the engine's socket (before anything changes our root).
pub fn connect(path: &Path) -> Result<OwnedFd, Error> {
    let fd = nix::sys::socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("cannot make", "a socket", e))?;
    let addr = UnixAddr::new(path).map_err(|e| Error::sys("cannot use", path.display(), e))?;
    nix::sys::socket::connect(fd.as_raw_fd(), &addr).map_err(|e| Error::sys("cannot connect to", path.display(), e))?;
    Ok(fd)
}

/// A socket pair standing in for --console-socket: (ours, the container's).
pub fn pair() -> Result<(OwnedFd, OwnedFd), Error> {
    nix::sys::socket::socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| Error::sys("cannot make", "a socket pair", e))
}

/// Make the pty in the devpts at /dev/pts (ours, the container's), its size
/// consoleSize, its far end the process's user's (as runc hands stdio over),
/// send its master over `socket` with its name, and take the far end as our terminal.
pub fn take_terminal(socket: &OwnedFd, p: &Process) -> Result<(), Error> {
    let (master, slave) = common::terminal::open_pty()?;
    let name = common::terminal::pty_name(master.as_fd())?;
    if let Some((rows, cols)) = p.console_size.filter(|&(r, c)| r > 0 && c > 0) {
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ with a valid winsize on our own master.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } != 0 {
            return Err(Error::sys("cannot size", "process.consoleSize", nix::errno::Errno::last()));
        }
    }
    nix::unistd::fchown(&slave, Some(p.user.uid.into()), Some(p.user.gid.into()))
        .map_err(|e| Error::sys("cannot hand over", &name, e))?;
    common::sync::send_fd(socket.as_fd(), master.as_fd(), name.as_bytes())
        .map_err(|e| Error::new("cannot send the pty over", "--console-socket", e.reason))?;
    drop(master);
    common::terminal::take_as_controlling(&slave)
}

/// Relay the master the container's process sent over `ours` to our stdio
/// while `pid` (our child) runs: our terminal raw meanwhile, its size passed
/// on at start and on SIGWINCH, every other signal forwarded. Its raw status.
pub fn relay(ours: &OwnedFd, pid: libc::pid_t) -> Result<i32, Error> {
    let master = common::sync::receive_fd(ours.as_fd())?;
    nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
        .map_err(|e| Error::sys("cannot set", "the pty's master non-blocking", e))?;
    common::terminal::copy_window_size(0, master.as_fd());
    let raw = common::terminal::RawMode::enter(0);
    let streams = vec![
        process::Stream { from: 0, to: master.as_raw_fd(), end: None, input: true },
        process::Stream { from: master.as_raw_fd(), to: 1, end: None, input: false },
    ];
    let mut resize = || common::terminal::copy_window_size(0, master.as_fd());
    let status = process::wait_relaying(pid, streams, Some(&mut resize));
    drop(raw);
    status
}

//! Terminals: whether stdio is one, a pty of our own for a command, the
//! caller's terminal in raw mode while it is relayed, and its window size.
//!
//! A process that enters a container is, once it has exec'd, an ordinary
//! process of the container: whatever descriptor it holds, the container can
//! reach through `/proc/PID/fd`. The caller's terminal is such a descriptor
//! (keystrokes read, text written, TIOCSTI where the kernel still allows it),
//! so a way in hands the command pipes or a pty of its own instead, and
//! relays them to the caller's terminal from outside (`process::wait_relaying`).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::error::Error;

/// True when `fd` is a terminal.
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only reads the descriptor's type.
    unsafe { libc::isatty(fd) == 1 }
}

/// Which of stdin, stdout and stderr are terminals.
pub fn stdio_terminals() -> [bool; 3] {
    [is_terminal(0), is_terminal(1), is_terminal(2)]
}

/// A new pty in the devpts of our current root's `/dev/ptmx` (a container's,
/// once we are in its mount namespace and root): its master, and its far end
/// opened through the master (TIOCGPTPEER), never by a path the container names.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd), Error> {
    // No magic link of /proc on the way (our root is a container's); O_NONBLOCK: a FIFO put
    // at /dev/ptmx must not hang us (cleared below).
    let flags = nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_NONBLOCK;
    let master = crate::rootfs::openat2(libc::AT_FDCWD, c"/dev/ptmx", flags, libc::RESOLVE_NO_MAGICLINKS)
        .map_err(|e| Error::sys("cannot open", "/dev/ptmx", e))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK and TIOCGPTPEER on our descriptor; both fail on anything but a pty master.
    let peer = unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) != 0 {
            return Err(Error::sys("cannot unlock", "a pty of /dev/ptmx", Errno::last()));
        }
        libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC)
    };
    if peer < 0 {
        return Err(Error::sys("cannot open", "the far end of a pty of /dev/ptmx", Errno::last()));
    }
    // SAFETY: TIOCGPTPEER gave us this new descriptor.
    let slave = unsafe { OwnedFd::from_raw_fd(peer) };
    nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_RDWR))
        .map_err(|e| Error::sys("cannot set", "the pty's flags", e))?;
    Ok((master, slave))
}

/// The name of a pty's far end, /dev/pts/N of its devpts (TIOCGPTN).
pub fn pty_name(master: BorrowedFd<'_>) -> Result<String, Error> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty's number to a c_uint we own.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } != 0 {
        return Err(Error::sys("cannot name", "the pty", Errno::last()));
    }
    Ok(format!("/dev/pts/{n}"))
}

/// Make `slave` our controlling terminal and our stdin, stdout and stderr, in
/// a session of our own.
pub fn take_as_controlling(slave: &OwnedFd) -> Result<(), Error> {
    nix::unistd::setsid().map_err(|e| Error::sys("cannot start", "a session", e))?;
    // SAFETY: TIOCSCTTY on our own pty, as the leader of a session without a terminal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::sys("cannot take", "the pty as our terminal", Errno::last()));
    }
    for fd in 0..3 {
        // SAFETY: dup2 of a descriptor we own onto stdio; the result is checked.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(Error::sys("cannot make", "the pty our stdio", Errno::last()));
        }
    }
    Ok(())
}

/// Give `to` the window size of the terminal `from` (at start, and on SIGWINCH).
pub fn copy_window_size(from: RawFd, to: BorrowedFd<'_>) {
    // SAFETY: plain data, filled by TIOCGWINSZ.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize; a failure leaves the size as it was.
    unsafe {
        // A terminal that was never sized (0x0) leaves the pty's own size (consoleSize) alone.
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_row > 0 && size.ws_col > 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// The caller's terminal in raw mode while a pty is relayed to it: the keys
/// (Ctrl-C among them) go to the pty, whose own line discipline acts on them.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Raw mode on `fd`, if it is a terminal.
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: plain data, filled by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr/tcsetattr with valid termios structures.
        unsafe {
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(fd, libc::TCSADRAIN, &raw);
        }
        Some(RawMode { fd, saved })
    }

    /// Back to the mode it had (also done on drop; call it before dying by a signal).
    pub fn restore(&self) {
        // SAFETY: tcsetattr with the termios read at entry.
        unsafe { libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved) };
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

//! The pipes between a tool and the processes it forks: one byte per step
//! of the handshake, and the raw wait status an init reports.

use std::os::fd::{BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::error::Error;

/// A pipe whose ends close on exec.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("cannot create", "pipe", e))
}

/// The steps of the handshakes between a tool and the processes it forks,
/// one byte each on a pipe. Who sends which is in ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The tool (nsclone's parent, nsunshare itself) has made the namespaces:
    /// the other side (nsclone's child, nsunshare's helper) may go on.
    NamespacesMade,
    /// The user namespace maps are written.
    MapsWritten,
    /// The child has set its namespaces up: they may be pinned now.
    SetUp,
    /// Pins made (and a PID reported where it could be): go on to the command.
    Go,
    /// The init has started the command: read its PID now, while it cannot
    /// have been reaped yet.
    CommandStarted,
    /// The command's PID is reported.
    PidReported,
    /// nsunshare's setup is done: its helper may pin the namespaces.
    Pin,
    /// nsunshare's holder is PID 1 of the new PID namespace.
    HolderUp,
}

impl Step {
    const ALL: [Step; 8] = [
        Step::NamespacesMade,
        Step::MapsWritten,
        Step::SetUp,
        Step::Go,
        Step::CommandStarted,
        Step::PidReported,
        Step::Pin,
        Step::HolderUp,
    ];

    fn byte(self) -> u8 {
        match self {
            Step::NamespacesMade => b'N',
            Step::MapsWritten => b'M',
            Step::SetUp => b'R',
            Step::Go => b'G',
            Step::CommandStarted => b'S',
            Step::PidReported => b'A',
            Step::Pin => b'P',
            Step::HolderUp => b'H',
        }
    }

    /// The step's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Step::NamespacesMade => "namespaces made",
            Step::MapsWritten => "maps written",
            Step::SetUp => "namespaces set up",
            Step::Go => "go",
            Step::CommandStarted => "command started",
            Step::PidReported => "PID reported",
            Step::Pin => "pin",
            Step::HolderUp => "PID 1 holder up",
        }
    }
}

/// Tell the other side that `step` is done.
pub fn send(fd: BorrowedFd<'_>, step: Step) -> Result<(), Errno> {
    loop {
        match nix::unistd::write(fd, &[step.byte()]) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(Errno::EIO),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Wait until the other side says `step` is done. The error names the step
/// that did not come: the other side left (it reports its own failure), or
/// said something else.
pub fn expect(fd: BorrowedFd<'_>, step: Step) -> Result<(), Error> {
    let mut byte = [0u8];
    let got = loop {
        match nix::unistd::read(fd, &mut byte) {
            Ok(1) => break Step::ALL.into_iter().find(|s| s.byte() == byte[0]),
            Err(Errno::EINTR) => continue,
            _ => break None,
        }
    };
    match got {
        Some(s) if s == step => Ok(()),
        Some(other) => Err(Error::new("handshake failed", step.name(), format!("got {} instead", other.name()))),
        None => Err(Error::new("handshake failed", step.name(), "the other side is gone")),
    }
}

/// Read the raw wait status an init reported, if it did.
pub fn receive_status(fd: BorrowedFd<'_>) -> Option<i32> {
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match nix::unistd::read(fd, &mut buf[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
    Some(i32::from_ne_bytes(buf))
}

/// Hand `fd` to the other end of a unix socket pair (SCM_RIGHTS): a pty
/// master made inside a container, for the parent outside to relay.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<(), Error> {
    use std::os::fd::AsRawFd;
    let fds = [fd.as_raw_fd()];
    let payload = [std::io::IoSlice::new(b"F")];
    let rights = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    nix::sys::socket::sendmsg::<()>(socket.as_raw_fd(), &payload, &rights, nix::sys::socket::MsgFlags::empty(), None)
        .map(drop)
        .map_err(|e| Error::sys("cannot send", "a descriptor", e))
}

/// The descriptor [`send_fd`] sent, or an error if the other end closed first.
pub fn receive_fd(socket: BorrowedFd<'_>) -> Result<OwnedFd, Error> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::sys("cannot receive", "a descriptor", e))?;
    for cmsg in msg.cmsgs().map_err(|e| Error::sys("cannot receive", "a descriptor", e))? {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel installed this descriptor in our table for us.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(Error::new("cannot receive", "a descriptor", "the other side ended before sending it"))
}

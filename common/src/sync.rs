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
    /// nsrun → the container's (or exec's) process: it is in the container's
    /// cgroups, its maps and oom_score_adj are written: it may go on.
    InCgroups,
    /// The container's process → nsrun create: its root is built; create's
    /// hooks (prestart, createRuntime) are due.
    HooksDue,
    /// nsrun create → the container's process: those hooks ran; the state
    /// document they read follows, up to the end of the pipe.
    HooksRan,
    /// The container's process → nsrun create: set up, held until start.
    Ready,
    /// nsrun create's helper → create: the config's bind sources are opened
    /// (as host root, in the container's mount namespace) and sent to the
    /// container's process, one descriptor each, in the config's order.
    SourcesOpened,
    /// The other side failed; its message follows, up to the end of the pipe.
    Failed,
}

impl Step {
    const ALL: [Step; 14] = [
        Step::NamespacesMade,
        Step::MapsWritten,
        Step::SetUp,
        Step::Go,
        Step::CommandStarted,
        Step::PidReported,
        Step::Pin,
        Step::HolderUp,
        Step::InCgroups,
        Step::HooksDue,
        Step::HooksRan,
        Step::Ready,
        Step::SourcesOpened,
        Step::Failed,
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
            Step::InCgroups => b'C',
            Step::HooksDue => b'K',
            Step::HooksRan => b'k',
            Step::Ready => b'Y',
            Step::SourcesOpened => b'O',
            Step::Failed => b'F',
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
            Step::InCgroups => "in the cgroups",
            Step::HooksDue => "hooks due",
            Step::HooksRan => "hooks ran",
            Step::Ready => "ready",
            Step::SourcesOpened => "bind sources opened",
            Step::Failed => "failed",
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

/// What came from the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Step(Step),
    /// [`Step::Failed`], with the message that followed it.
    Failed(String),
    /// The pipe ended (the other side left) or held something that is no step.
    Gone,
}

/// The next step from the other side (and a failure's message).
pub fn hear(fd: BorrowedFd<'_>) -> Heard {
    let mut byte = [0u8];
    let step = loop {
        match nix::unistd::read(fd, &mut byte) {
            Ok(1) => break Step::ALL.into_iter().find(|s| s.byte() == byte[0]),
            Err(Errno::EINTR) => continue,
            _ => break None,
        }
    };
    match step {
        Some(Step::Failed) => Heard::Failed(receive_text(fd, 64 * 1024).unwrap_or_default()),
        Some(step) => Heard::Step(step),
        None => Heard::Gone,
    }
}

/// Wait until the other side says `step` is done. The error names the step
/// that did not come: the other side left (it reports its own failure), or
/// said something else; a failure it sent is its own message.
pub fn expect(fd: BorrowedFd<'_>, step: Step) -> Result<(), Error> {
    match hear(fd) {
        Heard::Step(s) if s == step => Ok(()),
        Heard::Step(other) => Err(Error::new("handshake failed", step.name(), format!("got {} instead", other.name()))),
        Heard::Failed(message) => Err(Error::new("", "", message)),
        Heard::Gone => Err(Error::new("handshake failed", step.name(), "the other side is gone")),
    }
}

/// Say we failed, and why: [`Step::Failed`] and the message, for a parent
/// whose stderr is not ours to write (an engine reads it).
pub fn send_failure(fd: BorrowedFd<'_>, err: &Error) {
    if send(fd, Step::Failed).is_ok() {
        let _ = send_text(fd, &err.to_string());
    }
}

/// Text that follows a step (a state document, a message), whole.
pub fn send_text(fd: BorrowedFd<'_>, text: &str) -> Result<(), Errno> {
    let mut bytes = text.as_bytes();
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The text that follows a step, up to the end of the pipe, at most `limit` bytes.
pub fn receive_text(fd: BorrowedFd<'_>, limit: usize) -> Result<String, Error> {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) if text.len() + n <= limit => text.extend_from_slice(&buf[..n]),
            Ok(_) => return Err(Error::new("handshake failed", "a text", format!("longer than {limit} bytes"))),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("handshake failed", "a text", e)),
        }
    }
    String::from_utf8(text).map_err(|_| Error::new("handshake failed", "a text", "not UTF-8"))
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

/// Hand `fd` to the other end of a unix socket (SCM_RIGHTS), with `payload`
/// (at least one byte): a pty master made inside a container, for the parent
/// outside to relay, or for an engine's --console-socket (its name as payload).
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<(), Error> {
    use std::os::fd::AsRawFd;
    let fds = [fd.as_raw_fd()];
    let payload = [std::io::IoSlice::new(if payload.is_empty() { b"F" } else { payload })];
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn every_step_has_its_own_byte_and_name() {
        for (i, a) in Step::ALL.iter().enumerate() {
            for b in &Step::ALL[i + 1..] {
                assert!(a.byte() != b.byte() && a.name() != b.name(), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn steps_texts_and_failures_travel() {
        let (r, w) = pipe().unwrap();
        send(w.as_fd(), Step::HooksRan).unwrap();
        send_text(w.as_fd(), "{\"status\":\"created\"}").unwrap();
        drop(w);
        assert_eq!(expect(r.as_fd(), Step::HooksRan), Ok(()));
        assert_eq!(receive_text(r.as_fd(), 1024).unwrap(), "{\"status\":\"created\"}");
        let (r, w) = pipe().unwrap();
        send_failure(w.as_fd(), &Error::new("cannot mount", "/proc", "why"));
        drop(w);
        assert_eq!(expect(r.as_fd(), Step::Ready).unwrap_err().to_string(), "cannot mount: /proc: why");
        let (r, w) = pipe().unwrap();
        drop(w);
        assert_eq!(hear(r.as_fd()), Heard::Gone);
        let (r, w) = pipe().unwrap();
        send_text(w.as_fd(), &"x".repeat(2000)).unwrap();
        drop(w);
        assert!(receive_text(r.as_fd(), 1000).is_err());
    }
}

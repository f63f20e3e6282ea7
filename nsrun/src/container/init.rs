//! The container's process: set up, report to create, wait for start,
//! become the config's process, exec.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use common::Error;
use common::process::{self};
use common::sync::{self, Step};
use nix::errno::Errno;
use serde_json::json;

use crate::config::{Config, Process};
use crate::hooks;

use super::*;

/// The container's process: set up, report to `create` (which waits for the
/// pipe to close), wait for `start`, become the process the config
/// describes, exec. A failure before the report goes to `create`; after it,
/// to stderr, which the engine reads.
pub(super) fn init(
    c: &Container<'_>,
    joins: &[OwnedFd],
    (fifo, sources): (&OwnedFd, Option<OwnedFd>),
    (to_parent, from_parent): (OwnedFd, OwnedFd),
) -> ! {
    let fail = |e: Error| -> ! {
        sync::send_failure(to_parent.as_fd(), &e);
        process::child_exit(1)
    };
    // Our descriptor directory in the host's /proc, opened before the pivot: after it,
    // /proc is whatever the image and the config put there, and a file the image
    // planted at /proc/self/fd/N would let the process run before start.
    let fds = nix::fcntl::open(
        "/proc/self/fd",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap_or_else(|e| fail(Error::sys("cannot open", "/proc/self/fd", e)));
    if c.files.console.is_none() {
        // A session of its own, as runc gives it (a terminal makes one below): no door to
        // the caller's terminal, and criu can checkpoint a tree whose session leader is inside.
        nix::unistd::setsid().map_err(|e| Error::sys("cannot start", "a session", e)).unwrap_or_else(|e| fail(e));
    }
    let held = receive_sources(c, sources).unwrap_or_else(|e| fail(e));
    let root = set_up(&c.bundle, &c.rootfs, c.config, joins, &held).unwrap_or_else(|e| fail(e));
    drop(held);
    let hook_state = create_container_hooks(c.config, &to_parent, from_parent).unwrap_or_else(|e| fail(e));
    finish(root, c.config).and_then(|()| check_executable(c.process)).unwrap_or_else(|e| fail(e));
    if let Some(socket) = &c.files.console {
        crate::console::take_terminal(socket, c.process).unwrap_or_else(|e| fail(e));
    }
    let _ = sync::send(to_parent.as_fd(), Step::Ready);
    drop(to_parent);
    if let Err(e) = wait_for_start(&fds, fifo) {
        common::report(&e);
        process::child_exit(1);
    }
    drop(fds);
    start_and_exec(c, hook_state)
}

/// What create's helper opened for us, one per mount of the config: its
/// source's descriptor for a bind, None for the rest (or for all, with no
/// `socket`: we can reach the sources ourselves).
fn receive_sources(c: &Container<'_>, socket: Option<OwnedFd>) -> Result<Vec<Option<OwnedFd>>, Error> {
    let mut held = Vec::new();
    for m in &c.config.mounts {
        held.push(match (&socket, super::root::bind_source(&c.bundle, m)) {
            (Some(socket), Some(_)) => Some(sync::receive_fd(socket.as_fd())?),
            _ => None,
        });
    }
    Ok(held)
}

/// The hooks of create: nsrun's first (it sends the state when they are done),
/// then the createContainer ones, here. The state they read, for startContainer.
fn create_container_hooks(
    config: &Config,
    to_parent: &OwnedFd,
    from_parent: OwnedFd,
) -> Result<serde_json::Value, Error> {
    if !needs_hook_state(config) {
        return Ok(serde_json::Value::Null);
    }
    let _ = sync::send(to_parent.as_fd(), Step::HooksDue);
    if sync::expect(from_parent.as_fd(), Step::HooksRan).is_err() {
        process::child_exit(1);
    }
    let text = sync::receive_text(from_parent.as_fd(), 1 << 20)?;
    let state = serde_json::from_str(&text).unwrap_or_else(|_| process::child_exit(1));
    hooks::run_all("createContainer", &config.hooks.create_container, &text)?;
    Ok(state)
}

/// Held here until `start` opens the FIFO to read: our end opened through the
/// host's /proc/self/fd (`fds`), never by a name the image controls.
fn wait_for_start(fds: &OwnedFd, fifo: &OwnedFd) -> Result<(), Error> {
    let name = std::ffi::CString::new(fifo.as_raw_fd().to_string()).unwrap_or_default();
    // SAFETY: a valid directory descriptor and a NUL-terminated name; the result is checked.
    let raw = unsafe { libc::openat(fds.as_raw_fd(), name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(Error::sys("cannot wait for start on", FIFO, Errno::last()));
    }
    // SAFETY: a fresh descriptor from openat, ours alone.
    let held = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    sync::send(held.as_fd(), Step::Go).map_err(|e| Error::sys("cannot signal start on", FIFO, e))
}

/// Started: the startContainer hooks, the process the config describes, exec.
fn start_and_exec(c: &Container<'_>, mut hook_state: serde_json::Value) -> ! {
    let config = c.config;
    if hook_state.is_object() {
        hook_state["status"] = json!(Status::Running.as_str());
    }
    if !config.hooks.start_container.is_empty()
        && let Err(e) = hooks::run_all("startContainer", &config.hooks.start_container, &hook_state.to_string())
    {
        common::report(&e);
        process::child_exit(1);
    }
    // Before the filter goes on: a strict profile need allow nothing of ours.
    keep_only_fds(c.files.preserve_fds);
    common::signals::restore();
    let agent = c.files.agent.as_ref().map(|socket| Agent {
        socket,
        state: &hook_state,
        metadata: c.config.linux.seccomp.as_ref().map_or("", |s| s.listener_metadata.as_str()),
    });
    if let Err(e) = become_process(c.process, c.filter.as_deref(), agent) {
        common::report(&e);
        process::child_exit(e.code);
    }
    let argv: Vec<OsString> = c.process.args.iter().map(OsString::from).collect();
    let err = common::exec::exec_into(&argv);
    common::report(&err);
    process::child_exit(err.code)
}

/// The process's executable, looked for now as exec will (inside the root,
/// through the process's PATH), so that create fails, not the start after
/// it, and in runc's words, which engines read: podman exits 127 for
/// "executable file not found" and "no such file or directory", 126 for
/// "permission denied"; the kubelet shows them at StartContainer.
fn check_executable(process: &Process) -> Result<(), Error> {
    let Some(program) = process.args.first() else { return Ok(()) };
    if program.contains('/') && !program.starts_with('/') {
        // Relative to the working directory, which the process enters at start.
        return Ok(());
    }
    // execvp's own default when the process has no PATH.
    let path = process.env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("/bin:/usr/bin");
    let reason = match common::exec::runnable(std::ffi::OsStr::new(program), std::ffi::OsStr::new(path)) {
        Ok(_) => return Ok(()),
        Err(Errno::EACCES) => "permission denied",
        Err(_) if program.contains('/') => "no such file or directory",
        Err(_) => "executable file not found in $PATH",
    };
    Err(Error::new("exec", format!("\"{}\"", common::error::shown(program)), reason))
}

/// Whether the process needs the state from `create`: for a hook (nsrun's own
/// of create, or the container's), or for the seccomp agent.
pub(super) fn needs_hook_state(c: &Config) -> bool {
    let h = &c.hooks;
    let agent = c.linux.seccomp.as_ref().is_some_and(|s| s.listener_path.is_some());
    agent || [&h.prestart, &h.create_runtime, &h.create_container, &h.start_container].iter().any(|l| !l.is_empty())
}

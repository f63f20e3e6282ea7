//! The container's process: set up, report to create, wait for start,
//! become the config's process, exec.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use common::Error;
use common::process::{self};
use common::sync::{self, Step};
use nix::errno::Errno;
use serde_json::json;

use crate::config::Config;
use crate::hooks;

use super::*;

/// The container's process: set up, report to `create` (which waits for the
/// pipe to close), wait for `start`, become the process the config
/// describes, exec. A failure before the report goes to `create`; after it,
/// to stderr, which the engine reads.
pub(super) fn init(
    c: &Container<'_>,
    joins: &[OwnedFd],
    fifo: &OwnedFd,
    (to_parent, from_parent): (OwnedFd, OwnedFd),
) -> ! {
    let (process, config) = (c.process, c.config);
    let console = c.files.console.as_ref();
    // Our descriptor directory in the host's /proc, opened before the pivot: after it,
    // /proc is whatever the image and the config put there, and a file the image
    // planted at /proc/self/fd/N would let the process run before start.
    let fds = match nix::fcntl::open(
        "/proc/self/fd",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            sync::send_failure(to_parent.as_fd(), &Error::sys("cannot open", "/proc/self/fd", e));
            process::child_exit(1);
        }
    };
    let fail = |e: Error| -> ! {
        sync::send_failure(to_parent.as_fd(), &e);
        process::child_exit(1)
    };
    let root = set_up(&c.bundle, &c.rootfs, config, joins).unwrap_or_else(|e| fail(e));
    // The hooks of create: nsrun's first (it sends the state when they are done), then ours.
    let mut hook_state = serde_json::Value::Null;
    if needs_hook_state(config) {
        let _ = sync::send(to_parent.as_fd(), Step::HooksDue);
        if sync::expect(from_parent.as_fd(), Step::HooksRan).is_err() {
            process::child_exit(1);
        }
        let text = sync::receive_text(from_parent.as_fd(), 1 << 20).unwrap_or_else(|e| fail(e));
        hook_state = serde_json::from_str(&text).unwrap_or_else(|_| process::child_exit(1));
        hooks::run_all("createContainer", &config.hooks.create_container, &text).unwrap_or_else(|e| fail(e));
    } else {
        drop(from_parent);
    }
    finish(root, config).unwrap_or_else(|e| fail(e));
    if let Some(socket) = console {
        crate::console::take_terminal(socket).unwrap_or_else(|e| fail(e));
    }
    let _ = sync::send(to_parent.as_fd(), Step::Ready);
    drop(to_parent);
    // Held here until `start` opens the FIFO to read.
    let name = std::ffi::CString::new(fifo.as_raw_fd().to_string()).unwrap_or_default();
    // SAFETY: a valid directory descriptor and a NUL-terminated name; the result is checked.
    let raw = unsafe { libc::openat(fds.as_raw_fd(), name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if raw < 0 {
        common::report(&Error::sys("cannot wait for start on", FIFO, Errno::last()));
        process::child_exit(1);
    }
    // SAFETY: a fresh descriptor from openat, ours alone.
    let held = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    drop(fds);
    let _ = nix::unistd::write(&held, b"0");
    drop(held);
    if !config.hooks.start_container.is_empty() {
        hook_state["status"] = json!(Status::Running.as_str());
        if let Err(e) = hooks::run_all("startContainer", &config.hooks.start_container, &hook_state.to_string()) {
            common::report(&e);
            process::child_exit(1);
        }
    }
    match become_process(process, config.linux.seccomp.as_ref()) {
        Ok(()) => {}
        Err(e) => {
            common::report(&e);
            process::child_exit(e.code);
        }
    }
    keep_only_fds(preserve_fds());
    let argv: Vec<OsString> = process.args.iter().map(OsString::from).collect();
    let err = common::exec::exec_into(&argv);
    common::report(&err);
    process::child_exit(err.code)
}

/// Whether a hook needs the state from `create`: nsrun's own of create, or the container's.
pub(super) fn needs_hook_state(c: &Config) -> bool {
    let h = &c.hooks;
    [&h.prestart, &h.create_runtime, &h.create_container, &h.start_container].iter().any(|l| !l.is_empty())
}

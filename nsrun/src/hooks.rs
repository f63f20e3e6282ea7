//! OCI hooks: each a program run with the container's state on stdin, its
//! own args and environment only, ended at its timeout. Who runs which:
//! `create` runs prestart and createRuntime in nsrun's namespaces once the
//! container's are made; the container's process runs createContainer
//! (before pivot_root) and startContainer (before the program) in its own;
//! `start` runs poststart, `delete` poststop (their failures are warnings,
//! as the runtime spec has them).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::error::quoted;
use common::{Error, process, trace};

use crate::config::Hook;

/// Run `hooks` in order; the first failure stops them.
pub fn run_all(kind: &str, hooks: &[Hook], state: &str) -> Result<(), Error> {
    for hook in hooks {
        run(kind, hook, state)?;
    }
    Ok(())
}

/// Run `hooks` in order, each failure reported as a warning only.
pub fn run_all_warning(kind: &str, hooks: &[Hook], state: &str) {
    for hook in hooks {
        if let Err(e) = run(kind, hook, state) {
            common::report(&Error { what: "warning".to_owned(), ..e });
        }
    }
}

fn run(kind: &str, hook: &Hook, state: &str) -> Result<(), Error> {
    let what = format!("{kind} hook {}", quoted(&hook.path));
    trace::step(|| format!("{what} {:?}", hook.args));
    let mut command = Command::new(&hook.path);
    if let Some((first, rest)) = hook.args.split_first() {
        command.arg0(first).args(rest);
    }
    command.env_clear().stdin(Stdio::piped());
    for entry in &hook.env {
        if let Some((name, value)) = entry.split_once('=') {
            command.env(name, value);
        }
    }
    let mut child = command.spawn().map_err(|e| Error::new("cannot run", &what, common::io_reason(&e)))?;
    let pid = child.id() as libc::pid_t;
    let pidfd = process::pidfd_open(pid).ok();
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state is no failure.
        let _ = stdin.write_all(state.as_bytes());
    }
    if let (Some(seconds), Some(fd)) = (hook.timeout, &pidfd) {
        let mut fds = [libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(fd), events: libc::POLLIN, revents: 0 }];
        let ms = seconds.saturating_mul(1000).min(i32::MAX as u32) as i32;
        // SAFETY: one valid pollfd; waits until the hook exits or the timeout passes.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        if ready == 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::new("", &what, format!("timed out after {seconds} s and was killed")));
        }
    }
    let status = child.wait().map_err(|e| Error::new("cannot wait for", &what, common::io_reason(&e)))?;
    if status.success() { Ok(()) } else { Err(Error::new("", &what, format!("failed: {status}"))) }
}

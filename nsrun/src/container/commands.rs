//! The commands that act on what create wrote: start, kill, ps, delete,
//! run, pause and resume.

use std::os::fd::AsRawFd;
use std::path::Path;

use common::error::quoted;
use common::process::{self};
use common::{Error, trace};
use nix::errno::Errno;

use crate::{cgroups, hooks};

use super::*;

/// `start`: release the process `create` holds.
pub fn start(dir: &Path, id: &str) -> Result<(), Error> {
    let state = State::read(dir, id)?;
    // The process's pidfd, opened before its status is checked: then it is the container's.
    // None on a kernel without pidfd_open (before 5.3): its status is polled there.
    let pidfd = process::pidfd_open(state.pid);
    match (state.status(dir), &pidfd) {
        (Status::Created, Ok(_) | Err(Errno::ENOSYS)) => {}
        (Status::Created, Err(_)) => return Err(Error::new("cannot start", quoted(id), "its process is gone")),
        (other, _) => return Err(Error::new("cannot start", quoted(id), format!("it is {other}, not created"))),
    }
    let pidfd = pidfd.ok();
    let fifo = dir.join(FIFO);
    let fd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", fifo.display(), e))?;
    // Waited for on descriptors, not polled: the FIFO readable once the process writes, or
    // its pidfd once it ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut byte = [0u8; 1];
        match nix::unistd::read(&fd, &mut byte) {
            Ok(1) => break,
            Ok(_) | Err(Errno::EAGAIN) => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(Error::new("cannot start", quoted(id), "its process is gone"));
                }
                let mut fds = [
                    libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                    libc::pollfd {
                        fd: pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                ];
                let wait = if pidfd.is_some() { left.as_millis().min(10_000) as libc::c_int } else { 1 };
                // SAFETY: poll(2) on descriptors we hold (-1 is skipped), for at most the time left.
                unsafe { libc::poll(fds.as_mut_ptr(), 2, wait) };
                let ended = if pidfd.is_some() { fds[1].revents != 0 } else { state.status(dir) == Status::Stopped };
                if ended && fds[0].revents & libc::POLLIN == 0 {
                    return Err(Error::new("cannot start", quoted(id), "its process is gone"));
                }
                // A writer that opened and closed without writing: wait out a moment instead of spinning.
                if fds[0].revents & libc::POLLHUP != 0 && fds[0].revents & libc::POLLIN == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            Err(e) => return Err(Error::sys("cannot read", fifo.display(), e)),
        }
    }
    std::fs::remove_file(&fifo).map_err(|e| Error::new("cannot remove", fifo.display(), common::io_reason(&e)))?;
    if let Some(config) = kept_config(dir) {
        hooks::run_all_warning("poststart", &config.hooks.poststart, &state.hook_state(Status::Running));
    }
    Ok(())
}

/// A signal by number or name (TERM, SIGKILL), as `kill` takes it.
pub fn parse_signal(text: &str) -> Result<libc::c_int, Error> {
    // 0 asks whether the process is alive, as kill(1) and runc take it.
    if text == "0" {
        return Ok(0);
    }
    common::signals::by_name_or_number(text)
        .ok_or_else(|| Error::new("invalid signal", quoted(text), "a number from 0 to 64, or a name such as TERM"))
}

pub fn kill(dir: &Path, id: &str, signal: libc::c_int, all: bool) -> Result<(), Error> {
    let state = State::read(dir, id)?;
    let stopped = state.status(dir) == Status::Stopped;
    // As runc: a stopped container's cgroup may still hold processes, and
    // `kill --all` of one (containerd's CRI sends it on every exit) succeeds.
    if stopped && !all {
        return Err(Error::new("cannot kill", quoted(id), NOT_RUNNING));
    }
    if all {
        for pid in cgroups::processes(&state.cgroups) {
            // SAFETY: plain kill(2) on a process listed in the container's own cgroup.
            unsafe { libc::kill(pid, signal) };
        }
    }
    if stopped {
        // Its PID may be another process's by now.
        return Ok(());
    }
    // SAFETY: plain kill(2); the PID is the container's, checked by its start time just now.
    if unsafe { libc::kill(state.pid, signal) } != 0 {
        return Err(Error::sys("cannot kill", quoted(id), Errno::last()));
    }
    if signal == libc::SIGKILL {
        thaw_if_frozen(&state);
    }
    Ok(())
}

/// What a create killed midway left: its state directory, and the cgroups its
/// config names, removed only if empty (nothing proves their processes ours).
pub(super) fn remove_half_made(dir: &Path, id: &str) -> Result<(), Error> {
    trace::step(|| format!("# {id}: no state (a create that never finished): removing what it left"));
    if let Some(config) = kept_config(dir)
        && let Ok(targets) = cgroups::plan(&config, id, &[])
    {
        for target in targets {
            let _ = std::fs::remove_dir(&target.dir);
        }
    }
    std::fs::remove_dir_all(dir).map_err(|e| Error::new("cannot remove", dir.display(), common::io_reason(&e)))
}

/// Thaw a paused container so that a SIGKILL sent to it takes effect.
pub(super) fn thaw_if_frozen(state: &State) {
    if cgroups::frozen(&state.cgroups) {
        let _ = cgroups::freeze(&state.cgroups, false);
    }
}

/// The processes of the container, as our PID namespace numbers them: those
/// in its cgroup (those in its PID namespace, for a state without one).
pub fn processes(dir: &Path, id: &str) -> Result<Vec<libc::pid_t>, Error> {
    let state = State::read(dir, id)?;
    if state.status(dir) == Status::Stopped {
        return Err(Error::new("cannot list", quoted(id), NOT_RUNNING));
    }
    if !state.cgroups.is_empty() {
        return Ok(cgroups::processes(&state.cgroups));
    }
    let theirs = std::fs::read_link(format!("/proc/{}/ns/pid", state.pid))
        .map_err(|e| Error::new("cannot read", format!("/proc/{}/ns/pid", state.pid), common::io_reason(&e)))?;
    let mut pids: Vec<libc::pid_t> = std::fs::read_dir("/proc")
        .map_err(|e| Error::new("cannot read", "/proc", common::io_reason(&e)))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid: &libc::pid_t| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|ns| ns == theirs))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

pub fn delete(dir: &Path, id: &str, force: bool) -> Result<(), Error> {
    let state = match State::read(dir, id) {
        // A create killed before it wrote its state: what it made goes, so the id can be used again.
        Err(_) if !dir.join(STATE).exists() && dir.join(CONFIG).exists() => return remove_half_made(dir, id),
        // As runc: what --force should remove is gone already.
        Err(_) if force && !dir.exists() => return Ok(()),
        other => other?,
    };
    if state.status(dir) != Status::Stopped {
        if !force {
            return Err(Error::new(
                "cannot delete",
                quoted(id),
                format!("it is {}: stop it first, or give --force", state.status(dir)),
            ));
        }
        let pidfd = process::pidfd_open(state.pid).ok();
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(state.pid), nix::sys::signal::Signal::SIGKILL);
        // A frozen process takes its SIGKILL only once thawed (v1's freezer): thaw, as runc does.
        thaw_if_frozen(&state);
        if let Some(fd) = pidfd {
            let mut fds = [libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            // SAFETY: one valid pollfd; waits up to 2 s for the process to end.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, 2000) };
        }
    }
    cgroups::remove(&state.cgroups);
    let config = kept_config(dir);
    std::fs::remove_dir_all(dir).map_err(|e| Error::new("cannot remove", dir.display(), common::io_reason(&e)))?;
    if let Some(config) = config {
        hooks::run_all_warning("poststop", &config.hooks.poststop, &state.hook_state(Status::Stopped));
    }
    Ok(())
}

/// `run`, after create: start, wait for the process (our child), relaying
/// its terminal's master when `relay` holds our end of its socket, then
/// delete unless `keep`.
pub fn run(dir: &Path, id: &str, keep: bool, relay: Option<std::os::fd::OwnedFd>) -> Result<i32, Error> {
    let state = State::read(dir, id)?;
    if let Err(err) = start(dir, id) {
        let _ = delete(dir, id, true);
        return Err(err);
    }
    let status = match &relay {
        Some(ours) => crate::console::relay(ours, state.pid),
        None => process::wait_forwarding_every(state.pid),
    };
    if !keep {
        delete(dir, id, true)?;
    }
    Ok(process::mirror(status?))
}

/// `pause` and `resume`: freeze or thaw every process of a running (or paused) container.
pub fn freeze(dir: &Path, id: &str, frozen: bool) -> Result<(), Error> {
    let state = State::read(dir, id)?;
    let (want, verb) = if frozen { (Status::Running, "pause") } else { (Status::Paused, "resume") };
    let status = state.status(dir);
    if status != want {
        return Err(Error::new(format!("cannot {verb}"), quoted(id), format!("it is {status}, not {want}")));
    }
    cgroups::freeze(&state.cgroups, frozen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_number_and_name() {
        assert_eq!(parse_signal("15").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigusr1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("0").unwrap(), 0);
        for bad in ["65", "-1", "TERMINATE", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}

//! The container lifecycle: `create` builds the container and holds its
//! process on a FIFO until `start`; `state`, `kill` and `delete` act on
//! what `create` wrote in ROOT/ID/state.json. What nsrun cannot honour yet
//! (what the config cannot have) is refused
//! at `create`, before anything is made: never silently left out.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use common::Error;

use crate::config::Config;

mod becoming;
mod checkpoint;
mod commands;
mod create;
mod init;
mod root;
mod state;

pub use becoming::{Agent, become_process, check_capabilities, compile_filter, set_oom_score_adj, set_rlimits};
pub use checkpoint::{Criu, Dump, checkpoint, network_lock, restore};
pub use commands::{delete, freeze, kill, parse_signal, processes, run, start};
use create::Container;
pub use create::refuse_what_a_user_may_not;
pub use create::{Driver, Files, create};
use init::needs_hook_state;
use root::{finish, set_up};
pub use state::{State, Status, keep_resources};

pub(super) const FIFO: &str = "exec.fifo";

/// runc's words, which engines match in our messages: containerd's shim
/// takes a kill or delete that fails with them as "already gone"
/// (with `no such process` and `os: process already finished`).
pub const NOT_RUNNING: &str = "container not running";
pub const DOES_NOT_EXIST: &str = "container does not exist";

pub(super) const STATE: &str = "state.json";

/// The config as create read it, kept for start and delete (a later edit of the bundle's changes nothing).
pub(super) const CONFIG: &str = "config.json";

pub fn dir_of(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// The config create kept (None for a state without one).
pub fn kept_config(dir: &Path) -> Option<Config> {
    Config::parse(&std::fs::read_to_string(dir.join(CONFIG)).ok()?).ok()
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks.
pub fn start_time(pid: libc::pid_t) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    // A zombie is gone already, as far as a container's status goes.
    if after.starts_with('Z') || after.starts_with('X') {
        return None;
    }
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether nsrun runs for a user: their own uid, or root of a user
/// namespace they made (rootless podman runs its runtime so), as runc tells.
pub fn rootless() -> bool {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    uid != 0 || common::userns::in_user_namespace()
}

pub fn not_dumpable() {
    // It cannot fail for 0; should it, the process is one of ours until exec anyway.
    let _ = common::process::not_dumpable();
}

/// The host's /proc, held before a join changes what the name means.
pub fn host_proc() -> Result<OwnedFd, Error> {
    nix::fcntl::open(
        "/proc",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", "/proc", e))
}

/// The descriptors systemd's socket activation passed us (LISTEN_FDS, from 3
/// on), only when LISTEN_PID names us, as runc does: a count left in the
/// environment by some parent passes nothing on.
pub fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Close on exec every descriptor above stdio and the `preserve` the engine
/// passes on (LISTEN_FDS style), so nothing of nsrun's caller reaches the
/// container by accident.
pub fn keep_only_fds(preserve: u32) {
    common::process::close_on_exec_from(3 + preserve);
}

//! `exec`: one more process in a running container, joined the way nsjoin
//! joins a target (its namespaces at once through a pidfd, its cgroups), and
//! made the process the config or `--process` describes through the same
//! steps as the container's own (common::becoming), under the container's
//! seccomp filter. Waited for and its status relayed, or with `--detach`
//! left to the engine's subreaper, its PID in the pid file.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use common::error::quoted;
use common::process::{self, Forked};
use common::sync::{self, Step};
use common::{Error, ns, trace};

use crate::config::{Config, Process};
use crate::container::{self, State};

pub struct Exec {
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<std::path::PathBuf>,
    pub preserve_fds: u32,
    /// Connected to the engine's --console-socket, for process.terminal.
    pub console: Option<OwnedFd>,
}

pub fn exec(dir: &Path, id: &str, config: &Config, e: &Exec) -> Result<i32, Error> {
    let state = State::read(dir, id)?;
    let status = state.status(dir);
    if status != container::Status::Running {
        return Err(Error::new("cannot exec in", quoted(id), format!("{} (it is {status})", container::NOT_RUNNING)));
    }
    let held = Held::open(&state, e)?;
    let filter = container::compile_filter(config.linux.seccomp.as_ref())?;
    let flags = namespaces_to_join(state.pid);
    let (from_parent, to_child) = sync::pipe()?;
    trace::step(|| format!("setns pidfd of {} ({flags:#x})", state.pid));
    nix::sched::setns(&held.pidfd, nix::sched::CloneFlags::from_bits_retain(flags))
        .map_err(|err| Error::sys("cannot join", format!("the namespaces of {}", quoted(id)), err))?;
    if !e.detach {
        process::block_for_waiting();
    }
    match process::fork().map_err(|err| Error::sys("cannot fork", "the exec'd process", err))? {
        Forked::Child => {
            drop(to_child);
            become_and_exec(e, filter.as_deref(), from_parent)
        }
        Forked::Parent(pid) => {
            drop(from_parent);
            place(&held, e, pid, to_child)?;
            if e.detach {
                return Ok(0);
            }
            Ok(process::mirror(process::wait_forwarding(pid)?))
        }
    }
}

/// Everything that names a host path, opened before the joins.
struct Held {
    pidfd: OwnedFd,
    /// The container's cgroup.procs files, one per hierarchy.
    procs: Vec<OwnedFd>,
    pid_file: Option<common::ReplacedFile>,
    /// The host's /proc, for oom_score_adj.
    proc: OwnedFd,
}

impl Held {
    fn open(state: &State, e: &Exec) -> Result<Self, Error> {
        let pidfd =
            process::pidfd_open(state.pid).map_err(|e| Error::sys("cannot open", format!("pid {}", state.pid), e))?;
        let procs = state
            .cgroups
            .iter()
            .map(|p| {
                let file = p.dir.join("cgroup.procs");
                let flags = nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC;
                nix::fcntl::open(&file, flags, nix::sys::stat::Mode::empty())
                    .map_err(|e| Error::sys("cannot open", file.display(), e))
            })
            .collect::<Result<_, _>>()?;
        let pid_file = e.pid_file.as_deref().map(common::ReplacedFile::at).transpose()?;
        Ok(Self { pidfd, procs, pid_file, proc: container::host_proc()? })
    }
}

/// The container's namespaces that are not ours already, to join at once.
fn namespaces_to_join(pid: libc::pid_t) -> libc::c_int {
    let mut flags = 0;
    for n in ns::NAMESPACES.iter() {
        let theirs = format!("/proc/{pid}/ns/{}", n.proc_name);
        let ours = format!("/proc/self/ns/{}", n.proc_name);
        if std::path::Path::new(&theirs).exists() && !ns::same(theirs.as_ref(), ours.as_ref()).unwrap_or(true) {
            flags |= n.flag;
        }
    }
    flags
}

/// The exec'd process, once in the container's cgroups: its terminal, rlimits,
/// then the process it becomes; exec.
fn become_and_exec(e: &Exec, filter: Option<&[libc::sock_filter]>, from_parent: OwnedFd) -> ! {
    // Until exec, which resets it: no process of the container's may ptrace us or read
    // our /proc files while we still hold nsrun's privileges (runc's CVE-2016-9962).
    container::not_dumpable();
    // Nothing runs before the process is in the container's cgroups.
    if sync::expect(from_parent.as_fd(), Step::InCgroups).is_err() {
        process::child_exit(1);
    }
    drop(from_parent);
    let result = e
        .console
        .as_ref()
        .map_or(Ok(()), crate::console::take_terminal)
        .map_err(|err| err.with_code(1))
        .and_then(|()| container::set_rlimits(&e.process))
        .and_then(|()| container::become_process(&e.process, filter));
    if let Err(err) = result {
        common::report(&err);
        process::child_exit(err.code);
    }
    container::keep_only_fds(e.preserve_fds);
    let argv: Vec<std::ffi::OsString> = e.process.args.iter().map(Into::into).collect();
    let err = common::exec::exec_into(&argv);
    common::report(&err);
    process::child_exit(err.code)
}

/// nsrun's side: the process `pid` into the container's cgroups, its
/// oom_score_adj and pid file; then it may go on.
fn place(held: &Held, e: &Exec, pid: libc::pid_t, to_child: OwnedFd) -> Result<(), Error> {
    let placed = container::set_oom_score_adj(&e.process, pid, &held.proc).and_then(|()| {
        held.procs.iter().try_for_each(|fd| {
            nix::unistd::write(fd, pid.to_string().as_bytes())
                .map(drop)
                .map_err(|err| Error::sys("cannot join", "the container's cgroup", err))
        })
    });
    if let Err(err) = placed {
        drop(to_child);
        // Our own child, which exits once the pipe closes unwritten (or has ended).
        let _ = process::reap_helper(pid, "the process");
        return Err(err);
    }
    if let Some(f) = &held.pid_file {
        f.write(pid.to_string().as_bytes())?;
    }
    let _ = sync::send(to_child.as_fd(), Step::InCgroups);
    Ok(())
}

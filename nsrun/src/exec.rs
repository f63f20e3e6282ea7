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
    /// Connected to the engine's --console-socket (or nsrun's relay), for process.terminal.
    pub console: Option<OwnedFd>,
    /// Our end of the console's socket pair, when nsrun relays the terminal itself.
    pub relay: Option<OwnedFd>,
    /// Into a paused container too (runc's --ignore-paused).
    pub ignore_paused: bool,
    /// A cgroup below the container's to run in (runc's --cgroup).
    pub sub_cgroup: Option<SubCgroup>,
    /// Connected to linux.seccomp.listenerPath, for SCMP_ACT_NOTIFY.
    pub agent: Option<OwnedFd>,
}

/// `--cgroup [CONTROLLER:]PATH`: PATH below the container's cgroup, in the
/// hierarchy of CONTROLLER (v1) or in every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubCgroup {
    pub controller: Option<String>,
    pub path: std::path::PathBuf,
}

pub fn exec(dir: &Path, id: &str, config: &Config, mut e: Exec) -> Result<i32, Error> {
    let state = State::read(dir, id)?;
    match state.status(dir) {
        // As runc: a created container's namespaces and cgroups are all there.
        container::Status::Running | container::Status::Created => {}
        container::Status::Paused if e.ignore_paused => {}
        container::Status::Paused => {
            return Err(Error::new("cannot exec in", quoted(id), "it is paused (give --ignore-paused)"));
        }
        status @ container::Status::Stopped => {
            return Err(Error::new(
                "cannot exec in",
                quoted(id),
                format!("{} (it is {status})", container::NOT_RUNNING),
            ));
        }
    }
    let held = Held::open(&state, &e)?;
    // Read while the host's paths are ours: after the joins they are not.
    let document = state.document(dir);
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
            drop((to_child, e.relay.take()));
            let metadata = config.linux.seccomp.as_ref().map_or("", |s| s.listener_metadata.as_str());
            let agent = e.agent.as_ref().map(|socket| container::Agent { socket, state: &document, metadata });
            become_and_exec(&e, filter.as_deref(), agent, from_parent)
        }
        Forked::Parent(pid) => {
            drop((from_parent, e.console.take(), e.agent.take()));
            place(&held, &e, pid, to_child)?;
            match (&e.relay, e.detach) {
                (_, true) => Ok(0),
                (Some(ours), false) => Ok(process::mirror(crate::console::relay(ours, pid)?)),
                (None, false) => Ok(process::mirror(process::wait_forwarding_every(pid)?)),
            }
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
                let file = sub_cgroup_of(p, e.sub_cgroup.as_ref())?.join("cgroup.procs");
                let flags = nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC;
                nix::fcntl::open(&file, flags, nix::sys::stat::Mode::empty())
                    .map_err(|e| Error::sys("cannot open", file.display(), e))
            })
            .collect::<Result<_, _>>()?;
        let pid_file = e.pid_file.as_deref().map(common::ReplacedFile::at).transpose()?;
        Ok(Self { pidfd, procs, pid_file, proc: container::host_proc()? })
    }
}

/// The cgroup of `placed` the process joins: the container's own, or the
/// --cgroup below it (which must exist, as runc has it) in the hierarchy it names.
fn sub_cgroup_of(placed: &crate::cgroups::Placed, sub: Option<&SubCgroup>) -> Result<std::path::PathBuf, Error> {
    let Some(sub) = sub else { return Ok(placed.dir.clone()) };
    let names_this = match &sub.controller {
        None => true,
        Some(c) => crate::cgroups::offers(placed, c),
    };
    if !names_this {
        return Ok(placed.dir.clone());
    }
    let dir = placed.dir.join(&sub.path);
    let found = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
    if !found {
        return Err(Error::new(
            "cannot join",
            format!("--cgroup {}", quoted(sub.path.display().to_string())),
            "no such cgroup below the container's",
        ));
    }
    Ok(dir)
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
fn become_and_exec(
    e: &Exec,
    filter: Option<&[libc::sock_filter]>,
    agent: Option<container::Agent<'_>>,
    from_parent: OwnedFd,
) -> ! {
    // Until exec, which resets it: no process of the container's may ptrace us or read
    // our /proc files while we still hold nsrun's privileges (runc's CVE-2016-9962).
    container::not_dumpable();
    // Nothing runs before the process is in the container's cgroups.
    if sync::expect(from_parent.as_fd(), Step::InCgroups).is_err() {
        process::child_exit(1);
    }
    drop(from_parent);
    // A session of its own, as runc gives it (the terminal's, or one without a terminal):
    // no door to the caller's terminal, and criu can checkpoint a tree whose session
    // leader is inside.
    let result = match &e.console {
        Some(socket) => crate::console::take_terminal(socket, &e.process),
        None => nix::unistd::setsid().map(drop).map_err(|err| Error::sys("cannot start", "a session", err)),
    }
    .map_err(|err| err.with_code(1))
    .and_then(|()| container::set_rlimits(&e.process))
    .and_then(|()| {
        // Before the filter goes on: a strict profile need allow nothing of ours.
        container::keep_only_fds(e.preserve_fds);
        common::signals::restore();
        container::become_process(&e.process, filter, agent)
    });
    if let Err(err) = result {
        common::report(&err);
        process::child_exit(err.code);
    }
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

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
        return Err(Error::new("cannot exec in", quoted(id), format!("it is {status}, not running")));
    }
    let pidfd =
        process::pidfd_open(state.pid).map_err(|e| Error::sys("cannot open", format!("pid {}", state.pid), e))?;
    // Everything that names a host path is opened before the joins.
    let procs: Vec<OwnedFd> = state
        .cgroups
        .iter()
        .map(|p| {
            let file = p.dir.join("cgroup.procs");
            nix::fcntl::open(
                &file,
                nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::sys("cannot open", file.display(), e))
        })
        .collect::<Result<_, _>>()?;
    // Its directory held now: the write comes after the joins.
    let pid_file = e.pid_file.as_deref().map(common::ReplacedFile::at).transpose()?;
    let proc = container::host_proc()?;
    // The container's namespaces that are not ours already, at once.
    let mut flags = 0;
    for n in ns::NAMESPACES.iter() {
        let theirs = format!("/proc/{}/ns/{}", state.pid, n.proc_name);
        let ours = format!("/proc/self/ns/{}", n.proc_name);
        if std::path::Path::new(&theirs).exists() && !ns::same(theirs.as_ref(), ours.as_ref()).unwrap_or(true) {
            flags |= n.flag;
        }
    }
    let (placed, go) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("cannot make", "a pipe", e))?;
    trace::step(|| format!("setns pidfd of {} ({flags:#x})", state.pid));
    nix::sched::setns(&pidfd, nix::sched::CloneFlags::from_bits_retain(flags))
        .map_err(|err| Error::sys("cannot join", format!("the namespaces of {}", quoted(id)), err))?;
    if !e.detach {
        process::block_for_waiting();
    }
    match process::fork().map_err(|err| Error::sys("cannot fork", "the exec'd process", err))? {
        Forked::Child => {
            // Until exec, which resets it: no process of the container's may ptrace us or read
            // our /proc files while we still hold nsrun's privileges (runc's CVE-2016-9962).
            container::not_dumpable();
            drop(go);
            // Nothing runs before the process is in the container's cgroups.
            if sync::expect(placed.as_fd(), Step::InCgroups).is_err() {
                process::child_exit(1);
            }
            drop(placed);
            if let Some(socket) = &e.console
                && let Err(err) = crate::console::take_terminal(socket)
            {
                common::report(&err);
                process::child_exit(1);
            }
            let result = container::set_rlimits(&e.process)
                .and_then(|()| container::become_process(&e.process, config.linux.seccomp.as_ref()));
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
        Forked::Parent(pid) => {
            drop(placed);
            if let Err(err) = container::set_oom_score_adj(&e.process, pid, &proc) {
                // Our own child, which exits once the pipe closes unwritten (or has ended).
                let _ = process::reap_helper(pid, "the process");
                return Err(err);
            }
            for fd in &procs {
                if let Err(err) = nix::unistd::write(fd, pid.to_string().as_bytes()) {
                    // Our own child, which exits once the pipe closes unwritten (or has ended).
                    let _ = process::reap_helper(pid, "the process");
                    return Err(Error::sys("cannot join", "the container's cgroup", err));
                }
            }
            if let Some(f) = &pid_file {
                f.write(pid.to_string().as_bytes())?;
            }
            let _ = sync::send(go.as_fd(), Step::InCgroups);
            drop(go);
            if e.detach {
                return Ok(0);
            }
            Ok(process::mirror(process::wait_forwarding(pid)?))
        }
    }
}

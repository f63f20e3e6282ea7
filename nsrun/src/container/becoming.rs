//! What the container's process (and exec's) takes on last: capabilities,
//! rlimits, oomScoreAdj, user, seccomp, through `common::becoming`.

use std::os::fd::OwnedFd;

use common::{Error, caps};
use nix::errno::Errno;

use crate::config::Process;

/// A capability we cannot give is an error, not left out (the spec's rule, and runc's).
pub fn check_capabilities(p: &Process) -> Result<(), Error> {
    let Some(c) = p.capabilities else { return Ok(()) };
    let missing = (c.bounding | c.effective | c.permitted | c.inheritable | c.ambient) & !caps::bounding();
    if missing == 0 {
        return Ok(());
    }
    Err(Error::new(
        "cannot give",
        format!("process.capabilities {}", caps::names(missing)),
        "not in nsrun's own bounding set",
    ))
}

/// The process's rlimits, on ourselves (they pass through exec).
pub fn set_rlimits(p: &Process) -> Result<(), Error> {
    for r in &p.rlimits {
        let limit = libc::rlimit { rlim_cur: r.soft, rlim_max: r.hard };
        // SAFETY: a valid rlimit for a resource number from the table.
        if unsafe { libc::setrlimit(r.resource as _, &limit) } != 0 {
            return Err(Error::sys("cannot set", &r.kind, Errno::last()));
        }
    }
    Ok(())
}

/// The process's oomScoreAdj, written by us for process `pid` through `proc`,
/// the host's /proc (in a user namespace its own /proc files are not its to write).
pub fn set_oom_score_adj(p: &Process, pid: libc::pid_t, proc: &OwnedFd) -> Result<(), Error> {
    let Some(adj) = p.oom_score_adj else { return Ok(()) };
    let file = format!("{pid}/oom_score_adj");
    let fd = nix::fcntl::openat(
        proc,
        file.as_str(),
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot set", "process.oomScoreAdj", e))?;
    nix::unistd::write(&fd, adj.to_string().as_bytes())
        .map_err(|e| Error::sys("cannot set", "process.oomScoreAdj", e))?;
    Ok(())
}

/// The user, capabilities, no_new_privs, seccomp filter, umask, working
/// directory and environment of `process`, in the order that keeps each
/// step possible (as nsjoin takes on a target's).
/// linux.seccomp compiled for this machine's architecture, once, before
/// anything is made (create) or joined (exec): the process only installs it.
pub fn compile_filter(seccomp: Option<&crate::config::Seccomp>) -> Result<Option<Vec<libc::sock_filter>>, Error> {
    let Some(seccomp) = seccomp else { return Ok(None) };
    let arch = common::seccomp::Arch::native()
        .ok_or_else(|| Error::new("cannot filter", "", "an architecture nsrun has no tables for"))?;
    common::seccomp::compile(&seccomp.profile, arch)
        .map(Some)
        .map_err(|why| Error::new("cannot compile", "linux.seccomp", why))
}

/// Becomes `p`; with an `agent`, the filter is installed with a listener,
/// sent to the agent with `state` (the spec's container process state).
pub fn become_process(
    p: &Process,
    filter: Option<&[libc::sock_filter]>,
    agent: Option<Agent<'_>>,
) -> Result<(), Error> {
    let c = p.capabilities.unwrap_or_default();
    let filters = filter.map(|f| vec![f.to_vec()]).unwrap_or_default();
    let becoming = common::becoming::Becoming {
        privileges: Some(common::becoming::Privileges {
            bounding: c.bounding,
            sets: caps::Sets { effective: c.effective, permitted: c.permitted, inheritable: c.inheritable },
            ambient: c.ambient,
            no_new_privs: p.no_new_privileges,
        }),
        filters,
        account: Some(common::account::Account {
            uid: p.user.uid,
            gid: p.user.gid,
            groups: p.user.additional_gids.clone(),
            name: None,
            home: None,
        }),
        listen: agent.is_some(),
    };
    if let Some(mask) = p.user.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask as _));
    }
    // The working directory while we are still root with every capability
    // and no filter (a 0700 directory, a profile denying chdir), as runc
    // does; as the user after, should root be refused (a squashing NFS).
    let entered = enter_cwd(&p.cwd);
    let listener = becoming.take_on()?;
    if let (Some(agent), Some(listener)) = (agent, listener) {
        agent.send(&listener)?;
    }
    if entered.is_err() {
        enter_cwd(&p.cwd)?;
    }
    // The config's entries, checked to be NAME=VALUE at parse.
    common::process::replace_environment(p.env.iter().filter_map(|e| e.split_once('=')));
    Ok(())
}

/// A seccomp agent (linux.seccomp.listenerPath), connected before anything
/// changed our root, and what it is told of the process.
pub struct Agent<'a> {
    pub socket: &'a OwnedFd,
    /// The container's state document.
    pub state: &'a serde_json::Value,
    pub metadata: &'a str,
}

impl Agent<'_> {
    /// The listener with the container process state (runtime-spec's
    /// ContainerProcessState), as one SCM_RIGHTS message.
    fn send(&self, listener: &OwnedFd) -> Result<(), Error> {
        let payload = serde_json::json!({
            "ociVersion": "1.0.2",
            "fds": ["seccompFd"],
            "pid": std::process::id(),
            "metadata": self.metadata,
            "state": self.state,
        });
        common::sync::send_fd(
            std::os::fd::AsFd::as_fd(self.socket),
            std::os::fd::AsFd::as_fd(listener),
            payload.to_string().as_bytes(),
        )
        .map_err(|e| Error::new("cannot send the seccomp listener to", "linux.seccomp.listenerPath", e.reason))
    }
}

/// chdir, then a check that the directory is inside our root: a path through
/// a descriptor the process could still see (/proc/self/fd/N) must not make
/// a host directory its working directory (runc's CVE-2024-21626).
fn enter_cwd(cwd: &str) -> Result<(), Error> {
    nix::unistd::chdir(cwd).map_err(|e| Error::sys("cannot chdir to", cwd, e))?;
    let mut buffer = [0u8; 4096];
    // SAFETY: getcwd(2) into our buffer, at most its length; the kernel says
    // "(unreachable)..." for a directory outside our root, never "/...".
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buffer.as_mut_ptr(), buffer.len()) };
    if n > 0 && buffer[0] == b'/' {
        return Ok(());
    }
    Err(Error::new("cannot chdir to", cwd, "it is outside the container's root"))
}

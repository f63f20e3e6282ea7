//! `create`: the config checked, namespaces to join opened, cgroups made,
//! the container's process cloned and led through the handshake.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use common::Error;
use common::error::quoted;
use common::process::{self, Forked};
use common::sync::{self, Step};
use serde_json::json;

use crate::config::{Config, Process};
use crate::mounts::{self};
use crate::{cgroups, hooks};

use super::*;

/// Whether descriptor `fd` and `path` name the same file (a namespace, here).
pub(super) fn same_file(fd: &OwnedFd, path: &Path) -> bool {
    let (Ok(a), Ok(b)) = (nix::sys::stat::fstat(fd), nix::sys::stat::stat(path)) else { return false };
    (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
}

/// What nsrun will not do, refused before anything is made.
pub(super) fn refuse_unsupported(c: &Config) -> Result<(), Error> {
    // Mounting and pivoting in nsrun's own mount namespace would change the host.
    if !c.linux.namespaces.iter().any(|n| n.ns.flag == libc::CLONE_NEWNS) {
        return Err(Error::new("cannot create", "linux.namespaces", "a container needs a mount namespace of its own"));
    }
    for m in &c.mounts {
        let plan = mounts::plan(&m.options);
        if plan.copy_up && m.kind.as_deref() != Some("tmpfs") {
            return Err(Error::new("invalid config", &m.destination, "tmpcopyup is for tmpfs mounts"));
        }
    }
    Ok(())
}

/// What create writes to or hands over, besides its state.
pub struct Files<'a> {
    pub pid_file: Option<&'a Path>,
    /// Connected to the engine's --console-socket, for process.terminal.
    pub console: Option<OwnedFd>,
}

pub fn create(
    root: &Path,
    id: &str,
    bundle: &Path,
    files: Files<'_>,
    (config, text): (&Config, &str),
) -> Result<(), Error> {
    refuse_unsupported(config)?;
    let (Some(process), Some(rootfs_spec)) = (&config.process, &config.root) else {
        return Err(Error::new("invalid config", bundle.display(), "root and process are needed"));
    };
    let bundle = std::fs::canonicalize(bundle)
        .map_err(|e| Error::new("cannot open", bundle.display(), common::io_reason(&e)))?;
    let rootfs = bundle.join(&rootfs_spec.path);
    let rootfs = std::fs::canonicalize(&rootfs)
        .map_err(|e| Error::new("cannot open", rootfs.display(), common::io_reason(&e)))?;
    // Namespaces to join, opened and checked before anything is made: the
    // user namespace first (it owns the others), a PID namespace by the
    // parent (setns applies it to the child it clones next).
    let mut flags = 0;
    let mut joins: Vec<(libc::c_int, OwnedFd)> = Vec::new();
    for spec in &config.linux.namespaces {
        match &spec.path {
            None => flags |= spec.ns.flag,
            Some(path) => {
                let (fd, kind) = common::ns::open(std::ffi::OsStr::new(path))?;
                if kind.flag != spec.ns.flag {
                    return Err(Error::new(
                        "",
                        path,
                        format!("is a {} namespace, not a {} namespace", kind.name, spec.ns.name),
                    ));
                }
                if kind.flag == libc::CLONE_NEWNS && same_file(&fd, Path::new("/proc/self/ns/mnt")) {
                    return Err(Error::new("cannot join", path, "it is nsrun's own mount namespace (the host's)"));
                }
                joins.push((kind.flag, fd));
            }
        }
    }
    joins.sort_by_key(|(flag, _)| *flag != libc::CLONE_NEWUSER);
    let maps = (flags & libc::CLONE_NEWUSER != 0).then(|| common::userns::MapPlan {
        uid: config.linux.uid_mappings.clone(),
        gid: config.linux.gid_mappings.clone(),
        setgroups: common::userns::Setgroups::Allow,
        writer: common::userns::MapWriter::Direct,
    });
    let made: Vec<common::cgroup::devices::Rule> = config
        .linux
        .devices
        .iter()
        .filter(|d| d.kind != 'p')
        .map(|d| common::cgroup::devices::Rule {
            kind: Some(if d.kind == 'b' { 'b' } else { 'c' }),
            ..common::cgroup::devices::Rule::allow_char(d.major as u32, Some(d.minor as u32))
        })
        .collect();
    check_capabilities(process)?;
    let targets = cgroups::plan(config, id, &made)?;
    std::fs::create_dir_all(root).map_err(|e| Error::new("cannot create", root.display(), common::io_reason(&e)))?;
    let dir = dir_of(root, id);
    // Only root may reach the FIFO (whoever opens it starts the container) and the state.
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&dir).map_err(|e| match e
        .kind()
    {
        std::io::ErrorKind::AlreadyExists => Error::new("cannot create", quoted(id), "a container of that id exists"),
        _ => Error::new("cannot create", dir.display(), common::io_reason(&e)),
    })?;
    let kept = dir.join(CONFIG);
    let result = std::fs::write(&kept, text)
        .map_err(|e| Error::new("cannot write", kept.display(), common::io_reason(&e)))
        .and_then(|()| cgroups::make(&targets))
        .and_then(|placed| {
            let built = build(&dir, id, &bundle, &rootfs, process, config, (flags, joins, maps), &files, &placed);
            if built.is_err() {
                cgroups::remove(&placed);
            }
            built
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

#[allow(clippy::too_many_arguments)]
pub(super) fn build(
    dir: &Path,
    id: &str,
    bundle: &Path,
    rootfs: &Path,
    process: &Process,
    config: &Config,
    (flags, joins, maps): (libc::c_int, Vec<(libc::c_int, OwnedFd)>, Option<common::userns::MapPlan>),
    files: &Files<'_>,
    placed: &[cgroups::Placed],
) -> Result<(), Error> {
    let fifo = dir.join(FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| Error::sys("cannot create", fifo.display(), e))?;
    // In a user namespace the process opens it as that namespace's root: the
    // FIFO is that user's (the directory, root's alone, still keeps everyone out).
    if let Some(plan) = &maps {
        let outer = |maps: &[common::userns::IdMap]| maps.iter().find(|m| m.inner == 0).map(|m| m.outer);
        let uid = outer(&plan.uid).map(nix::unistd::Uid::from_raw);
        let gid = outer(&plan.gid).map(nix::unistd::Gid::from_raw);
        nix::unistd::chown(&fifo, uid, gid).map_err(|e| Error::sys("cannot hand over", fifo.display(), e))?;
    }
    let fifo_fd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", fifo.display(), e))?;
    let (from_child, to_parent) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("cannot make", "a pipe", e))?;
    let (in_cgroups, placed_it) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("cannot make", "a pipe", e))?;
    let (pid_joins, joins): (Vec<_>, Vec<_>) = joins.into_iter().partition(|(flag, _)| *flag == libc::CLONE_NEWPID);
    let joins: Vec<OwnedFd> = joins.into_iter().map(|(_, fd)| fd).collect();
    for (_, fd) in &pid_joins {
        // Only our children are born in it; nsrun create itself stays where it is.
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWPID)
            .map_err(|e| Error::sys("cannot join", "the PID namespace of linux.namespaces", e))?;
    }
    match process::clone_child(flags).map_err(|e| common::ns::namespace_failure("cannot clone", flags, e))? {
        Forked::Child => {
            // Until exec, which resets it: no process of the container's may ptrace us or read
            // our /proc files while we still hold nsrun's privileges (runc's CVE-2016-9962).
            not_dumpable();
            drop(from_child);
            drop(placed_it);
            // Nothing runs before the process is in the container's cgroups.
            if sync::expect(in_cgroups.as_fd(), Step::InCgroups).is_err() {
                process::child_exit(1);
            }
            super::init::init(
                bundle,
                rootfs,
                (process, config),
                &joins,
                (&fifo_fd, files.console.as_ref()),
                (to_parent, in_cgroups),
            )
        }
        Forked::Parent(pid) => {
            drop(to_parent);
            drop(in_cgroups);
            let mapped = maps.as_ref().map_or(Ok(()), |plan| common::userns::write_maps(pid, plan));
            let adjusted = mapped.and_then(|()| host_proc()).and_then(|proc| set_oom_score_adj(process, pid, &proc));
            if let Err(err) = adjusted.and_then(|()| cgroups::join(placed, pid)) {
                drop(placed_it);
                // Our own child, which exits once the pipe closes unwritten (or has ended).
                let _ = process::reap_helper(pid, "the process");
                return Err(err);
            }
            let _ = sync::send(placed_it.as_fd(), Step::InCgroups);
            let state = State {
                id: id.to_owned(),
                pid,
                start_time: start_time(pid).unwrap_or(0),
                bundle: bundle.display().to_string(),
                created: crate::rfc3339_now(),
                annotations: config.annotations.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
                cgroups: placed.to_vec(),
            };
            let handshake = run_create_hooks(config, &state, from_child.as_fd(), placed_it)
                .and_then(|()| sync::expect(from_child.as_fd(), Step::Ready).map_err(|e| set_up_failed(id, e)));
            if let Err(err) = handshake {
                // Our own child, which exits once the pipe closes unwritten (or has ended).
                let _ = process::reap_helper(pid, "the process");
                return Err(err);
            }
            state.write(dir)?;
            if let Some(file) = files.pid_file {
                common::ReplacedFile::at(file)?.write(pid.to_string().as_bytes())?;
            }
            Ok(())
        }
    }
}

/// The container's process did not get set up: its own message, or that it died.
pub(super) fn set_up_failed(id: &str, heard: Error) -> Error {
    let why = if heard.what.is_empty() {
        heard.reason
    } else {
        "the container's process died while it was set up".to_owned()
    };
    Error::new("cannot create", quoted(id), why)
}

/// Create's hooks, when the container's process says they are due: then the
/// state document they read goes to it, for its own createContainer hooks.
pub(super) fn run_create_hooks(
    config: &Config,
    state: &State,
    from_child: BorrowedFd<'_>,
    to_child: OwnedFd,
) -> Result<(), Error> {
    if !needs_hook_state(config) {
        return Ok(());
    }
    sync::expect(from_child, Step::HooksDue).map_err(|e| set_up_failed(&state.id, e))?;
    let doc = state.hook_state(Status::Created);
    let h = &config.hooks;
    hooks::run_all("prestart", &h.prestart, &doc)
        .and_then(|()| hooks::run_all("createRuntime", &h.create_runtime, &doc))?;
    sync::send(to_child.as_fd(), Step::HooksRan)
        .and_then(|()| sync::send_text(to_child.as_fd(), &doc))
        .map_err(|e| Error::sys("cannot send", "the state to the container's process", e))
}

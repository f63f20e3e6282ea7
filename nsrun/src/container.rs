//! The container lifecycle: `create` builds the container and holds its
//! process on a FIFO until `start`; `state`, `kill` and `delete` act on
//! what `create` wrote in ROOT/ID/state.json. What nsrun cannot honour yet
//! (what the config cannot have) is refused
//! at `create`, before anything is made: never silently left out.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use common::error::quoted;
use common::process::{self, Forked};
use common::rootfs::{self, Root};
use common::sync::{self, Step};
use common::{Error, caps, trace};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use serde_json::json;

use crate::config::{Config, Process};
use crate::mounts::{self, Recursive};
use crate::{cgroups, hooks};

const FIFO: &str = "exec.fifo";
const STATE: &str = "state.json";

/// What `create` records of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub id: String,
    pub pid: libc::pid_t,
    /// Its start time in clock ticks (/proc/PID/stat), so that a reused PID is not taken for it.
    pub start_time: u64,
    pub bundle: String,
    pub created: String,
    pub annotations: serde_json::Map<String, serde_json::Value>,
    pub cgroups: Vec<cgroups::Placed>,
}

pub fn dir_of(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl State {
    pub fn read(dir: &Path, id: &str) -> Result<Self, Error> {
        let path = dir.join(STATE);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::new("", quoted(id), "no such container"),
            _ => Error::new("cannot read", path.display(), common::io_reason(&e)),
        })?;
        let bad = || Error::new("cannot read", path.display(), "not a state file of nsrun");
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let placed = cgroups::from_json(&v["nsrunCgroups"]);
        let own = kept_config(dir).and_then(|c| c.linux.cgroups_path).unwrap_or_else(|| id.to_owned());
        cgroups::check_placed(&placed, &own)?;
        Ok(Self {
            id: v["id"].as_str().ok_or_else(bad)?.to_owned(),
            pid: v["pid"].as_i64().and_then(|p| i32::try_from(p).ok()).ok_or_else(bad)?,
            start_time: v["nsrunStartTime"].as_u64().ok_or_else(bad)?,
            bundle: v["bundle"].as_str().unwrap_or_default().to_owned(),
            created: v["created"].as_str().unwrap_or_default().to_owned(),
            annotations: v["annotations"].as_object().cloned().unwrap_or_default(),
            cgroups: placed,
        })
    }

    fn write(&self, dir: &Path) -> Result<(), Error> {
        let v = json!({
            "id": self.id, "pid": self.pid, "nsrunStartTime": self.start_time,
            "bundle": self.bundle, "created": self.created, "annotations": self.annotations,
            "nsrunCgroups": cgroups::to_json(&self.cgroups),
        });
        let tmp = dir.join(".state.json.tmp");
        std::fs::write(&tmp, v.to_string())
            .map_err(|e| Error::new("cannot write", tmp.display(), common::io_reason(&e)))?;
        std::fs::rename(&tmp, dir.join(STATE))
            .map_err(|e| Error::new("cannot write", dir.join(STATE).display(), common::io_reason(&e)))
    }

    /// created (held on the FIFO), running, or stopped (gone, or its PID now another's).
    pub fn status(&self, dir: &Path) -> &'static str {
        if start_time(self.pid) != Some(self.start_time) {
            "stopped"
        } else if dir.join(FIFO).exists() {
            "created"
        } else if cgroups::frozen(&self.cgroups) {
            "paused"
        } else {
            "running"
        }
    }

    /// The state a hook reads on stdin, with `status` as the hook's moment has it.
    pub fn hook_state(&self, status: &str) -> String {
        json!({
            "ociVersion": "1.0.2", "id": self.id, "status": status, "pid": self.pid, "bundle": self.bundle,
            "annotations": self.annotations,
        })
        .to_string()
    }

    /// The OCI state document.
    pub fn document(&self, dir: &Path) -> serde_json::Value {
        let status = self.status(dir);
        let mut v = json!({
            "ociVersion": "1.0.2", "id": self.id, "status": status, "bundle": self.bundle,
            "created": self.created, "annotations": self.annotations,
        });
        if status != "stopped" {
            v["pid"] = json!(self.pid);
        }
        v
    }
}

pub fn not_dumpable() {
    // SAFETY: prctl with integer arguments; it cannot fail for 0.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

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

/// The host's /proc, held before a join changes what the name means.
pub fn host_proc() -> Result<OwnedFd, Error> {
    nix::fcntl::open(
        "/proc",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", "/proc", e))
}

/// The descriptors after stdio that systemd-style socket activation hands on (LISTEN_FDS).
fn preserve_fds() -> u32 {
    std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Close on exec every descriptor above stdio and the `preserve` the engine
/// passes on (LISTEN_FDS style), so nothing of nsrun's caller reaches the
/// container by accident.
pub fn keep_only_fds(preserve: u32) {
    common::process::close_on_exec_from(3 + preserve);
}

/// Whether descriptor `fd` and `path` name the same file (a namespace, here).
fn same_file(fd: &OwnedFd, path: &Path) -> bool {
    let (Ok(a), Ok(b)) = (nix::sys::stat::fstat(fd), nix::sys::stat::stat(path)) else { return false };
    (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
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

/// What nsrun will not do, refused before anything is made.
fn refuse_unsupported(c: &Config) -> Result<(), Error> {
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

/// The config as create read it, kept for start and delete (a later edit of the bundle's changes nothing).
const CONFIG: &str = "config.json";

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
fn build(
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
            init(bundle, rootfs, (process, config), &joins, (&fifo_fd, files.console.as_ref()), (to_parent, in_cgroups))
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
fn set_up_failed(id: &str, heard: Error) -> Error {
    let why = if heard.what.is_empty() {
        heard.reason
    } else {
        "the container's process died while it was set up".to_owned()
    };
    Error::new("cannot create", quoted(id), why)
}

/// Create's hooks, when the container's process says they are due: then the
/// state document they read goes to it, for its own createContainer hooks.
fn run_create_hooks(
    config: &Config,
    state: &State,
    from_child: BorrowedFd<'_>,
    to_child: OwnedFd,
) -> Result<(), Error> {
    if !needs_hook_state(config) {
        return Ok(());
    }
    sync::expect(from_child, Step::HooksDue).map_err(|e| set_up_failed(&state.id, e))?;
    let doc = state.hook_state("created");
    let h = &config.hooks;
    hooks::run_all("prestart", &h.prestart, &doc)
        .and_then(|()| hooks::run_all("createRuntime", &h.create_runtime, &doc))?;
    sync::send(to_child.as_fd(), Step::HooksRan)
        .and_then(|()| sync::send_text(to_child.as_fd(), &doc))
        .map_err(|e| Error::sys("cannot send", "the state to the container's process", e))
}

/// The container's process: set up, report to `create` (which waits for the
/// pipe to close), wait for `start`, become the process the config
/// describes, exec. A failure before the report goes to `create`; after it,
/// to stderr, which the engine reads.
fn init(
    bundle: &Path,
    rootfs: &Path,
    (process, config): (&Process, &Config),
    joins: &[OwnedFd],
    (fifo, console): (&OwnedFd, Option<&OwnedFd>),
    (to_parent, from_parent): (OwnedFd, OwnedFd),
) -> ! {
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
    let root = set_up(bundle, rootfs, config, joins).unwrap_or_else(|e| fail(e));
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
        hook_state["status"] = json!("running");
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

fn propagation(name: Option<&str>) -> MsFlags {
    match name {
        Some("private") => MsFlags::MS_PRIVATE,
        Some("rprivate") => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some("shared") => MsFlags::MS_SHARED,
        Some("rshared") => MsFlags::MS_SHARED | MsFlags::MS_REC,
        Some("slave") => MsFlags::MS_SLAVE,
        Some("unbindable") => MsFlags::MS_UNBINDABLE,
        Some("runbindable") => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    }
}

/// Whether a hook needs the state from `create`: nsrun's own of create, or the container's.
fn needs_hook_state(c: &Config) -> bool {
    let h = &c.hooks;
    [&h.prestart, &h.create_runtime, &h.create_container, &h.start_container].iter().any(|l| !l.is_empty())
}

/// Everything up to pivot_root, where the create hooks run.
fn set_up(bundle: &Path, rootfs: &Path, config: &Config, joins: &[OwnedFd]) -> Result<Root<'static>, Error> {
    for fd in joins {
        nix::sched::setns(fd, nix::sched::CloneFlags::empty())
            .map_err(|e| Error::sys("cannot join", "a namespace of linux.namespaces", e))?;
    }
    // In a user namespace, become its root: the ids we came with are the
    // host's, unmapped there (so files we made would be overflow-owned).
    if config.linux.namespaces.iter().any(|n| n.ns.flag == libc::CLONE_NEWUSER) {
        nix::unistd::setgroups(&[])
            .map_err(|e| Error::sys("cannot set", "the groups of the user namespace's root", e))?;
        let zero = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
        nix::unistd::setresgid(zero.0, zero.0, zero.0)
            .map_err(|e| Error::sys("cannot become", "gid 0 of the user namespace", e))?;
        nix::unistd::setresuid(zero.1, zero.1, zero.1)
            .map_err(|e| Error::sys("cannot become", "uid 0 of the user namespace", e))?;
    }
    // Nothing we mount reaches the host (slave by default, as runc does).
    // A shared root cannot be pivoted from: slave (or private, if asked) until
    // after pivot_root, which applies what the config asks.
    let before = match config.linux.rootfs_propagation.as_deref() {
        Some("private" | "rprivate") => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, before, None::<&str>)
        .map_err(|e| Error::sys("cannot set the propagation of", "/", e))?;
    mount(Some(rootfs), rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys("cannot bind", rootfs.display(), e))?;
    let root = Root::open(rootfs, common::userns::in_user_namespace(), None)?;
    let mut has_dev = false;
    for m in &config.mounts {
        let dest = Path::new(&m.destination);
        let plan = mounts::plan(&m.options);
        let kind = m.kind.as_deref().unwrap_or("");
        if plan.bind.is_some() || kind == "bind" {
            let source = Path::new(m.source.as_deref().unwrap_or(""));
            let source = if source.is_absolute() { source.to_path_buf() } else { bundle.join(source) };
            let ro = plan.flags.contains(MsFlags::MS_RDONLY) || plan.recursive_set & 0x1 != 0;
            root.bind(&source, dest, ro)?;
            let extra = plan.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
            if !extra.is_empty() {
                let fd = root
                    .resolve(dest, nix::fcntl::OFlag::O_PATH)
                    .map_err(|e| Error::sys("cannot open", dest.display(), e))?;
                let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra | (plan.flags & MsFlags::MS_RDONLY);
                mount(None::<&str>, rootfs::fd_path(fd.as_fd()).as_str(), None::<&str>, flags, None::<&str>)
                    .map_err(|e| Error::sys("cannot remount", dest.display(), e))?;
            }
        } else if kind == "cgroup" {
            rootfs::mount_cgroups(&root)?;
        } else {
            let data = plan.data.join(",");
            let source = m.source.as_deref().filter(|s| !s.is_empty()).unwrap_or(kind);
            // tmpcopyup: what the image has there, held open before the tmpfs hides it.
            let below = if plan.copy_up {
                root.resolve(dest, nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY).ok()
            } else {
                None
            };
            root.mount_source(source, kind, dest, plan.flags, (!data.is_empty()).then_some(data.as_str()))?;
            if let Some(below) = below {
                let fresh = root
                    .resolve(dest, nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY)
                    .map_err(|e| Error::sys("cannot open", dest.display(), e))?;
                rootfs::copy_tree(&below, &fresh)?;
            }
            if m.destination == "/dev" {
                has_dev = true;
            }
        }
        if plan.recursive_set & !0x1 != 0 || plan.recursive_clear != 0 || plan.recursive_atime.is_some() {
            let (set, clear) = match plan.recursive_atime {
                Some(mode) => (plan.recursive_set | mode, plan.recursive_clear | mounts::MOUNT_ATTR_ATIME),
                None => (plan.recursive_set, plan.recursive_clear),
            };
            root.set_attributes(dest, set, clear)?;
        }
        if let Some((p, recursive)) = plan.propagation {
            let fd = root
                .resolve(dest, nix::fcntl::OFlag::O_PATH)
                .map_err(|e| Error::sys("cannot open", dest.display(), e))?;
            let flags = if recursive == Recursive::Yes { p | MsFlags::MS_REC } else { p };
            mount(None::<&str>, rootfs::fd_path(fd.as_fd()).as_str(), None::<&str>, flags, None::<&str>)
                .map_err(|e| Error::sys("cannot set the propagation of", dest.display(), e))?;
        }
    }
    if has_dev {
        rootfs::default_devices(&root)?;
    }
    for d in &config.linux.devices {
        let owner = (d.uid.unwrap_or(0), d.gid.unwrap_or(0));
        let mode = d.file_mode.unwrap_or(0o666);
        rootfs::device(&root, Path::new(&d.path), d.kind, d.major as u32, d.minor as u32, mode, owner)?;
    }
    for path in &config.linux.masked_paths {
        rootfs::mask(&root, Path::new(path))?;
    }
    for path in &config.linux.readonly_paths {
        rootfs::read_only_path(&root, Path::new(path))?;
    }
    Ok(root)
}

/// pivot_root, and all that is done inside the new root.
fn finish(root: Root<'_>, config: &Config) -> Result<(), Error> {
    rootfs::pivot(&root)?;
    if let Some(name) = &config.linux.rootfs_propagation {
        mount(None::<&str>, "/", None::<&str>, propagation(Some(name)), None::<&str>)
            .map_err(|e| Error::sys("cannot set the propagation of", format!("/ ({name})"), e))?;
    }
    if config.root.as_ref().is_some_and(|r| r.readonly) {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| Error::sys("cannot make read-only", "/", e))?;
    }
    if let Some(name) = &config.hostname {
        common::uts::set_hostname(std::ffi::OsStr::new(name))?;
    }
    if let Some(name) = &config.domainname {
        common::uts::set_domainname(std::ffi::OsStr::new(name))?;
    }
    for (key, value) in &config.linux.sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        common::procfs::write_once(Path::new(&path), value).map_err(|e| Error::sys("cannot set sysctl", key, e))?;
    }
    if let Some(p) = &config.process {
        set_rlimits(p)?;
    }
    trace::step(|| "set up; held until start".to_owned());
    Ok(())
}

/// The user, capabilities, no_new_privs, seccomp filter, umask, working
/// directory and environment of `process`, in the order that keeps each
/// step possible (as nsjoin takes on a target's).
pub fn become_process(p: &Process, seccomp: Option<&crate::config::Seccomp>) -> Result<(), Error> {
    let c = p.capabilities.unwrap_or_default();
    let profile = seccomp
        .map(|s| s.profile())
        .transpose()
        .map_err(|e| Error::new("invalid config", "linux.seccomp", e.to_string()))?;
    let filters = match &profile {
        Some(profile) => {
            let arch = common::seccomp::Arch::native()
                .ok_or_else(|| Error::new("cannot filter", "", "an architecture nsrun has no tables for"))?;
            vec![
                common::seccomp::compile(profile, arch)
                    .map_err(|why| Error::new("cannot compile", "linux.seccomp", why))?,
            ]
        }
        None => Vec::new(),
    };
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
    };
    becoming.take_on()?;
    if let Some(mask) = p.user.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask as _));
    }
    nix::unistd::chdir(p.cwd.as_str()).map_err(|e| Error::sys("cannot chdir to", &p.cwd, e))?;
    // SAFETY: single-threaded; clearenv, then the config's entries (checked to be NAME=VALUE).
    unsafe {
        libc::clearenv();
        for entry in &p.env {
            if let Some((name, value)) = entry.split_once('=') {
                std::env::set_var(name, value);
            }
        }
    }
    Ok(())
}

/// `start`: release the process `create` holds.
pub fn start(dir: &Path, id: &str) -> Result<(), Error> {
    let state = State::read(dir, id)?;
    match state.status(dir) {
        "created" => {}
        other => return Err(Error::new("cannot start", quoted(id), format!("it is {other}, not created"))),
    }
    let fifo = dir.join(FIFO);
    let fd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", fifo.display(), e))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut byte = [0u8; 1];
        match nix::unistd::read(&fd, &mut byte) {
            Ok(1) => break,
            Ok(_) | Err(Errno::EAGAIN) => {
                if state.status(dir) == "stopped" || std::time::Instant::now() > deadline {
                    return Err(Error::new("cannot start", quoted(id), "its process is gone"));
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => return Err(Error::sys("cannot read", fifo.display(), e)),
        }
    }
    std::fs::remove_file(&fifo).map_err(|e| Error::new("cannot remove", fifo.display(), common::io_reason(&e)))?;
    if let Some(config) = kept_config(dir) {
        hooks::run_all_warning("poststart", &config.hooks.poststart, &state.hook_state("running"));
    }
    Ok(())
}

/// The config create kept (None for a state without one).
pub fn kept_config(dir: &Path) -> Option<Config> {
    Config::parse(&std::fs::read_to_string(dir.join(CONFIG)).ok()?).ok()
}

/// A signal by number, or by name with or without SIG (TERM, SIGKILL, rtmin+3 style not taken).
pub fn parse_signal(text: &str) -> Result<libc::c_int, Error> {
    if let Ok(n) = text.parse::<libc::c_int>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let known = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ILL", libc::SIGILL),
        ("TRAP", libc::SIGTRAP),
        ("ABRT", libc::SIGABRT),
        ("BUS", libc::SIGBUS),
        ("FPE", libc::SIGFPE),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("SEGV", libc::SIGSEGV),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("CHLD", libc::SIGCHLD),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("URG", libc::SIGURG),
        ("XCPU", libc::SIGXCPU),
        ("XFSZ", libc::SIGXFSZ),
        ("VTALRM", libc::SIGVTALRM),
        ("PROF", libc::SIGPROF),
        ("WINCH", libc::SIGWINCH),
        ("IO", libc::SIGIO),
        ("PWR", libc::SIGPWR),
        ("SYS", libc::SIGSYS),
    ];
    known
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::new("invalid signal", quoted(text), "a number from 1 to 64, or a name such as TERM"))
}

pub fn kill(dir: &Path, id: &str, signal: libc::c_int, all: bool) -> Result<(), Error> {
    let state = State::read(dir, id)?;
    if state.status(dir) == "stopped" {
        return Err(Error::new("cannot kill", quoted(id), "it is not running"));
    }
    if all {
        for pid in cgroups::processes(&state.cgroups) {
            // SAFETY: plain kill(2) on a process listed in the container's own cgroup.
            unsafe { libc::kill(pid, signal) };
        }
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
fn remove_half_made(dir: &Path, id: &str) -> Result<(), Error> {
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
fn thaw_if_frozen(state: &State) {
    if cgroups::frozen(&state.cgroups) {
        let _ = cgroups::freeze(&state.cgroups, false);
    }
}

/// The processes of the container, as our PID namespace numbers them: those
/// in its cgroup (those in its PID namespace, for a state without one).
pub fn processes(dir: &Path, id: &str) -> Result<Vec<libc::pid_t>, Error> {
    let state = State::read(dir, id)?;
    if state.status(dir) == "stopped" {
        return Err(Error::new("cannot list", quoted(id), "it is not running"));
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
        other => other?,
    };
    if state.status(dir) != "stopped" {
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
        hooks::run_all_warning("poststop", &config.hooks.poststop, &state.hook_state("stopped"));
    }
    Ok(())
}

/// `run`, after create: start, wait for the process (our child), delete.
pub fn run(dir: &Path, id: &str) -> Result<i32, Error> {
    let state = State::read(dir, id)?;
    if let Err(err) = start(dir, id) {
        let _ = delete(dir, id, true);
        return Err(err);
    }
    let status = process::wait_forwarding(state.pid);
    delete(dir, id, true)?;
    Ok(process::mirror(status?))
}

/// `pause` and `resume`: freeze or thaw every process of a running (or paused) container.
pub fn freeze(dir: &Path, id: &str, frozen: bool) -> Result<(), Error> {
    let state = State::read(dir, id)?;
    let (want, verb) = if frozen { ("running", "pause") } else { ("paused", "resume") };
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
        for bad in ["0", "65", "-1", "TERMINATE", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}

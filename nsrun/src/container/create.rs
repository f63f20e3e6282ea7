//! `create`: the config checked, namespaces to join opened, cgroups made,
//! the container's process cloned and led through the handshake.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use common::Error;
use common::cgroup::Made;
use common::error::quoted;
use common::process::{self, Forked};
use common::sync::{self, Step};
use serde_json::json;

use crate::config::{Config, Process};
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
    Ok(())
}

/// What a user may not set, refused by name before anything is made
/// (rather than failing half-way as the kernel refuses it): an oomScoreAdj
/// below nsrun's own (`own_oom`; lowering it needs CAP_SYS_RESOURCE on the
/// host), an rlimit whose hard limit is above the user's (`own_hard` of a
/// resource; raising it needs the same).
pub(super) fn refuse_for_user(process: &Process, own_oom: i32, own_hard: impl Fn(i32) -> u64) -> Result<(), Error> {
    if let Some(adj) = process.oom_score_adj
        && adj < own_oom
    {
        return Err(Error::new(
            "cannot apply",
            format!("process.oomScoreAdj {adj}"),
            format!("below the user's own ({own_oom}): lowering it needs CAP_SYS_RESOURCE on the host"),
        ));
    }
    for r in &process.rlimits {
        let hard = own_hard(r.resource);
        if r.hard > hard {
            let show = |n: u64| if n == libc::RLIM_INFINITY { "unlimited".to_owned() } else { n.to_string() };
            return Err(Error::new(
                "cannot apply",
                format!("process.rlimits {}", r.kind),
                format!(
                    "hard limit {} is above the user's ({}): raising it needs CAP_SYS_RESOURCE on the host",
                    show(r.hard),
                    show(hard)
                ),
            ));
        }
    }
    Ok(())
}

/// [`refuse_for_user`] with nsrun's own oom_score_adj and hard limits, for a user.
pub fn refuse_what_a_user_may_not(process: &Process) -> Result<(), Error> {
    if !rootless() {
        return Ok(());
    }
    let own_oom =
        std::fs::read_to_string("/proc/self/oom_score_adj").ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    refuse_for_user(process, own_oom, |resource| {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit fills the struct we pass; an unknown resource fails and leaves it 0 (refused).
        unsafe { libc::getrlimit(resource as _, &mut limit) };
        limit.rlim_max
    })
}

/// What create writes to or hands over, besides its state.
pub struct Files<'a> {
    pub pid_file: Option<&'a Path>,
    /// Connected to the engine's --console-socket, for process.terminal.
    pub console: Option<OwnedFd>,
    /// Descriptors 3 to 2+N go on to the process (--preserve-fds, LISTEN_FDS).
    pub preserve_fds: u32,
    /// Connected to linux.seccomp.listenerPath, for SCMP_ACT_NOTIFY.
    pub agent: Option<OwnedFd>,
}

/// One container being made: what create read and opened before anything
/// was made, handed to the clone and to the container's process.
pub(super) struct Container<'a> {
    pub id: &'a str,
    /// ROOT/ID: the state, the kept config, the FIFO.
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub config: &'a Config,
    pub process: &'a Process,
    pub namespaces: Namespaces,
    pub files: Files<'a>,
    /// linux.seccomp, compiled before anything is made.
    pub filter: Option<Vec<libc::sock_filter>>,
}

/// The container's namespaces: new ones (CLONE_NEW* flags), those joined by
/// path (opened and checked, the user namespace first: it owns the others),
/// and the id maps of a new user namespace.
pub(super) struct Namespaces {
    pub new: libc::c_int,
    pub joins: Vec<(libc::c_int, OwnedFd)>,
    pub maps: Option<common::userns::MapPlan>,
}

/// Who makes the container's cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// nsrun, as directories of cgroupfs.
    Cgroupfs,
    /// systemd, as a transient scope (--systemd-cgroup).
    Systemd,
}

/// The container's cgroups before the clone: made (cgroupfs), or a scope
/// systemd makes once the process exists to put in it.
pub(super) enum Cgroups {
    Made(Vec<cgroups::Placed>),
    Scope(crate::systemd::Scope),
}

pub fn create(
    root: &Path,
    id: &str,
    bundle: &Path,
    files: Files<'_>,
    (config, text, driver): (&Config, &str, Driver),
) -> Result<(), Error> {
    refuse_unsupported(config)?;
    let (process, rootfs_spec) = (&config.process, &config.root);
    check_capabilities(process)?;
    refuse_what_a_user_may_not(process)?;
    let canonical =
        |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::new("cannot open", p.display(), common::io_reason(&e)));
    let bundle = canonical(bundle)?;
    let rootfs = canonical(&bundle.join(&rootfs_spec.path))?;
    let namespaces = namespaces(config)?;
    let filter = compile_filter(config.linux.seccomp.as_ref())?;
    let (targets, scope) = match driver {
        Driver::Cgroupfs => (rootless_cgroups(cgroups::plan(config, id, &device_rules(config))?, config)?, None),
        Driver::Systemd => (Vec::new(), Some(crate::systemd::plan(config, id, &device_rules(config))?)),
    };
    let dir = make_dir(root, id)?;
    let container = Container { id, dir, bundle, rootfs, config, process, namespaces, files, filter };
    let kept = container.dir.join(CONFIG);
    let result = std::fs::write(&kept, text)
        .map_err(|e| Error::new("cannot write", kept.display(), common::io_reason(&e)))
        .and_then(|()| match scope {
            Some(scope) => Ok(Cgroups::Scope(scope)),
            None => cgroups::make(&targets).map(Cgroups::Made),
        })
        .and_then(|cgroups| {
            // Its process would wait there for ever, and create with it (runc's words).
            if let Cgroups::Made(placed) = &cgroups
                && cgroups::frozen(placed)
            {
                cgroups::remove(placed);
                return Err(Error::new("cannot create", quoted(id), "container's cgroup unexpectedly frozen"));
            }
            let built = build(container, &cgroups);
            if let (Err(_), Cgroups::Made(placed)) = (&built, &cgroups) {
                cgroups::remove(placed);
            }
            built
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dir_of(root, id));
    }
    result
}

/// For a user, cgroups only where they are delegated to them: elsewhere none,
/// said in one line, when the config sets no limit (as runc does); a limit
/// that cannot be set is refused, with how to get delegation.
fn rootless_cgroups(targets: Vec<cgroups::Target>, config: &Config) -> Result<Vec<cgroups::Target>, Error> {
    if !rootless() || targets.iter().all(cgroups::Target::delegated) {
        return Ok(targets);
    }
    if config.linux.resources.writes.is_empty() {
        common::report(&Error::new(
            "warning",
            "cgroups",
            "none: the user's cgroup is not delegated, and the config sets no limit",
        ));
        return Ok(Vec::new());
    }
    Err(Error::new(
        "cannot apply",
        "linux.resources",
        "the user's cgroup is not delegated to them: run in a delegated scope (systemd-run --user --scope -p Delegate=yes nsrun ...) or give --systemd-cgroup",
    ))
}

/// The namespaces of `linux.namespaces`, those given by path opened and checked now.
fn namespaces(config: &Config) -> Result<Namespaces, Error> {
    let mut new = 0;
    let mut joins: Vec<(libc::c_int, OwnedFd)> = Vec::new();
    for spec in &config.linux.namespaces {
        let Some(path) = &spec.path else {
            new |= spec.ns.flag;
            continue;
        };
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
        // A sysctl of a namespace joined by path is that namespace's: never nsrun's own (runc's check too).
        let sysctl = config.linux.sysctl.keys().find(|k| crate::config::sysctl_namespace(k) == Some(kind.name));
        if let Some(key) = sysctl
            && same_file(&fd, &Path::new("/proc/self/ns").join(kind.name))
        {
            return Err(Error::new(
                "invalid config",
                format!("linux.sysctl.{key}"),
                format!(
                    "the {} namespace {} is nsrun's own (the host's): it would change the host",
                    kind.name,
                    quoted(path)
                ),
            ));
        }
        joins.push((kind.flag, fd));
    }
    joins.sort_by_key(|(flag, _)| *flag != libc::CLONE_NEWUSER);
    let maps = (new & libc::CLONE_NEWUSER != 0).then(|| {
        let mut plan = common::userns::MapPlan {
            uid: config.linux.uid_mappings.clone(),
            gid: config.linux.gid_mappings.clone(),
            setgroups: common::userns::Setgroups::Allow,
            writer: common::userns::MapWriter::Direct,
        };
        // A user may write a map of their own ids only; newuidmap and newgidmap
        // write the rest, as /etc/subuid and /etc/subgid allow.
        let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
        if uid != 0 && !plan.only_own_ids(uid, gid) {
            plan.writer = common::userns::MapWriter::Helper;
        }
        plan
    });
    Ok(Namespaces { new, joins, maps })
}

/// The device rules the config's own devices need (their nodes are made inside).
pub(super) fn device_rules(config: &Config) -> Vec<common::cgroup::devices::Rule> {
    config
        .linux
        .devices
        .iter()
        .filter_map(|d| {
            let kind = d.kind.rule_type()?;
            // Made inside, so mknod is allowed; reading and writing stay as the
            // config's rules have it (runc's: a deny-all keeps /dev/kmsg shut).
            Some(common::cgroup::devices::Rule {
                kind: Some(kind),
                access: common::cgroup::devices::MKNOD,
                ..common::cgroup::devices::Rule::allow_char(d.major as u32, Some(d.minor as u32))
            })
        })
        .collect()
}

/// ROOT/ID, new, root's alone: whoever opens the FIFO starts the container.
pub(super) fn make_dir(root: &Path, id: &str) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(root).map_err(|e| Error::new("cannot create", root.display(), common::io_reason(&e)))?;
    let dir = dir_of(root, id);
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&dir).map_err(|e| match e
        .kind()
    {
        std::io::ErrorKind::AlreadyExists => Error::new("cannot create", quoted(id), "a container of that id exists"),
        _ => Error::new("cannot create", dir.display(), common::io_reason(&e)),
    })?;
    Ok(dir)
}

/// The FIFO the process waits on until start, and our O_PATH descriptor of
/// it. In a user namespace the process opens it as that namespace's root: the
/// FIFO is that user's (the directory, root's alone, still keeps everyone out).
fn make_fifo(c: &Container<'_>) -> Result<OwnedFd, Error> {
    let fifo = c.dir.join(FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| Error::sys("cannot create", fifo.display(), e))?;
    if let Some(plan) = &c.namespaces.maps {
        let outer = |maps: &[common::userns::IdMap]| maps.iter().find(|m| m.inner == 0).map(|m| m.outer);
        let uid = outer(&plan.uid).map(nix::unistd::Uid::from_raw);
        let gid = outer(&plan.gid).map(nix::unistd::Gid::from_raw);
        match nix::unistd::chown(&fifo, uid, gid) {
            Ok(()) => {}
            // A user cannot give it away: open to all instead, the directory (the user's alone) keeps others out.
            Err(nix::errno::Errno::EPERM) if rootless() => {
                nix::sys::stat::fchmodat(
                    nix::fcntl::AT_FDCWD,
                    &fifo,
                    nix::sys::stat::Mode::from_bits_truncate(0o666),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| Error::sys("cannot hand over", fifo.display(), e))?;
            }
            Err(e) => return Err(Error::sys("cannot hand over", fifo.display(), e)),
        }
    }
    nix::fcntl::open(&fifo, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| Error::sys("cannot open", fifo.display(), e))
}

/// The two pipes of the handshake, one each way (`common::sync` steps).
pub(super) struct Pipes {
    pub to_child: OwnedFd,
    pub from_parent: OwnedFd,
    pub to_parent: OwnedFd,
    pub from_child: OwnedFd,
    /// For a container in a user namespace with bind mounts: the socket its
    /// bind sources reach the process by (ours, the process's).
    pub sources: Option<(OwnedFd, OwnedFd)>,
}

/// Clone the container's process into its namespaces and lead it through the
/// handshake; then write the state and the pid file.
fn build(mut c: Container<'_>, cgroups: &Cgroups) -> Result<(), Error> {
    let fifo = make_fifo(&c)?;
    let (from_child, to_parent) = sync::pipe()?;
    let (from_parent, to_child) = sync::pipe()?;
    let sources = held_sources_needed(&c).then(sources_socket).transpose()?;
    let pipes = Pipes { to_child, from_parent, to_parent, from_child, sources };
    let joins = std::mem::take(&mut c.namespaces.joins);
    let (pid_joins, joins): (Vec<_>, Vec<_>) = joins.into_iter().partition(|(flag, _)| *flag == libc::CLONE_NEWPID);
    let joins: Vec<OwnedFd> = joins.into_iter().map(|(_, fd)| fd).collect();
    for (_, fd) in &pid_joins {
        // Only our children are born in it; nsrun create itself stays where it is.
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWPID)
            .map_err(|e| Error::sys("cannot join", "the PID namespace of linux.namespaces", e))?;
    }
    // A new cgroup namespace is made once the process is in its cgroups, so
    // that they are its root (as runc does), not nsrun's.
    let flags = c.namespaces.new & !libc::CLONE_NEWCGROUP;
    let placed = match cgroups {
        Cgroups::Made(placed) => placed.as_slice(),
        Cgroups::Scope(_) => &[],
    };
    let v2 = placed.iter().find(|p| p.v2).and_then(|p| Made { dir: p.dir.clone(), v2: true, moved: None }.open());
    let born = v2.as_ref().and_then(|fd| process::clone_into_cgroup(flags, fd.as_fd()).ok());
    let joins_by = Joins::split(placed, born.is_some(), flags & libc::CLONE_NEWUSER == 0);
    let cloned = match born {
        Some(forked) => forked,
        None => process::clone_child(flags).map_err(|e| common::ns::namespace_failure("cannot clone", flags, e))?,
    };
    match cloned {
        Forked::Child => {
            // Until exec, which resets it: no process of the container's may ptrace us or read
            // our /proc files while we still hold nsrun's privileges (runc's CVE-2016-9962).
            not_dumpable();
            let Pipes { to_child, from_parent, to_parent, from_child, sources } = pipes;
            drop((from_child, to_child));
            let sources = sources.map(|(ours, theirs)| {
                drop(ours);
                theirs
            });
            for p in &joins_by.child {
                if let Err(e) = (Made { dir: p.dir.clone(), v2: p.v2, moved: None }).join() {
                    sync::send_failure(to_parent.as_fd(), &e);
                    process::child_exit(1);
                }
            }
            // Nothing runs before the process is in the container's cgroups.
            if sync::expect(from_parent.as_fd(), Step::InCgroups).is_err() {
                process::child_exit(1);
            }
            if c.namespaces.new & libc::CLONE_NEWCGROUP != 0
                && let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            {
                sync::send_failure(to_parent.as_fd(), &Error::sys("cannot create", "the cgroup namespace", e));
                process::child_exit(1);
            }
            super::init::init(&c, &joins, (&fifo, sources), (to_parent, from_parent))
        }
        Forked::Parent(pid) => lead(&c, pid, (cgroups, &joins_by.parent), pipes),
    }
}

/// Who moves the process into each of its cgroups, cheapest first: born in
/// the v2 one (CLONE_INTO_CGROUP); a v1 one by the process itself writing 0
/// to `tasks`, which moves only the caller's thread and so takes no global
/// lock (an RCU grace period, milliseconds, when nsrun writes its PID), while
/// it still has the host's privileges (no user namespace of its own); the
/// rest by nsrun, writing its PID.
struct Joins {
    child: Vec<cgroups::Placed>,
    parent: Vec<cgroups::Placed>,
}

impl Joins {
    fn split(placed: &[cgroups::Placed], born_in_v2: bool, child_privileged: bool) -> Self {
        let rest = placed.iter().filter(|p| !(born_in_v2 && p.v2)).cloned();
        let (child, parent) = rest.partition(|p| child_privileged && !p.v2);
        Self { child, parent }
    }
}

/// create's side of the handshake with the process `pid` it cloned.
fn lead(
    c: &Container<'_>,
    pid: libc::pid_t,
    (cgroups, joins): (&Cgroups, &[cgroups::Placed]),
    pipes: Pipes,
) -> Result<(), Error> {
    let Pipes { to_child, from_parent, to_parent, from_child, sources } = pipes;
    drop((to_parent, from_parent));
    let fail = |err: Error| {
        // Our own child, which exits once the pipe closes unwritten (or has ended).
        let _ = process::reap_helper(pid, "the process");
        Err(err)
    };
    let mapped = c.namespaces.maps.as_ref().map_or(Ok(()), |plan| common::userns::write_maps(pid, plan));
    let adjusted = mapped.and_then(|()| host_proc()).and_then(|proc| set_oom_score_adj(c.process, pid, &proc));
    let joined = adjusted.and_then(|()| match cgroups {
        Cgroups::Made(placed) => cgroups::join(joins, pid).map(|()| placed.clone()),
        Cgroups::Scope(scope) => crate::systemd::start(scope, pid),
    });
    let placed = match joined {
        Ok(placed) => placed,
        Err(err) => {
            drop(to_child);
            return fail(err);
        }
    };
    // A scope is ours to stop when create fails after systemd made it (cgroupfs's: create removes them).
    let fail = |err: Error| {
        if matches!(cgroups, Cgroups::Scope(_)) {
            cgroups::remove(&placed);
        }
        fail(err)
    };
    let held = match &sources {
        Some((ours, _)) => send_bind_sources(c, pid, ours),
        None => Ok(()),
    };
    if let Err(err) = held {
        drop(to_child);
        return fail(err);
    }
    let _ = sync::send(to_child.as_fd(), Step::InCgroups);
    let state = State {
        id: c.id.to_owned(),
        pid,
        start_time: start_time(pid).unwrap_or(0),
        bundle: c.bundle.display().to_string(),
        created: crate::rfc3339_now(),
        annotations: c.config.annotations.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
        cgroups: placed.clone(),
    };
    let handshake = run_create_hooks(c.config, &state, from_child.as_fd(), to_child)
        .and_then(|()| sync::expect(from_child.as_fd(), Step::Ready).map_err(|e| set_up_failed(c.id, e)));
    if let Err(err) = handshake {
        return fail(err);
    }
    state.write(&c.dir)?;
    if let Some(file) = c.files.pid_file {
        common::ReplacedFile::at(file)?.write(pid.to_string().as_bytes())?;
    }
    Ok(())
}

/// Whether the process needs its bind sources opened for it: in a user
/// namespace its root is an unprivileged uid of the host's, which may not
/// reach them (a volume under /root). A mount namespace joined by path is
/// left to its own paths.
fn held_sources_needed(c: &Container<'_>) -> bool {
    let ns = &c.config.linux.namespaces;
    let user = ns.iter().any(|n| n.ns.flag == libc::CLONE_NEWUSER);
    let new_mount = ns.iter().any(|n| n.ns.flag == libc::CLONE_NEWNS && n.path.is_none());
    // A user has nothing more to open them with than the process has.
    user && new_mount && !rootless() && c.config.mounts.iter().any(|m| super::root::bind_source(&c.bundle, m).is_some())
}

fn sources_socket() -> Result<(OwnedFd, OwnedFd), Error> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| Error::sys("cannot create", "a socket for the bind sources", e))
}

/// The config's bind sources, opened by a helper of ours as host root in the
/// container's mount namespace (so that the process can bind them: they are
/// of its mounts), sent to the process over `socket`, as runc does.
fn send_bind_sources(c: &Container<'_>, pid: libc::pid_t, socket: &OwnedFd) -> Result<(), Error> {
    let (from_helper, to_create) = sync::pipe()?;
    match process::fork().map_err(|e| Error::sys("cannot fork", "a helper for the bind sources", e))? {
        Forked::Child => {
            drop(from_helper);
            match open_and_send_sources(c, pid, socket) {
                Ok(()) => {
                    let _ = sync::send(to_create.as_fd(), Step::SourcesOpened);
                    process::child_exit(0)
                }
                Err(err) => {
                    sync::send_failure(to_create.as_fd(), &err);
                    process::child_exit(1)
                }
            }
        }
        Forked::Parent(helper) => {
            drop(to_create);
            let heard = sync::expect(from_helper.as_fd(), Step::SourcesOpened);
            let reaped = process::reap_helper(helper, "the helper that opens the bind sources");
            heard.map_err(|e| Error::new("cannot create", quoted(c.id), e.to_string())).and(reaped)
        }
    }
}

fn open_and_send_sources(c: &Container<'_>, pid: libc::pid_t, socket: &OwnedFd) -> Result<(), Error> {
    let ns = format!("/proc/{pid}/ns/mnt");
    let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let ns = nix::fcntl::open(ns.as_str(), flags, nix::sys::stat::Mode::empty())
        .map_err(|e| Error::sys("cannot open", &ns, e))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("cannot join", "the container's mount namespace", e))?;
    for source in c.config.mounts.iter().filter_map(|m| super::root::bind_source(&c.bundle, m)) {
        let fd = super::root::open_source(&c.rootfs, &source)
            .map_err(|e| Error::sys("cannot open the bind source", source.display(), e))?;
        sync::send_fd(socket.as_fd(), fd.as_fd(), b"S")?;
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rlimit;

    #[test]
    fn the_cheapest_way_into_each_cgroup() {
        let at = |dir: &str, v2| cgroups::Placed { dir: dir.into(), v2, created: Vec::new(), unit: None };
        let hybrid = [at("/sys/fs/cgroup/memory/c", false), at("/sys/fs/cgroup/unified/c", true)];
        let dirs = |list: &[cgroups::Placed]| list.iter().map(|p| p.dir.display().to_string()).collect::<Vec<_>>();
        // Born in the v2 one, the v1 ones joined by the process itself.
        let joins = Joins::split(&hybrid, true, true);
        assert_eq!((dirs(&joins.child), dirs(&joins.parent)), (vec!["/sys/fs/cgroup/memory/c".into()], vec![]));
        // In a user namespace of its own it has no say on the host's files: nsrun writes its PID.
        let joins = Joins::split(&hybrid, true, false);
        assert_eq!((joins.child.len(), dirs(&joins.parent)), (0, vec!["/sys/fs/cgroup/memory/c".into()]));
        // Not born there (an old kernel): v2 by nsrun too.
        let joins = Joins::split(&hybrid, false, true);
        assert_eq!(dirs(&joins.parent), vec!["/sys/fs/cgroup/unified/c".to_owned()]);
    }

    #[test]
    fn a_user_is_refused_by_name_what_only_the_host_may_set() {
        let hard = |_| 4096;
        let lower = Process { oom_score_adj: Some(-500), ..Process::default() };
        let err = refuse_for_user(&lower, 100, hard).unwrap_err();
        assert_eq!(err.object, "process.oomScoreAdj -500");
        assert!(err.reason.contains("below the user's own (100)"), "{}", err.reason);
        assert!(refuse_for_user(&Process { oom_score_adj: Some(100), ..lower.clone() }, 100, hard).is_ok());
        let rlimit = |hard| Rlimit { kind: "RLIMIT_NOFILE".into(), resource: 7, hard, soft: 1 };
        let above = Process { rlimits: vec![rlimit(1 << 20)], ..Process::default() };
        let err = refuse_for_user(&above, 0, hard).unwrap_err();
        assert_eq!(err.object, "process.rlimits RLIMIT_NOFILE");
        assert!(err.reason.starts_with("hard limit 1048576 is above the user's (4096)"), "{}", err.reason);
        let unlimited = Process { rlimits: vec![rlimit(libc::RLIM_INFINITY)], ..Process::default() };
        assert!(refuse_for_user(&unlimited, 0, hard).unwrap_err().reason.contains("hard limit unlimited"));
        assert!(refuse_for_user(&Process { rlimits: vec![rlimit(4096)], ..Process::default() }, 0, hard).is_ok());
    }
}

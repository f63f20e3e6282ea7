//! `checkpoint` and `restore` through CRIU's own command line (`criu dump`,
//! `criu restore`), as runc does through its RPC: the container's processes
//! frozen by its cgroup and written to images; later a container made again
//! from the bundle (its cgroups first, with their limits and device rules),
//! its processes restored into them, their memory and PIDs as they were.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::Error;
use common::error::quoted;
use common::process::{self, Forked};
use nix::mount::{MsFlags, mount};

use crate::cgroups;
use crate::config::Config;

use super::*;

/// What the caller asked of CRIU, for either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criu {
    /// The criu executable (runc's global --criu), looked up in PATH.
    pub program: PathBuf,
    pub images: PathBuf,
    /// Its logs, pid file and scratch files; the image directory when None.
    pub work: Option<PathBuf>,
    /// Words passed to criu as they are (--tcp-established, --shell-job...).
    pub switches: Vec<OsString>,
    /// --manage-cgroups's mode.
    pub cgroups_mode: &'static str,
}

/// What `checkpoint` does besides writing the images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dump {
    pub leave_running: bool,
    /// Only the memory, the processes left running: a later dump with
    /// --parent-path writes what changed since.
    pub pre_dump: bool,
}

/// Where restore puts what it makes (the container's state directory).
const ROOT_MOUNT: &str = "criu-root";
const PID_FILE: &str = "criu.pid";

impl Criu {
    fn work(&self) -> &Path {
        self.work.as_deref().unwrap_or(&self.images)
    }

    /// The words both ways share: where the images and logs are, how verbose, the cgroups.
    fn common(&self, action: &str, log: &str) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![self.program.clone().into(), action.into()];
        let pairs = [("--images-dir", self.images.as_os_str()), ("--work-dir", self.work().as_os_str())];
        for (flag, value) in pairs {
            args.extend([flag.into(), value.into()]);
        }
        args.extend(["--log-file".into(), log.into(), "-v4".into()]);
        // Its argument is optional: it must be joined to the option.
        args.push(format!("--manage-cgroups={}", self.cgroups_mode).into());
        args.extend(self.switches.iter().cloned());
        args
    }
}

/// `criu dump` (or pre-dump) of the tree under `pid`, frozen through `freezer`.
fn dump_args(criu: &Criu, dump: Dump, pid: libc::pid_t, freezer: Option<&Path>, externals: &[External]) -> Vec<OsString> {
    let action = if dump.pre_dump { "pre-dump" } else { "dump" };
    let mut args = criu.common(action, &format!("{action}.log"));
    args.extend(["--tree".into(), pid.to_string().into()]);
    if let Some(dir) = freezer {
        args.extend(["--freeze-cgroup".into(), dir.into()]);
    }
    for e in externals {
        args.extend(["--external".into(), format!("mnt[{}]:{}", e.destination, e.destination).into()]);
    }
    if dump.leave_running && !dump.pre_dump {
        args.push("--leave-running".into());
    }
    args
}

/// `criu restore` into `root` (the bundle's rootfs, bound there), the root
/// task a child of ours (--restore-sibling), its PID written to `pid_file`.
fn restore_args(criu: &Criu, root: &Path, pid_file: &Path, externals: &[External], cgroup_roots: &[String]) -> Vec<OsString> {
    let mut args = criu.common("restore", "restore.log");
    args.extend(["--root".into(), root.into(), "--pidfile".into(), pid_file.into()]);
    args.extend(["--restore-detached".into(), "--restore-sibling".into()]);
    for e in externals {
        let mut word = OsString::from(format!("mnt[{}]:", e.destination));
        word.push(&e.source);
        args.extend(["--external".into(), word]);
    }
    for r in cgroup_roots {
        args.extend(["--cgroup-root".into(), r.into()]);
    }
    args
}

/// A mount whose source lies outside the container: CRIU cannot find it in
/// the container's own mounts, so it is named on dump and bound again from
/// the host on restore (runc's list: the config's binds).
#[derive(Debug, Clone, PartialEq, Eq)]
struct External {
    destination: String,
    source: PathBuf,
}

fn externals(config: &Config, bundle: &Path) -> Vec<External> {
    let mut list: Vec<External> = config
        .mounts
        .iter()
        .filter(|m| m.plan.bind.is_some() || m.kind.as_deref() == Some("bind"))
        .map(|m| {
            let source = PathBuf::from(m.source.as_deref().unwrap_or(""));
            External { destination: m.destination.clone(), source: bundle.join(source) }
        })
        .collect();
    // In a user namespace, where mknod is refused, the devices are the host's nodes, bound.
    if config.linux.namespaces.iter().any(|n| n.ns.flag == libc::CLONE_NEWUSER) {
        let devices = common::rootfs::DEVICES.iter().map(|d| format!("/dev/{}", d.0));
        let devices = devices.chain(config.linux.devices.iter().map(|d| d.path.clone()));
        list.extend(devices.map(|path| External { source: PathBuf::from(&path), destination: path }));
    }
    list
}

/// `--cgroup-root` for each hierarchy in /proc/self/cgroup's `text`: the
/// cgroups criu restores into are where it runs (the container's), as runc does.
fn cgroup_roots(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            match controllers {
                "" => Some(path.to_owned()),
                // A named hierarchy (systemd's) holds no controller to restore.
                c if c.starts_with("name=") => None,
                c => Some(format!("{c}:{path}")),
            }
        })
        .collect()
}

/// Why criu failed, from its log: the first line it marked as an error.
fn first_error(log: &str) -> Option<&str> {
    log.lines().find(|l| l.contains("Error (")).map(str::trim)
}

/// What nsrun does not checkpoint, refused before criu runs.
fn refuse_uncheckpointable(config: &Config, id: &str) -> Result<(), Error> {
    let refuse = |why: &str| Err(Error::new("cannot checkpoint", quoted(id), why.to_owned()));
    if config.process.terminal {
        return refuse("its process has a terminal (process.terminal), which nsrun does not checkpoint");
    }
    if config.linux.namespaces.iter().any(|n| n.path.is_some()) {
        return refuse("it joined namespaces by path (linux.namespaces), which nsrun does not checkpoint");
    }
    Ok(())
}

/// Make `dir` (and its parents), root's alone, as runc does for the images.
fn make_private_dir(dir: &Path) -> Result<(), Error> {
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(|e| Error::new("cannot create", dir.display(), common::io_reason(&e)))
}

pub fn checkpoint(dir: &Path, id: &str, criu: &Criu, dump: Dump) -> Result<(), Error> {
    let state = State::read(dir, id)?;
    if !matches!(state.status(dir), Status::Running | Status::Paused) {
        return Err(Error::new("cannot checkpoint", quoted(id), NOT_RUNNING));
    }
    let config = kept_config(dir).ok_or_else(|| Error::new("cannot read", dir.join(CONFIG).display(), "not a config"))?;
    refuse_uncheckpointable(&config, id)?;
    make_private_dir(&criu.images)?;
    make_private_dir(criu.work())?;
    let freezer = cgroups::freezer(&state.cgroups);
    let externals = externals(&config, Path::new(&state.bundle));
    let args = dump_args(criu, dump, state.pid, freezer.as_deref(), &externals);
    run_criu(&args, criu.work(), if dump.pre_dump { "pre-dump.log" } else { "dump.log" }, || Ok(()))
        .map_err(|why| Error::new("cannot checkpoint", quoted(id), why))?;
    if dump.leave_running || dump.pre_dump {
        return Ok(());
    }
    // criu ended its processes: the container goes, as runc's does.
    delete(dir, id, true)
}

/// `restore`: the container made again from `bundle` under `id`, its
/// processes restored from the images into its cgroups; the state written
/// as create writes it. Returns the restored process's PID (our child).
pub fn restore(
    root: &Path,
    id: &str,
    bundle: &Path,
    criu: &Criu,
    (config, text): (&Config, &str),
) -> Result<libc::pid_t, Error> {
    create::refuse_unsupported(config)?;
    refuse_uncheckpointable(config, id).map_err(|e| Error { what: "cannot restore".into(), ..e })?;
    let canonical =
        |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::new("cannot open", p.display(), common::io_reason(&e)));
    let bundle = canonical(bundle)?;
    let rootfs = canonical(&bundle.join(&config.root.path))?;
    if !criu.images.join("inventory.img").is_file() {
        return Err(Error::new("cannot restore", criu.images.display(), "no checkpoint there (inventory.img)"));
    }
    let targets = cgroups::plan(config, id, &create::device_rules(config))?;
    let dir = create::make_dir(root, id)?;
    let result = restore_into(&dir, id, &bundle, &rootfs, criu, (config, text), &targets);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn restore_into(
    dir: &Path,
    id: &str,
    bundle: &Path,
    rootfs: &Path,
    criu: &Criu,
    (config, text): (&Config, &str),
    targets: &[cgroups::Target],
) -> Result<libc::pid_t, Error> {
    let kept = dir.join(CONFIG);
    std::fs::write(&kept, text).map_err(|e| Error::new("cannot write", kept.display(), common::io_reason(&e)))?;
    make_private_dir(criu.work())?;
    let placed = cgroups::make(targets)?;
    let mount_point = dir.join(ROOT_MOUNT);
    let pid_file = dir.join(PID_FILE);
    let restored = make_private_dir(&mount_point).and_then(|()| {
        let externals = externals(config, bundle);
        // The roots are read in the child, once it is in the container's cgroups.
        let prepare = || {
            cgroups::join(&placed, std::process::id() as libc::pid_t)?;
            let own = std::fs::read_to_string("/proc/self/cgroup")
                .map_err(|e| Error::new("cannot read", "/proc/self/cgroup", common::io_reason(&e)))?;
            bind_root(rootfs, &mount_point)?;
            Ok(cgroup_roots(&own))
        };
        run_criu_with(criu.work(), "restore.log", prepare, |roots| restore_args(criu, &mount_point, &pid_file, &externals, &roots))
            .map_err(|why| Error::new("cannot restore", quoted(id), why))
    });
    let pid = restored.and_then(|()| read_pid(&pid_file));
    let _ = std::fs::remove_dir(&mount_point);
    let _ = std::fs::remove_file(&pid_file);
    let pid = match pid {
        Ok(pid) => pid,
        Err(err) => {
            // criu ends what it restored when it fails; anything left in the cgroups goes too.
            for pid in cgroups::processes(&placed) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            remove_when_empty(&placed);
            return Err(err);
        }
    };
    let state = State {
        id: id.to_owned(),
        pid,
        start_time: start_time(pid).unwrap_or(0),
        bundle: bundle.display().to_string(),
        created: crate::rfc3339_now(),
        annotations: config.annotations.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect(),
        cgroups: placed,
    };
    state.write(dir)?;
    Ok(pid)
}

/// The cgroups removed once the processes killed in them are gone (up to 2 s).
fn remove_when_empty(placed: &[cgroups::Placed]) {
    for _ in 0..200 {
        if cgroups::processes(placed).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cgroups::remove(placed);
}

/// In criu's own mount namespace (a slave copy of ours: nothing reaches the
/// host), the bundle's rootfs bound where criu builds the container's mounts.
fn bind_root(rootfs: &Path, at: &Path) -> Result<(), Error> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("cannot create", "a mount namespace for criu", e))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys("cannot set the propagation of", "/", e))?;
    mount(Some(rootfs), at, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys("cannot bind", rootfs.display(), e))
}

/// criu's own output to its log, where what it says before it opens the log
/// (its options refused) is read too.
fn output_to(log: &Path) -> Result<(), Error> {
    // An earlier run's log would lend its errors to this one.
    let _ = std::fs::remove_file(log);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Error::new("cannot open", log.display(), common::io_reason(&e)))?;
    for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 onto our own stdout and stderr, in the child that execs criu next.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), target) } == -1 {
            return Err(Error::sys("cannot redirect", "criu's output", nix::errno::Errno::last()));
        }
    }
    Ok(())
}

fn read_pid(file: &Path) -> Result<libc::pid_t, Error> {
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| std::io::Read::read_to_string(&mut std::io::Read::take(f, 32), &mut text))
        .map_err(|e| Error::new("cannot read", file.display(), common::io_reason(&e)))?;
    text.trim().parse().map_err(|_| Error::new("cannot read", file.display(), "not a PID"))
}

fn run_criu(args: &[OsString], work: &Path, log: &str, prepare: impl FnOnce() -> Result<(), Error>) -> Result<(), String> {
    run_criu_with(work, log, prepare, |()| args.to_vec())
}

/// criu in a child of ours, after `prepare` ran there; its failure in its own
/// words (the first error of its log, and where the log is).
fn run_criu_with<T>(
    work: &Path,
    log: &str,
    prepare: impl FnOnce() -> Result<T, Error>,
    args: impl FnOnce(T) -> Vec<OsString>,
) -> Result<(), String> {
    let args_for_trace = |a: &[OsString]| a.iter().map(|w| w.to_string_lossy()).collect::<Vec<_>>().join(" ");
    match process::fork().map_err(|e| format!("cannot fork for criu: {}", e.desc()))? {
        Forked::Child => {
            let argv = match prepare().and_then(|made| output_to(&work.join(log)).map(|()| args(made))) {
                Ok(argv) => argv,
                Err(err) => process::child_fail(&err),
            };
            common::trace::step(|| args_for_trace(&argv));
            process::child_fail(&common::exec::exec_into(&argv))
        }
        Forked::Parent(pid) => {
            let status = process::wait_status(pid).map_err(|e| e.to_string())?;
            if status == 0 {
                return Ok(());
            }
            let log_path = work.join(log);
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let how = match process::mirror(status) {
                code if code > 128 => format!("criu killed by signal {}", code - 128),
                code => format!("criu failed (exit {code})"),
            };
            Err(match first_error(&text) {
                Some(line) => format!("{how}: {line} (log: {})", log_path.display()),
                None => format!("{how} (log: {})", log_path.display()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criu() -> Criu {
        Criu {
            program: "criu".into(),
            images: "/img".into(),
            work: None,
            switches: vec!["--tcp-established".into()],
            cgroups_mode: "soft",
        }
    }

    fn words(args: &[OsString]) -> String {
        args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn dump_names_the_tree_its_freezer_its_external_mounts() {
        let ext = [External { destination: "/data".into(), source: "/srv/data".into() }];
        let args = dump_args(&criu(), Dump { leave_running: true, pre_dump: false }, 42, Some(Path::new("/cg/c1")), &ext);
        assert_eq!(
            words(&args),
            "criu dump --images-dir /img --work-dir /img --log-file dump.log -v4 --manage-cgroups=soft \
             --tcp-established --tree 42 --freeze-cgroup /cg/c1 --external mnt[/data]:/data --leave-running"
        );
        let pre = dump_args(&criu(), Dump { leave_running: true, pre_dump: true }, 42, None, &[]);
        assert!(words(&pre).starts_with("criu pre-dump --images-dir /img"), "{}", words(&pre));
        assert!(!words(&pre).contains("--leave-running"), "pre-dump leaves them running anyway");
    }

    #[test]
    fn restore_binds_the_external_sources_and_keeps_the_root_task_ours() {
        let mut c = criu();
        c.work = Some("/work".into());
        let ext = [External { destination: "/data".into(), source: "/srv/data".into() }];
        let args = restore_args(&c, Path::new("/run/x/criu-root"), Path::new("/run/x/criu.pid"), &ext, &["/a/c1".into()]);
        assert_eq!(
            words(&args),
            "criu restore --images-dir /img --work-dir /work --log-file restore.log -v4 --manage-cgroups=soft \
             --tcp-established --root /run/x/criu-root --pidfile /run/x/criu.pid --restore-detached \
             --restore-sibling --external mnt[/data]:/srv/data --cgroup-root /a/c1"
        );
    }

    #[test]
    fn cgroup_roots_follow_every_controller_but_named_ones() {
        let text = "12:cpu,cpuacct:/a/c1\n1:name=systemd:/a\n0::/b/c1\n";
        assert_eq!(cgroup_roots(text), ["cpu,cpuacct:/a/c1", "/b/c1"]);
    }

    #[test]
    fn criu_failures_are_told_by_their_first_error_line() {
        let log = "(00.01) Warn: x\n(00.02) Error (criu/cr-dump.c:1): Can't dump\n(00.03) Error (y): later\n";
        assert_eq!(first_error(log), Some("(00.02) Error (criu/cr-dump.c:1): Can't dump"));
        assert_eq!(first_error("all fine\n"), None);
    }
}

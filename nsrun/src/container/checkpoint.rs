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

/// How criu shuts the container's network while it works: its default runs
/// iptables-restore, which a machine without iptables lacks; there, criu's
/// own nftables (libnftables, linked in) does it. Either way the same on
/// dump and restore.
pub fn network_lock(path: &std::ffi::OsStr) -> Option<[&'static str; 2]> {
    let iptables = common::exec::runnable(std::ffi::OsStr::new("iptables-restore"), path).is_ok();
    (!iptables).then_some(["--network-lock", "nftables"])
}

/// `criu dump` (or pre-dump) of the tree under `pid`, frozen through `freezer`.
fn dump_args(
    criu: &Criu,
    dump: Dump,
    pid: libc::pid_t,
    freezer: Option<&Path>,
    (externals, stdio): (&[External], &[Stdio]),
) -> Vec<OsString> {
    let action = if dump.pre_dump { "pre-dump" } else { "dump" };
    let mut args = criu.common(action, &format!("{action}.log"));
    args.extend(["--tree".into(), pid.to_string().into()]);
    if let Some(dir) = freezer {
        args.extend(["--freeze-cgroup".into(), dir.into()]);
    }
    for e in externals {
        args.extend(["--external".into(), format!("mnt[{}]:{}", e.destination, e.destination).into()]);
    }
    for key in stdio.iter().filter(|s| s.external()).map(|s| &s.key) {
        args.extend(["--external".into(), key.into()]);
    }
    if dump.leave_running && !dump.pre_dump {
        args.push("--leave-running".into());
    }
    args
}

/// `criu restore` into `root` (the bundle's rootfs, bound there), the root
/// task a child of ours (--restore-sibling), its PID written to `pid_file`.
fn restore_args(
    criu: &Criu,
    (root, pid_file): (&Path, &Path),
    externals: &[External],
    cgroup_roots: &[String],
    inherited: &[(i32, String)],
) -> Vec<OsString> {
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
    for (fd, key) in inherited {
        args.extend(["--inherit-fd".into(), format!("fd[{fd}]:{key}").into()]);
    }
    args
}

/// One of the container process's stdio descriptors as criu must hear of
/// it: a pipe or socket (criu dumps it; restore hands it ours), or a file
/// or terminal of the host's (outside every mount of the container:
/// external on dump, given again on restore). runc does the same.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stdio {
    fd: i32,
    /// criu's name for it: pipe:[INO], socket:[INO], file[MNT:INO], tty[RDEV:DEV].
    key: String,
    /// For a file of the host's: which, so that restore can give that one again
    /// (criu takes no other: it checks the type and size).
    file: Option<HostFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostFile {
    /// For messages only: restore opens no host path an image names.
    path: String,
    dev: u64,
    ino: u64,
    /// A device (/dev/null): criu takes another of its kind.
    device: bool,
}

impl Stdio {
    fn external(&self) -> bool {
        self.file.is_some() || self.key.starts_with("tty[")
    }
}

/// Where the keys are kept between checkpoint and restore, in the images.
const STDIO_FILE: &str = "nsrun-stdio.json";

/// What descriptor `fd` is, from `link` (its /proc/PID/fd/N), its stat, its
/// mount's id (fdinfo) and the ids of the container's mounts.
fn stdio_key(fd: i32, link: &str, st: &libc::stat, mnt_id: u64, container_mounts: &[u64]) -> Option<Stdio> {
    if link.starts_with("pipe:") || link.starts_with("socket:") {
        return Some(Stdio { fd, key: link.to_owned(), file: None });
    }
    let char_device = st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    // ptys (136-143), the consoles and ttys (4, 5).
    if char_device && matches!(libc::major(st.st_rdev), 4 | 5 | 136..=143) {
        return Some(Stdio { fd, key: format!("tty[{:x}:{:x}]", st.st_rdev, st.st_dev), file: None });
    }
    if container_mounts.contains(&mnt_id) {
        return None;
    }
    let file = HostFile { path: link.to_owned(), dev: st.st_dev, ino: st.st_ino, device: char_device };
    Some(Stdio { fd, key: format!("file[{mnt_id:x}:{:x}]", st.st_ino), file: Some(file) })
}

/// The stdio of the container's process `pid`, each that criu must be told of.
fn stdio_of(pid: libc::pid_t) -> Result<Vec<Stdio>, Error> {
    let mountinfo = format!("/proc/{pid}/mountinfo");
    let text = std::fs::read_to_string(&mountinfo)
        .map_err(|e| Error::new("cannot read", &mountinfo, common::io_reason(&e)))?;
    let mounts: Vec<u64> = text.lines().filter_map(|l| l.split(' ').next()?.parse().ok()).collect();
    let mut found = Vec::new();
    for fd in 0..3 {
        let path = format!("/proc/{pid}/fd/{fd}");
        let Ok(link) = std::fs::read_link(&path) else { continue };
        let st = nix::sys::stat::stat(path.as_str()).map_err(|e| Error::sys("cannot stat", &path, e))?;
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        let mnt_id = info.lines().find_map(|l| l.strip_prefix("mnt_id:")).and_then(|v| v.trim().parse().ok());
        found.extend(stdio_key(fd, &link.to_string_lossy(), &st, mnt_id.unwrap_or(0), &mounts));
    }
    Ok(found)
}

fn write_stdio(images: &Path, stdio: &[Stdio]) -> Result<(), Error> {
    let v: Vec<serde_json::Value> = stdio
        .iter()
        .map(|s| {
            let mut v = serde_json::json!({"fd": s.fd, "key": s.key});
            if let Some(f) = &s.file {
                v["file"] = serde_json::json!({"path": f.path, "dev": f.dev, "ino": f.ino, "device": f.device});
            }
            v
        })
        .collect();
    common::ReplacedFile::at(&images.join(STDIO_FILE))?.write(serde_json::Value::Array(v).to_string().as_bytes())
}

/// What checkpoint kept of the stdio; none for another runtime's images.
fn read_stdio(images: &Path) -> Vec<Stdio> {
    let bytes = common::read_regular(&images.join(STDIO_FILE), 64 << 10).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let text =
        |v: &serde_json::Value| v.as_str().filter(|t| !t.is_empty() && !t.contains(['\n', '\0'])).map(str::to_owned);
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let fd = s["fd"].as_i64().filter(|fd| (0..3).contains(fd))? as i32;
            let f = &s["file"];
            let file = text(&f["path"]).and_then(|path| {
                let (dev, ino, device) = (f["dev"].as_u64()?, f["ino"].as_u64()?, f["device"].as_bool()?);
                Some(HostFile { path, dev, ino, device })
            });
            Some(Stdio { fd, key: text(&s["key"])?, file })
        })
        .collect()
}

/// What restore's own descriptor is, as far as criu's keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pipe,
    Socket,
    Terminal,
    /// Any other file: (device, inode).
    File(u64, u64),
}

/// What the restored process gets for a dumped descriptor where restore has
/// one of kind `ours`: ours when criu can take it (a host file: only that
/// same file, criu checks its type and size); for a device (/dev/null), a
/// /dev/null; for a pipe or socket, the one criu makes (its peer gone, as
/// it was). A terminal needs a terminal. Restore opens no host path an
/// image names: images are data, and could be forged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Handover {
    Ours,
    DevNull,
    CriusOwn,
}

fn handover(dumped: &Stdio, ours: Option<Kind>) -> Result<Handover, String> {
    let wanted = if dumped.key.starts_with("pipe:") {
        Kind::Pipe
    } else if dumped.key.starts_with("socket:") {
        Kind::Socket
    } else if let Some(f) = &dumped.file {
        Kind::File(f.dev, f.ino)
    } else {
        Kind::Terminal
    };
    match (wanted, &dumped.file, ours) {
        (w, _, Some(o)) if w == o => Ok(Handover::Ours),
        (Kind::Pipe | Kind::Socket, _, _) => Ok(Handover::CriusOwn),
        (_, Some(f), _) if f.device => Ok(Handover::DevNull),
        (_, Some(f), _) => Err(format!("it was the host's file {}: give restore that file there", quoted(&f.path))),
        _ => Err("it was a terminal: give restore one there".to_owned()),
    }
}

fn kind_of(fd: i32) -> Option<Kind> {
    // SAFETY: plain data, filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat and isatty on a descriptor number; failures are answers.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => Kind::Pipe,
        libc::S_IFSOCK => Kind::Socket,
        // SAFETY: as above.
        _ if unsafe { libc::isatty(fd) } == 1 => Kind::Terminal,
        _ => Kind::File(st.st_dev, st.st_ino),
    })
}

/// What the restored process gets for each stdio descriptor criu was told
/// of, decided before anything is made. One per key (stdout and stderr are
/// often one pipe).
fn plan_stdio(stdio: Vec<Stdio>) -> Result<Vec<(Stdio, Handover)>, Error> {
    let mut plan: Vec<(Stdio, Handover)> = Vec::new();
    for s in stdio {
        if plan.iter().any(|(p, _)| p.key == s.key) {
            continue;
        }
        let how = handover(&s, kind_of(s.fd))
            .map_err(|why| Error::new("cannot give back", format!("its descriptor {}", s.fd), why))?;
        plan.push((s, how));
    }
    Ok(plan)
}

/// The descriptors of `plan`, copied above what criu uses, for --inherit-fd:
/// restore's own where criu can take them, as runc gives its pipes.
fn hand_over_stdio(plan: &[(Stdio, Handover)]) -> Result<Vec<(i32, String)>, Error> {
    let mut inherited: Vec<(i32, String)> = Vec::new();
    for (s, how) in plan {
        let why = |reason: &str| Error::new("cannot give back", format!("its descriptor {}", s.fd), reason.to_owned());
        let null;
        let from = match how {
            Handover::CriusOwn => continue,
            Handover::Ours => s.fd,
            Handover::DevNull => {
                null = nix::fcntl::open("/dev/null", nix::fcntl::OFlag::O_RDWR, nix::sys::stat::Mode::empty())
                    .map_err(|e| why(e.desc()))?;
                std::os::fd::AsRawFd::as_raw_fd(&null)
            }
        };
        // SAFETY: F_DUPFD of a descriptor of ours (not close-on-exec), in the child that execs criu next.
        let copy = unsafe { libc::fcntl(from, libc::F_DUPFD, 10) };
        if copy == -1 {
            return Err(why(nix::errno::Errno::last().desc()));
        }
        inherited.push((copy, s.key.clone()));
    }
    Ok(inherited)
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
        .filter_map(|m| Some(External { destination: m.destination.clone(), source: root::bind_source(bundle, m)? }))
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

/// Why criu failed, from its log: the last two errors before its verdict
/// ("Dumping FAILED."), the one that stopped it and the step it stopped;
/// earlier ones it may have recovered from (a missing iptables-save).
fn why_failed(log: &str) -> Option<String> {
    let errors: Vec<&str> =
        log.lines().filter(|l| l.contains("Error (") && !l.ends_with("FAILED.")).map(str::trim).collect();
    let last = &errors[errors.len().saturating_sub(2)..];
    (!last.is_empty()).then(|| last.join("; "))
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
    let config =
        kept_config(dir).ok_or_else(|| Error::new("cannot read", dir.join(CONFIG).display(), "not a config"))?;
    refuse_uncheckpointable(&config, id)?;
    make_private_dir(&criu.images)?;
    make_private_dir(criu.work())?;
    let freezer = cgroups::freezer(&state.cgroups);
    let externals = externals(&config, Path::new(&state.bundle));
    let stdio = stdio_of(state.pid)?;
    write_stdio(&criu.images, &stdio)?;
    let args = dump_args(criu, dump, state.pid, freezer.as_deref(), (&externals, &stdio));
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
    let stdio = plan_stdio(read_stdio(&criu.images))?;
    let targets = cgroups::plan(config, id, &create::device_rules(config))?;
    let dir = create::make_dir(root, id)?;
    let result = restore_into(&dir, id, (&bundle, &rootfs), criu, (config, text), (&targets, &stdio));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn restore_into(
    dir: &Path,
    id: &str,
    (bundle, rootfs): (&Path, &Path),
    criu: &Criu,
    (config, text): (&Config, &str),
    (targets, stdio): (&[cgroups::Target], &[(Stdio, Handover)]),
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
            Ok((cgroup_roots(&own), hand_over_stdio(stdio)?))
        };
        let args = |(roots, inherited): (Vec<String>, Vec<(i32, String)>)| {
            restore_args(criu, (&mount_point, &pid_file), &externals, &roots, &inherited)
        };
        run_criu_with(criu.work(), "restore.log", prepare, args)
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

fn run_criu(
    args: &[OsString],
    work: &Path,
    log: &str,
    prepare: impl FnOnce() -> Result<(), Error>,
) -> Result<(), String> {
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
            Err(match why_failed(&text) {
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

    /// A host /dev/null on stdin, a pipe on stdout.
    fn host_null_and_a_pipe() -> [Stdio; 2] {
        [
            Stdio {
                fd: 0,
                key: "file[18:5]".into(),
                file: Some(HostFile { path: "/dev/null".into(), dev: 6, ino: 5, device: true }),
            },
            Stdio { fd: 1, key: "pipe:[77]".into(), file: None },
        ]
    }

    fn words(args: &[OsString]) -> String {
        args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn dump_names_the_tree_its_freezer_its_external_mounts() {
        let ext = [External { destination: "/data".into(), source: "/srv/data".into() }];
        let stdio = host_null_and_a_pipe();
        let dump = Dump { leave_running: true, pre_dump: false };
        let args = dump_args(&criu(), dump, 42, Some(Path::new("/cg/c1")), (&ext, &stdio));
        assert_eq!(
            words(&args),
            "criu dump --images-dir /img --work-dir /img --log-file dump.log -v4 --manage-cgroups=soft \
             --tcp-established --tree 42 --freeze-cgroup /cg/c1 --external mnt[/data]:/data --external file[18:5] \
             --leave-running"
        );
        let pre = dump_args(&criu(), Dump { leave_running: true, pre_dump: true }, 42, None, (&[], &[]));
        assert!(words(&pre).starts_with("criu pre-dump --images-dir /img"), "{}", words(&pre));
        assert!(!words(&pre).contains("--leave-running"), "pre-dump leaves them running anyway");
    }

    #[test]
    fn restore_binds_the_external_sources_and_keeps_the_root_task_ours() {
        let mut c = criu();
        c.work = Some("/work".into());
        let ext = [External { destination: "/data".into(), source: "/srv/data".into() }];
        let paths = (Path::new("/run/x/criu-root"), Path::new("/run/x/criu.pid"));
        let args = restore_args(&c, paths, &ext, &["/a/c1".into()], &[(10, "pipe:[77]".into())]);
        assert_eq!(
            words(&args),
            "criu restore --images-dir /img --work-dir /work --log-file restore.log -v4 --manage-cgroups=soft \
             --tcp-established --root /run/x/criu-root --pidfile /run/x/criu.pid --restore-detached \
             --restore-sibling --external mnt[/data]:/srv/data --cgroup-root /a/c1 \
             --inherit-fd fd[10]:pipe:[77]"
        );
    }

    #[test]
    fn stdio_outside_the_container_is_external_pipes_are_inherited() {
        // SAFETY: plain data.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let pipe = stdio_key(1, "pipe:[77]", &st, 0, &[]).unwrap();
        assert_eq!((pipe.key.as_str(), pipe.external()), ("pipe:[77]", false));
        st.st_mode = libc::S_IFCHR | 0o666;
        st.st_rdev = libc::makedev(1, 3);
        st.st_ino = 0x1f;
        st.st_dev = 6;
        let host_null = stdio_key(0, "/dev/null", &st, 24, &[30, 31]).unwrap();
        assert_eq!(host_null.key, "file[18:1f]");
        assert_eq!(host_null.file, Some(HostFile { path: "/dev/null".into(), dev: 6, ino: 0x1f, device: true }));
        assert_eq!(stdio_key(0, "/dev/null", &st, 31, &[30, 31]), None, "the container's own /dev/null");
        st.st_rdev = libc::makedev(136, 2);
        st.st_dev = 0x19;
        let tty = stdio_key(2, "/dev/pts/2", &st, 24, &[]).unwrap();
        assert_eq!((tty.key.as_str(), tty.external()), ("tty[8802:19]", true));
    }

    #[test]
    fn restore_hands_over_its_stdio_where_criu_can_take_it() {
        let pipe = Stdio { fd: 1, key: "pipe:[7]".into(), file: None };
        assert_eq!(handover(&pipe, Some(Kind::Pipe)), Ok(Handover::Ours));
        assert_eq!(handover(&pipe, Some(Kind::File(1, 2))), Ok(Handover::CriusOwn));
        let socket = Stdio { fd: 1, key: "socket:[7]".into(), file: None };
        assert_eq!(handover(&socket, Some(Kind::Socket)), Ok(Handover::Ours));
        let log = HostFile { path: "/var/log/x".into(), dev: 8, ino: 9, device: false };
        let file = Stdio { fd: 2, key: "file[18:9]".into(), file: Some(log) };
        assert_eq!(handover(&file, Some(Kind::File(8, 9))), Ok(Handover::Ours), "the same file");
        let err = handover(&file, Some(Kind::Pipe)).unwrap_err();
        assert!(err.contains("'/var/log/x'"), "criu takes no other, and nsrun opens no path an image names: {err}");
        let null = HostFile { path: "/dev/null".into(), dev: 6, ino: 5, device: true };
        let null = Stdio { fd: 0, key: "file[18:5]".into(), file: Some(null) };
        assert_eq!(handover(&null, Some(Kind::Pipe)), Ok(Handover::DevNull));
        let tty = Stdio { fd: 0, key: "tty[8802:19]".into(), file: None };
        assert_eq!(handover(&tty, Some(Kind::Terminal)), Ok(Handover::Ours));
        assert!(handover(&tty, Some(Kind::File(1, 2))).is_err());
    }

    #[test]
    fn stdio_survives_its_file_between_checkpoint_and_restore() {
        let dir = std::env::temp_dir().join(format!("nsrun-stdio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stdio = host_null_and_a_pipe();
        write_stdio(&dir, &stdio).unwrap();
        assert_eq!(read_stdio(&dir), stdio);
        std::fs::write(dir.join(STDIO_FILE), r#"[{"fd":7,"key":"pipe:[1]"},{"fd":1,"key":"a\nb"},{"fd":2}]"#).unwrap();
        assert_eq!(read_stdio(&dir), [], "out of range, a forged key, none");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_iptables_the_network_is_locked_by_nftables() {
        assert_eq!(network_lock(std::ffi::OsStr::new("/nonexistent")), Some(["--network-lock", "nftables"]));
    }

    #[test]
    fn cgroup_roots_follow_every_controller_but_named_ones() {
        let text = "12:cpu,cpuacct:/a/c1\n1:name=systemd:/a\n0::/b/c1\n";
        assert_eq!(cgroup_roots(text), ["cpu,cpuacct:/a/c1", "/b/c1"]);
    }

    #[test]
    fn criu_failures_are_told_by_their_last_errors() {
        let log = "(0.1) Error (a.c:1): execvp(\"iptables-save\") failed\n(0.2) skipping\n\
                   (0.3) Error (n.c:54): -22 reported by netlink\n(0.4) Error (ns.c:1): dumping failed\n\
                   (0.5) Error (cr-dump.c:2053): Dumping FAILED.\n";
        assert_eq!(
            why_failed(log).as_deref(),
            Some("(0.3) Error (n.c:54): -22 reported by netlink; (0.4) Error (ns.c:1): dumping failed")
        );
        assert_eq!(why_failed("all fine\n"), None);
    }
}

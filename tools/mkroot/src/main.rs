//! mkroot: build a root file system at DIR in a private mount namespace,
//! mount /proc, /sys and /dev, pivot into it, and run the command there.

#![cfg_attr(not(test), no_main)]

mod plan;

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use common::account::{self, UserSpec};
use common::becoming::{Becoming, Privileges};
use common::cli::{self, Cli, Opt, Parsed};
use common::error::quoted;
use common::rootfs::{self, Root};
use common::values::{self, Size};
use common::{Error, caps, exec, procfs, seccomp, trace, userns};
use nix::errno::Errno;

use plan::Op;

common::tool_main!("mkroot", run);

const CLI: Cli = Cli {
    tool: "mkroot",
    synopsis: "mkroot [options] DIR COMMAND [ARG...]",
    help: "\
Usage:
  mkroot [options] DIR COMMAND [ARG...]

Build a root file system at DIR in a private mount namespace, mount /proc,
/sys and /dev, pivot into it, and run COMMAND there. DIR missing or empty:
a fresh root on a tmpfs, with the host's /usr and libraries read-only. DIR
holding a root file system (an image): that tree, as it is.

Root:
      --size=SIZE          size limit of the fresh root's tmpfs (K, M, G)
      --mode=MODE          permissions of the fresh root (default 0755)
      --overlay            the image is a read-only lower layer; writes go to
                           a tmpfs that vanishes at exit
      --ro                 make the root read-only once it is built
      --no-proc            mount no /proc (needed outside a new PID namespace)

Mounts, applied in command-line order inside the new root:
  -b, --bind=SRC[:DST]     bind a host path (DST defaults to SRC)
  -r, --ro-bind=SRC[:DST]  bind a host path, recursively read-only
  -v, --volume=HOST:CONT[:ro]  share a host directory, as docker run -v does
      --tmpfs=DST          a fresh tmpfs
      --dir=DST            a directory
      --symlink=TARGET:DST a symbolic link

Command:
      --chdir=DIR          working directory of COMMAND (default /)
      --user=USER[:GROUP]  run COMMAND as USER (and GROUP): names from the new
                           root's /etc/passwd and /etc/group, or numbers
      --no-new-privs       set no_new_privs: no privilege gained through exec
      --cap-add=CAPS       keep these too, beside the default set (CHOWN,
                           DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE,
                           SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)
      --cap-drop=CAPS      drop capabilities: ALL or a list such as
                           CAP_NET_RAW,CAP_SYS_ADMIN (every set)
      --privileged         keep every capability and a whole /proc (room for
                           a container inside); only the seccomp rule against
                           terminal injection stays
      --seccomp=MODE       default (a filter like podman's) or unconfined
      --verbose            trace each mount on stderr
  -h, --help               show this help and exit
  -V, --version            show the version and exit

Exit status: COMMAND's; 125 mkroot failed; 126 COMMAND cannot run; 127 not found.
",
};

#[derive(Debug, PartialEq, Eq)]
struct Args {
    dir: PathBuf,
    ops: Vec<Op>,
    overlay: bool,
    ro: bool,
    proc: bool,
    size: Option<u64>,
    mode: u32,
    chdir: PathBuf,
    no_new_privs: bool,
    cap_add: u64,
    cap_drop: u64,
    privileged: bool,
    seccomp: bool,
    user: Option<UserSpec>,
    verbose: bool,
    command: Vec<OsString>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            ops: Vec::new(),
            overlay: false,
            ro: false,
            proc: true,
            size: None,
            mode: 0o755,
            chdir: PathBuf::from("/"),
            no_new_privs: false,
            cap_add: 0,
            cap_drop: 0,
            privileged: false,
            seccomp: true,
            user: None,
            verbose: false,
            command: Vec::new(),
        }
    }
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>, Error> {
    let mut a = Args::default();
    let rest = match cli::parse_options(&CLI, args, |o, parser| take_option(&mut a, o, parser))? {
        Parsed::Run(rest) => rest,
        Parsed::Help => return Ok(Parsed::Help),
        Parsed::Version => return Ok(Parsed::Version),
    };
    let mut rest = rest.into_iter();
    a.dir = PathBuf::from(rest.next().ok_or_else(|| CLI.usage_error("no DIR given"))?);
    a.command = rest.collect();
    if a.command.is_empty() {
        return Err(CLI.usage_error("no command given"));
    }
    if a.privileged && (a.cap_add != 0 || a.cap_drop != 0) {
        return Err(CLI.usage_error("--privileged keeps every capability: it takes no --cap-add or --cap-drop"));
    }
    if a.cap_drop != u64::MAX && a.cap_add & a.cap_drop != 0 {
        let both = caps::names(a.cap_add & a.cap_drop);
        return Err(Error::new("invalid capabilities", both, "both added and dropped"));
    }
    Ok(Parsed::Run(a))
}

/// `--seccomp=default|unconfined`.
fn seccomp_mode(text: &str) -> Result<bool, Error> {
    match text {
        "default" => Ok(true),
        "unconfined" => Ok(false),
        _ => Err(Error::new("invalid seccomp mode", quoted(text), "expected default or unconfined")),
    }
}

/// The capabilities the command keeps: the default set, less `--cap-drop`
/// (ALL: none of it), plus `--cap-add`; every one with `--privileged`.
fn kept_capabilities(args: &Args) -> u64 {
    if args.privileged {
        return caps::all_known();
    }
    let base = if args.cap_drop == u64::MAX { 0 } else { caps::default_set() & !args.cap_drop };
    (base | args.cap_add) & caps::all_known()
}

/// One of mkroot's options, with its value; a usage error for anything else.
fn take_option(a: &mut Args, opt: &Opt, parser: &mut lexopt::Parser) -> Result<(), Error> {
    let mut value = || cli::string_value(parser).map_err(|e| CLI.usage_error(e));
    match opt {
        o if o.is(Some('b'), "bind") => a.ops.push(plan::parse_bind(&value()?, false)?),
        o if o.is(Some('r'), "ro-bind") => a.ops.push(plan::parse_bind(&value()?, true)?),
        o if o.is(Some('v'), "volume") => a.ops.push(plan::parse_volume(&value()?)?),
        o if o.is(None, "tmpfs") => a.ops.push(plan::parse_tmpfs(&value()?)?),
        o if o.is(None, "dir") => a.ops.push(plan::parse_dir(&value()?)?),
        o if o.is(None, "symlink") => a.ops.push(plan::parse_symlink(&value()?)?),
        o if o.is(None, "size") => a.size = root_size(&value()?)?,
        o if o.is(None, "mode") => a.mode = plan::parse_mode(&value()?)?,
        o if o.is(None, "overlay") => a.overlay = true,
        o if o.is(None, "ro") => a.ro = true,
        o if o.is(None, "no-proc") => a.proc = false,
        o if o.is(None, "chdir") => {
            let text = value()?;
            a.chdir = plan::container_path(&text, "--chdir", &text)?;
        }
        o if o.is(None, "no-new-privs") => a.no_new_privs = true,
        o if o.is(None, "cap-drop") => a.cap_drop |= caps::parse_caps(&value()?)?,
        o if o.is(None, "cap-add") => a.cap_add |= caps::parse_caps(&value()?)?,
        o if o.is(None, "privileged") => a.privileged = true,
        o if o.is(None, "seccomp") => a.seccomp = seccomp_mode(&value()?)?,
        o if o.is(None, "user") => a.user = Some(UserSpec::parse(&value()?)?),
        o if o.is(None, "verbose") => a.verbose = true,
        other => return Err(CLI.usage_error(other.unexpected())),
    }
    Ok(())
}

/// `--size`: a limit above 0, or `max` for none.
fn root_size(text: &str) -> Result<Option<u64>, Error> {
    match values::parse_size(text).map_err(|why| Error::new("invalid size", quoted(text), why))? {
        Size::Bytes(0) => Err(Error::new("invalid size", quoted(text), "must be more than 0")),
        Size::Bytes(n) => Ok(Some(n)),
        Size::Max => Ok(None),
    }
}

/// What DIR holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirState {
    Missing,
    Empty,
    Image,
}

/// Check DIR before anything is touched.
fn examine_dir(dir: &Path) -> Result<(DirState, Option<OwnedFd>), Error> {
    if dir.as_os_str().is_empty() {
        return Err(Error::new("invalid root", "''", "empty path"));
    }
    // Held from this first look on: every later step acts on this directory, whatever
    // the path names by then.
    let held = match rootfs::hold_dir(dir) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) if std::fs::symlink_metadata(dir).is_err() => {
            let parent = common::parent_dir(dir);
            return match std::fs::metadata(parent) {
                Ok(m) if m.is_dir() => Ok((DirState::Missing, None)),
                _ => Err(Error::new("invalid root", quoted(dir), "its parent directory does not exist")),
            };
        }
        Err(Errno::ELOOP | Errno::ENOTDIR) if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_symlink()) => {
            let why = if std::fs::metadata(dir).is_err() {
                "a dangling symbolic link"
            } else {
                "a symbolic link: give the real path"
            };
            return Err(Error::new("invalid root", quoted(dir), why));
        }
        Err(Errno::ENOTDIR) => return Err(Error::new("invalid root", quoted(dir), "not a directory")),
        Err(e) => return Err(Error::sys("invalid root", quoted(dir), e)),
    };
    let through = rootfs::fd_path(held.as_fd());
    let real =
        std::fs::read_link(&through).map_err(|e| Error::new("invalid root", quoted(dir), common::io_reason(&e)))?;
    if real == Path::new("/") {
        return Err(Error::new("invalid root", quoted(dir), "the host's / cannot be the new root"));
    }
    let mut entries =
        std::fs::read_dir(&through).map_err(|e| Error::new("invalid root", dir.display(), common::io_reason(&e)))?;
    if entries.next().is_none() {
        return Ok((DirState::Empty, Some(held)));
    }
    if let Some(why) = system_file_system(&real) {
        return Err(Error::new("invalid root", quoted(dir), why));
    }
    Ok((DirState::Image, Some(held)))
}

/// DIR held again (in our own mount namespace), refused unless it is still
/// the directory examined: a DIR swapped meanwhile is never built on.
fn rehold(dir: &Path, examined: &OwnedFd) -> Result<OwnedFd, Error> {
    let id = |fd: &OwnedFd| nix::sys::stat::fstat(fd).ok().map(|st| (st.st_dev, st.st_ino));
    let held = rootfs::hold_dir(dir).map_err(|e| Error::sys("invalid root", quoted(dir), e))?;
    if id(&held).is_none() || id(&held) != id(examined) {
        return Err(Error::new("invalid root", quoted(dir), "it was replaced while mkroot looked at it"));
    }
    Ok(held)
}

/// The host's standard tree (the FHS top level, and the shared scratch
/// directories below it): never an image, whatever file system holds it.
const HOST_TREE: [&str; 25] = [
    "/bin",
    "/boot",
    "/dev",
    "/dev/shm",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/tmp",
    "/run/lock",
    "/run/user",
];

/// Why `real` (a canonical directory holding files) cannot be an image: it is
/// on a kernel file system, or it is the top of a tmpfs that the system
/// shares (`/dev`, `/dev/shm`, `/run`, `/tmp`), where mkroot would create
/// its mount points among everybody's files.
fn system_file_system(real: &Path) -> Option<String> {
    if HOST_TREE.iter().any(|d| real == Path::new(d)) {
        return Some("a directory of the host's own tree, which is no image: give a directory of your own".to_owned());
    }
    if let Some(name) = common::mount::kernel_file_system(real) {
        return Some(format!("on a {name} file system, which is no image: give a directory of your own"));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let fstype = procfs::mount_at(&mounts, real)?;
    ["tmpfs", "devtmpfs", "ramfs"].contains(&fstype).then(|| {
        format!("the top of a {fstype} the system shares, which is no image: give a directory of your own inside it")
    })
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let Some(args) = CLI.finish(parse_args(argv))? else {
        return Ok(0);
    };
    trace::enable(args.verbose);
    let (state, held) = examine_dir(&args.dir)?;
    if args.overlay && state != DirState::Image {
        return Err(Error::new(
            "cannot use --overlay on",
            quoted(&args.dir),
            "it holds no image (it is missing or empty)",
        ));
    }
    check_user(&args, state)?;
    rootfs::enter_private_mount_namespace()?;
    if args.proc {
        check_pid_namespace()?;
    }
    let made = Made::dir(&args, state)?;
    let held = match held {
        // A descriptor of the namespace we left mounts nothing in ours: DIR again, the same one.
        Some(examined) => rehold(&args.dir, &examined)?,
        None => match made.dir.as_ref().map(rootfs::MadeDir::open) {
            Some(Ok(fd)) => fd,
            Some(Err(err)) => {
                made.undo(&args.dir);
                return Err(err);
            }
            None => return Err(Error::new("invalid root", quoted(&args.dir), "it vanished")),
        },
    };
    let (entered, workdir) = match build(&args, state, held.as_fd(), made.journal()) {
        Ok(built) => built,
        Err(err) => {
            made.undo(&args.dir);
            return Err(err);
        }
    };
    nix::unistd::fchdir(&workdir).map_err(|e| Error::sys("cannot chdir to", args.chdir.display(), e))?;
    drop(workdir);
    // While we may still take back what we made: a command that is not there fails now.
    if let Err(err) = exec::check_runnable(&args.command) {
        made.undo(&args.dir);
        return Err(err);
    }
    restrict(&args, entered)?;
    trace::step(|| format!("exec {}", trace::shell_words(&args.command)));
    let err = exec::exec_into(&args.command);
    // Nothing ran (126, 127): the run leaves nothing that it can still take
    // back. Without its privileges, mkroot cannot unmount what it mounted in
    // an image any more: those mount points stay (a DIR it made goes).
    made.undo(&args.dir);
    Err(err)
}

/// What mkroot created on the host side, taken back when the run fails: DIR
/// if it was missing, and the mount points made in an image bound as it is.
/// (A fresh root and an overlay's upper layer are tmpfs that vanish.)
struct Made {
    dir: Option<rootfs::MadeDir>,
    in_image: bool,
    journal: rootfs::Journal,
}

impl Made {
    fn dir(args: &Args, state: DirState) -> Result<Self, Error> {
        let dir = if state == DirState::Missing {
            trace::step(|| format!("mkdir {}", args.dir.display()));
            Some(rootfs::MadeDir::create(&args.dir)?)
        } else {
            None
        };
        let in_image = state == DirState::Image && !args.overlay;
        Ok(Self { dir, in_image, journal: rootfs::Journal::default() })
    }

    fn journal(&self) -> Option<&rootfs::Journal> {
        self.in_image.then_some(&self.journal)
    }

    /// Unmount what we mounted on DIR (before the pivot; after it, nothing
    /// is there), take back what we created in an image, remove DIR if we made it.
    fn undo(self, dir: &Path) {
        // Never through a link that replaced DIR meanwhile.
        let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW);
        self.journal.undo();
        if let Some(made) = self.dir {
            made.remove();
        }
    }
}

/// What the command takes on, in the order `common::becoming` keeps for
/// every way into a container: the capabilities kept (less CAP_SYS_CHROOT
/// under a chroot), the seccomp filter, `--user` resolved in the new root.
/// A user other than root keeps only what `--cap-add` named, as ambient
/// capabilities, and inherits nothing else.
fn restrict(args: &Args, entered: rootfs::Entered) -> Result<(), Error> {
    let mut keep = kept_capabilities(args);
    // Under a chroot the old root is still there, below: without
    // CAP_SYS_CHROOT no process can climb back out to it.
    if entered == rootfs::Entered::Chroot {
        trace::step(|| "dropping CAP_SYS_CHROOT: the old root is only hidden, not detached".to_owned());
        keep &= !caps::capability_bit("sys_chroot");
    }
    let account = args.user.as_ref().map(resolve_user).transpose()?;
    let non_root = account.as_ref().is_some_and(|a| a.uid != 0);
    let sets = if non_root { args.cap_add & keep } else { keep };
    let mut filters = Vec::new();
    if args.seccomp
        && let Some(arch) = seccomp::Arch::native()
    {
        let policy = seccomp::Policy { kept: keep, privileged: args.privileged };
        trace::step(|| format!("seccomp: EPERM for {} and TIOCSTI", seccomp::denied(arch, policy).join(",")));
        filters.push(seccomp::filter(arch, policy));
    }
    let privileges = Privileges {
        bounding: keep,
        sets: caps::Sets { effective: sets, permitted: sets, inheritable: sets },
        ambient: if non_root { sets } else { 0 },
        no_new_privs: args.no_new_privs,
    };
    Becoming { privileges: Some(privileges), filters, account, listen: false }.take_on().map(drop)
}

/// `--user`, resolved in the new root's /etc/passwd and /etc/group.
fn resolve_user(spec: &UserSpec) -> Result<account::Account, Error> {
    let (passwd, group) = (account::open_accounts("/etc/passwd"), account::open_accounts("/etc/group"));
    account::resolve(spec, passwd.as_deref(), group.as_deref())
        .map_err(|why| Error::new("cannot run as", quoted(&spec.user), why))
}

/// The initial PID namespace has a fixed inode number (PROC_PID_INIT_INO).
fn in_initial_pid_namespace() -> bool {
    common::ns::id_of("/proc/self/ns/pid") == Some(0xEFFF_FFFC)
}

const PID_ONE_OUTSIDE: &str = "PID 1 of this PID namespace stays outside the new root, so /proc/1/root would lead to the host: run mkroot in a new PID and mount namespace (nsclone -mp mkroot ...), or give --no-proc";

/// A /proc of this PID namespace shows PID 1's root and working directory:
/// they must end up inside the new root, or /proc/1/root leads to the host.
/// In the initial PID namespace PID 1 is the system's init: refused at once.
fn check_pid_namespace() -> Result<(), Error> {
    if in_initial_pid_namespace() {
        return Err(Error::new("refusing to mount", "/proc", PID_ONE_OUTSIDE));
    }
    Ok(())
}

/// How long the check waits for nsclone's init to seal itself away, which it
/// does right after it starts the command, in parallel with it.
const SEAL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// With the new /proc mounted, before the pivot: every process it shows must
/// be this one, or sealed away from every file (nsclone's init seals itself:
/// see `rootfs::seal_away_from_files`). Any other process (a shell between
/// nsclone and mkroot, something left in the background) has its root, its
/// working directory and its mount namespace on the tree we leave, and
/// /proc/PID/root, cwd or ns/mnt would lead there from inside. Read from
/// /proc/PID/mountinfo, which needs no ptrace access.
fn check_pid_namespace_members(root: &Root) -> Result<(), Error> {
    let me = nix::unistd::getpid().as_raw();
    let proc = root
        .resolve(Path::new("/proc"), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY)
        .map_err(|e| Error::sys("cannot open", "/proc", e))?;
    let proc = PathBuf::from(rootfs::fd_path(std::os::fd::AsFd::as_fd(&proc)));
    let entries = std::fs::read_dir(&proc).map_err(|e| Error::new("cannot read", "/proc", common::io_reason(&e)))?;
    let mut pids: Vec<libc::pid_t> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    let started = std::time::Instant::now();
    for pid in pids.into_iter().filter(|&pid| pid != me) {
        while let Some(state) = member_state(&proc, pid) {
            if state.sealed {
                trace::step(|| format!("PID {pid} ({}) is sealed away from every file", state.name));
                break;
            }
            // nsclone's init seals itself while we build: give it the time.
            if pid == 1 && state.name == "nsclone" && started.elapsed() < SEAL_WAIT {
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
            let why = if pid == 1 {
                PID_ONE_OUTSIDE.to_owned()
            } else {
                format!(
                    "PID {pid} ({}) of this PID namespace stays outside the new root, so /proc/{pid}/root would lead to the host: make mkroot the command of nsclone -p itself (sh -c 'exec mkroot ...'), or give --no-proc",
                    state.name
                )
            };
            return Err(Error::new("refusing to mount", "/proc", why));
        }
    }
    Ok(())
}

/// What /proc says of another process: its name, and whether it is sealed.
/// `None` when it is gone or a zombie, which holds no root or directory.
struct MemberState {
    name: String,
    sealed: bool,
}

fn member_state(proc: &Path, pid: libc::pid_t) -> Option<MemberState> {
    let dir = proc.join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // comm is in parentheses and may hold anything; the state follows the last ')'.
    let (head, tail) = stat.rsplit_once(')')?;
    if tail.trim_start().starts_with(['Z', 'X']) {
        return None;
    }
    let name = head.split_once('(').map_or("?", |(_, n)| n).to_owned();
    let sealed = std::fs::read_to_string(dir.join("mountinfo")).is_ok_and(|m| procfs::sealed_mountinfo(&m));
    Some(MemberState { name, sealed })
}

/// Build the root, in the order of mkroot(1), and enter it. Returns how it
/// was entered and the command's working directory, resolved inside the
/// root before the pivot, so that a bad --chdir still fails with nothing left.
fn build(
    args: &Args,
    state: DirState,
    dir: BorrowedFd<'_>,
    journal: Option<&rootfs::Journal>,
) -> Result<(rootfs::Entered, OwnedFd), Error> {
    let top = rootfs::mount_root(dir, &args.dir, root_mount(args, state).as_ref())?;
    let mut root = Root::from_fd(top, &args.dir, userns::in_user_namespace(), journal)?;
    root.fresh = state != DirState::Image;
    if state != DirState::Image {
        fresh_tree(&root)?;
    }
    if args.proc {
        rootfs::mount_proc(&root, args.privileged)?;
        check_pid_namespace_members(&root)?;
    }
    rootfs::mount_sys(&root)?;
    rootfs::mount_cgroups(&root)?;
    rootfs::mount_dev(&root)?;
    for op in &args.ops {
        apply(&root, op)?;
    }
    if args.ro {
        root.read_only(Path::new("/"), false)?;
    }
    let workdir = root
        .resolve(&args.chdir, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY)
        .map_err(|e| Error::sys("cannot chdir to", args.chdir.display(), e))?;
    Ok((rootfs::pivot(&root)?, workdir))
}

/// The root's own mount: a fresh tmpfs on DIR, the image bound onto itself,
/// or an overlay over it.
fn root_mount(args: &Args, state: DirState) -> RootMountOptions {
    match state {
        DirState::Missing | DirState::Empty => {
            let mut data = format!("mode={:o}", args.mode);
            if let Some(size) = args.size {
                data.push_str(&format!(",size={size}"));
            }
            RootMountOptions::Tmpfs(data)
        }
        DirState::Image if args.overlay => RootMountOptions::Overlay,
        DirState::Image => RootMountOptions::Image,
    }
}

/// [`rootfs::RootMount`], owning its tmpfs options.
enum RootMountOptions {
    Tmpfs(String),
    Image,
    Overlay,
}

impl RootMountOptions {
    fn as_ref(&self) -> rootfs::RootMount<'_> {
        match self {
            Self::Tmpfs(data) => rootfs::RootMount::Tmpfs(data),
            Self::Image => rootfs::RootMount::Image,
            Self::Overlay => rootfs::RootMount::Overlay,
        }
    }
}

/// One mount of the command line, on a target checked where it really leads.
fn apply(root: &Root, op: &Op) -> Result<(), Error> {
    match op {
        Op::Bind { src, dst, ro, make } => {
            let (target, resolved) = root.prepare_resolved(dst, *make)?;
            check_resolved_target(&resolved, dst)?;
            root.bind_at(src, &target, dst, *ro)
        }
        Op::Tmpfs { dst } => {
            let (target, resolved) = root.prepare_resolved(dst, rootfs::Make::Dir)?;
            check_resolved_target(&resolved, dst)?;
            root.tmpfs_at(&target, dst, "mode=0755")
        }
        Op::Dir { dst } => root.dir(dst),
        Op::Symlink { target, dst } => root.symlink(target, dst),
    }
}

/// The check of plan.rs again, on where a mount target really leads once
/// resolved in the root: an image's `data -> /proc` or `rootlink -> /`.
fn check_resolved_target(resolved: &Path, dst: &Path) -> Result<(), Error> {
    match plan::reserved_target(resolved) {
        Some(why) if resolved != dst => Err(Error::new(
            "cannot mount on",
            dst.display(),
            format!("it leads to {} inside the root, and mkroot {why}", resolved.display()),
        )),
        Some(why) => Err(Error::new("cannot mount on", dst.display(), format!("mkroot {why}"))),
        None => Ok(()),
    }
}

/// The /etc/passwd and /etc/group of a fresh root: root, nobody, and the
/// user we run as, under its host name.
fn fresh_accounts() -> (String, String) {
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    let mut passwd =
        String::from("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    let mut group = String::from("root:x:0:\nnogroup:x:65534:\n");
    if uid != 0 && uid != 65534 {
        let name = userns::host_user_name(uid).unwrap_or_else(|| "user".to_owned());
        passwd.push_str(&format!("{name}:x:{uid}:{gid}::/home/{name}:/bin/sh\n"));
        if gid != 0 && gid != 65534 {
            group.push_str(&format!("{name}:x:{gid}:\n"));
        }
    }
    (passwd, group)
}

/// `--user` checked before anything is made: against the accounts a fresh
/// root will get, or the image's own (read inside it, never through a link
/// that leaves it). The command switches to it after the pivot.
fn check_user(args: &Args, state: DirState) -> Result<(), Error> {
    let Some(spec) = &args.user else { return Ok(()) };
    let (passwd, group) = match state {
        DirState::Missing | DirState::Empty => {
            let (passwd, group) = fresh_accounts();
            (Some(passwd), Some(group))
        }
        DirState::Image => {
            let image = Root::open(&args.dir, false, None)?;
            let read = |inside: &str| {
                let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK;
                account::read_accounts(image.resolve(Path::new(inside), flags).ok()?)
            };
            (read("/etc/passwd"), read("/etc/group"))
        }
    };
    account::resolve(spec, passwd.as_deref(), group.as_deref())
        .map(drop)
        .map_err(|why| Error::new("cannot run as", quoted(&spec.user), why))
}

/// The standard tree of a fresh root, with the host's programs and libraries
/// read-only, following the host's merged-/usr layout.
fn fresh_tree(root: &Root) -> Result<(), Error> {
    for dir in ["/dev", "/etc", "/home", "/proc", "/root", "/run", "/sys", "/tmp", "/usr", "/var", "/var/tmp"] {
        root.dir(Path::new(dir))?;
    }
    root.chmod(Path::new("/root"), 0o700)?;
    root.chmod(Path::new("/var/tmp"), 0o1777)?;
    root.bind(Path::new("/usr"), Path::new("/usr"), true)?;
    for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&host)
                    .map_err(|e| Error::new("cannot read", host.display(), common::io_reason(&e)))?;
                root.symlink(&target, &host)?;
            }
            Ok(m) if m.is_dir() => root.bind(&host, &host, true)?,
            _ => {}
        }
    }
    for (host, is_dir) in [("/etc/alternatives", true), ("/etc/ld.so.cache", false)] {
        match std::fs::metadata(host) {
            Ok(m) if m.is_dir() == is_dir => root.bind(Path::new(host), Path::new(host), true)?,
            _ => {}
        }
    }
    let (passwd, group) = fresh_accounts();
    root.write(Path::new("/etc/passwd"), passwd.as_bytes(), 0o644)?;
    root.write(Path::new("/etc/group"), group.as_bytes(), 0o644)?;
    let host = nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    root.write(Path::new("/etc/hostname"), format!("{host}\n").as_bytes(), 0o644)?;
    let hosts = format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{host}\n");
    root.write(Path::new("/etc/hosts"), hosts.as_bytes(), 0o644)?;
    if let Ok(resolv) = std::fs::read("/etc/resolv.conf") {
        root.write(Path::new("/etc/resolv.conf"), &resolv, 0o644)?;
    }
    root.tmpfs(Path::new("/tmp"), "mode=1777")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed<Args>, Error> {
        parse_args(args.iter().map(OsString::from))
    }

    fn args(list: &[&str]) -> Args {
        match parse(list) {
            Ok(Parsed::Run(a)) => a,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn the_seed_link() {
        let a = args(&["-v", "/tmp:/shared", "/tmp/r", "sh", "-c", "ls -v"]);
        assert_eq!(a.dir, PathBuf::from("/tmp/r"));
        assert_eq!(a.ops, [Op::Bind { src: "/tmp".into(), dst: "/shared".into(), ro: false, make: rootfs::Make::Dir }]);
        assert_eq!(a.command, ["sh", "-c", "ls -v"]);
    }

    #[test]
    fn ops_keep_their_order() {
        let a = args(&["--dir=/a", "-r", "/usr:/u", "--tmpfs=/t", "--symlink=u/bin:/bin2", "-b", "/tmp", "D", "true"]);
        let kinds: Vec<&str> = a
            .ops
            .iter()
            .map(|o| match o {
                Op::Dir { .. } => "dir",
                Op::Bind { ro: true, .. } => "ro-bind",
                Op::Bind { .. } => "bind",
                Op::Tmpfs { .. } => "tmpfs",
                Op::Symlink { .. } => "symlink",
            })
            .collect();
        assert_eq!(kinds, ["dir", "ro-bind", "tmpfs", "symlink", "bind"]);
    }

    #[test]
    fn root_options() {
        let a = args(&[
            "--size=64M",
            "--mode=0700",
            "--overlay",
            "--ro",
            "--no-proc",
            "--chdir=/tmp",
            "--no-new-privs",
            "--cap-drop=ALL",
            "--verbose",
            "D",
            "x",
        ]);
        assert_eq!((a.size, a.mode, a.overlay, a.ro, a.proc), (Some(64 << 20), 0o700, true, true, false));
        assert_eq!((a.chdir, a.no_new_privs, a.cap_drop, a.verbose), (PathBuf::from("/tmp"), true, u64::MAX, true));
        assert!(parse(&["--size=12Q", "D", "x"]).unwrap_err().to_string().starts_with("invalid size: '12Q'"));
        assert!(parse(&["--size=0", "D", "x"]).is_err());
        assert!(parse(&["--chdir=rel", "D", "x"]).is_err());
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&[]).unwrap_err().to_string().starts_with("no DIR given"));
        assert!(parse(&["/tmp/r"]).unwrap_err().to_string().starts_with("no command given"));
        assert!(parse(&["-x", "D", "c"]).unwrap_err().to_string().starts_with("invalid option '-x'"));
        assert!(
            parse(&["-v", "foo", "D", "c"]).unwrap_err().to_string().starts_with("invalid volume: 'foo': missing ':'")
        );
        assert_eq!(parse(&["--help"]).unwrap(), Parsed::Help);
        assert!(parse(&["--help=1"]).is_err());
    }

    #[test]
    fn options_stop_at_dir() {
        let a = args(&["--", "-weird-dir", "sh", "--ro"]);
        assert_eq!(a.dir, PathBuf::from("-weird-dir"));
        assert_eq!(a.command, ["sh", "--ro"]);
        assert!(!a.ro);
    }

    #[test]
    fn fuzz_command_lines() {
        let words = [
            "-b",
            "-r",
            "-v",
            "/tmp:/x",
            "--tmpfs=/t",
            "--overlay",
            "--ro",
            "--size=1M",
            "--mode=700",
            "D",
            "sh",
            "--",
            "-c",
        ];
        let mut rng = common::fuzz::Rng::new(7);
        for _ in 0..20_000 {
            if let Ok(Parsed::Run(a)) = parse_args(rng.argv(&words, common::fuzz::NASTY, 10)) {
                assert!(!a.command.is_empty());
            }
        }
    }

    #[test]
    fn system_directories_are_no_images() {
        let proc = examine_dir(Path::new("/proc/sys")).unwrap_err().to_string();
        assert!(proc.contains("on a proc file system"), "{proc}");
        let sys = examine_dir(Path::new("/sys/kernel")).unwrap_err().to_string();
        assert!(sys.contains("on a sysfs file system"), "{sys}");
        let dev = examine_dir(Path::new("/dev")).unwrap_err().to_string();
        assert!(dev.contains("the host's own tree"), "{dev}");
        // A tmpfs on a hybrid host, a cgroup2 file system on a pure v2 one.
        let cgroup = examine_dir(Path::new("/sys/fs/cgroup")).unwrap_err().to_string();
        assert!(cgroup.contains("tmpfs the system shares") || cgroup.contains("on a cgroup2 file system"), "{cgroup}");
    }

    #[test]
    fn root_directories() {
        assert!(examine_dir(Path::new("/")).unwrap_err().to_string().contains("cannot be the new root"));
        assert!(examine_dir(Path::new("/etc/passwd")).unwrap_err().to_string().contains("not a directory"));
        assert!(examine_dir(Path::new("/no/such/parent/r")).unwrap_err().to_string().contains("parent directory"));
        assert_eq!(examine_dir(Path::new("/tmp/nstools-surely-missing-dir")).unwrap().0, DirState::Missing);
        assert!(examine_dir(Path::new("/usr")).unwrap_err().to_string().contains("the host's own tree"));
        assert_eq!(examine_dir(Path::new("/usr/share")).unwrap().0, DirState::Image);
    }
}

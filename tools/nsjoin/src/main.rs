//! nsjoin: enter the namespaces of a running process (or of namespace files),
//! as it runs: its root, its working directory, its credentials,
//! capabilities, no_new_privs and seccomp filters, then run the command there.

#![cfg_attr(not(test), no_main)]

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use common::account::Account;
use common::becoming::{Becoming, Privileges};
use common::cli::{self, Cli, Opt, Parsed};
use common::error::quoted;
use common::ns::{self, NAMESPACES, Namespace};
use common::process::{self, Forked};
use common::values;
use common::{Error, caps, cgroup, exec, seccomp, trace, userns};
use nix::fcntl::OFlag;

common::tool_main!("nsjoin", run);

const CLI: Cli = Cli {
    tool: "nsjoin",
    synopsis: "nsjoin [-mupinUCTa] -t PID [options] COMMAND [ARG...]",
    help: "\
Usage:
  nsjoin [options] COMMAND [ARG...]

Enter the namespaces of a running process, or namespace files, and run
COMMAND there as the process runs: in its root and working directory, as its
user, with its capabilities, no_new_privs and seccomp filters. In a PID
namespace COMMAND is forked, so that it really is inside; nsjoin waits and
leaves the way it left.

Target:
  -t, --target=PID[:INODE] the process (INODE: its PID namespace's, so a
                           reused PID is refused)
      --pidfile=FILE       the PID in FILE (what nsclone --pidfile wrote)
      --pidfd=N            the process of pidfd N, which the caller passed

Namespaces (short options cluster: -mupin; a long form may name a FILE):
  -m, --mount[=FILE]       the mount namespace
  -u, --uts[=FILE]         the UTS namespace
  -i, --ipc[=FILE]         the IPC namespace
  -n, --net[=FILE]         the network namespace
  -p, --pid[=FILE]         the PID namespace
  -U, --user[=FILE]        the user namespace
  -C, --cgroup[=FILE]      the cgroup namespace
  -T, --time[=FILE]        the time namespace
  -a, --all                every namespace of the target that is not ours

Process:
  -r, --root[=DIR]         the root directory (default: the target's)
  -w, --wd[=DIR]           the working directory (default: the target's)
  -F, --no-fork            do not fork for a PID namespace
      --tty                a new terminal inside for COMMAND, relayed to
                           ours (raw mode, window size)
      --preserve-fds=N     pass descriptors 3 to 3+N-1 on (default: none)
  -e, --env                the target's environment instead of ours
  -g, -c, --join-cgroup    the target's cgroups too, so its limits apply

Credentials and privileges (default: the target's):
  -S, --setuid=UID         run as UID (in the joined user namespace)
  -G, --setgid=GID         run as GID, with no supplementary groups
      --preserve-credentials
                           keep our user and groups
      --keep-caps          keep our capabilities and no_new_privs
      --no-seccomp         do not copy the target's seccomp filters (which
                           takes CAP_SYS_ADMIN of the initial user namespace)
  -v, --verbose            trace each step on stderr
  -h, --help               show this help and exit
  -V, --version            show the version and exit

Exit status: COMMAND's; 125 nsjoin failed; 126 COMMAND cannot run; 127 not found.
",
};

/// The target process: its PID and, if given, its PID namespace's inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    pid: i32,
    pid_ns: Option<u64>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    target: Option<Target>,
    pidfile: Option<PathBuf>,
    pidfd: Option<i32>,
    /// The types asked for, with a file where one was named.
    types: Vec<(&'static Namespace, Option<PathBuf>)>,
    all: bool,
    root: Option<Option<PathBuf>>,
    wd: Option<Option<PathBuf>>,
    no_fork: bool,
    tty: bool,
    preserve_fds: u32,
    env: bool,
    join_cgroup: bool,
    setuid: Option<u32>,
    setgid: Option<u32>,
    preserve_credentials: bool,
    keep_caps: bool,
    no_seccomp: bool,
    verbose: bool,
    command: Vec<OsString>,
}

impl Args {
    /// A type asked for; asked again, the last word counts (`-n --net=FILE`).
    fn want(&mut self, ns: &'static Namespace, file: Option<PathBuf>) {
        self.types.retain(|(n, _)| n.flag != ns.flag);
        self.types.push((ns, file));
    }

    fn has_target(&self) -> bool {
        self.target.is_some() || self.pidfile.is_some() || self.pidfd.is_some()
    }
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>, Error> {
    let mut a = Args::default();
    let command = match cli::parse_options(&CLI, args, |o, parser| take_option(&mut a, o, parser))? {
        Parsed::Run(command) => command,
        Parsed::Help => return Ok(Parsed::Help),
        Parsed::Version => return Ok(Parsed::Version),
    };
    if command.is_empty() {
        return Err(CLI.usage_error("no command given"));
    }
    if !a.has_target() && a.types.iter().any(|(_, file)| file.is_none()) {
        return Err(CLI.usage_error("no target: give -t PID, --pidfile, --pidfd, or a FILE for each namespace"));
    }
    if a.env && !a.has_target() {
        return Err(CLI.usage_error("-e takes a target's environment: give -t PID, --pidfile or --pidfd"));
    }
    if a.join_cgroup && !a.has_target() {
        return Err(CLI.usage_error("-g joins a target's cgroups: give -t PID, --pidfile or --pidfd"));
    }
    if [a.target.is_some(), a.pidfile.is_some(), a.pidfd.is_some()].iter().filter(|&&given| given).count() > 1 {
        return Err(CLI.usage_error("-t, --pidfile and --pidfd exclude each other"));
    }
    if a.preserve_credentials && (a.setuid.is_some() || a.setgid.is_some()) {
        return Err(CLI.usage_error("--preserve-credentials excludes -S and -G"));
    }
    if a.tty && a.no_fork {
        return Err(CLI.usage_error("--tty forks the command to relay its terminal: it excludes -F"));
    }
    if a.types.is_empty() && !a.all {
        return Err(CLI.usage_error("no namespace given: -m, -u, -i, -n, -p, -U, -C, -T or -a"));
    }
    a.command = command;
    Ok(Parsed::Run(a))
}

fn take_option(a: &mut Args, opt: &Opt, parser: &mut lexopt::Parser) -> Result<(), Error> {
    let mut value = || cli::string_value(parser).map_err(|e| CLI.usage_error(e));
    match opt {
        o if o.is(Some('t'), "target") => a.target = Some(target(&value()?)?),
        o if o.is(None, "pidfile") => a.pidfile = Some(PathBuf::from(value()?)),
        o if o.is(None, "pidfd") => {
            let text = value()?;
            let fd = values::decimal(&text, i32::MAX as u64)
                .map_err(|_| Error::new("invalid pidfd", quoted(&text), "not a descriptor number"))?;
            a.pidfd = Some(fd as i32);
        }
        o if o.is(Some('S'), "setuid") => a.setuid = Some(values::parse_id(&value()?, "user")?),
        o if o.is(Some('G'), "setgid") => a.setgid = Some(values::parse_id(&value()?, "group")?),
        o if o.is(None, "preserve-credentials") => a.preserve_credentials = true,
        o if o.is(Some('a'), "all") => a.all = true,
        o if o.is(Some('r'), "root") => a.root = Some(optional(opt, parser)),
        o if o.is(Some('w'), "wd") => a.wd = Some(optional(opt, parser)),
        o if o.is(Some('F'), "no-fork") => a.no_fork = true,
        o if o.is(None, "tty") => a.tty = true,
        o if o.is(None, "preserve-fds") => {
            let text = value()?;
            let n = values::decimal(&text, 1 << 20)
                .map_err(|_| Error::new("invalid --preserve-fds", quoted(&text), "not a count of descriptors"))?;
            a.preserve_fds = n as u32;
        }
        o if o.is(Some('e'), "env") => a.env = true,
        o if o.is(Some('g'), "join-cgroup") || o.is(Some('c'), "join-cgroup") => a.join_cgroup = true,
        o if o.is(None, "keep-caps") => a.keep_caps = true,
        o if o.is(None, "no-seccomp") => a.no_seccomp = true,
        o if o.is(Some('v'), "verbose") => a.verbose = true,
        Opt::Short(letter) => match ns::by_letter(*letter) {
            Some(ns) => a.want(ns, None),
            None => return Err(CLI.usage_error(opt.unexpected())),
        },
        Opt::Long(name) => match NAMESPACES.iter().find(|n| n.long == name) {
            Some(ns) => {
                let file = parser.optional_value().map(PathBuf::from);
                if file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
                    return Err(Error::new("invalid namespace file", format!("--{name}="), "empty path"));
                }
                a.want(ns, file);
            }
            None => return Err(CLI.usage_error(opt.unexpected())),
        },
        other => return Err(CLI.usage_error(other.unexpected())),
    }
    Ok(())
}

/// A long option's optional value (`--root=DIR`; a short one takes none).
fn optional(opt: &Opt, parser: &mut lexopt::Parser) -> Option<PathBuf> {
    match opt {
        Opt::Long(_) => parser.optional_value().map(PathBuf::from),
        _ => None,
    }
}

/// `PID` or `PID:INODE`.
fn target(text: &str) -> Result<Target, Error> {
    let (pid, inode) = match text.split_once(':') {
        Some((pid, inode)) => (pid, Some(inode)),
        None => (text, None),
    };
    let pid = values::parse_pid(pid).map_err(|why| Error::new("invalid PID", quoted(text), why))?;
    let pid_ns = match inode {
        Some(i) => Some(
            values::decimal(i, u64::MAX)
                .map_err(|_| Error::new("invalid PID", quoted(text), "INODE is not a decimal number"))?,
        ),
        None => None,
    };
    Ok(Target { pid, pid_ns })
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let Some(args) = CLI.finish(parse_args(argv.clone()))? else {
        return Ok(0);
    };
    trace::enable(args.verbose);
    // The command's exec may name our executable again (#!/proc/self/exe): let it be a sealed copy.
    common::exe::run_sealed(&argv)?;
    // Of the caller's descriptors only stdio (and --preserve-fds) cross into the container.
    process::close_on_exec_from(3 + args.preserve_fds);
    let target = resolve_target(&args)?;
    // Everything is opened and checked before the first setns.
    let joins = open_namespaces(&args, target.as_ref())?;
    check_no_host_dirs_carried_in(&args, target.as_ref(), &joins)?;
    let dirs = open_dirs(&args, target.as_ref(), &joins)?;
    let becoming = plan_becoming(&args, target.as_ref(), &joins)?;
    let environment = match (&target, args.env) {
        (Some(t), true) => Some(t.environment()?),
        _ => None,
    };
    let cgroups = match (&target, args.join_cgroup) {
        (Some(t), true) => cgroups_to_join(t)?,
        _ => Vec::new(),
    };
    let pid_joined = joins.iter().any(|j| j.ns.flag == libc::CLONE_NEWPID);
    let stdio = StdioPlan::of(&args, pid_joined)?;
    if let Some(t) = &target {
        t.check_alive()?;
    }
    for dir in &cgroups {
        cgroup::enter(dir)?;
    }
    // While we hold descriptors of the host, nothing inside may ptrace us.
    process::not_dumpable()?;
    join(&joins, target.as_ref())?;
    enter_dirs(dirs)?;
    if let Some(environment) = environment {
        replace_environment(environment);
    }
    if (pid_joined && !args.no_fork) || !matches!(stdio, StdioPlan::Direct) {
        return fork_command(&args, becoming, stdio);
    }
    becoming.take_on()?;
    trace::step(|| format!("exec {}", trace::shell_words(&args.command)));
    Err(exec::exec_into(&args.command))
}

/// How the command's stdio reaches the caller. The caller's terminal never
/// crosses: once the command has exec'd, every process of the container can
/// open it through /proc/N/fd (read keystrokes, write to the screen).
enum StdioPlan {
    /// No terminal among stdio: the descriptors cross as they are.
    Direct,
    /// The stdio descriptors that are terminals become pipes we relay, and
    /// the command gets a session of its own (no controlling terminal).
    Pipes([bool; 3]),
    /// --tty: a new pty inside, its master relayed to our stdin and stdout.
    Pty,
}

impl StdioPlan {
    fn of(args: &Args, pid_joined: bool) -> Result<StdioPlan, Error> {
        let terminals = common::terminal::stdio_terminals();
        let plan = match (args.tty, terminals.contains(&true)) {
            (true, _) => StdioPlan::Pty,
            (false, true) => StdioPlan::Pipes(terminals),
            (false, false) => StdioPlan::Direct,
        };
        if args.no_fork && pid_joined && !matches!(plan, StdioPlan::Direct) {
            return Err(Error::new(
                "cannot join",
                "-F",
                "stdio is a terminal, which nsjoin relays from a forked command, and -F asks for no fork: redirect stdio, or drop -F",
            ));
        }
        Ok(plan)
    }
}

/// The command as our child: we relay its terminal or pipes, pass signals
/// on, and leave the way it left; it dies with us (PDEATHSIG).
fn fork_command(args: &Args, becoming: Becoming, stdio: StdioPlan) -> Result<i32, Error> {
    // Our end, held for our whole life: the child sees it close if we die before PDEATHSIG is set.
    let (alive_r, alive_w) = common::sync::pipe()?;
    let mut pipes: Vec<Option<(OwnedFd, OwnedFd)>> = Vec::new();
    if let StdioPlan::Pipes(terminals) = &stdio {
        for &is in terminals {
            pipes.push(if is { Some(common::sync::pipe()?) } else { None });
        }
    }
    let sockets = match stdio {
        StdioPlan::Pty => Some(
            nix::sys::socket::socketpair(
                nix::sys::socket::AddressFamily::Unix,
                nix::sys::socket::SockType::SeqPacket,
                None,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| Error::sys("cannot make", "a socket pair", e))?,
        ),
        _ => None,
    };
    process::block_for_waiting();
    let child = match process::fork().map_err(|e| Error::sys("cannot fork", "the command", e))? {
        Forked::Parent(child) => child,
        Forked::Child => {
            drop(alive_w);
            let prepared = take_stdio(&pipes, sockets.as_ref().map(|(_, theirs)| theirs))
                .and_then(|()| becoming.take_on().map(drop))
                // After the user is taken on: a change of credentials clears PDEATHSIG.
                .and_then(|()| process::die_with_parent(alive_r.as_fd()));
            if let Err(err) = prepared {
                process::child_fail(&err);
            }
            trace::step(|| format!("exec {}", trace::shell_words(&args.command)));
            process::child_fail(&exec::exec_into(&args.command))
        }
    };
    drop(alive_r);
    let mut streams = Vec::new();
    let mut raw = None;
    let mut master = None;
    for (fd, pipe) in pipes.into_iter().enumerate() {
        let Some((read, write)) = pipe else { continue };
        let (ours, input) = if fd == 0 { (write, true) } else { (read, false) };
        if input {
            streams.push(process::Stream { from: 0, to: ours.as_raw_fd(), end: Some(ours), input });
        } else {
            set_nonblocking(&ours)?;
            streams.push(process::Stream { from: ours.as_raw_fd(), to: fd as i32, end: Some(ours), input });
        }
    }
    if let Some((ours, theirs)) = sockets {
        drop(theirs);
        // Should the child fail before it sends the master, it has said why: wait for it.
        if let Ok(m) = common::sync::receive_fd(ours.as_fd()) {
            set_nonblocking(&m)?;
            common::terminal::copy_window_size(0, m.as_fd());
            raw = common::terminal::RawMode::enter(0);
            streams.push(process::Stream { from: 0, to: m.as_raw_fd(), end: None, input: true });
            streams.push(process::Stream { from: m.as_raw_fd(), to: 1, end: None, input: false });
            master = Some(m);
        }
    }
    let status = match &master {
        Some(m) => {
            let mut resize = || common::terminal::copy_window_size(0, m.as_fd());
            process::wait_relaying(child, streams, Some(&mut resize))
        }
        None if !streams.is_empty() => process::wait_relaying(child, streams, None),
        None => process::wait_mirroring_stops(child),
    };
    if let Some(raw) = &raw {
        raw.restore();
    }
    drop(alive_w);
    Ok(process::mirror(status?))
}

/// In the forked command: the pipes in place of the caller's terminal (in a
/// session of its own), or a new pty of the container's as its terminal,
/// whose master goes to the parent over `socket`.
fn take_stdio(pipes: &[Option<(OwnedFd, OwnedFd)>], socket: Option<&OwnedFd>) -> Result<(), Error> {
    if let Some(socket) = socket {
        let (master, slave) = common::terminal::open_pty()?;
        common::sync::send_fd(socket.as_fd(), master.as_fd(), b"F")?;
        drop(master);
        return common::terminal::take_as_controlling(&slave);
    }
    if pipes.is_empty() {
        return Ok(());
    }
    process::new_session()?;
    for (fd, pipe) in pipes.iter().enumerate() {
        let Some((read, write)) = pipe else { continue };
        let theirs = if fd == 0 { read } else { write };
        // SAFETY: dup2 of a pipe end we own onto a stdio number; the result is checked.
        if unsafe { libc::dup2(theirs.as_raw_fd(), fd as i32) } < 0 {
            return Err(Error::sys("cannot make", "a pipe our stdio", nix::errno::Errno::last()));
        }
    }
    Ok(())
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), Error> {
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map(drop)
        .map_err(|e| Error::sys("cannot set", "O_NONBLOCK", e))
}

/// A process that enters a container's PID namespace is, once it has exec'd,
/// one of the container's (same user, capabilities, dumpable): every process
/// there can follow its /proc/N/root and /proc/N/cwd. So it must hold the
/// container's root and working directory, never ours: the PID namespace only
/// with the mount namespace (whose root nsjoin takes), and no -r DIR or
/// -w DIR of ours, unless the target lives in our mount namespace and root.
fn check_no_host_dirs_carried_in(args: &Args, target: Option<&Held>, joins: &[Join]) -> Result<(), Error> {
    let pid_joined = joins.iter().any(|j| j.ns.flag == libc::CLONE_NEWPID);
    if !pid_joined {
        return Ok(());
    }
    let shares_ours = target.is_some_and(|t| {
        let same = |a: &str, b: &str| ns::same(OsStr::new(a), OsStr::new(b)).unwrap_or(false);
        let inode = |p: &str| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (std::os::unix::fs::MetadataExt::dev(&m), std::os::unix::fs::MetadataExt::ino(&m)))
        };
        same(&format!("/proc/{}/ns/mnt", t.pid), "/proc/self/ns/mnt")
            && inode(&format!("/proc/{}/root/", t.pid)).is_some_and(|r| Some(r) == inode("/"))
    });
    if shares_ours {
        return Ok(());
    }
    let mount_joined = joins.iter().any(|j| j.ns.flag == libc::CLONE_NEWNS);
    let why = "every process of the container could reach it through /proc/N/root and /proc/N/cwd";
    if !mount_joined {
        return Err(Error::new(
            "cannot join",
            "the PID namespace without the mount namespace",
            format!("the command would keep our root and working directory, and {why}: add -m (or use -a)"),
        ));
    }
    for (option, asked) in [("-r", &args.root), ("-w", &args.wd)] {
        if let Some(Some(dir)) = asked {
            return Err(Error::new(
                "cannot join",
                format!("{option} {}", common::error::shown(dir.as_os_str())),
                format!(
                    "a directory of ours inside the container's PID namespace, and {why}: give none (the target's)"
                ),
            ));
        }
    }
    Ok(())
}

/// The target, held by a pidfd so that it cannot be another process later.
struct Held {
    pid: i32,
    pidfd: OwnedFd,
}

impl Held {
    /// Still the process we opened: its pidfd reports no exit.
    fn check_alive(&self) -> Result<(), Error> {
        let mut fds = [libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        // SAFETY: one valid pollfd, no timeout.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
        if n != 0 {
            return Err(Error::new("cannot join", self.pid, "the process exited meanwhile"));
        }
        Ok(())
    }
}

/// `NAME=VALUE` entries of a NUL-separated environ; what is not one is left out.
fn environment_entries(environ: &[u8]) -> Vec<(OsString, OsString)> {
    use std::os::unix::ffi::OsStrExt;
    environ
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let at = entry.iter().position(|&b| b == b'=').filter(|&at| at > 0)?;
            Some((OsStr::from_bytes(&entry[..at]).to_owned(), OsStr::from_bytes(&entry[at + 1..]).to_owned()))
        })
        .collect()
}

impl Held {
    /// Its environment, read while the pidfd proves it is still the process we opened.
    fn environment(&self) -> Result<Vec<(OsString, OsString)>, Error> {
        let path = format!("/proc/{}/environ", self.pid);
        let environ = std::fs::read(&path).map_err(|e| Error::new("cannot read", &path, common::io_reason(&e)))?;
        Ok(environment_entries(&environ))
    }

    /// One of its /proc files, as text.
    fn read(&self, leaf: &str) -> Result<String, Error> {
        let path = format!("/proc/{}/{leaf}", self.pid);
        std::fs::read_to_string(&path).map_err(|e| Error::new("cannot read", &path, common::io_reason(&e)))
    }
}

/// The target's cgroups that are not ours, each hierarchy's, found before the joins.
fn cgroups_to_join(t: &Held) -> Result<Vec<PathBuf>, Error> {
    let ours = cgroup::own();
    let mut dirs = Vec::new();
    for theirs in cgroup::of_process(t.pid)? {
        if theirs.path.split('/').any(|part| part == "..") {
            return Err(Error::new("cannot join cgroup", &theirs.path, "it is outside our cgroup namespace"));
        }
        if !ours.iter().any(|o| o.controllers == theirs.controllers && o.path == theirs.path) {
            dirs.push(theirs.dir);
        }
    }
    Ok(dirs)
}

/// Ours goes entirely, so nothing of the host's environment reaches the command.
fn replace_environment(entries: Vec<(OsString, OsString)>) {
    trace::step(|| format!("# the target's environment: {} variables", entries.len()));
    process::replace_environment(entries);
}

fn resolve_target(args: &Args) -> Result<Option<Held>, Error> {
    if let Some(fd) = args.pidfd {
        return inherited_pidfd(fd).map(Some);
    }
    let target = match (&args.target, &args.pidfile) {
        (Some(t), _) => *t,
        (None, Some(file)) => {
            // A pid file may lie where a container writes: a FIFO, /dev/zero, a huge file.
            let bytes = common::read_regular(file, 64).map_err(|e| e.with_what("cannot read pid file"))?;
            target(String::from_utf8_lossy(&bytes).trim())?
        }
        (None, None) => return Ok(None),
    };
    if target.pid == std::process::id() as i32 {
        return Err(Error::new("cannot join", target.pid, "that is nsjoin itself"));
    }
    let pidfd = process::pidfd_open(target.pid).map_err(|e| {
        let why = match e {
            nix::errno::Errno::ESRCH => "No such process".to_owned(),
            e => e.desc().to_owned(),
        };
        Error::new("cannot find", target.pid, why)
    })?;
    if let Some(inode) = target.pid_ns {
        let found = ns::id_of(&format!("/proc/{}/ns/pid", target.pid));
        if found != Some(inode) {
            return Err(Error::new(
                "cannot join",
                format!("{}:{inode}", target.pid),
                "its PID namespace is another (the PID was reused)",
            ));
        }
    }
    Ok(Some(Held { pid: target.pid, pidfd }))
}

/// A pidfd the caller passed: ours from now on, and closed at exec, so that
/// it does not reach the command. Its PID comes from its fdinfo.
fn inherited_pidfd(fd: i32) -> Result<Held, Error> {
    let shown = format!("--pidfd={fd}");
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|_| Error::new("invalid pidfd", &shown, "no such open descriptor"))?;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
    let pid_field = info.lines().find_map(|l| l.strip_prefix("Pid:")).map(str::trim);
    let Some(pid_field) = pid_field.filter(|_| link.to_string_lossy().contains("pidfd")) else {
        return Err(Error::new("invalid pidfd", &shown, format!("descriptor {fd} is {}, not a pidfd", link.display())));
    };
    let pid = match pid_field {
        "-1" => return Err(Error::new("cannot join", &shown, "its process has exited")),
        "0" => return Err(Error::new("cannot join", &shown, "its process is in a PID namespace nsjoin cannot see")),
        n => values::parse_pid(n).map_err(|why| Error::new("cannot read the PID of", &shown, why))?,
    };
    if pid == std::process::id() as i32 {
        return Err(Error::new("cannot join", pid, "that is nsjoin itself"));
    }
    // SAFETY: the caller handed this descriptor to nsjoin, and nothing else in it owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(&pidfd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
        .map_err(|e| Error::sys("cannot set close-on-exec on", &shown, e))?;
    Ok(Held { pid, pidfd })
}

/// One namespace to enter: its type and an open, verified file.
struct Join {
    ns: &'static Namespace,
    fd: OwnedFd,
    shown: String,
    /// The target's own (not a file named on the command line).
    of_target: bool,
}

fn open_namespaces(args: &Args, target: Option<&Held>) -> Result<Vec<Join>, Error> {
    let mut wanted: Vec<(&'static Namespace, Option<PathBuf>)> = args.types.clone();
    if args.all {
        let missing: Vec<&'static Namespace> =
            NAMESPACES.iter().filter(|n| !wanted.iter().any(|(w, _)| w.flag == n.flag)).collect();
        wanted.extend(missing.into_iter().map(|n| (n, None)));
    }
    let mut joins = Vec::new();
    // In the table's order: the user namespace first, to gain the rights to join the others.
    for n in NAMESPACES.iter() {
        let Some((_, file)) = wanted.iter().find(|(w, _)| w.flag == n.flag) else { continue };
        let path = match (file, target) {
            (Some(f), _) => f.clone(),
            (None, Some(t)) => PathBuf::from(format!("/proc/{}/ns/{}", t.pid, n.proc_name)),
            (None, None) => continue,
        };
        if !path.exists() && file.is_none() && args.all {
            continue; // a type this kernel does not have
        }
        let (fd, kind) = ns::open(path.as_os_str())?;
        let shown = path.display().to_string();
        if kind.flag != n.flag {
            return Err(Error::new("", &shown, format!("is a {} namespace, not a {} namespace", kind.name, n.name)));
        }
        // Skip what we share already: setns into our own user namespace is EINVAL.
        let ours = format!("/proc/self/ns/{}", n.proc_name);
        if ns::same(path.as_os_str(), OsStr::new(&ours)).unwrap_or(false) {
            trace::step(|| format!("# {} namespace shared already: {shown}", n.name));
            continue;
        }
        joins.push(Join { ns: n, fd, shown, of_target: file.is_none() });
    }
    if joins.is_empty() && !args.all {
        return Err(Error::new("cannot join", "the namespaces", "we are in all of them already"));
    }
    Ok(joins)
}

/// All at once through the target's pidfd where the kernel can (5.8+): one
/// atomic step into exactly the target's namespaces. Otherwise, or should
/// that fail (which changes nothing), one by one, which also says which
/// namespace was refused, and why.
fn join(joins: &[Join], target: Option<&Held>) -> Result<(), Error> {
    if let Some(t) = target
        && !joins.is_empty()
        && joins.iter().all(|j| j.of_target)
    {
        let flags = joins.iter().fold(0, |flags, j| flags | j.ns.flag);
        let names: Vec<&str> = joins.iter().map(|j| j.ns.name).collect();
        trace::step(|| format!("setns pidfd of {} ({})", t.pid, names.join(" ")));
        match nix::sched::setns(&t.pidfd, nix::sched::CloneFlags::from_bits_retain(flags)) {
            Ok(()) => return Ok(()),
            Err(e) => trace::step(|| format!("# all at once: {}: one by one", e.desc())),
        }
    }
    for j in joins {
        trace::step(|| format!("setns {} ({})", j.shown, j.ns.name));
        nix::sched::setns(&j.fd, nix::sched::CloneFlags::from_bits_retain(j.ns.flag)).map_err(|e| {
            let why = match e {
                nix::errno::Errno::EPERM => format!(
                    "Operation not permitted (joining a {} namespace needs CAP_SYS_ADMIN over the user namespace that owns it)",
                    j.ns.name
                ),
                nix::errno::Errno::EINVAL => "Invalid argument (a multithreaded caller, or a namespace it cannot enter)".to_owned(),
                e => e.desc().to_owned(),
            };
            Error::new("cannot join", &j.shown, why)
        })?;
    }
    Ok(())
}

/// The root and working directory to take, opened before the joins.
struct Dirs {
    root: Option<OwnedFd>,
    wd: Option<OwnedFd>,
}

fn open_dirs(args: &Args, target: Option<&Held>, joins: &[Join]) -> Result<Dirs, Error> {
    let mount_joined = joins.iter().any(|j| j.ns.flag == libc::CLONE_NEWNS);
    let open = |path: PathBuf| -> Result<OwnedFd, Error> {
        nix::fcntl::open(&path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .map_err(|e| Error::sys("cannot open", path.display(), e))
    };
    let of_target = |leaf: &str| target.map(|t| PathBuf::from(format!("/proc/{}/{leaf}", t.pid)));
    let pick = |asked: &Option<Option<PathBuf>>, leaf: &str| -> Result<Option<OwnedFd>, Error> {
        match asked {
            Some(Some(dir)) => open(dir.clone()).map(Some),
            Some(None) | None if mount_joined || asked.is_some() => of_target(leaf).map(open).transpose(),
            _ => Ok(None),
        }
    };
    Ok(Dirs { root: pick(&args.root, "root")?, wd: pick(&args.wd, "cwd")? })
}

fn enter_dirs(dirs: Dirs) -> Result<(), Error> {
    if let Some(root) = dirs.root {
        trace::step(|| "chroot (the target's root)".to_owned());
        nix::unistd::fchdir(&root).map_err(|e| Error::sys("cannot enter", "the root", e))?;
        nix::unistd::chroot(".").map_err(|e| Error::sys("cannot chroot into", "the root", e))?;
    }
    match dirs.wd {
        Some(wd) => nix::unistd::fchdir(&wd).map_err(|e| Error::sys("cannot enter", "the working directory", e)),
        None => nix::unistd::chdir("/").map_err(|e| Error::sys("cannot chdir to", "/", e)),
    }
}

/// A user, its group and supplementary groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Ids {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

/// What /proc/PID/status says of a process's privileges and credentials.
#[derive(Debug, Default, PartialEq, Eq)]
struct Status {
    privileges: Privileges,
    /// 0 none, 1 strict, 2 filters.
    seccomp: u32,
    /// Effective ones, as the reader's user namespace sees them.
    ids: Option<Ids>,
}

/// Missing or malformed fields read as nothing held, never as more.
fn parse_status(text: &str) -> Status {
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or("");
    let hex = |key: &str| u64::from_str_radix(field(key), 16).unwrap_or(0);
    let effective = |key: &str| field(key).split_whitespace().nth(1).and_then(|id| id.parse::<u32>().ok());
    let groups = field("Groups:").split_whitespace().filter_map(|g| g.parse::<u32>().ok()).collect();
    Status {
        privileges: Privileges {
            bounding: hex("CapBnd:"),
            sets: caps::Sets { effective: hex("CapEff:"), permitted: hex("CapPrm:"), inheritable: hex("CapInh:") },
            ambient: hex("CapAmb:"),
            no_new_privs: field("NoNewPrivs:") == "1",
        },
        seccomp: field("Seccomp:").parse().unwrap_or(0),
        ids: match (effective("Uid:"), effective("Gid:")) {
            (Some(uid), Some(gid)) => Some(Ids { uid, gid, groups }),
            _ => None,
        },
    }
}

/// `ids` of the reader's user namespace as the target's user namespace
/// names them, by its maps; an unmapped group is left out.
fn ids_inside(ids: &Ids, uid_map: &str, gid_map: &str) -> Result<Ids, Error> {
    let unmapped = |what: &str, id: u32| {
        Error::new(
            format!("cannot run as the target's {what}"),
            id,
            "not mapped in its user namespace: give -S and -G, or --preserve-credentials",
        )
    };
    Ok(Ids {
        uid: userns::inward(uid_map, ids.uid).ok_or_else(|| unmapped("user", ids.uid))?,
        gid: userns::inward(gid_map, ids.gid).ok_or_else(|| unmapped("group", ids.gid))?,
        groups: ids.groups.iter().filter_map(|&g| userns::inward(gid_map, g)).collect(),
    })
}

/// Who the command runs as: the target's user and groups by default; in a
/// user namespace joined without a target, root there (as nsenter does);
/// -S and -G override, -G with no supplementary groups. None: stay as we are.
fn credentials(args: &Args, target: Option<Ids>, user_joined: bool, ours: (u32, u32)) -> Option<Account> {
    if args.preserve_credentials {
        return None;
    }
    let base = target.or_else(|| user_joined.then(Ids::default));
    if base.is_none() && args.setuid.is_none() && args.setgid.is_none() {
        return None;
    }
    let base = base.unwrap_or(Ids { uid: ours.0, gid: ours.1, groups: Vec::new() });
    Some(Account {
        uid: args.setuid.unwrap_or(base.uid),
        gid: args.setgid.unwrap_or(base.gid),
        groups: if args.setgid.is_some() { Vec::new() } else { base.groups },
        name: None,
        home: None,
    })
}

/// A field of /proc/PID/status as a number (0 when missing).
fn status_number(status: &str, key: &str) -> u64 {
    status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// The target's seccomp filters. Reading them takes a ptrace attach, which a
/// tracer already attached (a debugger, or a process of the container that
/// wants nsjoin refused) prevents. Then they are read from a stand-in: a
/// process of the same PID and mount namespaces, not traced, with as many
/// filters and the same no_new_privs. Filters are inherited and only ever
/// added, so inside one container such a process holds the same stack.
fn filters_of_target(t: &Held) -> Result<Vec<Vec<libc::sock_filter>>, Error> {
    let err = match seccomp::filters_of(t.pid) {
        Ok(filters) => return Ok(filters),
        Err(err) => err,
    };
    let status = t.read("status")?;
    let tracer = status_number(&status, "TracerPid:");
    if tracer == 0 {
        return Err(err);
    }
    let count = status_number(&status, "Seccomp_filters:");
    let nnp = status_number(&status, "NoNewPrivs:");
    let same_ns = |pid: i32, ns: &str| {
        ns::same(OsStr::new(&format!("/proc/{pid}/ns/{ns}")), OsStr::new(&format!("/proc/{}/ns/{ns}", t.pid)))
            .unwrap_or(false)
    };
    let stand_ins = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != t.pid && same_ns(pid, "pid") && same_ns(pid, "mnt"));
    for pid in stand_ins {
        let Ok(theirs) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        if status_number(&theirs, "TracerPid:") == 0
            && status_number(&theirs, "Seccomp:") == 2
            && status_number(&theirs, "Seccomp_filters:") == count
            && status_number(&theirs, "NoNewPrivs:") == nnp
            && let Ok(filters) = seccomp::filters_of(pid)
            && filters.len() as u64 == count
        {
            trace::step(|| format!("# PID {} is traced by PID {tracer}: its filters read from PID {pid}", t.pid));
            return Ok(filters);
        }
    }
    Err(Error::new(
        "cannot read",
        format!("the seccomp filters of PID {}", t.pid),
        format!(
            "it is being traced by PID {tracer}, and no other process of its container holds the same filters: join another of its processes (-t), or end the trace"
        ),
    ))
}

/// What the command takes on, all read from the target before the joins.
fn plan_becoming(args: &Args, target: Option<&Held>, joins: &[Join]) -> Result<Becoming, Error> {
    let user_joined = joins.iter().any(|j| j.ns.flag == libc::CLONE_NEWUSER);
    let status = match target {
        Some(t) => Some(parse_status(&t.read("status")?)),
        None => None,
    };
    let privileges = status.as_ref().filter(|_| !args.keep_caps).map(|s| s.privileges);
    let filters = match (target, &status) {
        (Some(t), Some(s)) if !args.no_seccomp => match s.seccomp {
            0 => Vec::new(),
            2 => filters_of_target(t)?,
            _ => {
                return Err(Error::new(
                    "cannot join",
                    t.pid,
                    "it runs in strict seccomp mode, under which no command can start: give --no-seccomp",
                ));
            }
        },
        _ => Vec::new(),
    };
    let ids = match (target, status.and_then(|s| s.ids)) {
        (Some(t), Some(ids)) if user_joined => Some(ids_inside(&ids, &t.read("uid_map")?, &t.read("gid_map")?)?),
        (_, ids) => ids,
    };
    let ours = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    Ok(Becoming { privileges, filters, account: credentials(args, ids, user_joined, ours), listen: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed<Args>, Error> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn letters_cluster_and_files_go_on_long_options() {
        let Ok(Parsed::Run(a)) = parse(&["-mupin", "-t", "42", "sh"]) else { panic!() };
        let names: Vec<&str> = a.types.iter().map(|(n, _)| n.name).collect();
        assert_eq!(
            (names, a.target),
            (vec!["mnt", "uts", "pid", "ipc", "net"], Some(Target { pid: 42, pid_ns: None }))
        );
        let Ok(Parsed::Run(a)) = parse(&["--net=/run/netns/x", "ip", "a"]) else { panic!() };
        assert_eq!(a.types[0].1.as_deref(), Some(std::path::Path::new("/run/netns/x")));
        let Ok(Parsed::Run(a)) = parse(&["-a", "-t", "7:4026531836", "-r", "--wd=/tmp", "true"]) else { panic!() };
        assert_eq!((a.target.unwrap().pid_ns, a.root, a.wd), (Some(4026531836), Some(None), Some(Some("/tmp".into()))));
    }

    #[test]
    fn bad_targets_name_themselves() {
        for (bad, why) in [
            ("abc", "not a decimal number"),
            ("0", "out of range"),
            ("-1", "not a decimal number"),
            ("1x", "not a decimal number"),
            (" 1", "not a decimal number"),
            ("99999999", "out of range"),
            ("1:x", "INODE"),
        ] {
            let err = parse(&["-m", "-t", bad, "sh"]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid PID: '{bad}'")) && err.contains(why), "{bad}: {err}");
        }
        assert!(parse(&["-m", "sh"]).unwrap_err().to_string().starts_with("no target"));
        assert!(parse(&["-t", "1", "sh"]).unwrap_err().to_string().starts_with("no namespace given"));
        assert!(parse(&["-m", "-t", "1"]).unwrap_err().to_string().starts_with("no command given"));
        assert!(parse(&["-mX", "-t", "1", "sh"]).unwrap_err().to_string().starts_with("invalid option '-X'"));
        assert!(parse(&["-e", "--net=/x", "sh"]).unwrap_err().to_string().starts_with("-e takes a target's"));
        assert!(parse(&["-g", "--net=/x", "sh"]).unwrap_err().to_string().starts_with("-g joins a target's"));
        for spelling in ["-mg", "-mc", "--join-cgroup"] {
            let Ok(Parsed::Run(a)) = parse(&[spelling, "-m", "-t", "1", "sh"]) else { panic!("{spelling}") };
            assert!(a.join_cgroup, "{spelling}");
        }
    }

    #[test]
    fn the_environment_takes_only_name_value_entries() {
        let Ok(Parsed::Run(a)) = parse(&["-me", "-t", "1", "env"]) else { panic!() };
        assert!(a.env);
        let entries = environment_entries(b"A=1\0B==x=\0=nameless\0junk\0\0C=\0");
        let pairs: Vec<(&str, &str)> =
            entries.iter().map(|(n, v)| (n.to_str().unwrap(), v.to_str().unwrap())).collect();
        assert_eq!(pairs, [("A", "1"), ("B", "=x="), ("C", "")]);
    }

    #[test]
    fn credentials_and_a_pidfd_are_options_too() {
        let Ok(Parsed::Run(a)) = parse(&["-U", "--pidfd=9", "-S", "7", "--setgid=8", "id"]) else { panic!() };
        assert_eq!((a.pidfd, a.setuid, a.setgid), (Some(9), Some(7), Some(8)));
        let Ok(Parsed::Run(a)) = parse(&["-UmS0", "-t", "1", "-G", "0", "id"]) else {
            panic!("-S in a cluster takes the rest of it")
        };
        assert_eq!((a.setuid, a.setgid, a.preserve_credentials), (Some(0), Some(0), false));
        let Ok(Parsed::Run(a)) = parse(&["-U", "-t", "1", "--preserve-credentials", "id"]) else { panic!() };
        assert!(a.preserve_credentials);
        for (args, err) in [
            (&["-U", "--pidfd=", "id"][..], "invalid pidfd: '': not a descriptor number"),
            (&["-U", "--pidfd=-1", "id"], "invalid pidfd: '-1'"),
            (&["-U", "-t", "1", "-S", "x", "id"], "invalid user id: 'x': not a decimal number"),
            (&["-U", "-t", "1", "-G", "4294967295", "id"], "invalid group id: '4294967295': out of range"),
            (&["-U", "-t", "1", "--pidfd=3", "id"], "-t, --pidfile and --pidfd exclude each other"),
            (&["-U", "--pidfd=3", "-S", "0", "--preserve-credentials", "id"], "--preserve-credentials excludes"),
        ] {
            let got = parse(args).unwrap_err().to_string();
            assert!(got.starts_with(err), "{args:?}: {got}");
        }
    }

    const STATUS: &str = "Name:\tsleep\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\nGroups:\t6 27 100 \n\
                          NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\nCapInh:\t0000000000000000\n\
                          CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n\
                          CapAmb:\t0000000000000400\n";

    #[test]
    fn the_targets_status_reads_as_no_more_than_it_says() {
        let status = parse_status(STATUS);
        let sets = caps::Sets { effective: 0xa80425fb, permitted: 0xa80425fb, inheritable: 0 };
        assert_eq!(
            status,
            Status {
                privileges: Privileges { bounding: 0xa80425fb, sets, ambient: 0x400, no_new_privs: true },
                seccomp: 2,
                ids: Some(Ids { uid: 1001, gid: 6, groups: vec![6, 27, 100] }),
            }
        );
        // A forged or truncated status gives nothing: no capability, no user to become.
        assert_eq!(parse_status("CapEff:\tzz\nUid:\t1\nNoNewPrivs:\t0\n"), Status::default());
        assert_eq!(parse_status(""), Status::default());
    }

    #[test]
    fn ids_are_taken_into_the_joined_user_namespace() {
        let ids = Ids { uid: 100_000, gid: 100_005, groups: vec![100_005, 7, 100_027] };
        let map = "0 100000 65536\n";
        assert_eq!(ids_inside(&ids, map, map).unwrap(), Ids { uid: 0, gid: 5, groups: vec![5, 27] });
        let err = ids_inside(&ids, "0 1000 1\n", map).unwrap_err().to_string();
        assert_eq!(
            err,
            "cannot run as the target's user: 100000: not mapped in its user namespace: give -S and -G, or --preserve-credentials"
        );
    }

    #[test]
    fn credentials_are_the_targets_unless_told() {
        let args = |list: &[&str]| -> Args {
            let mut all = list.to_vec();
            all.extend(["-U", "--pidfd=3", "id"]);
            match parse(&all) {
                Ok(Parsed::Run(a)) => a,
                other => panic!("{list:?}: {other:?}"),
            }
        };
        let target = || Some(Ids { uid: 5, gid: 6, groups: vec![6, 7] });
        let account =
            |uid, gid, groups: &[u32]| Some(Account { uid, gid, groups: groups.to_vec(), name: None, home: None });
        let ours = (1000, 1000);
        assert_eq!(credentials(&args(&[]), target(), true, ours), account(5, 6, &[6, 7]));
        assert_eq!(credentials(&args(&["-S", "9"]), target(), true, ours), account(9, 6, &[6, 7]));
        assert_eq!(credentials(&args(&["-G", "9"]), target(), true, ours), account(5, 9, &[]));
        assert_eq!(credentials(&args(&["--preserve-credentials"]), target(), true, ours), None);
        // No target (namespace files only): root in a joined user namespace, as nsenter does.
        assert_eq!(credentials(&args(&[]), None, true, ours), account(0, 0, &[]));
        assert_eq!(credentials(&args(&[]), None, false, ours), None);
        assert_eq!(credentials(&args(&["-G", "3"]), None, false, ours), account(1000, 3, &[]));
    }

    #[test]
    fn fuzz_command_lines() {
        let words = [
            "-mupin",
            "-t",
            "1",
            "--net=/x",
            "-a",
            "-r",
            "--wd=/",
            "-F",
            "-e",
            "-g",
            "--keep-caps",
            "-S",
            "-G",
            "0",
            "--pidfd=3",
            "--preserve-credentials",
            "--",
            "sh",
            "-c",
        ];
        let mut rng = common::fuzz::Rng::new(31);
        for _ in 0..20_000 {
            let argv = rng.argv(&words, common::fuzz::NASTY, 8);
            if let Ok(Parsed::Run(a)) = parse_args(argv.clone()) {
                assert!(!a.command.is_empty() && argv.ends_with(&a.command), "{argv:?}");
            }
        }
    }
}

//! nsjoin: enter the namespaces of a running process (or of namespace files),
//! as it runs: its root, its working directory, its capabilities and
//! no_new_privs, then run the command there.

#![cfg_attr(not(test), no_main)]

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use common::cli::{self, Cli, Opt, Parsed, values};
use common::error::quoted;
use common::ns::{self, NAMESPACES, Namespace};
use common::process::{self, Forked};
use common::{Error, caps, cgroup, exec, trace};
use nix::fcntl::OFlag;

common::tool_main!("nsjoin", run);

const CLI: Cli = Cli {
    tool: "nsjoin",
    synopsis: "nsjoin [-mupinUCTa] -t PID [options] COMMAND [ARG...]",
    help: "\
Usage:
  nsjoin [options] COMMAND [ARG...]

Enter the namespaces of a running process, or namespace files, and run
COMMAND there as the process runs: in its root and working directory, with
its capabilities and no_new_privs. In a PID namespace COMMAND is forked, so
that it really is inside; nsjoin waits and leaves the way it left.

Target:
  -t, --target=PID[:INODE] the process (INODE: its PID namespace's, so a
                           reused PID is refused)
      --pidfile=FILE       the PID in FILE (what nsclone --pidfile wrote)

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
  -e, --env                the target's environment instead of ours
  -g, -c, --join-cgroup    the target's cgroups too, so its limits apply
      --keep-caps          keep our capabilities, not the target's
      --no-seccomp         join a target that has a seccomp filter without
                           one (nsjoin cannot copy filters yet)
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
    /// The types asked for, with a file where one was named.
    types: Vec<(&'static Namespace, Option<PathBuf>)>,
    all: bool,
    root: Option<Option<PathBuf>>,
    wd: Option<Option<PathBuf>>,
    no_fork: bool,
    env: bool,
    join_cgroup: bool,
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
    if a.target.is_none() && a.pidfile.is_none() && a.types.iter().any(|(_, file)| file.is_none()) {
        return Err(CLI.usage_error("no target: give -t PID, --pidfile, or a FILE for each namespace"));
    }
    if a.env && a.target.is_none() && a.pidfile.is_none() {
        return Err(CLI.usage_error("-e takes a target's environment: give -t PID or --pidfile"));
    }
    if a.join_cgroup && a.target.is_none() && a.pidfile.is_none() {
        return Err(CLI.usage_error("-g joins a target's cgroups: give -t PID or --pidfile"));
    }
    if a.target.is_some() && a.pidfile.is_some() {
        return Err(CLI.usage_error("-t and --pidfile exclude each other"));
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
        o if o.is(Some('a'), "all") => a.all = true,
        o if o.is(Some('r'), "root") => a.root = Some(optional(opt, parser)),
        o if o.is(Some('w'), "wd") => a.wd = Some(optional(opt, parser)),
        o if o.is(Some('F'), "no-fork") => a.no_fork = true,
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
    let Some(args) = CLI.finish(parse_args(argv))? else {
        return Ok(0);
    };
    trace::enable(args.verbose);
    let target = resolve_target(&args)?;
    // Everything is opened and checked before the first setns.
    let joins = open_namespaces(&args, target.as_ref())?;
    let dirs = open_dirs(&args, target.as_ref(), &joins)?;
    let like = match (&target, args.keep_caps) {
        (Some(t), false) => Some(Likeness::of(t, args.no_seccomp)?),
        _ => None,
    };
    let environment = match (&target, args.env) {
        (Some(t), true) => Some(t.environment()?),
        _ => None,
    };
    let cgroups = match (&target, args.join_cgroup) {
        (Some(t), true) => cgroups_to_join(t)?,
        _ => Vec::new(),
    };
    if let Some(t) = &target {
        t.check_alive()?;
    }
    for dir in &cgroups {
        cgroup::enter(dir)?;
    }
    // While we hold descriptors of the host, nothing inside may ptrace us.
    nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("cannot set", "PR_SET_DUMPABLE", e))?;
    join(&joins)?;
    enter_dirs(dirs)?;
    if let Some(environment) = environment {
        replace_environment(environment);
    }
    let pid_joined = joins.iter().any(|j| j.ns.flag == libc::CLONE_NEWPID);
    if pid_joined && !args.no_fork {
        process::block_for_waiting();
        match process::fork().map_err(|e| Error::sys("cannot fork", "the command", e))? {
            Forked::Parent(child) => return Ok(process::mirror(process::wait_forwarding(child)?)),
            Forked::Child => {
                if let Err(err) = become_like(like.as_ref()) {
                    process::child_fail(&err);
                }
                process::child_fail(&exec::exec_into(&args.command))
            }
        }
    }
    become_like(like.as_ref())?;
    trace::step(|| format!("exec {}", trace::shell_words(&args.command)));
    Err(exec::exec_into(&args.command))
}

/// The target, held by a pidfd so that it cannot be another process later.
struct Held {
    pid: i32,
    pidfd: OwnedFd,
}

impl Held {
    /// Still the process we opened: its pidfd reports no exit.
    fn check_alive(&self) -> Result<(), Error> {
        let mut fds =
            [libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&self.pidfd), events: libc::POLLIN, revents: 0 }];
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
    // SAFETY: nsjoin is single-threaded: nothing reads the environment concurrently.
    // clearenv, not remove_var: a forged entry of ours ("=a=b") would make remove_var panic.
    unsafe {
        libc::clearenv();
        for (name, value) in entries {
            std::env::set_var(name, value);
        }
    }
}

fn resolve_target(args: &Args) -> Result<Option<Held>, Error> {
    let target = match (&args.target, &args.pidfile) {
        (Some(t), _) => *t,
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::new("cannot read pid file", file.display(), common::io_reason(&e)))?;
            target(text.trim())?
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

/// One namespace to enter: its type and an open, verified file.
struct Join {
    ns: &'static Namespace,
    fd: OwnedFd,
    shown: String,
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
        joins.push(Join { ns: n, fd, shown });
    }
    if joins.is_empty() && !args.all {
        return Err(Error::new("cannot join", "the namespaces", "we are in all of them already"));
    }
    Ok(joins)
}

fn join(joins: &[Join]) -> Result<(), Error> {
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

/// The target's privileges, read from /proc/PID/status, for the command.
struct Likeness {
    bounding: u64,
    sets: caps::Sets,
    ambient: u64,
    no_new_privs: bool,
}

impl Likeness {
    fn of(t: &Held, no_seccomp: bool) -> Result<Self, Error> {
        let path = format!("/proc/{}/status", t.pid);
        let status =
            std::fs::read_to_string(&path).map_err(|e| Error::new("cannot read", &path, common::io_reason(&e)))?;
        let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or("");
        let hex = |key: &str| u64::from_str_radix(field(key), 16).unwrap_or(0);
        if field("Seccomp:") != "0" && !field("Seccomp:").is_empty() && !no_seccomp {
            return Err(Error::new(
                "cannot join",
                t.pid,
                "it runs under a seccomp filter, which nsjoin cannot copy yet: give --no-seccomp to join without one",
            ));
        }
        Ok(Self {
            bounding: hex("CapBnd:"),
            sets: caps::Sets { effective: hex("CapEff:"), permitted: hex("CapPrm:"), inheritable: hex("CapInh:") },
            ambient: hex("CapAmb:"),
            no_new_privs: field("NoNewPrivs:") == "1",
        })
    }
}

/// Take on the target's capabilities and no_new_privs, last before exec.
fn become_like(like: Option<&Likeness>) -> Result<(), Error> {
    let Some(like) = like else { return Ok(()) };
    // Never more than we hold ourselves: a target above us stays above us.
    let ours = caps::Sets::read()?.permitted;
    caps::limit_bounding(like.bounding & ours)?;
    caps::limit_sets(like.sets.permitted & ours)?;
    let sets = caps::Sets {
        effective: like.sets.effective & ours,
        permitted: like.sets.permitted & ours,
        inheritable: like.sets.inheritable & ours,
    };
    sets.write()?;
    caps::raise_ambient(like.ambient & ours)?;
    if like.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("cannot set", "no_new_privs", e))?;
    }
    Ok(())
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
    fn fuzz_command_lines() {
        let words =
            ["-mupin", "-t", "1", "--net=/x", "-a", "-r", "--wd=/", "-F", "-e", "-g", "--keep-caps", "--", "sh", "-c"];
        let mut rng = common::fuzz::Rng::new(31);
        for _ in 0..20_000 {
            let argv = rng.argv(&words, common::fuzz::NASTY, 8);
            if let Ok(Parsed::Run(a)) = parse_args(argv.clone()) {
                assert!(!a.command.is_empty() && argv.ends_with(&a.command), "{argv:?}");
            }
        }
    }
}

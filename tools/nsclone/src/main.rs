//! nsclone: clone a child into new namespaces, run the command there, wait,
//! and relay its fate.

#![cfg_attr(not(test), no_main)]

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use common::cli::namespaces::{DoneElsewhere, Spec};
use common::cli::{self, Cli, Parsed};
use common::process::{self, Forked};
use common::sync::{self, Step};
use common::userns::{self, MapPlan};
use common::{Error, exec, ns, timens, trace};
use nix::errno::Errno;

common::tool_main!("nsclone", run);

const CLI: Cli = Cli {
    tool: "nsclone",
    synopsis: "nsclone [-mupinUCTa] [options] COMMAND [ARG...]",
    help: concat!(
        "\
Usage:
  nsclone [options] COMMAND [ARG...]

Clone a child into new namespaces, run COMMAND in it, wait, and leave the way
COMMAND left: its exit status, or death by its signal. With a new PID
namespace a small init is PID 1: it reaps orphans, passes signals on, and
ends the namespace when COMMAND exits.

",
        common::namespace_options_help!(),
        "
Process:
      --as-pid-1           run COMMAND itself as PID 1 of a new PID namespace
      --pidfile=FILE       write COMMAND's PID (as the caller sees it) to FILE
      --pid-fd=N           write COMMAND's PID to descriptor N, then close it
  -h, --help               show this help and exit
  -V, --version            show the version and exit

Exit status: COMMAND's; 125 nsclone failed; 126 COMMAND cannot run; 127 not found.
"
    ),
};

#[derive(Debug, PartialEq, Eq)]
struct Args {
    spec: Spec,
    as_pid_1: bool,
    pidfile: Option<PathBuf>,
    pid_fd: Option<i32>,
    command: Vec<OsString>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>, Error> {
    let usage = |e: lexopt::Error| CLI.usage_error(e);
    let (mut as_pid_1, mut pidfile, mut pid_fd) = (false, None, None);
    let parsed = common::cli::namespaces::parse_line(&CLI, args, |arg, parser| {
        match arg {
            a if a.is(None, "as-pid-1") => as_pid_1 = true,
            a if a.is(None, "pidfile") => pidfile = Some(pid_file(parser.value().map_err(usage)?)?),
            a if a.is(None, "pid-fd") => pid_fd = Some(pid_fd_number(&cli::string_value(parser).map_err(usage)?)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let (spec, command) = match parsed {
        Parsed::Run(run) => run,
        Parsed::Help => return Ok(Parsed::Help),
        Parsed::Version => return Ok(Parsed::Version),
    };
    if let Some(file) = &pidfile
        && let Some((ns, _)) = spec.pins.iter().find(|(_, pin)| common::cli::namespaces::same_path(pin, file))
    {
        return Err(Error::new(
            "invalid pid file",
            file.display(),
            format!("already the pin file of --{}: give each its own file", ns.long),
        ));
    }
    if as_pid_1 && !spec.wants(libc::CLONE_NEWPID) {
        return Err(CLI.usage_error("--as-pid-1 needs a new PID namespace (-p)"));
    }
    Ok(Parsed::Run(Args { spec, as_pid_1, pidfile, pid_fd, command }))
}

/// `--pidfile=FILE`: any path but an empty one.
fn pid_file(value: OsString) -> Result<PathBuf, Error> {
    if value.is_empty() {
        return Err(Error::new("invalid pid file", "''", "empty path"));
    }
    Ok(PathBuf::from(value))
}

/// `--pid-fd=N`: a descriptor number.
fn pid_fd_number(text: &str) -> Result<i32, Error> {
    let fd = common::values::decimal(text, 1 << 20)
        .map_err(|_| Error::new("invalid descriptor", format!("--pid-fd={text}"), "not a descriptor number"))?;
    Ok(fd as i32)
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let Some(args) = CLI.finish(parse_args(argv))? else {
        return Ok(0);
    };
    trace::enable(args.spec.verbose);
    let plan = check(&args)?;
    let layout = Layout::of(&args);
    // The parent holds the write end for its whole life: the child sees it
    // close if the parent dies, and reads the handshake steps from it.
    let (from_parent, to_child) = sync::pipe()?;
    let back = if layout.relay || layout.handshake { Some(sync::pipe()?) } else { None };
    if layout.time_by_parent {
        timens::new_time_namespace(args.spec.monotonic, args.spec.boottime)?;
    }
    process::block_for_waiting();
    let flags = args.spec.flags_at_once();
    trace::step(|| format!("clone {}", common::ns::long_options(flags)));
    match process::clone_child(flags) {
        Err(e) => Err(ns::namespace_failure("cannot create namespaces", flags, e)),
        Ok(Forked::Child) => {
            drop(to_child);
            let to_parent = back.map(|(_, write)| write);
            child(&args, plan.is_some(), &from_parent, to_parent.as_ref(), layout)
        }
        Ok(Forked::Parent(pid)) => {
            drop(from_parent);
            let from_child = back.map(|(read, _)| read);
            Parent { args: &args, child: pid, pinned: Vec::new(), pid_file_created: false }.run(
                plan.as_ref(),
                &to_child,
                from_child.as_ref(),
                layout,
            )
        }
    }
}

/// Everything checked before anything is created: the maps, the pin files,
/// the pid file and descriptor.
fn check(args: &Args) -> Result<Option<MapPlan>, Error> {
    let plan = userns::plan_for_caller(&args.spec.maps)?;
    if let Some(file) = &args.pidfile {
        check_pid_file(file)?;
    }
    args.spec.check_pin_files(args.pidfile.as_deref().map(|file| ("--pidfile", file)))?;
    if let Some(fd) = args.pid_fd {
        check_pid_fd(fd)?;
    }
    Ok(plan)
}

/// How this run is put together, decided once from the options (the process
/// layouts are drawn in ARCHITECTURE.md).
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// A time namespace's clock offsets can be set only before a process
    /// lives in it. Root makes it before the clone, and the child is born in
    /// it. Without root it must be owned by the new user namespace: the child
    /// makes it, and the command, to be sure to enter it on every kernel, is
    /// then started as a new process (exec enters it only on recent kernels).
    time_by_parent: bool,
    /// A process of ours (the init, or a relay) starts the command and reports its status.
    relay: bool,
    /// The command's PID goes to a pid file or descriptor.
    report_pid: bool,
    /// The parent pins namespaces or reports the PID after the child's setup.
    handshake: bool,
}

impl Layout {
    fn of(args: &Args) -> Self {
        let time = args.spec.wants(libc::CLONE_NEWTIME);
        let time_by_parent = time && nix::unistd::geteuid().is_root();
        let init = args.spec.wants(libc::CLONE_NEWPID) && !args.as_pid_1;
        let report_pid = args.pidfile.is_some() || args.pid_fd.is_some();
        Self {
            time_by_parent,
            relay: init || (time && !time_by_parent),
            report_pid,
            handshake: !args.spec.pins.is_empty() || report_pid,
        }
    }

    /// The namespaces the child makes with unshare(2) rather than being born
    /// in them: their pins name the `*_for_children` entries.
    fn unshared_by_child(self) -> libc::c_int {
        if self.time_by_parent { 0 } else { libc::CLONE_NEWTIME }
    }
}

fn child(args: &Args, maps: bool, from_parent: &OwnedFd, to_parent: Option<&OwnedFd>, layout: Layout) -> ! {
    let fail = || process::child_exit(common::exit::TOOL_FAILED);
    // The PID goes to the caller through the parent's copy; the command must
    // not hold one, or a caller reading it to EOF waits for the command.
    if let Some(fd) = args.pid_fd {
        // SAFETY: a descriptor the caller gave us for this; the parent keeps its own copy.
        unsafe { libc::close(fd) };
    }
    if maps && sync::expect(from_parent.as_fd(), Step::MapsWritten).is_err() {
        fail();
    }
    let elsewhere = DoneElsewhere { time: layout.time_by_parent, ..DoneElsewhere::default() };
    if let Err(err) =
        process::die_with_parent(from_parent.as_fd()).and_then(|()| common::setup::set_up(&args.spec.inside(elsewhere)))
    {
        process::child_fail(&err);
    }
    if layout.handshake {
        let Some(to_parent) = to_parent else { fail() };
        if sync::send(to_parent.as_fd(), Step::SetUp).is_err() || sync::expect(from_parent.as_fd(), Step::Go).is_err() {
            fail();
        }
    }
    // The child is no process group leader: setsid works for it, and its init's command inherits the session.
    if args.spec.new_session
        && let Err(err) = process::new_session()
    {
        process::child_fail(&err);
    }
    trace::step(|| format!("exec {}", trace::shell_words(&args.command)));
    if layout.relay {
        process::run_init(&args.command, to_parent.map(AsFd::as_fd), |_| {
            if let (true, Some(to_parent)) = (layout.report_pid, to_parent) {
                // The parent reads the command's host PID while it cannot have been reaped yet.
                let _ = sync::send(to_parent.as_fd(), Step::CommandStarted);
                let _ = sync::expect(from_parent.as_fd(), Step::PidReported);
            }
            // The init needs no file from here on: leave them all, so that no process
            // that sees it (the container, through its /proc) finds a way back to the
            // host's files through it. Best effort: without it, mkroot will not mount
            // a /proc that shows it.
            let _ = common::rootfs::seal_away_from_files();
        })
    }
    process::child_fail(&exec::exec_into(&args.command))
}

/// The waiting parent, with what it made, to take back if a later step fails.
struct Parent<'a> {
    args: &'a Args,
    child: libc::pid_t,
    pinned: Vec<(&'a Path, bool)>,
    pid_file_created: bool,
}

impl Parent<'_> {
    fn run(
        mut self,
        plan: Option<&MapPlan>,
        to_child: &OwnedFd,
        from_child: Option<&OwnedFd>,
        layout: Layout,
    ) -> Result<i32, Error> {
        if let Err(err) = self.set_up(plan, to_child, from_child, layout) {
            return Err(self.abort(err));
        }
        let status = process::wait_forwarding(self.child)?;
        let status = match (layout.relay, from_child) {
            (true, Some(fd)) => sync::receive_status(fd.as_fd()).unwrap_or(status),
            _ => status,
        };
        // A pid file we created goes with the command; one the caller made stays.
        self.remove_pid_file();
        Ok(process::mirror(status))
    }

    /// The parent's part of the handshake: maps, pins, the PID.
    fn set_up(
        &mut self,
        plan: Option<&MapPlan>,
        to_child: &OwnedFd,
        from_child: Option<&OwnedFd>,
        layout: Layout,
    ) -> Result<(), Error> {
        if let Some(plan) = plan {
            userns::write_maps(self.child, plan)?;
            let _ = sync::send(to_child.as_fd(), Step::MapsWritten);
        }
        let Some(from_child) = from_child.filter(|_| layout.handshake) else { return Ok(()) };
        if sync::expect(from_child.as_fd(), Step::SetUp).is_err() {
            // The child failed and said why; waiting for it relays its status.
            return Ok(());
        }
        for (ns, file) in &self.args.spec.pins {
            let created = ns::pin(&ns::pin_source(self.child, ns, layout.unshared_by_child()), file)?;
            self.pinned.push((file, created));
        }
        if !layout.relay {
            self.report_pid(self.child)?;
        }
        let _ = sync::send(to_child.as_fd(), Step::Go);
        if layout.relay && layout.report_pid && sync::expect(from_child.as_fd(), Step::CommandStarted).is_ok() {
            self.report_pid(first_child(self.child).unwrap_or(self.child))?;
            let _ = sync::send(to_child.as_fd(), Step::PidReported);
        }
        Ok(())
    }

    /// Kill the child and take back the pins and the pid file.
    fn abort(mut self, err: Error) -> Error {
        // SAFETY: `child` is our unreaped child.
        unsafe { libc::kill(self.child, libc::SIGKILL) };
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.child), None);
        ns::unpin(&self.pinned);
        self.remove_pid_file();
        err
    }

    fn remove_pid_file(&mut self) {
        if let (true, Some(file)) = (self.pid_file_created, &self.args.pidfile) {
            let _ = std::fs::remove_file(file);
            self.pid_file_created = false;
        }
    }

    fn report_pid(&mut self, pid: libc::pid_t) -> Result<(), Error> {
        report_pid(self.args, pid, &mut self.pid_file_created)
    }
}

/// The first child of `pid`, as this PID namespace numbers it: from
/// /proc/PID/task/PID/children where the kernel has it, else by a scan for
/// the process whose parent is `pid`.
fn first_child(pid: libc::pid_t) -> Option<libc::pid_t> {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return text.split_whitespace().next()?.parse().ok();
    }
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let candidate: libc::pid_t = entry.file_name().to_str()?.parse().ok()?;
        let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
        let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:"))?.trim().parse::<libc::pid_t>().ok()?;
        (ppid == pid).then_some(candidate)
    })
}

/// A pid file must be new, or an empty regular file the caller made for us
/// (mktemp): an existing file with content is never overwritten.
fn check_pid_file(file: &Path) -> Result<(), Error> {
    let refuse = |why: String| Error::new("cannot write pid file", file.display(), why);
    let parent = common::parent_dir(file);
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(refuse("its parent is not a directory".to_owned())),
        Err(e) => return Err(refuse(common::io_reason(&e))),
    }
    match std::fs::symlink_metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(refuse(common::io_reason(&e))),
        Ok(m) if !m.is_file() => Err(refuse("not a regular file".to_owned())),
        Ok(m) if m.len() > 0 => Err(refuse("it exists and is not empty (remove it first)".to_owned())),
        Ok(_) => Ok(()),
    }
}

/// `--pid-fd=N` must be open for writing: checked before anything is made.
fn check_pid_fd(fd: i32) -> Result<(), Error> {
    // SAFETY: F_GETFL only reads the descriptor's status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    let why = match flags {
        -1 => "not open",
        f if f & libc::O_ACCMODE == libc::O_RDONLY => "not open for writing",
        _ => return Ok(()),
    };
    Err(Error::new("invalid descriptor", format!("--pid-fd={fd}"), why))
}

fn report_pid(args: &Args, pid: libc::pid_t, pid_file_created: &mut bool) -> Result<(), Error> {
    use std::io::Write;
    let line = format!("{pid}\n");
    if let Some(file) = &args.pidfile {
        let failed = |e: std::io::Error| Error::new("cannot write pid file", file.display(), common::io_reason(&e));
        let mut out = match std::fs::OpenOptions::new().write(true).create_new(true).open(file) {
            Ok(out) => {
                *pid_file_created = true;
                out
            }
            // The empty file the caller made: written, never followed if it became a link.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                use std::os::unix::fs::OpenOptionsExt;
                let out = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(file)
                    .map_err(failed)?;
                if out.metadata().map_err(failed)?.len() > 0 {
                    return Err(Error::new("cannot write pid file", file.display(), "it is no longer empty"));
                }
                out
            }
            Err(e) => return Err(failed(e)),
        };
        out.write_all(line.as_bytes()).map_err(failed)?;
    }
    if let Some(fd) = args.pid_fd {
        // SAFETY: the descriptor was checked to be open; we own it from here on.
        let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        nix::unistd::write(&owned, line.as_bytes())
            .map_err(|e: Errno| Error::sys("cannot write pid to", format!("--pid-fd={fd}"), e))?;
    }
    Ok(())
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
    fn the_seed_chain() {
        let a = args(&["-mupin", "mkroot", "/tmp/r", "sh", "-c", "echo -p"]);
        assert_eq!(
            a.spec.flags,
            libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWNET
        );
        assert_eq!(a.command, ["mkroot", "/tmp/r", "sh", "-c", "echo -p"]);
        assert!(!a.as_pid_1);
    }

    #[test]
    fn process_options() {
        let a = args(&["-p", "--as-pid-1", "--pidfile=/run/x.pid", "--pid-fd=3", "true"]);
        assert!(a.as_pid_1);
        assert_eq!((a.pidfile, a.pid_fd), (Some(PathBuf::from("/run/x.pid")), Some(3)));
        assert!(parse(&["--as-pid-1", "true"]).is_err());
        assert!(parse(&["--pid-fd=x", "true"]).is_err());
        assert!(parse(&["--pid-fd=-1", "true"]).is_err());
    }

    #[test]
    fn usage_errors() {
        let err = parse(&["-mX", "true"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid option '-X'; usage: nsclone [-mupinUCTa] [options] COMMAND [ARG...]");
        assert!(parse(&["-m"]).unwrap_err().to_string().starts_with("no command given"));
        assert!(parse(&["--bogus", "true"]).is_err());
        assert!(parse(&["--help=x"]).is_err());
        assert_eq!(parse(&["-m", "--help"]).unwrap(), Parsed::Help);
        assert_eq!(parse(&["-V"]).unwrap(), Parsed::Version);
        assert!(parse(&["--propagation=weird", "true"]).unwrap_err().to_string().contains("'weird'"));
    }

    #[test]
    fn fuzz_command_lines() {
        let words =
            ["-mupin", "-p", "--as-pid-1", "--pidfile=/x", "--pid-fd=3", "-h", "--net=/n", "-r", "--", "sh", "-c"];
        let mut rng = common::fuzz::Rng::new(11);
        for _ in 0..20_000 {
            let argv = rng.argv(&words, common::fuzz::NASTY, 8);
            if let Ok(Parsed::Run(a)) = parse_args(argv.clone()) {
                // The command is the untouched tail of the command line.
                assert!(argv.ends_with(&a.command), "{argv:?}");
            }
        }
    }

    #[test]
    fn everything_after_the_command_is_untouched() {
        let a = args(&["-m", "--", "--weird-name", "-p"]);
        assert_eq!(a.command, ["--weird-name", "-p"]);
        assert_eq!(a.spec.flags, libc::CLONE_NEWNS);
    }
}

//! cglimit: put the command in a new cgroup below ours, with limits, wait,
//! relay its fate, then end whatever is left in the cgroup and remove it.

#![cfg_attr(not(test), no_main)]

mod limits;

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use common::cgroup::{self, Made, Membership};
use common::cli::{self, Cli, Opt, Parsed};
use common::process::{self, Forked};
use common::values;
use common::{Error, exec, trace};

use limits::{FileWrite, Limits};

common::tool_main!("cglimit", run);

const CLI: Cli = Cli {
    tool: "cglimit",
    synopsis: "cglimit [options] [SIZE] COMMAND [ARG...]",
    help: "the help is rendered from OPTIONS",
};

const HELP_HEAD: &str = "\
Usage:
  cglimit [options] [SIZE] COMMAND [ARG...]

Make a cgroup below our own, with these limits, run COMMAND in it, wait, and
leave the way COMMAND left. Then end whatever is left in the cgroup and
remove it. A leading SIZE is --memory=SIZE. Works on cgroup v1, v2 and
hybrid hosts: each controller where the host has it.
";

const HELP_TAIL: &str = "  -h, --help               show this help and exit
  -V, --version            show the version and exit

Exit status: COMMAND's; 125 cglimit failed; 126 COMMAND cannot run; 127 not found.
";

const LIMITS: &str = "Limits:";
const CGROUP: &str = "The cgroup:";

/// The options, under their headings.
const OPTIONS: [(&str, cli::Flag<Args>); 13] = [
    (
        LIMITS,
        cli::Flag {
            short: Some('m'),
            long: "memory",
            value: Some("SIZE"),
            help: "memory limit (K, M, G; at least 6M)",
            set: |a, v| {
                a.limits.memory = Some(limits::memory_size(v, "--memory")?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: None,
            long: "memory-high",
            value: Some("SIZE"),
            help: "memory above which the kernel reclaims hard",
            set: |a, v| {
                a.limits.memory_high = Some(limits::memory_size(v, "--memory-high")?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: None,
            long: "swap",
            value: Some("SIZE"),
            help: "swap on top of the memory limit (0: none)",
            set: |a, v| {
                a.limits.swap = Some(limits::size(v, "--swap")?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: Some('p'),
            long: "pids",
            value: Some("N|max"),
            help: "how many processes and threads",
            set: |a, v| {
                a.limits.pids = Some(limits::pids(v)?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: Some('c'),
            long: "cpu",
            value: Some("CPUS"),
            help: "CPU time: 0.5, 2, or 150%",
            set: |a, v| {
                a.limits.cpu = Some(limits::cpu(v)?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: None,
            long: "cpu-weight",
            value: Some("N"),
            help: "CPU weight against siblings, 1 to 10000",
            set: |a, v| {
                a.limits.cpu_weight = Some(limits::weight(v, "--cpu-weight")?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: None,
            long: "cpuset",
            value: Some("LIST"),
            help: "the CPUs it may run on, such as 0-1,3",
            set: |a, v| {
                a.limits.cpuset = Some(limits::cpuset(v)?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: None,
            long: "io-weight",
            value: Some("N"),
            help: "I/O weight, 1 to 10000",
            set: |a, v| {
                a.limits.io_weight = Some(limits::weight(v, "--io-weight")?);
                Ok(())
            },
        },
    ),
    (
        LIMITS,
        cli::Flag {
            short: None,
            long: "oom-group",
            value: None,
            help: "an out-of-memory kill ends the whole cgroup",
            set: |a, _| {
                a.limits.oom_group = true;
                Ok(())
            },
        },
    ),
    (
        CGROUP,
        cli::Flag {
            short: None,
            long: "name",
            value: Some("NAME"),
            help: "its name (default cglimit.PID)",
            set: |a, v| {
                a.name = Some(limits::name(v)?);
                Ok(())
            },
        },
    ),
    (
        CGROUP,
        cli::Flag {
            short: None,
            long: "parent",
            value: Some("PATH"),
            help: "make it below PATH, a cgroup below our own",
            set: |a, v| {
                a.parent = Some(PathBuf::from(v));
                Ok(())
            },
        },
    ),
    (
        CGROUP,
        cli::Flag {
            short: None,
            long: "exec",
            value: None,
            help: "move cglimit in, exec COMMAND: no waiting or cleanup",
            set: |a, _| {
                a.exec = true;
                Ok(())
            },
        },
    ),
    (
        CGROUP,
        cli::Flag {
            short: Some('v'),
            long: "verbose",
            value: None,
            help: "trace each step on stderr",
            set: |a, _| {
                a.verbose = true;
                Ok(())
            },
        },
    ),
];

/// `--help`, from [`OPTIONS`].
fn help() -> String {
    format!("{HELP_HEAD}{}{HELP_TAIL}", cli::render_flags(&OPTIONS))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    limits: Limits,
    name: Option<String>,
    parent: Option<PathBuf>,
    exec: bool,
    verbose: bool,
    command: Vec<OsString>,
}

/// A word a user meant as a SIZE: digits first (after blanks), then digits,
/// dots, commas and letters only (`1.5G`, ` 50M`, `50MB`, `99999999T`).
fn almost_a_size(word: &str) -> bool {
    let word = word.trim_start();
    word.starts_with(|c: char| c.is_ascii_digit())
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == ',')
}

/// `cglimit 1.5G cmd`: a command that is no command, but almost a size, was
/// meant as the SIZE: say why it is not one, rather than "command not found".
fn check_not_a_mistyped_size(args: &Args) -> Result<(), Error> {
    let Some(first) = args.command.first().and_then(|f| f.to_str()) else { return Ok(()) };
    if args.limits.memory.is_some()
        || !almost_a_size(first)
        || !common::exec::check_runnable(&args.command).is_err_and(|e| e.code == common::exit::NOT_FOUND)
    {
        return Ok(());
    }
    match limits::memory_size(first, "SIZE") {
        Err(mut err) => {
            err.reason.push_str(" (and no command has that name)");
            Err(err)
        }
        Ok(_) => Ok(()),
    }
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>, Error> {
    let mut a = Args::default();
    let mut rest = match cli::parse_options(&CLI, args, |o, parser| take_option(&mut a, o, parser))? {
        Parsed::Run(rest) => rest,
        Parsed::Help => return Ok(Parsed::Help),
        Parsed::Version => return Ok(Parsed::Version),
    };
    // A leading SIZE: `cglimit 50M COMMAND`. A first word that reads as a
    // size is one (no command is named 50M); `7z` is a command.
    if let Some(first) = rest.first().and_then(|f| f.to_str())
        && first.starts_with(|c: char| c.is_ascii_digit())
        && values::parse_size(first).is_ok()
        && a.limits.memory.is_none()
    {
        a.limits.memory = Some(limits::memory_size(first, "SIZE")?);
        rest.remove(0);
    }
    a.command = rest;
    if a.command.is_empty() {
        return Err(CLI.usage_error("no command given"));
    }
    a.limits.check().map_err(|e| CLI.with_synopsis(e))?;
    Ok(Parsed::Run(a))
}

/// One of cglimit's options, by [`OPTIONS`], with its value; a usage error for anything else.
fn take_option(a: &mut Args, opt: &Opt, parser: &mut lexopt::Parser) -> Result<(), Error> {
    cli::take_flag(&CLI, &OPTIONS, a, opt, parser)
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let parsed = parse_args(argv)?;
    if parsed == Parsed::Help {
        return common::print(&help()).map(|()| 0);
    }
    let Some(args) = CLI.finish(Ok(parsed))? else {
        return Ok(0);
    };
    trace::enable(args.verbose);
    check_not_a_mistyped_size(&args)?;
    let plan = plan(&args)?;
    limits::sweep_stale(&plan);
    if args.exec {
        // Nothing waits on an --exec job: its cgroup is swept only once it is empty.
        let name = args.name.clone().unwrap_or_else(|| format!("cglimit.{}.exec", std::process::id()));
        for m in &make(&plan, &name, &[])? {
            m.join()?;
            trace::step(|| format!("cgroup {}", m.dir.display()));
        }
        return Err(exec::exec_into(&args.command));
    }
    process::block_for_waiting();
    // Before the first cgroup exists, so that there is no moment at which a
    // SIGKILL of ours would leave one behind.
    let name = args.name.clone().unwrap_or_else(|| format!("cglimit.{}", std::process::id()));
    let sweeper = start_sweeper(&plan, &name);
    let made = match make(&plan, &name, sweeper.as_slice()) {
        Ok(made) => made,
        Err(err) => {
            end_sweeper(sweeper);
            return Err(err);
        }
    };
    // Held until we end: a sweep by another cglimit (in any PID namespace) sees us alive.
    let locks: Vec<std::fs::File> = made
        .iter()
        .flat_map(|m| std::iter::once(m.dir.clone()).chain(m.moved.as_ref().map(|moved| moved.leaf().to_path_buf())))
        .filter_map(|dir| limits::lock(&dir))
        .collect();
    let v2 = made.iter().find(|m| m.v2).and_then(Made::open);
    let started = start(&args.command, &made, v2.as_ref());
    let status = match started {
        Ok(child) => wait(child, &args, &made),
        Err(err) => Err(err),
    };
    let report = limits::what_happened(&plan, &made);
    // The sweeper first: in a v2 supervisor leaf, it must have left it before we remove it.
    end_sweeper(sweeper);
    drop(locks);
    for m in made {
        m.end();
    }
    for line in report {
        common::report(&Error::new("", "", line));
    }
    Ok(process::mirror(status?))
}

/// Wait for the command. With --oom-group on v1, where the kernel has no
/// memory.oom.group, watch the OOM kill counter and end the whole cgroup at
/// the first kill, as v2 would.
fn wait(child: libc::pid_t, args: &Args, made: &[Made]) -> Result<i32, Error> {
    let v1_memory = made.iter().find(|m| !m.v2 && m.dir.join("memory.oom_control").exists());
    match (args.limits.oom_group, v1_memory) {
        (true, Some(memory)) => {
            let mut ended = false;
            let mut watch = || {
                if !ended && memory.counter("memory.oom_control", "oom_kill") > 0 {
                    trace::step(|| "OOM kill with --oom-group: ending the cgroup".to_owned());
                    memory.kill_all();
                    ended = true;
                }
            };
            process::wait_forwarding_ticking(child, Some((std::time::Duration::from_millis(20), &mut watch)))
        }
        _ => process::wait_forwarding(child),
    }
}

/// Each hierarchy we use, where the new cgroup goes in it, and the limit
/// files to write there: all checked before anything is made.
struct Plan {
    parents: Vec<(Membership, PathBuf, Vec<FileWrite>)>,
}

fn plan(args: &Args) -> Result<Plan, Error> {
    let hierarchies = cgroup::own();
    let mut parents: Vec<(Membership, PathBuf, Vec<FileWrite>)> = Vec::new();
    for (h, files) in cgroup::limit::place(&hierarchies, args.limits.writes())? {
        let parent = parent_in(&h, args)?;
        parents.push((h, parent, files));
    }
    if parents.is_empty() {
        // No limit asked: a cgroup still groups (and ends) everything the command starts.
        let h = hierarchies.iter().find(|h| h.is_v2()).or(hierarchies.first());
        let h = h.ok_or_else(|| Error::new("cannot find", "/proc/self/cgroup", "no cgroup hierarchy is mounted"))?;
        parents.push((h.clone(), parent_in(h, args)?, Vec::new()));
    }
    Ok(Plan { parents })
}

/// Where the new cgroup goes in hierarchy `h`: below our own, or below `--parent` there.
fn parent_in(h: &Membership, args: &Args) -> Result<PathBuf, Error> {
    match &args.parent {
        Some(p) => limits::inside(&h.dir, p),
        None => Ok(h.dir.clone()),
    }
}

/// Make the cgroup in every hierarchy of the plan and write its limits;
/// on any failure, remove what was made.
/// A helper that ends and removes our cgroups should we be killed with
/// SIGKILL, which leaves us no moment to do it ourselves: it waits on a pidfd
/// of ours, and we end it once we have cleaned up. Not there (None) when it
/// cannot be started; the next cglimit then sweeps what we leave.
fn start_sweeper(plan: &Plan, name: &str) -> Option<libc::pid_t> {
    let me = process::pidfd_open(std::process::id() as libc::pid_t).ok()?;
    match process::fork_quiet() {
        Ok(Forked::Parent(pid)) => Some(pid),
        Ok(Forked::Child) => {
            process::detach_stdio(&[me.as_fd()]);
            let mut fds = [libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&me), events: libc::POLLIN, revents: 0 }];
            process::release_program_pages();
            loop {
                // Until the process the pidfd names exits (or we are killed).
                match process::poll_without_libc(&mut fds) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Ok(1) if fds[0].revents & libc::POLLIN != 0 => break,
                    // Cannot watch: never sweep a cglimit that may still run.
                    _ => process::child_exit(0),
                }
            }
            limits::sweep_left(plan, name);
            process::child_exit(0)
        }
        Err(_) => None,
    }
}

fn end_sweeper(sweeper: Option<libc::pid_t>) {
    if let Some(pid) = sweeper {
        // SAFETY: our own unreaped child (fork_quiet: waited for with __WALL), so its PID is still its.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
        }
    }
}

fn make(plan: &Plan, name: &str, helpers: &[libc::pid_t]) -> Result<Vec<Made>, Error> {
    let mut made: Vec<Made> = Vec::new();
    for (h, parent, writes) in &plan.parents {
        let controllers: std::collections::BTreeSet<&str> = writes.iter().map(|w| w.controller).collect();
        let controllers: Vec<&str> = controllers.into_iter().collect();
        let result = Made::create(parent, name, h.is_v2(), &controllers, helpers).and_then(|m| {
            let m = limits::prepare(m)?;
            for w in writes {
                if let Err(err) = m.set(&w.file, &w.value) {
                    m.end();
                    return Err(err);
                }
            }
            Ok(m)
        });
        match result {
            Ok(m) => made.push(m),
            Err(err) => {
                for m in made {
                    m.end();
                }
                return Err(err);
            }
        }
    }
    Ok(made)
}

/// Start the command in the cgroups: born in the v2 one where the kernel
/// can (CLONE_INTO_CGROUP), joining the others (writing 0 to `tasks`, the
/// cheap way on v1) before exec. It dies with us (PDEATHSIG).
fn start(command: &[OsString], made: &[Made], v2: Option<&OwnedFd>) -> Result<libc::pid_t, Error> {
    let (from_parent, to_child) = common::sync::pipe()?;
    let born_in = v2.and_then(|fd| process::fork_into_cgroup(fd.as_fd()).ok().map(|f| (f, true)));
    let forked = match born_in {
        Some(f) => f,
        None => (process::fork().map_err(|e| Error::sys("cannot fork", "the command", e))?, false),
    };
    match forked {
        (Forked::Parent(pid), _) => {
            drop(from_parent);
            // The write end stays open while we live: the child checks it after PDEATHSIG.
            std::mem::forget(to_child);
            Ok(pid)
        }
        (Forked::Child, born_in_v2) => {
            drop(to_child);
            if let Err(err) = process::die_with_parent(from_parent.as_fd()) {
                process::child_fail(&err);
            }
            for m in made.iter().filter(|m| !(m.v2 && born_in_v2)) {
                if let Err(err) = m.join() {
                    process::child_fail(&err);
                }
            }
            trace::step(|| format!("exec {}", trace::shell_words(command)));
            process::child_fail(&exec::exec_into(command))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed<Args>, Error> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn one_table_drives_the_parser_and_the_help() {
        let text = help();
        for (_, o) in &OPTIONS {
            assert!(text.contains(&format!("--{}", o.long)), "{} not in --help", o.long);
            let sample = match o.long {
                "memory" | "memory-high" => "64M",
                "swap" => "0",
                "cpuset" | "cpu" => "1",
                "name" | "parent" => "x",
                _ => "5",
            };
            let arg = if o.value.is_some() { format!("--{}={sample}", o.long) } else { format!("--{}", o.long) };
            // --swap and --oom-group go with a memory limit.
            let parsed = parse(&["-m64M", &arg, "true"]);
            assert!(matches!(parsed, Ok(Parsed::Run(_))), "{arg}: {parsed:?}");
        }
    }

    #[test]
    fn almost_sizes_are_told_apart() {
        for word in ["1.5G", " 50M", "50MB", "9999999999999999999999T", "7z", "1,5G"] {
            assert!(almost_a_size(word), "{word}");
        }
        for word in ["x50M", "50-M", "", "./1G", "1G/x"] {
            assert!(!almost_a_size(word), "{word}");
        }
    }

    #[test]
    fn a_leading_size_is_the_memory_limit() {
        let Ok(Parsed::Run(a)) = parse(&["50M", "nsclone", "-mupin", "sh"]) else { panic!() };
        assert_eq!((a.limits.memory, a.command.len()), (Some(52_428_800), 3));
        // A command whose name starts with a digit but is no size is the command.
        let Ok(Parsed::Run(a)) = parse(&["7z"]) else { panic!() };
        assert_eq!((a.limits.memory, a.command), (None, vec![OsString::from("7z")]));
    }

    #[test]
    fn options() {
        let Ok(Parsed::Run(a)) =
            parse(&["-m", "1G", "--pids=10", "-c", "150%", "--swap=0", "--name=box", "-v", "--", "true"])
        else {
            panic!()
        };
        assert_eq!((a.limits.memory, a.limits.pids, a.limits.swap), (Some(1 << 30), Some(Some(10)), Some(Some(0))));
        assert_eq!((a.limits.cpu, a.name.as_deref(), a.verbose), (Some(150_000), Some("box"), true));
        assert_eq!(a.command, ["true"]);
    }

    #[test]
    fn bad_values_name_themselves() {
        let cases = [
            (&["--memory=0", "true"][..], "invalid memory limit: '0': below the minimum of 6M"),
            (&["-m", "1K", "true"], "invalid memory limit: '1K': below the minimum of 6M"),
            (&["--cpu=0", "true"], "invalid CPU limit: '0': must be more than 0"),
            (&["--cpu=-1", "true"], "invalid CPU limit: '-1'"),
            (&["--cpu=lots", "true"], "invalid CPU limit: 'lots'"),
            (&["--pids=ten", "true"], "invalid pids limit: 'ten'"),
            (&["--name=a/b", "true"], "invalid cgroup name: 'a/b'"),
            (&["--name=..", "true"], "invalid cgroup name: '..'"),
            (&["--name=", "true"], "invalid cgroup name: ''"),
            (&["--cpu-weight=0", "true"], "invalid --cpu-weight: '0'"),
            (&["--cpuset=1-a", "true"], "invalid CPU list: '1-a'"),
        ];
        for (args, start) in cases {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.starts_with(start), "{args:?}: {err}");
        }
        assert!(parse(&["50M"]).unwrap_err().to_string().starts_with("no command given"));
    }

    #[test]
    fn fuzz_command_lines() {
        let words = ["50M", "-m", "1G", "--pids=5", "-c", "0.5", "--swap=0", "--name=x", "--exec", "--", "sh", "-c"];
        let mut rng = common::fuzz::Rng::new(23);
        for _ in 0..20_000 {
            let argv = rng.argv(&words, common::fuzz::NASTY, 8);
            if let Ok(Parsed::Run(a)) = parse_args(argv.clone()) {
                assert!(!a.command.is_empty() && argv.ends_with(&a.command), "{argv:?}");
            }
        }
    }
}

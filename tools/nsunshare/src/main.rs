//! nsunshare: move this process into new namespaces, then exec the command
//! (same PID, no waiting parent).

#![cfg_attr(not(test), no_main)]

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use common::cli::namespaces::{DoneElsewhere, Spec};
use common::cli::{Cli, Parsed};
use common::process::{self, Forked};
use common::sync::{self, Step};
use common::userns::{self, MapPlan, MapWriter};
use common::{Error, exec, exit, ns, trace};

common::tool_main!("nsunshare", run);

const CLI: Cli = Cli {
    tool: "nsunshare",
    synopsis: "nsunshare [-mupinUCTa] [options] COMMAND [ARG...]",
    help: concat!(
        "\
Usage:
  nsunshare [options] COMMAND [ARG...]

Move this process into new namespaces, then execute COMMAND in its place:
same PID, nothing left waiting. A new PID or time namespace applies to the
children of COMMAND (and a time namespace to COMMAND itself, at exec); for a
PID namespace a holder process is its PID 1 for as long as COMMAND runs, so
COMMAND's children can fork. Use nsclone to run COMMAND itself inside a new
PID namespace.

",
        common::namespace_options_help!(),
        "
  -h, --help               show this help and exit
  -V, --version            show the version and exit

Exit status: COMMAND's; 125 nsunshare failed; 126 COMMAND cannot run; 127 not found.
"
    ),
};

#[derive(Debug, PartialEq, Eq)]
struct Args {
    spec: Spec,
    command: Vec<OsString>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>, Error> {
    Ok(match common::cli::namespaces::parse_line(&CLI, args, |_, _| Ok(false))? {
        Parsed::Run((spec, command)) => Parsed::Run(Args { spec, command }),
        Parsed::Help => Parsed::Help,
        Parsed::Version => Parsed::Version,
    })
}

/// Whether the process may write its own maps from inside the new user
/// namespace: only a single line mapping its own uid (and gid).
fn self_writable(plan: &MapPlan) -> bool {
    plan.writer == MapWriter::Direct
        && plan.only_own_ids(nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let Some(args) = CLI.finish(parse_args(argv))? else {
        return Ok(0);
    };
    trace::enable(args.spec.verbose);
    let spec = &args.spec;
    let plan = userns::plan_for_caller(&spec.maps)?;
    spec.check_pin_files(None)?;
    // Decided before the unshare: inside the new user namespace our ids read as unmapped.
    let own_maps = plan.as_ref().filter(|p| self_writable(p));
    let helper_maps = plan.as_ref().filter(|p| !self_writable(p));
    // Pins must be made in our mount namespace as it is now, and maps other
    // than our own id by a process outside the new user namespace: a helper,
    // forked before unshare, does both.
    let helper = if helper_maps.is_some() || !spec.pins.is_empty() {
        Some(Helper::start(helper_maps, &spec.pins)?)
    } else {
        None
    };
    let flags = spec.flags_at_once();
    trace::step(|| format!("unshare {}", common::ns::long_options(flags)));
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(flags)) {
        if let Some(h) = helper {
            h.abandon();
        }
        return Err(ns::namespace_failure("cannot create namespaces", flags, e));
    }
    let helper = match helper {
        Some(h) => Some(h.maps()?),
        None => None,
    };
    if let Some(plan) = own_maps {
        userns::write_maps(std::process::id() as libc::pid_t, plan)?;
    }
    // /proc for a new PID namespace must be mounted from inside it: the holder does it.
    let new_pid = spec.wants(libc::CLONE_NEWPID);
    common::setup::set_up(&spec.inside(DoneElsewhere { mount_proc: new_pid, ..DoneElsewhere::default() }))?;
    if new_pid {
        start_holder(spec.mount_proc.as_deref())?;
    }
    // After the holder: the kernel shows pid_for_children only once its PID 1 exists.
    if let Some(h) = helper {
        h.pins()?;
    }
    if spec.new_session {
        process::new_session()?;
    }
    trace::step(|| format!("exec {}", trace::shell_words(&args.command)));
    Err(exec::exec_into(&args.command))
}

/// The helper process: it stays in our original namespaces, writes the maps
/// we cannot write ourselves, and pins the new namespaces.
struct Helper {
    pid: libc::pid_t,
    to_helper: OwnedFd,
    from_helper: OwnedFd,
}

impl Helper {
    fn start(plan: Option<&MapPlan>, pins: &[(&'static common::ns::Namespace, PathBuf)]) -> Result<Self, Error> {
        let (from_parent, to_helper) = sync::pipe()?;
        let (from_helper, to_parent) = sync::pipe()?;
        match process::fork().map_err(|e| Error::sys("cannot fork", "helper", e))? {
            Forked::Parent(pid) => Ok(Self { pid, to_helper, from_helper }),
            Forked::Child => {
                drop((to_helper, from_helper));
                let parent = nix::unistd::getppid().as_raw();
                if let Err(err) = process::die_with_parent(from_parent.as_fd()) {
                    process::child_fail(&err);
                }
                if sync::expect(from_parent.as_fd(), Step::NamespacesMade).is_err() {
                    process::child_exit(exit::TOOL_FAILED);
                }
                if let Some(plan) = plan
                    && let Err(err) = userns::write_maps(parent, plan)
                {
                    process::child_fail(&err);
                }
                if sync::send(to_parent.as_fd(), Step::MapsWritten).is_err()
                    || sync::expect(from_parent.as_fd(), Step::Pin).is_err()
                {
                    process::child_exit(exit::TOOL_FAILED);
                }
                let mut pinned: Vec<(&Path, bool)> = Vec::new();
                // nsunshare makes every namespace with unshare(2).
                let unshared = libc::CLONE_NEWPID | libc::CLONE_NEWTIME;
                for (ns, file) in pins {
                    match ns::pin(&ns::pin_source(parent, ns, unshared), file) {
                        Ok(created) => pinned.push((file, created)),
                        Err(err) => {
                            ns::unpin(&pinned);
                            process::child_fail(&err);
                        }
                    }
                }
                process::child_exit(0)
            }
        }
    }

    /// The namespaces exist: write the maps.
    fn maps(self) -> Result<Self, Error> {
        let sent = sync::send(self.to_helper.as_fd(), Step::NamespacesMade).is_ok();
        if !sent || sync::expect(self.from_helper.as_fd(), Step::MapsWritten).is_err() {
            return Err(self.fail());
        }
        Ok(self)
    }

    /// Setup done: pin, and wait for the helper to finish.
    fn pins(self) -> Result<(), Error> {
        let _ = sync::send(self.to_helper.as_fd(), Step::Pin);
        process::reap_helper(self.pid, "helper")
    }

    /// The helper has failed: reap it, for its own report.
    fn fail(self) -> Error {
        process::reap_helper(self.pid, "helper").err().unwrap_or_else(Error::reported)
    }

    fn abandon(self) {
        drop(self.to_helper);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

/// PID 1 of the new PID namespace, for as long as we (then the command) live:
/// it reaps orphans there, so the command's children can keep forking. Only
/// we can fork it (a PID namespace takes no process from outside before its
/// PID 1 exists), so it is the command's child; but a quiet one, that sends no
/// SIGCHLD and that wait(2) does not report (a "clone" child, waited for only
/// with __WALL): a command that waits until no child is left returns once its
/// own are done. It watches the command through a pidfd (PDEATHSIG before
/// Linux 5.3) and leaves when the command exits, which ends the namespace.
fn start_holder(mount_proc: Option<&Path>) -> Result<(), Error> {
    let command = process::pidfd_open(nix::unistd::getpid().as_raw()).ok();
    let (from_parent, to_holder) = sync::pipe()?;
    let (from_holder, to_parent) = sync::pipe()?;
    match process::fork_quiet().map_err(|e| Error::sys("cannot fork", "PID 1 holder", e))? {
        Forked::Parent(pid) => {
            drop((from_parent, to_parent));
            if sync::expect(from_holder.as_fd(), Step::HolderUp).is_err() {
                return Err(process::reap_helper(pid, "PID 1 holder").err().unwrap_or_else(Error::reported));
            }
            // The write end closes at exec; the holder checked it at start and now watches the pidfd.
            drop(to_holder);
            Ok(())
        }
        Forked::Child => {
            drop((to_holder, from_holder));
            if let Err(err) = process::die_with_parent(from_parent.as_fd()) {
                process::child_fail(&err);
            }
            if let Some(dir) = mount_proc
                && let Err(err) = common::mount::mount_proc(dir)
            {
                process::child_fail(&err);
            }
            let _ = sync::send(to_parent.as_fd(), Step::HolderUp);
            drop((from_parent, to_parent));
            // It needs no file any more: leave them all, so that it leads nowhere (see mkroot).
            let _ = common::rootfs::seal_away_from_files();
            let keep: Vec<_> = command.iter().map(AsFd::as_fd).collect();
            process::detach_stdio(&keep);
            process::hold_while(command)
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
    fn flags_then_command() {
        let Ok(Parsed::Run(a)) = parse(&["-n", "--hostname=x", "ip", "-br", "link"]) else { panic!() };
        assert_eq!(a.spec.flags, libc::CLONE_NEWNET | libc::CLONE_NEWUTS);
        assert_eq!(a.command, ["ip", "-br", "link"]);
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&["-n"]).unwrap_err().to_string().starts_with("no command given"));
        assert!(parse(&["-nZ", "true"]).unwrap_err().to_string().starts_with("invalid option '-Z'"));
        assert!(parse(&["--as-pid-1", "true"]).is_err());
        assert_eq!(parse(&["--help"]).unwrap(), Parsed::Help);
        assert_eq!(parse(&["-V", "x"]).unwrap(), Parsed::Version);
    }
}

//! `create --bundle DIR [--pid-file FILE] [--console-socket SOCKET] ID`, and
//! `run` (the same, then start, wait, delete: the container's status is ours).

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use common::Error;
use common::cli::Flag;

use super::{Global, dir, one_id, parse, path};
use crate::{config, console, container};

#[derive(Debug, Default)]
pub struct CreateArgs {
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    preserve_fds: u32,
    /// run's: return once started.
    detach: bool,
    /// run's: leave the stopped container for `delete`.
    keep: bool,
}

const BUNDLE: (&str, Flag<CreateArgs>) = (
    "",
    Flag {
        short: Some('b'),
        long: "bundle",
        value: Some("DIR"),
        help: "the bundle (config.json and the root); default .",
        set: |a, v| {
            a.bundle = path(v);
            Ok(())
        },
    },
);

const PID_FILE: (&str, Flag<CreateArgs>) = (
    "",
    Flag {
        short: None,
        long: "pid-file",
        value: Some("FILE"),
        help: "write the process's PID there",
        set: |a, v| {
            a.pid_file = path(v);
            Ok(())
        },
    },
);

const CONSOLE_SOCKET: (&str, Flag<CreateArgs>) = (
    "",
    Flag {
        short: None,
        long: "console-socket",
        value: Some("SOCKET"),
        help: "send the pty's master there (process.terminal)",
        set: |a, v| {
            a.console_socket = path(v);
            Ok(())
        },
    },
);

const PRESERVE_FDS: (&str, Flag<CreateArgs>) = (
    "",
    Flag {
        short: None,
        long: "preserve-fds",
        value: Some("N"),
        help: "pass descriptors 3 to 2+N on",
        set: |a, v| {
            a.preserve_fds = super::count(v, "--preserve-fds")?;
            Ok(())
        },
    },
);

/// runc's --no-pivot makes the root with MS_MOVE and chroot, which a process
/// holding CAP_SYS_CHROOT can leave; nsrun always pivots, and says so.
const NO_PIVOT: (&str, Flag<CreateArgs>) = (
    "",
    Flag {
        short: None,
        long: "no-pivot",
        value: None,
        help: "refused: a chroot can be left; nsrun always pivots",
        set: |_, _| {
            Err(Error::new(
                "",
                "--no-pivot",
                "not supported: a root made by chroot can be left, nsrun always uses pivot_root",
            ))
        },
    },
);

const NO_NEW_KEYRING: (&str, Flag<CreateArgs>) = (
    "",
    Flag {
        short: None,
        long: "no-new-keyring",
        value: None,
        help: "keep the caller's session keyring (nsrun makes none)",
        set: |_, _| Ok(()),
    },
);

pub const CREATE: [(&str, Flag<CreateArgs>); 6] =
    [BUNDLE, PID_FILE, CONSOLE_SOCKET, PRESERVE_FDS, NO_PIVOT, NO_NEW_KEYRING];

pub const RUN: [(&str, Flag<CreateArgs>); 8] = [
    BUNDLE,
    PID_FILE,
    CONSOLE_SOCKET,
    PRESERVE_FDS,
    NO_PIVOT,
    NO_NEW_KEYRING,
    (
        "",
        Flag {
            short: Some('d'),
            long: "detach",
            value: None,
            help: "return once it runs (a terminal then needs --console-socket)",
            set: |a, _| {
                a.detach = true;
                Ok(())
            },
        },
    ),
    (
        "",
        Flag {
            short: None,
            long: "keep",
            value: None,
            help: "leave it, stopped, for delete",
            set: |a, _| {
                a.keep = true;
                Ok(())
            },
        },
    ),
];

/// runc's words for a terminal that would have nobody to hold its master.
pub const TTY_WITHOUT_SOCKET: &str = "cannot allocate tty if runc will detach without setting console socket";
/// And for a socket nobody would send a master to.
pub const SOCKET_WITHOUT_TTY: &str = "cannot use console socket if runc will not detach or allocate tty";

/// Where the pty's master goes: the engine's socket, nsrun's own relay (a
/// foreground run with no socket, as runc does), or nowhere (no terminal).
pub fn console_for(
    terminal: bool,
    socket: Option<&std::path::Path>,
    foreground: bool,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>), Error> {
    match (terminal, socket) {
        (true, Some(path)) => Ok((Some(console::connect(path)?), None)),
        (true, None) if foreground => {
            let (ours, theirs) = console::pair()?;
            Ok((Some(theirs), Some(ours)))
        }
        (true, None) => Err(Error::new("", "", TTY_WITHOUT_SOCKET)),
        (false, Some(_)) => Err(Error::new("", "", SOCKET_WITHOUT_TTY)),
        (false, None) => Ok((None, None)),
    }
}

pub fn create(words: &[OsString], global: &Global, run: bool) -> Result<i32, Error> {
    let (command, table): (_, &[_]) = if run { ("run", &RUN) } else { ("create", &CREATE) };
    let Some((args, operands)) = parse(command, table, words, false)? else { return Ok(0) };
    let id = one_id(command, &operands)?;
    let bundle = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = bundle.join("config.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| Error::new("cannot read", path.display(), common::io_reason(&e)))?;
    let config =
        config::Config::parse(&text).map_err(|e| Error::new("invalid config", path.display(), e.to_string()))?;
    common::trace::step(|| config::summary(&config));
    for m in &config.mounts {
        common::trace::step(|| format!("# mount {}: {:?}", m.destination, m.plan));
    }
    let foreground = run && !args.detach;
    let (console, relay) = console_for(config.process.terminal, args.console_socket.as_deref(), foreground)?;
    let preserve_fds = args.preserve_fds.saturating_add(container::listen_fds());
    let agent = agent(&config)?;
    let files = container::Files { pid_file: args.pid_file.as_deref(), console, preserve_fds, agent };
    if foreground {
        // create, start, wait (passing signals on), delete: the container's status is ours.
        common::process::block_for_waiting();
    }
    container::create(&global.root, &id, &bundle, files, (&config, &text, global.driver))?;
    let dir = dir(global, &id);
    if !run {
        return Ok(0);
    }
    if args.detach {
        return container::start(&dir, &id).map(|()| 0).inspect_err(|_| {
            let _ = container::delete(&dir, &id, true);
        });
    }
    container::run(&dir, &id, args.keep, relay)
}

/// linux.seccomp.listenerPath, connected now: the process sends its listener there at start.
pub fn agent(config: &config::Config) -> Result<Option<OwnedFd>, Error> {
    config
        .linux
        .seccomp
        .as_ref()
        .and_then(|s| s.listener_path.as_deref())
        .map(|p| console::connect(std::path::Path::new(p)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_goes_to_the_socket_to_nsruns_relay_or_is_refused_in_runcs_words() {
        let (to_engine, relay) = console_for(true, None, true).unwrap();
        assert!(to_engine.is_some() && relay.is_some(), "a foreground run relays");
        let err = console_for(true, None, false).unwrap_err().to_string();
        assert_eq!(err, TTY_WITHOUT_SOCKET);
        let err = console_for(false, Some(std::path::Path::new("/nonexistent")), true).unwrap_err().to_string();
        assert_eq!(err, SOCKET_WITHOUT_TTY);
        let (none, no_relay) = console_for(false, None, true).unwrap();
        assert!(none.is_none() && no_relay.is_none());
        assert!(console_for(true, Some(std::path::Path::new("/nonexistent/socket")), false).is_err());
    }

    #[test]
    fn run_takes_create_options_and_its_own() {
        let words: Vec<OsString> =
            ["-d", "--keep", "-b", "/b", "--pid-file=/p", "c1"].iter().map(OsString::from).collect();
        let (args, operands) = parse("run", &RUN, &words, false).unwrap().unwrap();
        assert!(args.detach && args.keep);
        assert_eq!((args.bundle, args.pid_file, operands), (path("/b"), path("/p"), vec![OsString::from("c1")]));
        let err = parse("create", &CREATE, &words, false).unwrap_err().to_string();
        assert!(err.starts_with("create: invalid option '-d'"), "{err}");
        let err = parse("run", &RUN, &["--no-pivot".into(), "c1".into()], false).unwrap_err().to_string();
        assert!(err.starts_with("--no-pivot: not supported"), "{err}");
    }
}

//! `create --bundle DIR [--pid-file FILE] [--console-socket SOCKET] ID`, and
//! `run` (the same, then start, wait, delete: the container's status is ours).

use std::ffi::OsString;
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
}

pub const CREATE: [(&str, Flag<CreateArgs>); 6] = [
    (
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
    ),
    (
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
    ),
    (
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
    ),
    (
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
    ),
    (
        "",
        Flag { short: None, long: "no-pivot", value: None, help: "accepted; nsrun always pivots", set: |_, _| Ok(()) },
    ),
    (
        "",
        Flag {
            short: None,
            long: "no-new-keyring",
            value: None,
            help: "accepted; no keyring is made",
            set: |_, _| Ok(()),
        },
    ),
];

pub fn create(words: &[OsString], global: &Global, run: bool) -> Result<i32, Error> {
    let command = if run { "run" } else { "create" };
    let Some((args, operands)) = parse(command, &CREATE, words, false)? else { return Ok(0) };
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
    let terminal = config.process.terminal;
    let console = match (&args.console_socket, terminal) {
        (Some(path), true) => Some(console::connect(path)?),
        (None, true) => {
            return Err(Error::new("invalid config", "process.terminal", "a terminal needs --console-socket"));
        }
        (_, false) => None,
    };
    let preserve_fds = args.preserve_fds.saturating_add(container::listen_fds());
    let files = container::Files { pid_file: args.pid_file.as_deref(), console, preserve_fds };
    if run {
        // create, start, wait (passing signals on), delete: the container's status is ours.
        common::process::block_for_waiting();
    }
    container::create(&global.root, &id, &bundle, files, (&config, &text))?;
    if !run {
        return Ok(0);
    }
    container::run(&dir(global, &id), &id)
}

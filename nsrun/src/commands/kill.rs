//! `kill [--all] ID [SIGNAL]`.

use std::ffi::OsString;

use common::Error;
use common::cli::Flag;

use super::{Global, dir, id_of, parse};
use crate::{CLI, container};

#[derive(Debug, Default)]
pub struct KillArgs {
    all: bool,
}

pub const KILL: [(&str, Flag<KillArgs>); 1] = [(
    "",
    Flag {
        short: Some('a'),
        long: "all",
        value: None,
        help: "to every process in the container's cgroup",
        set: |a, _| {
            a.all = true;
            Ok(())
        },
    },
)];

pub fn kill(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("kill", &KILL, words, false)? else { return Ok(0) };
    let (id, signal) = match operands.as_slice() {
        [id] => (id_of(id)?, libc::SIGTERM),
        [id, sig] => (id_of(id)?, container::parse_signal(&sig.to_string_lossy())?),
        _ => return Err(CLI.usage_error("kill takes an id and a signal")),
    };
    container::kill(&dir(global, &id), &id, signal, args.all).map(|()| 0)
}

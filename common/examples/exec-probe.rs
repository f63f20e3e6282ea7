//! exec-probe: the smallest chain link built on `common`, used by the
//! integration tests of `exec_into`. It can change its own signal state first
//! (`--ignore-pipe`, `--block-usr1`), as a tool might, to show that the command
//! gets the caller's state back.

#![cfg_attr(not(test), no_main)]

use std::ffi::OsString;

use common::Error;
use common::cli::{self, Cli, Parsed};
use lexopt::prelude::*;

common::tool_main!("exec-probe", run);

const CLI: Cli = Cli {
    tool: "exec-probe",
    synopsis: "exec-probe [--ignore-pipe] [--block-usr1] COMMAND [ARG...]",
    help: "Usage: exec-probe [--ignore-pipe] [--block-usr1] COMMAND [ARG...]\n",
};

fn parse(args: Vec<OsString>) -> Result<Parsed<(bool, bool, Vec<OsString>)>, Error> {
    let usage = |e: lexopt::Error| CLI.usage_error(e);
    let mut parser = lexopt::Parser::from_args(args);
    let (mut ignore_pipe, mut block_usr1) = (false, false);
    let mut asked = None;
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Long("ignore-pipe") => ignore_pipe = true,
            Long("block-usr1") => block_usr1 = true,
            Short('h') | Long("help") => asked = asked.or(Some(Parsed::Help)),
            Short('V') | Long("version") => asked = asked.or(Some(Parsed::Version)),
            Value(_) if asked.is_some() => break,
            Value(first) => {
                return Ok(Parsed::Run((ignore_pipe, block_usr1, cli::command(&mut parser, first).map_err(usage)?)));
            }
            _ => return Err(usage(arg.unexpected())),
        }
    }
    Ok(asked.unwrap_or(Parsed::Run((ignore_pipe, block_usr1, Vec::new()))))
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let Some((ignore_pipe, block_usr1, command)) = CLI.finish(parse(argv))? else { return Ok(0) };
    if ignore_pipe {
        common::signals::ignore(libc::SIGPIPE);
    }
    if block_usr1 {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGUSR1);
        set.thread_block().map_err(|e| Error::sys("cannot block", "SIGUSR1", e))?;
    }
    Err(common::exec::exec_into(&command))
}

//! The commands with an id and little else: start, state, delete, ps, pause
//! and resume, features.

use std::ffi::OsString;

use common::Error;
use common::cli::Flag;

use super::{Global, dir, one_id, parse};
use crate::container;

pub fn start(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some(((), operands)) = parse("start", &[], words, false)? else { return Ok(0) };
    let id = one_id("start", &operands)?;
    container::start(&dir(global, &id), &id).map(|()| 0)
}

pub fn state(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some(((), operands)) = parse("state", &[], words, false)? else { return Ok(0) };
    let id = one_id("state", &operands)?;
    let dir = dir(global, &id);
    let state = container::State::read(&dir, &id)?;
    let text = serde_json::to_string_pretty(&state.document(&dir)).unwrap_or_default();
    common::print(&format!("{text}\n")).map(|()| 0)
}

#[derive(Debug, Default)]
pub struct DeleteArgs {
    force: bool,
}

pub const DELETE: [(&str, Flag<DeleteArgs>); 1] = [(
    "",
    Flag {
        short: Some('f'),
        long: "force",
        value: None,
        help: "end a running (or paused) container first",
        set: |a, _| {
            a.force = true;
            Ok(())
        },
    },
)];

pub fn delete(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("delete", &DELETE, words, false)? else { return Ok(0) };
    let id = one_id("delete", &operands)?;
    container::delete(&dir(global, &id), &id, args.force).map(|()| 0)
}

#[derive(Debug, Default)]
pub struct PsArgs {
    pub json: bool,
}

pub const PS: [(&str, Flag<PsArgs>); 1] = [(
    "",
    Flag {
        short: Some('f'),
        long: "format",
        value: Some("FORMAT"),
        help: "table (the default) or json",
        set: |a, v| {
            a.json = match v {
                "json" => true,
                "table" => false,
                other => {
                    return Err(Error::new("invalid --format", common::error::quoted(other), "expected table or json"));
                }
            };
            Ok(())
        },
    },
)];

pub fn ps(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("ps", &PS, words, false)? else { return Ok(0) };
    let id = one_id("ps", &operands)?;
    let pids = container::processes(&dir(global, &id), &id)?;
    let text = if args.json {
        format!("{}\n", serde_json::json!(pids))
    } else {
        std::iter::once("PID".to_owned()).chain(pids.iter().map(i32::to_string)).map(|l| l + "\n").collect()
    };
    common::print(&text).map(|()| 0)
}

/// `pause` (`freeze`) and `resume`.
pub fn pause(words: &[OsString], global: &Global, freeze: bool) -> Result<i32, Error> {
    let command = if freeze { "pause" } else { "resume" };
    let Some(((), operands)) = parse(command, &[], words, false)? else { return Ok(0) };
    let id = one_id(command, &operands)?;
    container::freeze(&dir(global, &id), &id, freeze).map(|()| 0)
}

pub fn features(words: &[OsString]) -> Result<i32, Error> {
    let Some(((), operands)) = parse("features", &[], words, false)? else { return Ok(0) };
    if !operands.is_empty() {
        return Err(crate::CLI.usage_error("features takes no operand"));
    }
    let text = serde_json::to_string_pretty(&crate::features()).unwrap_or_default();
    common::print(&format!("{text}\n")).map(|()| 0)
}

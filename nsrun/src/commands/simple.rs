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
            a.json = json_format(v)?;
            Ok(())
        },
    },
)];

/// `ps [-f FORMAT] ID [--] [PS-ARGS...]`: as runc, the JSON list of PIDs, or
/// ps(1)'s own table (`-ef` by default) cut to the container's rows.
/// A --format value: true for json, false for table.
pub fn json_format(v: &str) -> Result<bool, Error> {
    match v {
        "json" => Ok(true),
        "table" => Ok(false),
        other => Err(Error::new("invalid --format", common::error::quoted(other), "expected table or json")),
    }
}

pub fn ps(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("ps", &PS, words, true)? else { return Ok(0) };
    let Some((id, rest)) = operands.split_first() else {
        return Err(crate::CLI.usage_error("ps takes a container id"));
    };
    let id = super::id_of(id)?;
    let pids = container::processes(&dir(global, &id), &id)?;
    if args.json {
        return common::print(&format!("{}\n", serde_json::json!(pids))).map(|()| 0);
    }
    let ps_args: Vec<OsString> = match rest {
        [dashes, more @ ..] if dashes == "--" => more.to_vec(),
        all => all.to_vec(),
    };
    let ps_args = if ps_args.is_empty() { vec![OsString::from("-ef")] } else { ps_args };
    let output = std::process::Command::new("ps")
        .args(&ps_args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Error::new("cannot run", "ps", common::io_reason(&e)))?;
    if !output.status.success() {
        return Err(Error::new("cannot list", common::trace::shell_words(&ps_args), "ps failed"));
    }
    let table = String::from_utf8_lossy(&output.stdout);
    let rows = container_rows(&table, &pids).map_err(|why| Error::new("cannot read", "ps's output", why))?;
    common::print(&rows).map(|()| 0)
}

/// ps(1)'s header, and its rows whose PID column names one of `pids`.
fn container_rows(table: &str, pids: &[libc::pid_t]) -> Result<String, &'static str> {
    let mut lines = table.lines();
    let header = lines.next().ok_or("no header")?;
    let column = header.split_whitespace().position(|h| h == "PID").ok_or("no PID column (give ps -o pid,...)")?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<libc::pid_t>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_keeps_the_header_and_the_containers_rows() {
        let table = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:01 ? 00:00:00 sleep 9\nroot 420 1 0 10:01 ? 00:00:00 x 42\n";
        assert_eq!(
            container_rows(table, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:01 ? 00:00:00 sleep 9\n"
        );
        assert!(container_rows("USER COMMAND\nroot x\n", &[1]).is_err());
        assert!(container_rows("", &[1]).is_err());
    }
}

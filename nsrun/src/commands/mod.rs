//! One file per command of runc's command line: its option table, its
//! operands, then one call into `container`. `run` parses the global options
//! and hands the command's own words here.

mod checkpoint;
mod create;
mod exec;
mod info;
mod kill;
mod simple;
mod update;

use std::ffi::OsString;
use std::path::PathBuf;

use common::Error;
use common::cli::{self, Flag, Opt};
use common::error::quoted;

use crate::CLI;

/// What every command gets: where containers' state lives.
pub struct Global {
    pub root: PathBuf,
    /// The criu executable checkpoint and restore run.
    pub criu: PathBuf,
    /// Who makes the containers' cgroups (--systemd-cgroup: systemd).
    pub driver: crate::container::Driver,
}

/// A command of runc's command line: how `--help` shows it, and how it runs.
pub struct Command {
    pub name: &'static str,
    /// What follows the name in its usage line.
    pub usage: &'static str,
    pub summary: &'static str,
    /// Its option table, as `--help` lists it.
    pub options: fn() -> String,
    run: fn(&[OsString], &Global) -> Result<i32, Error>,
}

const fn command(
    name: &'static str,
    usage: &'static str,
    summary: &'static str,
    options: fn() -> String,
    run: fn(&[OsString], &Global) -> Result<i32, Error>,
) -> Command {
    Command { name, usage, summary, options, run }
}

fn no_options() -> String {
    String::new()
}

/// Every command, in the order `nsrun --help` lists them.
pub const COMMANDS: [Command; 17] = [
    command(
        "create",
        "[options] ID",
        "build the container, its process held until start",
        || cli::render_flags(&create::CREATE),
        |w, g| create::create(w, g, false),
    ),
    command("start", "ID", "let it run", no_options, simple::start),
    command("state", "ID", "the OCI state document", no_options, simple::state),
    command(
        "kill",
        "[options] ID [SIGNAL]",
        "send a signal (default TERM), by name or number",
        || cli::render_flags(&kill::KILL),
        kill::kill,
    ),
    command(
        "delete",
        "[options] ID",
        "remove a stopped container",
        || cli::render_flags(&simple::DELETE),
        simple::delete,
    ),
    command(
        "exec",
        "[options] ID [COMMAND...]",
        "one more process in a running container",
        || cli::render_flags(&exec::EXEC),
        exec::exec,
    ),
    command(
        "ps",
        "[options] ID [-- PS-ARGS...]",
        "its processes: ps(1)'s table (-ef) cut to them, or their PIDs",
        || cli::render_flags(&simple::PS),
        simple::ps,
    ),
    command(
        "update",
        "[options] ID",
        "new limits for its cgroups (runc's flags, or -r FILE)",
        || cli::render_flags(&update::UPDATE),
        update::update,
    ),
    command("pause", "ID", "freeze all its processes", no_options, |w, g| simple::pause(w, g, true)),
    command("resume", "ID", "thaw them", no_options, |w, g| simple::pause(w, g, false)),
    command(
        "run",
        "[options] ID",
        "create, start, wait, delete; exit as the container did",
        || cli::render_flags(&create::RUN),
        |w, g| create::create(w, g, true),
    ),
    command(
        "events",
        "[options] ID",
        "its stats and OOM kills, JSON lines, until it stops",
        || cli::render_flags(&info::EVENTS),
        info::events,
    ),
    command("list", "[options]", "the containers under --root", || cli::render_flags(&info::LIST), info::list),
    command("spec", "[options]", "write a config.json to start from", || cli::render_flags(&info::SPEC), info::spec),
    command(
        "checkpoint",
        "[options] ID",
        "its processes written to images by criu (then ended)",
        || cli::render_flags(&checkpoint::CHECKPOINT),
        checkpoint::checkpoint,
    ),
    command(
        "restore",
        "[options] ID",
        "a container made again from images by criu",
        || cli::render_flags(&checkpoint::RESTORE),
        checkpoint::restore,
    ),
    command("features", "", "what this nsrun does (the runtime-spec document)", no_options, |w, _| simple::features(w)),
];

/// The Commands section of `nsrun --help`.
pub fn list() -> String {
    let mut out = String::from("Commands:\n");
    for c in &COMMANDS {
        let head = format!("  {} {}", c.name, c.usage);
        if head.len() < 27 {
            out.push_str(&format!("{head:<27}{}\n", c.summary));
        } else {
            out.push_str(&format!("{head}\n{:27}{}\n", "", c.summary));
        }
    }
    out.push_str("\n`nsrun COMMAND --help` lists a command's options.\n");
    out.push_str("\nExit status: 0, or 1 with one line on stderr (as engines expect of a runtime).\n");
    out
}

/// `nsrun COMMAND --help`.
fn help(name: &str) -> Result<i32, Error> {
    let Some(c) = COMMANDS.iter().find(|c| c.name == name) else { return Ok(0) };
    let mut summary = c.summary.to_owned();
    if let Some(first) = summary.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let line = format!("nsrun [global options] {} {}", c.name, c.usage);
    let usage = format!("Usage:\n  {}\n\n{summary}.\n", line.trim_end());
    let options = format!("{}  -h, --help               show this help and exit\n", (c.options)());
    common::print(&format!("{usage}\nOptions:\n{options}")).map(|()| 0)
}

/// Run `command` with its own `words`.
pub fn dispatch(name: &str, words: &[OsString], global: &Global) -> Result<i32, Error> {
    if let Some(c) = COMMANDS.iter().find(|c| c.name == name) {
        return (c.run)(words, global);
    }
    Err(CLI.usage_error(format!("unknown command {}", quoted(name))))
}

/// A command's options through its `table`, then its operands: all of them,
/// or with `rest_after_first`, the first one and every word after it as they
/// are (exec's command line). `-h` or `--help`: the command's help, printed,
/// and `None`.
fn parse<A: Default>(
    command: &str,
    table: &[(&str, Flag<A>)],
    words: &[OsString],
    rest_after_first: bool,
) -> Result<Option<(A, Vec<OsString>)>, Error> {
    let mut args = A::default();
    let mut operands = Vec::new();
    let mut parser = lexopt::Parser::from_args(words.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| CLI.usage_error(format!("{command}: {e}")))? {
        match Opt::from_arg(arg) {
            Opt::Value(v) if rest_after_first => {
                operands.push(v);
                operands.extend(parser.raw_args().map_err(|e| CLI.usage_error(e))?);
            }
            Opt::Value(v) => operands.push(v),
            opt if opt.is(Some('h'), "help") && !table.iter().any(|(_, f)| f.short == Some('h')) => {
                return help(command).map(|_| None);
            }
            opt => cli::take_flag(&CLI, table, &mut args, &opt, &mut parser).map_err(|e| match e.kind {
                // An option it does not take: the command's usage error; a value it refuses: as it is.
                common::error::Kind::Usage => Error::usage(format!("{command}: {}", e.reason)),
                _ => e,
            })?,
        }
    }
    Ok(Some((args, operands)))
}

/// The one operand most commands take: the container id, checked.
fn one_id(command: &str, operands: &[OsString]) -> Result<String, Error> {
    let [id] = operands else { return Err(CLI.usage_error(format!("{command} takes one container id"))) };
    id_of(id)
}

/// An id names a directory under --root: no way out of it, nothing odd.
fn id_of(word: &std::ffi::OsStr) -> Result<String, Error> {
    let id = word.to_string_lossy().into_owned();
    let fine = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if fine { Ok(id) } else { Err(Error::new("invalid container id", quoted(&id), "use letters, digits and . _ + -")) }
}

/// ROOT/ID.
fn dir(global: &Global, id: &str) -> PathBuf {
    crate::container::dir_of(&global.root, id)
}

/// A count of descriptors: at most what a process can hold open.
fn count(value: &str, option: &str) -> Result<u32, Error> {
    common::values::decimal(value, 1 << 20)
        .map(|n| n as u32)
        .map_err(|_| Error::new(format!("invalid {option}"), quoted(value), "expected a count of descriptors"))
}

/// A path option's value.
fn path(value: &str) -> Option<PathBuf> {
    Some(PathBuf::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_leave_the_state_directory() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "a\nb"] {
            assert!(id_of(std::ffi::OsStr::new(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(id_of(std::ffi::OsStr::new("libpod-0a9f_1.x+y")).unwrap(), "libpod-0a9f_1.x+y");
    }

    #[test]
    fn an_id_named_like_a_value_is_an_id() {
        // ps's --format takes its value: an id named json is an id (the word filter took it).
        let (args, operands) =
            parse("ps", &simple::PS, &["--format".into(), "json".into(), "json".into()], false).unwrap().unwrap();
        assert!(args.json);
        assert_eq!(one_id("ps", &operands).unwrap(), "json");
    }

    #[test]
    fn unknown_options_are_usage_errors_of_their_command() {
        let err = parse("kill", &kill::KILL, &["--bogus".into(), "c1".into()], false).unwrap_err();
        assert!(err.to_string().starts_with("kill: invalid option '--bogus'"), "{err}");
    }
}

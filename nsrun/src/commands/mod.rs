//! One file per command of runc's command line: its option table, its
//! operands, then one call into `container`. `run` parses the global options
//! and hands the command's own words here.

mod create;
mod exec;
mod kill;
mod simple;

use std::ffi::OsString;
use std::path::PathBuf;

use common::Error;
use common::cli::{self, Flag, Opt};
use common::error::quoted;

use crate::CLI;

/// What every command gets: where containers' state lives.
pub struct Global {
    pub root: PathBuf,
}

/// Run `command` with its own `words`.
pub fn dispatch(command: &str, words: &[OsString], global: &Global) -> Result<i32, Error> {
    match command {
        "create" | "run" => create::create(words, global, command == "run"),
        "exec" => exec::exec(words, global),
        "kill" => kill::kill(words, global),
        "start" => simple::start(words, global),
        "state" => simple::state(words, global),
        "delete" => simple::delete(words, global),
        "ps" => simple::ps(words, global),
        "pause" | "resume" => simple::pause(words, global, command == "pause"),
        "features" => simple::features(words),
        "update" | "events" | "checkpoint" | "restore" | "list" | "spec" => {
            Err(Error::new(format!("cannot {command}"), "", "not built yet in this version of nsrun"))
        }
        other => Err(CLI.usage_error(format!("unknown command {}", quoted(other)))),
    }
}

/// A command's options through its `table`, then its operands: all of them,
/// or with `rest_after_first`, the first one and every word after it as they
/// are (exec's command line).
fn parse<A: Default>(
    command: &str,
    table: &[(&str, Flag<A>)],
    words: &[OsString],
    rest_after_first: bool,
) -> Result<(A, Vec<OsString>), Error> {
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
            opt => cli::take_flag(&CLI, table, &mut args, &opt, &mut parser)
                .map_err(|e| CLI.usage_error(format!("{command}: {}", e.reason)))?,
        }
    }
    Ok((args, operands))
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
            parse("ps", &simple::PS, &["--format".into(), "json".into(), "json".into()], false).unwrap();
        assert!(args.json);
        assert_eq!(one_id("ps", &operands).unwrap(), "json");
    }

    #[test]
    fn unknown_options_are_usage_errors_of_their_command() {
        let err = parse("kill", &kill::KILL, &["--bogus".into(), "c1".into()], false).unwrap_err();
        assert!(err.to_string().starts_with("kill: invalid option '--bogus'"), "{err}");
    }
}

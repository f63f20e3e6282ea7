//! The command line, parsed alike by every tool: option helpers on lexopt
//! (parsing stops at the first non-option or `--`; `-h/--help` and
//! `-V/--version` print on stdout and exit 0; a usage error is one line on
//! stderr and exit 125), the strict value parsers, and the namespace options
//! nsclone and nsunshare share.

pub mod namespaces;

use std::ffi::OsString;
use std::fmt::Display;

use lexopt::ValueExt;

use crate::error::Error;

/// What a tool says about itself.
#[derive(Debug)]
pub struct Cli {
    pub tool: &'static str,
    /// One line, shown after a usage error: `nstype [options] FILE...`.
    pub synopsis: &'static str,
    /// The whole `--help` text.
    pub help: &'static str,
}

/// The outcome of parsing a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    Run(T),
    Help,
    Version,
}

impl Cli {
    /// A usage error: the reason, then the synopsis, on one line.
    pub fn usage_error(&self, reason: impl Display) -> Error {
        Error::usage(format!("{reason}; usage: {}", self.synopsis))
    }

    /// A shared parser's error: a bare usage error gets the synopsis, any
    /// other (an invalid value) stays as it is.
    pub fn with_synopsis(&self, err: Error) -> Error {
        if err.kind == crate::error::Kind::Usage { self.usage_error(err.reason) } else { err }
    }

    /// The version line, and how the binary is linked (a packager's first question).
    pub fn version(&self) -> String {
        let linked = if cfg!(target_feature = "crt-static") { "static" } else { "dynamic" };
        format!("{} (nstools) {}, {linked}\n", self.tool, env!("CARGO_PKG_VERSION"))
    }

    /// Print help or version when asked. `Ok(None)` means: done, exit 0.
    pub fn finish<T>(&self, parsed: Result<Parsed<T>, Error>) -> Result<Option<T>, Error> {
        match parsed? {
            Parsed::Run(args) => Ok(Some(args)),
            Parsed::Help => crate::print(self.help).map(|()| None),
            Parsed::Version => crate::print(&self.version()).map(|()| None),
        }
    }
}

/// A command line whose options `own` takes one by one (an error for one it
/// does not know): `-h` and `-V` once the whole line parsed, then the
/// operands and the command, from the first non-option on, untouched.
pub fn parse_options(
    cli: &Cli,
    args: impl IntoIterator<Item = OsString>,
    mut own: impl FnMut(&Opt, &mut lexopt::Parser) -> Result<(), Error>,
) -> Result<Parsed<Vec<OsString>>, Error> {
    let usage = |e: lexopt::Error| cli.usage_error(e);
    let mut parser = lexopt::Parser::from_args(args);
    let (mut asked, mut rest) = (None, Vec::new());
    while let Some(arg) = parser.next().map_err(usage)? {
        match Opt::from_arg(arg) {
            Opt::Value(first) => {
                rest = command(&mut parser, first).map_err(usage)?;
                break;
            }
            ref o if o.is(Some('h'), "help") => asked = asked.or(Some(Parsed::Help)),
            ref o if o.is(Some('V'), "version") => asked = asked.or(Some(Parsed::Version)),
            o => own(&o, &mut parser)?,
        }
    }
    Ok(asked.unwrap_or(Parsed::Run(rest)))
}

/// The command that follows the options: `first` and everything after it,
/// untouched, as the next link of the chain will see it.
pub fn command(parser: &mut lexopt::Parser, first: OsString) -> Result<Vec<OsString>, lexopt::Error> {
    let mut argv = vec![first];
    argv.extend(parser.raw_args()?);
    Ok(argv)
}

/// An argument, owned, so that it can be handed around with the parser
/// (lexopt's `Arg` borrows from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    Short(char),
    Long(String),
    Value(OsString),
}

impl Opt {
    pub fn from_arg(arg: lexopt::Arg<'_>) -> Self {
        match arg {
            lexopt::Arg::Short(c) => Self::Short(c),
            lexopt::Arg::Long(l) => Self::Long(l.to_owned()),
            lexopt::Arg::Value(v) => Self::Value(v),
        }
    }

    /// Whether this is `-short` or `--long`.
    pub fn is(&self, short: Option<char>, long: &str) -> bool {
        match self {
            Self::Short(c) => Some(*c) == short,
            Self::Long(l) => l == long,
            Self::Value(_) => false,
        }
    }

    /// The usage error for an option nobody took.
    pub fn unexpected(&self) -> String {
        match self {
            // lexopt gives a '-' inside a cluster (`-m-`) as a short option of its own.
            Self::Short('-') => "invalid option '-' in a cluster of short options".to_owned(),
            Self::Short(c) => format!("invalid option '-{c}'"),
            Self::Long(l) => format!("invalid option '--{l}'"),
            Self::Value(v) => format!("unexpected argument '{}'", v.to_string_lossy()),
        }
    }
}

/// A value of an option as UTF-8, or a usage error naming the option.
pub fn string_value(parser: &mut lexopt::Parser) -> Result<String, lexopt::Error> {
    parser.value()?.string()
}

/// One option of a command: how it is written, what `--help` says, and what
/// it sets in the command's arguments `A`. A command's table of these is the
/// one thing its parser and its `--help` (and through it the man page check)
/// follow.
pub struct Flag<A> {
    pub short: Option<char>,
    pub long: &'static str,
    /// The value's name in `--help`, for an option that takes one.
    pub value: Option<&'static str>,
    pub help: &'static str,
    pub set: fn(&mut A, &str) -> Result<(), Error>,
}

/// Take `opt` (and its value) through `table`; anything else is a usage error of `cli`.
pub fn take_flag<A>(
    cli: &Cli,
    table: &[(&str, Flag<A>)],
    args: &mut A,
    opt: &Opt,
    parser: &mut lexopt::Parser,
) -> Result<(), Error> {
    let Some((_, flag)) = table.iter().find(|(_, f)| opt.is(f.short, f.long)) else {
        return Err(cli.usage_error(opt.unexpected()));
    };
    let value = match flag.value {
        Some(_) => string_value(parser).map_err(|e| cli.usage_error(e))?,
        None => String::new(),
    };
    (flag.set)(args, &value)
}

/// The options of `table` as `--help` lists them, under their headings
/// (an empty heading: no heading line).
pub fn render_flags<A>(table: &[(&str, Flag<A>)]) -> String {
    let mut out = String::new();
    let mut heading = None;
    for (group, f) in table {
        if heading != Some(*group) {
            if !group.is_empty() {
                out.push_str(&format!("\n{group}\n"));
            }
            heading = Some(*group);
        }
        let short = f.short.map_or_else(|| "    ".to_owned(), |c| format!("-{c}, "));
        let value = f.value.map_or_else(String::new, |v| format!("={v}"));
        let spec = format!("  {short}--{}{value}", f.long);
        if spec.len() < 27 {
            out.push_str(&format!("{spec:<27}{}\n", f.help));
        } else {
            out.push_str(&format!("{spec}\n{:27}{}\n", "", f.help));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lexopt::prelude::*;

    /// A miniature chain tool: `-a -b --name=X COMMAND...`.
    fn parse(args: &[&str]) -> Result<(String, Vec<OsString>), lexopt::Error> {
        let mut p = lexopt::Parser::from_args(args.iter().map(OsString::from));
        let mut flags = String::new();
        while let Some(arg) = p.next()? {
            match arg {
                Short(c @ ('a' | 'b')) => flags.push(c),
                Long("name") => flags.push_str(&string_value(&mut p)?),
                Value(v) => return Ok((flags, command(&mut p, v)?)),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok((flags, vec![]))
    }

    #[test]
    fn parsing_stops_at_the_first_non_option() {
        let (flags, cmd) = parse(&["-ab", "sh", "-c", "echo", "-a", "--", "--name=x"]).unwrap();
        assert_eq!(flags, "ab");
        assert_eq!(cmd, ["sh", "-c", "echo", "-a", "--", "--name=x"]);
    }

    #[test]
    fn double_dash_ends_options() {
        let (_, cmd) = parse(&["-a", "--", "--weird", "-b"]).unwrap();
        assert_eq!(cmd, ["--weird", "-b"]);
        let (_, cmd) = parse(&["--", "--"]).unwrap();
        assert_eq!(cmd, ["--"]);
    }

    #[test]
    fn unknown_option_is_a_one_line_usage_error() {
        let cli = Cli { tool: "t", synopsis: "t [-ab] COMMAND...", help: "" };
        let err =
            cli.finish::<()>(parse(&["-x"]).map(|_| Parsed::Run(())).map_err(|e| cli.usage_error(e))).unwrap_err();
        assert_eq!(err.to_string(), "invalid option '-x'; usage: t [-ab] COMMAND...");
        assert_eq!(err.code, 125);
        assert!(!err.to_string().contains('\n'));
    }
}

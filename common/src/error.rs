//! The one error type of nstools and its message format:
//! `tool: what failed: object: reason`, one line, on stderr.

use std::fmt;

use nix::errno::Errno;

use crate::exit;

/// What kind of failure an [`Error`] is, for callers that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Wrong usage: an unknown option, a missing value.
    Usage,
    /// A system call failed; [`Error::errno`] says how.
    System,
    /// A file that should be a namespace is not one.
    NotANamespace,
    /// Anything else the tool refuses or reports.
    Failed,
    /// A forked helper has already said what failed, on its own line: the
    /// tool exits with the status and adds no second line.
    Reported,
}

/// A failure the tool reports before it exits with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What the tool was doing ("cannot mount", "invalid size"); may be empty.
    pub what: String,
    /// The value at fault, quoted as the user wrote it; may be empty.
    pub object: String,
    /// Why it failed: strerror text or our own words.
    pub reason: String,
    /// The exit status this failure maps to.
    pub code: i32,
    pub kind: Kind,
    /// The errno of a failed system call.
    pub errno: Option<Errno>,
}

impl Error {
    /// A failure of the tool itself (exit 125).
    pub fn new(what: impl Into<String>, object: impl fmt::Display, reason: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            object: object.to_string(),
            reason: reason.into(),
            code: exit::TOOL_FAILED,
            kind: Kind::Failed,
            errno: None,
        }
    }

    /// A failed system call: the reason is the kernel's word for `errno`.
    pub fn sys(what: impl Into<String>, object: impl fmt::Display, errno: Errno) -> Self {
        Self::sys_because(what, object, errno, errno.desc())
    }

    /// A failed system call, explained in our own words.
    pub fn sys_because(
        what: impl Into<String>,
        object: impl fmt::Display,
        errno: Errno,
        reason: impl Into<String>,
    ) -> Self {
        Self { kind: Kind::System, errno: Some(errno), ..Self::new(what, object, reason) }
    }

    /// Wrong usage: an unknown option, a missing value (exit 125).
    pub fn usage(reason: impl Into<String>) -> Self {
        Self { kind: Kind::Usage, ..Self::new("", "", reason) }
    }

    /// A failure a child process has reported itself (exit 125).
    pub fn reported() -> Self {
        Self { kind: Kind::Reported, ..Self::new("", "", "") }
    }

    /// A file that is no namespace.
    pub fn not_a_namespace(file: impl fmt::Display) -> Self {
        Self { kind: Kind::NotANamespace, ..Self::new("", file, "not a namespace file") }
    }

    /// The same failure, said as another step ("cannot read pid file").
    #[must_use]
    pub fn with_what(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }

    /// The same failure with another exit status (126, 127, or 1 for a false predicate).
    #[must_use]
    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for part in [&self.what, &self.object, &self.reason] {
            if part.is_empty() {
                continue;
            }
            if !first {
                f.write_str(": ")?;
            }
            write_printable(f, part)?;
            first = false;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// `text` on one line with no byte a terminal acts on, whatever a name from
/// an image, a command line or another user's process holds (an escape
/// sequence retitles or clears the admin's terminal): `\n`, `\t`, `\r`,
/// `\xNN` for the rest of the control characters.
pub fn write_printable(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\n' => out.write_str("\\n")?,
            '\t' => out.write_str("\\t")?,
            '\r' => out.write_str("\\r")?,
            c if c.is_control() => write!(out, "\\x{:02x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// [`write_printable`] into a string.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = write_printable(&mut out, text);
    out
}

/// A path or name as a message shows it: as it is, or `''` when empty, so an
/// empty value is still named.
pub fn shown(value: impl AsRef<std::ffi::OsStr>) -> String {
    let value = value.as_ref();
    if value.is_empty() { "''".to_owned() } else { value.to_string_lossy().into_owned() }
}

/// Quote a user-supplied value the way the messages show it: `'value'`.
pub fn quoted(value: impl AsRef<std::ffi::OsStr>) -> String {
    format!("'{}'", value.as_ref().to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_errnos_travel_with_the_message() {
        let e = Error::sys("cannot mount", "/x", Errno::EPERM);
        assert_eq!((e.kind, e.errno), (Kind::System, Some(Errno::EPERM)));
        assert_eq!(Error::usage("no command given").kind, Kind::Usage);
        assert_eq!(Error::not_a_namespace("/etc").to_string(), "/etc: not a namespace file");
    }

    #[test]
    fn an_empty_value_is_still_named() {
        assert_eq!(shown(""), "''");
        assert_eq!(shown("/x"), "/x");
    }

    #[test]
    fn format_joins_the_parts_that_are_there() {
        let e = Error::sys("cannot open", "/x", Errno::ENOENT);
        assert_eq!(e.to_string(), "cannot open: /x: No such file or directory");
        assert_eq!(e.code, 125);
        assert_eq!(Error::usage("invalid option '-x'").to_string(), "invalid option '-x'");
        assert_eq!(
            Error::new("", "/etc/passwd", "not a namespace file").to_string(),
            "/etc/passwd: not a namespace file"
        );
    }

    #[test]
    fn a_message_is_one_line() {
        let e = Error::new("cannot open", "a\nb", "why");
        assert_eq!(e.to_string(), "cannot open: a\\nb: why");
    }

    #[test]
    fn no_byte_a_terminal_acts_on_gets_through() {
        let e = Error::new("cannot create", "/proc/\u{1b}]0;TITLE\u{7}\u{9b}2J\r\t", "why \u{7f}");
        let text = e.to_string();
        assert_eq!(text, "cannot create: /proc/\\x1b]0;TITLE\\x07\\x9b2J\\r\\t: why \\x7f");
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }

    #[test]
    fn with_code_changes_only_the_code() {
        let e = Error::new("a", "b", "c").with_code(127);
        assert_eq!((e.code, e.to_string().as_str()), (127, "a: b: c"));
    }
}

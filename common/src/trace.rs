//! The trace of `--verbose`: each step as a shell-like command on stderr,
//! `+ mount -t proc proc /proc`. One switch for the whole process (and the
//! children it forks), set once after the command line is parsed.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Turn the trace on (or off) for this process and the children it forks.
pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Print a step as a shell-like trace on stderr (`-v`).
pub fn step(describe: impl FnOnce() -> String) {
    if ON.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr().lock(), "+ {}", describe());
    }
}

/// A command line as a shell would read it back, for traces.
pub fn shell_words(argv: &[std::ffi::OsString]) -> String {
    argv.iter().map(|a| shell_word(&a.to_string_lossy())).collect::<Vec<_>>().join(" ")
}

/// One word as a POSIX shell reads it back: as it is when plainly safe,
/// else single-quoted (for traces, and for nstype's eval-safe `-r` output).
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_words_are_quoted() {
        assert_eq!(shell_words(&["sh".into(), "-c".into(), "echo it's".into(), "".into()]), "sh -c 'echo it'\\''s' ''");
    }
}

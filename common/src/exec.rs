//! Exec of the rest of the command line: the last step of every chaining tool.

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::error::Error;
use crate::{exit, signals};

/// Replace this process with `argv`, searched in `PATH` like a shell does.
/// Returns only on failure, with the error to exit with: 127 when the command
/// (or its interpreter) is missing, 126 when it exists but cannot run, 125 when
/// there is no command at all.
pub fn exec_into(argv: &[OsString]) -> Error {
    let Some(program) = argv.first() else {
        return Error::usage("no command given");
    };
    let cargs = match c_argv(argv) {
        Ok(cargs) => cargs,
        Err(err) => return err,
    };
    signals::restore();
    let Err(errno) = nix::unistd::execvp(&cargs[0], &cargs);
    exec_failure(program, errno)
}

/// A command line as C strings, for execve and posix_spawn; an argument
/// with a NUL byte is named.
pub fn c_argv(argv: &[OsString]) -> Result<Vec<CString>, Error> {
    argv.iter()
        .map(|arg| {
            CString::new(arg.clone().into_vec())
                .map_err(|_| Error::new("cannot execute", crate::error::quoted(arg), "argument holds a NUL byte"))
        })
        .collect()
}

/// Turn a failed exec into the message and status a user can act on.
pub fn exec_failure(program: &OsStr, errno: Errno) -> Error {
    let name = crate::error::shown(program);
    match errno {
        Errno::ENOENT => {
            let reason = match locate(program, &search_path()) {
                _ if program.is_empty() => "command not found".to_owned(),
                None if program.as_bytes().contains(&b'/') => errno.desc().to_owned(),
                None => "command not found".to_owned(),
                Some(file) => missing_interpreter(&file).unwrap_or_else(|| errno.desc().to_owned()),
            };
            Error::new("cannot execute", name, reason).with_code(exit::NOT_FOUND)
        }
        _ => Error::sys("cannot execute", name, errno).with_code(exit::CANNOT_EXECUTE),
    }
}

/// Fail now, with the error exec would give, when `argv` cannot be executed:
/// missing (127), or found but a directory or without execute permission
/// (126). For a tool that can still undo its work now and no longer after
/// it gave up its privileges; exec itself may still fail later (a missing
/// ELF interpreter), and then says so the same way.
pub fn check_runnable(argv: &[OsString]) -> Result<(), Error> {
    let Some(program) = argv.first() else { return Err(Error::usage("no command given")) };
    runnable(program, &search_path()).map(|_| ()).map_err(|errno| exec_failure(program, errno))
}

/// The file execvp would run for `program` with PATH `path`: ENOENT when
/// there is none, EACCES when it is a directory or not executable.
pub fn runnable(program: &OsStr, path: &OsStr) -> Result<PathBuf, Errno> {
    use std::os::unix::fs::PermissionsExt;
    let file = locate(program, path).ok_or(Errno::ENOENT)?;
    match std::fs::metadata(&file) {
        Ok(m) if m.is_dir() || m.permissions().mode() & 0o111 == 0 => Err(Errno::EACCES),
        _ => Ok(file),
    }
}

/// Our PATH, or execvp's default without one.
fn search_path() -> OsString {
    std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/bin:/usr/bin"))
}

/// The file execvp would have run: the path itself, or the first PATH match.
fn locate(program: &OsStr, path: &OsStr) -> Option<PathBuf> {
    if program.is_empty() {
        // Not PATH's directories themselves: an empty name is no command (127, as execvp says).
        return None;
    }
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        return p.symlink_metadata().is_ok().then_some(p);
    }
    std::env::split_paths(path).map(|dir| dir.join(program)).find(|candidate| candidate.symlink_metadata().is_ok())
}

/// Why `file` exists yet exec said ENOENT: a missing `#!` or ELF interpreter,
/// or a dangling symlink.
fn missing_interpreter(file: &Path) -> Option<String> {
    if file.symlink_metadata().is_ok() && !file.exists() {
        return Some("dangling symbolic link".to_owned());
    }
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(file).ok()?.take(64 * 1024).read_to_end(&mut head).ok()?;
    match interpreter(&head)? {
        Interpreter::Script(interp) => {
            let shown = String::from_utf8_lossy(&interp).into_owned();
            if interp.ends_with(b"\r") {
                return Some(format!(
                    "#! interpreter '{}' not found (the #! line ends in a carriage return: DOS line endings?)",
                    shown.trim_end_matches('\r')
                ));
            }
            (!Path::new(OsStr::from_bytes(&interp)).exists()).then(|| format!("#! interpreter '{shown}' not found"))
        }
        Interpreter::Elf(interp) => (!Path::new(OsStr::from_bytes(&interp)).exists())
            .then(|| format!("ELF interpreter '{}' not found", String::from_utf8_lossy(&interp))),
    }
}

/// The program that the kernel starts to run a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Interpreter {
    /// The path after `#!`.
    Script(Vec<u8>),
    /// The ELF `PT_INTERP` path (the dynamic loader).
    Elf(Vec<u8>),
}

/// The interpreter named in the first bytes of an executable, if any.
pub fn interpreter(head: &[u8]) -> Option<Interpreter> {
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = trim_start(line);
        let end = line.iter().position(|&b| b == b' ' || b == b'\t').unwrap_or(line.len());
        let interp = &line[..end];
        return (!interp.is_empty()).then(|| Interpreter::Script(interp.to_vec()));
    }
    elf_interpreter(head).map(Interpreter::Elf)
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

const PT_INTERP: u32 = 3;

/// `PT_INTERP` of a little-endian ELF file, 32- or 64-bit.
pub fn elf_interpreter(head: &[u8]) -> Option<Vec<u8>> {
    if head.get(..4)? != b"\x7fELF" || *head.get(5)? != 1 {
        return None;
    }
    let wide = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let (phoff, phentsize, phnum) = if wide {
        (read_u64(head, 0x20)?, u64::from(read_u16(head, 0x36)?), read_u16(head, 0x38)?)
    } else {
        (u64::from(read_u32(head, 0x1c)?), u64::from(read_u16(head, 0x2a)?), read_u16(head, 0x2c)?)
    };
    for i in 0..u64::from(phnum) {
        let at = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        if read_u32(head, at)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (read_u64(head, at + 8)?, read_u64(head, at + 32)?)
        } else {
            (u64::from(read_u32(head, at + 4)?), u64::from(read_u32(head, at + 16)?))
        };
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let raw = head.get(start..end)?;
        let path = raw.split(|&b| b == 0).next().unwrap_or_default();
        return (!path.is_empty()).then(|| path.to_vec());
    }
    None
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_interpreter_is_the_first_word_after_hashbang() {
        assert_eq!(interpreter(b"#!/bin/sh -e\necho"), Some(Interpreter::Script(b"/bin/sh".to_vec())));
        assert_eq!(interpreter(b"#! /usr/bin/env python3\n"), Some(Interpreter::Script(b"/usr/bin/env".to_vec())));
        assert_eq!(interpreter(b"#!/bin/sh\r\n"), Some(Interpreter::Script(b"/bin/sh\r".to_vec())));
        assert_eq!(interpreter(b"#!\n"), None);
        assert_eq!(interpreter(b"echo hi\n"), None);
        assert_eq!(interpreter(b""), None);
    }

    #[test]
    fn elf_interpreter_of_a_real_binary() {
        let head = std::fs::read("/bin/sh").expect("read /bin/sh");
        let interp = elf_interpreter(&head).expect("dynamic /bin/sh has PT_INTERP");
        assert!(interp.starts_with(b"/lib"), "{}", String::from_utf8_lossy(&interp));
    }

    #[test]
    fn elf_parser_survives_truncation_and_junk() {
        let head = std::fs::read("/bin/sh").expect("read /bin/sh");
        for len in 0..head.len().min(2048) {
            let _ = elf_interpreter(&head[..len]);
        }
        let mut junk = head[..1024].to_vec();
        for i in 16..64 {
            junk[i] = 0xff;
            let _ = elf_interpreter(&junk);
        }
    }

    #[test]
    fn failures_map_to_126_and_127() {
        assert_eq!(exec_failure(OsStr::new("no-such-command-xyz"), Errno::ENOENT).code, 127);
        assert_eq!(
            exec_failure(OsStr::new("no-such-command-xyz"), Errno::ENOENT).to_string(),
            "cannot execute: no-such-command-xyz: command not found"
        );
        assert_eq!(exec_failure(OsStr::new("/etc/passwd"), Errno::EACCES).code, 126);
        assert_eq!(exec_failure(OsStr::new("/x"), Errno::ENOEXEC).code, 126);
        assert_eq!(exec_failure(OsStr::new("/"), Errno::EISDIR).code, 126);
    }

    #[test]
    fn empty_command_is_a_usage_error() {
        let e = exec_into(&[]);
        assert_eq!((e.code, e.to_string().as_str()), (125, "no command given"));
    }
}

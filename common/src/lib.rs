//! What the nstools share, so that the tools behave alike, in modules named
//! after the kernel object each one manages (see ARCHITECTURE.md): `ns`,
//! `userns`, `mount`, `uts`, `net`, `timens`, `rootfs`, `caps`, `seccomp`, `cgroup`, `procfs`,
//! `account`, `process`, `sync`, `signals`, `exec`; and the tools' own ground: `cli`,
//! `error`, `exit`, `trace`, `fuzz`.

pub mod account;
pub mod arena;
pub mod becoming;
pub mod caps;
pub mod cgroup;
pub mod cli;
pub mod error;
pub mod exe;
pub mod exec;
pub mod exit;
pub mod fuzz;
pub mod mount;
pub mod net;
pub mod ns;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod seccomp;
pub mod setup;
pub mod signals;
pub mod sync;
pub mod syscalls;
pub mod terminal;
pub mod timens;
pub mod trace;
pub mod userns;
pub mod uts;
pub mod values;

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::OnceLock;

pub use error::Error;

static TOOL: OnceLock<&'static str> = OnceLock::new();

/// The running tool's name, for messages.
pub fn tool() -> &'static str {
    TOOL.get().copied().unwrap_or("nstools")
}

/// Print `tool: error` on stderr, one line.
pub fn report(err: &Error) {
    let _ = writeln!(std::io::stderr().lock(), "{}: {err}", tool());
}

/// Write to stdout; a write error (a closed pipe with SIGPIPE ignored, a full
/// disk) is the tool's failure, not a panic.
pub fn print(text: &str) -> Result<(), Error> {
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Error::new("write error", "stdout", io_reason(&e)))
}

/// An io::Error's reason without Rust's "(os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_owned(),
        None => e.to_string(),
    }
}

/// A C string of a path, for raw syscalls.
pub fn cstring(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new("invalid path", path.display(), "holds a NUL byte"))
}

/// The directory a path names its last component in: its parent, or `.`
/// for a bare name.
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Run a tool: record the signal state, parse `argv[1..]`, report a failure
/// in the one format, flush stdout, and give the exit status.
pub fn run_tool(name: &'static str, run: fn(Vec<OsString>) -> Result<i32, Error>, argv: Vec<OsString>) -> i32 {
    signals::capture();
    let _ = TOOL.set(name);
    let code = match run(argv) {
        Ok(code) => code,
        Err(err) => {
            if err.kind != error::Kind::Reported {
                report(&err);
            }
            err.code
        }
    };
    if let Err(e) = std::io::stdout().flush() {
        report(&Error::new("write error", "stdout", io_reason(&e)));
        return exit::TOOL_FAILED;
    }
    code
}

/// `argv[1..argc]`, read from what the C runtime passes to `main`. Not from
/// `std::env::args_os`: under `no_main` only glibc hands the arguments to the
/// initialisers std reads them in; musl does not, and std would see none.
///
/// # Safety
/// `argv` must point to `argc` valid NUL-terminated strings, as at `main`.
pub unsafe fn arguments(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> Vec<OsString> {
    let count = usize::try_from(argc).unwrap_or(0);
    (1..count)
        .map(|i| {
            // SAFETY: i < argc, and each argv[i] is a NUL-terminated string (the caller's contract).
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect()
}

/// The `main` of a tool. Tools are built with `#![cfg_attr(not(test), no_main)]`
/// so that Rust's runtime does not touch signals or fds before the tool (and,
/// after exec, the command) sees them, and so that start-up is cheaper.
#[macro_export]
macro_rules! tool_main {
    ($name:expr, $run:path) => {
        #[cfg(not(test))]
        #[global_allocator]
        static ALLOCATOR: $crate::arena::Arena = $crate::arena::Arena::new();
        #[cfg(not(test))]
        // SAFETY: `no_main` leaves `main` to us; this is the only symbol of that name.
        #[unsafe(no_mangle)]
        extern "C" fn main(argc: ::std::ffi::c_int, argv: *const *const ::std::ffi::c_char) -> ::std::ffi::c_int {
            // SAFETY: the C runtime passes `main` its argc and argv as the kernel gave them.
            $crate::run_tool($name, $run, unsafe { $crate::arguments(argc, argv) })
        }
        // Unit tests build without `main`; this keeps `run` (and all it calls) in use there.
        #[cfg(test)]
        const _: fn(::std::vec::Vec<::std::ffi::OsString>) -> ::std::result::Result<i32, $crate::Error> = $run;
    };
}

/// The bytes of `path`, a regular file of at most `limit` bytes: opened
/// without blocking (a FIFO), its type checked on the descriptor (a link to
/// /dev/zero), read no further than `limit` (a file that grows meanwhile).
/// For files a caller names that a container may have put there.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let fail = |why: String| Error::new("cannot read", error::shown(path.as_os_str()), why);
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| fail(e.desc().to_owned()))?;
    read_regular_file(std::fs::File::from(fd), limit).map_err(fail)
}

/// [`read_regular`] of a file already open (without blocking), or why not.
pub fn read_regular_file(file: std::fs::File, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = file.metadata().map_err(|e| io_reason(&e))?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| io_reason(&e))?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}

/// A file to be written whole or not at all, later (a pid file): its directory
/// held now, so that the write lands there even after the writer has joined
/// another mount namespace. The bytes go to a new file beside it (O_EXCL, no
/// link followed), renamed over it: whatever was at the name (a FIFO that would
/// block an open, a link elsewhere) is replaced, never opened.
pub struct ReplacedFile {
    dir: std::os::fd::OwnedFd,
    name: CString,
    shown: String,
}

impl ReplacedFile {
    pub fn at(path: &Path) -> Result<Self, Error> {
        let shown = error::shown(path.as_os_str());
        let name = path.file_name().ok_or_else(|| Error::new("cannot write", &shown, "not a file name"))?;
        let name = CString::new(name.as_bytes()).map_err(|_| Error::new("cannot write", &shown, "holds a NUL byte"))?;
        let dir = nix::fcntl::open(
            parent_dir(path),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys("cannot write", &shown, e))?;
        Ok(Self { dir, name, shown })
    }

    pub fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        use std::os::fd::{AsFd, AsRawFd};
        let fail = |e: nix::errno::Errno| Error::sys("cannot write", &self.shown, e);
        let mut tmp = b".".to_vec();
        tmp.extend_from_slice(self.name.as_bytes());
        tmp.extend_from_slice(format!(".{}.tmp", std::process::id()).as_bytes());
        let tmp = CString::new(tmp).map_err(|_| fail(nix::errno::Errno::EINVAL))?;
        let flags = nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_EXCL
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC;
        let written = nix::fcntl::openat(
            self.dir.as_fd(),
            tmp.as_c_str(),
            flags,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .and_then(|fd| nix::unistd::write(&fd, bytes).map(drop))
        .and_then(|()| nix::fcntl::renameat(self.dir.as_fd(), tmp.as_c_str(), self.dir.as_fd(), self.name.as_c_str()));
        written.map_err(|e| {
            // SAFETY: a valid directory descriptor and a NUL-terminated name of ours.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), tmp.as_ptr(), 0) };
            fail(e)
        })
    }
}

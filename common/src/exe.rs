//! The running program's own executable, as a process that enters a
//! container holds it.
//!
//! A process of ours that joins a container (nsjoin, `nsrun exec`, nsrun's
//! container process) ends in an execve the container chooses. If that file
//! is a `#!/proc/self/exe` script (or a link to it, or an ELF whose
//! interpreter it is), the kernel runs *our* executable again, now inside the
//! container, dumpable, as the container's user: the container opens
//! `/proc/PID/exe` and rewrites the host's binary (runc's CVE-2019-5736).
//!
//! The answer by construction: before anything is joined, the program
//! re-executes itself from a memfd copy sealed against every change
//! (`F_SEAL_WRITE|SHRINK|GROW|SEAL`). From then on `/proc/self/exe`, in every
//! process it forks and every exec it makes, names that copy: no name of the
//! host file is left to reach, and the copy itself cannot be written, grown,
//! shrunk or unsealed. Whether we run sealed already is read from the
//! executable's own seals, which nothing outside the kernel can forge (an
//! environment variable could be).

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use crate::error::Error;

/// Every seal that makes a memfd immutable; F_SEAL_SEAL last, so none can be removed.
const SEALS: libc::c_int = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
/// Linux 6.3+: the copy's mode can never gain or lose its execute bits.
const F_SEAL_EXEC: libc::c_int = 0x0020;
/// Linux 6.3+: ask for an executable memfd explicitly (vm.memfd_noexec may make it the only way).
const MFD_EXEC: libc::c_uint = 0x0010;

/// True when `seals` (F_GET_SEALS of an executable) leave nothing to change.
pub fn is_sealed(seals: libc::c_int) -> bool {
    seals & SEALS == SEALS
}

/// Our executable's seals, or None when it is not a memfd (an ordinary file).
fn own_seals() -> Result<Option<libc::c_int>, Error> {
    let exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| Error::new("cannot open", "/proc/self/exe", crate::io_reason(&e)))?;
    // SAFETY: F_GET_SEALS on a descriptor we own; no memory is passed.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    Ok((seals >= 0).then_some(seals))
}

/// Run from a sealed copy of our executable: return at once if we already do,
/// else copy it into a memfd, seal it and execute it with `argv` (our own
/// arguments, without argv[0]) and the same environment. Returns only on
/// failure. Call it after parsing, before anything is opened or joined.
pub fn run_sealed(argv: &[OsString]) -> Result<(), Error> {
    if own_seals()?.is_some_and(is_sealed) {
        return Ok(());
    }
    let copy = sealed_copy()?;
    crate::trace::step(|| "# re-exec from a sealed copy of our executable".to_owned());
    let mut cargs = vec![CString::new(crate::tool()).unwrap_or_default()];
    for arg in argv {
        cargs.push(
            CString::new(arg.clone().into_vec())
                .map_err(|_| Error::new("cannot execute", crate::error::quoted(arg), "argument holds a NUL byte"))?,
        );
    }
    let mut pointers: Vec<*const libc::c_char> = cargs.iter().map(|a| a.as_ptr()).collect();
    pointers.push(std::ptr::null());
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: argv is a NULL-terminated array of C strings that outlive the
    // call; environ is the C library's own; AT_EMPTY_PATH executes the memfd itself.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            copy.as_raw_fd(),
            c"".as_ptr(),
            pointers.as_ptr(),
            environ,
            libc::AT_EMPTY_PATH,
        )
    };
    let errno = nix::errno::Errno::last();
    let why = match errno {
        nix::errno::Errno::EACCES | nix::errno::Errno::EPERM => {
            format!("{} (is vm.memfd_noexec 2, or /dev/shm's policy forbidding it?)", errno.desc())
        }
        e => e.desc().to_owned(),
    };
    Err(Error::new("cannot execute", "a sealed copy of our executable", why))
}

/// A memfd holding our executable, sealed against any change.
fn sealed_copy() -> Result<OwnedFd, Error> {
    let failed = |what: &str, e: nix::errno::Errno| Error::sys(what, "a sealed copy of our executable", e);
    let name = CString::new(crate::tool()).unwrap_or_default();
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a NUL-terminated name and flags; the result is checked.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINVAL {
        // SAFETY: as above, for kernels before 6.3 that know no MFD_EXEC.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(failed("cannot create", nix::errno::Errno::last()));
    }
    // SAFETY: memfd_create gave us this new descriptor.
    let copy = unsafe { OwnedFd::from_raw_fd(fd) };
    let exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| Error::new("cannot open", "/proc/self/exe", crate::io_reason(&e)))?;
    let size = exe.metadata().map_err(|e| Error::new("cannot stat", "/proc/self/exe", crate::io_reason(&e)))?.len();
    let mut left = size;
    while left > 0 {
        let chunk = usize::try_from(left).unwrap_or(usize::MAX).min(1 << 30);
        // SAFETY: two descriptors we own; a NULL offset reads from exe's own position.
        let n = unsafe { libc::sendfile(copy.as_raw_fd(), exe.as_raw_fd(), std::ptr::null_mut(), chunk) };
        match n {
            n if n > 0 => left -= n as u64,
            0 => return Err(Error::new("cannot copy", "/proc/self/exe", "it shrank while being copied")),
            _ if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            _ => return Err(failed("cannot copy into", nix::errno::Errno::last())),
        }
    }
    // SAFETY: F_ADD_SEALS on our own memfd; no memory is passed.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, F_SEAL_EXEC) } != 0 {
        crate::trace::step(|| "# F_SEAL_EXEC: not known to this kernel".to_owned());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return Err(failed("cannot seal", nix::errno::Errno::last()));
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_every_seal_counts_as_sealed() {
        assert!(is_sealed(SEALS));
        assert!(is_sealed(SEALS | F_SEAL_EXEC));
        for missing in [libc::F_SEAL_SEAL, libc::F_SEAL_SHRINK, libc::F_SEAL_GROW, libc::F_SEAL_WRITE] {
            assert!(!is_sealed(SEALS & !missing), "{missing:#x}");
        }
        assert!(!is_sealed(0));
    }

    #[test]
    fn a_sealed_copy_cannot_be_written_grown_or_unsealed() {
        let copy = sealed_copy().unwrap();
        // SAFETY: F_GET_SEALS on our own descriptor.
        let seals = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_GET_SEALS) };
        assert!(is_sealed(seals), "{seals:#x}");
        let path = format!("/proc/self/fd/{}", copy.as_raw_fd());
        let reopened = std::fs::OpenOptions::new().write(true).open(&path);
        if let Ok(mut file) = reopened {
            use std::io::Write;
            assert!(file.write_all(b"#PWNED").is_err(), "a write went through");
            assert!(file.set_len(1).is_err(), "a truncate went through");
        }
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, 0) }, -1);
        let own = std::fs::metadata("/proc/self/exe").unwrap().len();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), own);
    }
}

//! The ways into a new root and out of the host's tree: a private mount
//! namespace, an overlay over an image, pivot_root with its chroot fallback,
//! and the seal of a process that needs no file any more.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;

use crate::error::Error;
use crate::trace;

use super::{Make, Root, fd_path};

/// How the root was entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// pivot_root, the old root detached.
    Pivot,
    /// mount --move and chroot: the old root is still under the new one.
    Chroot,
}

/// Switch to the new root and detach the old one, so no path, descriptor or
/// `..` leads back. Where pivot_root cannot work (a root on initramfs),
/// move the new root over / and chroot, saying so under --verbose.
pub fn pivot(root: &Root) -> Result<Entered, Error> {
    let old = open("/", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys("cannot open", "/", e))?;
    nix::unistd::fchdir(root.fd()).map_err(|e| Error::sys("cannot enter", root.path.display(), e))?;
    trace::step(|| format!("pivot_root {} (old root detached)", root.path.display()));
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => {
            nix::unistd::fchdir(old.as_fd()).map_err(|e| Error::sys("cannot enter", "the old root", e))?;
            mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| Error::sys("cannot make the old root a slave", "/", e))?;
            nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| Error::sys("cannot detach", "the old root", e))?;
            drop(old);
            nix::unistd::chdir("/").map_err(|e| Error::sys("cannot chdir to", "/", e))?;
            Ok(Entered::Pivot)
        }
        Err(Errno::EINVAL) => {
            trace::step(|| {
                "pivot_root refused (EINVAL: a root on initramfs?): mount --move and chroot instead".to_owned()
            });
            mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
                .map_err(|e| Error::sys("cannot move the new root onto", "/", e))?;
            nix::unistd::chroot(".").map_err(|e| Error::sys("cannot chroot into", root.path.display(), e))?;
            drop(old);
            nix::unistd::chdir("/").map_err(|e| Error::sys("cannot chdir to", "/", e))?;
            Ok(Entered::Chroot)
        }
        Err(e) => Err(Error::sys("cannot pivot_root into", root.path.display(), e)),
    }
}

/// Build in a mount namespace of our own, always: made here, it holds no
/// process but this one, so the pivot moves nobody else (not the caller, not a
/// shell between the links) and no process keeps a way into the tree we leave.
/// Nothing from outside (no environment string, no descriptor) can change that.
pub fn enter_private_mount_namespace() -> Result<(), Error> {
    trace::step(|| "unshare --mount".to_owned());
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| crate::ns::namespace_failure("cannot create namespaces", libc::CLONE_NEWNS, e))?;
    trace::step(|| "mount --make-rslave /".to_owned());
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys("cannot make / a slave", "/", e))
}

/// The image as the lower layer of an overlay whose upper layer is a tmpfs on
/// DIR: the image stays byte for byte as it was. Returns the merged root.
pub fn overlay(dir: &Path) -> Result<PathBuf, Error> {
    use std::os::fd::AsFd;
    let lower = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", dir.display(), e))?;
    trace::step(|| format!("mount -t tmpfs tmpfs {} (the upper layer)", dir.display()));
    mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755"))
        .map_err(|e| Error::sys("cannot mount tmpfs on", dir.display(), e))?;
    let staging = Root::open(dir, false, None)?;
    let upper = staging.prepare(Path::new("/upper"), Make::Dir)?;
    let work = staging.prepare(Path::new("/work"), Make::Dir)?;
    let merged = staging.prepare(Path::new("/root"), Make::Dir)?;
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        fd_path(lower.as_fd()),
        fd_path(upper.as_fd()),
        fd_path(work.as_fd())
    );
    trace::step(|| format!("mount -t overlay -o lowerdir={0},upperdir=…,workdir=… overlay {0}/root", dir.display()));
    mount(Some("overlay"), fd_path(merged.as_fd()).as_str(), Some("overlay"), MsFlags::empty(), Some(data.as_str()))
        .map_err(|e| Error::sys("cannot mount overlay on", dir.display(), e))?;
    Ok(dir.join("root"))
}

/// Leave the file system for good, for a process that needs no file any more
/// (the init of a PID namespace, once the command runs): a mount namespace of
/// its own that holds nothing but an empty read-only tmpfs, its root and
/// working directory. Then none of `/proc/PID/root`, `/proc/PID/cwd` or
/// `/proc/PID/ns/mnt` leads a process that can see it anywhere, and mkroot
/// can tell from `/proc/PID/mountinfo` (one line, `/`) that it is sealed.
/// Needs the new mount API (Linux 5.2): ENOSYS before that.
pub fn seal_away_from_files() -> Result<(), Errno> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    // Nothing done below may travel to the namespace we came from.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None::<&str>)?;
    let owned = |rc: libc::c_long| -> Result<OwnedFd, Errno> {
        // SAFETY: a descriptor the kernel just returned, owned by nobody else.
        Errno::result(rc).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    // SAFETY: a NUL-terminated file system name and valid flags.
    let context = owned(unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), libc::FSOPEN_CLOEXEC) })?;
    // SAFETY: a valid fs context descriptor; CMD_CREATE takes no key or value.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
    // SAFETY: a valid, created fs context.
    let tmpfs = owned(unsafe { libc::syscall(libc::SYS_fsmount, context.as_raw_fd(), libc::FSMOUNT_CLOEXEC, attrs) })?;
    // SAFETY: a detached mount's descriptor, an empty path with F_EMPTY_PATH, and a NUL-terminated target.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tmpfs.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    // The tmpfs now sits on top of /: step onto it, make it the root, drop the rest.
    nix::unistd::fchdir(&tmpfs)?;
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)?,
        // On an initramfs the old root cannot be detached: it stays hidden
        // below, as under mkroot's own chroot fallback, which then drops
        // CAP_SYS_CHROOT (needed to enter this namespace) from the command.
        Err(Errno::EINVAL) => nix::unistd::chroot(".")?,
        Err(e) => return Err(e),
    }
    nix::unistd::chdir("/")
}

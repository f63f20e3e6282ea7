//! The ways into a new root and out of the host's tree: a private mount
//! namespace, an overlay over an image, pivot_root with its chroot fallback,
//! and the seal of a process that needs no file any more.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;

use crate::error::Error;
use crate::trace;

use super::{Root, fd_path};

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

/// DIR as mkroot holds it from the first look on: one O_PATH descriptor of
/// the directory itself (never a symbolic link). Every mount of the root goes
/// onto exactly that directory, by its descriptor, and the root is reached
/// through the descriptor of its own mount: a DIR (or a parent of it) swapped
/// for a link meanwhile cannot move any of it elsewhere.
pub fn hold_dir(dir: &Path) -> Result<std::os::fd::OwnedFd, Errno> {
    open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
}

/// What the root's own mount on DIR is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootMount<'a> {
    /// A fresh tmpfs, with these options (`mode=755,size=…`).
    Tmpfs(&'a str),
    /// The image at DIR, bound onto itself as it is.
    Image,
    /// The image at DIR as the lower layer of an overlay, whose upper layer is
    /// a tmpfs that vanishes: the image stays byte for byte as it was.
    Overlay,
}

/// Mount the root on the directory `dir` holds (`shown` names it in messages)
/// and return a descriptor of the root's top: the fresh tmpfs, the bind of
/// the image, or the merged overlay.
pub fn mount_root(dir: BorrowedFd<'_>, shown: &Path, kind: RootMount<'_>) -> Result<OwnedFd, Error> {
    let failed = |what: &str, e: Errno| Error::sys(what.to_owned(), shown.display(), e);
    match kind {
        RootMount::Tmpfs(data) => {
            trace::step(|| format!("mount -t tmpfs -o {data} tmpfs {}", shown.display()));
            let tmpfs = detached_tmpfs(data, NOSUID_NODEV).map_err(|e| failed("cannot mount tmpfs on", e))?;
            attach(tmpfs.as_fd(), dir).map_err(|e| failed("cannot mount tmpfs on", e))?;
            Ok(tmpfs)
        }
        RootMount::Image => {
            trace::step(|| format!("mount --rbind {0} {0}", shown.display()));
            // SAFETY: a valid descriptor, an empty path with AT_EMPTY_PATH, valid flags.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_open_tree,
                    dir.as_raw_fd(),
                    c"".as_ptr(),
                    super::OPEN_TREE_CLONE
                        | libc::O_CLOEXEC as libc::c_uint
                        | super::AT_RECURSIVE as libc::c_uint
                        | libc::AT_EMPTY_PATH as libc::c_uint,
                )
            };
            // SAFETY: a fresh descriptor from open_tree.
            let tree = Errno::result(rc).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) });
            let tree = tree.map_err(|e| failed("cannot bind", e))?;
            attach(tree.as_fd(), dir).map_err(|e| failed("cannot bind", e))?;
            Ok(tree)
        }
        RootMount::Overlay => {
            // The scratch tmpfs is made and filled while detached (nobody else can reach
            // it), then attached over DIR; the image stays reachable through `dir`.
            trace::step(|| format!("mount -t tmpfs tmpfs {} (the upper layer)", shown.display()));
            let scratch = detached_tmpfs("mode=0755", NOSUID_NODEV).map_err(|e| failed("cannot mount tmpfs on", e))?;
            for name in [c"upper", c"work", c"root"] {
                // SAFETY: a valid directory descriptor and a NUL-terminated name.
                Errno::result(unsafe { libc::mkdirat(scratch.as_raw_fd(), name.as_ptr(), 0o755) })
                    .map_err(|e| failed("cannot create the overlay's layers on", e))?;
            }
            attach(scratch.as_fd(), dir).map_err(|e| failed("cannot mount tmpfs on", e))?;
            let at = |name: &std::ffi::CStr| {
                nix::fcntl::openat(
                    scratch.as_fd(),
                    name,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| failed("cannot open the overlay's layers on", e))
            };
            let (upper, work, merged) = (at(c"upper")?, at(c"work")?, at(c"root")?);
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                fd_path(dir),
                fd_path(upper.as_fd()),
                fd_path(work.as_fd())
            );
            trace::step(|| {
                format!("mount -t overlay -o lowerdir={0},upperdir=…,workdir=… overlay {0}/root", shown.display())
            });
            mount(
                Some("overlay"),
                fd_path(merged.as_fd()).as_str(),
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(|e| failed("cannot mount overlay on", e))?;
            // Through the scratch tmpfs, which only we can reach: into the overlay on root/.
            at(c"root")
        }
    }
}

const NOSUID_NODEV: u64 = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

/// A tmpfs with options `data`, not attached anywhere yet (fsopen, fsconfig,
/// fsmount), with the mount attributes `attrs`.
fn detached_tmpfs(data: &str, attrs: u64) -> Result<OwnedFd, Errno> {
    let owned = |rc: libc::c_long| -> Result<OwnedFd, Errno> {
        // SAFETY: a descriptor the kernel just returned, owned by nobody else.
        Errno::result(rc).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    // SAFETY: a NUL-terminated file system name and valid flags.
    let context = owned(unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), libc::FSOPEN_CLOEXEC) })?;
    // The source as mount(8) shows it, as `mount -t tmpfs tmpfs DIR` names it.
    for option in std::iter::once("source=tmpfs").chain(data.split(',')).filter(|o| !o.is_empty()) {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        let (key, value) =
            (CString::new(key).map_err(|_| Errno::EINVAL)?, CString::new(value).map_err(|_| Errno::EINVAL)?);
        // SAFETY: a valid fs context, NUL-terminated key and value.
        Errno::result(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                context.as_raw_fd(),
                libc::FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: a valid fs context; CMD_CREATE takes no key or value.
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
    // SAFETY: a valid, created fs context.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, context.as_raw_fd(), libc::FSMOUNT_CLOEXEC, attrs) })
}

/// Attach the detached mount `mount` onto exactly the directory `dir` holds.
fn attach(mount: BorrowedFd<'_>, dir: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: two valid descriptors, empty paths with both EMPTY_PATH flags.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            dir.as_raw_fd(),
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | super::MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Leave the file system for good, for a process that needs no file any more
/// (the init of a PID namespace, once the command runs): a mount namespace of
/// its own that holds nothing but an empty read-only tmpfs, its root and
/// working directory. Then none of `/proc/PID/root`, `/proc/PID/cwd` or
/// `/proc/PID/ns/mnt` leads a process that can see it anywhere, and mkroot
/// can tell from `/proc/PID/mountinfo` (one line, `/`) that it is sealed.
/// Needs the new mount API (Linux 5.2): ENOSYS before that.
pub fn seal_away_from_files() -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    // Nothing done below may travel to the namespace we came from.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None::<&str>)?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
    let tmpfs = detached_tmpfs("", attrs)?;
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

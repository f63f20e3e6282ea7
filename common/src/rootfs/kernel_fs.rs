//! The kernel file systems of a new root: /proc with the OCI masks and
//! read-only paths, /sys, and a /dev with the minimal set of devices.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};

use crate::error::Error;
use crate::{cstring, trace};

use super::{Root, fd_path};

/// The OCI default masks: files hidden behind /dev/null, directories behind
/// an empty read-only tmpfs.
pub const MASKED: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// The OCI default read-only paths.
pub const READ_ONLY: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// A directory that must be a real directory in the root, not a symlink.
fn real_dir(root: &Root, inside: &Path) -> Result<(), Error> {
    match root.resolve(inside, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => {
            let st =
                nix::sys::stat::fstat(fd.as_fd()).map_err(|e| Error::sys("cannot examine", inside.display(), e))?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(Error::new(
                    "refusing a symlink",
                    inside.display(),
                    "the image's /proc, /sys and /dev must be directories",
                ));
            }
            Ok(())
        }
        Err(Errno::ENOENT) => root.dir(inside),
        Err(e) => Err(Error::sys("cannot open", inside.display(), e)),
    }
}

/// A new /proc, with the OCI default masks and read-only paths unless
/// `whole` (a privileged container, as Docker's `--privileged`: a container
/// inside it can mount a /proc of its own only where no part of this one is
/// covered, the kernel's rule for a user namespace).
pub fn mount_proc(root: &Root, whole: bool) -> Result<(), Error> {
    real_dir(root, Path::new("/proc"))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    root.mount_fs("proc", Path::new("/proc"), flags, None).map_err(crate::mount::explain_proc_failure)?;
    if whole {
        return Ok(());
    }
    for path in MASKED.iter().filter(|p| p.starts_with("/proc")) {
        mask(root, Path::new(path))?;
    }
    for path in READ_ONLY {
        read_only_path(root, Path::new(path))?;
    }
    Ok(())
}

/// Make `inside` read-only where it is (a bind of itself, recursively
/// read-only); nothing when it does not exist.
pub fn read_only_path(root: &Root, inside: &Path) -> Result<(), Error> {
    let path = inside.display();
    let Ok(fd) = root.resolve(inside, OFlag::O_PATH) else { return Ok(()) };
    trace::step(|| format!("mount --bind -o ro {path} {path}"));
    let at = fd_path(fd.as_fd());
    mount(Some(at.as_str()), at.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys("cannot bind", path, e))?;
    root.read_only(inside, true)?;
    Ok(())
}

/// Hide `inside`: an empty read-only tmpfs over a directory, /dev/null over
/// anything else; nothing when it does not exist.
pub fn mask(root: &Root, inside: &Path) -> Result<(), Error> {
    let Ok(fd) = root.resolve(inside, OFlag::O_PATH) else { return Ok(()) };
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|e| Error::sys("cannot examine", inside.display(), e))?;
    let at = fd_path(fd.as_fd());
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        trace::step(|| format!("mount -t tmpfs -o ro,size=0 tmpfs {}", inside.display()));
        mount(
            Some("tmpfs"),
            at.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=0,mode=0555"),
        )
    } else {
        trace::step(|| format!("mount --bind /dev/null {}", inside.display()));
        mount(Some("/dev/null"), at.as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
    }
    .map_err(|e| Error::sys("cannot mask", inside.display(), e))
}

/// The container's own cgroups at /sys/fs/cgroup, read-only, as crun mounts
/// them, so that what sizes itself from cgroup files (a JVM, Go, Node) reads
/// its own limits. Our own cgroup's directory, bound (cheap); only where a
/// new cgroup namespace made our cgroup the root of a hierarchy that the
/// inherited mount shows from further up (`nsclone -C` below `cglimit`), a
/// fresh cgroup file system, whose root is that cgroup. A hierarchy where we
/// sit in the host's root cgroup is not shown. On a v1 or hybrid
/// host each hierarchy goes at its place in a tmpfs; the whole is made
/// read-only at once. One that cannot be shown (a v1 file system in a user
/// namespace) stays empty.
pub fn mount_cgroups(root: &Root) -> Result<(), Error> {
    let base = Path::new("/sys/fs/cgroup");
    // At the root of a hierarchy that the mount shows from its root, we are
    // in the host's root cgroup: nothing there is ours to show, and its
    // cgroup.procs would list every process of the host.
    let own: Vec<_> = crate::cgroup::own()
        .into_iter()
        .filter(|m| m.point.starts_with(base) && !(m.path == "/" && m.mount_root == "/"))
        .collect();
    if own.is_empty() {
        return Ok(());
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !own.iter().any(|m| m.is_v2() && m.point == base) {
        root.tmpfs(base, "mode=0755")?;
    }
    for m in &own {
        let target = &m.point;
        if m.path != "/" {
            root.bind(&m.dir, target, false)?;
            continue;
        }
        let fresh = if m.is_v2() {
            root.mount_fs("cgroup2", target, flags, None)
        } else {
            let named = m.controllers.starts_with("name=");
            let data = if named { format!("none,{}", m.controllers) } else { m.controllers.clone() };
            root.mount_fs("cgroup", target, flags, Some(&data))
        };
        match fresh {
            Err(err) if err.errno == Some(Errno::EPERM) => {
                trace::step(|| format!("cgroup refused (EPERM): {} left empty", target.display()));
            }
            other => other?,
        }
    }
    root.read_only(base, true)
}

pub fn mount_sys(root: &Root) -> Result<(), Error> {
    real_dir(root, Path::new("/sys"))?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match root.mount_fs("sysfs", Path::new("/sys"), flags, None) {
        Ok(()) => {}
        // In a user namespace without a network namespace of its own, sysfs cannot be mounted: show the host's, read-only.
        Err(err) if err.errno == Some(Errno::EPERM) => {
            trace::step(|| "sysfs refused (EPERM): binding the host's /sys read-only".to_owned());
            root.bind(Path::new("/sys"), Path::new("/sys"), true)?;
        }
        Err(err) => return Err(err),
    }
    mask(root, Path::new("/sys/firmware"))
}

/// The device nodes a program expects: (name, major, minor).
pub const DEVICES: [(&str, u64, u64); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// The nodes of [`DEVICES`] in the new /dev: made with mknod, or, where a
/// user namespace forbids that, the host's nodes bound.
fn device_nodes(root: &Root) -> Result<(), Error> {
    let dev = root
        .resolve(Path::new("/dev"), OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| Error::sys("cannot open", "/dev", e))?;
    for (name, major, minor) in DEVICES {
        let inside = PathBuf::from("/dev").join(name);
        let c = cstring(Path::new(name))?;
        let made = !root.userns && {
            trace::step(|| format!("mknod -m 666 {} c {major} {minor}", inside.display()));
            // SAFETY: valid dirfd and name.
            let rc = unsafe {
                libc::mknodat(
                    dev.as_raw_fd(),
                    c.as_ptr(),
                    libc::S_IFCHR | 0o666,
                    libc::makedev(major as u32, minor as u32),
                )
            };
            match Errno::result(rc) {
                Ok(_) => true,
                Err(Errno::EPERM) => false,
                Err(e) => return Err(Error::sys("cannot create device", inside.display(), e)),
            }
        };
        if made {
            root.chmod(&inside, 0o666)?;
        } else {
            // No mknod in a user namespace: the host's node, bound.
            root.bind(&Path::new("/dev").join(name), &inside, false)?;
        }
    }
    Ok(())
}

/// A device node of the caller's at `inside` (`c`, `b` or `p`), with its
/// mode and owner; in a user namespace, where mknod is refused, the host's
/// node of the same path, bound.
#[allow(clippy::too_many_arguments)]
pub fn device(
    root: &Root,
    inside: &Path,
    file_type: libc::mode_t,
    major: u32,
    minor: u32,
    mode: u32,
    owner: (u32, u32),
) -> Result<(), Error> {
    let (Some(parent), Some(name)) = (inside.parent(), inside.file_name()) else {
        return Err(Error::new("cannot create device", inside.display(), "not a path to a file"));
    };
    if root.userns {
        return root.bind(inside, inside, false);
    }
    root.dir(parent)?;
    let dir = root
        .resolve(parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| Error::sys("cannot open", parent.display(), e))?;
    let c = cstring(Path::new(name))?;
    let type_bits = file_type & libc::S_IFMT;
    let letter = match type_bits {
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        _ => 'c',
    };
    trace::step(|| format!("mknod -m {mode:o} {} {letter} {major} {minor}", inside.display()));
    // SAFETY: a valid directory descriptor and a NUL-terminated name; the result is checked.
    let rc =
        unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), type_bits | (mode & 0o7777), libc::makedev(major, minor)) };
    match Errno::result(rc) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys("cannot create device", inside.display(), e)),
    }
    // SAFETY: as above; AT_SYMLINK_NOFOLLOW, so a planted link is not followed.
    let rc = unsafe { libc::fchownat(dir.as_raw_fd(), c.as_ptr(), owner.0, owner.1, libc::AT_SYMLINK_NOFOLLOW) };
    Errno::result(rc).map_err(|e| Error::sys("cannot chown", inside.display(), e))?;
    root.chmod(inside, mode & 0o7777)
}

/// The caller's terminal, reachable by name inside: bound at /dev/console,
/// as bubblewrap does. Its own name (/dev/pts/N of the host's devpts) does
/// not exist in the new devpts, so without it ttyname() fails and `tty`,
/// ssh, sudo or script break. The command holds the terminal already as a
/// descriptor, so the name gives it nothing more.
fn console(root: &Root) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: isatty only looks at the descriptor.
    let Some(fd) = [0, 1, 2].into_iter().find(|&fd| unsafe { libc::isatty(fd) } == 1) else {
        return Ok(());
    };
    // By its name in our mount namespace: the descriptor's own mount is the
    // caller's namespace's, which mount(2) refuses to bind from. The name
    // must lead to the very same terminal.
    let held = std::fs::metadata(format!("/proc/self/fd/{fd}"));
    let name = std::fs::read_link(format!("/proc/self/fd/{fd}"));
    let (Ok(held), Ok(name)) = (held, name) else { return Ok(()) };
    match std::fs::metadata(&name) {
        Ok(named) if named.dev() == held.dev() && named.ino() == held.ino() && named.rdev() == held.rdev() => {
            root.bind(&name, Path::new("/dev/console"), false)
        }
        _ => {
            trace::step(|| format!("# the terminal of descriptor {fd} has no name here: no /dev/console"));
            Ok(())
        }
    }
}

/// The nodes and links every container's /dev has (an OCI runtime's default
/// devices): null, zero, full, random, urandom, tty; fd, stdin, stdout,
/// stderr and ptmx as links.
pub fn default_devices(root: &Root) -> Result<(), Error> {
    device_nodes(root)?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        root.symlink(Path::new(target), &Path::new("/dev").join(link))?;
    }
    Ok(())
}

pub fn mount_dev(root: &Root) -> Result<(), Error> {
    real_dir(root, Path::new("/dev"))?;
    root.mount_fs(
        "tmpfs",
        Path::new("/dev"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=0755,size=65536k"),
    )?;
    default_devices(root)?;
    console(root)?;
    let pts_options =
        if root.userns { "newinstance,ptmxmode=0666,mode=0620" } else { "newinstance,ptmxmode=0666,mode=0620,gid=5" };
    root.mount_fs("devpts", Path::new("/dev/pts"), MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some(pts_options))?;
    root.mount_fs(
        "tmpfs",
        Path::new("/dev/shm"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;
    match root.mount_fs(
        "mqueue",
        Path::new("/dev/mqueue"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    ) {
        // Only the owner of the IPC namespace may mount its queues; without one, /dev/mqueue stays empty.
        Err(err) if err.errno == Some(Errno::EPERM) => {
            trace::step(|| "mqueue refused (EPERM): /dev/mqueue left empty (add -i to nsclone)".to_owned());
            Ok(())
        }
        other => other,
    }
}

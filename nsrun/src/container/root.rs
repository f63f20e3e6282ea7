//! The container's root: its namespaces joined, the root built through
//! `rootfs::Root` (mounts, devices), pivoted into, then sysctls, read-only
//! paths and masks inside it.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use common::rootfs::{self, Root};
use common::{Error, trace};
use nix::mount::{MsFlags, mount};

use crate::config::Config;
use crate::mounts::{self, Recursive};

use super::*;

/// Everything up to pivot_root, where the create hooks run.
pub(super) fn set_up(
    bundle: &Path,
    rootfs: &Path,
    config: &Config,
    joins: &[OwnedFd],
    held: &[Option<OwnedFd>],
) -> Result<Root<'static>, Error> {
    for fd in joins {
        nix::sched::setns(fd, nix::sched::CloneFlags::empty())
            .map_err(|e| Error::sys("cannot join", "a namespace of linux.namespaces", e))?;
    }
    if config.linux.namespaces.iter().any(|n| n.ns.flag == libc::CLONE_NEWUSER) {
        become_namespace_root()?;
    }
    let root = open_root(config, rootfs)?;
    let mut has_dev = false;
    for (i, m) in config.mounts.iter().enumerate() {
        has_dev |= mount_one(&root, (bundle, rootfs), m, held.get(i).and_then(Option::as_ref))?;
    }
    if has_dev {
        rootfs::default_devices(&root)?;
    }
    for d in &config.linux.devices {
        let owner = (d.uid.unwrap_or(0), d.gid.unwrap_or(0));
        let mode = d.file_mode.unwrap_or(0o666);
        rootfs::device(&root, Path::new(&d.path), d.kind.file_type(), d.major as u32, d.minor as u32, mode, owner)?;
    }
    Ok(root)
}

/// In a user namespace, become its root: the ids we came with are the
/// host's, unmapped there (so files we made would be overflow-owned).
fn become_namespace_root() -> Result<(), Error> {
    nix::unistd::setgroups(&[]).map_err(|e| Error::sys("cannot set", "the groups of the user namespace's root", e))?;
    let zero = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
    nix::unistd::setresgid(zero.0, zero.0, zero.0)
        .map_err(|e| Error::sys("cannot become", "gid 0 of the user namespace", e))?;
    nix::unistd::setresuid(zero.1, zero.1, zero.1)
        .map_err(|e| Error::sys("cannot become", "uid 0 of the user namespace", e))
}

/// The bundle's root, bound onto itself (a mount to pivot into), held by a descriptor.
fn open_root(config: &Config, rootfs: &Path) -> Result<Root<'static>, Error> {
    // Our copy of every mount: slave by default, so that nothing we mount reaches
    // the host; what rootfsPropagation asks otherwise (rshared: a Bidirectional
    // volume's mounts reach the host through its source's peer group), as runc does.
    let before = config.linux.rootfs_propagation.as_ref().map_or(MsFlags::MS_SLAVE | MsFlags::MS_REC, |p| p.flags);
    mount(None::<&str>, "/", None::<&str>, before, None::<&str>)
        .map_err(|e| Error::sys("cannot set the propagation of", "/", e))?;
    // The mount holding the root, private if shared: the bind below then neither
    // propagates nor is shared, which pivot_root refuses.
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some((point, true)) = common::procfs::mount_holding(&info, rootfs) {
        mount(None::<&str>, &point, None::<&str>, MsFlags::MS_PRIVATE, None::<&str>)
            .map_err(|e| Error::sys("cannot make private", point.display(), e))?;
    }
    mount(Some(rootfs), rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys("cannot bind", rootfs.display(), e))?;
    Root::open(rootfs, common::userns::in_user_namespace(), None)
}

/// One mount of config.json (a bind, the cgroup hierarchies, or a file
/// system), then its recursive attributes and propagation. True for a /dev of the config's.
fn mount_one(
    root: &Root<'_>,
    (bundle, image_root): (&Path, &Path),
    m: &crate::config::Mount,
    held: Option<&OwnedFd>,
) -> Result<bool, Error> {
    let dest = Path::new(&m.destination);
    let plan = &m.plan;
    let kind = m.kind.as_deref().unwrap_or("");
    if let Some(source) = bind_source(bundle, m) {
        bind(root, (image_root, &source, held), m, plan)?;
    } else if kind == "cgroup" {
        rootfs::mount_cgroups(root)?;
    } else {
        file_system(root, m, plan)?;
    }
    if plan.recursive_set & !0x1 != 0 || plan.recursive_clear != 0 || plan.recursive_atime.is_some() {
        let (set, clear) = match plan.recursive_atime {
            Some(mode) => (plan.recursive_set | mode, plan.recursive_clear | mounts::MOUNT_ATTR_ATIME),
            None => (plan.recursive_set, plan.recursive_clear),
        };
        root.set_attributes(dest, set, clear)?;
    }
    if let Some((p, recursive)) = plan.propagation {
        let flags = if recursive == Recursive::Yes { p | MsFlags::MS_REC } else { p };
        remount(root, dest, flags, "cannot set the propagation of")?;
    }
    Ok(m.destination == "/dev" && kind != "bind" && kind != "cgroup" && plan.bind.is_none())
}

/// A bind mount's source, for a bind: absolute, or the bundle's.
pub(super) fn bind_source(bundle: &Path, m: &crate::config::Mount) -> Option<std::path::PathBuf> {
    if m.plan.bind.is_none() && m.kind.as_deref() != Some("bind") {
        return None;
    }
    let source = Path::new(m.source.as_deref().unwrap_or(""));
    Some(if source.is_absolute() { source.to_path_buf() } else { bundle.join(source) })
}

/// A bind source: below the image's root, its symlinks stay inside that
/// root (the image's, not the host's, as for the process's own paths);
/// elsewhere it is the engine's path, as it is.
pub(super) fn open_source(image_root: &Path, source: &Path) -> Result<OwnedFd, nix::errno::Errno> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    let Ok(inside) = source.strip_prefix(image_root) else {
        return nix::fcntl::open(source, flags, nix::sys::stat::Mode::empty());
    };
    let root = nix::fcntl::open(image_root, flags | OFlag::O_DIRECTORY, nix::sys::stat::Mode::empty())?;
    let inside = if inside.as_os_str().is_empty() { Path::new(".") } else { inside };
    let inside =
        std::ffi::CString::new(inside.as_os_str().as_encoded_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    rootfs::openat2(
        std::os::fd::AsRawFd::as_raw_fd(&root),
        &inside,
        flags,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// A bind mount, read-only as asked, then nosuid/nodev/noexec in place. The
/// source through the descriptor create's helper `held` for it, if any.
fn bind(
    root: &Root<'_>,
    (image_root, source, held): (&Path, &Path, Option<&OwnedFd>),
    m: &crate::config::Mount,
    plan: &mounts::Plan,
) -> Result<(), Error> {
    let dest = Path::new(&m.destination);
    let ro = plan.flags.contains(MsFlags::MS_RDONLY) || plan.recursive_set & 0x1 != 0;
    let opened;
    let fd = match held {
        Some(fd) => fd,
        None => {
            opened = open_source(image_root, source)
                .map_err(|e| Error::sys("cannot open the bind source", source.display(), e))?;
            &opened
        }
    };
    root.bind(Path::new(&rootfs::fd_path(fd.as_fd())), dest, ro)
        .map_err(|e| Error { what: format!("cannot bind {}", source.display()), ..e })?;
    let extra = plan.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if extra.is_empty() {
        return Ok(());
    }
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra | (plan.flags & MsFlags::MS_RDONLY);
    remount(root, dest, flags, "cannot remount")
}

/// mount(2) with no source on `dest` inside the root, through its descriptor.
fn remount(root: &Root<'_>, dest: &Path, flags: MsFlags, what: &str) -> Result<(), Error> {
    let fd = root.resolve(dest, nix::fcntl::OFlag::O_PATH).map_err(|e| Error::sys("cannot open", dest.display(), e))?;
    mount(None::<&str>, rootfs::fd_path(fd.as_fd()).as_str(), None::<&str>, flags, None::<&str>)
        .map_err(|e| Error::sys(what.to_owned(), dest.display(), e))
}

/// A file system (proc, tmpfs, sysfs, devpts, mqueue...), with tmpcopyup:
/// what the image has there, held open before the tmpfs hides it, copied in.
fn file_system(root: &Root<'_>, m: &crate::config::Mount, plan: &mounts::Plan) -> Result<(), Error> {
    let dest = Path::new(&m.destination);
    let kind = m.kind.as_deref().unwrap_or("");
    let data = plan.data.join(",");
    let source = m.source.as_deref().filter(|s| !s.is_empty()).unwrap_or(kind);
    let dir = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY;
    let below = if plan.copy_up { root.resolve(dest, dir).ok() } else { None };
    let flags = if read_only_later(m) { plan.flags - MsFlags::MS_RDONLY } else { plan.flags };
    root.mount_source(source, kind, dest, flags, (!data.is_empty()).then_some(data.as_str()))?;
    if let Some(below) = below {
        let fresh = root.resolve(dest, dir).map_err(|e| Error::sys("cannot open", dest.display(), e))?;
        rootfs::copy_tree(&below, &fresh)?;
    }
    Ok(())
}

/// A read-only tmpfs is mounted writable and made read-only once the root is
/// built: /dev/pts, the devices and the mounts below it must be made first (as runc does).
fn read_only_later(m: &crate::config::Mount) -> bool {
    m.kind.as_deref() == Some("tmpfs") && m.plan.bind.is_none() && m.plan.flags.contains(MsFlags::MS_RDONLY)
}

/// pivot_root, and all that is done inside the new root.
pub(super) fn finish(root: Root<'_>, config: &Config) -> Result<(), Error> {
    rootfs::pivot(&root)?;
    for m in config.mounts.iter().filter(|m| read_only_later(m)) {
        let flags = MsFlags::MS_REMOUNT | m.plan.flags;
        mount(None::<&str>, m.destination.as_str(), None::<&str>, flags, None::<&str>)
            .map_err(|e| Error::sys("cannot make read-only", &m.destination, e))?;
    }
    if let Some(p) = &config.linux.rootfs_propagation {
        mount(None::<&str>, "/", None::<&str>, p.flags, None::<&str>)
            .map_err(|e| Error::sys("cannot set the propagation of", format!("/ ({})", p.name), e))?;
    }
    if config.root.readonly {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| Error::sys("cannot make read-only", "/", e))?;
    }
    if let Some(name) = &config.hostname {
        common::uts::set_hostname(std::ffi::OsStr::new(name))?;
    }
    if let Some(name) = &config.domainname {
        common::uts::set_domainname(std::ffi::OsStr::new(name))?;
    }
    // Sysctls before the masks and read-only paths, which may cover /proc/sys (as runc does).
    for (key, value) in &config.linux.sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        common::procfs::write_once(Path::new(&path), value).map_err(|e| Error::sys("cannot set sysctl", key, e))?;
    }
    for path in &config.linux.readonly_paths {
        rootfs::read_only_path(&root, Path::new(path))?;
    }
    for path in &config.linux.masked_paths {
        rootfs::mask(&root, Path::new(path))?;
    }
    set_rlimits(&config.process)?;
    trace::step(|| "set up; held until start".to_owned());
    Ok(())
}

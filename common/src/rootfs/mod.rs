//! Root file systems: a new root built through a descriptor (every target
//! resolved inside it with openat2(RESOLVE_IN_ROOT), so no symlink in an
//! image can lead a mount out of it, and every mount made through the
//! target's descriptor), the kernel file systems in it (/proc with the OCI
//! masks, /sys, /dev), an overlay over an image, and the ways in and out: a
//! private mount namespace, pivot_root with its chroot fallback, and the seal
//! of a process that needs no file any more.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;
use crate::{cstring, trace};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;

mod entry;
mod kernel_fs;

pub use entry::{Entered, RootMount, enter_private_mount_namespace, hold_dir, mount_root, pivot, seal_away_from_files};
pub use kernel_fs::{
    DEVICES, MASKED, READ_ONLY, default_devices, device, mask, mount_cgroups, mount_dev, mount_proc, mount_sys,
    read_only_path,
};

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_int = 0x8000;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// openat2(2) of `path` from `dirfd` (close-on-exec), resolved as `resolve` says.
pub fn openat2(dirfd: std::os::fd::RawFd, path: &std::ffi::CStr, flags: OFlag, resolve: u64) -> Result<OwnedFd, Errno> {
    let how = OpenHow { flags: (flags | OFlag::O_CLOEXEC).bits() as u64, mode: 0, resolve };
    // SAFETY: valid dirfd, NUL-terminated path, and an open_how of the size we pass.
    let rc = unsafe { libc::syscall(libc::SYS_openat2, dirfd, path.as_ptr(), &how, size_of::<OpenHow>()) };
    if rc < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh descriptor from openat2.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// What to make at a path that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Make {
    Dir,
    File,
    /// Only recorded: symlinks are made by [`Root::symlink`].
    Symlink,
}

/// The path of a descriptor, for the system calls that take paths.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// One entry mkroot created in an image: its directory, its name, and what
/// it is, so that a failed run can remove it again.
pub struct Created {
    parent: OwnedFd,
    name: CString,
    kind: Make,
}

/// What mkroot created in an image, in order. Only an image bound as it is
/// needs one: a fresh root and an overlay's upper layer are tmpfs that vanish.
#[derive(Default)]
pub struct Journal(std::cell::RefCell<Vec<Created>>);

impl Journal {
    /// Remove every entry, newest first, unmounting what is mounted on it in
    /// this (private) namespace; before or after the pivot alike. Through the
    /// descriptors of their directories, never following a symlink, so nothing
    /// swapped in since can redirect a removal; what is no longer empty stays.
    /// Changes the working directory: for failure paths only.
    pub fn undo(&self) {
        for entry in self.0.borrow_mut().drain(..).rev() {
            if entry.kind != Make::Symlink && nix::unistd::fchdir(&entry.parent).is_ok() {
                // SAFETY: a NUL-terminated name, relative to the directory we are in; never followed.
                while unsafe { libc::umount2(entry.name.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } == 0 {}
            }
            let flags = if entry.kind == Make::Dir { libc::AT_REMOVEDIR } else { 0 };
            // SAFETY: a valid directory descriptor and name.
            unsafe { libc::unlinkat(entry.parent.as_raw_fd(), entry.name.as_ptr(), flags) };
        }
    }
}

/// The new root under construction.
pub struct Root<'j> {
    pub path: PathBuf,
    fd: OwnedFd,
    /// The root's own path as the kernel prints it, to tell where a resolved target is.
    real: PathBuf,
    /// Inside a user namespace: no mknod, locked mount flags.
    pub userns: bool,
    /// A root made empty: what is prepared below its top level is mostly
    /// missing, so there the parent is walked first and the target made, not
    /// looked for first.
    pub fresh: bool,
    journal: Option<&'j Journal>,
}

impl<'j> Root<'j> {
    pub fn open(path: &Path, userns: bool, journal: Option<&'j Journal>) -> Result<Self, Error> {
        let fd = open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys("cannot open", path.display(), e))?;
        Self::from_fd(fd, path, userns, journal)
    }

    /// The root whose top `fd` holds (`path` names it in messages).
    pub fn from_fd(fd: OwnedFd, path: &Path, userns: bool, journal: Option<&'j Journal>) -> Result<Self, Error> {
        let real = std::fs::read_link(fd_path(fd.as_fd()))
            .map_err(|e| Error::new("cannot examine", path.display(), crate::io_reason(&e)))?;
        Ok(Self { path: path.to_path_buf(), fd, real, userns, fresh: false, journal })
    }

    /// Where a descriptor resolved in the root lies, as a path inside it.
    pub fn container_path(&self, fd: BorrowedFd<'_>, inside: &Path) -> Result<PathBuf, Error> {
        let unknown = || Error::new("cannot tell where it leads", inside.display(), "outside the root");
        let at = std::fs::read_link(fd_path(fd)).map_err(|_| unknown())?;
        let rel = at.strip_prefix(&self.real).map_err(|_| unknown())?;
        Ok(Path::new("/").join(rel))
    }

    fn record(&self, parent: BorrowedFd<'_>, name: &CString, kind: Make) {
        // The journal first: without one (a fresh root) no descriptor is duplicated.
        if let Some(journal) = self.journal
            && let Ok(parent) = parent.try_clone_to_owned()
        {
            journal.0.borrow_mut().push(Created { parent, name: name.clone(), kind });
        }
    }

    /// Whether resolving `inside` failed with ELOOP because it crosses a magic
    /// link of /proc (`/proc/self/root`), which resolution never follows:
    /// its symlinks, expanded by name inside the root, lead into /proc.
    fn crosses_magic_link(&self, inside: &Path) -> bool {
        let mut path = inside.to_path_buf();
        'expand: for _ in 0..40 {
            let mut prefix = PathBuf::from("/");
            let parts: Vec<PathBuf> = path.components().skip(1).map(|c| PathBuf::from(c.as_os_str())).collect();
            for (i, part) in parts.iter().enumerate() {
                if prefix.starts_with("/proc") {
                    return true;
                }
                let Ok(dir) = self.resolve(&prefix, OFlag::O_PATH | OFlag::O_DIRECTORY) else { return false };
                if let Some(target) = read_link_at(dir.as_fd(), part.as_os_str()) {
                    let mut next = lexical_join(&prefix, &target);
                    next.extend(&parts[i + 1..]);
                    path = next;
                    continue 'expand;
                }
                prefix.push(part);
            }
            return prefix.starts_with("/proc");
        }
        false
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Open `inside` (a container path) resolved within the root.
    pub fn resolve(&self, inside: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
        self.resolve_with(inside, flags, 0)
    }

    /// [`Root::resolve`] with more RESOLVE_* flags.
    fn resolve_with(&self, inside: &Path, flags: OFlag, resolve: u64) -> Result<OwnedFd, Errno> {
        let rel = inside.strip_prefix("/").unwrap_or(inside);
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        let c = CString::new(rel.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        openat2(self.fd.as_raw_fd(), &c, flags, libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | resolve)
    }

    /// Make sure `inside` exists (creating missing directories, and the last
    /// component as `make`), all within the root, and return its O_PATH fd.
    /// A symlink on the way to a missing path is followed inside the root,
    /// as the kernel would resolve it there, and its target created.
    pub fn prepare(&self, inside: &Path, make: Make) -> Result<OwnedFd, Error> {
        self.prepare_within(inside, make, 0).map(|(fd, _)| fd)
    }

    /// [`Root::prepare`], and where the target really lies in the root: `inside`
    /// itself when no symlink was on the way, else where the kernel resolved it.
    /// Most targets cross no link, and knowing it saves asking /proc.
    pub fn prepare_resolved(&self, inside: &Path, make: Make) -> Result<(OwnedFd, PathBuf), Error> {
        let (fd, through_link) = self.prepare_within(inside, make, 0)?;
        let resolved = if through_link { self.container_path(fd.as_fd(), inside)? } else { clean(inside) };
        Ok((fd, resolved))
    }

    /// Open `inside` resolved within the root, refusing symlinks first: the
    /// descriptor, and whether a symlink was followed to reach it.
    fn resolve_noting_links(&self, inside: &Path) -> Result<(OwnedFd, bool), Errno> {
        match self.resolve_with(inside, OFlag::O_PATH, libc::RESOLVE_NO_SYMLINKS) {
            Err(Errno::ELOOP) => self.resolve(inside, OFlag::O_PATH).map(|fd| (fd, true)),
            other => other.map(|fd| (fd, false)),
        }
    }

    /// The target's descriptor, and whether a symlink was followed on the way.
    fn prepare_within(&self, inside: &Path, make: Make, depth: usize) -> Result<(OwnedFd, bool), Error> {
        let fail = |at: &Path, e: Errno| {
            if e == Errno::ELOOP && self.crosses_magic_link(at) {
                return Error::new(
                    "cannot create",
                    inside.display(),
                    "it leads through a magic link of /proc (such as /proc/self/root), which mkroot never follows",
                );
            }
            creation_failure(inside, e)
        };
        if depth > 40 {
            return Err(fail(inside, Errno::ELOOP));
        }
        let parts: Vec<_> = inside.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        let whole = clean(inside);
        // In an image most targets exist (its mount points, the files /proc masks): one walk.
        // So does a fresh root's top level, the skeleton made first; below it most targets
        // are new, and the parent's walk and the creation find out. Either order is correct.
        if !self.fresh || parts.len() <= 1 {
            match self.resolve_noting_links(&whole) {
                Ok(found) => return Ok(found),
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(fail(&whole, e)),
            }
        }
        let Some((last, up)) = parts.split_last() else {
            return Err(fail(&whole, Errno::ENOENT));
        };
        let parent_path: PathBuf = std::iter::once(Component::RootDir).chain(up.iter().copied()).collect();
        let (parent, through_link) = match up {
            [] => (None, false),
            _ => match self.resolve_noting_links(&parent_path) {
                Ok((fd, through_link)) => (Some(fd), through_link),
                Err(Errno::ENOENT) => {
                    let (fd, through_link) = self.prepare_within(&parent_path, Make::Dir, depth)?;
                    (Some(fd), through_link)
                }
                Err(e) => return Err(fail(&parent_path, e)),
            },
        };
        let dir = parent.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
        let name = last.as_os_str();
        let c = CString::new(name.as_bytes()).map_err(|_| fail(&whole, Errno::EINVAL))?;
        // Created first, and only where the name is free: a name taken that the walk above
        // could not follow is a link to a missing path, whose target is created inside the root.
        let created = if make == Make::File {
            // SAFETY: valid dirfd and name; the new fd is closed at once.
            let fd = unsafe {
                libc::openat(
                    dir.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                    0o644,
                )
            };
            // SAFETY: closing the descriptor just opened.
            Errno::result(fd).map(|fd| unsafe { libc::close(fd) }).map(drop)
        } else {
            // SAFETY: valid dirfd and name.
            Errno::result(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) }).map(drop)
        };
        match created {
            Ok(()) => {
                self.record(dir, &c, make);
                let only_dir = if make == Make::Dir { OFlag::O_DIRECTORY } else { OFlag::empty() };
                // The name just made, never through a link put in its place meanwhile.
                nix::fcntl::openat(
                    dir,
                    name,
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | only_dir,
                    Mode::empty(),
                )
                .map(|fd| (fd, through_link))
                .map_err(|e| fail(&whole, e))
            }
            Err(Errno::EEXIST) => match read_link_at(dir, name) {
                Some(target) => {
                    self.prepare_within(&lexical_join(&parent_path, &target), make, depth + 1)?;
                    self.resolve(&whole, OFlag::O_PATH).map(|fd| (fd, true)).map_err(|e| fail(&whole, e))
                }
                // In a fresh root, not looked for first: what is there is opened as the walk would.
                None if self.fresh => self.resolve_noting_links(&whole).map_err(|e| fail(&whole, e)),
                None => Err(fail(&whole, Errno::EEXIST)),
            },
            Err(e) => Err(fail(&whole, e)),
        }
    }

    /// Bind a host path onto `inside`; read-only binds are made recursively
    /// read-only.
    pub fn bind(&self, src: &Path, inside: &Path, ro: bool) -> Result<(), Error> {
        let target = self.prepare(inside, make_for(src))?;
        self.bind_at(src, &target, inside, ro)
    }

    /// Bind a host path onto `target`, the prepared descriptor of `inside`.
    pub fn bind_at(&self, src: &Path, target: &OwnedFd, inside: &Path, ro: bool) -> Result<(), Error> {
        trace::step(|| {
            format!("mount --rbind{} {} {}", if ro { " -o ro" } else { "" }, src.display(), inside.display())
        });
        let failed = |e| Error::sys(format!("cannot bind {}", src.display()), inside.display(), e);
        // A copy of the tree, detached, made read-only before it is attached: it is never
        // writable in the root, and the target is reached through its descriptor alone.
        let tree = match open_tree_copy(src) {
            Ok(tree) => tree,
            // Before Linux 5.2: bind by path, then make read-only in place.
            Err(Errno::ENOSYS) => {
                mount(
                    Some(src),
                    fd_path(target.as_fd()).as_str(),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(failed)?;
                return if ro { self.read_only(inside, true) } else { Ok(()) };
            }
            Err(e) => return Err(failed(e)),
        };
        let ro_later = match ro.then(|| set_read_only(tree.as_fd(), true)) {
            None | Some(Ok(())) => false,
            // Before Linux 5.12, no mount_setattr: read_only's remount, once attached.
            Some(Err(Errno::ENOSYS)) => true,
            Some(Err(e)) => return Err(Error::sys("cannot make read-only", inside.display(), e)),
        };
        // SAFETY: two valid descriptors, empty paths with both EMPTY_PATH flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                c"".as_ptr(),
                target.as_raw_fd(),
                c"".as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
            )
        };
        Errno::result(rc).map_err(failed)?;
        if ro_later { self.read_only(inside, true) } else { Ok(()) }
    }

    /// Set and clear MOUNT_ATTR_* of the mount at `inside` and every mount
    /// below it (OCI's `rnosuid`, `rnoexec`, `rnoatime`, ...), through mount_setattr(2).
    pub fn set_attributes(&self, inside: &Path, set: u64, clear: u64) -> Result<(), Error> {
        let top = self.resolve(inside, OFlag::O_PATH).map_err(|e| Error::sys("cannot open", inside.display(), e))?;
        trace::step(|| format!("mount_setattr {} set {set:#x} clear {clear:#x} (recursive)", inside.display()));
        mount_setattr(top.as_fd(), true, set, clear)
            .map_err(|e| Error::sys("cannot set the mount attributes of", inside.display(), e))
    }

    /// Make the mount at `inside` read-only (recursively: every mount below it too).
    pub fn read_only(&self, inside: &Path, recursive: bool) -> Result<(), Error> {
        let top = self.resolve(inside, OFlag::O_PATH).map_err(|e| Error::sys("cannot open", inside.display(), e))?;
        match set_read_only(top.as_fd(), recursive) {
            Ok(()) => Ok(()),
            // Before Linux 5.12: remount the top mount alone, keeping the flags it has (they may be locked).
            Err(Errno::ENOSYS) => {
                let st = nix::sys::statvfs::fstatvfs(top.as_fd())
                    .map_err(|e| Error::sys("cannot make read-only", inside.display(), e))?;
                let keep = MsFlags::from_bits_truncate(st.flags().bits() as libc::c_ulong)
                    & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_NOATIME);
                mount(
                    None::<&str>,
                    fd_path(top.as_fd()).as_str(),
                    None::<&str>,
                    MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | keep,
                    None::<&str>,
                )
                .map_err(|e| Error::sys("cannot make read-only", inside.display(), e))
            }
            Err(e) => Err(Error::sys("cannot make read-only", inside.display(), e)),
        }
    }

    /// Mount a file system of type `fstype` on `inside`. A refused mount is
    /// `cannot mount FSTYPE on: INSIDE` with its errno, for callers that fall
    /// back on EPERM.
    pub fn mount_fs(&self, fstype: &str, inside: &Path, flags: MsFlags, data: Option<&str>) -> Result<(), Error> {
        self.mount_source(fstype, fstype, inside, flags, data)
    }

    /// [`Root::mount_fs`], with a source name of the caller's (an OCI mount's `source`).
    pub fn mount_source(
        &self,
        source: &str,
        fstype: &str,
        inside: &Path,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Error> {
        let target = self.prepare(inside, Make::Dir)?;
        self.mount_fs_at(source, fstype, &target, inside, flags, data)
    }

    /// Mount a file system on `target`, the prepared descriptor of `inside`.
    pub fn mount_fs_at(
        &self,
        source: &str,
        fstype: &str,
        target: &OwnedFd,
        inside: &Path,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Error> {
        trace::step(|| {
            format!(
                "mount -t {fstype}{} {source} {}",
                data.map(|d| format!(" -o {d}")).unwrap_or_default(),
                inside.display()
            )
        });
        mount(Some(source), fd_path(target.as_fd()).as_str(), Some(fstype), flags, data)
            .map_err(|e| Error::sys(format!("cannot mount {fstype} on"), inside.display(), e))
    }

    pub fn tmpfs(&self, inside: &Path, data: &str) -> Result<(), Error> {
        let target = self.prepare(inside, Make::Dir)?;
        self.tmpfs_at(&target, inside, data)
    }

    pub fn tmpfs_at(&self, target: &OwnedFd, inside: &Path, data: &str) -> Result<(), Error> {
        self.mount_fs_at("tmpfs", "tmpfs", target, inside, MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(data))
    }

    pub fn dir(&self, inside: &Path) -> Result<(), Error> {
        trace::step(|| format!("mkdir -p {}", inside.display()));
        self.prepare(inside, Make::Dir).map(drop)
    }

    pub fn symlink(&self, target: &Path, inside: &Path) -> Result<(), Error> {
        let parent = inside.parent().unwrap_or(Path::new("/"));
        let name = inside.file_name().ok_or_else(|| Error::new("invalid symlink", inside.display(), "no name"))?;
        let dir = self.prepare(parent, Make::Dir)?;
        trace::step(|| format!("ln -s {} {}", target.display(), inside.display()));
        let (t, n) = (cstring(target)?, cstring(Path::new(name))?);
        // SAFETY: valid strings and dirfd.
        let rc = unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) };
        match Errno::result(rc) {
            Ok(_) => {
                self.record(dir.as_fd(), &n, Make::Symlink);
                Ok(())
            }
            // Already a link to the same target (a merged-/usr image): nothing to do.
            Err(Errno::EEXIST) if read_link_at(dir.as_fd(), name).as_deref() == Some(target) => Ok(()),
            Err(e) => Err(Error::sys("cannot create symlink", inside.display(), e)),
        }
    }

    /// Write a small file inside the root (never following a symlink at its place).
    pub fn write(&self, inside: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
        let parent = self.prepare(inside.parent().unwrap_or(Path::new("/")), Make::Dir)?;
        let name = cstring(Path::new(inside.file_name().unwrap_or_default()))?;
        trace::step(|| format!("write {}", inside.display()));
        // SAFETY: valid dirfd and name.
        let fd = unsafe {
            libc::openat(
                parent.as_raw_fd(),
                name.as_ptr(),
                libc::O_CREAT | libc::O_TRUNC | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode,
            )
        };
        let fd = Errno::result(fd).map_err(|e| Error::sys("cannot write", inside.display(), e))?;
        // SAFETY: a fresh descriptor that we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        nix::unistd::write(&fd, content).map_err(|e| Error::sys("cannot write", inside.display(), e))?;
        Ok(())
    }

    /// A directory made with exactly `mode` (no umask), e.g. 1777 for /tmp.
    pub fn chmod(&self, inside: &Path, mode: u32) -> Result<(), Error> {
        let fd = self.resolve(inside, OFlag::O_PATH).map_err(|e| Error::sys("cannot open", inside.display(), e))?;
        std::fs::set_permissions(fd_path(fd.as_fd()), std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(|e| Error::new("cannot chmod", inside.display(), crate::io_reason(&e)))
    }
}

/// A DIR that mkroot created, to remove again when the run fails, even after
/// the pivot: through a descriptor of its parent, and only if the name still
/// holds the directory we made.
pub struct MadeDir {
    parent: OwnedFd,
    name: CString,
    id: (u64, u64),
}

impl MadeDir {
    pub fn create(dir: &Path) -> Result<Self, Error> {
        let fail = |e: Errno| Error::sys("cannot create", dir.display(), e);
        let parent_path = crate::parent_dir(dir);
        let parent =
            open(parent_path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).map_err(fail)?;
        let name = cstring(Path::new(dir.file_name().unwrap_or_default()))?;
        // SAFETY: a valid directory descriptor and name.
        Errno::result(unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) }).map_err(fail)?;
        let made = Self { parent, name, id: (0, 0) };
        let id = made.id().ok_or_else(|| fail(Errno::ENOENT))?;
        Ok(Self { id, ..made })
    }

    /// The directory we made, held (see [`hold_dir`]): only if its name still holds it.
    pub fn open(&self) -> Result<OwnedFd, Error> {
        let fail = |e: Errno| Error::sys("cannot open", self.name.to_string_lossy(), e);
        let fd = nix::fcntl::openat(
            self.parent.as_fd(),
            self.name.as_c_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail)?;
        let st = nix::sys::stat::fstat(&fd).map_err(fail)?;
        if (st.st_dev, st.st_ino) != self.id {
            return Err(fail(Errno::ESTALE));
        }
        Ok(fd)
    }

    fn id(&self) -> Option<(u64, u64)> {
        let st = nix::sys::stat::fstatat(
            self.parent.as_fd(),
            self.name.as_c_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok()?;
        Some((st.st_dev, st.st_ino))
    }

    pub fn remove(self) {
        if self.id() == Some(self.id) {
            // SAFETY: a valid directory descriptor and name.
            unsafe { libc::unlinkat(self.parent.as_raw_fd(), self.name.as_ptr(), libc::AT_REMOVEDIR) };
        }
    }
}

/// A detached copy of the mount tree at `src` (open_tree OPEN_TREE_CLONE,
/// recursive: what `mount --rbind` would attach), to attach with move_mount.
fn open_tree_copy(src: &Path) -> Result<OwnedFd, Errno> {
    let c = CString::new(src.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_RECURSIVE as libc::c_uint;
    // SAFETY: a NUL-terminated path and valid flags; the descriptor returned is ours.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    // SAFETY: a fresh descriptor from open_tree.
    Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// mount_setattr MOUNT_ATTR_RDONLY on the mount `fd` is (and every mount below it).
fn set_read_only(fd: BorrowedFd<'_>, recursive: bool) -> Result<(), Errno> {
    mount_setattr(fd, recursive, MOUNT_ATTR_RDONLY, 0)
}

/// mount_setattr(2): set and clear MOUNT_ATTR_* of the mount `fd` is (and every mount below it).
fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, set: u64, clear: u64) -> Result<(), Errno> {
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    let flags = libc::AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: a valid fd, an empty path with AT_EMPTY_PATH, and a mount_attr of the size we pass.
    let rc = unsafe {
        libc::syscall(libc::SYS_mount_setattr, fd.as_raw_fd(), c"".as_ptr(), flags, &attr, size_of::<MountAttr>())
    };
    Errno::result(rc).map(drop)
}

/// What to make at a bind's target: what the source is.
pub fn make_for(src: &Path) -> Make {
    if std::fs::metadata(src).is_ok_and(|m| m.is_dir()) { Make::Dir } else { Make::File }
}

/// What a failed creation inside the root means for the user.
fn creation_failure(inside: &Path, errno: Errno) -> Error {
    let why = match errno {
        Errno::EROFS => {
            "Read-only file system (the image cannot take this mount point: use --overlay, or create it in the image)"
                .to_owned()
        }
        Errno::ELOOP => "Too many levels of symbolic links (a symlink loop in the image)".to_owned(),
        Errno::EEXIST | Errno::ENOTDIR => format!("{} (something else is in the way in the image)", errno.desc()),
        e => e.desc().to_owned(),
    };
    Error::new("cannot create", inside.display(), why)
}

/// Where a link at `dir` (a container path) pointing to `target` leads,
/// resolved as the kernel does inside a root: `..` stops at `/`.
pub fn lexical_join(dir: &Path, target: &Path) -> PathBuf {
    let mut out = if target.is_absolute() { PathBuf::from("/") } else { dir.to_path_buf() };
    for part in target.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    if out.as_os_str().is_empty() { PathBuf::from("/") } else { out }
}

/// An absolute container path with only its names: no `.`, no repeated `/`.
fn clean(inside: &Path) -> PathBuf {
    std::iter::once(Component::RootDir)
        .chain(inside.components().filter(|c| matches!(c, Component::Normal(_))))
        .collect()
}

fn read_link_at(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> Option<PathBuf> {
    // readlinkat on the directory itself: one component, no walk through /proc.
    nix::fcntl::readlinkat(dir, name).ok().map(PathBuf::from)
}

/// Copy the tree in directory `from` into directory `to` (OCI's tmpcopyup:
/// what the image has below a mount point, into the tmpfs mounted on it):
/// directories, files, symlinks and device nodes with their modes and
/// owners, all by descriptor, never following a link of the image's.
pub fn copy_tree(from: &OwnedFd, to: &OwnedFd) -> Result<(), Error> {
    copy_tree_below(from, to, 0)
}

/// How deep [`copy_tree`] goes: an image's directory nested deeper is refused, not a stack overflow.
const COPY_DEPTH: usize = 128;

fn copy_tree_below(from: &OwnedFd, to: &OwnedFd, depth: usize) -> Result<(), Error> {
    if depth > COPY_DEPTH {
        return Err(Error::new("cannot copy", "a directory", format!("nested more than {COPY_DEPTH} deep")));
    }
    use nix::sys::stat::{Mode, SFlag, fchmodat, fstatat, mkdirat};
    use nix::unistd::{Gid, Uid, fchownat};
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    let dir = nix::dir::Dir::from_fd(nix::unistd::dup(from).map_err(|e| Error::sys("cannot copy", "a directory", e))?)
        .map_err(|e| Error::sys("cannot read", "a directory to copy", e))?;
    for entry in dir.into_iter().flatten() {
        let name = entry.file_name();
        let shown = name.to_string_lossy().into_owned();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let st = fstatat(from, name, nofollow).map_err(|e| Error::sys("cannot stat", &shown, e))?;
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        let open = |fd: &OwnedFd, flags: OFlag| {
            nix::fcntl::openat(fd, name, flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| Error::sys("cannot open", &shown, e))
        };
        if kind == SFlag::S_IFDIR {
            mkdirat(to, name, mode).map_err(|e| Error::sys("cannot create", &shown, e))?;
            copy_tree(
                &open(from, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?,
                &open(to, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?,
            )?;
        } else if kind == SFlag::S_IFREG {
            let mut src = std::fs::File::from(open(from, OFlag::O_RDONLY)?);
            let dst =
                nix::fcntl::openat(to, name, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC, mode)
                    .map_err(|e| Error::sys("cannot create", &shown, e))?;
            std::io::copy(&mut src, &mut std::fs::File::from(dst))
                .map_err(|e| Error::new("cannot copy", &shown, crate::io_reason(&e)))?;
        } else if kind == SFlag::S_IFLNK {
            let target = nix::fcntl::readlinkat(from, name).map_err(|e| Error::sys("cannot read", &shown, e))?;
            nix::unistd::symlinkat(target.as_os_str(), to, name).map_err(|e| Error::sys("cannot create", &shown, e))?;
        } else {
            // A device, FIFO or socket node: made again where mknod is ours, else left out.
            // SAFETY: a valid directory descriptor and a NUL-terminated name; the result is checked.
            let rc = unsafe { libc::mknodat(to.as_raw_fd(), name.as_ptr(), st.st_mode, st.st_rdev) };
            if rc != 0 {
                continue;
            }
        }
        fchownat(to, name, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)), nofollow)
            .map_err(|e| Error::sys("cannot chown", &shown, e))?;
        if kind != SFlag::S_IFLNK {
            // After the chown, which clears set-id bits; the name is ours, no link.
            fchmodat(to, name, mode, nix::sys::stat::FchmodatFlags::FollowSymlink)
                .map_err(|e| Error::sys("cannot chmod", &shown, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_root() {
        assert_eq!(lexical_join(Path::new("/a/b"), Path::new("../c")), PathBuf::from("/a/c"));
        assert_eq!(lexical_join(Path::new("/a"), Path::new("../../../../etc")), PathBuf::from("/etc"));
        assert_eq!(lexical_join(Path::new("/a"), Path::new("/tmp/x")), PathBuf::from("/tmp/x"));
        assert_eq!(lexical_join(Path::new("/"), Path::new("..")), PathBuf::from("/"));
    }

    /// A scratch directory of this test's own, removed at the end.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// prepare() in a plain directory (no mount needed): what exists is opened, what is
    /// missing is made (each piece recorded), a dangling link's target is made inside the
    /// root, a link out of it stays inside, and what is in the way is named; alike whether
    /// the root is taken as an image (looked for first) or as fresh (made first). Where a
    /// target really lies is the path itself without a link on the way, else the kernel's.
    #[test]
    fn prepare_makes_what_is_missing_inside_the_root() {
        for fresh in [false, true] {
            let dir = std::env::temp_dir().join(format!("nstools-prepare-{}-{fresh}", std::process::id()));
            let _scratch = Scratch(dir.clone());
            std::fs::create_dir_all(dir.join("etc")).unwrap();
            std::os::unix::fs::symlink("usr/bin", dir.join("bin")).unwrap();
            std::os::unix::fs::symlink("../../../../outside", dir.join("etc/away")).unwrap();
            std::os::unix::fs::symlink("/etc", dir.join("config")).unwrap();
            std::fs::write(dir.join("file"), "").unwrap();
            let journal = Journal::default();
            let mut root = Root::open(&dir, false, Some(&journal)).unwrap();
            root.fresh = fresh;
            let where_is = |fd: &OwnedFd| root.container_path(fd.as_fd(), Path::new("?")).unwrap();
            let resolved = |inside: &str, make| {
                let (fd, at) = root.prepare_resolved(Path::new(inside), make).unwrap();
                assert_eq!(at, where_is(&fd), "{inside} (fresh: {fresh})");
                at
            };

            assert_eq!(resolved("/etc", Make::Dir), Path::new("/etc"));
            assert!(journal.0.borrow().is_empty(), "nothing made for what exists");
            assert_eq!(resolved("/var/lib/x", Make::Dir), Path::new("/var/lib/x"));
            assert!(dir.join("var/lib/x").is_dir());
            assert_eq!(journal.0.borrow().len(), 3, "var, lib and x recorded");
            assert_eq!(resolved("/var//lib/./x", Make::Dir), Path::new("/var/lib/x"), "found, not made again");
            assert_eq!(resolved("/bin/tool", Make::File), Path::new("/usr/bin/tool"));
            assert!(dir.join("usr/bin/tool").is_file());
            assert_eq!(resolved("/config/made", Make::Dir), Path::new("/etc/made"));
            assert_eq!(resolved("/config", Make::Dir), Path::new("/etc"));
            let away = root.prepare(Path::new("/etc/away/deeper"), Make::Dir).unwrap();
            assert_eq!(where_is(&away), Path::new("/outside/deeper"));
            assert!(dir.join("outside/deeper").is_dir() && !dir.parent().unwrap().join("outside").exists());
            assert_eq!(resolved("/etc/away", Make::Dir), Path::new("/outside"));
            let blocked = root.prepare(Path::new("/file/below"), Make::Dir).err().unwrap();
            assert!(blocked.to_string().contains("/file/below"), "{blocked}");
            assert!(blocked.to_string().contains("Not a directory"), "{blocked}");
            assert_eq!(resolved("/file", Make::Dir), Path::new("/file"), "what is there is opened as it is");
        }
    }
}

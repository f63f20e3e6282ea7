//! Cgroups: where each hierarchy this process belongs to is mounted, and its
//! own cgroup there, on cgroup v1, v2 and hybrid hosts alike; which
//! hierarchy holds a controller; a cgroup of our own below ours, its limit
//! files, joining it, and ending and removing it with all that is left in it.
//! cglimit stands on it; the test guard uses the discovery to watch our subtree.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::error::Error;
use crate::{procfs, trace};

pub mod devices;
pub mod limit;

/// One hierarchy this process is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// `cgroup2`, or the v1 controllers (`memory`, `cpu,cpuacct`, `name=systemd`).
    pub controllers: String,
    /// Our own cgroup in it, as a directory: the mount point joined with our path.
    pub dir: PathBuf,
    /// Where the hierarchy is mounted, and our cgroup's path in it (`/` at its root).
    pub point: PathBuf,
    pub path: String,
    /// The mount's root as mountinfo shows it: `/` when it is the root of the
    /// hierarchy as our cgroup namespace sees it; a path with `..` when the
    /// mount was made outside a cgroup namespace we are in now.
    pub mount_root: String,
}

impl Membership {
    pub fn is_v2(&self) -> bool {
        self.controllers == "cgroup2"
    }

    /// The controllers this hierarchy offers our cgroup: a v1 hierarchy's
    /// own (`cpu,cpuacct`), or what v2's `cgroup.controllers` lists here.
    pub fn offers(&self, controller: &str) -> bool {
        if self.is_v2() {
            std::fs::read_to_string(self.dir.join("cgroup.controllers"))
                .is_ok_and(|list| list.split_whitespace().any(|c| c == controller))
        } else {
            self.controllers.split(',').any(|c| c == controller)
        }
    }
}

/// The hierarchy that holds `controller` for us: a v1 one that has it,
/// else the v2 one if it offers it (on a hybrid host the v1 hierarchies
/// hold the controllers, and cgroup2 only what they leave).
pub fn holding<'a>(hierarchies: &'a [Membership], controller: &str) -> Option<&'a Membership> {
    hierarchies
        .iter()
        .find(|h| !h.is_v2() && h.offers(controller))
        .or_else(|| hierarchies.iter().find(|h| h.is_v2() && h.offers(controller)))
}

/// A cgroup we made, in one hierarchy.
#[derive(Debug)]
pub struct Made {
    pub dir: PathBuf,
    pub v2: bool,
    /// Where we moved ourselves to make room (see [`Made::create`]), to undo.
    pub moved: Option<Moved>,
}

/// A move of our own process into a leaf beside the new cgroup, and the
/// controllers enabled in the parent since: undone when the cgroup ends.
#[derive(Debug)]
pub struct Moved {
    parent: PathBuf,
    leaf: PathBuf,
    enabled: String,
}

impl Moved {
    /// The leaf we moved into.
    pub fn leaf(&self) -> &Path {
        &self.leaf
    }
}

impl Made {
    /// Make `name` below `parent` (our own cgroup, or one inside it). On v2,
    /// `controllers` are first enabled in `parent`'s subtree_control. The
    /// kernel refuses that while `parent` holds processes ("no internal
    /// processes"); when the only one is this process (a delegated scope
    /// that runs cglimit), we move ourselves, and nobody else, into a leaf
    /// `NAME.supervisor` beside the new cgroup, and back when it ends. Our
    /// `helpers` (processes of ours, such as cglimit's sweeper) may be there
    /// too, and move with us.
    pub fn create(
        parent: &Path,
        name: &str,
        v2: bool,
        controllers: &[&str],
        helpers: &[libc::pid_t],
    ) -> Result<Self, Error> {
        let mut moved = None;
        if v2 && !controllers.is_empty() {
            let enable: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
            let enable = enable.join(" ");
            let file = parent.join("cgroup.subtree_control");
            trace::step(|| format!("echo '{enable}' > {}", file.display()));
            match procfs::write_once(&file, &enable) {
                Ok(()) => {}
                Err(Errno::EBUSY) if only_we_are_in(parent, helpers) => {
                    moved = Some(move_aside(parent, name, &enable, helpers)?);
                }
                Err(e) => return Err(subtree_failure(&file, e)),
            }
        }
        let dir = parent.join(name);
        trace::step(|| format!("mkdir {}", dir.display()));
        std::fs::create_dir(&dir).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::AlreadyExists if dir.is_file() => {
                    "that is a control file of the parent cgroup, not a cgroup: choose another name (--name)".to_owned()
                }
                std::io::ErrorKind::AlreadyExists => "a cgroup of that name exists already (--name)".to_owned(),
                std::io::ErrorKind::PermissionDenied => {
                    format!("{} (this cgroup is not delegated to you: {GET_DELEGATION})", crate::io_reason(&e))
                }
                _ => crate::io_reason(&e),
            };
            Error::new("cannot create cgroup", dir.display(), why)
        })?;
        Ok(Self { dir, v2, moved })
    }

    /// Write one limit file of this cgroup.
    pub fn set(&self, file: &str, value: &str) -> Result<(), Error> {
        let path = self.dir.join(file);
        trace::step(|| format!("echo {value} > {}", path.display()));
        procfs::write_once(&path, value).map_err(|e| Error::sys(format!("cannot write {value} to"), path.display(), e))
    }

    /// Move the calling process (thread, on v1) in: the cheap way, writing 0.
    pub fn join(&self) -> Result<(), Error> {
        let file = if self.v2 { "cgroup.procs" } else { "tasks" };
        self.set(file, "0")
    }

    /// A descriptor of the directory, for clone3's CLONE_INTO_CGROUP.
    pub fn open(&self) -> Option<OwnedFd> {
        nix::fcntl::open(
            &self.dir,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
    }

    /// The processes in it now.
    pub fn procs(&self) -> Vec<libc::pid_t> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// A counter of a flat keyed file (`memory.events`, `pids.events`,
    /// v1 `memory.oom_control`): `oom_kill 1` gives 1.
    pub fn counter(&self, file: &str, key: &str) -> u64 {
        std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL to every process in it now (for v1's --oom-group).
    pub fn kill_all(&self) {
        for pid in self.procs() {
            // SAFETY: plain kill(2) on a process listed in our own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    /// End every process left in it, and in any cgroup the command made
    /// below it (cgroup.kill where the kernel has it, else SIGKILL to each
    /// until none is left), then remove them all, deepest first.
    pub fn end(self) {
        let killed_at_once = self.v2 && procfs::write_once(&self.dir.join("cgroup.kill"), "1").is_ok();
        remove_tree(&self.dir, killed_at_once);
        if let Some(moved) = self.moved {
            moved.undo();
        }
    }
}

/// Kill what is in `dir` and below (unless cgroup.kill did), and remove it, deepest first.
fn remove_tree(dir: &Path, killed_at_once: bool) {
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        // The entry's own type (d_type), not a stat of each of the dozens of control files.
        .map(|entries| {
            entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
        })
        .unwrap_or_default();
    for child in children {
        remove_tree(&child, killed_at_once);
    }
    let procs = || -> Vec<libc::pid_t> {
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = procs();
        if left.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        if !killed_at_once {
            for pid in left {
                // SAFETY: plain kill(2); a pid that has just exited is not reused while listed here.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    trace::step(|| format!("rmdir {}", dir.display()));
    // A killed process leaves the cgroup a moment after it is gone from cgroup.procs.
    for _ in 0..1000 {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(std::time::Duration::from_millis(1)),
            _ => break,
        }
    }
}

/// Whether this process and its `helpers` are the only ones in the v2 cgroup `dir`.
fn only_we_are_in(dir: &Path, helpers: &[libc::pid_t]) -> bool {
    let me = std::process::id() as libc::pid_t;
    std::fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|procs| {
        let pids: Vec<libc::pid_t> = procs.split_whitespace().filter_map(|p| p.parse().ok()).collect();
        pids.contains(&me) && pids.iter().all(|p| *p == me || helpers.contains(p))
    })
}

/// Move ourselves (and our helpers) into a new leaf below `parent`, then
/// enable the controllers.
fn move_aside(parent: &Path, name: &str, enable: &str, helpers: &[libc::pid_t]) -> Result<Moved, Error> {
    let leaf = parent.join(format!("{name}.supervisor"));
    trace::step(|| format!("mkdir {0}; echo 0 > {0}/cgroup.procs (no internal processes)", leaf.display()));
    std::fs::create_dir(&leaf).map_err(|e| Error::new("cannot create cgroup", leaf.display(), crate::io_reason(&e)))?;
    let moved = Moved { parent: parent.to_path_buf(), leaf, enabled: String::new() };
    for pid in std::iter::once(0).chain(helpers.iter().copied()) {
        if let Err(e) = procfs::write_once(&moved.leaf.join("cgroup.procs"), &pid.to_string()) {
            moved.undo();
            return Err(Error::sys("cannot move into", parent.display(), e));
        }
    }
    let file = parent.join("cgroup.subtree_control");
    match procfs::write_once(&file, enable) {
        Ok(()) => Ok(Moved { enabled: enable.to_owned(), ..moved }),
        Err(e) => {
            moved.undo();
            Err(subtree_failure(&file, e))
        }
    }
}

impl Made {
    /// What a cglimit that was killed meanwhile may have left of `name`
    /// below `parent`: the cgroup and its `NAME.supervisor` leaf (with the
    /// controllers it enabled), to end as the cglimit would have.
    pub fn left_behind(parent: &Path, name: &str, v2: bool, controllers: &[&str]) -> Option<Self> {
        let dir = parent.join(name);
        let leaf = parent.join(format!("{name}.supervisor"));
        let moved = leaf.is_dir().then(|| {
            let enabled: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
            Moved { parent: parent.to_path_buf(), leaf, enabled: enabled.join(" ") }
        });
        (dir.is_dir() || moved.is_some()).then_some(Self { dir, v2, moved })
    }
}

impl Moved {
    /// Disable what we enabled, move back, remove the leaf.
    fn undo(self) {
        if !self.enabled.is_empty() {
            let disable = self.enabled.replace('+', "-");
            let _ = procfs::write_once(&self.parent.join("cgroup.subtree_control"), &disable);
        }
        let _ = procfs::write_once(&self.parent.join("cgroup.procs"), "0");
        let _ = std::fs::remove_dir(&self.leaf);
    }
}

/// How a user gets a cgroup of their own to make cgroups below.
const GET_DELEGATION: &str =
    "on systemd, run in a delegated scope: systemd-run --user --scope -p Delegate=yes cglimit ...";

fn subtree_failure(file: &Path, errno: Errno) -> Error {
    let why = match errno {
        Errno::EBUSY => {
            format!("Device or resource busy (this cgroup holds processes and is not delegated: {GET_DELEGATION})")
        }
        Errno::ENOENT | Errno::EINVAL => format!("{} (see cgroup.controllers for what is offered here)", errno.desc()),
        Errno::EACCES | Errno::EPERM => {
            format!("{} (this cgroup is not delegated to you: {GET_DELEGATION})", errno.desc())
        }
        e => e.desc().to_owned(),
    };
    Error::new("cannot enable controllers in", file.display(), why)
}

/// Where this process is, in every cgroup hierarchy that is mounted here.
pub fn own() -> Vec<Membership> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    memberships(&mountinfo, &cgroup)
}

/// Where process `pid` is, in every hierarchy mounted here: its cgroups as
/// our mounts and our cgroup namespace see them.
pub fn of_process(pid: libc::pid_t) -> Result<Vec<Membership>, Error> {
    let path = format!("/proc/{pid}/cgroup");
    let cgroup = std::fs::read_to_string(&path).map_err(|e| Error::new("cannot read", &path, crate::io_reason(&e)))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    Ok(memberships(&mountinfo, &cgroup))
}

/// Move the calling process, all its threads, into the cgroup at `dir`.
pub fn enter(dir: &Path) -> Result<(), Error> {
    let file = dir.join("cgroup.procs");
    trace::step(|| format!("echo 0 > {}", file.display()));
    procfs::write_once(&file, "0").map_err(|e| {
        let why = match e {
            Errno::EBUSY => "Device or resource busy (cgroup v2 holds processes only in leaf cgroups)".to_owned(),
            Errno::EAGAIN => "Resource temporarily unavailable (its pids limit is reached)".to_owned(),
            e => e.desc().to_owned(),
        };
        Error::new("cannot join cgroup", file.display(), why)
    })
}

/// [`own`], from the texts of /proc/self/mountinfo and /proc/self/cgroup.
pub fn memberships(mountinfo: &str, cgroup: &str) -> Vec<Membership> {
    let mounts: Vec<(&str, &str, &str, &str)> = mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let fstype = *fields.get(sep + 1)?;
            let options = *fields.get(sep + 3)?;
            let (root, point) = (*fields.get(3)?, *fields.get(4)?);
            matches!(fstype, "cgroup" | "cgroup2").then_some((fstype, point, options, root))
        })
        .collect();
    let mut out = Vec::new();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let mount = mounts.iter().find(|(fstype, _, options, _)| {
            if controllers.is_empty() {
                *fstype == "cgroup2"
            } else {
                *fstype == "cgroup" && controllers.split(',').all(|c| options.split(',').any(|o| o == c))
            }
        });
        if let Some((_, point, _, root)) = mount {
            let controllers = if controllers.is_empty() { "cgroup2" } else { controllers };
            out.push(Membership {
                controllers: controllers.to_owned(),
                dir: Path::new(point).join(below_mount_root(path, root).trim_start_matches('/')),
                point: PathBuf::from(point),
                path: path.to_owned(),
                mount_root: (*root).to_owned(),
            });
        }
    }
    out
}

/// Where `path` (a cgroup, from the hierarchy's root) is below a mount whose
/// root is `mount_root`: a container's /sys/fs/cgroup/memory may be a bind of
/// its own cgroup (mkroot's, runc's), and then the host's path is not below
/// the mount point as it stands. A path outside the mount is taken as it is.
fn below_mount_root<'a>(path: &'a str, mount_root: &str) -> &'a str {
    if mount_root == "/" {
        return path;
    }
    match path.strip_prefix(mount_root) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_of_our_own_cgroup_is_our_cgroup_at_its_mount_point() {
        // Inside a container whose /sys/fs/cgroup/memory binds its own cgroup (mkroot's, runc's).
        let mountinfo = "40 39 0:29 /ci/job7 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n\
                         41 39 0:27 /ci/job7 /sys/fs/cgroup/unified ro - cgroup2 cgroup2 rw\n";
        let found = memberships(mountinfo, "4:memory:/ci/job7\n0::/ci/job7/sub\n");
        let dirs: Vec<&Path> = found.iter().map(|m| m.dir.as_path()).collect();
        assert_eq!(dirs, [Path::new("/sys/fs/cgroup/memory"), Path::new("/sys/fs/cgroup/unified/sub")]);
        assert_eq!((below_mount_root("/ci/job70", "/ci/job7"), below_mount_root("/x", "/ci")), ("/ci/job70", "/x"));
    }

    #[test]
    fn hybrid_and_pure_v2_layouts() {
        let mountinfo = "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                         31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                         33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                         34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let cgroup = "4:memory:/user/1000\n3:cpu,cpuacct:/\n0::/init.scope\n1:name=none:/x\n";
        let found = memberships(mountinfo, cgroup);
        let dirs: Vec<(&str, &Path)> = found.iter().map(|m| (m.controllers.as_str(), m.dir.as_path())).collect();
        assert_eq!(
            (found[0].point.as_path(), found[0].path.as_str()),
            (Path::new("/sys/fs/cgroup/memory"), "/user/1000")
        );
        assert_eq!(
            dirs,
            [
                ("memory", Path::new("/sys/fs/cgroup/memory/user/1000")),
                ("cpu,cpuacct", Path::new("/sys/fs/cgroup/cpu,cpuacct")),
                ("cgroup2", Path::new("/sys/fs/cgroup/unified/init.scope")),
            ]
        );
        let v2 = memberships("40 1 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/test\n");
        assert_eq!(v2[0].dir, Path::new("/sys/fs/cgroup/test"));
        assert!(v2[0].is_v2());
    }
}

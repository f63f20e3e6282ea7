//! Cgroups: where each hierarchy this process belongs to is mounted, and its
//! own cgroup there, on cgroup v1, v2 and hybrid hosts alike. The ground
//! cglimit will stand on; the test guard uses it to watch our subtree.

use std::path::{Path, PathBuf};

/// One hierarchy this process is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// `cgroup2`, or the v1 controllers (`memory`, `cpu,cpuacct`, `name=systemd`).
    pub controllers: String,
    /// Our own cgroup in it, as a directory: the mount point joined with our path.
    pub dir: PathBuf,
}

/// Where this process is, in every cgroup hierarchy that is mounted here.
pub fn own() -> Vec<Membership> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    memberships(&mountinfo, &cgroup)
}

/// [`own`], from the texts of /proc/self/mountinfo and /proc/self/cgroup.
pub fn memberships(mountinfo: &str, cgroup: &str) -> Vec<Membership> {
    let mounts: Vec<(&str, &str, &str)> = mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let fstype = *fields.get(sep + 1)?;
            let options = *fields.get(sep + 3)?;
            let point = *fields.get(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then_some((fstype, point, options))
        })
        .collect();
    let mut out = Vec::new();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let mount = mounts.iter().find(|(fstype, _, options)| {
            if controllers.is_empty() {
                *fstype == "cgroup2"
            } else {
                *fstype == "cgroup" && controllers.split(',').all(|c| options.split(',').any(|o| o == c))
            }
        });
        if let Some((_, point, _)) = mount {
            let controllers = if controllers.is_empty() { "cgroup2" } else { controllers };
            out.push(Membership {
                controllers: controllers.to_owned(),
                dir: Path::new(point).join(path.trim_start_matches('/')),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            dirs,
            [
                ("memory", Path::new("/sys/fs/cgroup/memory/user/1000")),
                ("cpu,cpuacct", Path::new("/sys/fs/cgroup/cpu,cpuacct")),
                ("cgroup2", Path::new("/sys/fs/cgroup/unified/init.scope")),
            ]
        );
        let v2 = memberships("40 1 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/test\n");
        assert_eq!(v2, [Membership { controllers: "cgroup2".into(), dir: "/sys/fs/cgroup/test".into() }]);
    }
}

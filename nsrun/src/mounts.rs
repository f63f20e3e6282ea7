//! A config mount's options as the kernel takes them: mount(2) flags, the
//! propagation to set afterwards, the attributes to set recursively through
//! mount_setattr (`rro`, `rnosuid`, ...), and what is left as data for the
//! file system (`mode=755`, `size=65536k`). The table is the runtime spec's
//! (config.md, "mounts"), as runc and crun read it.

use nix::mount::MsFlags;

/// What one mount's options ask of the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Set at mount time (MS_RDONLY, MS_NOSUID, ...).
    pub flags: MsFlags,
    /// Cleared by a later remount of a bind (`rw`, `suid`, ...).
    pub cleared: MsFlags,
    /// A bind mount (`bind`), recursive (`rbind`).
    pub bind: Option<Recursive>,
    /// MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE, recursive or not.
    pub propagation: Option<(MsFlags, Recursive)>,
    /// MOUNT_ATTR_* to set on the whole tree (`rro`, `rnosuid`, ...).
    pub recursive_set: u64,
    /// MOUNT_ATTR_* to clear on the whole tree (`rrw`, `rsuid`, ...).
    pub recursive_clear: u64,
    /// The access-time mode for the whole tree (`rnoatime`, `rstrictatime`,
    /// `rrelatime`, `ratime`), one field of mount_setattr's.
    pub recursive_atime: Option<u64>,
    /// `tmpcopyup`: copy what the image has below into the new tmpfs.
    pub copy_up: bool,
    /// The rest, comma-joined, for the file system.
    pub data: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recursive {
    No,
    Yes,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
/// The access-time field of mount_setattr: cleared whole before one mode is set.
pub const MOUNT_ATTR_ATIME: u64 = 0x70;

impl Default for Plan {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            bind: None,
            propagation: None,
            recursive_set: 0,
            recursive_clear: 0,
            recursive_atime: None,
            copy_up: false,
            data: Vec::new(),
        }
    }
}

/// Every option [`plan`] knows by name (the rest is data for the file system).
pub const OPTIONS: [&str; 50] = [
    "defaults",
    "async",
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "sync",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "bind",
    "rbind",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
    "tmpcopyup",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rrelatime",
    "rnodiratime",
    "rdiratime",
    "rnosymfollow",
    "rsymfollow",
];

/// Read `options` in order (a later one overrides an earlier one).
/// The options that set (true) or clear (false) one mount flag.
const FLAGS: [(&str, MsFlags, bool); 22] = [
    ("ro", MsFlags::MS_RDONLY, true),
    ("rw", MsFlags::MS_RDONLY, false),
    ("nosuid", MsFlags::MS_NOSUID, true),
    ("suid", MsFlags::MS_NOSUID, false),
    ("nodev", MsFlags::MS_NODEV, true),
    ("dev", MsFlags::MS_NODEV, false),
    ("noexec", MsFlags::MS_NOEXEC, true),
    ("exec", MsFlags::MS_NOEXEC, false),
    ("sync", MsFlags::MS_SYNCHRONOUS, true),
    ("dirsync", MsFlags::MS_DIRSYNC, true),
    ("remount", MsFlags::MS_REMOUNT, true),
    ("mand", MsFlags::MS_MANDLOCK, true),
    ("nomand", MsFlags::MS_MANDLOCK, false),
    ("atime", MsFlags::MS_NOATIME, false),
    ("noatime", MsFlags::MS_NOATIME, true),
    ("diratime", MsFlags::MS_NODIRATIME, false),
    ("nodiratime", MsFlags::MS_NODIRATIME, true),
    ("relatime", MsFlags::MS_RELATIME, true),
    ("norelatime", MsFlags::MS_RELATIME, false),
    ("strictatime", MsFlags::MS_STRICTATIME, true),
    ("nostrictatime", MsFlags::MS_STRICTATIME, false),
    ("defaults", MsFlags::empty(), true),
];

/// The propagation options, with whether they apply to the whole tree.
const PROPAGATIONS: [(&str, MsFlags, Recursive); 8] = [
    ("shared", MsFlags::MS_SHARED, Recursive::No),
    ("rshared", MsFlags::MS_SHARED, Recursive::Yes),
    ("slave", MsFlags::MS_SLAVE, Recursive::No),
    ("rslave", MsFlags::MS_SLAVE, Recursive::Yes),
    ("private", MsFlags::MS_PRIVATE, Recursive::No),
    ("rprivate", MsFlags::MS_PRIVATE, Recursive::Yes),
    ("unbindable", MsFlags::MS_UNBINDABLE, Recursive::No),
    ("runbindable", MsFlags::MS_UNBINDABLE, Recursive::Yes),
];

pub fn plan(options: &[String]) -> Plan {
    let mut p = Plan::default();
    for option in options.iter().map(String::as_str) {
        if let Some(&(_, flag, on)) = FLAGS.iter().find(|(name, _, _)| *name == option) {
            if on {
                p.flags |= flag;
                p.cleared &= !flag;
            } else {
                p.flags &= !flag;
                p.cleared |= flag;
            }
            continue;
        }
        if let Some(&(_, flag, recursive)) = PROPAGATIONS.iter().find(|(name, _, _)| *name == option) {
            p.propagation = Some((flag, recursive));
            continue;
        }
        match option {
            "async" => {}
            "bind" => p.bind = Some(Recursive::No),
            "rbind" => p.bind = Some(Recursive::Yes),
            "tmpcopyup" => p.copy_up = true,
            "rnoatime" => p.recursive_atime = Some(MOUNT_ATTR_NOATIME),
            "rstrictatime" => p.recursive_atime = Some(MOUNT_ATTR_STRICTATIME),
            "rrelatime" | "ratime" => p.recursive_atime = Some(MOUNT_ATTR_RELATIME),
            other => match recursive_attr(other) {
                Some((attr, true)) => {
                    p.recursive_set |= attr;
                    p.recursive_clear &= !attr;
                }
                Some((attr, false)) => {
                    p.recursive_clear |= attr;
                    p.recursive_set &= !attr;
                }
                None => p.data.push(other.to_owned()),
            },
        }
    }
    p
}

/// `rro`, `rnosuid`, ... : the attribute and whether it is set (or cleared: `rrw`, `rsuid`).
fn recursive_attr(option: &str) -> Option<(u64, bool)> {
    Some(match option {
        "rro" => (MOUNT_ATTR_RDONLY, true),
        "rrw" => (MOUNT_ATTR_RDONLY, false),
        "rnosuid" => (MOUNT_ATTR_NOSUID, true),
        "rsuid" => (MOUNT_ATTR_NOSUID, false),
        "rnodev" => (MOUNT_ATTR_NODEV, true),
        "rdev" => (MOUNT_ATTR_NODEV, false),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, true),
        "rexec" => (MOUNT_ATTR_NOEXEC, false),
        "rnoatime" => (MOUNT_ATTR_NOATIME, true),
        "ratime" => (MOUNT_ATTR_NOATIME, false),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, true),
        "rrelatime" => (MOUNT_ATTR_RELATIME, true),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, true),
        "rdiratime" => (MOUNT_ATTR_NODIRATIME, false),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, true),
        "rsymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, false),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn engine_options_split_into_flags_propagation_and_data() {
        let p = plan(&words(&["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_STRICTATIME);
        assert_eq!(p.data, ["mode=755", "size=65536k"]);
        let p = plan(&words(&["bind", "rprivate", "nosuid", "noexec", "nodev"]));
        assert_eq!((p.bind, p.propagation), (Some(Recursive::No), Some((MsFlags::MS_PRIVATE, Recursive::Yes))));
        let p = plan(&words(&["rbind", "ro", "rro"]));
        assert_eq!((p.bind, p.flags, p.recursive_set), (Some(Recursive::Yes), MsFlags::MS_RDONLY, MOUNT_ATTR_RDONLY));
        // A later option wins, and what it undoes is cleared on a remount.
        let p = plan(&words(&["ro", "rw", "rnosuid", "rsuid"]));
        assert_eq!((p.flags, p.cleared), (MsFlags::empty(), MsFlags::MS_RDONLY));
        assert_eq!((p.recursive_set, p.recursive_clear), (0, MOUNT_ATTR_NOSUID));
        assert!(plan(&words(&["tmpcopyup"])).copy_up);
    }

    /// What the features document lists is what plan knows, and nothing falls to data.
    #[test]
    fn the_listed_options_are_the_known_ones() {
        for option in OPTIONS {
            assert!(plan(&[option.to_owned()]).data.is_empty(), "{option}");
        }
        assert_eq!(plan(&words(&["idmap"])).data, ["idmap"], "an option not in the list is data");
    }

    /// Every mount of the engines' configs plans without a surprise in its data.
    #[test]
    fn the_engines_mounts_plan() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs");
        for name in ["ctr-run.json", "podman-run.json", "podman-run-options.json"] {
            let config = crate::config::Config::parse(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
            for m in &config.mounts {
                let p = plan(&m.options);
                for d in &p.data {
                    assert!(
                        ["mode=", "size=", "ptmxmode=", "gid=", "newinstance", "uid="].iter().any(|k| d.starts_with(k)),
                        "{name}: {}: data {d:?}",
                        m.destination
                    );
                }
            }
        }
    }
}

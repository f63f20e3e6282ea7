//! Capabilities: the table of names, the default set of a container, and
//! keeping exactly a set in every one of bounding, ambient, effective,
//! permitted and inheritable.

use crate::error::{Error, quoted};
use crate::trace;

/// The capability names the kernel knows, in bit order.
pub const CAPABILITIES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// The bit of one capability, by its name in [`CAPABILITIES`] (0 for an unknown name).
pub fn capability_bit(name: &str) -> u64 {
    CAPABILITIES.iter().position(|c| *c == name).map_or(0, |bit| 1 << bit)
}

/// The bit of a capability as a user or a config writes it (`CAP_NET_RAW`,
/// `net_raw`, `Net_Raw`), or None for a name the table does not know.
pub fn bit_by_name(name: &str) -> Option<u64> {
    let bare = name.to_ascii_lowercase();
    let bare = bare.strip_prefix("cap_").unwrap_or(&bare);
    CAPABILITIES.iter().position(|c| *c == bare).map(|bit| 1 << bit)
}

/// `--cap-drop=ALL` or a comma list of names (`CAP_NET_RAW`, `net_raw`): a bit set.
pub fn parse_caps(text: &str) -> Result<u64, Error> {
    if text.eq_ignore_ascii_case("all") {
        return Ok(u64::MAX);
    }
    let mut set = 0u64;
    for name in text.split(',') {
        if name.eq_ignore_ascii_case("all") {
            return Err(Error::new(
                "invalid capability list",
                quoted(text),
                "ALL stands alone: it cannot be combined with names",
            ));
        }
        let lower = name.to_ascii_lowercase();
        let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
        let bit = CAPABILITIES.iter().position(|c| *c == bare).ok_or_else(|| {
            Error::new("invalid capability", quoted(name), "not a capability name (try ALL or CAP_NET_RAW)")
        })?;
        set |= 1 << bit;
    }
    Ok(set)
}

/// The capabilities a container's command gets by default: the set of
/// podman, crun and runc (and of the OCI runtime specification's example).
pub const DEFAULT: [&str; 11] = [
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "net_bind_service",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
];

/// The bits of [`DEFAULT`].
pub fn default_set() -> u64 {
    DEFAULT.iter().fold(0, |set, name| set | capability_bit(name))
}

/// The bits of every capability this kernel knows (`cap_last_cap`), or of the
/// whole table when it cannot say.
pub fn all_known() -> u64 {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(CAPABILITIES.len() as u32 - 1)
        .min(63);
    if last == 63 { u64::MAX } else { (1u64 << (last + 1)) - 1 }
}

/// The names of a set, for traces and messages: `chown,kill` (or `none`).
pub fn names(set: u64) -> String {
    let names: Vec<&str> =
        CAPABILITIES.iter().enumerate().filter(|(bit, _)| set & (1 << bit) != 0).map(|(_, n)| *n).collect();
    if names.is_empty() { "none".to_owned() } else { names.join(",") }
}

/// Our bounding set: the capabilities we, and anything we start, can ever hold.
pub fn bounding() -> u64 {
    (0..64u64)
        // SAFETY: prctl with integer arguments; 1 when the capability is in the bounding set.
        .filter(|bit| unsafe { libc::prctl(libc::PR_CAPBSET_READ, *bit as libc::c_ulong, 0, 0, 0) } == 1)
        .fold(0, |set, bit| set | (1 << bit))
}

/// Keep exactly `keep`: every other capability leaves the bounding set, the
/// permitted, effective and inheritable sets become what we hold of `keep`,
/// and the ambient set is emptied.
pub fn keep_only(keep: u64) -> Result<(), Error> {
    limit_bounding(keep)?;
    limit_sets(keep)
}

/// Drop every capability but `keep` from the bounding set (needs CAP_SETPCAP).
pub fn limit_bounding(keep: u64) -> Result<(), Error> {
    trace::step(|| format!("capsh --caps={}", names(keep)));
    for bit in 0..64u64 {
        if keep & (1 << bit) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments; EINVAL past the last capability ends the loop.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, bit as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            match nix::errno::Errno::last() {
                nix::errno::Errno::EINVAL => break,
                e => return Err(Error::sys("cannot drop from the bounding set", format!("capability {bit}"), e)),
            }
        }
    }
    Ok(())
}

/// Empty the ambient set, and make the permitted, effective and inheritable
/// sets what we hold of `keep`.
pub fn limit_sets(keep: u64) -> Result<(), Error> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    // EINVAL: a kernel before 4.3, which has no ambient set to clear.
    if rc != 0 && nix::errno::Errno::last() != nix::errno::Errno::EINVAL {
        return Err(Error::sys("cannot clear", "the ambient capabilities", nix::errno::Errno::last()));
    }
    let mut sets = Sets::read()?;
    sets.permitted &= keep;
    sets.effective &= keep;
    sets.inheritable = sets.permitted;
    sets.write()
}

/// Raise `caps` into the ambient set (for a command that runs as a user
/// other than root and must keep them across exec): each must be permitted
/// and inheritable, which [`keep_only`] made them.
pub fn raise_ambient(caps: u64) -> Result<(), Error> {
    for bit in (0..64u64).filter(|bit| caps & (1 << bit) != 0) {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe {
            libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, bit as libc::c_ulong, 0, 0)
        };
        if rc != 0 {
            let name = CAPABILITIES.get(bit as usize).copied().unwrap_or("?");
            return Err(Error::sys(
                "cannot keep for the user",
                format!("CAP_{}", name.to_ascii_uppercase()),
                nix::errno::Errno::last(),
            ));
        }
    }
    Ok(())
}

/// The three sets capget and capset work on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

impl Sets {
    pub fn read() -> Result<Self, Error> {
        let mut header = Header { version: 0x2008_0522, pid: 0 };
        let mut data = [Data::default(); 2];
        // SAFETY: a v3 header and two data words, as capget expects.
        if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
            return Err(Error::sys("cannot read", "capabilities", nix::errno::Errno::last()));
        }
        let join = |f: fn(&Data) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
        Ok(Self {
            effective: join(|d| d.effective),
            permitted: join(|d| d.permitted),
            inheritable: join(|d| d.inheritable),
        })
    }

    pub fn write(&self) -> Result<(), Error> {
        let mut header = Header { version: 0x2008_0522, pid: 0 };
        let word = |set: u64, i: usize| (set >> (32 * i)) as u32;
        let data: [Data; 2] = std::array::from_fn(|i| Data {
            effective: word(self.effective, i),
            permitted: word(self.permitted, i),
            inheritable: word(self.inheritable, i),
        });
        // SAFETY: a v3 header and two data words, as capset expects.
        if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
            return Err(Error::sys("cannot set", "capabilities", nix::errno::Errno::last()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities() {
        assert_eq!(parse_caps("ALL").unwrap(), u64::MAX);
        assert_eq!(parse_caps("CAP_CHOWN,net_raw").unwrap(), 1 | 1 << 13);
        assert!(parse_caps("cap_bogus").is_err());
        assert_eq!(
            parse_caps("ALL,net_raw").unwrap_err().to_string(),
            "invalid capability list: 'ALL,net_raw': ALL stands alone: it cannot be combined with names"
        );
        assert!(parse_caps("").is_err());
        assert_eq!(CAPABILITIES[21], "sys_admin");
        assert_eq!(capability_bit("sys_chroot"), 1 << 18);
    }
}

//! Capabilities: the table of names, and dropping them from every set
//! (bounding, ambient, effective, permitted, inheritable).

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

/// Drop capabilities from every set: bounding, ambient, then effective,
/// permitted and inheritable.
pub fn drop_capabilities(drop: u64) -> Result<(), Error> {
    trace::step(|| format!("capsh --drop={drop:#x}"));
    for bit in 0..64u64 {
        if drop & (1 << bit) == 0 {
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
        // SAFETY: as above; lowering an ambient capability cannot fail for a valid one.
        unsafe {
            libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_LOWER as libc::c_ulong, bit as libc::c_ulong, 0, 0)
        };
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
    let mut header = Header { version: 0x2008_0522, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: a v3 header and two data words, as capget expects.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(Error::sys("cannot read", "capabilities", nix::errno::Errno::last()));
    }
    for (i, word) in data.iter_mut().enumerate() {
        let keep = !((drop >> (32 * i)) as u32);
        word.effective &= keep;
        word.permitted &= keep;
        word.inheritable &= keep;
    }
    // SAFETY: as above.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(Error::sys("cannot drop", "capabilities", nix::errno::Errno::last()));
    }
    Ok(())
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

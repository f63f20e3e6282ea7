//! Seccomp: the default filter of a container's command, with the semantics
//! of Docker's and podman's default profile. A classic BPF program that lets
//! every system call through except the ones that need a capability the
//! command does not have, or that are known escape or information-leak
//! vectors; those fail with EPERM. Terminal injection (TIOCSTI, TIOCLINUX)
//! fails for every command, even a privileged one. Another architecture's
//! calls, and the x32 ABI, fail too.

use crate::caps::capability_bit;
use crate::error::Error;
use crate::trace;
use nix::errno::Errno;

/// Who may make a denied system call after all: nobody, or a command that
/// kept this capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unless {
    Never,
    Kept(&'static str),
}

/// A system call by name, with its number on x86_64 and on aarch64 (None
/// where that architecture has no such call).
struct Call {
    name: &'static str,
    x86_64: Option<u32>,
    aarch64: Option<u32>,
    unless: Unless,
}

const fn call(name: &'static str, x86_64: u32, aarch64: u32, unless: Unless) -> Call {
    Call { name, x86_64: Some(x86_64), aarch64: Some(aarch64), unless }
}

const fn x86_only(name: &'static str, x86_64: u32, unless: Unless) -> Call {
    Call { name, x86_64: Some(x86_64), aarch64: None, unless }
}

use Unless::{Kept, Never};

/// The denied calls. Numbers from the kernel's tables (arch/x86/entry/syscalls
/// and include/uapi/asm-generic/unistd.h); a unit test checks the native ones
/// against `libc::SYS_*`.
const DENIED: [Call; 38] = [
    call("kexec_load", 246, 104, Kept("sys_boot")),
    call("kexec_file_load", 320, 294, Kept("sys_boot")),
    call("reboot", 169, 142, Kept("sys_boot")),
    call("init_module", 175, 105, Kept("sys_module")),
    call("finit_module", 313, 273, Kept("sys_module")),
    call("delete_module", 176, 106, Kept("sys_module")),
    call("open_by_handle_at", 304, 265, Kept("dac_read_search")),
    call("name_to_handle_at", 303, 264, Never),
    call("bpf", 321, 280, Kept("sys_admin")),
    call("perf_event_open", 298, 241, Kept("sys_admin")),
    call("userfaultfd", 323, 282, Kept("sys_ptrace")),
    call("keyctl", 250, 219, Never),
    call("add_key", 248, 217, Never),
    call("request_key", 249, 218, Never),
    x86_only("iopl", 172, Kept("sys_rawio")),
    x86_only("ioperm", 173, Kept("sys_rawio")),
    call("swapon", 167, 224, Kept("sys_admin")),
    call("swapoff", 168, 225, Kept("sys_admin")),
    call("settimeofday", 164, 170, Kept("sys_time")),
    call("clock_settime", 227, 112, Kept("sys_time")),
    call("clock_adjtime", 305, 266, Kept("sys_time")),
    call("acct", 163, 89, Kept("sys_pacct")),
    call("quotactl", 179, 60, Kept("sys_admin")),
    call("lookup_dcookie", 212, 18, Kept("sys_admin")),
    call("mount", 165, 40, Kept("sys_admin")),
    call("umount2", 166, 39, Kept("sys_admin")),
    call("pivot_root", 155, 41, Kept("sys_admin")),
    call("unshare", 272, 97, Kept("sys_admin")),
    call("setns", 308, 268, Kept("sys_admin")),
    call("open_tree", 428, 428, Kept("sys_admin")),
    call("move_mount", 429, 429, Kept("sys_admin")),
    call("fsopen", 430, 430, Kept("sys_admin")),
    call("fsconfig", 431, 431, Kept("sys_admin")),
    call("fsmount", 432, 432, Kept("sys_admin")),
    call("fspick", 433, 433, Kept("sys_admin")),
    call("kcmp", 312, 272, Kept("sys_ptrace")),
    call("process_vm_readv", 310, 270, Kept("sys_ptrace")),
    call("process_vm_writev", 311, 271, Kept("sys_ptrace")),
];

/// Calls whose arguments decide: ioctl (the terminal requests), personality
/// (only the harmless values), clone (no new namespace), clone3 (its flags
/// are behind a pointer: ENOSYS, so that libc falls back to clone, as
/// Docker's profile does).
const IOCTL: (u32, u32) = (16, 29);
const PERSONALITY: (u32, u32) = (135, 92);
const CLONE: (u32, u32) = (56, 220);
const CLONE3: (u32, u32) = (435, 435);

const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541c;
/// PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff.
const PERSONALITIES: [u32; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];
/// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME.
const CLONE_NEW_ANY: u32 = 0x7e02_0080;

/// An architecture the filter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this program runs on.
    pub fn native() -> Option<Self> {
        if cfg!(target_arch = "x86_64") {
            Some(Self::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Self::Aarch64)
        } else {
            None
        }
    }

    /// AUDIT_ARCH_* as seccomp_data.arch holds it.
    fn audit(self) -> u32 {
        match self {
            Self::X86_64 => 0xc000_003e,
            Self::Aarch64 => 0xc000_00b7,
        }
    }

    fn number(self, (x86_64, aarch64): (u32, u32)) -> u32 {
        match self {
            Self::X86_64 => x86_64,
            Self::Aarch64 => aarch64,
        }
    }

    fn of(self, call: &Call) -> Option<u32> {
        match self {
            Self::X86_64 => call.x86_64,
            Self::Aarch64 => call.aarch64,
        }
    }
}

/// What the filter is asked to allow beyond the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The capabilities the command keeps: a call gated by one of them is allowed.
    pub kept: u64,
    /// `--privileged`: only the terminal rule (and the foreign ABIs) stay.
    pub privileged: bool,
}

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// Offsets in struct seccomp_data: nr, arch, then args[6] of 8 bytes each
/// (the low word first on these little-endian architectures).
const NR: u32 = 0;
const ARCH: u32 = 4;
fn arg_low(i: u32) -> u32 {
    16 + 8 * i
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter for `arch` under `policy`. Every jump is short (at most a few
/// instructions forward), so the program never needs long jumps.
pub fn filter(arch: Arch, policy: Policy) -> Vec<libc::sock_filter> {
    let mut p = vec![stmt(LD_W_ABS, ARCH), jump(JEQ_K, arch.audit(), 1, 0), stmt(RET_K, RET_EPERM), stmt(LD_W_ABS, NR)];
    if arch == Arch::X86_64 {
        // The x32 ABI: the same numbers with bit 30 set.
        p.extend([jump(JGE_K, 0x4000_0000, 0, 1), stmt(RET_K, RET_EPERM)]);
    }
    // ioctl: the terminal requests fail for everyone; any other goes through.
    p.extend([
        jump(JEQ_K, arch.number(IOCTL), 0, 5),
        stmt(LD_W_ABS, arg_low(1)),
        jump(JEQ_K, TIOCSTI, 2, 0),
        jump(JEQ_K, TIOCLINUX, 1, 0),
        stmt(RET_K, RET_ALLOW),
        stmt(RET_K, RET_EPERM),
    ]);
    if !policy.privileged {
        restrict(&mut p, arch, policy.kept);
    }
    p.push(stmt(RET_K, RET_ALLOW));
    p
}

/// The rules a privileged command is spared; the accumulator holds `nr`.
fn restrict(p: &mut Vec<libc::sock_filter>, arch: Arch, kept: u64) {
    let allowed = |unless: Unless| matches!(unless, Kept(cap) if kept & capability_bit(cap) != 0);
    for call in DENIED.iter().filter(|c| !allowed(c.unless)) {
        if let Some(nr) = arch.of(call) {
            p.extend([jump(JEQ_K, nr, 0, 1), stmt(RET_K, RET_EPERM)]);
        }
    }
    // personality: only the harmless values.
    let n = PERSONALITIES.len() as u8;
    p.extend([jump(JEQ_K, arch.number(PERSONALITY), 0, n + 3), stmt(LD_W_ABS, arg_low(0))]);
    for (i, value) in PERSONALITIES.iter().enumerate() {
        p.push(jump(JEQ_K, *value, n - i as u8, 0));
    }
    p.extend([stmt(RET_K, RET_EPERM), stmt(RET_K, RET_ALLOW)]);
    if !allowed(Kept("sys_admin")) {
        // clone: no new namespace (its flags are the first argument on both).
        p.extend([
            jump(JEQ_K, arch.number(CLONE), 0, 4),
            stmt(LD_W_ABS, arg_low(0)),
            jump(JSET_K, CLONE_NEW_ANY, 0, 1),
            stmt(RET_K, RET_EPERM),
            stmt(RET_K, RET_ALLOW),
            jump(JEQ_K, arch.number(CLONE3), 0, 1),
            stmt(RET_K, RET_ENOSYS),
        ]);
    }
}

/// The names of the calls [`filter`] refuses outright under `policy` (for
/// traces), beside the argument rules that always apply.
pub fn denied(arch: Arch, policy: Policy) -> Vec<&'static str> {
    if policy.privileged {
        return Vec::new();
    }
    DENIED
        .iter()
        .filter(|c| arch.of(c).is_some())
        .filter(|c| !matches!(c.unless, Kept(cap) if policy.kept & capability_bit(cap) != 0))
        .map(|c| c.name)
        .collect()
}

/// Install `program` for this process and all it executes. Needs
/// no_new_privs or CAP_SYS_ADMIN: mkroot installs it while it still holds
/// its capabilities, before it drops them.
pub fn install(program: &[libc::sock_filter]) -> Result<(), Error> {
    trace::step(|| format!("seccomp: a filter of {} instructions", program.len()));
    let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
    // SAFETY: a valid sock_fprog that points to `program`, alive for the call.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog) };
    if rc != 0 {
        return Err(Error::sys("cannot install", "the seccomp filter", Errno::last()));
    }
    Ok(())
}

/// ptrace requests of <linux/ptrace.h> that libc does not name.
const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;

/// The seccomp filters of process `pid`, oldest first, so that installing
/// them in this order stacks them as they are stacked there. Reading them
/// stops the process for a moment: ptrace requests need a stopped tracee.
/// The kernel gives them only to a caller with CAP_SYS_ADMIN in the initial
/// user namespace that is under no filter itself.
pub fn filters_of(pid: libc::pid_t) -> Result<Vec<Vec<libc::sock_filter>>, Error> {
    let traced = Traced::seize(pid)?;
    let mut filters = Vec::new();
    for index in 0.. {
        // SAFETY: a NULL buffer asks for the length only.
        let len = unsafe {
            libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index as libc::c_ulong, std::ptr::null_mut::<libc::c_void>())
        };
        if len < 0 {
            match Errno::last() {
                // Past the oldest filter.
                Errno::ENOENT if index > 0 => break,
                e => return Err(traced.fail(e)),
            }
        }
        let mut program = vec![libc::sock_filter { code: 0, jt: 0, jf: 0, k: 0 }; len as usize];
        // SAFETY: `program` has room for the `len` instructions the kernel copies.
        let got = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index as libc::c_ulong, program.as_mut_ptr()) };
        if got != len {
            return Err(traced.fail(Errno::last()));
        }
        filters.push(program);
    }
    traced.detach()?;
    filters.reverse();
    Ok(filters)
}

/// A process we ptrace, stopped; detached again however we leave.
struct Traced {
    pid: libc::pid_t,
    /// The signal it stopped for, to deliver when we let it go.
    pending: libc::c_int,
    attached: bool,
}

impl Traced {
    fn seize(pid: libc::pid_t) -> Result<Self, Error> {
        let what = format!("the seccomp filter of PID {pid}");
        // SAFETY: PTRACE_SEIZE takes no pointers; options 0.
        if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0 as libc::c_ulong, 0 as libc::c_ulong) } != 0 {
            return Err(Error::new("cannot read", what, explain(Errno::last())));
        }
        let mut traced = Self { pid, pending: 0, attached: true };
        // SAFETY: PTRACE_INTERRUPT takes no pointers.
        if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0 as libc::c_ulong, 0 as libc::c_ulong) } != 0 {
            return Err(traced.fail(Errno::last()));
        }
        let mut status = 0;
        loop {
            // SAFETY: a valid out-pointer; a tracee is waited for like a child.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
            if rc == -1 && Errno::last() == Errno::EINTR {
                continue;
            }
            if rc == -1 {
                return Err(traced.fail(Errno::last()));
            }
            break;
        }
        if !libc::WIFSTOPPED(status) {
            traced.attached = false;
            return Err(Error::new("cannot read", what, "the process exited meanwhile"));
        }
        // Our interrupt shows as an event stop; anything else is a signal it
        // was about to receive, which it must still receive.
        if status >> 16 != libc::PTRACE_EVENT_STOP {
            traced.pending = libc::WSTOPSIG(status);
        }
        Ok(traced)
    }

    fn fail(&self, e: Errno) -> Error {
        Error::new("cannot read", format!("the seccomp filter of PID {}", self.pid), explain(e))
    }

    fn detach(mut self) -> Result<(), Error> {
        self.attached = false;
        // SAFETY: PTRACE_DETACH takes the signal to deliver as data, no pointers.
        if unsafe { libc::ptrace(libc::PTRACE_DETACH, self.pid, 0 as libc::c_ulong, self.pending as libc::c_ulong) }
            != 0
        {
            return Err(self.fail(Errno::last()));
        }
        Ok(())
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if self.attached {
            // SAFETY: as in detach; on an error path, nothing more to say.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, self.pid, 0 as libc::c_ulong, self.pending as libc::c_ulong) };
        }
    }
}

fn explain(e: Errno) -> String {
    match e {
        Errno::EACCES | Errno::EPERM => {
            format!("{} (it takes CAP_SYS_ADMIN in the initial user namespace and no filter of our own)", e.desc())
        }
        Errno::EINVAL | Errno::EIO => {
            format!("{} (a kernel without CONFIG_CHECKPOINT_RESTORE cannot give it)", e.desc())
        }
        Errno::EMEDIUMTYPE => "it is an eBPF program, not a classic filter".to_owned(),
        Errno::ESRCH => "the process exited meanwhile".to_owned(),
        e => e.desc().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a classic BPF program over one seccomp_data, as the kernel would.
    fn run(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let ins = program[pc];
            pc += 1;
            let k = ins.k;
            let branch = |taken: bool| if taken { ins.jt as usize } else { ins.jf as usize };
            match ins.code {
                LD_W_ABS => {
                    let at = k as usize;
                    acc = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
                }
                JEQ_K => pc += branch(acc == k),
                JGE_K => pc += branch(acc >= k),
                JSET_K => pc += branch(acc & k != 0),
                RET_K => return k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn verdict(policy: Policy, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
        let nr = match name {
            "ioctl" => arch.number(IOCTL),
            "personality" => arch.number(PERSONALITY),
            "clone" => arch.number(CLONE),
            "clone3" => arch.number(CLONE3),
            "getpid" => arch.number((39, 172)),
            "mknodat" => arch.number((259, 33)),
            _ => arch.of(DENIED.iter().find(|c| c.name == name).unwrap()).unwrap(),
        };
        run(&filter(arch, policy), arch.audit(), nr, args)
    }

    const DEFAULT: Policy = Policy { kept: 0, privileged: false };

    #[test]
    fn the_denied_calls_fail_and_the_rest_go_through() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            for call in DENIED.iter().filter(|c| arch.of(c).is_some()) {
                assert_eq!(verdict(DEFAULT, arch, call.name, [0; 6]), RET_EPERM, "{arch:?} {}", call.name);
            }
            for allowed in ["getpid", "mknodat"] {
                assert_eq!(verdict(DEFAULT, arch, allowed, [0; 6]), RET_ALLOW, "{arch:?} {allowed}");
            }
        }
    }

    #[test]
    fn a_kept_capability_reopens_its_calls() {
        let with = |cap: &str| Policy { kept: capability_bit(cap), privileged: false };
        for arch in [Arch::X86_64, Arch::Aarch64] {
            assert_eq!(verdict(with("sys_admin"), arch, "mount", [0; 6]), RET_ALLOW);
            assert_eq!(verdict(with("sys_admin"), arch, "clone", [0x1000_0000, 0, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(verdict(with("sys_time"), arch, "clock_settime", [0; 6]), RET_ALLOW);
            assert_eq!(verdict(with("sys_time"), arch, "mount", [0; 6]), RET_EPERM);
            assert_eq!(verdict(with("sys_ptrace"), arch, "process_vm_readv", [0; 6]), RET_ALLOW);
            // Never: the keyring is not namespaced.
            assert_eq!(verdict(with("sys_admin"), arch, "keyctl", [0; 6]), RET_EPERM);
        }
    }

    #[test]
    fn arguments_decide_for_ioctl_personality_and_clone() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let privileged = Policy { kept: u64::MAX, privileged: true };
            for policy in [DEFAULT, privileged] {
                assert_eq!(verdict(policy, arch, "ioctl", [0, TIOCSTI as u64, 0, 0, 0, 0]), RET_EPERM);
                assert_eq!(verdict(policy, arch, "ioctl", [0, TIOCLINUX as u64, 0, 0, 0, 0]), RET_EPERM);
                // The high word of the request is not looked at, as the kernel does not.
                assert_eq!(verdict(policy, arch, "ioctl", [0, 0x1_0000_5412, 0, 0, 0, 0]), RET_EPERM);
                assert_eq!(verdict(policy, arch, "ioctl", [0, 0x5401, 0, 0, 0, 0]), RET_ALLOW);
            }
            assert_eq!(verdict(DEFAULT, arch, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(verdict(DEFAULT, arch, "personality", [0x8, 0, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(verdict(DEFAULT, arch, "personality", [0x0040_0000, 0, 0, 0, 0, 0]), RET_EPERM);
            assert_eq!(verdict(DEFAULT, arch, "clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(verdict(DEFAULT, arch, "clone", [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), RET_EPERM);
            assert_eq!(verdict(DEFAULT, arch, "clone3", [0; 6]), RET_ENOSYS);
            assert_eq!(verdict(privileged, arch, "mount", [0; 6]), RET_ALLOW);
        }
    }

    #[test]
    fn foreign_calls_fail() {
        let program = filter(Arch::X86_64, DEFAULT);
        // i386 (AUDIT_ARCH_I386) and the x32 ABI on an x86_64 kernel.
        assert_eq!(run(&program, 0x4000_0003, 39, [0; 6]), RET_EPERM);
        assert_eq!(run(&program, Arch::X86_64.audit(), 0x4000_0027, [0; 6]), RET_EPERM);
        assert_eq!(run(&filter(Arch::Aarch64, DEFAULT), Arch::X86_64.audit(), 39, [0; 6]), RET_EPERM);
    }

    #[test]
    fn the_table_has_the_kernels_numbers() {
        let native = Arch::native().unwrap();
        let libc_number = |name: &str| -> Option<libc::c_long> {
            Some(match name {
                "kexec_load" => libc::SYS_kexec_load,
                "kexec_file_load" => libc::SYS_kexec_file_load,
                "reboot" => libc::SYS_reboot,
                "init_module" => libc::SYS_init_module,
                "finit_module" => libc::SYS_finit_module,
                "delete_module" => libc::SYS_delete_module,
                "open_by_handle_at" => libc::SYS_open_by_handle_at,
                "name_to_handle_at" => libc::SYS_name_to_handle_at,
                "bpf" => libc::SYS_bpf,
                "perf_event_open" => libc::SYS_perf_event_open,
                "userfaultfd" => libc::SYS_userfaultfd,
                "keyctl" => libc::SYS_keyctl,
                "add_key" => libc::SYS_add_key,
                "request_key" => libc::SYS_request_key,
                "swapon" => libc::SYS_swapon,
                "swapoff" => libc::SYS_swapoff,
                "settimeofday" => libc::SYS_settimeofday,
                "clock_settime" => libc::SYS_clock_settime,
                "clock_adjtime" => libc::SYS_clock_adjtime,
                "acct" => libc::SYS_acct,
                "quotactl" => libc::SYS_quotactl,
                "lookup_dcookie" => libc::SYS_lookup_dcookie,
                "mount" => libc::SYS_mount,
                "umount2" => libc::SYS_umount2,
                "pivot_root" => libc::SYS_pivot_root,
                "unshare" => libc::SYS_unshare,
                "setns" => libc::SYS_setns,
                "open_tree" => libc::SYS_open_tree,
                "move_mount" => libc::SYS_move_mount,
                "fsopen" => libc::SYS_fsopen,
                "fsconfig" => libc::SYS_fsconfig,
                "fsmount" => libc::SYS_fsmount,
                "fspick" => libc::SYS_fspick,
                "kcmp" => libc::SYS_kcmp,
                "process_vm_readv" => libc::SYS_process_vm_readv,
                "process_vm_writev" => libc::SYS_process_vm_writev,
                #[cfg(target_arch = "x86_64")]
                "iopl" => libc::SYS_iopl,
                #[cfg(target_arch = "x86_64")]
                "ioperm" => libc::SYS_ioperm,
                _ => return None,
            })
        };
        for call in &DENIED {
            if let (Some(ours), Some(theirs)) = (native.of(call), libc_number(call.name)) {
                assert_eq!(i64::from(ours), theirs, "{}", call.name);
            }
        }
        for (name, pair, theirs) in [
            ("ioctl", IOCTL, libc::SYS_ioctl),
            ("personality", PERSONALITY, libc::SYS_personality),
            ("clone", CLONE, libc::SYS_clone),
            ("clone3", CLONE3, libc::SYS_clone3),
        ] {
            assert_eq!(i64::from(native.number(pair)), theirs, "{name}");
        }
    }
}

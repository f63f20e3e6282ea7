//! Seccomp: the default filter of a container's command, with the semantics
//! of Docker's and podman's default profile. A classic BPF program that lets
//! every system call through except the ones that need a capability the
//! command does not have, or that are known escape or information-leak
//! vectors; those fail with EPERM. Terminal injection (TIOCSTI, TIOCLINUX)
//! fails for every command, even a privileged one. The 32-bit ABI the kernel
//! also runs (i386 on x86_64, arm on aarch64) is filtered by its own numbers
//! (`crate::syscalls`, generated from the kernels' tables), with the same
//! rules; the x32 ABI and any other architecture's calls fail.

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

/// A system call by name; its number on each architecture comes from the
/// kernel's tables (`crate::syscalls`), none where it has no such call.
struct Call {
    name: &'static str,
    unless: Unless,
}

const fn call(name: &'static str, unless: Unless) -> Call {
    Call { name, unless }
}

use Unless::{Kept, Never};

/// The denied calls, by name (a unit test checks the native numbers the
/// tables give against `libc::SYS_*`).
const DENIED: [Call; 44] = [
    call("kexec_load", Kept("sys_boot")),
    call("kexec_file_load", Kept("sys_boot")),
    call("reboot", Kept("sys_boot")),
    call("init_module", Kept("sys_module")),
    call("finit_module", Kept("sys_module")),
    call("delete_module", Kept("sys_module")),
    call("open_by_handle_at", Kept("dac_read_search")),
    call("name_to_handle_at", Never),
    call("bpf", Kept("sys_admin")),
    call("perf_event_open", Kept("sys_admin")),
    call("userfaultfd", Kept("sys_ptrace")),
    call("keyctl", Never),
    call("add_key", Never),
    call("request_key", Never),
    call("iopl", Kept("sys_rawio")),
    call("ioperm", Kept("sys_rawio")),
    call("swapon", Kept("sys_admin")),
    call("swapoff", Kept("sys_admin")),
    call("settimeofday", Kept("sys_time")),
    call("clock_settime", Kept("sys_time")),
    call("clock_adjtime", Kept("sys_time")),
    call("acct", Kept("sys_pacct")),
    call("quotactl", Kept("sys_admin")),
    call("lookup_dcookie", Kept("sys_admin")),
    call("mount", Kept("sys_admin")),
    call("umount2", Kept("sys_admin")),
    call("pivot_root", Kept("sys_admin")),
    call("unshare", Kept("sys_admin")),
    call("setns", Kept("sys_admin")),
    call("open_tree", Kept("sys_admin")),
    call("move_mount", Kept("sys_admin")),
    call("fsopen", Kept("sys_admin")),
    call("fsconfig", Kept("sys_admin")),
    call("fsmount", Kept("sys_admin")),
    call("fspick", Kept("sys_admin")),
    call("kcmp", Kept("sys_ptrace")),
    call("process_vm_readv", Kept("sys_ptrace")),
    call("process_vm_writev", Kept("sys_ptrace")),
    // io_uring: a large kernel surface behind one descriptor, the source of many
    // escalations; Docker's profile denies it since 25.0, gVisor and ChromeOS too.
    call("io_uring_setup", Never),
    call("io_uring_enter", Never),
    call("io_uring_register", Never),
    // i386 alone: virtual 8086 mode, and the old umount (umount2 with no flags).
    call("vm86", Never),
    call("vm86old", Never),
    call("umount", Kept("sys_admin")),
];

// Calls whose arguments decide: ioctl (the terminal requests), personality
// (only the harmless values), clone (no new namespace), clone3 (its flags
// are behind a pointer: ENOSYS, so that libc falls back to clone, as
// Docker's profile does).
const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541c;
/// PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff.
const PERSONALITIES: [u32; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];
/// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME.
const CLONE_NEW_ANY: u32 = 0x7e02_0080;

/// An architecture the filter knows: the two this code runs on, and the
/// 32-bit ABI each kernel also runs (i386 programs on x86_64, arm on aarch64).
/// The x32 ABI is not among them: its calls are always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    X86,
    Aarch64,
    Arm,
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

    /// The 32-bit ABI a kernel of this architecture also runs.
    pub fn compat(self) -> Option<Self> {
        match self {
            Self::X86_64 => Some(Self::X86),
            Self::Aarch64 => Some(Self::Arm),
            Self::X86 | Self::Arm => None,
        }
    }

    /// AUDIT_ARCH_* as seccomp_data.arch holds it.
    fn audit(self) -> u32 {
        match self {
            Self::X86_64 => 0xc000_003e,
            Self::X86 => 0x4000_0003,
            Self::Aarch64 => 0xc000_00b7,
            Self::Arm => 0x4000_0028,
        }
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Self::X86_64 => crate::syscalls::X86_64,
            Self::X86 => crate::syscalls::X86,
            Self::Aarch64 => crate::syscalls::AARCH64,
            Self::Arm => crate::syscalls::ARM,
        }
    }

    fn of(self, call: &Call) -> Option<u32> {
        number_of(self, call.name)
    }
}

/// One program for several architectures: the architecture word sends each
/// call to its architecture's section (each begins by loading the call's
/// number); a call of any other architecture or ABI gets `foreign`.
fn per_arch(sections: Vec<(Arch, Vec<libc::sock_filter>)>, foreign: u32) -> Vec<libc::sock_filter> {
    let header = 1 + 2 * sections.len() + 1;
    let mut p = vec![stmt(LD_W_ABS, ARCH)];
    let mut start = header;
    for (arch, body) in &sections {
        p.push(jump(JEQ_K, arch.audit(), 0, 1));
        // A long jump (32 bits): sections are longer than a conditional jump reaches.
        let after = p.len() + 1;
        p.push(stmt(JA, (start - after) as u32));
        start += body.len();
    }
    p.push(stmt(RET_K, foreign));
    for (_, body) in sections {
        p.extend(body);
    }
    p
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

/// The filter for `arch` (and the 32-bit ABI its kernel also runs) under
/// `policy`. Every conditional jump is short (at most a few instructions
/// forward); the sections are reached by long ones.
pub fn filter(arch: Arch, policy: Policy) -> Vec<libc::sock_filter> {
    let sections = std::iter::once(arch).chain(arch.compat()).map(|a| (a, filter_section(a, policy))).collect();
    per_arch(sections, RET_EPERM)
}

fn filter_section(arch: Arch, policy: Policy) -> Vec<libc::sock_filter> {
    let mut p = vec![stmt(LD_W_ABS, NR)];
    if arch == Arch::X86_64 {
        // The x32 ABI: the same numbers with bit 30 set.
        p.extend([jump(JGE_K, 0x4000_0000, 0, 1), stmt(RET_K, RET_EPERM)]);
    }
    // ioctl: the terminal requests fail for everyone; any other goes through.
    if let Some(ioctl) = number_of(arch, "ioctl") {
        p.extend([
            jump(JEQ_K, ioctl, 0, 5),
            stmt(LD_W_ABS, arg_low(1)),
            jump(JEQ_K, TIOCSTI, 2, 0),
            jump(JEQ_K, TIOCLINUX, 1, 0),
            stmt(RET_K, RET_ALLOW),
            stmt(RET_K, RET_EPERM),
        ]);
    }
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
    if let Some(personality) = number_of(arch, "personality") {
        p.extend([jump(JEQ_K, personality, 0, n + 3), stmt(LD_W_ABS, arg_low(0))]);
        for (i, value) in PERSONALITIES.iter().enumerate() {
            p.push(jump(JEQ_K, *value, n - i as u8, 0));
        }
        p.extend([stmt(RET_K, RET_EPERM), stmt(RET_K, RET_ALLOW)]);
    }
    if !allowed(Kept("sys_admin"))
        && let (Some(clone), Some(clone3)) = (number_of(arch, "clone"), number_of(arch, "clone3"))
    {
        // clone: no new namespace (its flags are the first argument on all four).
        p.extend([
            jump(JEQ_K, clone, 0, 4),
            stmt(LD_W_ABS, arg_low(0)),
            jump(JSET_K, CLONE_NEW_ANY, 0, 1),
            stmt(RET_K, RET_EPERM),
            stmt(RET_K, RET_ALLOW),
            jump(JEQ_K, clone3, 0, 1),
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

/// Install `program` and get its listener (SECCOMP_FILTER_FLAG_NEW_LISTENER):
/// the descriptor a seccomp agent reads the SCMP_ACT_NOTIFY calls from.
pub fn install_listening(program: &[libc::sock_filter]) -> Result<std::os::fd::OwnedFd, Error> {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
    trace::step(|| format!("seccomp: a filter of {} instructions, with a listener", program.len()));
    let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
    // SAFETY: seccomp(2) with a valid sock_fprog that points to `program`, alive for the call.
    let fd = unsafe {
        libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &raw const prog)
    };
    if fd < 0 {
        return Err(Error::sys("cannot install", "the seccomp filter with a listener", Errno::last()));
    }
    // SAFETY: the kernel gave us this new descriptor, ours alone.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

// ---- profiles: filters described by rules (an OCI linux.seccomp), compiled ----

const JGT_K: u16 = 0x25;
const JA: u16 = 0x05;
const ALU_AND_K: u16 = 0x54;
/// BPF_MAXINSNS: the kernel refuses a longer program.
const MAX_INSTRUCTIONS: usize = 4096;

/// What a rule (or the default) does to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    KillProcess,
    KillThread,
    Trap,
    Errno(u16),
    Trace(u16),
    Log,
    /// SECCOMP_RET_USER_NOTIF: a seccomp agent holding the listener decides (Linux 5.0).
    Notify,
    Allow,
}

impl Action {
    fn ret(self) -> u32 {
        match self {
            Self::KillProcess => 0x8000_0000,
            Self::KillThread => 0,
            Self::Trap => 0x0003_0000,
            Self::Errno(e) => 0x0005_0000 | u32::from(e),
            Self::Trace(e) => 0x7ff0_0000 | u32::from(e),
            Self::Log => 0x7ffc_0000,
            Self::Notify => 0x7fc0_0000,
            Self::Allow => RET_ALLOW,
        }
    }
}

/// How a 64-bit argument compares with a rule's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == value_two`.
    MaskedEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    pub index: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

/// The calls named, when every condition holds, get `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub default: Action,
    pub rules: Vec<Rule>,
    /// The architectures the profile names; the native one is always
    /// covered, its 32-bit ABI when named here (as libseccomp does).
    pub architectures: Vec<Arch>,
}

/// The number of call `name` on `arch`, by the kernel's tables.
pub fn number_of(arch: Arch, name: &str) -> Option<u32> {
    let table = arch.table();
    table.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| table[i].1)
}

/// A jump of a block: so many instructions on, or to the block's end.
#[derive(Clone, Copy)]
enum To {
    On(u8),
    End,
}

struct Pending {
    code: u16,
    k: u32,
    jt: To,
    jf: To,
}

fn op(code: u16, k: u32) -> Pending {
    Pending { code, k, jt: To::On(0), jf: To::On(0) }
}

fn branch(code: u16, k: u32, jt: To, jf: To) -> Pending {
    Pending { code, k, jt, jf }
}

/// Resolve a block's jumps to its end (the instruction after it).
fn resolve(block: Vec<Pending>) -> Result<Vec<libc::sock_filter>, String> {
    let len = block.len();
    let offset = |at: usize, to: To| -> Result<u8, String> {
        match to {
            To::On(n) => Ok(n),
            To::End => {
                u8::try_from(len - at - 1).map_err(|_| "a rule compiles to a block too long to jump over".to_owned())
            }
        }
    };
    block.iter().enumerate().map(|(at, p)| Ok(jump(p.code, p.k, offset(at, p.jt)?, offset(at, p.jf)?))).collect()
}

/// The code that falls through when `c` holds and jumps to the block's end when not.
fn condition(c: &Condition) -> Vec<Pending> {
    let (low, high) = (arg_low(u32::from(c.index)), arg_low(u32::from(c.index)) + 4);
    let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
    let end = To::End;
    let next = To::On(0);
    match c.op {
        Op::Eq => {
            vec![op(LD_W_ABS, high), branch(JEQ_K, vh, next, end), op(LD_W_ABS, low), branch(JEQ_K, vl, next, end)]
        }
        Op::Ne => vec![
            op(LD_W_ABS, high),
            branch(JEQ_K, vh, next, To::On(2)),
            op(LD_W_ABS, low),
            branch(JEQ_K, vl, end, next),
        ],
        Op::Gt => vec![
            op(LD_W_ABS, high),
            branch(JGT_K, vh, To::On(3), next),
            branch(JEQ_K, vh, next, end),
            op(LD_W_ABS, low),
            branch(JGT_K, vl, next, end),
        ],
        Op::Ge => vec![
            op(LD_W_ABS, high),
            branch(JGT_K, vh, To::On(3), next),
            branch(JEQ_K, vh, next, end),
            op(LD_W_ABS, low),
            branch(JGE_K, vl, next, end),
        ],
        Op::Lt => vec![
            op(LD_W_ABS, high),
            branch(JGE_K, vh, next, To::On(3)),
            branch(JEQ_K, vh, next, end),
            op(LD_W_ABS, low),
            branch(JGE_K, vl, end, next),
        ],
        Op::Le => vec![
            op(LD_W_ABS, high),
            branch(JGE_K, vh, next, To::On(3)),
            branch(JEQ_K, vh, next, end),
            op(LD_W_ABS, low),
            branch(JGT_K, vl, end, next),
        ],
        Op::MaskedEq => {
            let (mh, ml) = ((c.value >> 32) as u32, c.value as u32);
            let (th, tl) = ((c.value_two >> 32) as u32, c.value_two as u32);
            vec![
                op(LD_W_ABS, high),
                op(ALU_AND_K, mh),
                branch(JEQ_K, th, next, end),
                op(LD_W_ABS, low),
                op(ALU_AND_K, ml),
                branch(JEQ_K, tl, next, end),
            ]
        }
    }
}

/// Compile `profile` for `arch`, and for its 32-bit ABI when the profile
/// names it: the first rule that matches a call decides (rules with
/// conditions, in their order, then the unconditional ones); otherwise the
/// default. Calls of another architecture or ABI (x32) get the default, or
/// EPERM where the default would allow them: a rule meant to deny is never
/// skipped. Names an architecture's table does not know are left out there
/// (as runc does, for calls newer than the table or not on that architecture).
pub fn compile(profile: &Profile, arch: Arch) -> Result<Vec<libc::sock_filter>, String> {
    let foreign = match profile.default {
        Action::Allow | Action::Log | Action::Notify => Action::Errno(libc::EPERM as u16),
        other => other,
    };
    let mut sections = vec![(arch, compile_section(profile, arch, foreign)?)];
    if let Some(compat) = arch.compat().filter(|c| profile.architectures.contains(c)) {
        sections.push((compat, compile_section(profile, compat, foreign)?));
    }
    let p = per_arch(sections, foreign.ret());
    if p.len() > MAX_INSTRUCTIONS {
        return Err(format!("the filter needs {} instructions, more than the kernel's {MAX_INSTRUCTIONS}", p.len()));
    }
    Ok(p)
}

fn compile_section(profile: &Profile, arch: Arch, foreign: Action) -> Result<Vec<libc::sock_filter>, String> {
    let mut p = vec![stmt(LD_W_ABS, NR)];
    if arch == Arch::X86_64 {
        p.extend([jump(JGE_K, 0x4000_0000, 0, 1), stmt(RET_K, foreign.ret())]);
    }
    let numbers = |rule: &Rule| -> Vec<u32> { rule.names.iter().filter_map(|n| number_of(arch, n)).collect() };
    for rule in profile.rules.iter().filter(|r| !r.conditions.is_empty()) {
        for nr in numbers(rule) {
            let mut block = vec![op(LD_W_ABS, NR), branch(JEQ_K, nr, To::On(0), To::End)];
            for c in &rule.conditions {
                if c.index > 5 {
                    return Err(format!("argument index {} (a call has 6: 0 to 5)", c.index));
                }
                block.extend(condition(c));
            }
            block.push(op(RET_K, rule.action.ret()));
            p.extend(resolve(block)?);
        }
    }
    p.push(stmt(LD_W_ABS, NR));
    for rule in profile.rules.iter().filter(|r| r.conditions.is_empty()) {
        // A run of names shares one return: JEQ n1 .. nK jump to it.
        for chunk in numbers(rule).chunks(200) {
            let k = chunk.len();
            for (i, nr) in chunk.iter().enumerate() {
                p.push(jump(JEQ_K, *nr, (k - i) as u8, 0));
            }
            p.extend([stmt(JA, 1), stmt(RET_K, rule.action.ret())]);
        }
    }
    p.push(stmt(RET_K, profile.default.ret()));
    Ok(p)
}

/// Run a filter of ours over one call, as the kernel would: what it returns
/// for call `nr` of audit architecture `arch` with `args`. None for a program
/// that uses an instruction our filters never contain, or runs off its end.
/// For tests, and for saying why a call was refused.
pub fn evaluate(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> Option<u32> {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let ins = *program.get(pc)?;
        pc += 1;
        let k = ins.k;
        let branch = |taken: bool| if taken { ins.jt as usize } else { ins.jf as usize };
        match ins.code {
            LD_W_ABS => {
                let at = k as usize;
                acc = u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?);
            }
            JEQ_K => pc += branch(acc == k),
            JGE_K => pc += branch(acc >= k),
            JGT_K => pc += branch(acc > k),
            JSET_K => pc += branch(acc & k != 0),
            JA => pc += k as usize,
            ALU_AND_K => acc &= k,
            RET_K => return Some(k),
            _ => return None,
        }
    }
}

/// The audit architecture number of `arch` (seccomp_data.arch).
pub fn audit_arch(arch: Arch) -> u32 {
    arch.audit()
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
            libc::ptrace(
                PTRACE_SECCOMP_GET_FILTER as _,
                pid,
                index as libc::c_ulong,
                std::ptr::null_mut::<libc::c_void>(),
            )
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
        let got =
            unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER as _, pid, index as libc::c_ulong, program.as_mut_ptr()) };
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

    fn run(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        evaluate(program, arch, nr, args).unwrap()
    }

    /// What the filter of a kernel of `arch` (or of the kernel whose 32-bit
    /// ABI `arch` is) returns for call `name` of `arch`.
    fn verdict(policy: Policy, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
        let kernel = match arch {
            Arch::X86 => Arch::X86_64,
            Arch::Arm => Arch::Aarch64,
            other => other,
        };
        let nr = number_of(arch, name).unwrap_or_else(|| panic!("{arch:?} {name}"));
        run(&filter(kernel, policy), arch.audit(), nr, args)
    }

    const ALL: [Arch; 4] = [Arch::X86_64, Arch::X86, Arch::Aarch64, Arch::Arm];

    const DEFAULT: Policy = Policy { kept: 0, privileged: false };

    #[test]
    fn the_denied_calls_fail_and_the_rest_go_through() {
        for arch in ALL {
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
        for arch in ALL {
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
        for arch in ALL {
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
    fn the_32_bit_abi_is_filtered_by_its_own_numbers_and_others_fail() {
        let program = filter(Arch::X86_64, DEFAULT);
        // i386 on an x86_64 kernel: getpid is 20 and mount 21 there (39 and 165 on x86_64).
        assert_eq!(run(&program, Arch::X86.audit(), 20, [0; 6]), RET_ALLOW);
        assert_eq!(run(&program, Arch::X86.audit(), 21, [0; 6]), RET_EPERM);
        assert_eq!(run(&program, Arch::X86.audit(), 165, [0; 6]), RET_ALLOW, "165 is getresuid on i386");
        assert_eq!(verdict(DEFAULT, Arch::X86, "vm86", [0; 6]), RET_EPERM);
        // The x32 ABI, and an architecture this kernel does not run.
        assert_eq!(run(&program, Arch::X86_64.audit(), 0x4000_0027, [0; 6]), RET_EPERM);
        assert_eq!(run(&program, Arch::Arm.audit(), 20, [0; 6]), RET_EPERM);
        assert_eq!(run(&filter(Arch::Aarch64, DEFAULT), Arch::X86_64.audit(), 39, [0; 6]), RET_EPERM);
        // A profile covers the 32-bit ABI only when it names it.
        let rule = Rule { names: vec!["getpid".into()], action: Action::Allow, conditions: vec![] };
        let mut profile = Profile { default: Action::Errno(1), rules: vec![rule], architectures: vec![] };
        let without = compile(&profile, Arch::X86_64).unwrap();
        assert_eq!(run(&without, Arch::X86.audit(), 20, [0; 6]), 0x0005_0001);
        assert_eq!(run(&without, Arch::X86_64.audit(), 39, [0; 6]), RET_ALLOW);
        profile.architectures = vec![Arch::X86_64, Arch::X86];
        let with = compile(&profile, Arch::X86_64).unwrap();
        assert_eq!(run(&with, Arch::X86.audit(), 20, [0; 6]), RET_ALLOW);
        assert_eq!(run(&with, Arch::X86.audit(), 39, [0; 6]), 0x0005_0001, "39 is mkdir on i386");
        assert_eq!(run(&with, Arch::X86_64.audit(), 39, [0; 6]), RET_ALLOW);
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
                "io_uring_setup" => libc::SYS_io_uring_setup,
                "io_uring_enter" => libc::SYS_io_uring_enter,
                "io_uring_register" => libc::SYS_io_uring_register,
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
        for (name, theirs) in [
            ("ioctl", libc::SYS_ioctl),
            ("personality", libc::SYS_personality),
            ("clone", libc::SYS_clone),
            ("clone3", libc::SYS_clone3),
        ] {
            assert_eq!(number_of(native, name).map(i64::from), Some(theirs), "{name}");
        }
    }

    fn sample_profile() -> Profile {
        let rule = |names: &[&str], action, conditions: Vec<Condition>| Rule {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            action,
            conditions,
        };
        let cond = |index, op, value, value_two| Condition { index, op, value, value_two };
        Profile {
            architectures: vec![],
            default: Action::Errno(libc::ENOSYS as u16),
            rules: vec![
                rule(&["read", "write", "no_such_call_here"], Action::Allow, vec![]),
                rule(&["personality"], Action::Allow, vec![cond(0, Op::Eq, 0xffff_ffff, 0)]),
                rule(&["clone"], Action::Allow, vec![cond(0, Op::MaskedEq, 0x7e02_0080, 0)]),
                rule(&["kill"], Action::Errno(libc::EPERM as u16), vec![cond(1, Op::Gt, 0x1_0000_0000, 0)]),
                rule(&["kill"], Action::Allow, vec![cond(1, Op::Le, 0x1_0000_0000, 0)]),
                rule(&["mkdir"], Action::KillProcess, vec![cond(1, Op::Ne, 0o755, 0), cond(1, Op::Lt, 0o1000, 0)]),
                rule(&["mkdir"], Action::Allow, vec![cond(1, Op::Ge, 0, 0)]),
            ],
        }
    }

    #[test]
    fn profiles_compile_to_what_they_say() {
        let arch = Arch::X86_64;
        let p = compile(&sample_profile(), arch).unwrap();
        let native = arch.audit();
        let nr = |name| number_of(arch, name).unwrap();
        let at = |name, args: [u64; 6]| run(&p, native, nr(name), args);
        let errno = |e: i32| 0x0005_0000 | e as u32;
        assert_eq!(at("read", [0; 6]), RET_ALLOW);
        assert_eq!(at("write", [0; 6]), RET_ALLOW);
        assert_eq!(at("openat", [0; 6]), errno(libc::ENOSYS), "the default");
        assert_eq!(at("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(at("personality", [0x8, 0, 0, 0, 0, 0]), errno(libc::ENOSYS));
        assert_eq!(at("personality", [0x1_ffff_ffff, 0, 0, 0, 0, 0]), errno(libc::ENOSYS), "the high word counts");
        assert_eq!(at("clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(at("clone", [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]), errno(libc::ENOSYS));
        assert_eq!(at("kill", [1, 0x1_0000_0001, 0, 0, 0, 0]), errno(libc::EPERM), "Gt across the high word");
        assert_eq!(at("kill", [1, 0x1_0000_0000, 0, 0, 0, 0]), RET_ALLOW, "Le at equality");
        assert_eq!(at("kill", [1, 9, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(at("mkdir", [0, 0o700, 0, 0, 0, 0]), 0x8000_0000, "Ne and Lt together");
        assert_eq!(at("mkdir", [0, 0o755, 0, 0, 0, 0]), RET_ALLOW, "Ne fails: the next rule");
        assert_eq!(at("mkdir", [0, 0o1777, 0, 0, 0, 0]), RET_ALLOW, "Lt fails: the next rule");
        // Another architecture or the x32 ABI: the default, which denies here.
        assert_eq!(run(&p, Arch::Aarch64.audit(), 0, [0; 6]), errno(libc::ENOSYS));
        assert_eq!(run(&p, native, 0x4000_0000, [0; 6]), errno(libc::ENOSYS));
        // With an allowing default, a foreign call is still refused.
        let open = Profile { default: Action::Allow, rules: vec![], architectures: vec![] };
        assert_eq!(run(&compile(&open, arch).unwrap(), 0x4000_0003, 0, [0; 6]), RET_EPERM);
    }

    #[test]
    fn every_comparison_agrees_with_plain_arithmetic() {
        let arch = Arch::X86_64;
        let values = [0u64, 1, 0x7fff_ffff, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, u64::MAX - 1, u64::MAX];
        for op in [Op::Ne, Op::Lt, Op::Le, Op::Eq, Op::Ge, Op::Gt, Op::MaskedEq] {
            for &value in &values {
                let rule = Rule {
                    names: vec!["read".into()],
                    action: Action::Allow,
                    conditions: vec![Condition { index: 2, op, value, value_two: value & 0xf0f0_f0f0_f0f0_f0f0 }],
                };
                let p =
                    compile(&Profile { default: Action::KillThread, rules: vec![rule], architectures: vec![] }, arch)
                        .unwrap();
                for &arg in &values {
                    let want = match op {
                        Op::Ne => arg != value,
                        Op::Lt => arg < value,
                        Op::Le => arg <= value,
                        Op::Eq => arg == value,
                        Op::Ge => arg >= value,
                        Op::Gt => arg > value,
                        Op::MaskedEq => arg & value == value & 0xf0f0_f0f0_f0f0_f0f0,
                    };
                    let got =
                        run(&p, arch.audit(), number_of(arch, "read").unwrap(), [0, 0, arg, 0, 0, 0]) == RET_ALLOW;
                    assert_eq!(got, want, "{op:?} {arg:#x} against {value:#x}");
                }
            }
        }
    }

    #[test]
    fn the_tables_are_sorted_and_agree_with_libc() {
        for table in [crate::syscalls::X86_64, crate::syscalls::AARCH64] {
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0), "sorted, no duplicates");
        }
        let native = Arch::native().unwrap();
        assert_eq!(number_of(native, "read"), Some(libc::SYS_read as u32));
        assert_eq!(number_of(native, "clone3"), Some(libc::SYS_clone3 as u32));
        assert_eq!(number_of(native, "mount_setattr"), Some(libc::SYS_mount_setattr as u32));
        assert_eq!(number_of(native, "no_such_call"), None);
    }
}

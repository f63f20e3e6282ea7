//! Device rules of a cgroup: which device nodes its processes may open or
//! make. v1 takes them as lines in devices.allow/deny; v2 has no files, only
//! a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup, which we
//! compile from the same rules.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::Error;

pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;

/// One rule, applied in order over "everything allowed": the last that
/// matches an access decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// `c` or `b`; None for both.
    pub kind: Option<char>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// MKNOD | READ | WRITE.
    pub access: u8,
}

/// `rwm` as bits; None for anything else, or nothing.
pub fn access(text: &str) -> Option<u8> {
    let mut bits = 0;
    for c in text.chars() {
        bits |= match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => return None,
        };
    }
    (bits != 0).then_some(bits)
}

impl Rule {
    pub fn allow_char(major: u32, minor: Option<u32>) -> Self {
        Self { allow: true, kind: Some('c'), major: Some(major), minor, access: READ | WRITE | MKNOD }
    }

    /// The rule as v1's devices.allow and devices.deny take it: `c 1:3 rwm`.
    pub fn v1_line(&self) -> (&'static str, String) {
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        let mut access = String::new();
        for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        let file = if self.allow { "devices.allow" } else { "devices.deny" };
        let line = match self.kind {
            None if self.major.is_none() && self.minor.is_none() => format!("a *:* {access}"),
            kind => format!("{} {}:{} {access}", kind.unwrap_or('a'), number(self.major), number(self.minor)),
        };
        (file, line)
    }

    /// Whether the rule speaks for an access of `access` bits to the device.
    pub fn matches(&self, kind: char, major: u32, minor: u32, access: u8) -> bool {
        self.kind.is_none_or(|k| k == kind)
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
            && if self.allow { access & !self.access == 0 } else { access & self.access != 0 }
    }
}

/// What the rules decide for one access (the program does the same).
pub fn allowed(rules: &[Rule], kind: char, major: u32, minor: u32, access: u8) -> bool {
    rules.iter().rev().find(|r| r.matches(kind, major, minor, access)).is_none_or(|r| r.allow)
}

/// One eBPF instruction as the kernel reads it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV32_X: u8 = 0xbc;
const MOV64_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

/// The rules as a cgroup device program: the context is
/// `{ access << 16 | type, major, minor }`; it returns 1 to allow.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut out = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    // The last rule first: the first that matches decides.
    for rule in rules.iter().rev() {
        let mut tests: Vec<(u8, u8, i32)> = Vec::new();
        if let Some(kind) = rule.kind {
            tests.push((JNE_K, 2, if kind == 'b' { 1 } else { 2 }));
        }
        if let Some(major) = rule.major {
            tests.push((JNE_K, 4, major as i32));
        }
        if let Some(minor) = rule.minor {
            tests.push((JNE_K, 5, minor as i32));
        }
        // Access: allow needs every asked bit in the rule; deny needs any.
        let (mask, jump) = if rule.allow { (!rule.access & 7, JNE_K) } else { (rule.access, JEQ_K) };
        let block = tests.len() + 3 + 2;
        for (i, (code, reg, imm)) in tests.iter().enumerate() {
            out.push(insn(*code, *reg, 0, (block - i - 1) as i16, *imm));
        }
        out.push(insn(MOV32_X, 0, 3, 0, 0));
        out.push(insn(AND32_K, 0, 0, 0, i32::from(mask)));
        out.push(insn(jump, 0, 0, 2, 0));
        out.push(insn(MOV64_K, 0, 0, 0, i32::from(rule.allow)));
        out.push(insn(EXIT, 0, 0, 0, 0));
    }
    out.push(insn(MOV64_K, 0, 0, 0, 1));
    out.push(insn(EXIT, 0, 0, 0, 0));
    out
}

fn bpf(cmd: libc::c_int, attr: &mut [u8; 128]) -> Result<libc::c_long, Errno> {
    // SAFETY: bpf(2) with a zero-filled attribute buffer of 128 bytes, the
    // fields this command reads set at their offsets.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as libc::c_uint) };
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// Load the rules' program and attach it to the v2 cgroup open at `cgroup`.
/// It stays attached while the cgroup lives.
pub fn attach(cgroup: BorrowedFd<'_>, rules: &[Rule]) -> Result<(), Error> {
    const PROG_LOAD: libc::c_int = 5;
    const PROG_ATTACH: libc::c_int = 8;
    const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const ATTACH_CGROUP_DEVICE: u32 = 6;
    const F_ALLOW_MULTI: u32 = 2;
    let insns = program(rules);
    let license = c"MIT";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&(insns.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    let prog = bpf(PROG_LOAD, &mut attr).map_err(|e| Error::sys("cannot load", "the device rules' BPF program", e))?;
    // SAFETY: a new descriptor bpf(2) returned, ours alone.
    let prog = unsafe { OwnedFd::from_raw_fd(prog as i32) };
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&(cgroup.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&ATTACH_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&F_ALLOW_MULTI.to_ne_bytes());
    bpf(PROG_ATTACH, &mut attr).map_err(|e| Error::sys("cannot attach", "the device rules' BPF program", e))?;
    Ok(())
}

/// The devices every container may use (those mkroot and nsrun make in its
/// /dev), allowed after the config's rules as runc allows them.
pub fn defaults() -> Vec<Rule> {
    let mut out: Vec<Rule> = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2)]
        .iter()
        .map(|&(major, minor)| Rule::allow_char(major, Some(minor)))
        .collect();
    // The container's own ptys.
    out.push(Rule::allow_char(136, None));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny_all() -> Rule {
        Rule { allow: false, kind: None, major: None, minor: None, access: READ | WRITE | MKNOD }
    }

    #[test]
    fn last_matching_rule_decides() {
        let rules = [deny_all(), Rule { access: READ, ..Rule::allow_char(1, Some(3)) }];
        assert!(allowed(&rules, 'c', 1, 3, READ));
        assert!(!allowed(&rules, 'c', 1, 3, READ | WRITE));
        assert!(!allowed(&rules, 'c', 1, 5, READ));
        assert!(!allowed(&rules, 'b', 1, 3, READ));
        assert!(allowed(&[], 'b', 8, 0, WRITE));
    }

    #[test]
    fn v1_lines() {
        assert_eq!(deny_all().v1_line(), ("devices.deny", "a *:* rwm".to_owned()));
        assert_eq!(Rule::allow_char(136, None).v1_line(), ("devices.allow", "c 136:* rwm".to_owned()));
        assert_eq!(access("rw"), Some(READ | WRITE));
        assert_eq!((access(""), access("x")), (None, None));
    }

    /// The program, run by a tiny interpreter of the instructions it uses,
    /// decides as `allowed` does on every combination.
    #[test]
    fn the_program_decides_as_the_rules_do() {
        fn run(prog: &[Insn], ctx: [u32; 3]) -> u64 {
            let mut r = [0u64; 11];
            let mut pc = 0usize;
            loop {
                let i = prog[pc];
                let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
                pc += 1;
                match i.code {
                    LDX_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                    AND32_K => r[dst] = u64::from(r[dst] as u32 & i.imm as u32),
                    RSH32_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                    MOV32_X => r[dst] = u64::from(r[src] as u32),
                    MOV64_K => r[dst] = i.imm as i64 as u64,
                    JNE_K if r[dst] != u64::from(i.imm as u32) => pc += i.off as usize,
                    JEQ_K if r[dst] == u64::from(i.imm as u32) => pc += i.off as usize,
                    JNE_K | JEQ_K => {}
                    EXIT => return r[0],
                    c => panic!("unknown instruction {c:#x}"),
                }
            }
        }
        let mut rules = vec![deny_all()];
        rules.extend(defaults());
        rules.push(Rule { allow: false, kind: Some('c'), major: Some(1), minor: Some(9), access: WRITE });
        rules.push(Rule { allow: true, kind: Some('b'), major: Some(8), minor: None, access: READ });
        let prog = program(&rules);
        for kind in ['c', 'b'] {
            for major in [1, 5, 8, 136, 7] {
                for minor in [0, 1, 3, 9, 17] {
                    for access in 1..8u8 {
                        let ty = if kind == 'b' { 1 } else { 2 };
                        let got = run(&prog, [(u32::from(access) << 16) | ty, major, minor]) == 1;
                        assert_eq!(got, allowed(&rules, kind, major, minor, access), "{kind} {major}:{minor} {access}");
                    }
                }
            }
        }
    }
}

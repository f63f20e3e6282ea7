//! config-linux.md "Seccomp": the profile by names, compiled by `common::seccomp`.

use serde_json::{Map, Value};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seccomp {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    pub flags: Vec<String>,
    pub syscalls: Vec<SyscallRule>,
    /// listenerPath: the seccomp agent's socket, sent the listener of SCMP_ACT_NOTIFY.
    pub listener_path: Option<String>,
    /// listenerMetadata, passed to the agent as it is.
    pub listener_metadata: String,
    /// The same, by common's types, as its compiler takes it: made once, at parse.
    pub profile: common::seccomp::Profile,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: String,
    pub errno_ret: Option<u32>,
    pub args: Vec<ArgRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgRule {
    pub index: u32,
    pub value: u64,
    pub value_two: u64,
    pub op: String,
}

pub const SECCOMP_ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

pub const SECCOMP_OPERATORS: [&str; 7] =
    ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];

pub const SECCOMP_ARCHITECTURES: [&str; 8] = [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390X",
];

pub(super) fn seccomp(s: &Map<String, Value>) -> Read<Seccomp> {
    let f = "linux.seccomp";
    let action = |o: &Map<String, Value>, field: &str, key: &str| -> Read<String> {
        let a = string(o, field, key)?.unwrap_or_default();
        if SECCOMP_ACTIONS.contains(&a.as_str()) {
            Ok(a)
        } else {
            invalid(&join(field, key), format!("'{a}' is no seccomp action"))
        }
    };
    let default_action = action(s, f, "defaultAction")?;
    let architectures = strings(s, f, "architectures")?;
    if let Some((i, bad)) = architectures.iter().enumerate().find(|(_, a)| !SECCOMP_ARCHITECTURES.contains(&a.as_str()))
    {
        return invalid(&format!("{f}.architectures[{i}]"), format!("'{bad}' is no architecture"));
    }
    let syscalls = array(s, f, "syscalls")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let field = format!("{f}.syscalls[{i}]");
            let o = object(v, &field)?;
            let names = strings(o, &field, "names")?;
            if names.is_empty() {
                return invalid(&format!("{field}.names"), "missing or empty");
            }
            let args = array(o, &field, "args")?
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let af = format!("{field}.args[{j}]");
                    let a = object(v, &af)?;
                    let op = string(a, &af, "op")?.unwrap_or_default();
                    if !SECCOMP_OPERATORS.contains(&op.as_str()) {
                        return invalid(&format!("{af}.op"), format!("'{op}' is no comparison"));
                    }
                    let index = integer(a, &af, "index", 0, 5)?
                        .map_or_else(|| invalid(&format!("{af}.index"), "missing"), Ok)?;
                    Ok(ArgRule {
                        index: index as u32,
                        value: unsigned(a, &af, "value")?.unwrap_or(0),
                        value_two: unsigned(a, &af, "valueTwo")?.unwrap_or(0),
                        op,
                    })
                })
                .collect::<Read<Vec<_>>>()?;
            Ok(SyscallRule { names, action: action(o, &field, "action")?, errno_ret: id(o, &field, "errnoRet")?, args })
        })
        .collect::<Read<Vec<_>>>()?;
    let mut seccomp = Seccomp {
        default_action,
        default_errno_ret: id(s, f, "defaultErrnoRet")?,
        architectures,
        flags: strings(s, f, "flags")?,
        syscalls,
        listener_path: string(s, f, "listenerPath")?.filter(|p| !p.is_empty()),
        listener_metadata: string(s, f, "listenerMetadata")?.unwrap_or_default(),
        profile: common::seccomp::Profile {
            default: common::seccomp::Action::Allow,
            rules: Vec::new(),
            architectures: Vec::new(),
        },
    };
    if let Some(path) = &seccomp.listener_path {
        absolute(&join(f, "listenerPath"), path)?;
    }
    seccomp.profile = seccomp.to_profile()?;
    Ok(seccomp)
}

/// What the container's process (or exec's) still calls once its filter is
/// on, until its exec: never sent to an agent, which has no listener yet
/// (runc keeps the same list out of SCMP_ACT_NOTIFY).
const NEVER_NOTIFIED: [&str; 8] =
    ["sendmsg", "close", "close_range", "execve", "execveat", "rt_sigaction", "rt_sigprocmask", "exit_group"];

/// The architectures nsrun filters, by their runtime-spec names.
pub const ARCHITECTURES: [(&str, common::seccomp::Arch); 4] = [
    ("SCMP_ARCH_X86_64", common::seccomp::Arch::X86_64),
    ("SCMP_ARCH_X86", common::seccomp::Arch::X86),
    ("SCMP_ARCH_AARCH64", common::seccomp::Arch::Aarch64),
    ("SCMP_ARCH_ARM", common::seccomp::Arch::Arm),
];

fn arch_by_name(name: &str) -> Option<common::seccomp::Arch> {
    ARCHITECTURES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

impl Seccomp {
    /// An action by its name; SCMP_ACT_NOTIFY only with a seccomp agent.
    fn action(&self, name: &str, ret: Option<u32>, field: &str) -> Read<common::seccomp::Action> {
        use common::seccomp::Action;
        let errno = |e: Option<u32>| e.map_or(libc::EPERM as u16, |e| e.min(4095) as u16);
        Ok(match name {
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_ERRNO" => Action::Errno(errno(ret)),
            "SCMP_ACT_TRACE" => Action::Trace(errno(ret)),
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_NOTIFY" if self.listener_path.is_none() => {
                return invalid(field, "SCMP_ACT_NOTIFY needs a seccomp agent: set linux.seccomp.listenerPath");
            }
            "SCMP_ACT_NOTIFY" => Action::Notify,
            other => return invalid(field, format!("'{other}' is no seccomp action")),
        })
    }

    /// The profile as common's compiler takes it. SCMP_ACT_NOTIFY needs a
    /// seccomp agent (listenerPath), and is refused as the default and for
    /// the calls nsrun makes under the filter.
    fn to_profile(&self) -> Read<common::seccomp::Profile> {
        use common::seccomp::{Condition, Op, Profile, Rule};
        let action = |name: &str, ret: Option<u32>, field: &str| self.action(name, ret, field);
        if self.default_action == "SCMP_ACT_NOTIFY" {
            return invalid(
                "linux.seccomp.defaultAction",
                "SCMP_ACT_NOTIFY cannot be the default: nsrun's own last calls would wait on the agent",
            );
        }
        let default = action(&self.default_action, self.default_errno_ret, "linux.seccomp.defaultAction")?;
        let mut rules = Vec::new();
        for (i, r) in self.syscalls.iter().enumerate() {
            let field = format!("linux.seccomp.syscalls[{i}]");
            let conditions = r
                .args
                .iter()
                .map(|a| Condition {
                    index: a.index as u8,
                    op: match a.op.as_str() {
                        "SCMP_CMP_NE" => Op::Ne,
                        "SCMP_CMP_LT" => Op::Lt,
                        "SCMP_CMP_LE" => Op::Le,
                        "SCMP_CMP_EQ" => Op::Eq,
                        "SCMP_CMP_GE" => Op::Ge,
                        "SCMP_CMP_GT" => Op::Gt,
                        _ => Op::MaskedEq,
                    },
                    value: a.value,
                    value_two: a.value_two,
                })
                .collect();
            if r.action == "SCMP_ACT_NOTIFY"
                && let Some(name) = r.names.iter().find(|n| NEVER_NOTIFIED.contains(&n.as_str()))
            {
                return invalid(
                    &format!("{field}.names"),
                    format!("'{name}' cannot be SCMP_ACT_NOTIFY: nsrun calls it once the filter is on"),
                );
            }
            rules.push(Rule {
                names: r.names.clone(),
                action: action(&r.action, r.errno_ret, &format!("{field}.action"))?,
                conditions,
            });
        }
        // The 32-bit ABI of this kernel is filtered when named; x32 and
        // architectures this kernel does not run never pass the filter.
        let architectures = self.architectures.iter().filter_map(|name| arch_by_name(name)).collect();
        let profile = Profile { default, rules, architectures };
        if let Some(arch) = common::seccomp::Arch::native() {
            common::seccomp::compile(&profile, arch)
                .map_err(|why| Invalid { field: "linux.seccomp".to_owned(), why })?;
        }
        Ok(profile)
    }
}

//! config.md "Process": args, env, cwd, user, capabilities, rlimits, oomScoreAdj, noNewPrivileges.

use serde_json::Value;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Process {
    pub terminal: bool,
    pub user: User,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Option<Capabilities>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    /// process.consoleSize: rows and columns of its terminal.
    pub console_size: Option<(u16, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
}

/// Each set as a bit mask of `common::caps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    /// As the config names it: RLIMIT_NOFILE.
    pub kind: String,
    pub resource: i32,
    pub hard: u64,
    pub soft: u64,
}

pub const RLIMITS: [(&str, i32); 16] = [
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

// ---- reading values, each error with its field ----

/// An exec's `--process` file: one process object, checked as the config's is.
pub fn parse_process(text: &str) -> Read<Process> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| Invalid { field: String::new(), why: format!("not JSON: {e}") })?;
    process(&value)
}

pub(super) fn process(v: &Value) -> Read<Process> {
    let p = object(v, "process")?;
    let args = strings(p, "process", "args")?;
    if args.is_empty() {
        return invalid("process.args", "missing or empty: there is nothing to run");
    }
    let env = strings(p, "process", "env")?;
    if let Some((i, bad)) = env.iter().enumerate().find(|(_, e)| !e.contains('=') || e.starts_with('=')) {
        return invalid(&format!("process.env[{i}]"), format!("'{bad}' is not NAME=VALUE"));
    }
    let cwd = string(p, "process", "cwd")?.unwrap_or_else(|| "/".to_owned());
    absolute("process.cwd", &cwd)?;
    Ok(Process {
        terminal: boolean(p, "process", "terminal")?,
        user: get(p, "user").map_or(Ok(User::default()), user)?,
        args,
        env,
        cwd,
        capabilities: get(p, "capabilities").map(capabilities).transpose()?,
        rlimits: rlimits(p)?,
        no_new_privileges: boolean(p, "process", "noNewPrivileges")?,
        oom_score_adj: integer(p, "process", "oomScoreAdj", -1000, 1000)?.map(|i| i as i32),
        console_size: get(p, "consoleSize").map(console_size).transpose()?,
    })
}

/// process.consoleSize: {height, width}, each what a winsize holds.
fn console_size(v: &Value) -> Read<(u16, u16)> {
    let c = object(v, "process.consoleSize")?;
    let dimension = |key| integer(c, "process.consoleSize", key, 0, i64::from(u16::MAX)).map(|n| n.unwrap_or(0) as u16);
    Ok((dimension("height")?, dimension("width")?))
}

/// process.user.
fn user(v: &Value) -> Read<User> {
    let u = object(v, "process.user")?;
    let additional_gids = array(u, "process.user", "additionalGids")?
        .iter()
        .enumerate()
        .map(|(i, g)| {
            g.as_u64()
                .filter(|&g| g <= u64::from(u32::MAX))
                .map(|g| g as u32)
                .map_or_else(|| invalid(&format!("process.user.additionalGids[{i}]"), "expected a group id"), Ok)
        })
        .collect::<Read<Vec<_>>>()?;
    Ok(User {
        uid: id(u, "process.user", "uid")?.unwrap_or(0),
        gid: id(u, "process.user", "gid")?.unwrap_or(0),
        umask: id(u, "process.user", "umask")?,
        additional_gids,
    })
}

/// process.capabilities: each set by names, as a bit mask.
fn capabilities(v: &Value) -> Read<Capabilities> {
    let c = object(v, "process.capabilities")?;
    let set = |key: &str| -> Read<u64> {
        let f = format!("process.capabilities.{key}");
        let mut bits = 0u64;
        for (i, name) in strings(c, "process.capabilities", key)?.iter().enumerate() {
            let Some(bit) = common::caps::bit_by_name(name) else {
                return invalid(&format!("{f}[{i}]"), format!("'{name}' is no capability this kernel table knows"));
            };
            bits |= bit;
        }
        Ok(bits)
    };
    Ok(Capabilities {
        bounding: set("bounding")?,
        effective: set("effective")?,
        inheritable: set("inheritable")?,
        permitted: set("permitted")?,
        ambient: set("ambient")?,
    })
}

/// process.rlimits, each by its RLIMIT_* resource number.
fn rlimits(p: &Map<String, Value>) -> Read<Vec<Rlimit>> {
    array(p, "process", "rlimits")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("process.rlimits[{i}]");
            let r = object(v, &f)?;
            let kind = string(r, &f, "type")?.unwrap_or_default();
            let Some(&(_, resource)) = RLIMITS.iter().find(|(name, _)| *name == kind) else {
                return invalid(&format!("{f}.type"), format!("'{kind}' is no RLIMIT_* this runtime knows"));
            };
            let hard = unsigned(r, &f, "hard")?.unwrap_or(0);
            let soft = unsigned(r, &f, "soft")?.unwrap_or(0);
            if soft > hard {
                return invalid(&f, format!("soft {soft} is above hard {hard}"));
            }
            Ok(Rlimit { kind, resource, hard, soft })
        })
        .collect()
}

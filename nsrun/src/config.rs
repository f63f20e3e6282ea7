//! A bundle's config.json, read into our own types field by field and
//! checked whole before anything is touched. Every error names the field at
//! fault as a path (`process.args`, `linux.namespaces[2].type`). Fields no
//! engine sends and nsrun does not act on are ignored, as runc does.

use std::collections::BTreeMap;

use common::caps::CAPABILITIES;
use common::ns::{NAMESPACES, Namespace};
use common::userns::IdMap;
use serde_json::{Map, Value};

/// A config.json problem: the field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub why: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.why)
    }
}

type Read<T> = Result<T, Invalid>;

fn invalid<T>(field: &str, why: impl Into<String>) -> Read<T> {
    Err(Invalid { field: field.to_owned(), why: why.into() })
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub oci_version: String,
    pub root: Option<Root>,
    pub process: Option<Process>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    pub hooks: Hooks,
    pub annotations: BTreeMap<String, String>,
    pub linux: Linux,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Root {
    pub path: String,
    pub readonly: bool,
}

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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    pub destination: String,
    pub kind: Option<String>,
    pub source: Option<String>,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hook {
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSpec {
    pub ns: &'static Namespace,
    /// Join this one instead of making a new one.
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Linux {
    pub namespaces: Vec<NamespaceSpec>,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
    pub sysctl: BTreeMap<String, String>,
    pub resources: Resources,
    pub cgroups_path: Option<String>,
    pub devices: Vec<Device>,
    pub seccomp: Option<Seccomp>,
    pub rootfs_propagation: Option<String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
}

/// `linux.resources`: the limit files to write, checked and in order, and the device rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    pub writes: Vec<common::cgroup::limit::Write>,
    pub devices: Vec<common::cgroup::devices::Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: String,
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub file_mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seccomp {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    pub flags: Vec<String>,
    pub syscalls: Vec<SyscallRule>,
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

/// The namespace types of the runtime spec, by their names there.
const OCI_NAMESPACES: [(&str, &str); 8] = [
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

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

fn object<'a>(v: &'a Value, field: &str) -> Read<&'a Map<String, Value>> {
    v.as_object().map_or_else(|| invalid(field, "expected an object"), Ok)
}

/// `key` of `map`, absent and null alike as None.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn join(field: &str, key: &str) -> String {
    if field.is_empty() { key.to_owned() } else { format!("{field}.{key}") }
}

fn string(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<String>> {
    let f = join(field, key);
    match get(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => invalid(&f, "expected a string"),
    }
}

fn boolean(map: &Map<String, Value>, field: &str, key: &str) -> Read<bool> {
    match get(map, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => invalid(&join(field, key), "expected true or false"),
    }
}

fn integer(map: &Map<String, Value>, field: &str, key: &str, min: i64, max: i64) -> Read<Option<i64>> {
    let f = join(field, key);
    match get(map, key) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
            Some(i) => invalid(&f, format!("{i} is out of range ({min} to {max})")),
            None if n.as_u64().is_some() => invalid(&f, format!("{n} is out of range ({min} to {max})")),
            None => invalid(&f, "expected a whole number"),
        },
        Some(_) => invalid(&f, "expected a number"),
    }
}

fn unsigned(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<u64>> {
    let f = join(field, key);
    match get(map, key) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map_or_else(|| invalid(&f, "expected a whole number, 0 or more"), |u| Ok(Some(u)))
        }
        Some(_) => invalid(&f, "expected a number"),
    }
}

fn id(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<u32>> {
    Ok(integer(map, field, key, 0, i64::from(u32::MAX))?.map(|i| i as u32))
}

fn array<'a>(map: &'a Map<String, Value>, field: &str, key: &str) -> Read<&'a [Value]> {
    match get(map, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => invalid(&join(field, key), "expected an array"),
    }
}

fn strings(map: &Map<String, Value>, field: &str, key: &str) -> Read<Vec<String>> {
    let f = join(field, key);
    array(map, field, key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().map(str::to_owned).map_or_else(|| invalid(&format!("{f}[{i}]"), "expected a string"), Ok)
        })
        .collect()
}

fn absolute(field: &str, path: &str) -> Read<()> {
    if path.starts_with('/') { Ok(()) } else { invalid(field, format!("'{path}' is not an absolute path")) }
}

// ---- the sections ----

impl Config {
    /// Parse and check a whole config.json.
    pub fn parse(text: &str) -> Read<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Invalid { field: "config.json".to_owned(), why: format!("not JSON: {e}") })?;
        let top = object(&value, "config.json")?;
        let oci_version = string(top, "", "ociVersion")?.map_or_else(|| invalid("ociVersion", "missing"), Ok)?;
        if !oci_version.starts_with("1.") {
            return invalid("ociVersion", format!("'{oci_version}' is not a 1.x version, which is what nsrun reads"));
        }
        let root = match get(top, "root") {
            None => None,
            Some(v) => {
                let r = object(v, "root")?;
                let path = string(r, "root", "path")?.unwrap_or_default();
                if path.is_empty() {
                    return invalid("root.path", "missing or empty");
                }
                Some(Root { path, readonly: boolean(r, "root", "readonly")? })
            }
        };
        let process = get(top, "process").map(process).transpose()?;
        let mounts = array(top, "", "mounts")?
            .iter()
            .enumerate()
            .map(|(i, v)| mount(v, &format!("mounts[{i}]")))
            .collect::<Read<Vec<_>>>()?;
        let hooks = match get(top, "hooks") {
            None => Hooks::default(),
            Some(v) => hooks(object(v, "hooks")?)?,
        };
        let mut annotations = BTreeMap::new();
        if let Some(v) = get(top, "annotations") {
            for (k, v) in object(v, "annotations")? {
                let Some(s) = v.as_str() else { return invalid(&format!("annotations.{k}"), "expected a string") };
                annotations.insert(k.clone(), s.to_owned());
            }
        }
        let linux = match get(top, "linux") {
            None => Linux::default(),
            Some(v) => linux(object(v, "linux")?)?,
        };
        let config = Self {
            oci_version,
            root,
            process,
            hostname: string(top, "", "hostname")?,
            domainname: string(top, "", "domainname")?,
            mounts,
            hooks,
            annotations,
            linux,
        };
        config.check()?;
        Ok(config)
    }

    /// What `create` needs beyond a well-formed config, and the rules that
    /// span sections.
    fn check(&self) -> Read<()> {
        if let Some(seccomp) = &self.linux.seccomp {
            seccomp.profile()?;
        }
        let has = |name: &str| self.linux.namespaces.iter().any(|n| n.ns.name == name);
        if (!self.linux.uid_mappings.is_empty() || !self.linux.gid_mappings.is_empty()) && !has("user") {
            return invalid("linux.uidMappings", "id mappings need a user namespace in linux.namespaces");
        }
        if (self.hostname.is_some() || self.domainname.is_some()) && !has("uts") {
            return invalid("hostname", "setting it needs a uts namespace in linux.namespaces");
        }
        for key in self.linux.sysctl.keys() {
            let needs = if key.starts_with("net.") {
                "net"
            } else if key.starts_with("kernel.shm")
                || key.starts_with("kernel.msg")
                || key == "kernel.sem"
                || key.starts_with("fs.mqueue.")
            {
                "ipc"
            } else if key == "kernel.hostname" || key == "kernel.domainname" {
                "uts"
            } else {
                return invalid(&format!("linux.sysctl.{key}"), "not a namespaced sysctl: it would change the host");
            };
            if !has(needs) {
                return invalid(
                    &format!("linux.sysctl.{key}"),
                    format!("needs a {needs} namespace of the container's own"),
                );
            }
        }
        Ok(())
    }
}

/// An exec's `--process` file: one process object, checked as the config's is.
pub fn parse_process(text: &str) -> Read<Process> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| Invalid { field: String::new(), why: format!("not JSON: {e}") })?;
    process(&value)
}

fn process(v: &Value) -> Read<Process> {
    let p = object(v, "process")?;
    let user = match get(p, "user") {
        None => User::default(),
        Some(v) => {
            let u = object(v, "process.user")?;
            User {
                uid: id(u, "process.user", "uid")?.unwrap_or(0),
                gid: id(u, "process.user", "gid")?.unwrap_or(0),
                umask: id(u, "process.user", "umask")?,
                additional_gids: array(u, "process.user", "additionalGids")?
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        g.as_u64().filter(|&g| g <= u64::from(u32::MAX)).map(|g| g as u32).map_or_else(
                            || invalid(&format!("process.user.additionalGids[{i}]"), "expected a group id"),
                            Ok,
                        )
                    })
                    .collect::<Read<Vec<_>>>()?,
            }
        }
    };
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
    let capabilities = match get(p, "capabilities") {
        None => None,
        Some(v) => {
            let c = object(v, "process.capabilities")?;
            let set = |key: &str| -> Read<u64> {
                let f = format!("process.capabilities.{key}");
                let mut bits = 0u64;
                for (i, name) in strings(c, "process.capabilities", key)?.iter().enumerate() {
                    let bare = name.strip_prefix("CAP_").unwrap_or(name).to_ascii_lowercase();
                    match CAPABILITIES.iter().position(|&known| known == bare) {
                        Some(bit) => bits |= 1 << bit,
                        None => {
                            return invalid(
                                &format!("{f}[{i}]"),
                                format!("'{name}' is no capability this kernel table knows"),
                            );
                        }
                    }
                }
                Ok(bits)
            };
            Some(Capabilities {
                bounding: set("bounding")?,
                effective: set("effective")?,
                inheritable: set("inheritable")?,
                permitted: set("permitted")?,
                ambient: set("ambient")?,
            })
        }
    };
    let rlimits = array(p, "process", "rlimits")?
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
        .collect::<Read<Vec<_>>>()?;
    Ok(Process {
        terminal: boolean(p, "process", "terminal")?,
        user,
        args,
        env,
        cwd,
        capabilities,
        rlimits,
        no_new_privileges: boolean(p, "process", "noNewPrivileges")?,
        oom_score_adj: integer(p, "process", "oomScoreAdj", -1000, 1000)?.map(|i| i as i32),
    })
}

fn mount(v: &Value, field: &str) -> Read<Mount> {
    let m = object(v, field)?;
    let destination = string(m, field, "destination")?.unwrap_or_default();
    if destination.is_empty() {
        return invalid(&format!("{field}.destination"), "missing or empty");
    }
    absolute(&format!("{field}.destination"), &destination)?;
    Ok(Mount {
        destination,
        kind: string(m, field, "type")?,
        source: string(m, field, "source")?,
        options: strings(m, field, "options")?,
    })
}

fn hooks(h: &Map<String, Value>) -> Read<Hooks> {
    let list = |key: &str| -> Read<Vec<Hook>> {
        array(h, "hooks", key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let f = format!("hooks.{key}[{i}]");
                let o = object(v, &f)?;
                let path = string(o, &f, "path")?.unwrap_or_default();
                absolute(&format!("{f}.path"), &path)?;
                let timeout = integer(o, &f, "timeout", 1, i64::from(u32::MAX))?.map(|t| t as u32);
                Ok(Hook { path, args: strings(o, &f, "args")?, env: strings(o, &f, "env")?, timeout })
            })
            .collect()
    };
    Ok(Hooks {
        prestart: list("prestart")?,
        create_runtime: list("createRuntime")?,
        create_container: list("createContainer")?,
        start_container: list("startContainer")?,
        poststart: list("poststart")?,
        poststop: list("poststop")?,
    })
}

fn id_maps(l: &Map<String, Value>, key: &str) -> Read<Vec<IdMap>> {
    array(l, "linux", key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("linux.{key}[{i}]");
            let o = object(v, &f)?;
            let need = |k: &str| id(o, &f, k)?.map_or_else(|| invalid(&format!("{f}.{k}"), "missing"), Ok);
            let text = format!("{}:{}:{}", need("containerID")?, need("hostID")?, need("size")?);
            IdMap::parse(&text).map_err(|e| Invalid { field: f, why: e.reason })
        })
        .collect()
}

fn linux(l: &Map<String, Value>) -> Read<Linux> {
    let mut namespaces: Vec<NamespaceSpec> = Vec::new();
    for (i, v) in array(l, "linux", "namespaces")?.iter().enumerate() {
        let f = format!("linux.namespaces[{i}]");
        let o = object(v, &f)?;
        let kind = string(o, &f, "type")?.unwrap_or_default();
        let Some(&(_, ours)) = OCI_NAMESPACES.iter().find(|(oci, _)| *oci == kind) else {
            return invalid(&format!("{f}.type"), format!("'{kind}' is no namespace type"));
        };
        let Some(ns) = NAMESPACES.iter().find(|n| n.name == ours) else {
            return invalid(&format!("{f}.type"), format!("'{kind}' is no namespace type this kernel table has"));
        };
        if namespaces.iter().any(|n| n.ns.flag == ns.flag) {
            return invalid(&format!("{f}.type"), format!("'{kind}' is listed twice"));
        }
        let path = string(o, &f, "path")?;
        if let Some(p) = &path {
            absolute(&format!("{f}.path"), p)?;
        }
        namespaces.push(NamespaceSpec { ns, path });
    }
    let mut sysctl = BTreeMap::new();
    if let Some(v) = get(l, "sysctl") {
        for (k, v) in object(v, "linux.sysctl")? {
            let Some(s) = v.as_str() else { return invalid(&format!("linux.sysctl.{k}"), "expected a string") };
            sysctl.insert(k.clone(), s.to_owned());
        }
    }
    let resources = match get(l, "resources") {
        None => Resources::default(),
        Some(v) => resources(object(v, "linux.resources")?)?,
    };
    let devices = array(l, "linux", "devices")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("linux.devices[{i}]");
            let o = object(v, &f)?;
            let path = string(o, &f, "path")?.unwrap_or_default();
            absolute(&format!("{f}.path"), &path)?;
            let kind = device_kind(o, &f, &['c', 'b', 'u', 'p'])?;
            let number = |k: &str| integer(o, &f, k, 0, i64::from(u32::MAX));
            let (major, minor) = (number("major")?, number("minor")?);
            let (major, minor) = match (kind, major, minor) {
                ('p', m, n) => (m.unwrap_or(0), n.unwrap_or(0)),
                (_, Some(m), Some(n)) => (m, n),
                _ => return invalid(&f, "a character or block device needs major and minor"),
            };
            Ok(Device {
                path,
                kind,
                major,
                minor,
                file_mode: id(o, &f, "fileMode")?,
                uid: id(o, &f, "uid")?,
                gid: id(o, &f, "gid")?,
            })
        })
        .collect::<Read<Vec<_>>>()?;
    let seccomp = get(l, "seccomp").map(|v| seccomp(object(v, "linux.seccomp")?)).transpose()?;
    let rootfs_propagation = string(l, "linux", "rootfsPropagation")?;
    if let Some(p) = &rootfs_propagation
        && !["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"]
            .contains(&p.as_str())
    {
        return invalid("linux.rootfsPropagation", format!("'{p}' is no propagation"));
    }
    Ok(Linux {
        namespaces,
        uid_mappings: id_maps(l, "uidMappings")?,
        gid_mappings: id_maps(l, "gidMappings")?,
        sysctl,
        resources,
        cgroups_path: string(l, "linux", "cgroupsPath")?,
        devices,
        seccomp,
        rootfs_propagation,
        masked_paths: strings(l, "linux", "maskedPaths")?,
        readonly_paths: strings(l, "linux", "readonlyPaths")?,
    })
}

fn device_kind(o: &Map<String, Value>, field: &str, allowed: &[char]) -> Read<char> {
    let text = string(o, field, "type")?.unwrap_or_else(|| "a".to_owned());
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if allowed.contains(&c) => Ok(c),
        _ => {
            invalid(&format!("{field}.type"), format!("'{text}' is not one of {}", allowed.iter().collect::<String>()))
        }
    }
}

/// A value checked by common's parser, its error told as this field's.
fn checked<T>(r: Result<T, common::Error>, field: &str) -> Read<T> {
    r.map_err(|e| Invalid { field: field.to_owned(), why: e.reason })
}

/// A limit where -1 (and, for pids, 0) means none.
fn limit(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<Option<u64>>> {
    Ok(integer(map, field, key, -1, i64::MAX)?.map(|n| u64::try_from(n).ok()))
}

fn resources(r: &Map<String, Value>) -> Read<Resources> {
    use common::cgroup::limit as l;
    let not_built = |key: &str| invalid(&join("linux.resources", key), "is not built yet in nsrun");
    let mut out = Resources::default();
    if let Some(v) = get(r, "memory") {
        let f = "linux.resources.memory";
        let m = object(v, f)?;
        let memory = limit(m, f, "limit")?;
        if let Some(memory) = memory {
            out.writes.push(l::memory(memory));
        }
        if let Some(total) = limit(m, f, "swap")? {
            if let (Some(Some(memory)), Some(total)) = (memory, total)
                && total < memory
            {
                return invalid(
                    "linux.resources.memory.swap",
                    format!("{total} is below the limit {memory}: swap counts memory and swap together"),
                );
            }
            out.writes.push(l::memory_and_swap(memory.flatten(), total));
        }
        if let Some(Some(low)) = limit(m, f, "reservation")? {
            out.writes.push(l::memory_low(low));
        }
        // `kernel` is left to the kernel, which no longer limits kernel memory apart (5.16), as runc does.
        if let Some(Some(tcp)) = limit(m, f, "kernelTCP")? {
            out.writes.push(l::kernel_tcp(tcp));
        }
        if let Some(n) = integer(m, f, "swappiness", 0, 100)? {
            out.writes.push(l::swappiness(n as u64));
        }
        if boolean(m, f, "disableOOMKiller")? {
            out.writes.push(l::oom_killer_disabled());
        }
    }
    if let Some(v) = get(r, "cpu") {
        let f = "linux.resources.cpu";
        let c = object(v, f)?;
        if let Some(shares) = unsigned(c, f, "shares")? {
            out.writes.push(l::cpu_shares(shares));
        }
        let quota = limit(c, f, "quota")?;
        let period = unsigned(c, f, "period")?;
        if quota.is_some() || period.is_some() {
            if period.is_some_and(|p| !(1000..=1_000_000).contains(&p)) {
                return invalid(&join(f, "period"), "out of range (1000 to 1000000 microseconds)");
            }
            out.writes.push(l::cpu_quota(quota.flatten(), period.unwrap_or(l::CPU_PERIOD)));
        }
        let rt_runtime = integer(c, f, "realtimeRuntime", -1, i64::MAX)?;
        let rt_period = unsigned(c, f, "realtimePeriod")?;
        if rt_runtime.is_some() || rt_period.is_some() {
            out.writes.push(l::cpu_realtime(rt_runtime, rt_period));
        }
        if let Some(cpus) = string(c, f, "cpus")?.filter(|s| !s.is_empty()) {
            out.writes.push(l::cpuset_cpus(&checked(l::cpu_list(&cpus), &join(f, "cpus"))?));
        }
        if let Some(mems) = string(c, f, "mems")?.filter(|s| !s.is_empty()) {
            out.writes.push(l::cpuset_mems(&checked(l::cpu_list(&mems), &join(f, "mems"))?));
        }
        if let Some(idle) = integer(c, f, "idle", 0, 1)? {
            out.writes.push(l::cpu_idle(idle));
        }
    }
    if let Some(v) = get(r, "pids") {
        let f = "linux.resources.pids";
        if let Some(n) = limit(object(v, f)?, f, "limit")? {
            out.writes.push(l::pids(n.filter(|n| *n > 0)));
        }
    }
    if let Some(v) = get(r, "blockIO") {
        let f = "linux.resources.blockIO";
        let b = object(v, f)?;
        if let Some(w) = integer(b, f, "weight", 10, 1000)? {
            out.writes.push(l::io_weight(w as u64));
        }
        for key in ["leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice"] {
            if get(b, key).is_some() {
                return not_built(&format!("blockIO.{key}"));
            }
        }
        for key in ["throttleReadIOPSDevice", "throttleWriteIOPSDevice"] {
            if get(b, key).is_some() {
                return not_built(&format!("blockIO.{key}"));
            }
        }
    }
    for (i, v) in array(r, "linux.resources", "hugepageLimits")?.iter().enumerate() {
        let f = format!("linux.resources.hugepageLimits[{i}]");
        let h = object(v, &f)?;
        let size = string(h, &f, "pageSize")?.unwrap_or_default();
        let ok = size.len() > 2
            && size.ends_with('B')
            && size[..size.len() - 2].bytes().all(|b| b.is_ascii_digit())
            && matches!(size.as_bytes()[size.len() - 2], b'K' | b'M' | b'G');
        if !ok {
            return invalid(&join(&f, "pageSize"), format!("'{size}' is not a page size such as 2MB or 1GB"));
        }
        let bytes = unsigned(h, &f, "limit")?.unwrap_or(0);
        out.writes.push(l::hugetlb(&size, bytes));
    }
    if let Some(v) = get(r, "network") {
        let f = "linux.resources.network";
        let n = object(v, f)?;
        if let Some(id) = id(n, f, "classID")? {
            out.writes.push(l::net_class(id));
        }
        for (i, p) in array(n, f, "priorities")?.iter().enumerate() {
            let pf = format!("{f}.priorities[{i}]");
            let p = object(p, &pf)?;
            let name = string(p, &pf, "name")?.unwrap_or_default();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return invalid(&join(&pf, "name"), format!("'{name}' is not an interface name"));
            }
            out.writes.push(l::net_priority(&name, id(p, &pf, "priority")?.unwrap_or(0)));
        }
    }
    if get(r, "rdma").is_some() {
        return not_built("rdma");
    }
    if let Some(v) = get(r, "unified") {
        let f = "linux.resources.unified";
        for (name, value) in object(v, f)? {
            let Some(value) = value.as_str() else { return invalid(&join(f, name), "expected a string") };
            let write = checked(l::unified(name, value), &join(f, name))?;
            out.writes.push(write);
        }
    }
    out.devices = array(r, "linux.resources", "devices")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("linux.resources.devices[{i}]");
            let o = object(v, &f)?;
            let Some(allow) = get(o, "allow").and_then(Value::as_bool) else {
                return invalid(&format!("{f}.allow"), "missing: true or false");
            };
            let text = string(o, &f, "access")?.unwrap_or_else(|| "rwm".to_owned());
            let Some(access) = common::cgroup::devices::access(&text) else {
                return invalid(&format!("{f}.access"), format!("'{text}' is not made of r, w and m"));
            };
            let number = |key| {
                Ok::<_, Invalid>(integer(o, &f, key, -1, i64::from(u32::MAX))?.and_then(|n| u32::try_from(n).ok()))
            };
            let kind = device_kind(o, &f, &['a', 'c', 'b'])?;
            Ok(common::cgroup::devices::Rule {
                allow,
                kind: (kind != 'a').then_some(kind),
                major: number("major")?,
                minor: number("minor")?,
                access,
            })
        })
        .collect::<Read<Vec<_>>>()?;
    Ok(out)
}

fn seccomp(s: &Map<String, Value>) -> Read<Seccomp> {
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
    Ok(Seccomp {
        default_action,
        default_errno_ret: id(s, f, "defaultErrnoRet")?,
        architectures,
        flags: strings(s, f, "flags")?,
        syscalls,
    })
}

impl Seccomp {
    /// The profile as common's compiler takes it. SCMP_ACT_NOTIFY needs a
    /// seccomp agent (listenerPath), which nsrun does not run: refused.
    pub fn profile(&self) -> Read<common::seccomp::Profile> {
        use common::seccomp::{Action, Condition, Op, Profile, Rule};
        let errno = |e: Option<u32>| e.map_or(libc::EPERM as u16, |e| e.min(4095) as u16);
        let action = |name: &str, ret: Option<u32>, field: &str| -> Read<Action> {
            Ok(match name {
                "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
                "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
                "SCMP_ACT_TRAP" => Action::Trap,
                "SCMP_ACT_ERRNO" => Action::Errno(errno(ret)),
                "SCMP_ACT_TRACE" => Action::Trace(errno(ret)),
                "SCMP_ACT_LOG" => Action::Log,
                "SCMP_ACT_ALLOW" => Action::Allow,
                other => {
                    return invalid(
                        field,
                        format!("'{other}' needs a seccomp agent (listenerPath), which nsrun does not run"),
                    );
                }
            })
        };
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
            rules.push(Rule {
                names: r.names.clone(),
                action: action(&r.action, r.errno_ret, &format!("{field}.action"))?,
                conditions,
            });
        }
        let profile = Profile { default, rules };
        if let Some(arch) = common::seccomp::Arch::native() {
            common::seccomp::compile(&profile, arch)
                .map_err(|why| Invalid { field: "linux.seccomp".to_owned(), why })?;
        }
        Ok(profile)
    }
}

/// A stable, readable account of what was understood, for golden tests and `nsrun --debug`.
pub fn summary(c: &Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "ociVersion {}", c.oci_version);
    if let Some(r) = &c.root {
        let _ = writeln!(s, "root {}{}", r.path, if r.readonly { " (read-only)" } else { "" });
    }
    if let Some(p) = &c.process {
        let _ = writeln!(s, "process {:?} cwd {} terminal {}", p.args, p.cwd, p.terminal);
        let _ = writeln!(
            s,
            "  user {}:{} umask {:?} groups {:?}",
            p.user.uid, p.user.gid, p.user.umask, p.user.additional_gids
        );
        let _ = writeln!(s, "  env {}", p.env.len());
        if let Some(caps) = &p.capabilities {
            let _ = writeln!(
                s,
                "  caps bounding {} effective {} permitted {} inheritable {} ambient {}",
                common::caps::names(caps.bounding),
                common::caps::names(caps.effective),
                common::caps::names(caps.permitted),
                common::caps::names(caps.inheritable),
                common::caps::names(caps.ambient)
            );
        }
        for r in &p.rlimits {
            let _ = writeln!(s, "  rlimit {} {}:{}", r.kind, r.soft, r.hard);
        }
        let _ = writeln!(s, "  noNewPrivileges {} oomScoreAdj {:?}", p.no_new_privileges, p.oom_score_adj);
    }
    if let Some(h) = &c.hostname {
        let _ = writeln!(s, "hostname {h}");
    }
    for m in &c.mounts {
        let _ = writeln!(
            s,
            "mount {} {} {} {}",
            m.destination,
            m.kind.as_deref().unwrap_or("-"),
            m.source.as_deref().unwrap_or("-"),
            m.options.join(",")
        );
    }
    let l = &c.linux;
    let ns: Vec<String> = l
        .namespaces
        .iter()
        .map(|n| n.path.as_ref().map_or_else(|| n.ns.name.to_owned(), |p| format!("{}={p}", n.ns.name)))
        .collect();
    let _ = writeln!(s, "namespaces {}", ns.join(" "));
    for (k, v) in &l.sysctl {
        let _ = writeln!(s, "sysctl {k}={v}");
    }
    for w in &l.resources.writes {
        let files = |list: &[common::cgroup::limit::FileWrite]| {
            list.iter().map(|f| format!("{}={}", f.file, f.value)).collect::<Vec<_>>().join(" ")
        };
        let _ = writeln!(s, "cgroup v1 [{}] v2 [{}]", files(&w.v1), files(&w.v2));
    }
    let _ = writeln!(s, "device rules {}", l.resources.devices.len());
    if let Some(p) = &l.cgroups_path {
        let _ = writeln!(s, "cgroupsPath {p}");
    }
    if let Some(sc) = &l.seccomp {
        let _ = writeln!(
            s,
            "seccomp default {} arches {} rules {}",
            sc.default_action,
            sc.architectures.join(","),
            sc.syscalls.len()
        );
    }
    let _ = writeln!(s, "masked {} read-only {}", l.masked_paths.len(), l.readonly_paths.len());
    let _ = writeln!(s, "annotations {}", c.annotations.len());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configs real engines passed (../shared/oci/configs), parsed: what was understood.
    #[test]
    fn golden_parses_of_engine_configs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        for name in ["ctr-run", "podman-run", "podman-run-options"] {
            let text = std::fs::read_to_string(dir.join(format!("configs/{name}.json"))).unwrap();
            let config = Config::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let golden = std::fs::read_to_string(dir.join(format!("golden/{name}.txt"))).unwrap_or_default();
            let got = summary(&config);
            if std::env::var_os("NSRUN_BLESS").is_some() {
                std::fs::write(dir.join(format!("golden/{name}.txt")), &got).unwrap();
                continue;
            }
            assert_eq!(got, golden, "{name}: run with NSRUN_BLESS=1 to see the difference as a diff");
        }
    }

    /// Broken variants of a real config, each refused with the field at fault.
    #[test]
    fn broken_configs_name_the_field() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let text = std::fs::read_to_string(dir.join("configs/ctr-run.json")).unwrap();
        let base: serde_json::Value = serde_json::from_str(&text).unwrap();
        let with = |pointer: &str, value: serde_json::Value| {
            let mut v = base.clone();
            // The field, set or added to its parent object.
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match v.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}")) {
                serde_json::Value::Object(o) => drop(o.insert(key.to_owned(), value)),
                other => *other.pointer_mut(&format!("/{key}")).unwrap_or_else(|| panic!("{pointer}")) = value,
            }
            Config::parse(&v.to_string()).unwrap_err().to_string()
        };
        use serde_json::json;
        for (pointer, value, want) in [
            ("/ociVersion", json!("2.0.0"), "ociVersion: '2.0.0' is not a 1.x version"),
            ("/process/args", json!([]), "process.args: missing or empty"),
            ("/process/args", json!("sh"), "process.args: expected an array"),
            ("/process/args/0", json!(7), "process.args[0]: expected a string"),
            ("/process/cwd", json!("tmp"), "process.cwd: 'tmp' is not an absolute path"),
            ("/process/env/0", json!("PATH"), "process.env[0]: 'PATH' is not NAME=VALUE"),
            ("/process/user/uid", json!(-1), "process.user.uid: -1 is out of range"),
            (
                "/process/capabilities/bounding/0",
                json!("CAP_FLY"),
                "process.capabilities.bounding[0]: 'CAP_FLY' is no capability",
            ),
            ("/process/rlimits/0/type", json!("RLIMIT_FOO"), "process.rlimits[0].type: 'RLIMIT_FOO' is no RLIMIT_*"),
            ("/process/rlimits/0/soft", json!(4096), "process.rlimits[0]: soft 4096 is above hard 1024"),
            ("/root/path", json!(""), "root.path: missing or empty"),
            ("/mounts/0/destination", json!("proc"), "mounts[0].destination: 'proc' is not an absolute path"),
            ("/linux/namespaces/0/type", json!("pidx"), "linux.namespaces[0].type: 'pidx' is no namespace type"),
            ("/linux/namespaces/1/type", json!("pid"), "linux.namespaces[1].type: 'pid' is listed twice"),
            (
                "/linux/resources/devices/1/access",
                json!("rwx"),
                "linux.resources.devices[1].access: 'rwx' is not made of r, w and m",
            ),
            ("/linux/resources/devices/1/type", json!("x"), "linux.resources.devices[1].type: 'x' is not one of acb"),
            ("/linux/resources/cpu/shares", json!("lots"), "linux.resources.cpu.shares: expected a number"),
            ("/linux/maskedPaths", json!({}), "linux.maskedPaths: expected an array"),
            ("/linux/resources/cpu/shares", json!(-3), "linux.resources.cpu.shares: expected a whole number"),
            ("/linux/resources/cpu", json!({"period": 5}), "linux.resources.cpu.period: out of range"),
            (
                "/linux/resources/memory",
                json!({"limit": 100, "swap": 50}),
                "linux.resources.memory.swap: 50 is below the limit 100",
            ),
            (
                "/linux/resources/memory",
                json!({"swappiness": 101}),
                "linux.resources.memory.swappiness: 101 is out of range",
            ),
            ("/linux/resources/cpu", json!({"cpus": "0-x"}), "linux.resources.cpu.cpus: expected a list such as 0-1,3"),
            ("/linux/resources/pids", json!({"limit": "many"}), "linux.resources.pids.limit: expected a number"),
            ("/linux/resources/devices", json!({}), "linux.resources.devices: expected an array"),
            (
                "/linux/resources/cpu",
                json!({"shares": 2, "realtimeRuntime": "x"}),
                "linux.resources.cpu.realtimeRuntime: expected a number",
            ),
            (
                "/linux/resources/blockIO",
                json!({"weightDevice": []}),
                "linux.resources.blockIO.weightDevice: is not built yet",
            ),
            (
                "/linux/resources/hugepageLimits",
                json!([{"pageSize": "2XB", "limit": 1}]),
                "linux.resources.hugepageLimits[0].pageSize: '2XB' is not a page size",
            ),
        ] {
            let got = with(pointer, value);
            assert!(got.starts_with(want), "{pointer}: {got}");
        }
        // A process outside the container moved in, or a cgroup killed, through `unified`: refused.
        for file in ["cgroup.procs", "cgroup.threads", "cgroup.kill"] {
            let mut v = base.clone();
            v["linux"]["resources"]["unified"] = json!({ file: "1" });
            let got = Config::parse(&v.to_string()).unwrap_err().to_string();
            assert!(got.starts_with(&format!("linux.resources.unified.{file}: not a limit")), "{got}");
        }
        // Rules across sections.
        let mut v = base.clone();
        v["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
        assert!(
            Config::parse(&v.to_string())
                .unwrap_err()
                .to_string()
                .starts_with("linux.uidMappings: id mappings need a user namespace")
        );
        let mut v = base.clone();
        v["linux"]["sysctl"] = json!({ "kernel.panic": "1" });
        assert!(Config::parse(&v.to_string()).unwrap_err().to_string().contains("not a namespaced sysctl"));
        assert!(Config::parse("{").unwrap_err().to_string().starts_with("config.json: not JSON"));
        assert!(Config::parse("[]").unwrap_err().to_string().starts_with("config.json: expected an object"));
    }

    /// podman's own profile, compiled by common's compiler, decides as podman means it.
    #[test]
    fn podmans_seccomp_profile_compiles_and_decides() {
        use common::seccomp::{Arch, audit_arch, compile, evaluate, number_of};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let text = std::fs::read_to_string(dir.join("configs/podman-run.json")).unwrap();
        let config = Config::parse(&text).unwrap();
        let profile = config.linux.seccomp.as_ref().unwrap().profile().unwrap();
        let arch = Arch::native().unwrap();
        let program = compile(&profile, arch).unwrap();
        assert!(program.len() < 4096, "{} instructions", program.len());
        let at = |name: &str, args: [u64; 6]| {
            evaluate(&program, audit_arch(arch), number_of(arch, name).unwrap(), args).unwrap()
        };
        let allow = 0x7fff_0000;
        assert_eq!(at("read", [0; 6]), allow);
        assert_eq!(at("execve", [0; 6]), allow);
        // Named with errnoRet 1: EPERM.
        assert_eq!(at("kexec_load", [0; 6]), 0x0005_0000 | 1);
        // Named nowhere: the default, ENOSYS (defaultErrnoRet 38).
        let listed: Vec<&str> = profile.rules.iter().flat_map(|r| r.names.iter().map(String::as_str)).collect();
        let unlisted = ["read", "write"]
            .iter()
            .chain(["uselib", "nfsservctl", "vserver", "afs_syscall", "tuxcall"].iter())
            .find(|n| !listed.contains(n) && number_of(arch, n).is_some())
            .expect("a call podman does not name");
        assert_eq!(at(unlisted, [0; 6]), 0x0005_0000 | 38, "{unlisted}");
        // Argument rules: personality only with the listed values; an audit
        // netlink socket (AF_NETLINK 16, NETLINK_AUDIT 9) gets EINVAL, other sockets go through.
        assert_eq!(at("personality", [0x8, 0, 0, 0, 0, 0]), allow);
        assert_eq!(at("personality", [0x40_0000, 0, 0, 0, 0, 0]), 0x0005_0000 | 38);
        assert_eq!(at("socket", [16, 3, 9, 0, 0, 0]), 0x0005_0000 | 22);
        assert_eq!(at("socket", [16, 3, 0, 0, 0, 0]), allow);
        assert_eq!(at("socket", [2, 1, 6, 0, 0, 0]), allow);
    }

    #[test]
    fn fuzz_configs_never_panic() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let text = std::fs::read_to_string(dir.join("configs/podman-run-options.json")).unwrap();
        let mut rng = common::fuzz::Rng::new(0x0c1);
        let bytes = text.as_bytes();
        for _ in 0..3000 {
            let mut mutated = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(mutated.len());
                let junk = b"{}[]\",:0-9ae \x00";
                mutated[at] = junk[rng.below(junk.len())];
            }
            let _ = Config::parse(&String::from_utf8_lossy(&mutated));
        }
    }
}

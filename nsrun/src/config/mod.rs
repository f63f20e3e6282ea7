//! A bundle's config.json, read into our own types field by field and
//! checked whole before anything is touched. Every error names the field at
//! fault as a path (`process.args`, `linux.namespaces[2].type`). Fields no
//! engine sends and nsrun does not act on are ignored, as runc does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

mod hooks;
mod linux;
mod mounts;
mod process;
mod resources;
mod seccomp;

use hooks::hooks;
pub use hooks::{Hook, Hooks};
pub use linux::Linux;
use linux::{device_kind, linux};
use mounts::mount;
pub use mounts::{Mount, Root};
#[cfg(test)]
pub use process::Rlimit;
use process::process;
pub use process::{Process, parse_process};
use resources::resources;
pub use resources::{Resources, UPDATABLE, parse_update};
use seccomp::seccomp;
pub use seccomp::{ARCHITECTURES, SECCOMP_ACTIONS, SECCOMP_OPERATORS, Seccomp};

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

pub(super) type Read<T> = Result<T, Invalid>;

pub(super) fn invalid<T>(field: &str, why: impl Into<String>) -> Read<T> {
    Err(Invalid { field: field.to_owned(), why: why.into() })
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub oci_version: String,
    pub root: Root,
    pub process: Process,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    pub hooks: Hooks,
    pub annotations: BTreeMap<String, String>,
    pub linux: Linux,
}

pub(super) fn object<'a>(v: &'a Value, field: &str) -> Read<&'a Map<String, Value>> {
    v.as_object().map_or_else(|| invalid(field, "expected an object"), Ok)
}

/// `key` of `map`, absent and null alike as None.
pub(super) fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

pub(super) fn join(field: &str, key: &str) -> String {
    if field.is_empty() { key.to_owned() } else { format!("{field}.{key}") }
}

pub(super) fn string(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<String>> {
    let f = join(field, key);
    match get(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => invalid(&f, "expected a string"),
    }
}

pub(super) fn boolean(map: &Map<String, Value>, field: &str, key: &str) -> Read<bool> {
    match get(map, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => invalid(&join(field, key), "expected true or false"),
    }
}

pub(super) fn integer(map: &Map<String, Value>, field: &str, key: &str, min: i64, max: i64) -> Read<Option<i64>> {
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

pub(super) fn unsigned(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<u64>> {
    let f = join(field, key);
    match get(map, key) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map_or_else(|| invalid(&f, "expected a whole number, 0 or more"), |u| Ok(Some(u)))
        }
        Some(_) => invalid(&f, "expected a number"),
    }
}

pub(super) fn id(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<u32>> {
    Ok(integer(map, field, key, 0, i64::from(u32::MAX))?.map(|i| i as u32))
}

pub(super) fn array<'a>(map: &'a Map<String, Value>, field: &str, key: &str) -> Read<&'a [Value]> {
    match get(map, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => invalid(&join(field, key), "expected an array"),
    }
}

pub(super) fn strings(map: &Map<String, Value>, field: &str, key: &str) -> Read<Vec<String>> {
    let f = join(field, key);
    array(map, field, key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().map(str::to_owned).map_or_else(|| invalid(&format!("{f}[{i}]"), "expected a string"), Ok)
        })
        .collect()
}

pub(super) fn absolute(field: &str, path: &str) -> Read<()> {
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
        let Some(root) = get(top, "root") else { return invalid("root", "missing") };
        let r = object(root, "root")?;
        let path = string(r, "root", "path")?.unwrap_or_default();
        if path.is_empty() {
            return invalid("root.path", "missing or empty");
        }
        let root = Root { path, readonly: boolean(r, "root", "readonly")? };
        let Some(process) = get(top, "process") else { return invalid("process", "missing") };
        let process = self::process(process)?;
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
        let has = |name: &str| self.linux.namespaces.iter().any(|n| n.ns.name == name);
        if (!self.linux.uid_mappings.is_empty() || !self.linux.gid_mappings.is_empty()) && !has("user") {
            return invalid("linux.uidMappings", "id mappings need a user namespace in linux.namespaces");
        }
        if (self.hostname.is_some() || self.domainname.is_some()) && !has("uts") {
            return invalid("hostname", "setting it needs a uts namespace in linux.namespaces");
        }
        for key in self.linux.sysctl.keys() {
            let Some(needs) = sysctl_namespace(key) else {
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

/// The namespace whose sysctl `key` is (`net`, `ipc`, `uts`); None for one
/// of the whole host's.
pub fn sysctl_namespace(key: &str) -> Option<&'static str> {
    if key.starts_with("net.") {
        Some("net")
    } else if key.starts_with("kernel.shm")
        || key.starts_with("kernel.msg")
        || key == "kernel.sem"
        || key.starts_with("fs.mqueue.")
    {
        Some("ipc")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some("uts")
    } else {
        None
    }
}

/// A stable, readable account of what was understood, for golden tests and `nsrun --debug`.
pub fn summary(c: &Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "ociVersion {}", c.oci_version);
    let _ = writeln!(s, "root {}{}", c.root.path, if c.root.readonly { " (read-only)" } else { "" });
    summary_of_process(&mut s, &c.process);
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
    summary_of_linux(&mut s, &c.linux);
    let _ = writeln!(s, "annotations {}", c.annotations.len());
    s
}

/// [`summary`]'s lines of the process.
fn summary_of_process(s: &mut String, p: &Process) {
    use std::fmt::Write;
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

/// [`summary`]'s lines of linux.
fn summary_of_linux(s: &mut String, l: &Linux) {
    use std::fmt::Write;
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
}

#[cfg(test)]
mod tests;

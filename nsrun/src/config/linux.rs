//! config-linux.md: namespaces, id maps, devices, sysctl, masked and read-only paths.

use std::collections::BTreeMap;

use common::ns::{NAMESPACES, Namespace};
use common::userns::IdMap;
use serde_json::{Map, Value};

use super::*;

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
    pub rootfs_propagation: Option<RootfsPropagation>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: String,
    pub kind: DeviceKind,
    pub major: i64,
    pub minor: i64,
    pub file_mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

pub(super) fn id_maps(l: &Map<String, Value>, key: &str) -> Read<Vec<IdMap>> {
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

pub(super) fn linux(l: &Map<String, Value>) -> Read<Linux> {
    let rootfs_propagation = string(l, "linux", "rootfsPropagation")?.map(rootfs_propagation).transpose()?;
    Ok(Linux {
        namespaces: namespaces(l)?,
        uid_mappings: id_maps(l, "uidMappings")?,
        gid_mappings: id_maps(l, "gidMappings")?,
        sysctl: sysctl(l)?,
        resources: get(l, "resources")
            .map_or(Ok(Resources::default()), |v| resources(object(v, "linux.resources")?))?,
        cgroups_path: string(l, "linux", "cgroupsPath")?,
        devices: devices(l)?,
        seccomp: get(l, "seccomp").map(|v| seccomp(object(v, "linux.seccomp")?)).transpose()?,
        rootfs_propagation,
        masked_paths: strings(l, "linux", "maskedPaths")?,
        readonly_paths: strings(l, "linux", "readonlyPaths")?,
    })
}

/// A node of linux.devices: what mknod makes, and what a cgroup rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// `c` and `u` (unbuffered: the same node).
    Char,
    Block,
    Fifo,
}

impl DeviceKind {
    /// The file type mknod(2) takes.
    pub fn file_type(self) -> libc::mode_t {
        match self {
            DeviceKind::Char => libc::S_IFCHR,
            DeviceKind::Block => libc::S_IFBLK,
            DeviceKind::Fifo => libc::S_IFIFO,
        }
    }

    /// The type letter of a device cgroup rule; a FIFO needs none.
    pub fn rule_type(self) -> Option<char> {
        match self {
            DeviceKind::Char => Some('c'),
            DeviceKind::Block => Some('b'),
            DeviceKind::Fifo => None,
        }
    }
}

/// linux.rootfsPropagation: its name, for messages, and the flags it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsPropagation {
    pub name: String,
    pub flags: nix::mount::MsFlags,
}

fn rootfs_propagation(name: String) -> Read<RootfsPropagation> {
    use nix::mount::MsFlags as F;
    let flags = match name.as_str() {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return invalid("linux.rootfsPropagation", format!("'{name}' is no propagation")),
    };
    Ok(RootfsPropagation { name, flags })
}

/// linux.namespaces: each type once, by the kernel table's entry; a path absolute.
fn namespaces(l: &Map<String, Value>) -> Read<Vec<NamespaceSpec>> {
    let mut namespaces: Vec<NamespaceSpec> = Vec::new();
    for (i, v) in array(l, "linux", "namespaces")?.iter().enumerate() {
        let f = format!("linux.namespaces[{i}]");
        let o = object(v, &f)?;
        let kind = string(o, &f, "type")?.unwrap_or_default();
        let Some(ns) = NAMESPACES.iter().find(|n| n.oci == kind) else {
            return invalid(&format!("{f}.type"), format!("'{kind}' is no namespace type"));
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
    Ok(namespaces)
}

/// linux.sysctl: names to string values.
fn sysctl(l: &Map<String, Value>) -> Read<BTreeMap<String, String>> {
    let mut sysctl = BTreeMap::new();
    if let Some(v) = get(l, "sysctl") {
        for (k, v) in object(v, "linux.sysctl")? {
            let Some(s) = v.as_str() else { return invalid(&format!("linux.sysctl.{k}"), "expected a string") };
            sysctl.insert(k.clone(), s.to_owned());
        }
    }
    Ok(sysctl)
}

/// linux.devices: the nodes to make, a character or block device with its numbers.
fn devices(l: &Map<String, Value>) -> Read<Vec<Device>> {
    array(l, "linux", "devices")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("linux.devices[{i}]");
            let o = object(v, &f)?;
            let path = string(o, &f, "path")?.unwrap_or_default();
            absolute(&format!("{f}.path"), &path)?;
            let kind = match device_kind(o, &f, &['c', 'b', 'u', 'p'])? {
                'b' => DeviceKind::Block,
                'p' => DeviceKind::Fifo,
                _ => DeviceKind::Char,
            };
            let number = |k: &str| integer(o, &f, k, 0, i64::from(u32::MAX));
            let (major, minor) = match (kind, number("major")?, number("minor")?) {
                (DeviceKind::Fifo, m, n) => (m.unwrap_or(0), n.unwrap_or(0)),
                (_, Some(m), Some(n)) => (m, n),
                _ => return invalid(&f, "a character or block device needs major and minor"),
            };
            let (file_mode, uid, gid) = (id(o, &f, "fileMode")?, id(o, &f, "uid")?, id(o, &f, "gid")?);
            Ok(Device { path, kind, major, minor, file_mode, uid, gid })
        })
        .collect()
}

pub(super) fn device_kind(o: &Map<String, Value>, field: &str, allowed: &[char]) -> Read<char> {
    let text = string(o, field, "type")?.unwrap_or_else(|| "a".to_owned());
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if allowed.contains(&c) => Ok(c),
        _ => {
            invalid(&format!("{field}.type"), format!("'{text}' is not one of {}", allowed.iter().collect::<String>()))
        }
    }
}

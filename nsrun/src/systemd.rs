//! The systemd cgroup driver (`--systemd-cgroup`), as runc's: `cgroupsPath`
//! is `slice:prefix:name`; the container's cgroup is a transient scope that
//! systemd makes over D-Bus (StartTransientUnit, Delegate=yes, the process,
//! the resources as unit properties, so that systemd never writes them back
//! to its defaults); then every limit is written to the scope's files too,
//! and the device rules attached, as for cgroupfs. On a v1 or hybrid host,
//! as runc's legacy driver: v1's property names, the device rules as
//! DevicePolicy/DeviceAllow (systemd rewrites a v1 devices cgroup from its
//! unit when it reloads), and the hierarchies systemd does not manage
//! (cpuset, freezer, net_cls, ...) joined at the same path by nsrun.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use common::Error;
use common::cgroup::devices::{self, Rule};
use common::cgroup::limit::{self, FileWrite};
use common::error::quoted;

use crate::cgroups::Placed;
use crate::config::Config;
use crate::dbus::{self, Bus, Message, Value};

/// A scope unit and the slice it goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub slice: String,
}

/// The unit of `cgroups_path` (`slice:prefix:name`; a default slice when it
/// is empty), or with none, runc's default: `system.slice:nsrun:ID`.
pub fn unit_of(cgroups_path: Option<&str>, id: &str) -> Result<Unit, Error> {
    let bad = |why: &str| {
        Error::new(
            "invalid config",
            format!("linux.cgroupsPath {}", quoted(cgroups_path.unwrap_or(""))),
            why.to_owned(),
        )
    };
    let (slice, prefix, name) = match cgroups_path {
        None => ("", "nsrun", id),
        Some(path) => match path.split(':').collect::<Vec<_>>()[..] {
            [slice, prefix, name] => (slice, prefix, name),
            _ => return Err(bad("with --systemd-cgroup it is slice:prefix:name")),
        },
    };
    let valid = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-@\\".contains(&b));
    if name.is_empty() || !valid(name) || !valid(prefix) || !valid(slice) {
        return Err(bad("a unit name of letters, digits and _ . - @"));
    }
    if name.ends_with(".slice") {
        return Err(bad("nsrun puts a container in a scope of its own, not in a slice"));
    }
    let slice = if slice.is_empty() { default_slice() } else { slice };
    slice_path(slice).map_err(bad)?;
    let name = if prefix.is_empty() { format!("{name}.scope") } else { format!("{prefix}-{name}.scope") };
    Ok(Unit { name, slice: slice.to_owned() })
}

fn default_slice() -> &'static str {
    if crate::container::rootless() { "user.slice" } else { "system.slice" }
}

/// Where systemd puts `slice` below the hierarchy's root: `a-b.slice` is
/// `a.slice/a-b.slice`; `-.slice` is the root.
pub fn slice_path(slice: &str) -> Result<PathBuf, &'static str> {
    let Some(base) = slice.strip_suffix(".slice") else { return Err("a slice's name ends in .slice") };
    if base == "-" {
        return Ok(PathBuf::new());
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err("a slice's name has no empty part between dashes");
    }
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

/// What systemd takes as unit properties of the limit files (v2's, or on a
/// v1 host v1's: runc's mapping); what it has no property for is only
/// written to the files.
fn properties_of(files: &[FileWrite], unified: bool) -> Vec<Value> {
    let bytes = |v: &str| if v == "max" || v == "-1" { Some(u64::MAX) } else { v.parse().ok() };
    let mut props = Vec::new();
    let cpu_quota = |quota: &str, period: &str, props: &mut Vec<Value>| {
        let period: u64 = period.parse().unwrap_or(limit::CPU_PERIOD);
        props.push(Value::property("CPUQuotaPeriodUSec", Value::U64(period)));
        // Per second, rounded up to systemd's 10 ms grain, as runc does.
        let per_second = quota
            .parse::<u64>()
            .ok()
            .map(|q| (q.saturating_mul(1_000_000) / period.max(1)).div_ceil(10_000).saturating_mul(10_000));
        props.push(Value::property("CPUQuotaPerSecUSec", Value::U64(per_second.unwrap_or(u64::MAX))));
    };
    let v1_period = files.iter().find(|f| f.file == "cpu.cfs_period_us").map_or("100000", |f| f.value.as_str());
    for w in files {
        let value = w.value.as_str();
        let prop = match (unified, w.file.as_str()) {
            (true, "memory.max") => bytes(value).map(|n| ("MemoryMax", Value::U64(n))),
            (true, "memory.swap.max") => bytes(value).map(|n| ("MemorySwapMax", Value::U64(n))),
            (true, "memory.high") => bytes(value).map(|n| ("MemoryHigh", Value::U64(n))),
            (true, "memory.low") => bytes(value).map(|n| ("MemoryLow", Value::U64(n))),
            (true, "cpu.weight") => value.parse().ok().map(|n| ("CPUWeight", Value::U64(n))),
            (true, "io.weight") => {
                value.strip_prefix("default ").and_then(|n| n.parse().ok()).map(|n| ("IOWeight", Value::U64(n)))
            }
            (true, "cpuset.cpus") => mask(value).map(|m| ("AllowedCPUs", m)),
            (true, "cpuset.mems") => mask(value).map(|m| ("AllowedMemoryNodes", m)),
            (true, "cpu.max") => {
                let (quota, period) = value.split_once(' ').unwrap_or((value, "100000"));
                cpu_quota(quota, period, &mut props);
                None
            }
            (false, "memory.limit_in_bytes") => bytes(value).map(|n| ("MemoryLimit", Value::U64(n))),
            (false, "cpu.shares") => value.parse().ok().map(|n| ("CPUShares", Value::U64(n))),
            (false, "blkio.weight") => value.parse().ok().map(|n| ("BlockIOWeight", Value::U64(n))),
            (false, "cpu.cfs_quota_us") => {
                cpu_quota(value, v1_period, &mut props);
                None
            }
            (_, "pids.max") => bytes(value).map(|n| ("TasksMax", Value::U64(n))),
            _ => None,
        };
        if let Some((name, v)) = prop {
            props.push(Value::property(name, v));
        }
    }
    props
}

/// The device rules as systemd's DevicePolicy and DeviceAllow, for a v1
/// devices cgroup that systemd writes again from its unit whenever it
/// reloads: the rules' end state when it is an allow list (everything denied,
/// then some allowed); what a later deny takes from an allowed entry drops it
/// whole (stricter, never looser). Majors are named as `/proc/devices`
/// (`devices`) names them. A deny list systemd cannot say: nothing then, as
/// runc, and the files nsrun writes hold until a reload.
fn device_properties(rules: &[Rule], devices: &str) -> Vec<Value> {
    let mut allowed: Option<Vec<Rule>> = None;
    for rule in rules {
        let everything = rule.kind.is_none() && rule.major.is_none() && rule.minor.is_none();
        match (everything, rule.allow, &mut allowed) {
            (true, true, _) => allowed = None,
            (true, false, _) => allowed = Some(Vec::new()),
            (false, true, Some(list)) => list.push(*rule),
            (false, false, Some(list)) => list.retain(|a| !overlaps(a, rule)),
            (false, _, None) => {}
        }
    }
    let Some(list) = allowed else { return Vec::new() };
    let name_of = |kind: char, major: u32| {
        let section = if kind == 'b' { "Block devices:" } else { "Character devices:" };
        devices
            .split(section)
            .nth(1)?
            .lines()
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.trim().split_once(' '))
            .find(|(n, _)| n.parse() == Ok(major))
            .map(|(_, name)| name.trim().to_owned())
    };
    let mut entries = Vec::new();
    for rule in list {
        let kinds: &[char] = match rule.kind {
            Some('b') => &['b'],
            Some('c') => &['c'],
            _ => &['c', 'b'],
        };
        let mut access = String::new();
        for (bit, c) in [(devices::READ, 'r'), (devices::WRITE, 'w'), (devices::MKNOD, 'm')] {
            if rule.access & bit != 0 {
                access.push(c);
            }
        }
        for &kind in kinds {
            let class = if kind == 'b' { "block" } else { "char" };
            let path = match (rule.major, rule.minor) {
                (None, _) => Some(format!("{class}-*")),
                (Some(major), None) => name_of(kind, major).map(|name| format!("{class}-{name}")),
                (Some(major), Some(minor)) => Some(format!("/dev/{class}/{major}:{minor}")),
            };
            if let Some(path) = path {
                entries.push(Value::Struct(vec![Value::Str(path), Value::Str(access.clone())]));
            }
        }
    }
    vec![
        Value::property("DevicePolicy", Value::Str("strict".into())),
        Value::property("DeviceAllow", Value::Array("(ss)".into(), entries)),
    ]
}

/// Whether deny rule `deny` takes anything from allow rule `allow`.
fn overlaps(allow: &Rule, deny: &Rule) -> bool {
    let meets = |a: Option<u32>, b: Option<u32>| a.is_none() || b.is_none() || a == b;
    let kinds = allow.kind.is_none() || deny.kind.is_none() || allow.kind == deny.kind;
    kinds && meets(allow.major, deny.major) && meets(allow.minor, deny.minor) && allow.access & deny.access != 0
}

/// A CPU or node list (`0-2,4`) as systemd's bit mask: byte 0 holds 0-7.
fn mask(list: &str) -> Option<Value> {
    let mut bits: Vec<u8> = Vec::new();
    for range in list.split(',').filter(|r| !r.is_empty()) {
        let (from, to) = range.split_once('-').unwrap_or((range, range));
        let (from, to): (usize, usize) = (from.trim().parse().ok()?, to.trim().parse().ok()?);
        if to < from || to >= 8192 {
            return None;
        }
        for n in from..=to {
            if bits.len() <= n / 8 {
                bits.resize(n / 8 + 1, 0);
            }
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    Some(Value::Array("y".into(), bits.into_iter().map(Value::Byte).collect()))
}

/// The scope a container gets: planned before anything is made (where the
/// manager puts it is read once it has).
#[derive(Debug, Clone)]
pub struct Scope {
    pub unit: Unit,
    writes: Vec<limit::Write>,
    rules: Vec<Rule>,
    /// Pure cgroup v2 (else v1 or hybrid, as runc's legacy driver).
    unified: bool,
}

/// The scope for `config`, on this host's hierarchies.
pub fn plan(config: &Config, id: &str, devices_made: &[Rule]) -> Result<Scope, Error> {
    let unit = unit_of(config.linux.cgroups_path.as_deref(), id)?;
    let hierarchies = common::cgroup::own();
    if hierarchies.is_empty() {
        return Err(Error::new("cannot find", "/proc/self/cgroup", "no cgroup hierarchy is mounted"));
    }
    let unified = hierarchies.iter().all(|h| h.is_v2());
    if !unified && crate::container::rootless() {
        return Err(Error::new(
            "",
            "--systemd-cgroup",
            "not supported here: a user's systemd delegates cgroups on a pure cgroup v2 host only",
        ));
    }
    let writes = config.linux.resources.writes.clone();
    // Every limit has a hierarchy here, checked before anything is made.
    limit::place(&hierarchies, writes.clone())
        .map_err(|e| Error::new("cannot apply", "linux.resources", format!("{}: {}", e.object, e.reason)))?;
    let rules = crate::cgroups::rules_of(config, devices_made);
    Ok(Scope { unit, writes, rules, unified })
}

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

fn manager_call(member: &str, body: Vec<Value>) -> Message {
    Message::call(SYSTEMD, MANAGER_PATH, MANAGER, member, body)
}

/// A job's end, as JobRemoved tells it: its result (`done` when it worked).
fn job_result(bus: &mut Bus, job: &str) -> Result<String, Error> {
    bus.wait_signal(|m| {
        let is_it = m.member.as_deref() == Some("JobRemoved") && m.body.get(1).and_then(Value::as_str) == Some(job);
        is_it.then(|| m.body.get(3).and_then(Value::as_str).unwrap_or_default().to_owned())
    })
}

/// The system manager's bus, subscribed to its job signals.
fn manager() -> Result<Bus, Error> {
    let mut bus = Bus::connect(&if crate::container::rootless() { dbus::user_bus()? } else { dbus::system_bus()? })?;
    let rule = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
    bus.call(Message::call(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "AddMatch",
        vec![Value::Str(rule.into())],
    ))?;
    bus.call(manager_call("Subscribe", vec![]))?;
    Ok(bus)
}

/// Make the scope with process `pid` in it, join it where systemd does not,
/// then write its limits and attach its device rules.
pub fn start(scope: &Scope, pid: libc::pid_t) -> Result<Vec<Placed>, Error> {
    let mut properties = vec![
        Value::property("Description", Value::Str(format!("nsrun container {}", scope.unit.name))),
        Value::property("Slice", Value::Str(scope.unit.slice.clone())),
        Value::property("Delegate", Value::Bool(true)),
        Value::property("DefaultDependencies", Value::Bool(false)),
        Value::property("PIDs", Value::Array("u".into(), vec![Value::U32(pid as u32)])),
    ];
    let accounting: &[&str] = if scope.unified {
        &["MemoryAccounting", "CPUAccounting", "IOAccounting", "TasksAccounting"]
    } else {
        &["MemoryAccounting", "CPUAccounting", "BlockIOAccounting", "TasksAccounting"]
    };
    for name in accounting {
        properties.push(Value::property(name, Value::Bool(true)));
    }
    let files: Vec<FileWrite> =
        scope.writes.iter().flat_map(|w| if scope.unified { w.v2.clone() } else { w.v1.clone() }).collect();
    properties.extend(properties_of(&files, scope.unified));
    if !scope.unified && !scope.rules.is_empty() {
        let devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
        properties.extend(device_properties(&scope.rules, &devices));
    }
    let mut bus = manager()?;
    let body = vec![
        Value::Str(scope.unit.name.clone()),
        Value::Str("fail".into()),
        Value::Array("(sv)".into(), properties),
        Value::Array("(sa(sv))".into(), vec![]),
    ];
    let failed = |why: String| Error::new("cannot start", quoted(&scope.unit.name), why);
    common::trace::step(|| {
        format!("systemd: StartTransientUnit {} in {}, pid {pid}", scope.unit.name, scope.unit.slice)
    });
    let reply = bus
        .call(manager_call("StartTransientUnit", body))
        .map_err(|e| failed(format!("{}: {}", e.object, e.reason)))?;
    let job = reply.first().and_then(Value::as_str).unwrap_or_default().to_owned();
    let result = job_result(&mut bus, &job)?;
    if result != "done" {
        return Err(failed(format!("systemd's job ended {result}")));
    }
    let mut placed = Vec::new();
    let written = place(scope, pid, &mut placed).and_then(|()| write(scope, &placed));
    if let Err(err) = written {
        if placed.is_empty() {
            let _ = stop(&scope.unit.name);
        }
        crate::cgroups::remove(&placed);
        return Err(err);
    }
    Ok(placed)
}

/// Where the process is in each hierarchy: the scope systemd made (below
/// its manager's own cgroup: a user's is user@UID.service), or on v1, in a
/// hierarchy systemd leaves alone, the same path, made and joined here.
fn place(scope: &Scope, pid: libc::pid_t, placed: &mut Vec<Placed>) -> Result<(), Error> {
    let unit = || Some(scope.unit.name.clone());
    let now = common::cgroup::of_process(pid)?;
    for h in common::cgroup::own() {
        let v2 = h.is_v2();
        match now.iter().find(|m| m.point == h.point) {
            Some(m) if m.dir.ends_with(&scope.unit.name) => {
                placed.push(Placed { dir: m.dir.clone(), v2, created: Vec::new(), unit: unit() })
            }
            _ if scope.unified => {
                let why = "the process is not in the scope systemd made";
                return Err(Error::new("cannot start", quoted(&scope.unit.name), why));
            }
            _ => {
                let mut made = Placed { dir: h.point.clone(), v2, created: Vec::new(), unit: unit() };
                let slice = slice_path(&scope.unit.slice).unwrap_or_default();
                for part in slice.join(&scope.unit.name).components() {
                    made.dir.push(part);
                    if !made.dir.is_dir() {
                        common::trace::step(|| format!("mkdir {}", made.dir.display()));
                        if let Err(e) = std::fs::create_dir(&made.dir) {
                            let err = Error::new("cannot create cgroup", made.dir.display(), common::io_reason(&e));
                            placed.push(made);
                            return Err(err);
                        }
                        made.created.push(made.dir.clone());
                    }
                    let cgroup = common::cgroup::Made { dir: made.dir.clone(), v2, moved: None };
                    if let Err(err) = limit::inherit_cpuset(&cgroup) {
                        placed.push(made);
                        return Err(err);
                    }
                }
                let joined = crate::cgroups::join(std::slice::from_ref(&made), pid);
                placed.push(made);
                joined?;
            }
        }
    }
    Ok(())
}

/// Every limit in the hierarchy that offers it, and the device rules.
fn write(scope: &Scope, placed: &[Placed]) -> Result<(), Error> {
    let at = crate::cgroups::memberships(placed);
    let files = limit::place(&at, scope.writes.clone())
        .map_err(|e| Error::new("cannot apply", "linux.resources", format!("{}: {}", e.object, e.reason)))?;
    for (h, list) in &files {
        let cgroup = common::cgroup::Made { dir: h.dir.clone(), v2: h.is_v2(), moved: None };
        for f in list {
            cgroup.set(&f.file, &f.value)?;
        }
    }
    if scope.rules.is_empty() {
        return Ok(());
    }
    if scope.unified {
        let dir = &placed[0].dir;
        let leaf = common::cgroup::Made { dir: dir.clone(), v2: true, moved: None };
        let fd = leaf.open().ok_or_else(|| Error::new("cannot open", dir.display(), "gone"))?;
        return devices::attach(fd.as_fd(), &scope.rules);
    }
    let Some(h) = at.iter().find(|h| !h.is_v2() && h.offers("devices")) else {
        return Err(Error::new("cannot apply", "linux.resources.devices", "no devices controller is mounted"));
    };
    let cgroup = common::cgroup::Made { dir: h.dir.clone(), v2: false, moved: None };
    for rule in &scope.rules {
        let (file, line) = rule.v1_line();
        cgroup.set(file, &line)?;
    }
    Ok(())
}

/// Stop the scope (its processes ended first by the caller); gone already is fine.
pub fn stop(unit: &str) -> Result<(), Error> {
    let mut bus = manager()?;
    common::trace::step(|| format!("systemd: StopUnit {unit}"));
    match bus.call(manager_call("StopUnit", vec![Value::Str(unit.into()), Value::Str("replace".into())])) {
        Ok(reply) => {
            let job = reply.first().and_then(Value::as_str).unwrap_or_default().to_owned();
            job_result(&mut bus, &job).map(drop)
        }
        Err(e) if e.object == "org.freedesktop.systemd1.NoSuchUnit" => Ok(()),
        Err(e) => Err(e),
    }
}

/// `update`: the new limits as the scope's properties too, so that systemd keeps them.
pub fn set_properties(unit: &str, writes: &[limit::Write], unified: bool) -> Result<(), Error> {
    let files: Vec<FileWrite> = writes.iter().flat_map(|w| if unified { w.v2.clone() } else { w.v1.clone() }).collect();
    let properties = properties_of(&files, unified);
    if properties.is_empty() {
        return Ok(());
    }
    let mut bus = manager()?;
    let body = vec![Value::Str(unit.into()), Value::Bool(true), Value::Array("(sv)".into(), properties)];
    bus.call(manager_call("SetUnitProperties", body)).map(drop)
}

/// Whether `dir` is where the scope `unit` of `cgroups_path` lives, for a state file's check.
pub fn is_scope_dir(dir: &Path, unit: &str, cgroups_path: Option<&str>, id: &str) -> bool {
    unit_of(cgroups_path, id)
        .is_ok_and(|u| u.name == unit && dir.ends_with(slice_path(&u.slice).unwrap_or_default().join(&u.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_paths_name_scopes_in_slices_as_runc_does() {
        let unit = unit_of(Some("machine.slice:libpod:0a1b"), "c1").unwrap();
        assert_eq!(unit, Unit { name: "libpod-0a1b.scope".into(), slice: "machine.slice".into() });
        let unit = unit_of(Some(":cri-containerd:c2"), "c2").unwrap();
        assert_eq!(unit.slice, "system.slice");
        assert_eq!(unit_of(None, "c3").unwrap().name, "nsrun-c3.scope");
        assert_eq!(unit_of(Some("kubepods.slice::pod1"), "x").unwrap().name, "pod1.scope");
        for bad in ["/a/b", "a:b", "s.slice:p:x/y", "s.slice:p:x.slice", "slice:p:x", "a--b.slice:p:x"] {
            assert!(unit_of(Some(bad), "c").is_err(), "{bad}");
        }
    }

    #[test]
    fn slices_nest_by_their_dashes() {
        assert_eq!(
            slice_path("kubepods-burstable-pod1.slice").unwrap(),
            PathBuf::from("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice")
        );
        assert_eq!(slice_path("-.slice").unwrap(), PathBuf::new());
        assert_eq!(slice_path("system.slice").unwrap(), PathBuf::from("system.slice"));
        assert!(slice_path("a-.slice").is_err() && slice_path("system").is_err());
    }

    #[test]
    fn limits_become_systemds_properties() {
        let writes = [
            limit::memory(Some(1 << 28)),
            limit::pids(None),
            limit::cpu_quota(Some(50_000), 100_000),
            limit::cpu_shares(1024),
            limit::cpuset_cpus("0-1,9"),
            limit::io_weight(300),
        ];
        let files: Vec<FileWrite> = writes.iter().flat_map(|w| w.v2.clone()).collect();
        let props = properties_of(&files, true);
        let get = |name: &str| {
            props.iter().find_map(|p| match p {
                Value::Struct(f) if f[0] == Value::Str(name.into()) => Some(f[1].clone()),
                _ => None,
            })
        };
        let v = |x: Value| Some(Value::Variant(Box::new(x)));
        assert_eq!(get("MemoryMax"), v(Value::U64(1 << 28)));
        assert_eq!(get("TasksMax"), v(Value::U64(u64::MAX)));
        assert_eq!(get("CPUQuotaPerSecUSec"), v(Value::U64(500_000)));
        assert_eq!(get("CPUQuotaPeriodUSec"), v(Value::U64(100_000)));
        assert_eq!(get("CPUWeight"), v(Value::U64(39)));
        assert_eq!(get("AllowedCPUs"), v(Value::Array("y".into(), vec![Value::Byte(0b11), Value::Byte(0b10)])));
        assert_eq!(get("IOWeight"), v(Value::U64(300)));
        // A quota no kernel takes still maps without overflowing.
        let huge = properties_of(&limit::cpu_quota(Some(u64::MAX / 2), 1).v2, true);
        assert!(huge.iter().any(|p| matches!(p, Value::Struct(f) if f[0] == Value::Str("CPUQuotaPerSecUSec".into()))));
    }

    fn property(props: &[Value], name: &str) -> Option<Value> {
        props.iter().find_map(|p| match p {
            Value::Struct(f) if f[0] == Value::Str(name.into()) => match &f[1] {
                Value::Variant(v) => Some((**v).clone()),
                _ => None,
            },
            _ => None,
        })
    }

    #[test]
    fn v1_limits_take_v1s_property_names() {
        let writes = [
            limit::memory(Some(1 << 28)),
            limit::pids(Some(64)),
            limit::cpu_quota(Some(25_000), 50_000),
            limit::cpu_shares(512),
            limit::io_weight(300),
            limit::cpuset_cpus("0"),
        ];
        let files: Vec<FileWrite> = writes.iter().flat_map(|w| w.v1.clone()).collect();
        let props = properties_of(&files, false);
        assert_eq!(property(&props, "MemoryLimit"), Some(Value::U64(1 << 28)));
        assert_eq!(property(&props, "TasksMax"), Some(Value::U64(64)));
        assert_eq!(property(&props, "CPUQuotaPerSecUSec"), Some(Value::U64(500_000)));
        assert_eq!(property(&props, "CPUQuotaPeriodUSec"), Some(Value::U64(50_000)));
        assert_eq!(property(&props, "CPUShares"), Some(Value::U64(512)));
        assert_eq!(property(&props, "BlockIOWeight"), Some(Value::U64(300)));
        // v1's cpuset is not systemd's there; v2's names are not used.
        for name in ["AllowedCPUs", "MemoryMax", "CPUWeight", "IOWeight"] {
            assert_eq!(property(&props, name), None, "{name}");
        }
        let unlimited = properties_of(&limit::memory(None).v1, false);
        assert_eq!(property(&unlimited, "MemoryLimit"), Some(Value::U64(u64::MAX)));
    }

    const PROC_DEVICES: &str =
        "Character devices:\n  1 mem\n  4 tty\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  7 loop\n  8 sd\n";

    fn deny(kind: Option<char>, major: Option<u32>, minor: Option<u32>) -> Rule {
        Rule { allow: false, kind, major, minor, access: devices::READ | devices::WRITE | devices::MKNOD }
    }

    #[test]
    fn device_rules_become_an_allow_list_systemd_keeps() {
        let mut rules = vec![deny(None, None, None)];
        rules.extend(devices::defaults());
        rules.push(Rule { kind: Some('b'), access: devices::READ, ..Rule::allow_char(8, Some(0)) });
        rules.push(Rule::allow_char(10, Some(200)));
        // A later deny that takes anything from an entry drops it whole.
        rules.push(Rule { access: devices::WRITE, ..deny(Some('c'), Some(10), None) });
        let props = device_properties(&rules, PROC_DEVICES);
        assert_eq!(property(&props, "DevicePolicy"), Some(Value::Str("strict".into())));
        let Some(Value::Array(_, entries)) = property(&props, "DeviceAllow") else { panic!("{props:?}") };
        let entries: Vec<(String, String)> = entries
            .iter()
            .map(|e| match e {
                Value::Struct(f) => (f[0].as_str().unwrap().to_owned(), f[1].as_str().unwrap().to_owned()),
                _ => panic!("{e:?}"),
            })
            .collect();
        let has = |path: &str, access: &str| entries.contains(&(path.to_owned(), access.to_owned()));
        assert!(has("/dev/char/1:3", "rwm") && has("/dev/char/5:2", "rwm"), "{entries:?}");
        assert!(has("char-pts", "rwm") && has("/dev/block/8:0", "r"), "{entries:?}");
        assert!(!entries.iter().any(|(p, _)| p.contains("10:")), "{entries:?}");
    }

    #[test]
    fn a_deny_list_gives_systemd_no_device_properties() {
        assert!(device_properties(&[deny(Some('c'), Some(1), Some(3))], PROC_DEVICES).is_empty());
        // Everything allowed again at the end: nothing to say either.
        let allow_all = Rule { allow: true, ..deny(None, None, None) };
        assert!(device_properties(&[deny(None, None, None), allow_all], PROC_DEVICES).is_empty());
        // A major /proc/devices does not name is left out (denied: stricter).
        let props = device_properties(&[deny(None, None, None), Rule::allow_char(99, None)], PROC_DEVICES);
        assert_eq!(property(&props, "DeviceAllow"), Some(Value::Array("(ss)".into(), vec![])));
    }

    #[test]
    fn a_state_names_only_its_own_scope() {
        let dir = Path::new("/sys/fs/cgroup/system.slice/nsrun-c1.scope");
        assert!(is_scope_dir(dir, "nsrun-c1.scope", None, "c1"));
        assert!(!is_scope_dir(dir, "nsrun-c1.scope", None, "c2"));
        assert!(!is_scope_dir(Path::new("/sys/fs/cgroup/system.slice/sshd.service"), "nsrun-c1.scope", None, "c1"));
    }
}

//! The systemd cgroup driver (`--systemd-cgroup`), as runc's: `cgroupsPath`
//! is `slice:prefix:name`; the container's cgroup is a transient scope that
//! systemd makes over D-Bus (StartTransientUnit, Delegate=yes, the process,
//! the resources as unit properties, so that systemd never writes them back
//! to its defaults); then every limit is written to the scope's files too,
//! and the device rules attached, as for cgroupfs. cgroup v2 only.

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

/// What systemd takes as unit properties of the v2 `writes` (runc's
/// mapping); what it has no property for is only written to the files.
fn properties_of(writes: &[FileWrite]) -> Vec<Value> {
    let bytes = |v: &str| if v == "max" { Some(u64::MAX) } else { v.parse().ok() };
    let mut props = Vec::new();
    for w in writes {
        let value = w.value.as_str();
        let prop = match w.file.as_str() {
            "memory.max" => bytes(value).map(|n| ("MemoryMax", Value::U64(n))),
            "memory.swap.max" => bytes(value).map(|n| ("MemorySwapMax", Value::U64(n))),
            "memory.high" => bytes(value).map(|n| ("MemoryHigh", Value::U64(n))),
            "memory.low" => bytes(value).map(|n| ("MemoryLow", Value::U64(n))),
            "pids.max" => bytes(value).map(|n| ("TasksMax", Value::U64(n))),
            "cpu.weight" => value.parse().ok().map(|n| ("CPUWeight", Value::U64(n))),
            "io.weight" => {
                value.strip_prefix("default ").and_then(|n| n.parse().ok()).map(|n| ("IOWeight", Value::U64(n)))
            }
            "cpuset.cpus" => mask(value).map(|m| ("AllowedCPUs", m)),
            "cpuset.mems" => mask(value).map(|m| ("AllowedMemoryNodes", m)),
            "cpu.max" => {
                let (quota, period) = value.split_once(' ').unwrap_or((value, "100000"));
                let period: u64 = period.parse().unwrap_or(limit::CPU_PERIOD);
                props.push(Value::property("CPUQuotaPeriodUSec", Value::U64(period)));
                // Per second, rounded up to systemd's 10 ms grain, as runc does.
                let per_second = quota
                    .parse::<u64>()
                    .ok()
                    .map(|q| (q.saturating_mul(1_000_000) / period.max(1)).div_ceil(10_000).saturating_mul(10_000));
                Some(("CPUQuotaPerSecUSec", Value::U64(per_second.unwrap_or(u64::MAX))))
            }
            _ => None,
        };
        if let Some((name, v)) = prop {
            props.push(Value::property(name, v));
        }
    }
    props
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
    files: Vec<FileWrite>,
    rules: Vec<Rule>,
}

/// The scope for `config`, on this host's cgroup v2 hierarchy.
pub fn plan(config: &Config, id: &str, devices_made: &[Rule]) -> Result<Scope, Error> {
    let unit = unit_of(config.linux.cgroups_path.as_deref(), id)?;
    let hierarchies = common::cgroup::own();
    if hierarchies.is_empty() || !hierarchies.iter().all(|h| h.is_v2()) {
        return Err(Error::new(
            "",
            "--systemd-cgroup",
            "not supported here: nsrun's systemd driver needs a pure cgroup v2 host (v1 and hybrid are not built)",
        ));
    }
    let files = config.linux.resources.writes.iter().flat_map(|w| w.v2.clone()).collect();
    let mut rules = config.linux.resources.devices.clone();
    if !rules.is_empty() {
        rules.extend(devices::defaults());
        rules.extend_from_slice(devices_made);
    }
    Ok(Scope { unit, files, rules })
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

/// Make the scope with process `pid` in it, then write its limits and attach its device rules.
pub fn start(scope: &Scope, pid: libc::pid_t) -> Result<Placed, Error> {
    let mut properties = vec![
        Value::property("Description", Value::Str(format!("nsrun container {}", scope.unit.name))),
        Value::property("Slice", Value::Str(scope.unit.slice.clone())),
        Value::property("Delegate", Value::Bool(true)),
        Value::property("DefaultDependencies", Value::Bool(false)),
        Value::property("PIDs", Value::Array("u".into(), vec![Value::U32(pid as u32)])),
    ];
    for accounting in ["MemoryAccounting", "CPUAccounting", "IOAccounting", "TasksAccounting"] {
        properties.push(Value::property(accounting, Value::Bool(true)));
    }
    properties.extend(properties_of(&scope.files));
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
    // Where the manager put it: below its own cgroup (a user's manager's is user@UID.service).
    let dir = common::cgroup::of_process(pid)?
        .into_iter()
        .find(|h| h.is_v2() && h.dir.ends_with(&scope.unit.name))
        .map(|h| h.dir)
        .ok_or_else(|| failed("the process is not in the scope systemd made".to_owned()));
    let dir = match dir {
        Ok(dir) => dir,
        Err(err) => {
            let _ = stop(&scope.unit.name);
            return Err(err);
        }
    };
    let placed = Placed { dir: dir.clone(), v2: true, created: Vec::new(), unit: Some(scope.unit.name.clone()) };
    let leaf = common::cgroup::Made { dir: dir.clone(), v2: true, moved: None };
    let written = scope.files.iter().try_for_each(|f| leaf.set(&f.file, &f.value)).and_then(|()| {
        if scope.rules.is_empty() {
            return Ok(());
        }
        let fd = leaf.open().ok_or_else(|| Error::new("cannot open", dir.display(), "gone"))?;
        devices::attach(fd.as_fd(), &scope.rules)
    });
    if let Err(err) = written {
        let _ = stop(&scope.unit.name);
        return Err(err);
    }
    Ok(placed)
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
pub fn set_properties(unit: &str, writes: &[limit::Write]) -> Result<(), Error> {
    let files: Vec<FileWrite> = writes.iter().flat_map(|w| w.v2.clone()).collect();
    let properties = properties_of(&files);
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
        let props = properties_of(&files);
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
        let huge = properties_of(&limit::cpu_quota(Some(u64::MAX / 2), 1).v2);
        assert!(huge.iter().any(|p| matches!(p, Value::Struct(f) if f[0] == Value::Str("CPUQuotaPerSecUSec".into()))));
    }

    #[test]
    fn a_state_names_only_its_own_scope() {
        let dir = Path::new("/sys/fs/cgroup/system.slice/nsrun-c1.scope");
        assert!(is_scope_dir(dir, "nsrun-c1.scope", None, "c1"));
        assert!(!is_scope_dir(dir, "nsrun-c1.scope", None, "c2"));
        assert!(!is_scope_dir(Path::new("/sys/fs/cgroup/system.slice/sshd.service"), "nsrun-c1.scope", None, "c1"));
    }
}

//! config-linux.md "Control groups": linux.resources, straight into
//! `common::cgroup::limit` writes and `common::cgroup::devices` rules.

use serde_json::{Map, Value};

use common::cgroup::limit::{self as l, Write};

use super::*;

/// `linux.resources`: the limit files to write, checked and in order, and the device rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    pub writes: Vec<common::cgroup::limit::Write>,
    pub devices: Vec<common::cgroup::devices::Rule>,
}

/// A value checked by common's parser, its error told as this field's.
pub(super) fn checked<T>(r: Result<T, common::Error>, field: &str) -> Read<T> {
    r.map_err(|e| Invalid { field: field.to_owned(), why: e.reason })
}

/// A limit: absent or 0 leaves the file alone (runc's "0 means unset", which
/// engines rely on: Docker sends zeros for what the user did not set); -1
/// (or any negative) means no limit.
pub(super) fn limit(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<Option<u64>>> {
    Ok(integer(map, field, key, i64::MIN, i64::MAX)?.filter(|n| *n != 0).map(|n| u64::try_from(n).ok()))
}

/// A value where absent and 0 both leave the file alone, as runc reads it.
pub(super) fn set_value(map: &Map<String, Value>, field: &str, key: &str) -> Read<Option<u64>> {
    Ok(unsigned(map, field, key)?.filter(|n| *n != 0))
}

/// What `update` may change, as runc's update has it: memory, cpu, pids,
/// blockIO and unified. The rest of a LinuxResources (devices, hugepages,
/// network: containerd sends the whole object) stays as create made it.
pub const UPDATABLE: [&str; 5] = ["memory", "cpu", "pids", "blockIO", "unified"];

/// An `update`'s LinuxResources object, its updatable sections read as the config's are.
pub fn parse_update(v: &Value) -> Read<Resources> {
    let all = object(v, "linux.resources")?;
    let kept: Map<String, Value> =
        all.iter().filter(|(k, _)| UPDATABLE.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    resources(&kept)
}

pub(super) fn resources(r: &Map<String, Value>) -> Read<Resources> {
    let mut out = Resources::default();
    let sections: [(&str, Section); 6] = [
        ("memory", memory),
        ("cpu", cpu),
        ("pids", pids),
        ("blockIO", block_io),
        ("network", network),
        ("unified", unified),
    ];
    for (key, section) in sections {
        if let Some(v) = get(r, key) {
            section(v, &mut out.writes)?;
        }
    }
    hugepages(r, &mut out.writes)?;
    if get(r, "rdma").is_some() {
        return not_built("rdma");
    }
    out.devices = device_rules(r)?;
    Ok(out)
}

/// One section of linux.resources, its writes added to `out`.
type Section = fn(&Value, &mut Vec<Write>) -> Read<()>;

fn not_built<T>(key: &str) -> Read<T> {
    invalid(&join("linux.resources", key), "is not built yet in nsrun")
}

fn memory(v: &Value, out: &mut Vec<Write>) -> Read<()> {
    let f = "linux.resources.memory";
    let m = object(v, f)?;
    let memory = limit(m, f, "limit")?;
    if let Some(memory) = memory {
        out.push(l::memory(memory));
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
        out.push(l::memory_and_swap(memory.flatten(), total));
    }
    if let Some(Some(low)) = limit(m, f, "reservation")? {
        out.push(l::memory_low(low));
    }
    // `kernel` is left to the kernel, which no longer limits kernel memory apart (5.16), as runc does.
    if let Some(Some(tcp)) = limit(m, f, "kernelTCP")? {
        out.push(l::kernel_tcp(tcp));
    }
    // Unset: absent, -1 (Docker's word for it) or its uint64 form.
    if let Some(n) = swappiness(m, f)? {
        out.push(l::swappiness(n));
    }
    if boolean(m, f, "disableOOMKiller")? {
        out.push(l::oom_killer_disabled());
    }
    Ok(())
}

fn cpu(v: &Value, out: &mut Vec<Write>) -> Read<()> {
    let f = "linux.resources.cpu";
    let c = object(v, f)?;
    if let Some(shares) = set_value(c, f, "shares")? {
        out.push(l::cpu_shares(shares));
    }
    let quota = limit(c, f, "quota")?;
    let period = set_value(c, f, "period")?;
    if quota.is_some() || period.is_some() {
        if period.is_some_and(|p| !(1000..=1_000_000).contains(&p)) {
            return invalid(&join(f, "period"), "out of range (1000 to 1000000 microseconds)");
        }
        out.push(l::cpu_quota(quota.flatten(), period.unwrap_or(l::CPU_PERIOD)));
    }
    let rt_runtime = integer(c, f, "realtimeRuntime", -1, i64::MAX)?.filter(|n| *n != 0);
    let rt_period = set_value(c, f, "realtimePeriod")?;
    if rt_runtime.is_some() || rt_period.is_some() {
        out.push(l::cpu_realtime(rt_runtime, rt_period));
    }
    if let Some(cpus) = string(c, f, "cpus")?.filter(|s| !s.is_empty()) {
        out.push(l::cpuset_cpus(&checked(l::cpu_list(&cpus), &join(f, "cpus"))?));
    }
    if let Some(mems) = string(c, f, "mems")?.filter(|s| !s.is_empty()) {
        out.push(l::cpuset_mems(&checked(l::cpu_list(&mems), &join(f, "mems"))?));
    }
    if let Some(idle) = integer(c, f, "idle", 0, 1)? {
        out.push(l::cpu_idle(idle));
    }
    Ok(())
}

fn swappiness(m: &Map<String, Value>, f: &str) -> Read<Option<u64>> {
    match get(m, "swappiness") {
        Some(Value::Number(n)) if n.as_i64() == Some(-1) || n.as_u64() == Some(u64::MAX) => Ok(None),
        _ => Ok(integer(m, f, "swappiness", 0, 100)?.map(|n| n as u64)),
    }
}

fn pids(v: &Value, out: &mut Vec<Write>) -> Read<()> {
    let f = "linux.resources.pids";
    if let Some(n) = limit(object(v, f)?, f, "limit")? {
        out.push(l::pids(n));
    }
    Ok(())
}

fn block_io(v: &Value, out: &mut Vec<Write>) -> Read<()> {
    let f = "linux.resources.blockIO";
    let b = object(v, f)?;
    if let Some(w) = integer(b, f, "weight", 0, 1000)?.filter(|w| *w != 0) {
        if w < 10 {
            return invalid(&join(f, "weight"), format!("{w} is out of range (10 to 1000, or 0 for unset)"));
        }
        out.push(l::io_weight(w as u64));
    }
    // leafWeight: cgroup v1's CFQ only, gone from the kernel (5.0); 0 is unset.
    if integer(b, f, "leafWeight", 0, 1000)?.is_some_and(|w| w != 0) {
        return not_built("blockIO.leafWeight");
    }
    for key in [
        "weightDevice",
        "throttleReadBpsDevice",
        "throttleWriteBpsDevice",
        "throttleReadIOPSDevice",
        "throttleWriteIOPSDevice",
    ] {
        if !array(b, f, key)?.is_empty() {
            return not_built(&format!("blockIO.{key}"));
        }
    }
    Ok(())
}

fn hugepages(r: &Map<String, Value>, out: &mut Vec<Write>) -> Read<()> {
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
        out.push(l::hugetlb(&size, bytes));
    }
    Ok(())
}

fn network(v: &Value, out: &mut Vec<Write>) -> Read<()> {
    let f = "linux.resources.network";
    let n = object(v, f)?;
    if let Some(id) = id(n, f, "classID")?.filter(|id| *id != 0) {
        out.push(l::net_class(id));
    }
    for (i, p) in array(n, f, "priorities")?.iter().enumerate() {
        let pf = format!("{f}.priorities[{i}]");
        let p = object(p, &pf)?;
        let name = string(p, &pf, "name")?.unwrap_or_default();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return invalid(&join(&pf, "name"), format!("'{name}' is not an interface name"));
        }
        out.push(l::net_priority(&name, id(p, &pf, "priority")?.unwrap_or(0)));
    }
    Ok(())
}

fn unified(v: &Value, out: &mut Vec<Write>) -> Read<()> {
    let f = "linux.resources.unified";
    for (name, value) in object(v, f)? {
        let Some(value) = value.as_str() else { return invalid(&join(f, name), "expected a string") };
        let write = checked(l::unified(name, value), &join(f, name))?;
        out.push(write);
    }
    Ok(())
}

fn device_rules(r: &Map<String, Value>) -> Read<Vec<common::cgroup::devices::Rule>> {
    array(r, "linux.resources", "devices")?
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
        .collect::<Read<Vec<_>>>()
}

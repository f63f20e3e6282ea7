//! Limits as files: what each limit writes on cgroup v1 and on v2, one
//! constructor per concept (cglimit's options and nsrun's linux.resources
//! both build their writes here), and which mounted hierarchy takes each.

use super::Membership;
use crate::error::{Error, quoted};

/// The period of a CPU quota, in microseconds (the kernel's default).
pub const CPU_PERIOD: u64 = 100_000;

/// One file to write, in the hierarchy of its controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

/// A limit as v1 and as v2 write it (empty: that version has no such file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub v1: Vec<FileWrite>,
    pub v2: Vec<FileWrite>,
}

pub fn file(controller: &'static str, file: impl Into<String>, value: impl ToString) -> FileWrite {
    FileWrite { controller, file: file.into(), value: value.to_string() }
}

fn both(v1: FileWrite, v2: FileWrite) -> Write {
    Write { v1: vec![v1], v2: vec![v2] }
}

fn max_or(value: Option<u64>) -> String {
    value.map_or_else(|| "max".to_owned(), |v| v.to_string())
}

/// The memory limit (`None`: none).
pub fn memory(limit: Option<u64>) -> Write {
    both(
        file("memory", "memory.limit_in_bytes", limit.map_or_else(|| "-1".to_owned(), |v| v.to_string())),
        file("memory", "memory.max", max_or(limit)),
    )
}

/// Memory and swap together at most `total` (`None`: no swap limit), with a
/// memory limit of `limit`: v1 counts them together, v2 swap alone.
pub fn memory_and_swap(limit: Option<u64>, total: Option<u64>) -> Write {
    let v2 = match (limit, total) {
        (_, None) | (None, _) => "max".to_owned(),
        (Some(m), Some(t)) => t.saturating_sub(m).to_string(),
    };
    both(
        file("memory", "memory.memsw.limit_in_bytes", total.map_or_else(|| "-1".to_owned(), |v| v.to_string())),
        file("memory", "memory.swap.max", v2),
    )
}

/// Where reclaim starts pushing: v1's soft limit, v2's memory.high.
pub fn memory_high(bytes: u64) -> Write {
    both(file("memory", "memory.soft_limit_in_bytes", bytes), file("memory", "memory.high", bytes))
}

/// Memory kept for the group under pressure: v1's soft limit, v2's memory.low.
pub fn memory_low(bytes: u64) -> Write {
    both(file("memory", "memory.soft_limit_in_bytes", bytes), file("memory", "memory.low", bytes))
}

/// An OOM kill ends the whole group (v1 has no such file: cglimit watches instead).
pub fn oom_group() -> Write {
    both(file("memory", "memory.oom_control", 0), file("memory", "memory.oom.group", 1))
}

/// v1 only: no OOM killer; the group's tasks wait for memory instead.
pub fn oom_killer_disabled() -> Write {
    Write { v1: vec![file("memory", "memory.oom_control", 1)], v2: Vec::new() }
}

pub fn swappiness(value: u64) -> Write {
    Write { v1: vec![file("memory", "memory.swappiness", value)], v2: Vec::new() }
}

pub fn kernel_tcp(bytes: u64) -> Write {
    Write { v1: vec![file("memory", "memory.kmem.tcp.limit_in_bytes", bytes)], v2: Vec::new() }
}

/// At most `limit` processes (`None`: no limit).
pub fn pids(limit: Option<u64>) -> Write {
    both(file("pids", "pids.max", max_or(limit)), file("pids", "pids.max", max_or(limit)))
}

/// `quota` microseconds of CPU time per `period` (`None`: no quota).
pub fn cpu_quota(quota: Option<u64>, period: u64) -> Write {
    let v1_quota = quota.map_or_else(|| "-1".to_owned(), |q| q.to_string());
    Write {
        v1: vec![file("cpu", "cpu.cfs_period_us", period), file("cpu", "cpu.cfs_quota_us", v1_quota)],
        v2: vec![file("cpu", "cpu.max", format!("{} {period}", max_or(quota)))],
    }
}

/// A share of CPU time as a v2 weight (1 to 10000, 100 by default).
pub fn cpu_weight(weight: u64) -> Write {
    both(file("cpu", "cpu.shares", (weight * 1024 / 100).max(2)), file("cpu", "cpu.weight", weight))
}

/// A share of CPU time as v1 shares (2 to 262144, 1024 by default), mapped
/// onto v2's weights as runc and crun map it.
pub fn cpu_shares(shares: u64) -> Write {
    let shares = shares.clamp(2, 262_144);
    both(file("cpu", "cpu.shares", shares), file("cpu", "cpu.weight", 1 + (shares - 2) * 9999 / 262_142))
}

pub fn cpu_realtime(runtime: Option<i64>, period: Option<u64>) -> Write {
    let mut v1 = Vec::new();
    if let Some(p) = period {
        v1.push(file("cpu", "cpu.rt_period_us", p));
    }
    if let Some(r) = runtime {
        v1.push(file("cpu", "cpu.rt_runtime_us", r));
    }
    Write { v1, v2: Vec::new() }
}

pub fn cpu_idle(idle: i64) -> Write {
    Write { v1: Vec::new(), v2: vec![file("cpu", "cpu.idle", idle)] }
}

pub fn cpuset_cpus(list: &str) -> Write {
    both(file("cpuset", "cpuset.cpus", list), file("cpuset", "cpuset.cpus", list))
}

pub fn cpuset_mems(list: &str) -> Write {
    both(file("cpuset", "cpuset.mems", list), file("cpuset", "cpuset.mems", list))
}

pub fn io_weight(weight: u64) -> Write {
    both(file("blkio", "blkio.weight", weight.clamp(10, 1000)), file("io", "io.weight", format!("default {weight}")))
}

/// A huge page size as the kernel names its files (`2MB`, `1GB`) and a limit in bytes.
pub fn hugetlb(size: &str, bytes: u64) -> Write {
    both(
        file("hugetlb", format!("hugetlb.{size}.limit_in_bytes"), bytes),
        file("hugetlb", format!("hugetlb.{size}.max"), bytes),
    )
}

pub fn net_class(id: u32) -> Write {
    Write { v1: vec![file("net_cls", "net_cls.classid", id)], v2: Vec::new() }
}

pub fn net_priority(interface: &str, priority: u32) -> Write {
    Write { v1: vec![file("net_prio", "net_prio.ifpriomap", format!("{interface} {priority}"))], v2: Vec::new() }
}

/// Any v2 file by name (OCI's `unified`): its controller is its name's first part.
pub fn unified(name: &str, value: &str) -> Result<Write, Error> {
    let controller = name.split_once('.').map(|(c, _)| c).unwrap_or("");
    let known: &[&'static str] = &["cgroup", "memory", "pids", "cpu", "cpuset", "io", "hugetlb", "rdma", "misc"];
    let Some(controller) = known.iter().find(|k| **k == controller) else {
        return Err(Error::new("invalid cgroup file", quoted(name), "not a file of a cgroup v2 controller"));
    };
    if name.contains('/') || name.contains("..") {
        return Err(Error::new("invalid cgroup file", quoted(name), "one file name, without '/'"));
    }
    // The core's files move, kill or reshape processes and groups: only its limits are limits.
    if *controller == "cgroup" && !matches!(name, "cgroup.max.depth" | "cgroup.max.descendants") {
        return Err(Error::new(
            "invalid cgroup file",
            quoted(name),
            "not a limit (of the core: cgroup.max.depth and cgroup.max.descendants)",
        ));
    }
    // cgroup.* files of the core need no controller enabled.
    let controller = if *controller == "cgroup" { "" } else { controller };
    Ok(Write { v1: Vec::new(), v2: vec![file(controller, name, value)] })
}

/// A CPU (or memory node) list as the kernel takes it: `0-1,3`.
pub fn cpu_list(text: &str) -> Result<String, Error> {
    let ok = !text.is_empty()
        && text.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            ends.all(|n| crate::values::decimal(n, 8191).is_ok())
        });
    if ok {
        Ok(text.to_owned())
    } else {
        Err(Error::new("invalid CPU list", quoted(text), "expected a list such as 0-1,3"))
    }
}

/// Which hierarchy takes each write: a v1 one that holds its controller,
/// else the v2 one where it is offered; its files, grouped per hierarchy,
/// in the order given. An error names a controller no hierarchy has.
pub fn place(hierarchies: &[Membership], writes: Vec<Write>) -> Result<Vec<(Membership, Vec<FileWrite>)>, Error> {
    let mut placed: Vec<(Membership, Vec<FileWrite>)> = Vec::new();
    for write in writes {
        let offers = |h: &&Membership, f: &FileWrite| f.controller.is_empty() || h.offers(f.controller);
        let v1 = write.v1.first().and_then(|f| hierarchies.iter().find(|h| !h.is_v2() && offers(h, f)));
        let v2 = write.v2.first().and_then(|f| hierarchies.iter().find(|h| h.is_v2() && offers(h, f)));
        let (h, files) = match (v1, v2) {
            (Some(h), _) => (h, write.v1),
            (None, Some(h)) => (h, write.v2),
            (None, None) => {
                let f = write.v2.first().or(write.v1.first());
                let controller = f.map_or("?", |f| f.controller);
                return Err(missing_controller(controller, hierarchies, write.v1.is_empty(), write.v2.is_empty()));
            }
        };
        match placed.iter_mut().find(|(m, _)| m.dir == h.dir) {
            Some((_, list)) => list.extend(files),
            None => placed.push((h.clone(), files)),
        }
    }
    Ok(placed)
}

fn missing_controller(controller: &str, hierarchies: &[Membership], v2_only: bool, v1_only: bool) -> Error {
    let v2 = hierarchies.iter().find(|h| h.is_v2());
    let why = match v2 {
        _ if v2_only && v2.is_none() => "this limit needs cgroup v2, and no cgroup2 hierarchy is mounted".to_owned(),
        Some(_) if v1_only => {
            "this limit exists on cgroup v1 only, and no v1 hierarchy here has the controller".to_owned()
        }
        Some(h) => format!(
            "no v1 hierarchy has it, and {} does not offer it (enable it in the parent's cgroup.subtree_control)",
            h.dir.join("cgroup.controllers").display()
        ),
        None => "no mounted cgroup hierarchy has it".to_owned(),
    };
    Error::new("cannot use the controller", quoted(controller), why)
}

/// Ready a v1 cpuset to take processes: where it has no CPUs or memory
/// nodes (new, or made empty by someone before us), it gets its parent's
/// (a cpuset with none takes no process). What it has is left as it is.
pub fn inherit_cpuset(made: &super::Made) -> Result<(), Error> {
    if made.v2 || !made.dir.join("cpuset.mems").exists() {
        return Ok(());
    }
    let parent = made.dir.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let own = std::fs::read_to_string(made.dir.join(f)).unwrap_or_default();
        if !own.trim().is_empty() {
            continue;
        }
        let value = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
        made.set(f, value.trim())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(writes: &[Write], v2: bool) -> Vec<(String, String)> {
        writes.iter().flat_map(|w| if v2 { &w.v2 } else { &w.v1 }).map(|f| (f.file.clone(), f.value.clone())).collect()
    }

    #[test]
    fn swap_is_counted_with_memory_on_v1_alone_on_v2() {
        let w = [memory(Some(100)), memory_and_swap(Some(100), Some(300))];
        assert_eq!(
            files(&w, false),
            [("memory.limit_in_bytes".into(), "100".into()), ("memory.memsw.limit_in_bytes".into(), "300".into())]
        );
        assert_eq!(files(&w, true), [("memory.max".into(), "100".into()), ("memory.swap.max".into(), "200".into())]);
        assert_eq!(files(&[memory_and_swap(Some(100), None)], true), [("memory.swap.max".into(), "max".into())]);
    }

    #[test]
    fn shares_map_onto_weights_as_runc_maps_them() {
        let weight = |s| cpu_shares(s).v2[0].value.clone();
        assert_eq!(
            (weight(2), weight(1024), weight(262_144), weight(0)),
            ("1".into(), "39".into(), "10000".into(), "1".into())
        );
        assert_eq!(files(&[cpu_quota(None, 100_000)], true), [("cpu.max".into(), "max 100000".into())]);
    }

    #[test]
    fn unified_names_must_be_files_of_a_controller() {
        assert_eq!(unified("memory.high", "5M").unwrap().v2[0].controller, "memory");
        assert_eq!(unified("cgroup.max.depth", "2").unwrap().v2[0].controller, "");
        for bad in [
            "",
            "nosuch.file",
            "memory.x/../../y",
            "memory",
            "cgroup.procs",
            "cgroup.threads",
            "cgroup.kill",
            "cgroup.subtree_control",
        ] {
            assert!(unified(bad, "1").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_v1_only_limit_is_refused_on_v2_by_name() {
        let v2 = Membership {
            controllers: "cgroup2".into(),
            dir: "/nonexistent".into(),
            point: "/nonexistent".into(),
            path: "/".into(),
            mount_root: "/".into(),
        };
        let err = place(&[v2], vec![swappiness(10)]).unwrap_err().to_string();
        assert!(err.contains("'memory'") && err.contains("v1 only"), "{err}");
    }
}

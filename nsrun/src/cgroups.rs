//! The container's cgroup: `linux.cgroupsPath` in every hierarchy we are
//! in (v1, v2 and hybrid alike), its `linux.resources` written there
//! through common's limit table (the one cglimit writes through), its device
//! rules as v1 lines or a v2 BPF program, its processes, its freezer, and its
//! removal. An absolute path is taken from the hierarchy's root as our
//! mounts show it, a relative one from our own cgroup (on v2 from its parent,
//! as runc does: ours holds processes), the default being the id.

use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use common::cgroup::devices::{self, Rule};
use common::cgroup::limit::{self, FileWrite};
use common::cgroup::{self, Made, Membership};
use common::error::quoted;
use common::{Error, procfs, trace};
use serde_json::{Value, json};

use crate::config::Config;

/// One hierarchy's part of the plan: where the container's cgroup goes,
/// from where nsrun starts making directories, and what to write there.
#[derive(Debug, Clone)]
pub struct Target {
    pub hierarchy: Membership,
    pub dir: PathBuf,
    base: PathBuf,
    files: Vec<FileWrite>,
    /// v1 device rules to write, or (v2) rules to compile.
    rules: Vec<Rule>,
}

/// A cgroup of the container, as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub dir: PathBuf,
    pub v2: bool,
    /// The directories nsrun made for it, outermost first (the rest was there).
    pub created: Vec<PathBuf>,
    /// With the systemd driver: the scope systemd made it as (and removes it with).
    pub unit: Option<String>,
}

/// `cgroupsPath` as components, checked: no `..`, nothing empty.
fn components(path: &str) -> Result<(bool, PathBuf), Error> {
    let bad = || {
        Error::new("invalid config", format!("linux.cgroupsPath {}", quoted(path)), "a cgroup path without '..' or '.'")
    };
    let p = Path::new(path);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n),
            _ => return Err(bad()),
        }
    }
    if out.as_os_str().is_empty() || path.contains('\n') {
        return Err(bad());
    }
    Ok((p.is_absolute(), out))
}

/// Everything to make and write, checked against the hierarchies here
/// before anything is made.
pub fn plan(config: &Config, id: &str, devices_made: &[Rule]) -> Result<Vec<Target>, Error> {
    let hierarchies = cgroup::own();
    if hierarchies.is_empty() {
        return Err(Error::new("cannot find", "/proc/self/cgroup", "no cgroup hierarchy is mounted"));
    }
    let (absolute, path) = components(config.linux.cgroups_path.as_deref().unwrap_or(id))?;
    // Each hierarchy as seen from where the path starts: its root for an
    // absolute path (what the root offers decides); for a relative one our
    // own cgroup on v1, and on v2 its parent, as runc takes it: ours holds
    // processes (we are one), and v2 gives no controllers below such a cgroup.
    let bases: Vec<Membership> = hierarchies
        .iter()
        .map(|h| match (absolute, h.is_v2()) {
            (true, _) => Membership { dir: h.point.clone(), ..h.clone() },
            (false, true) if h.dir != h.point => {
                Membership { dir: h.dir.parent().map_or_else(|| h.point.clone(), Path::to_path_buf), ..h.clone() }
            }
            (false, _) => h.clone(),
        })
        .collect();
    let placed = limit::place(&bases, config.linux.resources.writes.clone())
        .map_err(|e| Error::new("cannot apply", "linux.resources", format!("{}: {}", e.object, e.reason)))?;
    let rules = rules_of(config, devices_made);
    let device_hierarchy = bases
        .iter()
        .find(|h| !h.is_v2() && h.offers("devices"))
        .or_else(|| bases.iter().find(|h| h.is_v2()))
        .map(|h| h.dir.clone());
    if !rules.is_empty() && device_hierarchy.is_none() {
        return Err(Error::new("cannot apply", "linux.resources.devices", "no devices controller is mounted"));
    }
    Ok(bases
        .iter()
        .map(|h| {
            let files = placed.iter().find(|(p, _)| p.dir == h.dir).map(|(_, f)| f.clone()).unwrap_or_default();
            let rules = if device_hierarchy.as_ref() == Some(&h.dir) { rules.clone() } else { Vec::new() };
            Target { hierarchy: h.clone(), dir: h.dir.join(&path), base: h.dir.clone(), files, rules }
        })
        .collect())
}

/// The device rules to enforce: the config's, then what every container
/// may use and the nodes its own devices need. None for a user: the kernel
/// loads a device program only for the host's root (CAP_BPF), and a user
/// namespace makes no device nodes; runc leaves them out there too.
pub fn rules_of(config: &Config, devices_made: &[Rule]) -> Vec<Rule> {
    let mut rules = config.linux.resources.devices.clone();
    if crate::container::rootless() {
        if !rules.is_empty() {
            trace::step(|| "device rules: none for a user (no device program without the host's root)".to_owned());
        }
        return Vec::new();
    }
    if !rules.is_empty() {
        rules.extend(devices::defaults());
        rules.extend_from_slice(devices_made);
    }
    rules
}

impl Target {
    /// Whether we may make the cgroup: the first directory to make is in one we may write.
    pub fn delegated(&self) -> bool {
        let mut dir = self.base.clone();
        for part in self.dir.strip_prefix(&self.base).unwrap_or(Path::new("")).components() {
            if !dir.join(part).is_dir() {
                break;
            }
            dir.push(part);
        }
        nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok()
    }
}

/// Make the cgroups and write the limits and device rules; on a failure,
/// remove what was made.
pub fn make(targets: &[Target]) -> Result<Vec<Placed>, Error> {
    let mut made: Vec<Placed> = Vec::new();
    for t in targets {
        let result = make_one(t, &mut made);
        if let Err(err) = result {
            remove(&made);
            return Err(err);
        }
    }
    Ok(made)
}

fn make_one(t: &Target, made: &mut Vec<Placed>) -> Result<(), Error> {
    let v2 = t.hierarchy.is_v2();
    let mut placed = Placed { dir: t.dir.clone(), v2, created: Vec::new(), unit: None };
    let relative = t.dir.strip_prefix(&t.base).unwrap_or(Path::new(""));
    let mut controllers: Vec<&str> = t.files.iter().map(|f| f.controller).filter(|c| !c.is_empty()).collect();
    controllers.sort_unstable();
    controllers.dedup();
    let enable: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
    let mut dir = t.base.clone();
    for part in relative.components() {
        if v2 && !enable.is_empty() {
            let file = dir.join("cgroup.subtree_control");
            trace::step(|| format!("echo '{}' > {}", enable.join(" "), file.display()));
            procfs::write_once(&file, &enable.join(" "))
                .map_err(|e| Error::sys("cannot enable controllers in", file.display(), e))?;
        }
        dir.push(part);
        if !dir.is_dir() {
            trace::step(|| format!("mkdir {}", dir.display()));
            let result = std::fs::create_dir(&dir);
            if let Err(e) = result {
                made.push(placed);
                return Err(Error::new("cannot create cgroup", dir.display(), common::io_reason(&e)));
            }
            placed.created.push(dir.clone());
        }
        // A v1 cpuset on the way, ours or made before us, needs CPUs and nodes to hold us (as runc's).
        if let Err(err) = limit::inherit_cpuset(&Made { dir: dir.clone(), v2, moved: None }) {
            made.push(placed);
            return Err(err);
        }
    }
    made.push(placed);
    let leaf = Made { dir: t.dir.clone(), v2, moved: None };
    for f in &t.files {
        leaf.set(&f.file, &f.value)?;
    }
    if !t.rules.is_empty() {
        if v2 {
            let fd = leaf.open().ok_or_else(|| Error::new("cannot open", t.dir.display(), "gone"))?;
            devices::attach(fd.as_fd(), &t.rules)?;
        } else {
            for rule in &t.rules {
                let (file, line) = rule.v1_line();
                leaf.set(file, &line)?;
            }
        }
    }
    Ok(())
}

/// Move process `pid` into every cgroup of the container.
pub fn join(placed: &[Placed], pid: libc::pid_t) -> Result<(), Error> {
    for p in placed {
        let file = p.dir.join("cgroup.procs");
        trace::step(|| format!("echo {pid} > {}", file.display()));
        procfs::write_once(&file, &pid.to_string()).map_err(|e| Error::sys("cannot join cgroup", file.display(), e))?;
    }
    Ok(())
}

/// End what is left in the container's cgroups, remove them and the
/// directories nsrun made for them, deepest first; then stop the systemd
/// scope they were made as, if any.
pub fn remove(placed: &[Placed]) {
    for p in placed {
        // A cgroup that was there before may hold others' processes: it is left as it was.
        if p.unit.is_some() || p.created.last() == Some(&p.dir) {
            Made { dir: p.dir.clone(), v2: p.v2, moved: None }.end();
        }
        for dir in p.created.iter().rev() {
            trace::step(|| format!("rmdir {}", dir.display()));
            let _ = std::fs::remove_dir(dir);
        }
    }
    let mut units: Vec<&str> = placed.iter().filter_map(|p| p.unit.as_deref()).collect();
    units.dedup();
    for unit in units {
        let _ = crate::systemd::stop(unit);
    }
}

/// A state file's cgroups, checked before anything acts on them (a tampered
/// state.json must not make delete kill and remove another cgroup): each
/// `dir` strictly below a hierarchy mounted here, ending in the container's
/// own path (`own`: its cgroupsPath, or its id), and every `created` entry
/// `dir` or a parent of it, strictly below that hierarchy's root.
pub fn check_placed(placed: &[Placed], cgroups_path: Option<&str>, id: &str) -> Result<(), Error> {
    let points: Vec<PathBuf> = cgroup::own().into_iter().map(|h| h.point).collect();
    let clean =
        |p: &Path| p.is_absolute() && p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    for p in placed {
        let bad = |why: &str| Error::new("invalid state", p.dir.display(), why.to_owned());
        let Some(point) = points.iter().find(|point| p.dir.starts_with(point) && p.dir != **point) else {
            return Err(bad("not below a cgroup hierarchy mounted here"));
        };
        if !clean(&p.dir) {
            return Err(bad("not the container's own cgroup"));
        }
        // A systemd scope: the one its cgroupsPath names; nsrun makes it only in a v1 hierarchy
        // systemd leaves alone (on v2 and in the hierarchies systemd manages it is systemd's).
        if let Some(unit) = &p.unit {
            if !crate::systemd::is_scope_dir(&p.dir, unit, cgroups_path, id) || (p.v2 && !p.created.is_empty()) {
                return Err(bad("not the container's own systemd scope"));
            }
        } else {
            let (_, own) = components(cgroups_path.unwrap_or(id))?;
            if !p.dir.ends_with(&own) {
                return Err(bad("not the container's own cgroup"));
            }
        }
        if p.created.iter().any(|c| !clean(c) || !p.dir.starts_with(c) || !c.starts_with(point) || c == point) {
            return Err(bad("it lists a cgroup nsrun cannot have made for it"));
        }
    }
    Ok(())
}

/// The processes in the container's cgroup (the first hierarchy's: they are the same in all).
pub fn processes(placed: &[Placed]) -> Vec<libc::pid_t> {
    let m = placed.first().map(|p| Made { dir: p.dir.clone(), v2: p.v2, moved: None });
    let mut pids = m.map(|m| m.procs()).unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// The container's cgroups as hierarchies of ours, each at the container's
/// directory: what `limit::place` takes to say which file goes where.
pub fn memberships(placed: &[Placed]) -> Vec<Membership> {
    let own = cgroup::own();
    placed
        .iter()
        .filter_map(|p| {
            let h = own.iter().find(|h| p.dir.starts_with(&h.point) && h.is_v2() == p.v2)?;
            Some(Membership { dir: p.dir.clone(), ..h.clone() })
        })
        .collect()
}

/// `update`: `writes` into the container's cgroups, each in the hierarchy
/// that offers its controller. A write the kernel refuses is tried again once
/// the others are in (v1's memory limit must stay below memory+swap, so
/// which goes first depends on the old values).
pub fn update(placed: &[Placed], writes: Vec<limit::Write>) -> Result<(), Error> {
    let hierarchies = memberships(placed);
    if let Some(unit) = placed.iter().find_map(|p| p.unit.as_deref()) {
        crate::systemd::set_properties(unit, &writes, placed.iter().all(|p| p.v2))?;
    }
    let files = limit::place(&hierarchies, writes).map_err(|e| Error::new("cannot update", e.object, e.reason))?;
    let mut refused = Vec::new();
    for (h, list) in &files {
        let cgroup = Made { dir: h.dir.clone(), v2: h.is_v2(), moved: None };
        for f in list {
            if cgroup.set(&f.file, &f.value).is_err() {
                refused.push((cgroup.dir.clone(), cgroup.v2, f));
            }
        }
    }
    for (dir, v2, f) in refused {
        Made { dir, v2, moved: None }.set(&f.file, &f.value)?;
    }
    Ok(())
}

/// The first of the container's cgroups that has `file`, read.
fn read_file(placed: &[Placed], file: &str) -> Option<String> {
    placed.iter().find_map(|p| std::fs::read_to_string(p.dir.join(file)).ok())
}

fn number_in(placed: &[Placed], file: &str) -> Option<u64> {
    let text = read_file(placed, file)?;
    let text = text.trim();
    // v2's "max": no limit, as runc reports it.
    if text == "max" { Some(u64::MAX) } else { text.parse().ok() }
}

/// `KEY VALUE` lines (memory.stat, cpu.stat, memory.events) as a map.
fn keyed(placed: &[Placed], file: &str) -> serde_json::Map<String, Value> {
    read_file(placed, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), json!(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

/// How many processes the OOM killer has ended in the container's cgroup
/// (v2's memory.events, v1's memory.oom_control: Linux 4.13).
pub fn oom_kills(placed: &[Placed]) -> u64 {
    let events = keyed(placed, "memory.events");
    let control = keyed(placed, "memory.oom_control");
    events.get("oom_kill").or_else(|| control.get("oom_kill")).and_then(Value::as_u64).unwrap_or(0)
}

/// The container's usage in runc's `events --stats` shape (its types.Stats):
/// cpu, memory, pids, from v2's files or v1's, whichever it has.
pub fn stats(placed: &[Placed]) -> Value {
    let n = |file: &str| number_in(placed, file).unwrap_or(0);
    let v2 = placed.iter().any(|p| p.v2 && p.dir.join("cpu.stat").exists());
    let cpu_stat = keyed(placed, "cpu.stat");
    let stat = |k: &str| cpu_stat.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (usage, throttling, memory) = if v2 {
        let usage = json!({"total": stat("usage_usec") * 1000, "kernel": stat("system_usec") * 1000, "user": stat("user_usec") * 1000});
        let throttling = json!({"periods": stat("nr_periods"), "throttledPeriods": stat("nr_throttled"), "throttledTime": stat("throttled_usec") * 1000});
        let events = keyed(placed, "memory.events");
        let memory = json!({
            "usage": {"usage": n("memory.current"), "limit": n("memory.max"), "max": n("memory.peak"), "failcnt": events.get("max").cloned().unwrap_or(json!(0))},
            "swap": {"usage": n("memory.swap.current"), "limit": n("memory.swap.max"), "failcnt": 0},
            "raw": keyed(placed, "memory.stat"),
        });
        (usage, throttling, memory)
    } else {
        let ticks = keyed(placed, "cpuacct.stat");
        // USER_HZ is 100 on every architecture Linux exports it for.
        let tick = |k: &str| ticks.get(k).and_then(Value::as_u64).unwrap_or(0) * 10_000_000;
        let percpu: Vec<u64> = read_file(placed, "cpuacct.usage_percpu")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .collect();
        let usage =
            json!({"total": n("cpuacct.usage"), "percpu": percpu, "kernel": tick("system"), "user": tick("user")});
        let throttling = json!({"periods": stat("nr_periods"), "throttledPeriods": stat("nr_throttled"), "throttledTime": stat("throttledTime")});
        let memory = json!({
            "usage": {"usage": n("memory.usage_in_bytes"), "limit": n("memory.limit_in_bytes"), "max": n("memory.max_usage_in_bytes"), "failcnt": n("memory.failcnt")},
            "swap": {"usage": n("memory.memsw.usage_in_bytes"), "limit": n("memory.memsw.limit_in_bytes"), "max": n("memory.memsw.max_usage_in_bytes"), "failcnt": n("memory.memsw.failcnt")},
            "raw": keyed(placed, "memory.stat"),
        });
        (usage, throttling, memory)
    };
    json!({
        "cpu": {"usage": usage, "throttling": throttling},
        "memory": memory,
        "pids": {"current": n("pids.current"), "limit": n("pids.max")},
    })
}

/// Whether `placed` is in the v1 hierarchy of `controller` (a v2 cgroup
/// names none: --cgroup gives it a plain path).
pub fn offers(placed: &Placed, controller: &str) -> bool {
    !placed.v2 && cgroup::own().iter().any(|h| !h.is_v2() && placed.dir.starts_with(&h.point) && h.offers(controller))
}

/// Freeze (`true`) or thaw every process in it: v2's cgroup.freeze, else the v1 freezer.
pub fn freeze(placed: &[Placed], frozen: bool) -> Result<(), Error> {
    let (file, value) = match freezer_of(placed) {
        Some(p) if !p.v2 => (p.dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" }),
        Some(p) => (p.dir.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
        None => return Err(Error::new("cannot freeze", "the container", "no freezer is mounted here")),
    };
    trace::step(|| format!("echo {value} > {}", file.display()));
    procfs::write_once(&file, value).map_err(|e| Error::sys(format!("cannot write {value} to"), file.display(), e))?;
    // v1 freezes in steps: wait until it says FROZEN (or THAWED).
    for _ in 0..1000 {
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        if now.trim() == value || file.ends_with("cgroup.freeze") {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(Error::new("cannot freeze", file.display(), "still FREEZING after 1 s"))
}

/// The cgroup whose freezer holds all its processes (v1's freezer, else
/// v2's), for criu to freeze them by.
pub fn freezer(placed: &[Placed]) -> Option<PathBuf> {
    freezer_of(placed).map(|p| p.dir.clone())
}

fn freezer_of(placed: &[Placed]) -> Option<&Placed> {
    let v1 = placed.iter().find(|p| !p.v2 && p.dir.join("freezer.state").exists());
    v1.or_else(|| placed.iter().find(|p| p.v2 && p.dir.join("cgroup.freeze").exists()))
}

/// Whether the container's processes are frozen now.
pub fn frozen(placed: &[Placed]) -> bool {
    placed.iter().any(|p| {
        let v1 = std::fs::read_to_string(p.dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN");
        let v2 = std::fs::read_to_string(p.dir.join("cgroup.events")).is_ok_and(|s| s.lines().any(|l| l == "frozen 1"));
        v1 || v2
    })
}

pub fn to_json(placed: &[Placed]) -> Value {
    Value::Array(
        placed.iter().map(|p| json!({"dir": p.dir, "v2": p.v2, "created": p.created, "unit": p.unit})).collect(),
    )
}

pub fn from_json(v: &Value) -> Vec<Placed> {
    let path = |v: &Value| v.as_str().map(PathBuf::from);
    v.as_array()
        .map(|list| {
            list.iter()
                .filter_map(|p| {
                    Some(Placed {
                        dir: path(&p["dir"])?,
                        v2: p["v2"].as_bool()?,
                        created: p["created"].as_array()?.iter().filter_map(path).collect(),
                        unit: p["unit"].as_str().map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_never_climb() {
        assert_eq!(components("/libpod_parent/libpod-1").unwrap(), (true, PathBuf::from("libpod_parent/libpod-1")));
        assert_eq!(components("a/b").unwrap(), (false, PathBuf::from("a/b")));
        for bad in ["", "/", "../x", "/a/../../b", "a\nb"] {
            assert!(components(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_state_file_names_only_the_containers_own_scope() {
        let Some(point) = cgroup::own().into_iter().map(|h| h.point).next() else { return };
        let scope = |dir: PathBuf, created: Vec<PathBuf>| {
            vec![Placed { dir, v2: true, created, unit: Some("nsrun-c1.scope".into()) }]
        };
        let own = point.join("system.slice/nsrun-c1.scope");
        assert!(check_placed(&scope(own.clone(), vec![]), None, "c1").is_ok());
        assert!(check_placed(&scope(own.clone(), vec![]), None, "c2").is_err(), "another id's");
        assert!(check_placed(&scope(own.clone(), vec![own.clone()]), None, "c1").is_err(), "nsrun made none");
        // On v1, in a hierarchy systemd leaves alone, nsrun makes the scope's path itself: only that.
        let v1 = |created: Vec<PathBuf>| {
            vec![Placed { dir: own.clone(), v2: false, created, unit: Some("nsrun-c1.scope".into()) }]
        };
        assert!(check_placed(&v1(vec![point.join("system.slice"), own.clone()]), None, "c1").is_ok());
        assert!(check_placed(&v1(vec![point.join("other.slice")]), None, "c1").is_err(), "not a parent");
        assert!(check_placed(&v1(vec![point.clone()]), None, "c1").is_err(), "the hierarchy's root");
        assert!(check_placed(&scope(point.join("system.slice/sshd.service"), vec![]), None, "c1").is_err());
        let climbing = point.join("x/../system.slice/nsrun-c1.scope");
        assert!(check_placed(&scope(climbing, vec![]), None, "c1").is_err());
        assert!(check_placed(&scope("/etc/system.slice/nsrun-c1.scope".into(), vec![]), None, "c1").is_err());
    }

    #[test]
    fn state_round_trip() {
        let p = vec![Placed {
            dir: "/sys/fs/cgroup/memory/a/b".into(),
            v2: false,
            created: vec!["/sys/fs/cgroup/memory/a/b".into()],
            unit: None,
        }];
        assert_eq!(from_json(&to_json(&p)), p);
        let p = vec![Placed {
            dir: "/sys/fs/cgroup/system.slice/nsrun-c1.scope".into(),
            v2: true,
            created: vec![],
            unit: Some("nsrun-c1.scope".into()),
        }];
        assert_eq!(from_json(&to_json(&p)), p);
    }
}

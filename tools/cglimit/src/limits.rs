//! What cglimit is asked to limit, parsed and checked before anything is
//! made, and the files each limit is written to on cgroup v1 and on v2.

use std::path::{Component, Path, PathBuf};

use common::Error;
use common::cgroup::Made;
use common::error::quoted;
use common::values::{self, Size};

/// The smallest memory limit we take, as Docker does: a smaller cgroup
/// cannot even start a shell.
pub const MEMORY_MIN: u64 = 6 << 20;

pub use common::cgroup::limit::{CPU_PERIOD, FileWrite, Write};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<u64>,
    pub memory_high: Option<u64>,
    /// `Some(None)`: no limit (`max`).
    pub swap: Option<Option<u64>>,
    pub pids: Option<Option<u64>>,
    /// Microseconds of CPU time per [`CPU_PERIOD`].
    pub cpu: Option<u64>,
    pub cpu_weight: Option<u64>,
    pub cpuset: Option<String>,
    pub io_weight: Option<u64>,
    pub oom_group: bool,
}

impl Limits {
    /// What cannot be asked together, or of one version only.
    pub fn check(&self) -> Result<(), Error> {
        if self.oom_group && self.memory.is_none() {
            return Err(Error::usage("--oom-group needs --memory"));
        }
        if let (Some(_), None) = (self.swap, self.memory) {
            return Err(Error::usage("--swap needs --memory: swap is counted on top of the memory limit"));
        }
        Ok(())
    }

    /// The writes, in the order they must be made (the memory limit before
    /// v1's memory+swap limit, the CPU period before the quota).
    pub fn writes(&self) -> Vec<Write> {
        use common::cgroup::limit as l;
        let mut out = Vec::new();
        if let Some(m) = self.memory {
            out.push(l::memory(Some(m)));
        }
        if let (Some(swap), Some(m)) = (self.swap, self.memory) {
            out.push(l::memory_and_swap(Some(m), swap.map(|s| s.saturating_add(m))));
        }
        if let Some(h) = self.memory_high {
            out.push(l::memory_high(h));
        }
        // On v1 --oom-group is done by watching (see the wait in main.rs).
        if self.oom_group {
            out.push(l::oom_group());
        }
        if let Some(p) = self.pids {
            out.push(l::pids(p));
        }
        if let Some(q) = self.cpu {
            out.push(l::cpu_quota(Some(q), CPU_PERIOD));
        }
        if let Some(weight) = self.cpu_weight {
            out.push(l::cpu_weight(weight));
        }
        if let Some(cpus) = &self.cpuset {
            out.push(l::cpuset_cpus(cpus));
        }
        if let Some(weight) = self.io_weight {
            out.push(l::io_weight(weight));
        }
        out
    }
}

pub fn size(text: &str, what: &str) -> Result<Option<u64>, Error> {
    match values::parse_size(text).map_err(|why| Error::new("invalid size", quoted(text), format!("{why} ({what})")))? {
        Size::Bytes(n) => Ok(Some(n)),
        Size::Max => Ok(None),
    }
}

/// A memory limit: a size of at least [`MEMORY_MIN`].
pub fn memory_size(text: &str, what: &str) -> Result<u64, Error> {
    match size(text, what)? {
        Some(n) if n >= MEMORY_MIN => Ok(n),
        Some(_) => Err(Error::new("invalid memory limit", quoted(text), "below the minimum of 6M")),
        None => Err(Error::new("invalid memory limit", quoted(text), "give a size (leave the option out for none)")),
    }
}

pub fn pids(text: &str) -> Result<Option<u64>, Error> {
    if text == "max" {
        return Ok(None);
    }
    match values::decimal(text, u64::from(u32::MAX)) {
        Ok(0) => Err(Error::new("invalid pids limit", quoted(text), "must be more than 0")),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(Error::new("invalid pids limit", quoted(text), "expected a number of processes or max")),
    }
}

/// CPUs as `0.5`, `2` or `150%`: microseconds per [`CPU_PERIOD`].
pub fn cpu(text: &str) -> Result<u64, Error> {
    let bad = |why: &str| Error::new("invalid CPU limit", quoted(text), why);
    let (number, scale) = match text.strip_suffix('%') {
        Some(percent) => (percent, CPU_PERIOD / 100),
        None => (text, CPU_PERIOD),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 6 {
        return Err(bad("expected CPUs such as 0.5, 2 or 150%"));
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad("too large"))? };
    let micro: u64 = format!("{fraction:0<6}").parse().map_err(|_| bad("expected CPUs such as 0.5, 2 or 150%"))?;
    let quota = whole
        .checked_mul(scale)
        .and_then(|q| q.checked_add(micro * scale / 1_000_000))
        .ok_or_else(|| bad("too large"))?;
    match quota {
        0 => Err(bad("must be more than 0")),
        q if q < 1000 => Err(bad("below the kernel's minimum of 1% (1ms per 100ms)")),
        q => Ok(q),
    }
}

pub fn weight(text: &str, what: &str) -> Result<u64, Error> {
    match values::decimal(text, 10_000) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Error::new(format!("invalid {what}"), quoted(text), "expected 1 to 10000")),
    }
}

pub use common::cgroup::limit::cpu_list as cpuset;

/// A cgroup's name: one path component, not `.` or `..`, and none of the
/// names cglimit gives its own cgroups, which its sweep judges by name.
pub fn name(text: &str) -> Result<String, Error> {
    if text.is_empty() || text == "." || text == ".." || text.contains('/') || text.chars().any(char::is_control) {
        return Err(Error::new("invalid cgroup name", quoted(text), "one name, without '/'"));
    }
    if own_name(text).is_some() {
        return Err(Error::new(
            "invalid cgroup name",
            quoted(text),
            "cglimit.N names are cglimit's own: choose another",
        ));
    }
    Ok(text.to_owned())
}

/// How a cglimit named a cgroup of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnName {
    /// `cglimit.PID` (and its `.supervisor` leaf): a waiting cglimit's, locked while it lives.
    Waiting(u32),
    /// `cglimit.PID.exec`: a --exec job's, which nothing waits on: removed only once empty.
    Exec(u32),
}

/// The name of a waiting cglimit's cgroup, or of an --exec job's.
pub fn own_name(name: &str) -> Option<OwnName> {
    let rest = name.strip_prefix("cglimit.")?;
    let (pid, kind) = match rest.split_once('.') {
        Some((pid, "supervisor")) => (pid, OwnName::Waiting as fn(u32) -> OwnName),
        Some((pid, "exec")) => (pid, OwnName::Exec as fn(u32) -> OwnName),
        Some(_) => return None,
        None => (rest, OwnName::Waiting as fn(u32) -> OwnName),
    };
    common::values::decimal(pid, u32::MAX as u64).ok().map(|pid| kind(pid as u32))
}

/// The lock a waiting cglimit holds on each cgroup it made, for as long as
/// it lives: what the sweep asks, since a name and a PID can lie (another
/// PID namespace, a reused PID, a job that exec'd).
pub fn lock(dir: &Path) -> Option<std::fs::File> {
    let file = std::fs::File::open(dir).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// `--parent`: a cgroup path relative to our own (the same in every
/// hierarchy), that exists, with no `..` to climb out.
pub fn inside(own: &Path, parent: &Path) -> Result<PathBuf, Error> {
    let bad = |why: &str| Error::new("invalid --parent", quoted(parent), why);
    if parent.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(bad("a cgroup path below our own, such as jobs/a, without '/' first or '..'"));
    }
    let dir = own.join(parent);
    if !dir.is_dir() {
        return Err(bad(&format!("{} is no cgroup", dir.display())));
    }
    Ok(dir)
}

/// Ready a new cgroup to take processes (a v1 cpuset needs CPUs and memory nodes).
pub fn prepare(made: Made) -> Result<Made, Error> {
    match common::cgroup::limit::inherit_cpuset(&made) {
        Ok(()) => Ok(made),
        Err(err) => {
            made.end();
            Err(err)
        }
    }
}

/// Remove what a cglimit killed with SIGKILL left below the parents we use:
/// a `cglimit.PID` cgroup (or `.supervisor` leaf) whose lock no cglimit holds
/// and whose PID runs no cglimit here; a `cglimit.PID.exec` one once it is
/// empty (rmdir, which the kernel refuses for a cgroup in use). A live job is
/// never killed.
pub fn sweep_stale(plan: &super::Plan) {
    for (h, parent, _) in &plan.parents {
        let Ok(entries) = std::fs::read_dir(parent) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(own) = entry.file_name().to_str().and_then(own_name) else { continue };
            if !path.is_dir() {
                continue;
            }
            let pid = match own {
                OwnName::Exec(_) => {
                    if std::fs::remove_dir(&path).is_ok() {
                        common::trace::step(|| format!("empty cgroup of a cglimit --exec job: {}", path.display()));
                    }
                    continue;
                }
                OwnName::Waiting(pid) => pid,
            };
            let running = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "cglimit");
            // Held while we look, so that no cglimit can be starting on it meanwhile.
            let Some(_held) = (!running).then(|| lock(&path)).flatten() else { continue };
            common::trace::step(|| format!("stale cgroup of a cglimit gone: {}", path.display()));
            Made { dir: path, v2: h.is_v2(), moved: None }.end();
        }
    }
}

/// End what a cglimit named `name`, killed before it could, left below the
/// parents of `plan`.
pub fn sweep_left(plan: &super::Plan, name: &str) {
    for (h, parent, writes) in &plan.parents {
        let controllers: std::collections::BTreeSet<&str> = writes.iter().map(|w| w.controller).collect();
        let controllers: Vec<&str> = controllers.into_iter().collect();
        if let Some(made) = Made::left_behind(parent, name, h.is_v2(), &controllers) {
            made.end();
        }
    }
}

/// What the kernel did to the command, said once after it ends.
pub fn what_happened(plan: &super::Plan, made: &[Made]) -> Vec<String> {
    let mut out = Vec::new();
    for ((_, _, writes), m) in plan.parents.iter().zip(made) {
        let has = |file: &str| writes.iter().any(|w| w.file == file);
        if has("memory.max") || has("memory.limit_in_bytes") {
            let killed =
                if m.v2 { m.counter("memory.events", "oom_kill") } else { m.counter("memory.oom_control", "oom_kill") };
            if killed > 0 {
                let limit = writes.iter().find(|w| w.file == "memory.max" || w.file == "memory.limit_in_bytes");
                let limit = limit.map(|w| human(w.value.parse().unwrap_or(0))).unwrap_or_default();
                let s = if killed == 1 { "" } else { "es" };
                out.push(format!("out of memory: killed at the {limit} limit ({killed} process{s})"));
            }
        }
        if has("pids.max") {
            let refused = m.counter("pids.events", "max");
            if refused > 0 {
                let limit = writes.iter().find(|w| w.file == "pids.max").map(|w| w.value.clone()).unwrap_or_default();
                let s = if refused == 1 { "" } else { "s" };
                out.push(format!("pids limit reached: {limit} (fork refused {refused} time{s})"));
            }
        }
    }
    out
}

/// A byte count as the user would write it: `50M`, `1G`, `1536K`.
pub fn human(bytes: u64) -> String {
    for (shift, unit) in [(60, "E"), (50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_in_every_form() {
        assert_eq!(cpu("0.5").unwrap(), 50_000);
        assert_eq!(cpu("2").unwrap(), 200_000);
        assert_eq!(cpu("150%").unwrap(), 150_000);
        assert_eq!(cpu(".25").unwrap(), 25_000);
        for bad in ["", "0", "0.0", "-1", "1e3", "1.2.3", "%", "0.001"] {
            assert!(cpu(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_per_version() {
        let l = Limits {
            memory: Some(50 << 20),
            swap: Some(Some(0)),
            pids: Some(None),
            cpu: Some(50_000),
            ..Default::default()
        };
        let writes = l.writes();
        let v2: Vec<(&str, &str)> =
            writes.iter().flat_map(|w| &w.v2).map(|f| (f.file.as_str(), f.value.as_str())).collect();
        assert_eq!(
            v2,
            [("memory.max", "52428800"), ("memory.swap.max", "0"), ("pids.max", "max"), ("cpu.max", "50000 100000")]
        );
        let v1: Vec<(&str, &str)> =
            writes.iter().flat_map(|w| &w.v1).map(|f| (f.file.as_str(), f.value.as_str())).collect();
        assert_eq!(
            v1,
            [
                ("memory.limit_in_bytes", "52428800"),
                ("memory.memsw.limit_in_bytes", "52428800"),
                ("pids.max", "max"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000")
            ]
        );
        assert!(Limits { swap: Some(Some(0)), ..Default::default() }.check().is_err());
    }

    #[test]
    fn sizes_read_back_as_written() {
        assert_eq!(
            (human(50 << 20), human(1 << 30), human(1536 << 10), human(7)),
            ("50M".into(), "1G".into(), "1536K".into(), "7B".into())
        );
    }

    #[test]
    fn fuzz_values() {
        let mut rng = common::fuzz::Rng::new(0xc9);
        for _ in 0..20_000 {
            let seed = ["0.5", "150%", "50M", "10", "0-1,3", "box"][rng.below(6)];
            let text = rng.mutate(seed, common::fuzz::NASTY);
            let _ = (cpu(&text), pids(&text), memory_size(&text, "x"), cpuset(&text), name(&text), weight(&text, "x"));
        }
    }
}

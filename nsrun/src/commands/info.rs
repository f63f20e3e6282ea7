//! The commands that read without changing: `list` (every container under
//! --root), `spec` (a config.json to start from), `events` (stats and OOM
//! kills as runc prints them, one JSON object a line).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Error;
use common::cli::Flag;
use common::error::quoted;
use serde_json::{Value, json};

use super::{Global, dir, one_id, parse, path};
use crate::{CLI, cgroups, container};

#[derive(Debug, Default)]
pub struct ListArgs {
    quiet: bool,
    json: bool,
}

pub const LIST: [(&str, Flag<ListArgs>); 2] = [
    (
        "",
        Flag {
            short: Some('q'),
            long: "quiet",
            value: None,
            help: "ids only",
            set: |a, _| {
                a.quiet = true;
                Ok(())
            },
        },
    ),
    (
        "",
        Flag {
            short: Some('f'),
            long: "format",
            value: Some("FORMAT"),
            help: "table (the default) or json",
            set: |a, v| {
                a.json = super::simple::json_format(v)?;
                Ok(())
            },
        },
    ),
];

/// `list`: runc's columns, or its JSON objects.
pub fn list(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("list", &LIST, words, false)? else { return Ok(0) };
    if !operands.is_empty() {
        return Err(CLI.usage_error("list takes no operand"));
    }
    let containers = containers(&global.root)?;
    let text = if args.quiet {
        containers.iter().map(|c| format!("{}\n", c["id"].as_str().unwrap_or_default())).collect()
    } else if args.json {
        format!("{}\n", Value::Array(containers))
    } else {
        table(&containers)
    };
    common::print(&text).map(|()| 0)
}

/// Every container under `root` whose state reads, sorted by id, as runc's list objects.
fn containers(root: &Path) -> Result<Vec<Value>, Error> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        // No container was ever made here.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::new("cannot read", root.display(), common::io_reason(&e))),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let dir = entry.path();
        let Ok(state) = container::State::read(&dir, &id) else { continue };
        let status = state.status(&dir);
        let owner = entry.metadata().map(|m| owner_name(m.uid())).unwrap_or_default();
        let rootfs = container::kept_config(&dir)
            .map(|c| Path::new(&state.bundle).join(&c.root.path).display().to_string())
            .unwrap_or_default();
        out.push(json!({
            "ociVersion": "1.0.2", "id": id,
            "pid": if status == container::Status::Stopped { 0 } else { state.pid },
            "status": status.as_str(), "bundle": state.bundle, "rootfs": rootfs,
            "created": state.created, "owner": owner,
        }));
    }
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(out)
}

/// The user's name from /etc/passwd, or #UID as runc prints an unknown one.
fn owner_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

/// runc's table: ID, PID, STATUS, BUNDLE, CREATED, OWNER, columns padded.
fn table(containers: &[Value]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(str::to_owned)];
    for c in containers {
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
        rows.push([text("id"), c["pid"].to_string(), text("status"), text("bundle"), text("created"), text("owner")]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("{}\n", cells.join("   ").trim_end())
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct SpecArgs {
    bundle: Option<PathBuf>,
    rootless: bool,
}

pub const SPEC: [(&str, Flag<SpecArgs>); 2] = [
    (
        "",
        Flag {
            short: Some('b'),
            long: "bundle",
            value: Some("DIR"),
            help: "write DIR/config.json (default ./config.json)",
            set: |a, v| {
                a.bundle = path(v);
                Ok(())
            },
        },
    ),
    (
        "",
        Flag {
            short: None,
            long: "rootless",
            value: None,
            help: "for a user without privileges: a user namespace mapping them to root",
            set: |a, _| {
                a.rootless = true;
                Ok(())
            },
        },
    ),
];

/// `spec`: runc's starting config.json, never over an existing one.
pub fn spec(words: &[OsString], _: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("spec", &SPEC, words, false)? else { return Ok(0) };
    if !operands.is_empty() {
        return Err(CLI.usage_error("spec takes no operand"));
    }
    let file = args.bundle.unwrap_or_else(|| PathBuf::from(".")).join("config.json");
    let text = serde_json::to_string_pretty(&default_spec(args.rootless)).unwrap_or_default();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{text}\n").as_bytes()));
    written.map(|()| 0).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::new("", file.display(), "exists: remove it first"),
        _ => Error::new("cannot write", file.display(), common::io_reason(&e)),
    })
}

/// The config runc's spec writes: `sh` in ./rootfs, read-only, with the
/// default mounts, masks and a deny-all device rule; `rootless`: a user
/// namespace mapping the caller to root, no network namespace or cgroup
/// limits, sysfs bound from the host (a user may not mount one).
pub fn default_spec(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": true, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "nsrun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    });
    if rootless {
        let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        let linux = &mut spec["linux"];
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        linux["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}]);
        if let Some(l) = linux.as_object_mut() {
            l.remove("resources");
        }
        if let Some(mounts) = spec["mounts"].as_array_mut() {
            mounts.retain(|m| m["type"] != "cgroup");
            for m in mounts.iter_mut() {
                if m["destination"] == "/sys" {
                    *m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
                if m["destination"] == "/dev/pts"
                    && let Some(options) = m["options"].as_array_mut()
                {
                    options.retain(|o| o != "gid=5");
                }
            }
        }
    }
    spec
}

#[derive(Debug)]
pub struct EventsArgs {
    stats: bool,
    interval: Duration,
}

impl Default for EventsArgs {
    fn default() -> Self {
        Self { stats: false, interval: Duration::from_secs(5) }
    }
}

pub const EVENTS: [(&str, Flag<EventsArgs>); 2] = [
    (
        "",
        Flag {
            short: None,
            long: "stats",
            value: None,
            help: "print the stats once and exit",
            set: |a, _| {
                a.stats = true;
                Ok(())
            },
        },
    ),
    (
        "",
        Flag {
            short: None,
            long: "interval",
            value: Some("DURATION"),
            help: "between stats (5s, 500ms, 1m; default 5s)",
            set: |a, v| {
                a.interval = duration(v)?;
                Ok(())
            },
        },
    ),
];

/// A Go-style duration as runc takes it: a number and ms, s, m or h.
fn duration(v: &str) -> Result<Duration, Error> {
    let bad = || Error::new("invalid --interval", quoted(v), "expected a duration such as 5s or 500ms");
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let millis = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(bad()),
    };
    if millis == 0 {
        return Err(bad());
    }
    Ok(Duration::from_millis(millis))
}

/// `events`: the stats every interval (once, with --stats) and an `oom`
/// event for each OOM kill in its cgroup, until the container stops.
pub fn events(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("events", &EVENTS, words, false)? else { return Ok(0) };
    let id = one_id("events", &operands)?;
    let dir = dir(global, &id);
    let state = container::State::read(&dir, &id)?;
    if state.status(&dir) == container::Status::Stopped {
        return Err(Error::new("cannot read events of", quoted(&id), container::NOT_RUNNING));
    }
    let event = |kind: &str, data: Value| {
        let mut e = json!({"type": kind, "id": id});
        if !data.is_null() {
            e["data"] = data;
        }
        common::print(&format!("{e}\n"))
    };
    if args.stats {
        return event("stats", cgroups::stats(&state.cgroups)).map(|()| 0);
    }
    let mut kills = cgroups::oom_kills(&state.cgroups);
    let mut next_stats = Instant::now();
    while state.status(&dir) != container::Status::Stopped {
        let now_kills = cgroups::oom_kills(&state.cgroups);
        if now_kills > kills {
            event("oom", Value::Null)?;
        }
        kills = now_kills;
        if Instant::now() >= next_stats {
            event("stats", cgroups::stats(&state.cgroups))?;
            next_stats = Instant::now() + args.interval;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_go_durations() {
        assert_eq!(duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "5", "s", "0s", "-1s", "1.5s", "5 s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_table_pads_its_columns() {
        let c = json!({"id": "c1", "pid": 42, "status": "running", "bundle": "/b", "created": "T", "owner": "root"});
        assert_eq!(
            table(&[c]),
            "ID   PID   STATUS    BUNDLE   CREATED   OWNER\nc1   42    running   /b       T         root\n"
        );
    }

    #[test]
    fn the_rootless_spec_maps_the_caller_and_leaves_out_what_a_user_cannot_make() {
        let spec = default_spec(true);
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], json!(nix::unistd::getuid().as_raw()));
        assert!(spec["linux"]["namespaces"].as_array().unwrap().iter().all(|n| n["type"] != "network"));
        assert!(spec["linux"]["resources"].is_null());
        let config = crate::config::Config::parse(&spec.to_string()).unwrap();
        assert!(config.process.terminal);
        crate::config::Config::parse(&default_spec(false).to_string()).unwrap();
    }
}

//! `update [options] ID`: new limits for a running container, from runc's
//! flags and `-r FILE` (`-r -`: stdin, as containerd sends a LinuxResources
//! object), the flags winning; written through the same limit table as
//! create's, and kept in the container's config.

use std::ffi::OsString;

use common::Error;
use common::cli::Flag;
use common::error::quoted;
use serde_json::{Value, json};

use super::{Global, dir, one_id, parse};
use crate::{cgroups, config, container};

#[derive(Debug, Default)]
pub struct UpdateArgs {
    /// -r: a file, or `-` for stdin.
    resources: Option<String>,
    /// What the flags set: section, key, value.
    set: Vec<(&'static str, &'static str, Value)>,
}

/// A size (`100M`, `1G`, bytes) or -1 for no limit, as a LinuxResources number.
fn bytes(option: &str, v: &str) -> Result<Value, Error> {
    if v == "-1" {
        return Ok(json!(-1));
    }
    match common::values::parse_size(v) {
        Ok(common::values::Size::Bytes(n)) => Ok(json!(n)),
        Ok(common::values::Size::Max) => Ok(json!(-1)),
        Err(why) => Err(Error::new(format!("invalid --{option}"), quoted(v), why)),
    }
}

/// A whole number within `min..=max`.
fn number(option: &str, v: &str, min: i64, max: i64) -> Result<Value, Error> {
    v.parse::<i64>().ok().filter(|n| (min..=max).contains(n)).map(|n| json!(n)).ok_or_else(|| {
        Error::new(format!("invalid --{option}"), quoted(v), format!("expected a number from {min} to {max}"))
    })
}

const fn flag(
    long: &'static str,
    value: Option<&'static str>,
    help: &'static str,
    set: fn(&mut UpdateArgs, &str) -> Result<(), Error>,
) -> (&'static str, Flag<UpdateArgs>) {
    ("", Flag { short: None, long, value, help, set })
}

fn refused(option: &str) -> Result<(), Error> {
    Err(Error::new(
        "",
        format!("--{option}"),
        "not supported by nsrun (the kernel no longer limits kernel memory apart; no resctrl)",
    ))
}

const BIG: i64 = i64::MAX;

pub const UPDATE: [(&str, Flag<UpdateArgs>); 17] = [
    (
        "",
        Flag {
            short: Some('r'),
            long: "resources",
            value: Some("FILE"),
            help: "a LinuxResources JSON object, - for stdin",
            set: |a, v| {
                a.resources = Some(v.to_owned());
                Ok(())
            },
        },
    ),
    flag("memory", Some("SIZE"), "memory limit (-1: none)", |a, v| {
        a.set.push(("memory", "limit", bytes("memory", v)?));
        Ok(())
    }),
    flag("memory-swap", Some("SIZE"), "memory and swap together (-1: none)", |a, v| {
        a.set.push(("memory", "swap", bytes("memory-swap", v)?));
        Ok(())
    }),
    flag("memory-reservation", Some("SIZE"), "memory soft limit", |a, v| {
        a.set.push(("memory", "reservation", bytes("memory-reservation", v)?));
        Ok(())
    }),
    flag("kernel-memory-tcp", Some("SIZE"), "kernel TCP buffer limit (v1)", |a, v| {
        a.set.push(("memory", "kernelTCP", bytes("kernel-memory-tcp", v)?));
        Ok(())
    }),
    flag("kernel-memory", Some("SIZE"), "refused: the kernel has no such limit now", |_, _| refused("kernel-memory")),
    flag("cpu-share", Some("N"), "CPU shares (v2: weight from shares)", |a, v| {
        a.set.push(("cpu", "shares", number("cpu-share", v, 0, BIG)?));
        Ok(())
    }),
    flag("cpu-quota", Some("USEC"), "CPU time per period (-1: none)", |a, v| {
        a.set.push(("cpu", "quota", number("cpu-quota", v, -1, BIG)?));
        Ok(())
    }),
    flag("cpu-period", Some("USEC"), "the period of the quota", |a, v| {
        a.set.push(("cpu", "period", number("cpu-period", v, 0, BIG)?));
        Ok(())
    }),
    flag("cpu-rt-runtime", Some("USEC"), "realtime runtime per period (v1)", |a, v| {
        a.set.push(("cpu", "realtimeRuntime", number("cpu-rt-runtime", v, -1, BIG)?));
        Ok(())
    }),
    flag("cpu-rt-period", Some("USEC"), "realtime period (v1)", |a, v| {
        a.set.push(("cpu", "realtimePeriod", number("cpu-rt-period", v, 0, BIG)?));
        Ok(())
    }),
    flag("cpuset-cpus", Some("LIST"), "CPUs to run on (0-3,5)", |a, v| {
        a.set.push(("cpu", "cpus", json!(v)));
        Ok(())
    }),
    flag("cpuset-mems", Some("LIST"), "memory nodes to allocate on", |a, v| {
        a.set.push(("cpu", "mems", json!(v)));
        Ok(())
    }),
    flag("pids-limit", Some("N"), "most tasks at once (-1: none)", |a, v| {
        a.set.push(("pids", "limit", number("pids-limit", v, -1, BIG)?));
        Ok(())
    }),
    flag("blkio-weight", Some("N"), "IO weight, 10 to 1000", |a, v| {
        a.set.push(("blockIO", "weight", number("blkio-weight", v, 0, 1000)?));
        Ok(())
    }),
    flag("l3-cache-schema", Some("SCHEMA"), "refused: no resctrl in nsrun", |_, _| refused("l3-cache-schema")),
    flag("mem-bw-schema", Some("SCHEMA"), "refused: no resctrl in nsrun", |_, _| refused("mem-bw-schema")),
];

pub fn update(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("update", &UPDATE, words, false)? else { return Ok(0) };
    let id = one_id("update", &operands)?;
    let mut asked = match &args.resources {
        Some(file) => read_resources(file)?,
        None => json!({}),
    };
    for (section, key, value) in args.set {
        let Some(object) = asked.as_object_mut() else { break };
        let entry = object.entry(section).or_insert_with(|| json!({}));
        if let Some(section) = entry.as_object_mut() {
            section.insert(key.to_owned(), value);
        }
    }
    let resources = config::parse_update(&asked).map_err(|e| Error::new("invalid resources", e.field, e.why))?;
    let dir = dir(global, &id);
    let state = container::State::read(&dir, &id)?;
    if state.status(&dir) == container::Status::Stopped {
        return Err(Error::new("cannot update", quoted(&id), container::NOT_RUNNING));
    }
    cgroups::update(&state.cgroups, resources.writes)?;
    container::keep_resources(&dir, &asked)?;
    Ok(0)
}

/// -r's object, from a file or stdin (`-`), bounded.
fn read_resources(file: &str) -> Result<Value, Error> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(std::io::stdin(), 1 << 20), &mut text)
            .map_err(|e| Error::new("cannot read", "the resources on stdin", common::io_reason(&e)))?;
        text
    } else {
        let bytes = common::read_regular(std::path::Path::new(file), 1 << 20)?;
        String::from_utf8(bytes).map_err(|_| Error::new("invalid resources", quoted(file), "not UTF-8"))?
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Error::new("invalid resources", quoted(file), format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::new("invalid resources", quoted(file), "expected a LinuxResources object"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(words: &[&str]) -> Result<Option<(UpdateArgs, Vec<OsString>)>, Error> {
        let words: Vec<OsString> = words.iter().map(OsString::from).collect();
        parse("update", &UPDATE, &words, false)
    }

    #[test]
    fn every_flag_lands_in_its_section() {
        let (args, operands) = parsed(&[
            "--memory=100M",
            "--memory-swap",
            "-1",
            "--memory-reservation=64K",
            "--kernel-memory-tcp=1M",
            "--cpu-share=512",
            "--cpu-quota=50000",
            "--cpu-period=100000",
            "--cpu-rt-runtime=1000",
            "--cpu-rt-period=10000",
            "--cpuset-cpus=0",
            "--cpuset-mems=0",
            "--pids-limit=20",
            "--blkio-weight=300",
            "-r",
            "-",
            "c1",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(operands, ["c1"]);
        assert_eq!(args.resources.as_deref(), Some("-"));
        let keys: Vec<(&str, &str)> = args.set.iter().map(|(s, k, _)| (*s, *k)).collect();
        assert_eq!(keys.len(), 13);
        assert!(args.set.contains(&("memory", "limit", json!(100 << 20))));
        assert!(args.set.contains(&("memory", "swap", json!(-1))));
        assert!(args.set.contains(&("pids", "limit", json!(20))));
        assert!(args.set.contains(&("cpu", "cpus", json!("0"))));
    }

    #[test]
    fn refused_and_bad_values_are_named() {
        for (words, says) in [
            (&["--kernel-memory=1M", "c"][..], "--kernel-memory"),
            (&["--l3-cache-schema=L3:0=f", "c"], "--l3-cache-schema"),
            (&["--mem-bw-schema=MB:0=50", "c"], "--mem-bw-schema"),
            (&["--memory=lots", "c"], "invalid --memory: 'lots'"),
            (&["--pids-limit=-2", "c"], "invalid --pids-limit: '-2'"),
            (&["--blkio-weight=1001", "c"], "invalid --blkio-weight"),
        ] {
            let err = parsed(words).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(says), "{words:?}: {err}");
        }
    }
}

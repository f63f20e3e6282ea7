//! nsrun: an OCI runtime, the runc command line, on the nstools core.
//!
//! It reads the command line engines pass (global options first, then the
//! command and its options, then the container id) and a bundle's
//! config.json, checked whole before anything is touched. `create`, `start`,
//! `state`, `kill`, `delete`, `exec`, `ps`, `pause` and `resume` act on what
//! create recorded; what nsrun cannot honour is refused by name.

#![cfg_attr(not(test), no_main)]

mod cgroups;
mod commands;
mod config;
mod console;
mod container;
mod dbus;
mod exec;
mod hooks;
mod mounts;
mod systemd;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use common::Error;
use common::cli::{self, Cli, Opt, Parsed};
use common::error::quoted;

common::tool_main!("nsrun", run);

pub(crate) const CLI: Cli = Cli {
    tool: "nsrun",
    synopsis: "nsrun [global options] COMMAND [options] ID",
    help: "\
Usage:
  nsrun [global options] COMMAND [options] ID

An OCI runtime (the command line of runc and crun) on the nstools core, for
podman, containerd and Kubernetes: namespaces (new, joined, user with maps),
cgroups v1, v2 and hybrid (linux.resources, device rules), the config's
mounts, hooks, a terminal, seccomp, capabilities. What it cannot honour is
refused by name before anything is made.

Global options:
      --root=DIR           where containers' state lives (default /run/nsrun;
                           for a user, $XDG_RUNTIME_DIR/nsrun)
      --log=FILE           append errors to FILE too
      --log-format=FORMAT  text or json (one {\"level\",\"msg\",\"time\"} line)
      --debug              trace each step on stderr
      --systemd-cgroup     cgroups as systemd scopes (cgroupsPath slice:prefix:name)
      --criu=PATH          the criu executable (default criu, from PATH)
      --rootless=WHEN      true, false or auto: accepted, as runc takes it
  -h, --help               show this help and exit
  -V, --version            show the version and exit
",
};

#[derive(Debug, Default, PartialEq, Eq)]
struct Global {
    root: Option<PathBuf>,
    log: Option<PathBuf>,
    json: bool,
    debug: bool,
    systemd_cgroup: bool,
    criu: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
struct Invocation {
    global: Global,
    command: String,
    /// The command's own words.
    rest: Vec<OsString>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Invocation>, Error> {
    let mut global = Global::default();
    let words = match cli::parse_options(&CLI, args, |o, parser| take_global(&mut global, o, parser))? {
        Parsed::Run(words) => words,
        Parsed::Help => return Ok(Parsed::Help),
        Parsed::Version => return Ok(Parsed::Version),
    };
    let Some((command, rest)) = words.split_first() else {
        return Err(CLI.usage_error("no command given"));
    };
    let command = command
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| CLI.usage_error(format!("unknown command {}", quoted(command))))?;
    Ok(Parsed::Run(Invocation { global, command, rest: rest.to_vec() }))
}

fn take_global(g: &mut Global, opt: &Opt, parser: &mut lexopt::Parser) -> Result<(), Error> {
    let mut value = || cli::string_value(parser).map_err(|e| CLI.usage_error(e));
    match opt {
        o if o.is(None, "root") => g.root = Some(PathBuf::from(value()?)),
        o if o.is(None, "log") => g.log = Some(PathBuf::from(value()?)),
        o if o.is(None, "log-format") => {
            g.json = match value()?.as_str() {
                "text" => false,
                "json" => true,
                other => return Err(Error::new("invalid log format", quoted(other), "expected text or json")),
            }
        }
        o if o.is(None, "debug") => g.debug = true,
        o if o.is(None, "systemd-cgroup") => g.systemd_cgroup = true,
        o if o.is(None, "criu") => g.criu = Some(PathBuf::from(value()?)),
        // runc's "ignore cgroup permission errors": nsrun decides by what it may do itself.
        o if o.is(None, "rootless") => match value()?.as_str() {
            "true" | "false" | "auto" => {}
            other => return Err(Error::new("invalid --rootless", quoted(other), "expected true, false or auto")),
        },
        other => return Err(CLI.usage_error(other.unexpected())),
    }
    Ok(())
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    // A runtime fails with 1, whatever failed, usage included (engines read the message, not the code).
    let inv = match parse_args(argv.clone()).map_err(|e| e.with_code(1))? {
        Parsed::Run(inv) => inv,
        Parsed::Help => return common::print(&format!("{}\n{}", CLI.help, commands::list())).map(|()| 0),
        Parsed::Version => return common::print(&CLI.version()).map(|()| 0),
    };
    common::trace::enable(inv.global.debug);
    // What enters a container ends in an exec it chooses, which may name our executable
    // again (#!/proc/self/exe): let that be a sealed copy, never the host's file.
    let enters = matches!(inv.command.as_str(), "create" | "run" | "exec");
    let result = if enters { common::exe::run_sealed(&argv).and_then(|()| dispatch(&inv)) } else { dispatch(&inv) };
    if let Err(err) = &result {
        log_error(&inv.global, err);
    }
    // A runtime fails with 1, whatever failed (engines read the message, not the code).
    result.map_err(|e| e.with_code(1))
}

/// The global options that change what a command does, then the command.
fn dispatch(inv: &Invocation) -> Result<i32, Error> {
    let global = commands::Global {
        root: inv.global.root.clone().unwrap_or_else(default_root),
        criu: inv.global.criu.clone().unwrap_or_else(|| PathBuf::from("criu")),
        driver: if inv.global.systemd_cgroup { container::Driver::Systemd } else { container::Driver::Cgroupfs },
    };
    commands::dispatch(&inv.command, &inv.rest, &global)
}

/// Where state lives without --root: /run/nsrun, or for a user (their uid,
/// or root of a user namespace they made, as rootless podman runs us)
/// $XDG_RUNTIME_DIR/nsrun, as runc decides.
fn default_root() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let for_a_user =
        uid != 0 || (common::userns::in_user_namespace() && std::env::var("USER").map_or(true, |u| u != "root"));
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if for_a_user => PathBuf::from(dir).join("nsrun"),
        _ => PathBuf::from("/run/nsrun"),
    }
}

/// The runtime-spec features document: what this nsrun does, and only that
/// (cgroupfs, not systemd; no AppArmor, no SELinux).
pub(crate) fn features() -> serde_json::Value {
    let namespaces: Vec<&str> = common::ns::NAMESPACES.iter().map(|n| n.oci).collect();
    let caps: Vec<String> =
        common::caps::CAPABILITIES.iter().map(|c| format!("CAP_{}", c.to_ascii_uppercase())).collect();
    let native = common::seccomp::Arch::native();
    let filtered = |a: common::seccomp::Arch| native.is_some_and(|n| n == a || n.compat() == Some(a));
    let arch: Vec<&str> = config::ARCHITECTURES.iter().filter(|(_, a)| filtered(*a)).map(|(name, _)| *name).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mounts::OPTIONS.to_vec(),
        "linux": {
            "namespaces": namespaces,
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": false },
            "seccomp": { "enabled": true, "actions": config::SECCOMP_ACTIONS.to_vec(), "operators": config::SECCOMP_OPERATORS.to_vec(), "archs": arch },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": { "nsrun.version": env!("CARGO_PKG_VERSION") },
    })
}

/// Now, as RFC 3339.
pub fn rfc3339_now() -> String {
    rfc3339(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

/// The error again, in the log engines read: one line, or one JSON object.
fn log_error(global: &Global, err: &Error) {
    let Some(path) = &global.log else { return };
    let line = if global.json {
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let object = serde_json::json!({ "level": "error", "msg": err.to_string(), "time": rfc3339(time) });
        format!("{object}\n")
    } else {
        format!("nsrun: {err}\n")
    };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(line.as_bytes());
    }
}

/// Seconds since the epoch as RFC 3339 in UTC, as runc's json log prints its time.
fn rfc3339(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm), for 1970 onwards.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed<Invocation>, Error> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn global_options_come_before_the_command() {
        let Ok(Parsed::Run(inv)) = parse(&[
            "--root",
            "/run/x",
            "--log=/tmp/l",
            "--log-format=json",
            "--criu=/opt/criu",
            "create",
            "--bundle",
            "/b",
            "c1",
        ]) else {
            panic!()
        };
        assert_eq!(
            inv.global,
            Global {
                root: Some("/run/x".into()),
                log: Some("/tmp/l".into()),
                json: true,
                debug: false,
                systemd_cgroup: false,
                criu: Some("/opt/criu".into()),
            }
        );
        assert_eq!(inv.command, "create");
        assert_eq!(inv.rest, ["--bundle", "/b", "c1"]);
        assert!(
            parse(&["--log-format=yaml", "state", "x"])
                .unwrap_err()
                .to_string()
                .starts_with("invalid log format: 'yaml'")
        );
        assert!(parse(&[]).unwrap_err().to_string().starts_with("no command given"));
        assert!(matches!(parse(&["--rootless=auto", "list"]), Ok(Parsed::Run(_))));
        let err = parse(&["--rootless", "maybe", "list"]).unwrap_err().to_string();
        assert!(err.starts_with("invalid --rootless: 'maybe'"), "{err}");
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_169_600), "2026-12-02T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}

//! nsrun: an OCI runtime, the runc command line, on the nstools core.
//!
//! It reads the command line engines pass (global options first, then the
//! command and its options, then the container id) and a bundle's
//! config.json, checked whole before anything is touched. `create`, `start`,
//! `state`, `kill`, `delete`, `exec`, `ps`, `pause` and `resume` act on what
//! create recorded; what nsrun cannot honour is refused by name.

#![cfg_attr(not(test), no_main)]

mod cgroups;
mod config;
mod console;
mod container;
mod exec;
mod hooks;
mod mounts;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use common::Error;
use common::cli::{self, Cli, Opt, Parsed};
use common::error::quoted;

common::tool_main!("nsrun", run);

const CLI: Cli = Cli {
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
      --root=DIR           where containers' state lives (default /run/nsrun)
      --log=FILE           append errors to FILE too
      --log-format=FORMAT  text or json (one {\"level\",\"msg\",\"time\"} line)
      --debug              trace each step on stderr
      --systemd-cgroup     refused: nsrun manages cgroupfs paths itself
  -h, --help               show this help and exit
  -V, --version            show the version and exit

Commands:
  create --bundle=DIR [--pid-file=FILE] [--console-socket=SOCKET] ID
                           build the container, its process held until start
  start ID                 let it run
  state ID                 the OCI state document
  kill [--all] ID [SIGNAL] a signal (default TERM), by name or number
                           (--all: to every process in its cgroup)
  delete [--force] ID      remove a stopped one (--force: end it first)
  exec [--process=FILE] [--detach] [--pid-file=FILE] [--console-socket=SOCKET]
       [--tty] [--env=NAME=VALUE] [--user=UID[:GID]] [--cwd=DIR] [--cap=CAP]
       [--no-new-privs] [--preserve-fds=N] ID [COMMAND...]
                           one more process in a running container
  ps [--format=json] ID    the container's processes (PIDs as ours number them)
  pause ID, resume ID      freeze and thaw all its processes
  run --bundle=DIR [--pid-file=FILE] [--console-socket=SOCKET] ID
                           create, start, wait, delete; exit as the container did
  features                 what this nsrun does (the runtime-spec document)

Exit status: 0, or 1 with one line on stderr (as engines expect of a runtime).
",
};

#[derive(Debug, Default, PartialEq, Eq)]
struct Global {
    root: Option<PathBuf>,
    log: Option<PathBuf>,
    json: bool,
    debug: bool,
    systemd_cgroup: bool,
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
        other => return Err(CLI.usage_error(other.unexpected())),
    }
    Ok(())
}

/// `create`'s options and id.
#[derive(Debug, Default, PartialEq, Eq)]
struct Create {
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    id: String,
}

fn parse_create(words: &[OsString]) -> Result<Create, Error> {
    let mut c = Create::default();
    let mut parser = lexopt::Parser::from_args(words.iter().cloned());
    let mut ids = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| CLI.usage_error(e))? {
        let opt = Opt::from_arg(arg.clone());
        let value = |parser: &mut lexopt::Parser| cli::string_value(parser).map_err(|e| CLI.usage_error(e));
        match &opt {
            o if o.is(Some('b'), "bundle") => c.bundle = Some(PathBuf::from(value(&mut parser)?)),
            o if o.is(None, "pid-file") => c.pid_file = Some(PathBuf::from(value(&mut parser)?)),
            o if o.is(None, "console-socket") => c.console_socket = Some(PathBuf::from(value(&mut parser)?)),
            o if o.is(None, "no-pivot") || o.is(None, "no-new-keyring") => {}
            Opt::Value(v) => ids.push(v.clone()),
            other => return Err(CLI.usage_error(format!("create: {}", other.unexpected()))),
        }
    }
    let [id] = ids.as_slice() else {
        return Err(CLI.usage_error("create takes one container id"));
    };
    c.id = id.to_str().map(str::to_owned).unwrap_or_default();
    check_id(&c.id)?;
    Ok(c)
}

/// An id names a directory under --root: no way out of it, nothing odd.
/// `exec [options] ID [COMMAND...]`: runc's options. The process is the
/// `--process` file's, or the container's own with the command line's
/// changes (-e, -u, --cwd, --cap, --no-new-privs).
fn parse_exec(words: &[OsString], root: &std::path::Path) -> Result<(String, exec::Exec), Error> {
    let mut parser = lexopt::Parser::from_args(words.iter().cloned());
    let mut process_file = None;
    let (mut detach, mut pid_file, mut preserve_fds, mut tty, mut console) = (false, None, 0, false, None);
    let (mut env, mut user, mut cwd, mut caps, mut nnp) = (Vec::new(), None, None, Vec::new(), false);
    let mut rest: Vec<OsString> = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| CLI.usage_error(e))? {
        let opt = Opt::from_arg(arg.clone());
        let value = |parser: &mut lexopt::Parser| cli::string_value(parser).map_err(|e| CLI.usage_error(e));
        match &opt {
            o if o.is(Some('p'), "process") => process_file = Some(PathBuf::from(value(&mut parser)?)),
            o if o.is(Some('d'), "detach") => detach = true,
            o if o.is(None, "pid-file") => pid_file = Some(PathBuf::from(value(&mut parser)?)),
            o if o.is(None, "console-socket") => console = Some(PathBuf::from(value(&mut parser)?)),
            o if o.is(Some('t'), "tty") => tty = true,
            o if o.is(Some('e'), "env") => env.push(value(&mut parser)?),
            o if o.is(Some('u'), "user") => user = Some(value(&mut parser)?),
            o if o.is(None, "cwd") => cwd = Some(value(&mut parser)?),
            o if o.is(Some('c'), "cap") => caps.push(value(&mut parser)?),
            o if o.is(None, "no-new-privs") => nnp = true,
            o if o.is(None, "preserve-fds") => {
                let v = value(&mut parser)?;
                preserve_fds =
                    v.parse().map_err(|_| Error::new("invalid --preserve-fds", quoted(&v), "expected a count"))?;
            }
            o if o.is(None, "process-label") || o.is(None, "apparmor") || o.is(None, "cgroup") => {
                let v = value(&mut parser)?;
                if !v.is_empty() {
                    let name = if let Opt::Long(l) = o { l.as_str() } else { "" };
                    return Err(Error::new(
                        "cannot exec",
                        format!("--{name} {}", quoted(&v)),
                        "not supported by nsrun",
                    ));
                }
            }
            Opt::Value(v) => {
                rest.push(v.clone());
                rest.extend(parser.raw_args().map_err(|e| CLI.usage_error(e))?);
            }
            other => return Err(CLI.usage_error(format!("exec: {}", other.unexpected()))),
        }
    }
    let Some((id, command)) = rest.split_first() else { return Err(CLI.usage_error("exec takes a container id")) };
    let id = id.to_string_lossy().into_owned();
    check_id(&id)?;
    let mut process = match &process_file {
        Some(file) => {
            // Bounded, and never a FIFO or a device: a process file may come from anywhere.
            let bytes = common::read_regular(file, 4 << 20)?;
            let text =
                String::from_utf8(bytes).map_err(|_| Error::new("invalid process", file.display(), "not UTF-8"))?;
            config::parse_process(&text).map_err(|e| Error::new("invalid process", file.display(), e.to_string()))?
        }
        None => {
            let dir = container::dir_of(root, &id);
            let config =
                container::kept_config(&dir).ok_or_else(|| Error::new("", quoted(&id), "no such container"))?;
            let mut p = config.process.unwrap_or_default();
            if command.is_empty() {
                return Err(CLI.usage_error("exec needs a command, or --process FILE"));
            }
            p.args = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            p.terminal = false;
            p
        }
    };
    process.terminal |= tty;
    let console = match (console, process.terminal) {
        (Some(path), true) => Some(console::connect(&path)?),
        (None, true) => return Err(Error::new("cannot exec", "--tty", "a terminal needs --console-socket")),
        (_, false) => None,
    };
    for entry in env {
        if !entry.contains('=') {
            return Err(Error::new("invalid --env", quoted(&entry), "expected NAME=VALUE"));
        }
        let name = entry.split('=').next().unwrap_or_default().to_owned();
        process.env.retain(|e| e.split('=').next() != Some(name.as_str()));
        process.env.push(entry);
    }
    if let Some(u) = user {
        let (uid, gid) = u.split_once(':').unwrap_or((u.as_str(), "0"));
        let bad = || Error::new("invalid --user", quoted(&u), "expected UID[:GID]");
        process.user.uid = uid.parse().map_err(|_| bad())?;
        process.user.gid = gid.parse().map_err(|_| bad())?;
        process.user.additional_gids.clear();
    }
    if let Some(dir) = cwd {
        if !dir.starts_with('/') {
            return Err(Error::new("invalid --cwd", quoted(&dir), "not an absolute path"));
        }
        process.cwd = dir;
    }
    for cap in caps {
        let name = cap.to_ascii_lowercase();
        let name = name.strip_prefix("cap_").unwrap_or(&name);
        let Some(bit) = common::caps::CAPABILITIES.iter().position(|c| *c == name) else {
            return Err(Error::new("invalid --cap", quoted(&cap), "not a capability this kernel table knows"));
        };
        let mut c = process.capabilities.unwrap_or_default();
        for set in [&mut c.bounding, &mut c.effective, &mut c.permitted, &mut c.inheritable] {
            *set |= 1 << bit;
        }
        process.capabilities = Some(c);
    }
    process.no_new_privileges |= nnp;
    container::check_capabilities(&process)?;
    if process.args.is_empty() {
        return Err(CLI.usage_error("exec needs a command, or --process FILE with args"));
    }
    Ok((id, exec::Exec { process, detach, pid_file, preserve_fds, console }))
}

fn check_id(id: &str) -> Result<(), Error> {
    let fine = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if fine { Ok(()) } else { Err(Error::new("invalid container id", quoted(id), "use letters, digits and . _ + -")) }
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    // A runtime fails with 1, whatever failed, usage included (engines read the message, not the code).
    let Some(inv) = CLI.finish(parse_args(argv.clone())).map_err(|e| e.with_code(1))? else {
        return Ok(0);
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

fn dispatch(inv: &Invocation) -> Result<i32, Error> {
    if inv.global.systemd_cgroup {
        return Err(Error::new(
            "",
            "--systemd-cgroup",
            "not supported: nsrun manages cgroupfs paths itself (use cgroup_manager=\"cgroupfs\")",
        ));
    }
    match inv.command.as_str() {
        "create" | "run" => {
            let c = parse_create(&inv.rest)?;
            let bundle = c.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            let path = bundle.join("config.json");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::new("cannot read", path.display(), common::io_reason(&e)))?;
            let config = config::Config::parse(&text)
                .map_err(|e| Error::new("invalid config", path.display(), e.to_string()))?;
            if config.root.is_none() {
                return Err(Error::new("invalid config", path.display(), "root: missing"));
            }
            if config.process.is_none() {
                return Err(Error::new("invalid config", path.display(), "process: missing"));
            }
            common::trace::step(|| config::summary(&config));
            for m in &config.mounts {
                let plan = mounts::plan(&m.options);
                common::trace::step(|| format!("# mount {}: {plan:?}", m.destination));
            }
            let terminal = config.process.as_ref().is_some_and(|p| p.terminal);
            let console = match (&c.console_socket, terminal) {
                (Some(path), true) => Some(console::connect(path)?),
                (None, true) => {
                    return Err(Error::new("invalid config", "process.terminal", "a terminal needs --console-socket"));
                }
                (_, false) => None,
            };
            let files = container::Files { pid_file: c.pid_file.as_deref(), console };
            let root = state_root(&inv.global);
            if inv.command == "run" {
                // create, start, wait (passing signals on), delete: the container's status is ours.
                common::process::block_for_waiting();
            }
            container::create(&root, &c.id, &bundle, files, (&config, &text))?;
            if inv.command == "create" {
                return Ok(0);
            }
            container::run(&container::dir_of(&root, &c.id), &c.id)
        }
        "start" => {
            let id = one_id(&inv.command, &inv.rest)?;
            container::start(&container::dir_of(&state_root(&inv.global), &id), &id).map(|()| 0)
        }
        "state" => {
            let id = one_id(&inv.command, &inv.rest)?;
            let dir = container::dir_of(&state_root(&inv.global), &id);
            let state = container::State::read(&dir, &id)?;
            let text = serde_json::to_string_pretty(&state.document(&dir)).unwrap_or_default();
            common::print(&format!("{text}\n")).map(|()| 0)
        }
        "kill" => {
            let words: Vec<&OsString> = inv.rest.iter().filter(|w| *w != "--all" && *w != "-a").collect();
            let (id, signal) = match words.as_slice() {
                [id] => (id.to_string_lossy().into_owned(), libc::SIGTERM),
                [id, sig] => (id.to_string_lossy().into_owned(), container::parse_signal(&sig.to_string_lossy())?),
                _ => return Err(CLI.usage_error("kill takes an id and a signal")),
            };
            check_id(&id)?;
            let all = inv.rest.iter().any(|w| w == "--all" || w == "-a");
            container::kill(&container::dir_of(&state_root(&inv.global), &id), &id, signal, all).map(|()| 0)
        }
        "delete" => {
            let force = inv.rest.iter().any(|w| w == "--force" || w == "-f");
            let words: Vec<OsString> = inv.rest.iter().filter(|w| *w != "--force" && *w != "-f").cloned().collect();
            let id = one_id(&inv.command, &words)?;
            container::delete(&container::dir_of(&state_root(&inv.global), &id), &id, force).map(|()| 0)
        }
        "features" => {
            let text = serde_json::to_string_pretty(&features()).unwrap_or_default();
            common::print(&format!("{text}\n")).map(|()| 0)
        }
        "ps" => {
            let json = inv.rest.windows(2).any(|w| w[0] == "--format" && w[1] == "json")
                || inv.rest.iter().any(|w| w == "--format=json" || w == "-f=json");
            let words: Vec<OsString> = inv
                .rest
                .iter()
                .filter(|w| !w.to_string_lossy().starts_with('-') && *w != "json" && *w != "table")
                .cloned()
                .collect();
            let id = one_id(&inv.command, &words)?;
            let pids = container::processes(&container::dir_of(&state_root(&inv.global), &id), &id)?;
            let text = if json {
                format!("{}\n", serde_json::json!(pids))
            } else {
                std::iter::once("PID".to_owned()).chain(pids.iter().map(i32::to_string)).map(|l| l + "\n").collect()
            };
            common::print(&text).map(|()| 0)
        }
        "pause" | "resume" => {
            let id = one_id(&inv.command, &inv.rest)?;
            let dir = container::dir_of(&state_root(&inv.global), &id);
            container::freeze(&dir, &id, inv.command == "pause").map(|()| 0)
        }
        "exec" => {
            let (id, e) = parse_exec(&inv.rest, &state_root(&inv.global))?;
            let dir = container::dir_of(&state_root(&inv.global), &id);
            let config =
                container::kept_config(&dir).ok_or_else(|| Error::new("", quoted(&id), "no such container"))?;
            exec::exec(&dir, &id, &config, &e)
        }
        "update" | "events" | "checkpoint" | "restore" | "list" | "spec" => {
            Err(Error::new(format!("cannot {}", inv.command), "", "not built yet in this version of nsrun"))
        }
        other => Err(CLI.usage_error(format!("unknown command {}", quoted(other)))),
    }
}

/// The runtime-spec features document: what this nsrun does, and only that
/// (cgroupfs, not systemd; no AppArmor, no SELinux).
fn features() -> serde_json::Value {
    let namespaces = ["pid", "network", "mount", "ipc", "uts", "cgroup", "time", "user"];
    let caps: Vec<String> =
        common::caps::CAPABILITIES.iter().map(|c| format!("CAP_{}", c.to_ascii_uppercase())).collect();
    let arch = match common::seccomp::Arch::native() {
        Some(common::seccomp::Arch::X86_64) => vec!["SCMP_ARCH_X86_64"],
        Some(common::seccomp::Arch::Aarch64) => vec!["SCMP_ARCH_AARCH64"],
        None => vec![],
    };
    let actions: Vec<&str> = config::SECCOMP_ACTIONS.iter().copied().filter(|a| *a != "SCMP_ACT_NOTIFY").collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mounts::OPTIONS.to_vec(),
        "linux": {
            "namespaces": namespaces,
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": { "enabled": true, "actions": actions, "operators": config::SECCOMP_OPERATORS.to_vec(), "archs": arch },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": { "nsrun.version": env!("CARGO_PKG_VERSION") },
    })
}

fn state_root(global: &Global) -> PathBuf {
    global.root.clone().unwrap_or_else(|| PathBuf::from("/run/nsrun"))
}

/// A command's one word: the container id.
fn one_id(command: &str, words: &[OsString]) -> Result<String, Error> {
    let [id] = words else { return Err(CLI.usage_error(format!("{command} takes one container id"))) };
    let id = id.to_string_lossy().into_owned();
    check_id(&id)?;
    Ok(id)
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
        let Ok(Parsed::Run(inv)) =
            parse(&["--root", "/run/x", "--log=/tmp/l", "--log-format=json", "create", "--bundle", "/b", "c1"])
        else {
            panic!()
        };
        assert_eq!(
            inv.global,
            Global {
                root: Some("/run/x".into()),
                log: Some("/tmp/l".into()),
                json: true,
                debug: false,
                systemd_cgroup: false
            }
        );
        assert_eq!(inv.command, "create");
        let c = parse_create(&inv.rest).unwrap();
        assert_eq!((c.bundle, c.id), (Some(PathBuf::from("/b")), "c1".to_owned()));
        assert!(
            parse(&["--log-format=yaml", "state", "x"])
                .unwrap_err()
                .to_string()
                .starts_with("invalid log format: 'yaml'")
        );
        assert!(parse(&[]).unwrap_err().to_string().starts_with("no command given"));
    }

    #[test]
    fn ids_cannot_leave_the_state_directory() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\n"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        for good in ["c1", "libpod-f3c56f71455fb310", "a.b_c+d-e"] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        let words: Vec<OsString> = ["--bundle", "/b", "one", "two"].iter().map(OsString::from).collect();
        assert!(parse_create(&words).unwrap_err().to_string().starts_with("create takes one container id"));
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_169_600), "2026-12-02T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    /// The configs real engines passed (../shared/oci/configs), parsed: what was understood.
    #[test]
    fn golden_parses_of_engine_configs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        for name in ["ctr-run", "podman-run", "podman-run-options"] {
            let text = std::fs::read_to_string(dir.join(format!("configs/{name}.json"))).unwrap();
            let config = config::Config::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let golden = std::fs::read_to_string(dir.join(format!("golden/{name}.txt"))).unwrap_or_default();
            let got = config::summary(&config);
            if std::env::var_os("NSRUN_BLESS").is_some() {
                std::fs::write(dir.join(format!("golden/{name}.txt")), &got).unwrap();
                continue;
            }
            assert_eq!(got, golden, "{name}: run with NSRUN_BLESS=1 to see the difference as a diff");
        }
    }

    /// Broken variants of a real config, each refused with the field at fault.
    #[test]
    fn broken_configs_name_the_field() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let text = std::fs::read_to_string(dir.join("configs/ctr-run.json")).unwrap();
        let base: serde_json::Value = serde_json::from_str(&text).unwrap();
        let with = |pointer: &str, value: serde_json::Value| {
            let mut v = base.clone();
            // The field, set or added to its parent object.
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match v.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}")) {
                serde_json::Value::Object(o) => drop(o.insert(key.to_owned(), value)),
                other => *other.pointer_mut(&format!("/{key}")).unwrap_or_else(|| panic!("{pointer}")) = value,
            }
            config::Config::parse(&v.to_string()).unwrap_err().to_string()
        };
        use serde_json::json;
        for (pointer, value, want) in [
            ("/ociVersion", json!("2.0.0"), "ociVersion: '2.0.0' is not a 1.x version"),
            ("/process/args", json!([]), "process.args: missing or empty"),
            ("/process/args", json!("sh"), "process.args: expected an array"),
            ("/process/args/0", json!(7), "process.args[0]: expected a string"),
            ("/process/cwd", json!("tmp"), "process.cwd: 'tmp' is not an absolute path"),
            ("/process/env/0", json!("PATH"), "process.env[0]: 'PATH' is not NAME=VALUE"),
            ("/process/user/uid", json!(-1), "process.user.uid: -1 is out of range"),
            (
                "/process/capabilities/bounding/0",
                json!("CAP_FLY"),
                "process.capabilities.bounding[0]: 'CAP_FLY' is no capability",
            ),
            ("/process/rlimits/0/type", json!("RLIMIT_FOO"), "process.rlimits[0].type: 'RLIMIT_FOO' is no RLIMIT_*"),
            ("/process/rlimits/0/soft", json!(4096), "process.rlimits[0]: soft 4096 is above hard 1024"),
            ("/root/path", json!(""), "root.path: missing or empty"),
            ("/mounts/0/destination", json!("proc"), "mounts[0].destination: 'proc' is not an absolute path"),
            ("/linux/namespaces/0/type", json!("pidx"), "linux.namespaces[0].type: 'pidx' is no namespace type"),
            ("/linux/namespaces/1/type", json!("pid"), "linux.namespaces[1].type: 'pid' is listed twice"),
            (
                "/linux/resources/devices/1/access",
                json!("rwx"),
                "linux.resources.devices[1].access: 'rwx' is not made of r, w and m",
            ),
            ("/linux/resources/devices/1/type", json!("x"), "linux.resources.devices[1].type: 'x' is not one of acb"),
            ("/linux/resources/cpu/shares", json!("lots"), "linux.resources.cpu.shares: expected a number"),
            ("/linux/maskedPaths", json!({}), "linux.maskedPaths: expected an array"),
            ("/linux/resources/cpu/shares", json!(-3), "linux.resources.cpu.shares: expected a whole number"),
            ("/linux/resources/cpu", json!({"period": 5}), "linux.resources.cpu.period: out of range"),
            (
                "/linux/resources/memory",
                json!({"limit": 100, "swap": 50}),
                "linux.resources.memory.swap: 50 is below the limit 100",
            ),
            (
                "/linux/resources/memory",
                json!({"swappiness": 101}),
                "linux.resources.memory.swappiness: 101 is out of range",
            ),
            ("/linux/resources/cpu", json!({"cpus": "0-x"}), "linux.resources.cpu.cpus: expected a list such as 0-1,3"),
            ("/linux/resources/pids", json!({"limit": "many"}), "linux.resources.pids.limit: expected a number"),
            ("/linux/resources/devices", json!({}), "linux.resources.devices: expected an array"),
            (
                "/linux/resources/cpu",
                json!({"shares": 2, "realtimeRuntime": "x"}),
                "linux.resources.cpu.realtimeRuntime: expected a number",
            ),
            (
                "/linux/resources/blockIO",
                json!({"weightDevice": []}),
                "linux.resources.blockIO.weightDevice: is not built yet",
            ),
            (
                "/linux/resources/hugepageLimits",
                json!([{"pageSize": "2XB", "limit": 1}]),
                "linux.resources.hugepageLimits[0].pageSize: '2XB' is not a page size",
            ),
        ] {
            let got = with(pointer, value);
            assert!(got.starts_with(want), "{pointer}: {got}");
        }
        // A process outside the container moved in, or a cgroup killed, through `unified`: refused.
        for file in ["cgroup.procs", "cgroup.threads", "cgroup.kill"] {
            let mut v = base.clone();
            v["linux"]["resources"]["unified"] = json!({ file: "1" });
            let got = config::Config::parse(&v.to_string()).unwrap_err().to_string();
            assert!(got.starts_with(&format!("linux.resources.unified.{file}: not a limit")), "{got}");
        }
        // Rules across sections.
        let mut v = base.clone();
        v["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
        assert!(
            config::Config::parse(&v.to_string())
                .unwrap_err()
                .to_string()
                .starts_with("linux.uidMappings: id mappings need a user namespace")
        );
        let mut v = base.clone();
        v["linux"]["sysctl"] = json!({ "kernel.panic": "1" });
        assert!(config::Config::parse(&v.to_string()).unwrap_err().to_string().contains("not a namespaced sysctl"));
        assert!(config::Config::parse("{").unwrap_err().to_string().starts_with("config.json: not JSON"));
        assert!(config::Config::parse("[]").unwrap_err().to_string().starts_with("config.json: expected an object"));
    }

    /// podman's own profile, compiled by common's compiler, decides as podman means it.
    #[test]
    fn podmans_seccomp_profile_compiles_and_decides() {
        use common::seccomp::{Arch, audit_arch, compile, evaluate, number_of};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let text = std::fs::read_to_string(dir.join("configs/podman-run.json")).unwrap();
        let config = config::Config::parse(&text).unwrap();
        let profile = config.linux.seccomp.as_ref().unwrap().profile().unwrap();
        let arch = Arch::native().unwrap();
        let program = compile(&profile, arch).unwrap();
        assert!(program.len() < 4096, "{} instructions", program.len());
        let at = |name: &str, args: [u64; 6]| {
            evaluate(&program, audit_arch(arch), number_of(arch, name).unwrap(), args).unwrap()
        };
        let allow = 0x7fff_0000;
        assert_eq!(at("read", [0; 6]), allow);
        assert_eq!(at("execve", [0; 6]), allow);
        // Named with errnoRet 1: EPERM.
        assert_eq!(at("kexec_load", [0; 6]), 0x0005_0000 | 1);
        // Named nowhere: the default, ENOSYS (defaultErrnoRet 38).
        let listed: Vec<&str> = profile.rules.iter().flat_map(|r| r.names.iter().map(String::as_str)).collect();
        let unlisted = ["read", "write"]
            .iter()
            .chain(["uselib", "nfsservctl", "vserver", "afs_syscall", "tuxcall"].iter())
            .find(|n| !listed.contains(n) && number_of(arch, n).is_some())
            .expect("a call podman does not name");
        assert_eq!(at(unlisted, [0; 6]), 0x0005_0000 | 38, "{unlisted}");
        // Argument rules: personality only with the listed values; an audit
        // netlink socket (AF_NETLINK 16, NETLINK_AUDIT 9) gets EINVAL, other sockets go through.
        assert_eq!(at("personality", [0x8, 0, 0, 0, 0, 0]), allow);
        assert_eq!(at("personality", [0x40_0000, 0, 0, 0, 0, 0]), 0x0005_0000 | 38);
        assert_eq!(at("socket", [16, 3, 9, 0, 0, 0]), 0x0005_0000 | 22);
        assert_eq!(at("socket", [16, 3, 0, 0, 0, 0]), allow);
        assert_eq!(at("socket", [2, 1, 6, 0, 0, 0]), allow);
    }

    #[test]
    fn fuzz_configs_never_panic() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let text = std::fs::read_to_string(dir.join("configs/podman-run-options.json")).unwrap();
        let mut rng = common::fuzz::Rng::new(0x0c1);
        let bytes = text.as_bytes();
        for _ in 0..3000 {
            let mut mutated = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(mutated.len());
                let junk = b"{}[]\",:0-9ae \x00";
                mutated[at] = junk[rng.below(junk.len())];
            }
            let _ = config::Config::parse(&String::from_utf8_lossy(&mutated));
        }
    }
}

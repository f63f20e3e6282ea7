//! `exec [options] ID [COMMAND...]`: runc's options. The process is the
//! `--process` file's, or the container's own with the command line's
//! changes (--env, --user, --cwd, --cap, --no-new-privs).

use std::ffi::OsString;
use std::path::PathBuf;

use common::Error;
use common::cli::Flag;
use common::error::quoted;

use super::{Global, dir, id_of, parse, path};
use crate::config::Process;
use crate::{CLI, config, container};

#[derive(Debug, Default)]
pub struct ExecArgs {
    process: Option<PathBuf>,
    detach: bool,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    tty: bool,
    env: Vec<String>,
    user: Option<String>,
    cwd: Option<String>,
    caps: Vec<String>,
    no_new_privs: bool,
    preserve_fds: u32,
    additional_gids: Vec<u32>,
    ignore_paused: bool,
    sub_cgroup: Option<crate::exec::SubCgroup>,
}

const fn flag(
    short: Option<char>,
    long: &'static str,
    value: Option<&'static str>,
    help: &'static str,
    set: fn(&mut ExecArgs, &str) -> Result<(), Error>,
) -> (&'static str, Flag<ExecArgs>) {
    ("", Flag { short, long, value, help, set })
}

/// What runc's exec takes that nsrun cannot give, refused by name when it asks for something.
fn unsupported(long: &str, v: &str) -> Result<(), Error> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(Error::new("cannot exec", format!("--{long} {}", quoted(v)), "not supported by nsrun"))
    }
}

pub const EXEC: [(&str, Flag<ExecArgs>); 16] = [
    flag(Some('p'), "process", Some("FILE"), "the process, as config.json's process", |a, v| {
        a.process = path(v);
        Ok(())
    }),
    flag(Some('d'), "detach", None, "do not wait for it", |a, _| {
        a.detach = true;
        Ok(())
    }),
    flag(None, "pid-file", Some("FILE"), "write its PID there", |a, v| {
        a.pid_file = path(v);
        Ok(())
    }),
    flag(None, "console-socket", Some("SOCKET"), "send its pty's master there", |a, v| {
        a.console_socket = path(v);
        Ok(())
    }),
    flag(Some('t'), "tty", None, "a terminal (relayed by nsrun without --console-socket)", |a, _| {
        a.tty = true;
        Ok(())
    }),
    flag(Some('e'), "env", Some("NAME=VALUE"), "set a variable", |a, v| {
        if !v.contains('=') {
            return Err(Error::new("invalid --env", quoted(v), "expected NAME=VALUE"));
        }
        a.env.push(v.to_owned());
        Ok(())
    }),
    flag(Some('u'), "user", Some("UID[:GID]"), "run as", |a, v| {
        a.user = Some(v.to_owned());
        Ok(())
    }),
    flag(Some('g'), "additional-gids", Some("GID"), "one more group (again for more)", |a, v| {
        let gid = v.parse().map_err(|_| Error::new("invalid --additional-gids", quoted(v), "expected a group id"))?;
        a.additional_gids.push(gid);
        Ok(())
    }),
    flag(None, "cwd", Some("DIR"), "working directory", |a, v| {
        if !v.starts_with('/') {
            return Err(Error::new("invalid --cwd", quoted(v), "not an absolute path"));
        }
        a.cwd = Some(v.to_owned());
        Ok(())
    }),
    flag(Some('c'), "cap", Some("CAP"), "one more capability", |a, v| {
        a.caps.push(v.to_owned());
        Ok(())
    }),
    flag(None, "no-new-privs", None, "set no_new_privs", |a, _| {
        a.no_new_privs = true;
        Ok(())
    }),
    flag(None, "preserve-fds", Some("N"), "pass descriptors 3 to 2+N on", |a, v| {
        a.preserve_fds = super::count(v, "--preserve-fds")?;
        Ok(())
    }),
    flag(None, "ignore-paused", None, "exec into a paused container too", |a, _| {
        a.ignore_paused = true;
        Ok(())
    }),
    flag(None, "cgroup", Some("[CTRL:]PATH"), "join PATH below the container's cgroup", |a, v| {
        a.sub_cgroup = Some(sub_cgroup(v)?);
        Ok(())
    }),
    flag(None, "process-label", Some("LABEL"), "refused: no SELinux here", |_, v| unsupported("process-label", v)),
    flag(None, "apparmor", Some("PROFILE"), "refused: no AppArmor here", |_, v| unsupported("apparmor", v)),
];

/// `--cgroup [CONTROLLER:]PATH`: a relative path that stays below the container's cgroup.
fn sub_cgroup(v: &str) -> Result<crate::exec::SubCgroup, Error> {
    let (controller, path) = match v.split_once(':') {
        Some((c, p)) => (Some(c.to_owned()), p),
        None => (None, v),
    };
    let bad = || Error::new("invalid --cgroup", quoted(v), "expected [CONTROLLER:]PATH below the container's cgroup");
    let relative = std::path::Path::new(path.trim_start_matches('/'));
    let within = relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if path.is_empty() || !within || controller.as_deref().is_some_and(|c| c.is_empty() || c.contains(',')) {
        return Err(bad());
    }
    Ok(crate::exec::SubCgroup { controller, path: relative.to_path_buf() })
}

pub fn exec(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((args, operands)) = parse("exec", &EXEC, words, true)? else { return Ok(0) };
    let Some((id, command)) = operands.split_first() else { return Err(CLI.usage_error("exec takes a container id")) };
    let id = id_of(id)?;
    let dir = dir(global, &id);
    let process = process(&args, &dir, &id, command)?;
    let (console, relay) = super::create::console_for(process.terminal, args.console_socket.as_deref(), !args.detach)?;
    let config = container::kept_config(&dir).ok_or_else(|| Error::new("", quoted(&id), container::DOES_NOT_EXIST))?;
    let e = crate::exec::Exec {
        process,
        detach: args.detach,
        pid_file: args.pid_file,
        preserve_fds: args.preserve_fds.saturating_add(container::listen_fds()),
        console,
        relay,
        ignore_paused: args.ignore_paused,
        sub_cgroup: args.sub_cgroup,
        agent: super::create::agent(&config)?,
    };
    crate::exec::exec(&dir, &id, &config, e)
}

/// The process to run: the --process file's, or the container's own running `command`,
/// with the command line's changes.
fn process(args: &ExecArgs, dir: &std::path::Path, id: &str, command: &[OsString]) -> Result<Process, Error> {
    let mut process = match &args.process {
        Some(file) => {
            // Bounded, and never a FIFO or a device: a process file may come from anywhere.
            let bytes = common::read_regular(file, 4 << 20)?;
            let text =
                String::from_utf8(bytes).map_err(|_| Error::new("invalid process", file.display(), "not UTF-8"))?;
            config::parse_process(&text).map_err(|e| Error::new("invalid process", file.display(), e.to_string()))?
        }
        None => {
            let config =
                container::kept_config(dir).ok_or_else(|| Error::new("", quoted(id), container::DOES_NOT_EXIST))?;
            if command.is_empty() {
                return Err(CLI.usage_error("exec needs a command, or --process FILE"));
            }
            let mut p = config.process;
            p.args = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            p.terminal = false;
            p
        }
    };
    process.terminal |= args.tty;
    for entry in &args.env {
        let name = entry.split('=').next().unwrap_or_default();
        process.env.retain(|e| e.split('=').next() != Some(name));
        process.env.push(entry.clone());
    }
    if let Some(u) = &args.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u.as_str(), "0"));
        let bad = || Error::new("invalid --user", quoted(u), "expected UID[:GID]");
        process.user.uid = uid.parse().map_err(|_| bad())?;
        process.user.gid = gid.parse().map_err(|_| bad())?;
        process.user.additional_gids.clear();
    }
    process.user.additional_gids.extend(&args.additional_gids);
    if let Some(dir) = &args.cwd {
        process.cwd = dir.clone();
    }
    add_capabilities(&mut process, &args.caps)?;
    process.no_new_privileges |= args.no_new_privs;
    container::check_capabilities(&process)?;
    container::refuse_what_a_user_may_not(&process)?;
    if process.args.is_empty() {
        return Err(CLI.usage_error("exec needs a command, or --process FILE with args"));
    }
    Ok(process)
}

/// --cap: each in every set but ambient.
fn add_capabilities(process: &mut Process, caps: &[String]) -> Result<(), Error> {
    for cap in caps {
        let Some(bit) = common::caps::bit_by_name(cap) else {
            return Err(Error::new("invalid --cap", quoted(cap), "not a capability this kernel table knows"));
        };
        let mut c = process.capabilities.unwrap_or_default();
        for set in [&mut c.bounding, &mut c.effective, &mut c.permitted, &mut c.inheritable] {
            *set |= bit;
        }
        process.capabilities = Some(c);
    }
    Ok(())
}

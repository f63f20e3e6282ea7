//! `checkpoint [options] ID` and `restore [options] ID`, through CRIU, with
//! runc's flags; those nsrun does not carry out are refused by name.

use std::ffi::OsString;
use std::path::PathBuf;

use common::Error;
use common::cli::Flag;

use super::{Global, dir, one_id, parse, path};
use crate::{config, container};

#[derive(Debug, Default)]
pub struct CriuArgs {
    image_path: Option<PathBuf>,
    work_path: Option<PathBuf>,
    parent_path: Option<PathBuf>,
    /// Passed to criu as they are.
    switches: Vec<OsString>,
    cgroups_mode: Option<&'static str>,
    leave_running: bool,
    pre_dump: bool,
    bundle: Option<PathBuf>,
    detach: bool,
    pid_file: Option<PathBuf>,
}

const fn flag(
    short: Option<char>,
    long: &'static str,
    value: Option<&'static str>,
    help: &'static str,
    set: fn(&mut CriuArgs, &str) -> Result<(), Error>,
) -> (&'static str, Flag<CriuArgs>) {
    ("", Flag { short, long, value, help, set })
}

fn refused(option: &str, why: &str) -> Result<(), Error> {
    Err(Error::new("", option, format!("not supported: {why}")))
}

const IMAGE_PATH: (&str, Flag<CriuArgs>) =
    flag(None, "image-path", Some("DIR"), "the images (default ./checkpoint)", |a, v| {
        a.image_path = path(v);
        Ok(())
    });
const WORK_PATH: (&str, Flag<CriuArgs>) =
    flag(None, "work-path", Some("DIR"), "criu's logs and scratch files (default: the images)", |a, v| {
        a.work_path = path(v);
        Ok(())
    });
const TCP_ESTABLISHED: (&str, Flag<CriuArgs>) =
    flag(None, "tcp-established", None, "established TCP connections too", |a, _| {
        a.switches.push("--tcp-established".into());
        Ok(())
    });
const EXT_UNIX_SK: (&str, Flag<CriuArgs>) = flag(None, "ext-unix-sk", None, "external unix sockets too", |a, _| {
    a.switches.push("--ext-unix-sk".into());
    Ok(())
});
const SHELL_JOB: (&str, Flag<CriuArgs>) = flag(None, "shell-job", None, "a shell job (criu's --shell-job)", |a, _| {
    a.switches.push("--shell-job".into());
    Ok(())
});
const FILE_LOCKS: (&str, Flag<CriuArgs>) = flag(None, "file-locks", None, "file locks too", |a, _| {
    a.switches.push("--file-locks".into());
    Ok(())
});
const AUTO_DEDUP: (&str, Flag<CriuArgs>) =
    flag(None, "auto-dedup", None, "deduplicate the pages of earlier images", |a, _| {
        a.switches.push("--auto-dedup".into());
        Ok(())
    });
const MANAGE_CGROUPS_MODE: (&str, Flag<CriuArgs>) =
    flag(None, "manage-cgroups-mode", Some("MODE"), "soft (default), full, strict or ignore", |a, v| {
        a.cgroups_mode = Some(cgroups_mode(v)?);
        Ok(())
    });
const LAZY_PAGES: (&str, Flag<CriuArgs>) = flag(None, "lazy-pages", None, "refused: no lazy-pages daemon", |_, _| {
    refused("--lazy-pages", "nsrun runs no criu lazy-pages daemon")
});
const EMPTY_NS: (&str, Flag<CriuArgs>) =
    flag(None, "empty-ns", Some("NS"), "refused: every namespace is restored whole", |_, _| {
        refused("--empty-ns", "nsrun restores every namespace of the container whole")
    });

pub const CHECKPOINT: [(&str, Flag<CriuArgs>); 15] = [
    IMAGE_PATH,
    WORK_PATH,
    flag(None, "parent-path", Some("DIR"), "a pre-dump's images, relative to the images", |a, v| {
        a.parent_path = path(v);
        Ok(())
    }),
    flag(None, "leave-running", None, "leave it running after the checkpoint", |a, _| {
        a.leave_running = true;
        Ok(())
    }),
    flag(None, "pre-dump", None, "only its memory, left running (for --parent-path)", |a, _| {
        a.pre_dump = true;
        Ok(())
    }),
    TCP_ESTABLISHED,
    EXT_UNIX_SK,
    SHELL_JOB,
    FILE_LOCKS,
    AUTO_DEDUP,
    MANAGE_CGROUPS_MODE,
    LAZY_PAGES,
    flag(None, "page-server", Some("ADDR"), "refused: the images are written here", |_, _| {
        refused("--page-server", "nsrun writes the images to --image-path")
    }),
    flag(None, "status-fd", Some("FD"), "refused: for --lazy-pages", |_, _| {
        refused("--status-fd", "it serves --lazy-pages, which nsrun does not run")
    }),
    EMPTY_NS,
];

pub const RESTORE: [(&str, Flag<CriuArgs>); 18] = [
    flag(Some('b'), "bundle", Some("DIR"), "the bundle (config.json and the root); default .", |a, v| {
        a.bundle = path(v);
        Ok(())
    }),
    IMAGE_PATH,
    WORK_PATH,
    flag(Some('d'), "detach", None, "return once it runs", |a, _| {
        a.detach = true;
        Ok(())
    }),
    flag(None, "pid-file", Some("FILE"), "write the process's PID there", |a, v| {
        a.pid_file = path(v);
        Ok(())
    }),
    TCP_ESTABLISHED,
    EXT_UNIX_SK,
    SHELL_JOB,
    FILE_LOCKS,
    AUTO_DEDUP,
    MANAGE_CGROUPS_MODE,
    flag(None, "no-subreaper", None, "accepted: nsrun makes itself no subreaper", |_, _| Ok(())),
    flag(None, "no-pivot", None, "refused: a chroot can be left", |_, _| {
        refused("--no-pivot", "a root made by chroot can be left, criu restores with pivot_root")
    }),
    flag(None, "console-socket", Some("SOCKET"), "refused: a terminal is not checkpointed", |_, _| {
        refused("--console-socket", "nsrun does not checkpoint a container with a terminal")
    }),
    LAZY_PAGES,
    EMPTY_NS,
    flag(None, "lsm-profile", Some("TYPE:NAME"), "refused: no AppArmor or SELinux", |_, _| {
        refused("--lsm-profile", "nsrun applies no AppArmor or SELinux profile")
    }),
    flag(None, "lsm-mount-context", Some("CONTEXT"), "refused: no SELinux", |_, _| {
        refused("--lsm-mount-context", "nsrun applies no SELinux mount context")
    }),
];

fn cgroups_mode(value: &str) -> Result<&'static str, Error> {
    ["soft", "full", "strict", "ignore"].into_iter().find(|m| *m == value).ok_or_else(|| {
        Error::new(
            "invalid --manage-cgroups-mode",
            common::error::quoted(value),
            "expected soft, full, strict or ignore",
        )
    })
}

/// What criu is told, whichever way: the images relative to our working directory, as runc takes them.
fn criu(global: &Global, args: &mut CriuArgs) -> Result<container::Criu, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    common::exec::runnable(global.criu.as_os_str(), &path).map_err(|e| {
        let why = if e == nix::errno::Errno::ENOENT { "not found (install criu, or give --criu)" } else { e.desc() };
        Error::new("cannot run", common::error::quoted(global.criu.display().to_string()), why)
    })?;
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new("cannot read", "the working directory", common::io_reason(&e)))?;
    let images = cwd.join(args.image_path.take().unwrap_or_else(|| PathBuf::from("checkpoint")));
    let mut switches = std::mem::take(&mut args.switches);
    if args.pre_dump || args.parent_path.is_some() {
        // Which pages changed since the pre-dump: the kernel's soft-dirty bits.
        switches.push("--track-mem".into());
    }
    if let Some(parent) = &args.parent_path {
        switches.extend(["--prev-images-dir".into(), parent.clone().into_os_string()]);
    }
    switches.extend(container::network_lock(&path).into_iter().flatten().map(OsString::from));
    Ok(container::Criu {
        program: global.criu.clone(),
        images,
        work: args.work_path.take().map(|w| cwd.join(w)),
        switches,
        cgroups_mode: args.cgroups_mode.unwrap_or("soft"),
    })
}

pub fn checkpoint(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((mut args, operands)) = parse("checkpoint", &CHECKPOINT, words, false)? else { return Ok(0) };
    let id = one_id("checkpoint", &operands)?;
    let criu = criu(global, &mut args)?;
    let dump = container::Dump { leave_running: args.leave_running, pre_dump: args.pre_dump };
    container::checkpoint(&dir(global, &id), &id, &criu, dump).map(|()| 0)
}

pub fn restore(words: &[OsString], global: &Global) -> Result<i32, Error> {
    let Some((mut args, operands)) = parse("restore", &RESTORE, words, false)? else { return Ok(0) };
    let id = one_id("restore", &operands)?;
    if global.driver == container::Driver::Systemd {
        return Err(Error::new("cannot restore", "--systemd-cgroup", "not built yet: restore makes cgroupfs cgroups"));
    }
    let criu = criu(global, &mut args)?;
    let bundle = args.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    let path = bundle.join("config.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| Error::new("cannot read", path.display(), common::io_reason(&e)))?;
    let config =
        config::Config::parse(&text).map_err(|e| Error::new("invalid config", path.display(), e.to_string()))?;
    if !args.detach {
        // As run: wait for it, passing signals on; its status is ours.
        common::process::block_for_waiting();
    }
    let pid = container::restore(&global.root, &id, &bundle, &criu, (&config, &text))?;
    if let Some(file) = &args.pid_file {
        common::ReplacedFile::at(file)?.write(pid.to_string().as_bytes())?;
    }
    if args.detach {
        return Ok(0);
    }
    let status = common::process::wait_forwarding_every(pid);
    container::delete(&dir(global, &id), &id, true)?;
    Ok(common::process::mirror(status?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn checkpoint_takes_runcs_flags_and_refuses_what_it_does_not_do_by_name() {
        let w = words(&[
            "--image-path",
            "/i",
            "--work-path=/w",
            "--leave-running",
            "--tcp-established",
            "--file-locks",
            "c1",
        ]);
        let (args, operands) = parse("checkpoint", &CHECKPOINT, &w, false).unwrap().unwrap();
        assert_eq!((args.image_path, args.work_path, operands), (path("/i"), path("/w"), words(&["c1"])));
        assert!(args.leave_running && !args.pre_dump);
        assert_eq!(args.switches, words(&["--tcp-established", "--file-locks"]));
        for (refused, value) in
            [("--lazy-pages", None), ("--page-server", Some("h:1")), ("--empty-ns", Some("network"))]
        {
            let mut w = words(&[refused]);
            w.extend(value.map(OsString::from));
            w.push("c1".into());
            let err = parse("checkpoint", &CHECKPOINT, &w, false).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{refused}: not supported")), "{err}");
        }
        let err = parse("checkpoint", &CHECKPOINT, &words(&["--manage-cgroups-mode", "all", "c1"]), false);
        assert!(err.unwrap_err().to_string().contains("'all'"));
    }

    #[test]
    fn restore_takes_a_bundle_and_detaches() {
        let w =
            words(&["-d", "-b", "/b", "--pid-file", "/p", "--manage-cgroups-mode", "ignore", "--no-subreaper", "c1"]);
        let (args, _) = parse("restore", &RESTORE, &w, false).unwrap().unwrap();
        assert!(args.detach);
        assert_eq!((args.bundle, args.pid_file, args.cgroups_mode), (path("/b"), path("/p"), Some("ignore")));
        let err = parse("restore", &RESTORE, &words(&["--console-socket", "/s", "c1"]), false).unwrap_err();
        assert!(err.to_string().starts_with("--console-socket: not supported"), "{err}");
        let err = parse("restore", &RESTORE, &words(&["--leave-running", "c1"]), false).unwrap_err();
        assert!(err.to_string().starts_with("restore: invalid option"), "{err}");
    }

    #[test]
    fn a_pre_dump_and_its_parent_track_memory() {
        let global = Global { root: "/run/x".into(), criu: "/bin/sh".into(), driver: container::Driver::Cgroupfs };
        let mut args = CriuArgs { pre_dump: true, ..CriuArgs::default() };
        let c = criu(&global, &mut args).unwrap();
        assert!(c.switches.starts_with(&words(&["--track-mem"])), "{:?}", c.switches);
        assert!(c.images.is_absolute() && c.images.ends_with("checkpoint"));
        let mut args = CriuArgs { parent_path: path("../pre"), ..CriuArgs::default() };
        let c = criu(&global, &mut args).unwrap();
        assert!(c.switches.starts_with(&words(&["--track-mem", "--prev-images-dir", "../pre"])), "{:?}", c.switches);
        assert_eq!(c.cgroups_mode, "soft");
        let missing =
            Global { root: "/run/x".into(), criu: "/nonexistent/criu".into(), driver: container::Driver::Cgroupfs };
        let err = criu(&missing, &mut CriuArgs::default()).unwrap_err().to_string();
        assert_eq!(err, "cannot run: '/nonexistent/criu': not found (install criu, or give --criu)");
    }
}

//! The system calls that make new namespaces usable: propagation, names,
//! loopback, clock offsets, id maps, pins, /proc. Each failure says what
//! failed, on what, and what the user can do about it.

use std::ffi::{CString, OsStr};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};

use crate::error::Error;
use crate::spec::{IdMap, MapPlan, MapWriter, Propagation, Setgroups, map_text};

/// Print a step as a shell-like trace on stderr (`-v`).
pub fn trace(enabled: bool, step: impl FnOnce() -> String) {
    if enabled {
        let _ = writeln!(std::io::stderr().lock(), "+ {}", step());
    }
}

/// A command line as a shell would read it back, for traces.
pub fn shell_words(argv: &[std::ffi::OsString]) -> String {
    argv.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b)) {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a failed unshare/clone means for the user.
pub fn namespace_failure(what: &str, flags: libc::c_int, errno: Errno) -> Error {
    let names: Vec<&str> = crate::ns::NAMESPACES.iter().filter(|n| flags & n.flag != 0).map(|n| n.name).collect();
    let object = names.join(",");
    let hint = match errno {
        Errno::EPERM if flags & libc::CLONE_NEWUSER != 0 => {
            "Operation not permitted (unprivileged user namespaces may be disabled: see kernel.unprivileged_userns_clone, user.max_user_namespaces and AppArmor's userns restriction)"
                .to_owned()
        }
        Errno::EPERM => "Operation not permitted (needs root, or -r/-U to work in a user namespace)".to_owned(),
        Errno::ENOSPC | Errno::EUSERS => format!(
            "{} (a namespace limit was reached: see /proc/sys/user/max_*_namespaces)",
            errno.desc()
        ),
        Errno::EINVAL if flags & libc::CLONE_NEWTIME != 0 => {
            "Invalid argument (time namespaces need Linux 5.6)".to_owned()
        }
        Errno::EINVAL => format!("{} (is this kernel built with these namespaces?)", errno.desc()),
        _ => errno.desc().to_owned(),
    };
    Error::new(what, object, hint)
}

/// Make `/` (recursively) private, slave or shared in a new mount namespace,
/// before any other mount, so nothing mounted inside reaches the host.
pub fn set_propagation(propagation: Propagation, verbose: bool) -> Result<(), Error> {
    let flag = match propagation {
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Unchanged => return Ok(()),
    };
    trace(verbose, || format!("mount --make-r{} /", propagation.name()));
    mount(None::<&str>, "/", None::<&str>, flag | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys(format!("cannot make / {}", propagation.name()), "/", e))
}

pub fn set_hostname(name: &OsStr, verbose: bool) -> Result<(), Error> {
    trace(verbose, || format!("hostname {}", name.to_string_lossy()));
    // SAFETY: the pointer and length describe `name`'s bytes.
    let rc = unsafe { libc::sethostname(name.as_bytes().as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop).map_err(|e| Error::sys("cannot set hostname", name.to_string_lossy(), e))
}

pub fn set_domainname(name: &OsStr, verbose: bool) -> Result<(), Error> {
    trace(verbose, || format!("domainname {}", name.to_string_lossy()));
    // SAFETY: the pointer and length describe `name`'s bytes.
    let rc = unsafe { libc::setdomainname(name.as_bytes().as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop).map_err(|e| Error::sys("cannot set domainname", name.to_string_lossy(), e))
}

/// Bring `lo` up in a new network namespace, as bwrap and nsjail do.
pub fn loopback_up(verbose: bool) -> Result<(), Error> {
    trace(verbose, || "ip link set lo up".to_owned());
    let fail = |e: Errno| Error::sys("cannot bring up", "lo", e);
    // SAFETY: plain socket(2) call; the result is checked.
    let sock = Errno::result(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })
        .map_err(fail)?;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming "lo"; the ioctls read and write it.
    let result = unsafe {
        Errno::result(libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req)).and_then(|_| {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            Errno::result(libc::ioctl(sock, libc::SIOCSIFFLAGS, &req))
        })
    };
    // SAFETY: `sock` is ours and closed once.
    unsafe { libc::close(sock) };
    result.map(drop).map_err(fail)
}

/// Enter a new time namespace for the children (and, at exec, for this
/// process) and set its clock offsets, which the kernel accepts only before
/// any process lives in it.
pub fn new_time_namespace(monotonic: Option<i64>, boottime: Option<i64>, verbose: bool) -> Result<(), Error> {
    trace(verbose, || "unshare --time".to_owned());
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .map_err(|e| namespace_failure("cannot create namespace", libc::CLONE_NEWTIME, e))?;
    let mut text = String::new();
    if let Some(s) = monotonic {
        text.push_str(&format!("monotonic {s} 0\n"));
    }
    if let Some(s) = boottime {
        text.push_str(&format!("boottime {s} 0\n"));
    }
    if text.is_empty() {
        return Ok(());
    }
    trace(verbose, || format!("echo '{}' > /proc/self/timens_offsets", text.trim_end().replace('\n', "; ")));
    write_file(Path::new("/proc/self/timens_offsets"), &text)
        .map_err(|e| Error::sys("cannot set clock offsets", "/proc/self/timens_offsets", e))
}

fn write_file(path: &Path, text: &str) -> Result<(), Errno> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // One write: these proc files take their content in a single write(2).
    let n = nix::unistd::write(&fd, text.as_bytes())?;
    if n != text.len() { Err(Errno::EIO) } else { Ok(()) }
}

/// Write the id maps of process `pid` (the tool itself or its child).
pub fn write_maps(pid: libc::pid_t, plan: &MapPlan, verbose: bool) -> Result<(), Error> {
    let proc = format!("/proc/{pid}");
    match plan.writer {
        MapWriter::Direct => {
            if !plan.gid.is_empty() || plan.setgroups == Setgroups::Deny {
                let word = if plan.setgroups == Setgroups::Deny { "deny" } else { "allow" };
                trace(verbose, || format!("echo {word} > {proc}/setgroups"));
                write_file(Path::new(&format!("{proc}/setgroups")), word)
                    .map_err(|e| Error::sys("cannot write", format!("{proc}/setgroups"), e))?;
            }
            for (file, maps) in [("uid_map", &plan.uid), ("gid_map", &plan.gid)] {
                if maps.is_empty() {
                    continue;
                }
                let path = format!("{proc}/{file}");
                let text = map_text(maps);
                trace(verbose, || format!("echo '{}' > {path}", text.trim_end().replace('\n', "; ")));
                write_file(Path::new(&path), &text).map_err(|e| map_failure(&path, maps, e))?;
            }
            Ok(())
        }
        MapWriter::Helper => {
            for (helper, maps) in [("newuidmap", &plan.uid), ("newgidmap", &plan.gid)] {
                if maps.is_empty() {
                    continue;
                }
                let mut args = vec![pid.to_string()];
                for m in maps.iter() {
                    args.extend([m.inner.to_string(), m.outer.to_string(), m.count.to_string()]);
                }
                trace(verbose, || format!("{helper} {}", args.join(" ")));
                let status = std::process::Command::new(helper).args(&args).status().map_err(|e| {
                    let why = if e.kind() == std::io::ErrorKind::NotFound {
                        "not installed (package uidmap)".to_owned()
                    } else {
                        crate::io_reason(&e)
                    };
                    Error::new("cannot run", helper, why)
                })?;
                if !status.success() {
                    return Err(Error::new(
                        "cannot map ids",
                        helper,
                        "it refused the ranges (check /etc/subuid and /etc/subgid)",
                    ));
                }
            }
            Ok(())
        }
    }
}

fn map_failure(path: &str, maps: &[IdMap], errno: Errno) -> Error {
    let text = map_text(maps).trim_end().replace('\n', ", ");
    let why = match errno {
        Errno::EPERM => "Operation not permitted (mapping ids other than your own needs root or --map-auto)".to_owned(),
        Errno::EINVAL => "Invalid argument (overlapping ranges, or ids outside the parent namespace)".to_owned(),
        e => e.desc().to_owned(),
    };
    Error::new(format!("cannot write {path}"), text, why)
}

/// Check a pin file before anything is created: its directory must exist, and
/// the file, if there, must be a regular file.
pub fn check_pin(file: &Path) -> Result<(), Error> {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::new("cannot pin a namespace at", file.display(), "its parent is not a directory")),
        Err(e) => return Err(Error::new("cannot pin a namespace at", file.display(), crate::io_reason(&e))),
    }
    match std::fs::symlink_metadata(file) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::new("cannot pin a namespace at", file.display(), "not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::new("cannot pin a namespace at", file.display(), crate::io_reason(&e))),
    }
}

/// Refuse one file named by two options (`--net=F --uts=F`, a pin and the
/// pid file), compared resolved: the parent directory's real path and the name.
pub fn check_distinct_files(files: &[(String, &Path)]) -> Result<(), Error> {
    let key = |file: &Path| {
        let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match (std::fs::canonicalize(parent), file.file_name()) {
            (Ok(dir), Some(name)) => dir.join(name),
            _ => file.to_path_buf(),
        }
    };
    for (i, (option, file)) in files.iter().enumerate() {
        if let Some((other, _)) = files[..i].iter().find(|(_, f)| key(f) == key(file)) {
            return Err(Error::new(
                format!("cannot use {option}"),
                file.display(),
                format!("the same file as {other}: give each its own file"),
            ));
        }
    }
    Ok(())
}

/// Keep a namespace alive after its processes: bind its ns file onto `file`
/// (created empty if missing, and removed again if the bind fails). Returns
/// whether the file was created, so that a later failure can remove it too.
pub fn pin(source: &Path, file: &Path, verbose: bool) -> Result<bool, Error> {
    let created = match std::fs::OpenOptions::new().write(true).create_new(true).open(file) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(Error::new("cannot create", file.display(), crate::io_reason(&e))),
    };
    trace(verbose, || format!("mount --bind {} {}", source.display(), file.display()));
    let result = mount(Some(source), file, None::<&str>, MsFlags::MS_BIND, None::<&str>);
    if let Err(e) = result {
        if created {
            let _ = std::fs::remove_file(file);
        }
        let why = match e {
            Errno::EINVAL if source.ends_with("mnt") => {
                "Invalid argument (a mount namespace can only be pinned on a private mount: mount --make-private the directory first)".to_owned()
            }
            e => e.desc().to_owned(),
        };
        return Err(Error::new(format!("cannot pin {}", source.display()), file.display(), why));
    }
    Ok(created)
}

/// Undo pins after a later failure: unmount each, and remove the files we created.
pub fn unpin(pinned: &[(&Path, bool)]) {
    for &(file, created) in pinned {
        let _ = nix::mount::umount2(file, nix::mount::MntFlags::MNT_DETACH);
        if created {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Mount a fresh proc for the caller's PID namespace (the mount namespace is
/// new and no longer propagates to the host).
pub fn mount_proc(dir: &Path, verbose: bool) -> Result<(), Error> {
    trace(verbose, || format!("mount -t proc proc {}", dir.display()));
    // A private /proc first, so unmounting the old one cannot travel anywhere.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), dir, Some("proc"), flags, None::<&str>).map_err(|e| {
        let why = match e {
            Errno::EPERM => "Operation not permitted (in a user namespace, /proc can be mounted only with a new PID namespace, -p, and when no part of the host /proc is hidden by another mount)".to_owned(),
            e => e.desc().to_owned(),
        };
        Error::new("cannot mount proc on", dir.display(), why)
    })
}

/// A C string of a path, for raw syscalls.
pub fn cstring(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new("invalid path", path.display(), "holds a NUL byte"))
}

/// Plan the user namespace maps for the calling user, reading /etc/subuid and
/// /etc/subgid only when `--map-auto` asks for them.
pub fn plan_for_caller(req: &crate::spec::MapRequest) -> Result<Option<MapPlan>, Error> {
    let caller = crate::spec::Caller {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
        privileged: nix::unistd::geteuid().is_root(),
    };
    let sub = if req.auto {
        let name = user_name(caller.uid);
        let range = |file: &str, id: u32| {
            std::fs::read_to_string(file).ok().and_then(|t| crate::spec::subordinate_range(&t, name.as_deref(), id))
        };
        range("/etc/subuid", caller.uid).zip(range("/etc/subgid", caller.gid))
    } else {
        None
    };
    crate::spec::plan_maps(req, caller, sub)
}

/// Set up the new namespaces from the inside, in a fixed order: mount
/// propagation first (before any mount), then /proc, names, loopback, and
/// last the time namespace (entered at exec or by the next child).
pub fn inside(spec: &crate::spec::Spec) -> Result<(), Error> {
    let v = spec.verbose;
    if spec.wants(libc::CLONE_NEWNS) {
        set_propagation(spec.propagation, v)?;
    }
    if let Some(dir) = &spec.mount_proc {
        mount_proc(dir, v)?;
    }
    if let Some(name) = &spec.hostname {
        set_hostname(name, v)?;
    }
    if let Some(name) = &spec.domainname {
        set_domainname(name, v)?;
    }
    if spec.wants(libc::CLONE_NEWNET) && spec.loopback {
        loopback_up(v)?;
    }
    if spec.wants(libc::CLONE_NEWTIME) {
        new_time_namespace(spec.monotonic, spec.boottime, v)?;
    }
    Ok(())
}

/// The name of `uid` in /etc/passwd, read directly: a static binary has no NSS.
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_owned())
    })
}

/// Leave the file system for good, for a process that needs no file any more
/// (the init of a PID namespace, once the command runs): a mount namespace of
/// its own that holds nothing but an empty read-only tmpfs, its root and
/// working directory. Then none of `/proc/PID/root`, `/proc/PID/cwd` or
/// `/proc/PID/ns/mnt` leads a process that can see it anywhere, and mkroot
/// can tell from `/proc/PID/mountinfo` (one line, `/`) that it is sealed.
/// Needs the new mount API (Linux 5.2): ENOSYS before that.
pub fn seal_away_from_files() -> Result<(), Errno> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    // Nothing done below may travel to the namespace we came from.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None::<&str>)?;
    let owned = |rc: libc::c_long| -> Result<OwnedFd, Errno> {
        // SAFETY: a descriptor the kernel just returned, owned by nobody else.
        Errno::result(rc).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    // SAFETY: a NUL-terminated file system name and valid flags.
    let context = owned(unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), libc::FSOPEN_CLOEXEC) })?;
    // SAFETY: a valid fs context descriptor; CMD_CREATE takes no key or value.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
    // SAFETY: a valid, created fs context.
    let tmpfs = owned(unsafe { libc::syscall(libc::SYS_fsmount, context.as_raw_fd(), libc::FSMOUNT_CLOEXEC, attrs) })?;
    // SAFETY: a detached mount's descriptor, an empty path with F_EMPTY_PATH, and a NUL-terminated target.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tmpfs.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    // The tmpfs now sits on top of /: step onto it, make it the root, drop the rest.
    nix::unistd::fchdir(&tmpfs)?;
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)?,
        // On an initramfs the old root cannot be detached: it stays hidden
        // below, as under mkroot's own chroot fallback, which then drops
        // CAP_SYS_CHROOT (needed to enter this namespace) from the command.
        Err(Errno::EINVAL) => nix::unistd::chroot(".")?,
        Err(e) => return Err(e),
    }
    nix::unistd::chdir("/")
}

/// Whether a process's `/proc/PID/mountinfo` shows it sealed away from every
/// file (see [`seal_away_from_files`]): a single mount, at `/`, read-only.
pub fn sealed_mountinfo(text: &str) -> bool {
    let mut lines = text.lines();
    let (Some(line), None) = (lines.next(), lines.next()) else { return false };
    let fields: Vec<&str> = line.split(' ').collect();
    fields.len() > 5 && fields[4] == "/" && fields[5].split(',').any(|o| o == "ro")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_words_are_quoted() {
        assert_eq!(shell_words(&["sh".into(), "-c".into(), "echo it's".into(), "".into()]), "sh -c 'echo it'\\''s' ''");
    }

    #[test]
    fn namespace_failures_say_what_to_do() {
        let user = namespace_failure("cannot create namespaces", libc::CLONE_NEWUSER, Errno::EPERM).to_string();
        assert!(user.starts_with("cannot create namespaces: user: ") && user.contains("max_user_namespaces"), "{user}");
        let mount = namespace_failure("cannot create namespaces", libc::CLONE_NEWNS, Errno::EPERM).to_string();
        assert_eq!(
            mount,
            "cannot create namespaces: mnt: Operation not permitted (needs root, or -r/-U to work in a user namespace)"
        );
        for errno in [Errno::ENOSPC, Errno::EUSERS] {
            let limit = namespace_failure("cannot create namespaces", libc::CLONE_NEWUSER | libc::CLONE_NEWNET, errno)
                .to_string();
            assert!(
                limit.starts_with("cannot create namespaces: user,net: ")
                    && limit.contains("/proc/sys/user/max_*_namespaces"),
                "{limit}"
            );
        }
        let time = namespace_failure("cannot create namespace", libc::CLONE_NEWTIME, Errno::EINVAL).to_string();
        assert!(time.contains("Linux 5.6"), "{time}");
    }
}

//! mkroot, run for real in the chain it was made for: the seed scenario,
//! escapes that must fail, images and overlays, rootless use, bad roots and
//! specs. Every test runs under the host guard.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nstools::{Guard, TempDir, bin, code, has_namespace, have_program, is_root, require, require_host, stderr, stdout};

fn can_run() -> bool {
    is_root() && ["mnt", "uts", "ipc", "net", "pid", "user"].iter().all(|n| has_namespace(n))
}

/// `nsclone NSCLONE_ARGS mkroot MKROOT_ARGS DIR sh -c SCRIPT`
fn chain(guard: &Guard, nsclone: &[&str], mkroot: &[&str], dir: &Path, script: &str) -> Output {
    guard
        .command("nsclone")
        .args(nsclone)
        .arg(bin("mkroot"))
        .args(mkroot)
        .arg(dir)
        .args(["sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// After a run, DIR (created by mkroot) must be an empty directory: all that is left.
fn only_dir_left(dir: &Path) {
    let entries: Vec<_> = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).collect();
    assert!(entries.is_empty(), "{} holds {entries:?}", dir.display());
    std::fs::remove_dir(dir).unwrap();
}

#[test]
fn the_seed_scenario() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-seed");
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("from-host"), "hello\n").unwrap();
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let volume = format!("{}:/shared", shared.display());
    let script = "cat /shared/from-host; echo written > /shared/from-inside; ls / | tr '\\n' ' '; echo; \
                  echo pid=$$ pid1=$(cat /proc/1/comm); hostname; \
                  wc -c < /proc/keys; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo proc-sys-ro; \
                  echo data > /dev/null && echo devnull-ok; ls /dev/pts/ptmx >/dev/null && echo pts-ok; \
                  stat -c %t:%T /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | tr '\\n' ' '";
    let out = chain(&guard, &["-mupin", "--hostname=box"], &["-v", &volume], &root, script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "hello");
    for dir in ["bin", "dev", "etc", "proc", "shared", "sys", "tmp", "usr"] {
        assert!(lines[1].split(' ').any(|d| d == dir), "/ lacks {dir}: {}", lines[1]);
    }
    // Real character devices with the right numbers (hexadecimal major:minor).
    assert_eq!(
        &lines[2..],
        ["pid=2 pid1=nsclone", "box", "0", "proc-sys-ro", "devnull-ok", "pts-ok", "1:3 1:5 1:7 1:8 1:9 5:0 "]
    );
    assert_eq!(std::fs::read_to_string(shared.join("from-inside")).unwrap(), "written\n");
    // With --as-pid-1, PID 1 is the command itself.
    let out = chain(&guard, &["-mupin", "--as-pid-1"], &[], &root, "echo $$ $(cat /proc/1/comm)");
    assert_eq!(stdout(&out), "1 sh\n", "{}", stderr(&out));
    only_dir_left(&root);
    guard.check();
}

#[test]
fn proc_1_root_does_not_lead_to_the_host() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-proc1");
    let marker = work.path().join("host-marker");
    std::fs::write(&marker, "host").unwrap();
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let m = marker.display();
    let script = format!(
        "for p in /proc/1/root /proc/1/cwd /proc/$$/root /proc/self/root; do \
           [ -e $p{m} ] && echo LEAK via $p; done; \
         ls /proc/1/root/ >/dev/null && echo looked"
    );
    let out = chain(&guard, &["-mupin"], &[], &root, &script);
    assert_eq!(stdout(&out), "looked\n", "{}", stderr(&out));
    only_dir_left(&root);
    guard.check();
}

/// The classic chroot escapes; also run by the VM lane on an initramfs root.
const ESCAPE_C: &str = include_str!("escape.c");

#[test]
fn chroot_escapes_fail() {
    require!(can_run(), "needs root and namespaces");
    require_host!(have_program("gcc"), "gcc is not installed (to build the escape program)");
    let work = TempDir::new("mkroot-escape");
    let tools = work.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    std::fs::write(tools.join("escape.c"), ESCAPE_C).unwrap();
    let built = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(tools.join("escape"))
        .arg(tools.join("escape.c"))
        .status()
        .unwrap();
    assert!(built.success(), "cannot build the escape program");
    let marker = work.path().join("host-marker");
    std::fs::write(&marker, "host").unwrap();
    let root = work.path().join("r");
    let guard = Guard::new(&[&root, &marker]);
    let script = format!("/escape/escape {}", marker.display());
    let volume = format!("{}:/escape:ro", tools.display());
    let out = chain(&guard, &["-mupin"], &["-v", &volume], &root, &script);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "contained\n"), "{}", stderr(&out));
    only_dir_left(&root);
    guard.check();
}

/// A busybox-static tree: bin/busybox and links for the applets the tests use.
fn busybox_image(at: &Path) -> Option<PathBuf> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(PathBuf::from).find(|p| p.exists())?;
    let bin = at.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(&busybox, bin.join("busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo", "mkdir", "id", "wc", "grep", "touch", "tr", "head", "hostname"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    for dir in ["etc", "tmp", "root"] {
        std::fs::create_dir(at.join(dir)).unwrap();
    }
    std::fs::write(at.join("etc/os-release"), "NAME=busybox-image\n").unwrap();
    Some(at.to_path_buf())
}

/// busybox-static: a busybox that names no dynamic loader.
fn busybox_static() -> bool {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .any(|p| std::fs::read(p).is_ok_and(|elf| !elf.windows(7).any(|w| w == b"ld-linux")))
}

#[test]
fn a_busybox_image_under_an_overlay_stays_pristine() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-image");
    let image = busybox_image(&work.path().join("image")).unwrap();
    // The guard watches the whole image: any byte written to it is a failure.
    let guard = Guard::new(&[&image]);
    let script = "cat /etc/os-release; echo scribble > /etc/os-release; mkdir /new; touch /bin/extra; \
                  cat /etc/os-release; ls / | tr '\\n' ' '; echo; id -u";
    let out = chain(&guard, &["-mupin"], &["--overlay"], &image, script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("NAME=busybox-image\nscribble\n"), "{text}");
    assert!(text.contains(" new ") && text.contains(" proc ") && text.contains(" dev "), "{text}");
    // Read-only root: writes fail.
    let out = chain(&guard, &["-mupin"], &["--overlay", "--ro"], &image, "touch /x 2>/dev/null || echo read-only");
    assert_eq!(stdout(&out), "read-only\n", "{}", stderr(&out));
    guard.check();
}

#[test]
fn symlinks_in_an_image_do_not_redirect_mounts() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-links");
    let image = busybox_image(&work.path().join("image")).unwrap();
    let host_abs = work.path().join("host-abs");
    let host_rel = work.path().join("host-rel");
    std::fs::create_dir(&host_abs).unwrap();
    std::fs::create_dir(&host_rel).unwrap();
    std::os::unix::fs::symlink(&host_abs, image.join("abs")).unwrap();
    let ups = "../".repeat(16);
    std::os::unix::fs::symlink(
        format!("{ups}{}", host_rel.display().to_string().trim_start_matches('/')),
        image.join("rel"),
    )
    .unwrap();
    let guard = Guard::new(&[&host_abs, &host_rel, &image]);
    let out = chain(
        &guard,
        &["-mupin"],
        &["--overlay", "--tmpfs=/abs/t", "--dir=/rel/d", "-b", "/etc/hostname:/abs/f", "--symlink=x:/rel/l"],
        &image,
        "ls -d /abs/t /rel/d /abs/f && [ -L /rel/l ] && echo linked",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The host directories the links name were never touched (the guard checks them too).
    assert_eq!(std::fs::read_dir(&host_abs).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&host_rel).unwrap().count(), 0);
    guard.check();
}

#[test]
fn a_symlinked_proc_in_an_image_is_refused() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-proclink");
    let image = busybox_image(&work.path().join("image")).unwrap();
    std::os::unix::fs::symlink("/", image.join("proc")).unwrap();
    let guard = Guard::new(&[&image]);
    let out = chain(&guard, &["-mupin"], &["--overlay"], &image, "true");
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("refusing a symlink: /proc"), "{}", stderr(&out));
    guard.check();
}

#[test]
fn rootless_chain() {
    require!(can_run(), "needs root and namespaces");
    use std::os::unix::process::CommandExt;
    let work = TempDir::new("mkroot-rootless");
    // 0777: uid 65534 makes the root directory there itself.
    work.open_to_all(0o777);
    let copies = [work.tool_copy("nsclone"), work.tool_copy("mkroot")];
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let out = guard
        .watch(Command::new(&copies[0]))
        .uid(65534)
        .gid(65534)
        .args(["-r", "-mupin"])
        .arg(&copies[1])
        .arg(&root)
        .args(["sh", "-c", "id -u; ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && echo ok"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0");
    // Exactly the minimal set: nothing of the host's /dev beyond it.
    let mut dev: Vec<&str> = lines[1].split_whitespace().collect();
    dev.sort_unstable();
    assert_eq!(
        dev,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty",
            "urandom", "zero"
        ]
    );
    assert_eq!(lines[2], "ok");
    only_dir_left(&root);
    guard.check();
}

#[test]
fn command_options() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-opts");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let script = "pwd; grep NoNewPrivs /proc/self/status | tr -d '\\t'; grep CapEff /proc/self/status | tr -d '\\t'; \
                  touch /x 2>/dev/null || echo read-only";
    let out = chain(&guard, &["-mupin"], &["--chdir=/tmp", "--no-new-privs", "--cap-drop=ALL", "--ro"], &root, script);
    assert_eq!(stdout(&out), "/tmp\nNoNewPrivs:1\nCapEff:0000000000000000\nread-only\n", "{}", stderr(&out));
    let out = chain(&guard, &["-mupin"], &["--cap-drop=CAP_NET_RAW"], &root, "grep CapBnd /proc/self/status");
    let bnd = u64::from_str_radix(stdout(&out).split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(bnd & (1 << 13), 0, "CAP_NET_RAW still in the bounding set");
    only_dir_left(&root);
    guard.check();
}

#[test]
fn bad_roots_are_refused_before_anything_happens() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-bad");
    let file = work.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let dangling = work.path().join("dangling");
    std::os::unix::fs::symlink("/no/such/dir", &dangling).unwrap();
    let link = work.path().join("link");
    std::os::unix::fs::symlink(work.path(), &link).unwrap();
    let guard = Guard::new(&[work.path()]);
    let cases: [(PathBuf, &str); 5] = [
        ("/".into(), "the host's / cannot be the new root"),
        (file.clone(), "not a directory"),
        (dangling.clone(), "a dangling symbolic link"),
        (link.clone(), "a symbolic link: give the real path"),
        (work.path().join("missing/r"), "its parent directory does not exist"),
    ];
    for (dir, why) in cases {
        let out = guard.command("nsclone").arg("-mupin").arg(bin("mkroot")).arg(&dir).arg("true").output().unwrap();
        assert_eq!(code(&out), 125, "{}", dir.display());
        assert_eq!(stderr(&out), format!("mkroot: invalid root: '{}': {why}\n", dir.display()));
    }
    for spec in ["foo", ":/d", "/tmp:", "/tmp:rel", "rel:/d", "/missing:/d", "/tmp:/d:bogusopt", "/tmp:/", "/tmp:/proc"]
    {
        let out = guard.command("mkroot").args(["-v", spec]).arg(work.path().join("r")).arg("true").output().unwrap();
        assert_eq!(code(&out), 125, "{spec}");
        assert!(stderr(&out).starts_with(&format!("mkroot: invalid volume: '{spec}': ")), "{spec}: {}", stderr(&out));
    }
    guard.check();
}

#[test]
fn the_host_pid_namespace_gets_no_proc() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-hostpid");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    // Straight from the host: refused with advice, and nothing is left.
    let out = guard.command("mkroot").arg(&root).arg("true").output().unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("/proc/1/root would lead to the host"), "{}", stderr(&out));
    assert!(!root.exists());
    // --no-proc builds the root anyway, in a mount namespace of its own.
    let out = guard
        .command("mkroot")
        .arg("--no-proc")
        .arg(&root)
        .args(["/bin/sh", "-c", "ls /proc | wc -l"])
        .output()
        .unwrap();
    assert_eq!((code(&out), stdout(&out).trim()), (0, "0"), "{}", stderr(&out));
    only_dir_left(&root);
    guard.check();
}

#[test]
fn command_errors_inside_the_root() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-cmd");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .arg(&root)
        .arg("no-such-command-nstools")
        .output()
        .unwrap();
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (127, "mkroot: cannot execute: no-such-command-nstools: command not found\n")
    );
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .arg(&root)
        .args(["sh", "-c", "exit 42"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 42);
    only_dir_left(&root);
    guard.check();
}

/// The debootstrap tree `make images` builds (minbase Debian stable).
fn debian_image() -> PathBuf {
    std::env::var_os("NSTOOLS_DEBIAN_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| nstools::source_dir().join("target/images/debian"))
}

#[test]
fn a_debootstrap_image_under_an_overlay_stays_pristine() {
    require!(can_run(), "needs root and namespaces");
    let image = debian_image();
    require_host!(
        image.join("etc/debian_version").is_file(),
        format!("no debootstrap tree at {} (make images)", image.display())
    );
    let guard = Guard::new(&[&image]);
    let script = "cat /etc/debian_version >/dev/null && echo debian; \
                  dpkg-query -W -f='${Package}\\n' dpkg coreutils; \
                  echo scribble > /etc/motd && rm -rf /usr/share/doc && echo wrote; \
                  echo $$ $(cat /proc/1/comm)";
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .args(["--overlay", "--no-new-privs"])
        .arg(&image)
        .args(["/bin/sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "debian\ncoreutils\ndpkg\nwrote\n2 nsclone\n");
    // The guard has watched every file of the image: unchanged, byte counts and times included.
    guard.check();
}

#[test]
fn no_descriptor_of_ours_reaches_the_command() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-fds");
    let image = busybox_image(&work.path().join("image")).unwrap();
    let guard = Guard::new(&[&image]);
    // ls itself as the command: a shell would hold descriptors of its own.
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .args(["--overlay", "--tmpfs=/t", "-b", "/etc/hostname:/h"])
        .arg(&image)
        .args(["/bin/ls", "/proc/self/fd"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(nstools::fd_list(&out), nstools::inherited_fds());
    guard.check();
}

#[test]
fn a_read_only_image_says_to_use_overlay() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    require_host!(nstools::util_linux("unshare"), "util-linux unshare is not installed");
    let work = TempDir::new("mkroot-rofs");
    let image = busybox_image(&work.path().join("image")).unwrap();
    let guard = Guard::new(&[&image]);
    // The image made read-only in a private mount namespace; it has no /proc to mount on.
    let script = format!(
        "mount --bind {i} {i} && mount -o remount,ro,bind {i} &&
         {nsclone} -mupin {mkroot} {i} /bin/sh -c true; echo status=$?;
         {nsclone} -mupin {mkroot} --overlay {i} /bin/sh -c 'echo overlay-ok'",
        i = image.display(),
        nsclone = bin("nsclone").display(),
        mkroot = bin("mkroot").display()
    );
    let out = guard.in_private_mount_ns(&script);
    assert_eq!(stdout(&out), "status=125\noverlay-ok\n", "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "mkroot: cannot create: /proc: Read-only file system (the image cannot take this mount point: use --overlay"
        ),
        "{}",
        stderr(&out)
    );
    guard.check();
}

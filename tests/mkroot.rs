//! mkroot, run for real in the chain it was made for: the seed scenario,
//! escapes that must fail, images and overlays, rootless use, bad roots and
//! specs. Every test runs under the host guard.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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
    // Even with every capability (and so ptrace access to PID 1): nothing of the host.
    let out = chain(&guard, &["-mupin"], &["--privileged"], &root, &script);
    assert_eq!(stdout(&out), "looked\n", "{}", stderr(&out));
    // With the default set PID 1's links are not even readable.
    let out = chain(&guard, &["-mupin"], &[], &root, "ls /proc/1/root/ 2>/dev/null || echo refused");
    assert_eq!(stdout(&out), "refused\n", "{}", stderr(&out));
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
    nstools::copy_program(&busybox, &bin.join("busybox"));
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
    assert!(!root.exists(), "a run that ran nothing leaves no DIR");
    // An empty name is no command either, as nsclone says (not PATH's first directory, 126).
    let out = guard.command("nsclone").arg("-mupin").arg(bin("mkroot")).arg(&root).arg("").output().unwrap();
    assert_eq!((code(&out), stderr(&out).as_str()), (127, "mkroot: cannot execute: '': command not found\n"));
    assert!(!root.exists());
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

#[test]
fn a_debootstrap_image_under_an_overlay_stays_pristine() {
    require!(can_run(), "needs root and namespaces");
    let image = nstools::debian_image();
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

// Issue 8: the handoff between nsclone and mkroot, and what a failed run leaves.

#[test]
fn a_shell_between_the_links_gets_no_proc_and_no_way_back() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-wrapper");
    work.open_to_all(0o777);
    let copies = [work.tool_copy("nsclone"), work.tool_copy("mkroot")];
    let root = work.path().join("r");
    let out_file = work.path().join("OUT");
    let guard = Guard::new(&[&root, &out_file]);
    // The shell stays PID 2 with its cwd on the host's tree: /proc would show it to the container.
    let inner = "ls /proc/2/cwd/../../..; touch /proc/2/cwd/OUT";
    let script = |mkroot_args: &str| {
        // The echo after mkroot keeps the shell there: some shells exec a last command.
        format!(
            "cd {w} && {m} {mkroot_args} {w}/r sh -c '{inner}'; echo mkroot=$?",
            w = work.path().display(),
            m = copies[1].display()
        )
    };
    for rootless in [false, true] {
        let mut cmd = guard.watch(Command::new(&copies[0]));
        if rootless {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534).arg("-r");
        }
        let out = cmd.args(["-mp", "sh", "-c", &script("")]).stdin(Stdio::null()).output().unwrap();
        assert_eq!(stdout(&out), "mkroot=125\n", "rootless={rootless}: {}", stderr(&out));
        assert!(
            stderr(&out)
                .starts_with("mkroot: refusing to mount: /proc: PID 2 (sh) of this PID namespace stays outside"),
            "{}",
            stderr(&out)
        );
        assert!(!out_file.exists() && !root.exists(), "rootless={rootless}");
    }
    // Without /proc the command has no path to the shell's directory.
    let out = guard
        .watch(Command::new(&copies[0]))
        .args(["-mp", "sh", "-c", &script("--no-proc")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "mkroot=1\n", "{}", stderr(&out));
    assert!(!out_file.exists());
    only_dir_left(&root);
    guard.check();
}

#[test]
fn a_process_left_on_the_host_tree_gets_no_proc() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-background");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    // mkroot is the shell itself (exec), but a process it started stays behind, cd'd into the host's /.
    let script = format!(
        "(cd / && exec sleep 30) & exec {} {} sh -c 'ls /proc/*/cwd/'",
        bin("mkroot").display(),
        root.display()
    );
    let out = guard.command("nsclone").args(["-mp", "sh", "-c", &script]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(code(&out), 125, "{}", stdout(&out));
    // PID 3 is the background subshell, or sleep once it has run it.
    let err = stderr(&out);
    assert!(
        err.starts_with("mkroot: refusing to mount: /proc: PID 3 (")
            && err.contains(") of this PID namespace stays outside the new root"),
        "{err}"
    );
    assert!(!root.exists());
    // The guard also sees that sleep died with the PID namespace.
    guard.check();
}

#[test]
fn the_caller_is_not_moved_into_the_image() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-caller");
    let image = busybox_image(&work.path().join("image")).unwrap();
    let marker = work.path().join("host-marker");
    std::fs::write(&marker, "host").unwrap();
    let guard = Guard::new(&[&image, &marker]);
    // After mkroot, the shell that ran it must still be on the host's tree, not in the image.
    let script = format!(
        "{} --no-proc --overlay --cap-drop=ALL --no-new-privs {} /bin/sh -c :; cat {}; \
         grep NoNewPrivs /proc/self/status | tr -d '\\t'",
        bin("mkroot").display(),
        image.display(),
        marker.display()
    );
    let out = guard.command("nsclone").args(["-mp", "sh", "-c", &script]).stdin(Stdio::null()).output().unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "hostNoNewPrivs:0\n"), "{}", stderr(&out));
    guard.check();
}

#[test]
fn a_forged_mount_namespace_mark_grants_nothing() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-forged");
    let root = work.path().join("r");
    let marker = work.path().join("host-marker");
    std::fs::write(&marker, "host").unwrap();
    let guard = Guard::new(&[&root, &marker]);
    // The mark nsclone once set, forged for the caller's own mount namespace.
    let script = format!(
        "export NSTOOLS_MOUNT_NS=$(stat -L -c %i /proc/self/ns/mnt); \
         unshare -pf {} --no-proc {} true; echo status=$?; cat {}; test -r /proc/self/mountinfo && echo mountinfo",
        bin("mkroot").display(),
        root.display(),
        marker.display()
    );
    let out = guard.in_private_mount_ns(&script);
    assert_eq!(stdout(&out), "status=0\nhostmountinfo\n", "{}", stderr(&out));
    only_dir_left(&root);
    guard.check();
}

#[test]
fn pid_1_is_sealed_away_from_every_file() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-sealed");
    work.open_to_all(0o777);
    let copies = [work.tool_copy("nsclone"), work.tool_copy("mkroot")];
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    // Its root, working directory and mount namespace hold nothing: one read-only tmpfs.
    let script = "ls -A /proc/1/root /proc/1/cwd | grep -c . ; wc -l < /proc/1/mountinfo; \
                  grep -c ' / / ro,' /proc/1/mountinfo; \
                  [ \"$(readlink /proc/1/ns/mnt)\" != \"$(readlink /proc/self/ns/mnt)\" ] && echo own-namespace";
    for rootless in [false, true] {
        let mut cmd = guard.watch(Command::new(&copies[0]));
        if rootless {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534).arg("-r");
        }
        // --privileged: with the default capabilities /proc/1/root is not even readable.
        let out = cmd
            .arg("-mupin")
            .arg(&copies[1])
            .arg("--privileged")
            .arg(&root)
            .args(["sh", "-c", script])
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "2\n1\n1\nown-namespace\n", "rootless={rootless}: {}", stderr(&out));
    }
    only_dir_left(&root);
    guard.check();
}

#[test]
fn a_bad_chdir_and_a_missing_command_leave_nothing() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-chdir");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let out = chain(&guard, &["-mupin"], &["--chdir=/no/such/dir"], &root, "true");
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (125, "mkroot: cannot chdir to: /no/such/dir: No such file or directory\n")
    );
    assert!(!root.exists(), "DIR left after a bad --chdir");
    for (command, status) in [("no-such-command-nstools", 127), ("/etc/hostname", 126)] {
        let out = guard.command("nsclone").arg("-mupin").arg(bin("mkroot")).arg(&root).arg(command).output().unwrap();
        assert_eq!(code(&out), status, "{command}: {}", stderr(&out));
        assert!(!root.exists(), "DIR left after {status}");
    }
    guard.check();
}

#[test]
fn a_failed_run_on_an_image_takes_back_its_mount_points() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-undo");
    let image = busybox_image(&work.path().join("image")).unwrap();
    std::os::unix::fs::symlink("/proc/self/root", image.join("magic")).unwrap();
    // The guard watches every file of the image: whatever mkroot creates there and leaves fails the test.
    let guard = Guard::new(&[&image]);
    let late_failures = [
        (&["--tmpfs=/x/y/z", "--dir=/magic/q"][..], "/bin/sh", 125),
        (&["-b", "/etc/hostname:/etc/new/file"], "/bin/no-such-program", 127),
        (&["--tmpfs=/a/b"], "/etc/os-release", 126),
    ];
    for (args, command, status) in late_failures {
        let out = guard
            .command("nsclone")
            .arg("-mupin")
            .arg(bin("mkroot"))
            .args(args)
            .arg(&image)
            .arg(command)
            .output()
            .unwrap();
        assert_eq!(code(&out), status, "{args:?}: {}", stderr(&out));
    }
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .arg("--dir=/magic/q")
        .arg(&image)
        .arg("/bin/sh")
        .output()
        .unwrap();
    assert_eq!(
        stderr(&out),
        "mkroot: cannot create: /magic/q: it leads through a magic link of /proc (such as /proc/self/root), which mkroot never follows\n"
    );
    guard.check();
}

#[test]
fn mount_targets_are_checked_where_they_lead() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-resolved");
    let image = busybox_image(&work.path().join("image")).unwrap();
    let fresh = work.path().join("fresh");
    let links = [("/proc", "data"), ("/", "rootlink"), ("../sys/kernel", "kernel")];
    for (target, name) in links {
        std::os::unix::fs::symlink(target, image.join(name)).unwrap();
    }
    let guard = Guard::new(&[&image]);
    let cases = [
        (
            "-v",
            "/tmp:/data",
            "mkroot: cannot mount on: /data: it leads to /proc inside the root, and mkroot sets up /proc itself, with its masks\n",
        ),
        (
            "--tmpfs",
            "/rootlink",
            "mkroot: cannot mount on: /rootlink: it leads to / inside the root, and mkroot cannot mount over the root itself\n",
        ),
        (
            "-r",
            "/tmp:/kernel",
            "mkroot: cannot mount on: /kernel: it leads to /sys/kernel inside the root, and mkroot sets up /sys itself, with its masks\n",
        ),
    ];
    for ((option, value, message), (target, name)) in cases.into_iter().zip(links) {
        // In the image, whose targets are looked for first; and the same link made by
        // --symlink in a fresh root, whose targets are made before they are looked for.
        let symlink = format!("--symlink={target}:/{name}");
        for (dir, extra) in [(&image, "--overlay"), (&fresh, symlink.as_str())] {
            let out = guard
                .command("nsclone")
                .arg("-mupin")
                .arg(bin("mkroot"))
                .args([extra, &format!("{option}={value}")])
                .arg(dir)
                .args(["/bin/sh", "-c", "echo MOUNTED"])
                .output()
                .unwrap();
            assert_eq!((code(&out), stderr(&out).as_str()), (125, message), "{extra} {option}={value}");
        }
        assert!(!fresh.exists(), "a failed run leaves no root behind");
    }
    guard.check();
}

#[test]
fn system_directories_are_refused_as_images() {
    require!(can_run(), "needs root and namespaces");
    let guard = Guard::new(&[Path::new("/dev"), Path::new("/etc")]);
    let cases = [
        ("/dev", "a directory of the host's own tree, which is no image"),
        ("/etc", "a directory of the host's own tree, which is no image"),
        ("/proc/sys", "on a proc file system, which is no image"),
        ("/sys/kernel", "on a sysfs file system, which is no image"),
    ];
    for (dir, why) in cases {
        let out = guard.command("nsclone").arg("-mupin").arg(bin("mkroot")).arg(dir).arg("true").output().unwrap();
        assert_eq!(code(&out), 125, "{dir}");
        assert!(stderr(&out).starts_with(&format!("mkroot: invalid root: '{dir}': {why}")), "{dir}: {}", stderr(&out));
    }
    guard.check();
}

#[test]
fn the_top_of_a_tmpfs_is_no_image() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-tmpfs-top");
    let top = work.path().join("shared");
    std::fs::create_dir(&top).unwrap();
    let guard = Guard::new(&[&top]);
    let script = format!(
        "mount -t tmpfs none {t} && echo x > {t}/somebody-else && {n} -mupin {m} {t} true",
        t = top.display(),
        n = bin("nsclone").display(),
        m = bin("mkroot").display()
    );
    let out = guard.in_private_mount_ns(&script);
    assert!(
        stderr(&out)
            .contains(&format!("mkroot: invalid root: '{}': the top of a tmpfs the system shares", top.display())),
        "{}",
        stderr(&out)
    );
    guard.check();
}

// Issue 10: a container is not root on the host.

/// The default capability set, as /proc/PID/status shows it (hexadecimal).
const DEFAULT_CAPS: &str = "00000000800405fb";

/// `-v` of the probe's directory, read-only at /probe.
fn probe_volume(work: &TempDir) -> Option<String> {
    nstools::probe_program(work).map(|dir| format!("{}:/probe:ro", dir.display()))
}

fn status_lines(text: &str, keys: &[&str]) -> String {
    text.lines()
        .filter(|l| keys.iter().any(|k| l.starts_with(k)))
        .map(|l| l.replace('\t', " "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_command_gets_the_default_capabilities_and_the_filter() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-caps");
    work.open_to_all(0o777);
    let copies = [work.tool_copy("nsclone"), work.tool_copy("mkroot")];
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let keys = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Seccomp"];
    let d = DEFAULT_CAPS;
    let expected = format!(
        "CapInh: {d}\nCapPrm: {d}\nCapEff: {d}\nCapBnd: {d}\nCapAmb: 0000000000000000\nSeccomp: 2\nSeccomp_filters: 1"
    );
    for rootless in [false, true] {
        let mut cmd = guard.watch(Command::new(&copies[0]));
        if rootless {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534).arg("-r");
        }
        let out = cmd.arg("-mupin").arg(&copies[1]).arg(&root).args(["cat", "/proc/self/status"]).output().unwrap();
        assert_eq!(status_lines(&stdout(&out), &keys), expected, "rootless={rootless}: {}", stderr(&out));
    }
    // --privileged keeps what the caller has: every capability this test runs with.
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let all = own.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_owned();
    let cases = [
        (&["--privileged"][..], format!("CapEff: {all}\nSeccomp: 2")),
        (&["--seccomp=unconfined"], format!("CapEff: {d}\nSeccomp: 0")),
        (&["--cap-drop=ALL"], "CapEff: 0000000000000000\nSeccomp: 2".to_owned()),
        (&["--cap-drop=ALL", "--cap-add=chown,CAP_KILL"], "CapEff: 0000000000000021\nSeccomp: 2".to_owned()),
        (&["--cap-add=NET_RAW", "--cap-drop=setfcap"], "CapEff: 00000000000425fb\nSeccomp: 2".to_owned()),
    ];
    for (args, want) in cases {
        let out = chain(&guard, &["-mupin"], args, &root, "grep -E '^(CapEff|Seccomp):' /proc/self/status");
        assert_eq!(stdout(&out).replace('\t', " ").trim_end(), want, "{args:?}: {}", stderr(&out));
    }
    only_dir_left(&root);
    guard.check();
}

#[test]
fn the_filter_and_the_set_refuse_what_would_reach_the_host() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-probe");
    let volume = probe_volume(&work);
    require_host!(volume.is_some(), "gcc is not installed (to build the probe)");
    let volume = volume.unwrap();
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let out = chain(&guard, &["-mupin"], &["-v", &volume], &root, "/probe/probe");
    let every = [
        "init_module",
        "kexec_load",
        "open_by_handle_at",
        "clock_settime",
        "bpf",
        "userfaultfd",
        "mknod_block",
        "io_uring_setup",
        "keyctl",
        "mount",
        "unshare",
        "x32",
    ];
    let refused: String = every.iter().map(|c| format!("{c}=EPERM\n")).collect();
    assert_eq!(stdout(&out), refused, "{}", stderr(&out));
    // --privileged lets the namespace and key calls through; the foreign ABI stays refused.
    let out = chain(&guard, &["-mupin"], &["-v", &volume, "--privileged"], &root, "/probe/probe allowed");
    assert_eq!(stdout(&out), "keyctl=other\nmount=ok\nunshare=ok\nx32=EPERM\n", "{}", stderr(&out));
    // A kept capability reopens its calls: SYS_ADMIN for a nested mount namespace.
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .args(["--cap-add=SYS_ADMIN", "-r"])
        .arg(format!("{}:/nstools-bin", bin("nsclone").parent().unwrap().display()))
        .arg(&root)
        .args(["sh", "-c", "/nstools-bin/nsclone -m true && echo nested-ok"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "nested-ok\n", "{}", stderr(&out));
    only_dir_left(&root);
    guard.check();
}

#[test]
fn no_terminal_injection_even_when_privileged() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-sti");
    let volume = probe_volume(&work);
    require_host!(volume.is_some(), "gcc is not installed (to build the probe)");
    let volume = volume.unwrap();
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    for extra in [None, Some("--privileged")] {
        // The shell that started the chain reads its next line: what the probe pushed, or what we type.
        let script = format!(
            "{} -mupin {} -v {volume} {} {} /probe/probe sti; read line; echo \"read:[$line]\"",
            bin("nsclone").display(),
            bin("mkroot").display(),
            extra.unwrap_or(""),
            root.display()
        );
        let mut cmd = guard.watch(Command::new("sh"));
        cmd.args(["-c", &script]);
        let mut pty = nstools::pty::Pty::spawn(cmd);
        pty.expect("TIOCSTI=EPERM", 10);
        pty.send(b"typed\n");
        pty.expect("read:[typed]", 10);
        assert_eq!(pty.wait(10).code(), Some(0), "{extra:?}");
    }
    only_dir_left(&root);
    guard.check();
}

#[test]
fn user_switches_to_an_account_of_the_root() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-user");
    let image = busybox_image(&work.path().join("image")).unwrap();
    let root = work.path().join("r");
    let guard = Guard::new(&[&root, &image]);
    let ids = "echo $(id -u):$(id -g) $HOME; grep -E '^Cap(Eff|Amb):' /proc/self/status | tr -d '\\t' | tr '\\n' ' '";
    // A fresh root's nobody: its ids and home, no capability left.
    let out = chain(&guard, &["-mupin"], &["--user=nobody"], &root, ids);
    assert_eq!(
        stdout(&out),
        "65534:65534 /nonexistent\nCapEff:0000000000000000 CapAmb:0000000000000000 ",
        "{}",
        stderr(&out)
    );
    // --cap-add gives a user other than root an ambient capability.
    let out = chain(&guard, &["-mupin"], &["--user=nobody", "--cap-add=NET_BIND_SERVICE"], &root, ids);
    assert_eq!(
        stdout(&out),
        "65534:65534 /nonexistent\nCapEff:0000000000000400 CapAmb:0000000000000400 ",
        "{}",
        stderr(&out)
    );
    // Numbers work on an image without the user; a name needs its /etc/passwd.
    let out = chain(&guard, &["-mupin"], &["--overlay", "--user=1000:1000"], &image, "id -u; id -g");
    assert_eq!(stdout(&out), "1000\n1000\n", "{}", stderr(&out));
    let out = chain(&guard, &["-mupin"], &["--overlay", "--user=alice"], &image, "id -u");
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (125, "mkroot: cannot run as: 'alice': the root has no /etc/passwd to look the name up in\n")
    );
    only_dir_left(&root);
    guard.check();
}

#[test]
fn contradictions_and_unknown_names_are_refused_before_anything_happens() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-bad-privs");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let cases: [(&[&str], &str); 5] = [
        (
            &["--privileged", "--cap-drop=NET_RAW"],
            "mkroot: --privileged keeps every capability: it takes no --cap-add or --cap-drop; usage: mkroot [options] DIR COMMAND [ARG...]\n",
        ),
        (
            &["--cap-add=CAP_BOGUS"],
            "mkroot: invalid capability: 'CAP_BOGUS': not a capability name (try ALL or CAP_NET_RAW)\n",
        ),
        (&["--cap-add=kill", "--cap-drop=KILL"], "mkroot: invalid capabilities: kill: both added and dropped\n"),
        (&["--seccomp=off"], "mkroot: invalid seccomp mode: 'off': expected default or unconfined\n"),
        (&["--user=nosuchuser"], "mkroot: cannot run as: 'nosuchuser': no such user in the root's /etc/passwd\n"),
    ];
    for (args, message) in cases {
        let out = chain(&guard, &["-mupin"], args, &root, "true");
        assert_eq!((code(&out), stderr(&out).as_str()), (125, message), "{args:?}");
        assert!(!root.exists(), "{args:?} made DIR");
    }
    guard.check();
}

#[test]
fn a_debian_image_works_with_the_default_set() {
    require!(can_run(), "needs root and namespaces");
    let image = nstools::debian_image();
    require_host!(
        image.join("etc/debian_version").is_file(),
        format!("no debootstrap tree at {} (make images)", image.display())
    );
    let guard = Guard::new(&[&image]);
    let script = "apt-get --version | head -n1 | cut -d' ' -f1; dpkg -l dpkg | tail -n1 | cut -c1-2; \
                  useradd -m tester && chown tester /home/tester && echo chown-ok; \
                  su tester -s /bin/sh -c 'id -un'; su nobody -s /bin/sh -c id | cut -d' ' -f1";
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .arg("--overlay")
        .arg(&image)
        .args(["/bin/sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "apt\nii\nchown-ok\ntester\nuid=65534(nobody)\n", "{}", stderr(&out));
    guard.check();
}

#[test]
fn a_hostile_passwd_cannot_hang_the_user_lookup() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-fifo-passwd");
    let image = busybox_image(&work.path().join("image")).unwrap();
    let fifo = image.join("etc/passwd");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path; mkfifo makes a FIFO there.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let guard = Guard::new(&[&image]);
    // A FIFO as /etc/passwd would block a plain read forever: it reads as no passwd at all.
    let out = chain(&guard, &["-mupin"], &["--overlay", "--user=root"], &image, "id -u");
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (125, "mkroot: cannot run as: 'root': the root has no /etc/passwd to look the name up in\n")
    );
    guard.check();
}

#[test]
fn a_terminal_stays_a_terminal_by_name() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-tty");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    // ttyname() finds the caller's terminal at /dev/console: the same device, and writable.
    let script = "t=$(tty) && [ \"$t\" = /dev/console ] && [ -c \"$t\" ] && echo \"name:[$t]\" > \"$t\"";
    let mut cmd = guard.command("nsclone");
    cmd.arg("-mupin").arg(bin("mkroot")).arg(&root).args(["sh", "-c", script]);
    let mut pty = nstools::pty::Pty::spawn(cmd);
    pty.expect("name:[/dev/console]", 10);
    assert_eq!(pty.wait(10).code(), Some(0));
    // Without a terminal there is no /dev/console.
    let out = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(bin("mkroot"))
        .arg(&root)
        .args(["sh", "-c", "tty; [ -e /dev/console ]"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (1, "not a tty\n"), "{}", stderr(&out));
    only_dir_left(&root);
    guard.check();
}

/// Every path below `dir`, sorted (what a race may have created there).
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        out.push(path.display().to_string());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(listing(&path));
        }
    }
    out.sort();
    out
}

/// Red team 3 (#11): DIR swapped with a link to a host directory (renameat2
/// RENAME_EXCHANGE every 300 µs, as a user who owns DIR's parent could) while
/// root runs mkroot on it. Before, root created the overlay's layers and mount
/// points at the link's target; now DIR is held by one descriptor from the
/// first look, and a swap is refused or built on the right directory.
#[test]
fn a_dir_swapped_for_a_link_never_builds_outside_it() {
    require!(can_run(), "needs root and namespaces");
    require!(busybox_static(), "busybox-static is not installed (apt-get install busybox-static)");
    let work = TempDir::new("mkroot-swap");
    let race = work.path().join("race");
    std::fs::create_dir(&race).unwrap();
    let image = busybox_image(&race.join("img")).unwrap();
    for dir in ["proc", "dev", "sys"] {
        std::fs::create_dir(image.join(dir)).unwrap();
    }
    let target = work.path().join("host-dir");
    std::fs::create_dir(&target).unwrap();
    let link = race.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let pristine = listing(&image);
    let guard = Guard::new(&[&target]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, a, b) = (stop.clone(), common::cstring(&image).unwrap(), common::cstring(&link).unwrap());
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: two NUL-terminated paths; RENAME_EXCHANGE swaps them atomically.
                unsafe {
                    libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE)
                };
                swaps += 1;
                std::thread::sleep(Duration::from_micros(300));
            }
            // Leave the names as they were.
            if swaps % 2 == 1 {
                // SAFETY: as above.
                unsafe {
                    libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE)
                };
            }
        })
    };
    let mut built = 0;
    for round in 0..120 {
        let mode: &[&str] = match round % 3 {
            0 => &["--overlay"],
            1 => &["--overlay", "--ro"],
            _ => &["--ro"],
        };
        let out = chain(&guard, &["-mp"], mode, &image, ":");
        built += usize::from(code(&out) == 0);
        assert!(listing(&target).is_empty(), "round {round} {mode:?}: {:?}: {}", listing(&target), stderr(&out));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(built > 0, "no run won the race once: the test proves nothing");
    assert!(listing(&target).is_empty(), "{:?}", listing(&target));
    assert_eq!(listing(&image), pristine, "the image changed");
    guard.check();
}

/// A tool refused a namespace by the seccomp filter it runs under (mkroot's
/// default) names the filter, not the kernel's user namespace settings.
#[test]
fn a_namespace_refused_by_the_filter_names_the_filter() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("mkroot-filtered");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let bin_dir = nstools::bin_dir();
    let nested = format!("{}/nsclone -r true", bin_dir.display());
    let out = chain(&guard, &["-mupin"], &["-r", bin_dir.to_str().unwrap()], &root, &nested);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "nsclone: cannot create namespaces: user: Operation not permitted (this process runs under a seccomp filter"
        ),
        "{}",
        stderr(&out)
    );
    only_dir_left(&root);
    guard.check();
}

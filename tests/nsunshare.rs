//! nsunshare, run for real: same PID, isolation, the PID-namespace holder,
//! maps by itself and by its helper, pins, rootless use. Under the host guard.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::{Command, Output, Stdio};

use nstools::{Guard, TempDir, bin, code, has_namespace, is_root, require, require_host, stderr, stdout, util_linux};

fn can_run() -> bool {
    is_root() && ["mnt", "uts", "ipc", "net", "pid", "user", "cgroup", "time"].iter().all(|n| has_namespace(n))
}

fn nsunshare_sh(guard: &Guard, args: &[&str], script: &str) -> Output {
    guard.command("nsunshare").args(args).args(["sh", "-c", script]).stdin(Stdio::null()).output().unwrap()
}

fn own_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().to_string_lossy().into_owned()
}

#[test]
fn the_command_keeps_the_pid_and_gets_new_namespaces() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    let script = "echo $$; for t in mnt uts ipc net cgroup user; do echo $t $(readlink /proc/self/ns/$t); done";
    let child = guard
        .command("nsunshare")
        .args(["-muinC", "-r", "sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), pid.to_string(), "same PID as nsunshare");
    for line in lines {
        let (kind, inside) = line.split_once(' ').unwrap();
        assert_ne!(inside, own_ns(kind), "{kind} not new");
    }
    guard.check();
}

#[test]
fn setup_matches_nsclone() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    let out = nsunshare_sh(
        &guard,
        &["-un", "--hostname=unshared"],
        "hostname; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
    );
    assert_eq!(stdout(&out), "unshared\nlo\n", "{}", stderr(&out));
    // A child of the command: every kernel puts it in the new time namespace
    // (the command itself enters at exec only on recent kernels).
    let out =
        guard.command("nsunshare").args(["--boottime=86400", "sh", "-c", "cat /proc/uptime; true"]).output().unwrap();
    let inside: f64 = stdout(&out).split_whitespace().next().unwrap().parse().unwrap();
    let host: f64 =
        std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!((inside - host - 86400.0).abs() < 5.0, "time offset: inside {inside}, host {host}");
    guard.check();
}

#[test]
fn pid_namespace_children_can_keep_forking() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    // Without a PID 1 that stays, the second child would fail with ENOMEM.
    let script = "for i in 1 2 3; do sh -c 'echo $$'; done; cat /proc/1/comm; set -- /proc/[0-9]*; echo $#";
    let out = nsunshare_sh(&guard, &["-mp", "--mount-proc"], script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // PIDs 2, 3, 4; the holder is PID 1, the one process /proc shows (the shell stays outside).
    assert_eq!(stdout(&out), "2\n3\n4\nnsunshare\n1\n");
    guard.check();
}

#[test]
fn the_holder_dies_with_the_command() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    // A background child in the new PID namespace outlives sh unless the holder takes it down.
    let out = nsunshare_sh(&guard, &["-p"], "sleep 30 & echo started");
    assert_eq!(stdout(&out), "started\n");
    guard.check();
}

#[test]
fn map_root_user_as_root_writes_its_own_maps() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    let nsunshare = bin("nsunshare");
    let script = format!(
        "id -u; cat /proc/self/uid_map /proc/self/setgroups; {} -U true && echo nested-ok",
        nsunshare.display()
    );
    let out = nsunshare_sh(&guard, &["-r"], &script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).split_whitespace().collect::<Vec<_>>(), ["0", "0", "0", "1", "deny", "nested-ok"]);
    guard.check();
}

#[test]
fn maps_other_than_our_own_are_written_by_the_helper() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    let out = nsunshare_sh(
        &guard,
        &["-U", "--map-users=0:100000:65536", "--map-groups=0:100000:65536"],
        "cat /proc/self/uid_map /proc/self/gid_map",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536", "0", "100000", "65536"]);
    guard.check();
}

#[test]
fn pins_are_made_in_the_original_mount_namespace() {
    require!(can_run(), "needs root and every namespace type");
    require_host!(util_linux("nsenter") && util_linux("unshare"), "util-linux nsenter/unshare are not installed");
    let dir = TempDir::new("nsunshare-pin");
    let guard = Guard::new(&[dir.path()]);
    let d = dir.path().display();
    let nsunshare = bin("nsunshare");
    // -m as well: the pins must still land outside the new mount namespace.
    let script = format!(
        "set -e
         {nsunshare} -m --net={d}/net --uts={d}/uts --pid={d}/pid --hostname=pinned true
         nsenter --uts={d}/uts hostname
         {nstype} -t pid {d}/pid
         umount {d}/net {d}/uts {d}/pid; rm {d}/net {d}/uts {d}/pid",
        nsunshare = nsunshare.display(),
        nstype = bin("nstype").display(),
    );
    let out = guard.in_private_mount_ns(&script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "pinned\n");
    guard.check();
}

#[test]
fn errors() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    let out = guard.command("nsunshare").args(["-n", "no-such-command-nstools"]).output().unwrap();
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (127, "nsunshare: cannot execute: no-such-command-nstools: command not found\n")
    );
    let out = guard.command("nsunshare").args(["-n", "/etc/passwd"]).output().unwrap();
    assert_eq!(code(&out), 126);
    let out = guard.command("nsunshare").args(["-nQ", "true"]).output().unwrap();
    assert_eq!(code(&out), 125);
    let out = guard.command("nsunshare").arg("-n").output().unwrap();
    assert_eq!(code(&out), 125);
    let out = guard.command("nsunshare").args(["--map-users=1:2", "true"]).output().unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).starts_with("nsunshare: invalid map: '1:2': expected INNER:OUTER:COUNT"), "{}", stderr(&out));
    // Root writing its own gid_map from inside: the rule that bites is setgroups, not root.
    let out = guard.command("nsunshare").args(["-U", "--map-user=0", "--map-group=0", "id"]).output().unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("only with setgroups denied: --setgroups=deny"), "{}", stderr(&out));
    let out = guard
        .command("nsunshare")
        .args(["-U", "--map-user=0", "--map-group=0", "--setgroups=deny", "id", "-u"])
        .output()
        .unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "0\n"), "{}", stderr(&out));
    guard.check();
}

#[test]
fn rootless() {
    require!(can_run(), "needs root and every namespace type");
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("nsunshare-rootless");
    dir.open_to_all(0o755);
    let copy = dir.tool_copy("nsunshare");
    let guard = Guard::new(&[]);
    let out = guard
        .watch(Command::new(&copy))
        .uid(65534)
        .gid(65534)
        .args(["-r", "-mun", "--hostname=mine", "sh", "-c", "id -u; hostname; cat /proc/self/setgroups"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\nmine\ndeny\n");
    guard.check();
}

#[test]
fn no_descriptor_of_ours_reaches_the_command() {
    require!(can_run(), "needs root and every namespace type");
    let dir = TempDir::new("nsunshare-fds");
    let pin = dir.path().join("uts");
    let guard = Guard::new(&[]);
    let out = guard
        .command("nsunshare")
        .args(["-p", "-U", "--map-users=0:100000:10"])
        .arg(format!("--uts={}", pin.display()))
        .args(["ls", "/proc/self/fd"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&pin).status();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(nstools::fd_list(&out), nstools::inherited_fds());
    guard.check();
}

#[test]
fn the_holder_is_no_child_the_command_waits_for() {
    require!(can_run(), "needs root and every namespace type");
    require_host!(nstools::have_program("perl"), "perl is not installed");
    let guard = Guard::new(&[]);
    // wait(2) until no child is left: returns once the command's own are done.
    let out = guard
        .command("nsunshare")
        .args(["-mp", "--mount-proc", "perl", "-e"])
        .arg("if (fork() == 0) { exit 3 } while ((my $p = wait()) != -1) { print \"reaped \", $? >> 8, \"\\n\" } print \"no child left\\n\"")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "reaped 3\nno child left\n"), "{}", stderr(&out));
    guard.check();
}

#[test]
fn the_holder_is_sealed_away_from_every_file() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    let out = nsunshare_sh(&guard, &["-mp", "--mount-proc"], "ls -A /proc/1/root | wc -l; wc -l < /proc/1/mountinfo");
    assert_eq!(stdout(&out), "0\n1\n", "{}", stderr(&out));
    guard.check();
}

#[test]
fn a_failure_in_a_helper_is_one_line() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    // The holder fails to mount proc: it says so, and nsunshare adds nothing.
    let out = guard.command("nsunshare").args(["-mp", "--mount-proc=/nonexistent-nstools", "true"]).output().unwrap();
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (125, "nsunshare: cannot mount proc on: /nonexistent-nstools: No such file or directory\n")
    );
    guard.check();
}

#[test]
fn no_pin_on_a_kernel_file_system() {
    require!(can_run(), "needs root and every namespace type");
    let guard = Guard::new(&[]);
    for (tool, file, fs) in [("nsunshare", "/proc/version", "proc"), ("nsclone", "/sys/kernel/notes", "sysfs")] {
        let out = guard.command(tool).arg(format!("--net={file}")).arg("true").output().unwrap();
        assert_eq!(
            (code(&out), stderr(&out)),
            (
                125,
                format!(
                    "{tool}: cannot pin a namespace at: {file}: on a {fs} file system: give a file of your own (such as /run/netns/NAME)\n"
                )
            )
        );
    }
    // The guard checks that the host mount table did not change.
    guard.check();
}

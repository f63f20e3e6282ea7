//! nsjoin, run for real: into containers of nsclone and mkroot, as they
//! run, with the target's root, capabilities and PID namespace; its errors.
//! Every test runs under the host guard.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use nstools::{Guard, TempDir, bin, code, has_namespace, is_root, require, stderr, stdout};

fn can_run() -> bool {
    is_root() && ["mnt", "uts", "ipc", "net", "pid", "user"].iter().all(|n| has_namespace(n))
}

/// A container that writes its PID to `ready` when set up, then sleeps.
fn container(guard: &Guard, args: &[&str], ready: &Path) -> (Child, libc::pid_t) {
    let script = format!(
        "mkdir -p /tmp/container_root && mount -t tmpfs none /tmp/container_root && \
                          echo inside > /tmp/container_root/file && echo $$ > {}.tmp && mv {0}.tmp {0} && exec sleep 30",
        ready.display()
    );
    let child = guard.command("nsclone").args(args).args(["sh", "-c", &script]).stdin(Stdio::null()).spawn().unwrap();
    (child, wait_pid(ready))
}

fn wait_pid(file: &Path) -> libc::pid_t {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "{} never came", file.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn nsjoin(guard: &Guard, args: &[&str], script: &str) -> Output {
    guard.command("nsjoin").args(args).args(["sh", "-c", script]).stdin(Stdio::null()).output().unwrap()
}

/// End a container the way a user would (SIGTERM, which nsclone passes on), so it cleans up.
fn end(mut child: Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
}

#[test]
fn the_seed_scenario() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-seed");
    let ready = work.path().join("pid");
    let guard = Guard::new(&[]);
    let (child, pid) = container(&guard, &["-mun", "--hostname=my-container"], &ready);
    let t = pid.to_string();
    let out = nsjoin(&guard, &["-mu", "-t", &t], "cat /tmp/container_root/file; hostname");
    assert_eq!(stdout(&out), "inside\nmy-container\n", "{}", stderr(&out));
    assert!(!Path::new("/tmp/container_root/file").exists(), "the host sees the container's tmpfs");
    // /proc/net shows the reader's network namespace (/sys would show the mount's).
    let out = nsjoin(&guard, &["-n", "-t", &t], "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    assert_eq!(stdout(&out), "lo\n", "{}", stderr(&out));
    // The type is checked before anything: a uts file for --net.
    let uts = format!("--net=/proc/{pid}/ns/uts");
    let out = nsjoin(&guard, &[&uts], "true");
    assert_eq!(
        (code(&out), stderr(&out)),
        (125, format!("nsjoin: /proc/{pid}/ns/uts: is a uts namespace, not a net namespace\n"))
    );
    end(child);
    let _ = std::fs::remove_dir("/tmp/container_root");
    guard.check();
}

#[test]
fn a_mkroot_container_as_it_runs() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-mkroot");
    let root = work.path().join("r");
    let pidfile = work.path().join("pid");
    let guard = Guard::new(&[&root]);
    let child = guard
        .command("nsclone")
        .args(["-mupin", "--hostname=box"])
        .arg(format!("--pidfile={}", pidfile.display()))
        .arg(bin("mkroot"))
        .args(["--cap-drop=NET_RAW,KILL", "--no-new-privs"])
        .arg(&root)
        .args(["sh", "-c", "touch /inside; exec sleep 30"])
        .spawn()
        .unwrap();
    let pid = wait_pid(&pidfile);
    std::thread::sleep(Duration::from_millis(100));
    let pf = format!("--pidfile={}", pidfile.display());
    // Its seccomp filter cannot be copied yet: refused, unless asked to go without.
    let out = nsjoin(&guard, &["-a", &pf], "true");
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("seccomp filter, which nsjoin cannot copy yet"), "{}", stderr(&out));
    let script = "ls /inside; hostname; echo $$; grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status | tr -d '\\t'";
    let out = nsjoin(&guard, &["-a", &pf, "--no-seccomp"], script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let like: Vec<String> = status
        .lines()
        .filter(|l| l.starts_with("CapBnd") || l.starts_with("CapEff") || l.starts_with("NoNewPrivs"))
        .map(|l| l.replace('\t', ""))
        .collect();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..2], ["/inside", "box"]);
    // Forked inside the PID namespace: a small PID there.
    assert!(lines[2].parse::<i32>().unwrap() < 10, "{text}");
    assert_eq!(&lines[3..], like.iter().map(String::as_str).collect::<Vec<_>>(), "like the target");
    // --keep-caps: ours.
    let out =
        nsjoin(&guard, &["-a", &pf, "--no-seccomp", "--keep-caps"], "grep NoNewPrivs /proc/self/status | tr -d '\\t'");
    assert_eq!(stdout(&out), "NoNewPrivs:0\n", "{}", stderr(&out));
    // The exit status and a death by signal come back.
    let out = nsjoin(&guard, &["-a", &pf, "--no-seccomp"], "exit 42");
    assert_eq!(code(&out), 42);
    let out = nsjoin(&guard, &["-a", &pf, "--no-seccomp"], "kill -TERM $$");
    assert_eq!(code(&out), 128 + 15);
    // Only the caller's descriptors cross.
    let out = guard
        .command("nsjoin")
        .args(["-a", &pf, "--no-seccomp", "ls", "/proc/self/fd"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(nstools::fd_list(&out), nstools::inherited_fds(), "{}", stderr(&out));
    end(child);
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

#[test]
fn wrong_and_gone_targets_are_refused() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-gone");
    let ready = work.path().join("pid");
    let guard = Guard::new(&[]);
    let (child, pid) = container(&guard, &["-mu"], &ready);
    // A PID whose PID namespace is not the one named: refused as reused.
    let stale = format!("{pid}:1");
    let out = nsjoin(&guard, &["-m", "-t", &stale], "true");
    assert_eq!(
        (code(&out), stderr(&out)),
        (125, format!("nsjoin: cannot join: {pid}:1: its PID namespace is another (the PID was reused)\n"))
    );
    end(child);
    // Gone: no such process (its PID is free now), never a join into another.
    let out = nsjoin(&guard, &["-m", "-t", &pid.to_string()], "echo JOINED");
    assert_eq!(code(&out), 125, "{}", stdout(&out));
    assert!(!stdout(&out).contains("JOINED"));
    let missing = PathBuf::from("/nonexistent-nstools");
    let out = guard.command("nsjoin").arg(format!("--net={}", missing.display())).arg("true").output().unwrap();
    assert_eq!(stderr(&out), "nsjoin: cannot open: /nonexistent-nstools: No such file or directory\n");
    let _ = std::fs::remove_dir("/tmp/container_root");
    guard.check();
}

#[test]
fn a_user_joins_its_own_rootless_container() {
    require!(can_run(), "needs root and namespaces");
    use std::os::unix::process::CommandExt;
    let work = TempDir::new("nsjoin-rootless");
    work.open_to_all(0o777);
    let (nsclone, nsjoin) = (work.tool_copy("nsclone"), work.tool_copy("nsjoin"));
    let ready = work.path().join("pid");
    let guard = Guard::new(&[]);
    let script = format!("echo $$ > {0}.tmp && mv {0}.tmp {0} && exec sleep 30", ready.display());
    let child = guard
        .watch(std::process::Command::new(&nsclone))
        .uid(65534)
        .gid(65534)
        .args(["-r", "-mu", "--hostname=mine", "sh", "-c", &script])
        .spawn()
        .unwrap();
    let pid = wait_pid(&ready).to_string();
    let out = guard
        .watch(std::process::Command::new(&nsjoin))
        .uid(65534)
        .gid(65534)
        .args(["-Umu", "-t", &pid, "sh", "-c", "id -u; hostname"])
        .output()
        .unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "0\nmine\n"), "{}", stderr(&out));
    end(child);
    guard.check();
}

#[test]
fn util_linux_agrees_both_ways() {
    require!(can_run(), "needs root and namespaces");
    nstools::require_host!(nstools::util_linux("nsenter"), "util-linux nsenter is not installed");
    let work = TempDir::new("nsjoin-oracle");
    let ready = work.path().join("pid");
    let guard = Guard::new(&[]);
    // nsenter joins a container of nsclone's; nsjoin one of util-linux unshare's: the same view.
    let (child, pid) = container(&guard, &["-mu", "--hostname=oracle"], &ready);
    let t = pid.to_string();
    let seen = "cat /tmp/container_root/file; hostname";
    let theirs = guard
        .watch(std::process::Command::new("nsenter"))
        .args(["-m", "-u", "-t", &t, "sh", "-c", seen])
        .output()
        .unwrap();
    let ours = nsjoin(&guard, &["-mu", "-t", &t], seen);
    assert_eq!((stdout(&ours), stdout(&theirs)), ("inside\noracle\n".to_owned(), "inside\noracle\n".to_owned()));
    end(child);
    let ready2 = work.path().join("pid2");
    let script = format!("hostname unshared; echo $$ > {0}.tmp && mv {0}.tmp {0} && exec sleep 30", ready2.display());
    let mut unshare =
        guard.watch(std::process::Command::new("unshare")).args(["-u", "sh", "-c", &script]).spawn().unwrap();
    let pid2 = wait_pid(&ready2).to_string();
    let out = nsjoin(&guard, &["-u", "-t", &pid2], "hostname");
    assert_eq!(stdout(&out), "unshared\n", "{}", stderr(&out));
    unshare.kill().unwrap();
    unshare.wait().unwrap();
    let _ = std::fs::remove_dir("/tmp/container_root");
    guard.check();
}

#[test]
fn the_environment_is_the_targets_with_e_and_ours_without() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-env");
    let ready = work.path().join("pid");
    let guard = Guard::new(&[]);
    let script = format!("echo $$ > {0}.tmp && mv {0}.tmp {0} && exec sleep 30", ready.display());
    let child = guard
        .command("nsclone")
        .env("WHERE", "container")
        .args(["-mu", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t = wait_pid(&ready).to_string();
    let show = "echo ${WHERE-unset} ${HOST_SECRET-unset}";
    let run = |args: &[&str]| {
        let out = guard
            .command("nsjoin")
            .env("HOST_SECRET", "s3cret")
            .args(args)
            .args(["sh", "-c", show])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (stdout(&out), stderr(&out))
    };
    assert_eq!(run(&["-mu", "-t", &t]), ("unset s3cret\n".to_owned(), String::new()));
    // Nothing of ours crosses with -e: the host's secret stays out.
    assert_eq!(run(&["-mue", "-t", &t]), ("container unset\n".to_owned(), String::new()));
    end(child);
    guard.check();
}

#[test]
fn join_cgroup_puts_the_command_under_the_targets_limits() {
    let memory = common::cgroup::holding(&common::cgroup::own(), "memory").is_some();
    require!(can_run() && memory, "needs root, namespaces and the memory controller");
    let work = TempDir::new("nsjoin-cgroup");
    let ready = work.path().join("pid");
    let guard = Guard::new(&[]);
    let script = format!("echo $$ > {0}.tmp && mv {0}.tmp {0} && exec sleep 30", ready.display());
    let child = guard
        .command("cglimit")
        .args(["50M", bin("nsclone").to_str().unwrap(), "-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = wait_pid(&ready);
    let t = pid.to_string();
    let theirs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_ne!(theirs, ours, "cglimit made no cgroup");
    let out = nsjoin(&guard, &["-m", "-t", &t], "cat /proc/self/cgroup");
    assert_eq!(stdout(&out), ours, "{}", stderr(&out));
    let out = nsjoin(&guard, &["-mg", "-t", &t], "cat /proc/self/cgroup");
    assert_eq!(stdout(&out), theirs, "{}", stderr(&out));
    end(child);
    guard.check();
}

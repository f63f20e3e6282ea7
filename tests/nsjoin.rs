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

/// Wait until `pid`'s state (in /proc/PID/stat) is `state`.
fn wait_state(pid: libc::pid_t, state: char) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()) == Some(state) {
            return;
        }
        assert!(Instant::now() < deadline, "{pid} never reached state {state}: {stat}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait until `pid` runs under a seccomp filter (mkroot has installed it).
fn wait_seccomp(pid: libc::pid_t) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default().contains("Seccomp:\t2") {
        assert!(Instant::now() < deadline, "{pid} never had a seccomp filter");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run `cmd` with a pidfd of `pid` as its descriptor 9, and stdin closed.
fn with_pidfd(mut cmd: std::process::Command, pid: libc::pid_t) -> Output {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    // SAFETY: a plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    assert!(fd >= 0, "pidfd_open {pid}");
    // SAFETY: the new descriptor (close-on-exec) is ours alone; it closes when this test is done with it.
    let _pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: between fork and exec the closure makes only a dup2, which clears close-on-exec on 9.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 9) != 9 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null()).output().unwrap()
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
    // Until the command has made its file (and so mkroot has restricted it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(&format!("/proc/{pid}/root/inside")).exists() {
        assert!(Instant::now() < deadline, "the container never made /inside");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pf = format!("--pidfile={}", pidfile.display());
    let script =
        "ls /inside; hostname; echo $$; grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp)' /proc/self/status | tr -d '\\t'";
    let out = nsjoin(&guard, &["-a", &pf], script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let like: Vec<String> = status
        .lines()
        .filter(|l| ["CapBnd", "CapEff", "NoNewPrivs", "Seccomp"].iter().any(|key| l.starts_with(key)))
        .map(|l| l.replace('\t', ""))
        .collect();
    assert!(like.contains(&"Seccomp:2".to_owned()), "{like:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..2], ["/inside", "box"]);
    // Forked inside the PID namespace: a small PID there.
    assert!(lines[2].parse::<i32>().unwrap() < 10, "{text}");
    assert_eq!(&lines[3..], like.iter().map(String::as_str).collect::<Vec<_>>(), "like the target");
    // --keep-caps: ours.
    let out = nsjoin(&guard, &["-a", &pf, "--keep-caps"], "grep NoNewPrivs /proc/self/status | tr -d '\\t'");
    assert_eq!(stdout(&out), "NoNewPrivs:0\n", "{}", stderr(&out));
    // The filter denies what it denies the container, even with our capabilities
    // (CAP_SYS_ADMIN among them); --no-seccomp leaves it out.
    let out = nsjoin(&guard, &["-a", &pf, "--keep-caps"], "unshare -u true && echo unshared");
    assert_eq!((code(&out), stdout(&out).as_str()), (1, ""), "{}", stderr(&out));
    let out = nsjoin(&guard, &["-a", &pf, "--keep-caps", "--no-seccomp"], "unshare -u true && echo unshared");
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "unshared\n"), "{}", stderr(&out));
    // The exit status and a death by signal come back.
    let out = nsjoin(&guard, &["-a", &pf], "exit 42");
    assert_eq!(code(&out), 42);
    let out = nsjoin(&guard, &["-a", &pf], "kill -TERM $$");
    assert_eq!(code(&out), 128 + 15);
    // A stop is mirrored: nsjoin stops with the command, and continuing it continues the command.
    let stopping = guard
        .command("nsjoin")
        .args(["-a", &pf, "sh", "-c", "kill -STOP $$; echo resumed"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stopper = stopping.id() as i32;
    wait_state(stopper, 'T');
    // SAFETY: signalling our own child.
    unsafe { libc::kill(stopper, libc::SIGCONT) };
    let out = stopping.wait_with_output().unwrap();
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "resumed\n"));
    // Only stdio crosses (ls's own directory is 3); the joins are made all at once, through the pidfd.
    let out =
        guard.command("nsjoin").args(["-v", "-a", &pf, "ls", "/proc/self/fd"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(stdout(&out), "0\n1\n2\n3\n", "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("+ setns pidfd of {pid} (")), "{}", stderr(&out));
    // A pidfd the caller passes (as descriptor 9) is the target, and does not reach the command.
    let mut cmd = guard.command("nsjoin");
    cmd.args(["--pidfd=9", "-a", "ls", "/proc/self/fd"]);
    let out = with_pidfd(cmd, pid);
    assert_eq!(stdout(&out), "0\n1\n2\n3\n", "{}", stderr(&out));
    let mut cmd = guard.command("nsjoin");
    cmd.args(["--pidfd=9", "-a", "hostname"]);
    let out = with_pidfd(cmd, pid);
    assert_eq!(stdout(&out), "box\n", "{}", stderr(&out));
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
    let as_user = |args: &[&str]| {
        guard.watch(std::process::Command::new(&nsjoin)).uid(65534).gid(65534).args(args).output().unwrap()
    };
    // Only its own id is mapped there.
    let out = as_user(&["-Umu", "-t", &pid, "-S", "1", "true"]);
    assert_eq!(
        stderr(&out),
        "nsjoin: cannot switch to user: 1: Invalid argument (not mapped in this user namespace)\n"
    );
    end(child);
    // A rootless mkroot container has a seccomp filter, which only root can read:
    // refused with the reason, unless asked to go without it.
    let mkroot = work.tool_copy("mkroot");
    let root = work.path().join("root");
    let ready = work.path().join("pid2");
    let child = guard
        .watch(std::process::Command::new(&nsclone))
        .uid(65534)
        .gid(65534)
        .arg("-r")
        .arg("-mupin")
        .arg(format!("--pidfile={}", ready.display()))
        .arg(&mkroot)
        .arg(&root)
        .args(["sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = wait_pid(&ready);
    wait_seccomp(pid);
    let pid = pid.to_string();
    let out = as_user(&["-a", "-t", &pid, "true"]);
    assert_eq!(
        (code(&out), stderr(&out)),
        (
            125,
            format!(
                "nsjoin: cannot read: the seccomp filter of PID {pid}: Permission denied (it takes CAP_SYS_ADMIN in the initial user namespace and no filter of our own)\n"
            )
        )
    );
    let out = as_user(&["-a", "-t", &pid, "--no-seccomp", "id", "-u"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "0\n"), "{}", stderr(&out));
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

/// Status lines of `pid` that name its ids, tabs taken out.
fn id_lines(status: &str) -> Vec<String> {
    status
        .lines()
        .filter(|l| ["Uid:", "Gid:", "Groups:"].iter().any(|key| l.starts_with(key)))
        .map(|l| l.replace('\t', " ").trim_end().to_owned())
        .collect()
}

#[test]
fn the_command_runs_as_the_targets_user_unless_told_otherwise() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-user");
    let root = work.path().join("r");
    let pidfile = work.path().join("pid");
    let guard = Guard::new(&[&root]);
    let child = guard
        .command("nsclone")
        .args(["-mpu"])
        .arg(format!("--pidfile={}", pidfile.display()))
        .arg(bin("mkroot"))
        .arg("--user=1000:1000")
        .arg(&root)
        .args(["sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = wait_pid(&pidfile);
    // Until mkroot has become the user and executed sleep (busybox, in the VM lane).
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.contains("Uid:\t1000\t")
            && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| !e.ends_with("mkroot"))
        {
            break status;
        }
        assert!(Instant::now() < deadline, "the container never ran sleep as 1000");
        std::thread::sleep(Duration::from_millis(10));
    };
    let pf = format!("--pidfile={}", pidfile.display());
    let ids = "grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr '\\t' ' ' | sed 's/ *$//'";
    let out = nsjoin(&guard, &["-a", &pf], ids);
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), id_lines(&status), "{}", stderr(&out));
    let out = nsjoin(&guard, &["-a", &pf, "-S", "7", "--setgid=8"], ids);
    assert_eq!(stdout(&out), "Uid: 7 7 7 7\nGid: 8 8 8 8\nGroups:\n", "{}", stderr(&out));
    let out = nsjoin(&guard, &["-a", &pf, "--preserve-credentials"], "id -u");
    assert_eq!(stdout(&out), "0\n", "{}", stderr(&out));
    let out = nsjoin(&guard, &["-a", &pf, "--preserve-credentials", "-S", "0"], "true");
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (
            125,
            "nsjoin: --preserve-credentials excludes -S and -G; usage: nsjoin [-mupinUCTa] -t PID [options] COMMAND [ARG...]\n"
        )
    );
    end(child);
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

#[test]
fn a_target_that_exits_meanwhile_is_never_joined_by_mistake() {
    require!(can_run(), "needs root and namespaces");
    use std::io::BufRead;
    let guard = Guard::new(&[]);
    let (mut joined, mut refused) = (0, 0);
    for round in 0..200u32 {
        // The target names its UTS namespace, says so, and exits when its stdin closes.
        let mut target = guard
            .command("nsunshare")
            .args(["-u", "sh", "-c", "hostname racer && echo ready && read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(target.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let pid = target.id().to_string();
        let stdin = target.stdin.take();
        // Its end comes before nsjoin starts, or while it runs; a thread reaps it, so its PID is free.
        let stdin = if round % 2 == 0 {
            drop(stdin);
            None
        } else {
            stdin
        };
        let reaper = std::thread::spawn(move || target.wait().unwrap());
        let join = guard
            .command("nsjoin")
            .args(["-u", "-t", &pid, "hostname"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(u64::from(round % 7) * 150));
        drop(stdin);
        let out = join.wait_with_output().unwrap();
        reaper.join().unwrap();
        match code(&out) {
            0 => {
                assert_eq!(stdout(&out), "racer\n", "round {round}: joined another process");
                joined += 1;
            }
            125 => {
                let err = stderr(&out);
                assert!(stdout(&out).is_empty() && err.starts_with("nsjoin: ") && err.lines().count() == 1, "{err}");
                refused += 1;
            }
            other => panic!("round {round}: exit {other}: {}", stderr(&out)),
        }
    }
    assert_eq!(joined + refused, 200);
    eprintln!("joined {joined}, refused {refused}");
    guard.check();
}

/// The attacks of red team 3 on the way in: every time, the container holds
/// the executable of the process that entered it, and tries to write it.
const EXEWATCH_C: &str = include_str!("exewatch.c");

#[test]
fn the_container_never_gets_our_binary_to_write() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-exe");
    let helpers = nstools::c_helper(&work, "exewatch", EXEWATCH_C);
    nstools::require_host!(helpers.is_some(), "gcc is not installed (to build the attacker)");
    let helpers = helpers.unwrap();
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    // A copy of nsjoin, run by root, that a container would rewrite (runc's CVE-2019-5736).
    let victim = work.path().join("nsjoin-victim");
    nstools::copy_program(&bin("nsjoin"), &victim);
    let before = std::fs::read(&victim).unwrap();
    let (root, pidfile, report) = (work.path().join("r"), work.path().join("pid"), shared.join("report"));
    let guard = Guard::new(&[&root, &victim]);
    // Every way to name the binary that execs: a #! script, a link, a #! chain, a #! through a link.
    const JOINS: usize = 100;
    let setup = format!(
        "printf '#!/proc/self/exe\\n' >/tmp/script; ln -s /proc/self/exe /tmp/link; printf '#!/tmp/script\\n' >/tmp/chain; \
         printf '#!/tmp/link\\n' >/tmp/vialink; chmod +x /tmp/script /tmp/chain /tmp/vialink; \
         exec /helpers/exewatch nsjoin /shared/report {JOINS} 120"
    );
    let child = guard
        .command("nsclone")
        .arg("-mupin")
        .arg(format!("--pidfile={}", pidfile.display()))
        .arg(bin("mkroot"))
        .arg(format!("--ro-bind={}:/helpers", helpers.display()))
        .arg(format!("--bind={}:/shared", shared.display()))
        .arg(&root)
        .args(["sh", "-c", &setup])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = wait_pid(&pidfile);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("exewatch")) {
        assert!(Instant::now() < deadline, "the attacker never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pf = format!("--pidfile={}", pidfile.display());
    for i in 0..JOINS {
        let name = ["/tmp/script", "/tmp/link", "/tmp/chain", "/tmp/vialink"][i % 4];
        // Its stderr full: the run of our binary inside stalls at its first message, until caught.
        let mut stalled = nstools::FullPipe::new();
        let joining = guard
            .watch(std::process::Command::new(&victim))
            .args(["-a", &pf, name, "-c", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stalled.stdio())
            .spawn()
            .unwrap();
        let caught = nstools::wait_report(&report, "caught", i + 1);
        let said = stalled.drain();
        let out = joining.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{name}: {said}");
        // What ran inside was a sealed copy, never the host's file.
        let line = caught.lines().rfind(|l| l.starts_with("caught")).unwrap().to_owned();
        assert!(line.ends_with("/memfd:nsjoin (deleted)"), "{name}: {line}");
    }
    let text = nstools::wait_report(&report, "refused", JOINS);
    assert!(!text.contains("WROTE"), "{text}");
    assert!(std::fs::read(&victim).unwrap() == before, "the container rewrote the host's nsjoin: {text}");
    end(child);
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

/// A mkroot container running `script`, with `helpers` at /helpers (read-only)
/// and `shared` at /shared; its command's PID, as nsclone --pidfile reports it.
fn mkroot_container(guard: &Guard, work: &Path, helpers: Option<&Path>, script: &str) -> (Child, libc::pid_t, PathBuf) {
    let (root, pidfile, shared) = (work.join("r"), work.join("pid"), work.join("shared"));
    std::fs::create_dir_all(&shared).unwrap();
    let mut cmd = guard.command("nsclone");
    cmd.arg("-mupin").arg(format!("--pidfile={}", pidfile.display())).arg(bin("mkroot"));
    if let Some(helpers) = helpers {
        cmd.arg(format!("--ro-bind={}:/helpers", helpers.display()));
    }
    cmd.arg(format!("--bind={}:/shared", shared.display()));
    let child = cmd.arg(&root).args(["sh", "-c", script]).stdin(Stdio::null()).spawn().unwrap();
    let pid = wait_pid(&pidfile);
    wait_seccomp(pid);
    (child, pid, root)
}

/// Red team 3 (#3): a descriptor the caller holds (here `7</`, the host's root)
/// and the caller's terminal never reach the container, whose processes read
/// any descriptor of a joined command through /proc/N/fd; --preserve-fds passes
/// the ones asked for. The terminal is relayed: pipes, or with --tty a pty of
/// the container's own.
#[test]
fn only_stdio_crosses_and_the_callers_terminal_stays_outside() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-fds");
    let guard = Guard::new(&[]);
    let (child, pid, root) = mkroot_container(&guard, work.path(), None, "exec sleep 60");
    let target = pid.to_string();
    let with_root_at_7 = |extra: &[&str]| {
        use std::os::unix::process::CommandExt;
        let mut cmd = guard.command("nsjoin");
        cmd.args(["-a", "-t", &target]).args(extra).args(["ls", "/proc/self/fd"]).stdin(Stdio::null());
        // SAFETY: between fork and exec only open and dup2, which are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let fd = libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                if fd < 0 || libc::dup2(fd, 7) != 7 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.output().unwrap()
    };
    let out = with_root_at_7(&[]);
    assert_eq!(stdout(&out), "0\n1\n2\n3\n", "{}", stderr(&out));
    let out = with_root_at_7(&["--preserve-fds=5"]);
    assert!(stdout(&out).lines().any(|fd| fd == "7"), "{}{}", stdout(&out), stderr(&out));
    // At a terminal: pipes in its place, and no controlling terminal, unless --tty.
    let script = "for fd in 0 1 2; do readlink /proc/self/fd/$fd; done; tty; exit 7";
    let mut cmd = guard.command("nsjoin");
    cmd.args(["-a", "-t", &target, "sh", "-c", script]);
    let mut pty = nstools::pty::Pty::spawn(cmd);
    pty.expect("pipe:[", 10);
    pty.expect("pipe:[", 10);
    pty.expect("pipe:[", 10);
    pty.expect("not a tty", 10);
    assert_eq!(pty.child.wait().unwrap().code(), Some(7));
    let mut cmd = guard.command("nsjoin");
    cmd.args(["--tty", "-a", "-t", &target, "sh", "-c", "tty; readlink /proc/self/fd/0; exit 9"]);
    let mut pty = nstools::pty::Pty::spawn(cmd);
    // The container's own devpts: its first pty.
    pty.expect("/dev/pts/0", 10);
    pty.expect("/dev/pts/0", 10);
    assert_eq!(pty.child.wait().unwrap().code(), Some(9));
    end(child);
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

/// Red team 3 (#20): the PID namespace joined without the mount namespace left
/// the command our root, which the container read and wrote through
/// /proc/N/root. Refused, as is a directory of ours with -r or -w.
#[test]
fn a_pid_namespace_without_its_mount_namespace_is_refused() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-pid-only");
    let guard = Guard::new(&[]);
    let marker = work.path().join("JOIN-ESCAPE-WRITTEN");
    let (child, pid, root) = mkroot_container(&guard, work.path(), None, "exec sleep 60");
    let target = pid.to_string();
    let why = "nsjoin: cannot join: the PID namespace without the mount namespace: the command would keep our root and working directory, and every process of the container could reach it through /proc/N/root and /proc/N/cwd: add -m (or use -a)\n";
    for args in [&["-n", "-p"][..], &["-p"], &["-p", "-u", "-i"]] {
        let out = guard
            .command("nsjoin")
            .args(args)
            .args(["-t", &target, "sh", "-c"])
            .arg(format!("echo written > {}", marker.display()))
            .output()
            .unwrap();
        assert_eq!((code(&out), stderr(&out).as_str()), (125, why), "{args:?}");
    }
    let out = guard.command("nsjoin").args(["-a", "-t", &target, "--root=/", "true"]).output().unwrap();
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).contains("a directory of ours inside the container's PID namespace"), "{}", stderr(&out));
    // Without the PID namespace, nothing of the container sees the command: allowed.
    let out = guard.command("nsjoin").args(["-n", "-t", &target, "true"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!marker.exists());
    end(child);
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

/// Red team 3 (#14): nsjoin killed with SIGKILL takes its command along
/// (PDEATHSIG), as cglimit does; before, 15 of 15 stayed in the container.
#[test]
fn the_command_dies_with_a_killed_nsjoin() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-killed");
    let guard = Guard::new(&[]);
    let (child, pid, root) = mkroot_container(&guard, work.path(), None, "exec sleep 60");
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    // The sleeps of the container's PID namespace whose argument is `seconds`.
    let sleeps = |seconds: &str| -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|p: &i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|n| n == ns))
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == format!("sleep\0{seconds}\0").as_bytes())
            })
            .collect()
    };
    for round in 0..5 {
        let mut joining = guard
            .command("nsjoin")
            .args(["-a", "-t", &pid.to_string(), "sleep", "77"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while sleeps("77").is_empty() {
            assert!(Instant::now() < deadline, "round {round}: the command never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        joining.kill().unwrap();
        joining.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sleeps("77").is_empty() {
            assert!(Instant::now() < deadline, "round {round}: the command outlived nsjoin: {:?}", sleeps("77"));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    end(child);
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

/// Red team 3 (#7): a container that traces the target keeps nsjoin from
/// reading its filters; nsjoin used to advise --no-seccomp, which gives the
/// container an unfiltered process. Now the filters are read from another
/// process of the container with the same stack, and the command runs under them.
#[test]
fn a_traced_target_is_joined_under_its_filters() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("nsjoin-traced");
    let helpers = nstools::c_helper(&work, "holdtrace", include_str!("holdtrace.c"));
    nstools::require_host!(helpers.is_some(), "gcc is not installed (to build the tracer)");
    let guard = Guard::new(&[]);
    let (child, pid, root) = mkroot_container(&guard, work.path(), helpers.as_deref(), "exec /helpers/holdtrace 60");
    // holdtrace's child, traced by it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let traced = loop {
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = children.split_whitespace().next()
            && std::fs::read_to_string(format!("/proc/{c}/status"))
                .is_ok_and(|s| s.contains(&format!("TracerPid:\t{pid}\n")))
        {
            break c.to_owned();
        }
        assert!(Instant::now() < deadline, "the tracer never seized its child");
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = guard
        .command("nsjoin")
        .args(["-v", "-a", "-t", &traced, "sh", "-c", "grep -E '^Seccomp(_filters)?:' /proc/self/status | tr -d '\\t'"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let theirs = std::fs::read_to_string(format!("/proc/{traced}/status")).unwrap();
    let count = theirs.lines().find(|l| l.starts_with("Seccomp_filters:")).unwrap().replace('\t', "");
    assert_eq!(stdout(&out), format!("Seccomp:2\n{count}\n"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("is traced by PID {pid}: its filters read from PID {pid}")),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("--no-seccomp"));
    end(child);
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

/// Red team 3 (#8): a pid file where a container writes can be /dev/zero or a
/// FIFO; nsjoin read the first until memory ran out and hung on the second.
#[test]
fn a_pid_file_is_read_bounded_and_never_blocks() {
    let work = TempDir::new("nsjoin-pidfile");
    let fifo = work.path().join("fifo");
    let name = common::cstring(&fifo).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let big = work.path().join("big");
    std::fs::write(&big, "1".repeat(100)).unwrap();
    for (file, why) in [
        (Path::new("/dev/zero"), "not a regular file"),
        (fifo.as_path(), "not a regular file"),
        (big.as_path(), "larger than 64 bytes"),
    ] {
        let mut running = std::process::Command::new(bin("nsjoin"))
            .arg(format!("--pidfile={}", file.display()))
            .args(["-n", "true"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while running.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                running.kill().unwrap();
                panic!("{}: still reading after 5 s", file.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = running.wait_with_output().unwrap();
        assert_eq!(code(&out), 125);
        assert_eq!(stderr(&out), format!("nsjoin: cannot read pid file: {}: {why}\n", file.display()));
    }
}

//! cglimit, run for real on this host's layout (hybrid here, pure v2 in the
//! VM lane): limits that bite, the messages, cleanup after every kind of
//! end, bad input. Every test runs under the host guard, which watches the
//! cgroup tree below our own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::Stdio;
use std::time::Duration;

use nstools::{Guard, code, is_root, require, stderr, stdout};

fn can_run() -> bool {
    is_root() && !common::cgroup::own().is_empty()
}

/// Whether some hierarchy offers `controller` to us.
fn offered(controller: &str) -> bool {
    common::cgroup::holding(&common::cgroup::own(), controller).is_some()
}

fn cglimit_sh(guard: &Guard, args: &[&str], script: &str) -> std::process::Output {
    guard.command("cglimit").args(args).args(["sh", "-c", script]).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn the_memory_limit_kills_and_says_so_once() {
    require!(can_run() && offered("memory"), "needs root and the memory controller");
    let guard = Guard::new(&[]);
    // A 200M buffer is more than 50M can hold (swap off, so the kill is certain).
    let script = "exec dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null";
    let out = cglimit_sh(&guard, &["--swap=0", "50M"], script);
    assert_eq!(code(&out), 137, "killed by 9: {}", stderr(&out));
    assert_eq!(stderr(&out), "cglimit: out of memory: killed at the 50M limit (1 process)\n");
    guard.check();
}

#[test]
fn the_limit_files_say_what_was_asked() {
    require!(can_run() && offered("memory") && offered("pids") && offered("cpu"), "needs root and memory, pids, cpu");
    let guard = Guard::new(&[]);
    let own = common::cgroup::own();
    let dir = |controller: &str| common::cgroup::holding(&own, controller).unwrap().clone();
    let (memory, pids, cpu) = (dir("memory"), dir("pids"), dir("cpu"));
    let files = [
        (memory.dir.join("box/memory.max"), memory.dir.join("box/memory.limit_in_bytes"), memory.is_v2()),
        (pids.dir.join("box/pids.max"), pids.dir.join("box/pids.max"), pids.is_v2()),
        (cpu.dir.join("box/cpu.max"), cpu.dir.join("box/cpu.cfs_quota_us"), cpu.is_v2()),
    ];
    let cat: Vec<String> =
        files.iter().map(|(v2, v1, is_v2)| format!("cat {}", if *is_v2 { v2 } else { v1 }.display())).collect();
    let out = cglimit_sh(&guard, &["--name=box", "-m", "50M", "--pids=10", "--cpu=0.5"], &cat.join("; "));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cpu_line = if cpu.is_v2() { "50000 100000" } else { "50000" };
    assert_eq!(stdout(&out), format!("52428800\n10\n{cpu_line}\n"));
    guard.check();
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    require!(can_run() && offered("pids"), "needs root and the pids controller");
    let guard = Guard::new(&[]);
    let script = "i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done 2>/dev/null; echo forked";
    let out = cglimit_sh(&guard, &["--pids=10"], script);
    assert!(stderr(&out).starts_with("cglimit: pids limit reached: 10 (fork refused "), "{}", stderr(&out));
    // The sleeps that did start are gone with the cgroup: the guard checks no process is left.
    guard.check();
}

#[test]
fn the_cpu_quota_throttles_a_busy_loop() {
    require!(can_run() && offered("cpu"), "needs root and the cpu controller");
    let guard = Guard::new(&[]);
    let cpu = common::cgroup::holding(&common::cgroup::own(), "cpu").unwrap().clone();
    let stat = cpu.dir.join("spin/cpu.stat");
    let script = format!(
        // The shell itself spins (no fork per round), for two seconds of wall time.
        "end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; done; grep nr_throttled {}",
        stat.display()
    );
    let out = cglimit_sh(&guard, &["--name=spin", "--cpu=0.1"], &script);
    let throttled: u64 = stdout(&out).split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(throttled > 0, "{}{}", stdout(&out), stderr(&out));
    guard.check();
}

#[test]
fn nothing_is_left_after_runs_kills_and_daemons() {
    // 100 runs, a daemon left behind, and cglimit SIGKILLed at 100 random moments.
    require!(can_run(), "needs root and a cgroup hierarchy");
    let guard = Guard::new(&[]);
    for _ in 0..100 {
        let out = guard.command("cglimit").args(["-m", "64M", "true"]).output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // A daemon the command leaves behind ends with the cgroup.
    let out = cglimit_sh(&guard, &["-m", "64M"], "setsid sleep 30 & echo started");
    assert_eq!(stdout(&out), "started\n", "{}", stderr(&out));
    // cglimit killed with SIGKILL: its sweeper ends the command, the daemon and the cgroup
    // within a second, whatever the moment was.
    let mut rng = common::fuzz::Rng::new(0x6c1);
    for round in 0..100 {
        let mut child =
            guard.command("cglimit").args(["-m", "64M", "sh", "-c", "sleep 30 & sleep 30"]).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(20_000) as u64));
        child.kill().unwrap();
        child.wait().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while !guard.diff().is_empty() {
            assert!(std::time::Instant::now() < deadline, "round {round}, a second after SIGKILL: {:?}", guard.diff());
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    guard.check();
}

#[test]
fn statuses_and_signals_are_the_commands() {
    require!(can_run(), "needs root and a cgroup hierarchy");
    let guard = Guard::new(&[]);
    for (script, status) in [("exit 0", 0), ("exit 42", 42), ("kill -TERM $$", 128 + 15), ("kill -KILL $$", 128 + 9)] {
        let out = cglimit_sh(&guard, &["--pids=100"], script);
        assert_eq!(code(&out), status, "{script}: {}", stderr(&out));
    }
    let out = guard.command("cglimit").args(["--pids=100", "no-such-command-nstools"]).output().unwrap();
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (127, "cglimit: cannot execute: no-such-command-nstools: command not found\n")
    );
    guard.check();
}

#[test]
fn bad_input_is_refused_before_any_cgroup_exists() {
    require!(can_run(), "needs root and a cgroup hierarchy");
    let guard = Guard::new(&[]);
    let cases = [
        (&["--memory=0"][..], "cglimit: invalid memory limit: '0': below the minimum of 6M\n"),
        (
            &["--memory=12Q"],
            "cglimit: invalid size: '12Q': unknown unit 'Q' (use K, M, G, T, KiB, … or max) (--memory)\n",
        ),
        (&["--cpu=0"], "cglimit: invalid CPU limit: '0': must be more than 0\n"),
        (&["--cpu=-1"], "cglimit: invalid CPU limit: '-1': expected CPUs such as 0.5, 2 or 150%\n"),
        (&["--pids=lots"], "cglimit: invalid pids limit: 'lots': expected a number of processes or max\n"),
        (&["--name=a/b"], "cglimit: invalid cgroup name: 'a/b': one name, without '/'\n"),
        (&["--name="], "cglimit: invalid cgroup name: '': one name, without '/'\n"),
        (
            &["--name=cglimit.1"],
            "cglimit: invalid cgroup name: 'cglimit.1': cglimit.N names are cglimit's own: choose another\n",
        ),
        (
            &["--name=cglimit.7.exec"],
            "cglimit: invalid cgroup name: 'cglimit.7.exec': cglimit.N names are cglimit's own: choose another\n",
        ),
        (
            &["--parent=../up"],
            "cglimit: invalid --parent: '../up': a cgroup path below our own, such as jobs/a, without '/' first or '..'\n",
        ),
        (
            &["--swap=0"],
            "cglimit: --swap needs --memory: swap is counted on top of the memory limit; usage: cglimit [options] [SIZE] COMMAND [ARG...]\n",
        ),
    ];
    for (args, message) in cases {
        let out = guard.command("cglimit").args(args).arg("true").output().unwrap();
        assert_eq!((code(&out), stderr(&out).as_str()), (125, message), "{args:?}");
    }
    // A control file's name is no cgroup's, and the message says so.
    let out = guard.command("cglimit").args(["--name=cgroup.procs", "true"]).output().unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("that is a control file of the parent cgroup"), "{}", stderr(&out));
    guard.check();
}

#[test]
fn exec_mode_moves_itself_and_leaves_the_cgroup_to_the_caller() {
    require!(can_run() && offered("pids"), "needs root and the pids controller");
    let guard = Guard::new(&[]);
    let pids = common::cgroup::holding(&common::cgroup::own(), "pids").unwrap().clone();
    let dir = pids.dir.join("supervised");
    let out = guard
        .command("cglimit")
        .args(["--exec", "--name=supervised", "--pids=7", "sh", "-c", "echo $$ > /dev/null; cat /proc/self/cgroup"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("/supervised"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap(), "7\n");
    // The caller owns it now: it removes it (the guard checks nothing is left).
    std::fs::remove_dir(&dir).unwrap();
    guard.check();
}

#[test]
fn the_whole_chain_sees_its_limit_and_is_killed_at_it() {
    require!(
        can_run() && offered("memory") && nstools::has_namespace("cgroup"),
        "needs root, memory and cgroup namespaces"
    );
    let work = nstools::TempDir::new("cglimit-chain");
    let root = work.path().join("r");
    let guard = Guard::new(&[&root]);
    let memory = common::cgroup::holding(&common::cgroup::own(), "memory").unwrap().clone();
    // The container's own cgroup, read-only at its place: the v2 file, or v1's in its hierarchy.
    let limit =
        if memory.is_v2() { memory.point.join("memory.max") } else { memory.point.join("memory.limit_in_bytes") };
    let script = format!(
        "cut -d: -f3 /proc/self/cgroup | sort -u; cat {}; {{ echo x > {}; }} 2>/dev/null || echo read-only; \
         exec dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null",
        limit.display(),
        limit.display()
    );
    let out = guard
        .command("cglimit")
        .args(["--swap=0", "50M"])
        .arg(nstools::bin("nsclone"))
        .arg("-mupinC")
        .arg(nstools::bin("mkroot"))
        .arg(&root)
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // In its cgroup namespace the new cgroup is the root of every hierarchy.
    assert_eq!(stdout(&out), "/\n52428800\nread-only\n", "{}", stderr(&out));
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    assert_eq!(stderr(&out), "cglimit: out of memory: killed at the 50M limit (1 process)\n");
    std::fs::remove_dir(&root).unwrap();
    guard.check();
}

#[test]
fn a_delegated_cgroup_that_holds_only_cglimit_works() {
    require!(can_run() && offered("memory"), "needs root and the memory controller");
    let guard = Guard::new(&[]);
    let memory = common::cgroup::holding(&common::cgroup::own(), "memory").unwrap().clone();
    // A cgroup below ours that only cglimit will be in: on v2 its controllers
    // can be enabled only once cglimit has moved itself aside.
    let scope = memory.dir.join("nstools-scope");
    if memory.is_v2() {
        // The scope must be offered the controller: as a delegating manager does, enable it above.
        std::fs::write(memory.dir.join("cgroup.subtree_control"), "+memory").unwrap();
    }
    std::fs::create_dir(&scope).unwrap();
    let procs = if memory.is_v2() { "cgroup.procs" } else { "tasks" };
    let script = format!(
        "echo $$ > {}/{procs} && exec {} 50M sh -c 'cat /proc/self/cgroup'",
        scope.display(),
        nstools::bin("cglimit").display()
    );
    let out = guard.watch(std::process::Command::new("sh")).args(["-c", &script]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("/nstools-scope/cglimit."), "{}", stdout(&out));
    // Everything cglimit made is gone, and it left the scope as it found it.
    let left: Vec<_> = std::fs::read_dir(&scope).unwrap().flatten().filter(|e| e.path().is_dir()).collect();
    assert!(left.is_empty(), "{left:?}");
    if memory.is_v2() {
        assert_eq!(std::fs::read_to_string(scope.join("cgroup.subtree_control")).unwrap().trim(), "");
    }
    std::fs::remove_dir(&scope).unwrap();
    guard.check();
}

#[test]
fn oom_group_ends_the_whole_cgroup_at_the_first_kill() {
    require!(can_run() && offered("memory"), "needs root and the memory controller");
    let guard = Guard::new(&[]);
    let script = "sleep 30 & dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; sleep 1; echo survived";
    // Without it, the shell outlives the process the kernel killed.
    let out = cglimit_sh(&guard, &["--swap=0", "50M"], script);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "survived\n"), "{}", stderr(&out));
    // With it, the first kill ends every process of the cgroup: the shell is killed too.
    let out = cglimit_sh(&guard, &["--swap=0", "--oom-group", "50M"], script);
    assert_eq!((code(&out), stdout(&out).as_str()), (137, ""), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("cglimit: out of memory: killed at the 50M limit"), "{}", stderr(&out));
    guard.check();
}

/// A user whose cgroup is not theirs is told how to get one that is.
#[test]
fn a_user_without_delegation_is_told_how_to_get_it() {
    require!(can_run() && offered("memory"), "needs root and the memory controller");
    nstools::require_host!(nstools::util_linux("setpriv"), "util-linux setpriv is not installed");
    let work = nstools::TempDir::new("cglimit-undelegated");
    work.open_to_all(0o755);
    let cglimit = work.tool_copy("cglimit");
    let guard = Guard::new(&[]);
    let out = guard
        .watch(std::process::Command::new("setpriv"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&cglimit)
        .args(["50M", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "not delegated to you: on systemd, run in a delegated scope: systemd-run --user --scope -p Delegate=yes"
        ),
        "{}",
        stderr(&out)
    );
    guard.check();
}

#[test]
fn a_user_with_a_delegated_cgroup_needs_no_root() {
    require!(can_run() && offered("memory"), "needs root and the memory controller");
    nstools::require_host!(nstools::util_linux("setpriv"), "util-linux setpriv is not installed");
    let work = nstools::TempDir::new("cglimit-rootless");
    work.open_to_all(0o755);
    let cglimit = work.tool_copy("cglimit");
    let guard = Guard::new(&[]);
    let (scope, procs) = nstools::delegated_memory_cgroup("nstools-user", 65534);
    let script = format!(
        "echo $$ > {}/{procs} && exec setpriv --reuid=65534 --regid=65534 --clear-groups {} --swap=0 50M \
         sh -c 'id -u; exec dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null'",
        scope.display(),
        cglimit.display()
    );
    let out = guard.watch(std::process::Command::new("sh")).args(["-c", &script]).output().unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (137, "65534\n"), "{}", stderr(&out));
    assert_eq!(stderr(&out), "cglimit: out of memory: killed at the 50M limit (1 process)\n");
    std::fs::remove_dir(&scope).unwrap();
    guard.check();
}

#[test]
fn a_signal_to_cglimit_reaches_the_command() {
    require!(can_run(), "needs root and a cgroup hierarchy");
    let work = nstools::TempDir::new("cglimit-signal");
    let ready = work.path().join("ready");
    let guard = Guard::new(&[]);
    let script = format!("trap 'echo got-TERM; exit 3' TERM; touch {}; while :; do sleep 0.02; done", ready.display());
    let child =
        guard.command("cglimit").args(["--pids=50", "sh", "-c", &script]).stdout(Stdio::piped()).spawn().unwrap();
    while !ready.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!((code(&out), stdout(&out).as_str()), (3, "got-TERM\n"));
    guard.check();
}

#[test]
fn cgroups_the_command_makes_inside_go_too() {
    require!(can_run() && offered("memory"), "needs root and the memory controller");
    let guard = Guard::new(&[]);
    let memory = common::cgroup::holding(&common::cgroup::own(), "memory").unwrap().clone();
    let inner = memory.dir.join("outer/inner");
    let procs = if memory.is_v2() { "cgroup.procs" } else { "tasks" };
    // A hostile command nests a cgroup in its own and leaves a process there.
    let script =
        format!("mkdir {i} && (echo $$ > {i}/{procs} && exec sleep 30) & sleep 0.2; echo nested", i = inner.display());
    let out = cglimit_sh(&guard, &["--name=outer", "-m", "64M"], &script);
    assert_eq!(stdout(&out), "nested\n", "{}", stderr(&out));
    // The guard sees no cgroup and no process left.
    guard.check();
}

/// Red team 3 (#5, #6, #19): the sweep of what a killed cglimit left judged a
/// job dead by its name and PID, and killed live ones: a job seen from another
/// PID namespace, and an --exec job (whose PID runs the command). Liveness is
/// now the lock a live cglimit holds; an --exec job's cgroup goes only once empty.
#[test]
fn a_sweep_never_ends_a_live_job() {
    require!(
        can_run() && nstools::has_namespace("pid") && nstools::has_namespace("mnt"),
        "needs root, PID namespaces, cgroups"
    );
    let guard = Guard::new(&[]);
    let waiting = guard.command("cglimit").args(["-m", "64M", "sleep", "30"]).stdin(Stdio::null()).spawn().unwrap();
    let mut exec =
        guard.command("cglimit").args(["--exec", "-m", "64M", "sleep", "30"]).stdin(Stdio::null()).spawn().unwrap();
    let own = common::cgroup::own();
    let memory = common::cgroup::holding(&own, "memory").unwrap().dir.clone();
    let (waiting_dir, exec_dir) =
        (memory.join(format!("cglimit.{}", waiting.id())), memory.join(format!("cglimit.{}.exec", exec.id())));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(waiting_dir.join("tasks").exists() || waiting_dir.join("cgroup.procs").exists()) || !exec_dir.exists() {
        assert!(std::time::Instant::now() < deadline, "the jobs never made their cgroups");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    // A sweep from another PID namespace, where neither PID exists, and one from ours.
    let nsclone = guard
        .command("nsclone")
        .args(["-mp", "--mount-proc"])
        .arg(nstools::bin("cglimit"))
        .args(["-v", "-m", "64M", "true"])
        .output()
        .unwrap();
    let here = guard.command("cglimit").args(["-v", "-m", "64M", "true"]).output().unwrap();
    for out in [&nsclone, &here] {
        assert_eq!(code(out), 0, "{}", stderr(out));
        assert!(!stderr(out).contains("stale") && !stderr(out).contains("--exec job"), "{}", stderr(out));
    }
    let mut waiting = waiting;
    assert!(waiting.try_wait().unwrap().is_none(), "the waiting job was ended");
    assert!(exec.try_wait().unwrap().is_none(), "the --exec job was ended");
    // SAFETY: signalling our own children.
    unsafe {
        libc::kill(waiting.id() as i32, libc::SIGTERM);
        libc::kill(exec.id() as i32, libc::SIGKILL);
    }
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(waiting.wait().unwrap().signal(), Some(libc::SIGTERM), "it dies by the command's signal");
    exec.wait().unwrap();
    // The --exec job is over: its empty cgroup goes at the next sweep.
    assert!(exec_dir.exists());
    let out = guard.command("cglimit").args(["-v", "-m", "64M", "true"]).output().unwrap();
    assert!(stderr(&out).contains("empty cgroup of a cglimit --exec job"), "{}", stderr(&out));
    assert!(!exec_dir.exists());
    guard.check();
}

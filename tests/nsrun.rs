//! nsrun, run for real: what it does with an engine's command line and a
//! bundle before the container lifecycle exists: every config problem is
//! one line naming the field, exit 1, in the JSON log engines read too, and
//! nothing is created.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::{Command, Output, Stdio};

use nstools::{Guard, TempDir, bin, has_namespace, is_root, require, stderr, stdout};

fn nsrun(args: &[&str]) -> Output {
    Command::new(bin("nsrun")).args(args).output().unwrap()
}

const VALID: &str = include_str!("../nsrun/tests/configs/ctr-run.json");

#[test]
fn a_broken_config_is_one_line_naming_the_field_and_nothing_is_made() {
    let work = TempDir::new("nsrun-config");
    let bundle = work.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let state = work.path().join("state");
    let log = work.path().join("log.json");
    let broken = VALID.replace("\"cwd\":\"/\"", "\"cwd\":\"relative\"");
    std::fs::write(bundle.join("config.json"), broken).unwrap();
    let (b, s, l) = (bundle.display().to_string(), state.display().to_string(), log.display().to_string());
    let out = nsrun(&["--root", &s, "--log", &l, "--log-format", "json", "create", "--bundle", &b, "c1"]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("nsrun: invalid config: {b}/config.json: process.cwd: 'relative' is not an absolute path\n");
    assert_eq!(stderr(&out), want);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.starts_with("{\"level\":\"error\",\"msg\":\"invalid config: ") && logged.contains("\"time\":\"20"),
        "{logged}"
    );
    assert_eq!(logged.lines().count(), 1);
    assert!(!state.exists(), "a failed create made its state directory");
    // What nsrun cannot honour is refused by name, before anything is made.
    let rdma = VALID.replace(r#""resources":{"#, r#""resources":{"rdma":{"mlx5_1":{"hcaHandles":3}},"#);
    std::fs::write(bundle.join("config.json"), rdma).unwrap();
    let out = nsrun(&["--root", &s, "create", "--bundle", &b, "c1"]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("nsrun: invalid config: {b}/config.json: linux.resources.rdma: is not built yet in nsrun\n");
    assert_eq!(stderr(&out), want);
    assert!(!state.exists());
}

#[test]
fn engine_flags_and_ids_are_checked() {
    // Usage errors too exit 1, as nsrun(8) promises and engines expect.
    for args in [&["--bogus"][..], &[], &["exec", "--cwd"]] {
        assert_eq!(nsrun(args).status.code(), Some(1), "{args:?}");
    }
    // The systemd driver is taken (the systemd lane runs it); here the config is missing first.
    let out = nsrun(&["--systemd-cgroup", "create", "--bundle", "/nonexistent", "c1"]);
    assert_eq!(stderr(&out), "nsrun: cannot read: /nonexistent/config.json: No such file or directory\n");
    let out = nsrun(&["create", "--bundle", "/nonexistent", "../escape"]);
    assert_eq!(stderr(&out), "nsrun: invalid container id: '../escape': use letters, digits and . _ + -\n");
    let out = nsrun(&["create", "--bundle", "/nonexistent", "c1"]);
    assert_eq!(stderr(&out), "nsrun: cannot read: /nonexistent/config.json: No such file or directory\n");
    let out = nsrun(&["--root", "/nonexistent-nstools", "state", "c1"]);
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(1), "nsrun: 'c1': container does not exist\n"));
    // features says what nsrun does, and only that: cgroupfs and systemd; no AppArmor.
    let out = nsrun(&["features"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text.contains("\"poststop\"") && text.contains("\"v1\": true") && text.contains("\"systemd\": true"),
        "{text}"
    );
    assert!(
        text.contains("\"SCMP_CMP_MASKED_EQ\"") && text.contains("\"SCMP_ACT_NOTIFY\"") && text.contains("\"user\""),
        "{text}"
    );
    let out = nsrun(&["--root", "/nonexistent-nstools", "exec", "c1", "true"]);
    assert_eq!(stderr(&out), "nsrun: 'c1': container does not exist\n");
    let out = nsrun(&["exec", "--user", "x:y", "--process", "/nonexistent", "c1"]);
    assert_eq!(stderr(&out), "nsrun: cannot read: /nonexistent: No such file or directory\n");
}

/// Run `sh -c script` under `program`, installed between fork and exec.
fn under_filter(program: Vec<libc::sock_filter>, script: &str) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    // SAFETY: between fork and exec the closure makes only prctl calls on a program built before.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn compiled_profiles_are_accepted_and_enforced_by_the_kernel() {
    use common::seccomp::{Action, Arch, Condition, Op, Profile, Rule, compile};
    let arch = Arch::native().unwrap();
    // An allow list of every call this table knows but mkdir: the kernel takes the long
    // program, a shell runs under it, and mkdir gets the default.
    let table = if arch == Arch::X86_64 { common::syscalls::X86_64 } else { common::syscalls::AARCH64 };
    let allow_list = Profile {
        architectures: vec![],
        default: Action::Errno(libc::ENOSYS as u16),
        rules: vec![Rule {
            names: table.iter().map(|(n, _)| (*n).to_owned()).filter(|n| n != "mkdir" && n != "mkdirat").collect(),
            action: Action::Allow,
            conditions: vec![],
        }],
    };
    let out = under_filter(compile(&allow_list, arch).unwrap(), "mkdir /nonexistent-nstools 2>&1; echo $?");
    let text = stdout(&out);
    assert!(text.contains("Function not implemented") && text.ends_with("1\n"), "{text}{}", stderr(&out));
    let mkdir_denied = Profile {
        architectures: vec![],
        default: Action::Allow,
        rules: vec![Rule {
            names: vec!["mkdir".into(), "mkdirat".into()],
            action: Action::Errno(libc::EACCES as u16),
            conditions: vec![Condition { index: 1, op: Op::Ge, value: 0, value_two: 0 }],
        }],
    };
    let out =
        under_filter(compile(&mkdir_denied, arch).unwrap(), "echo running; mkdir /nonexistent-nstools/x 2>&1; echo $?");
    let text = stdout(&out);
    assert!(
        text.starts_with("running\n") && text.contains("Permission denied") && text.ends_with("1\n"),
        "{text}{}",
        stderr(&out)
    );
    let errno_default = Profile {
        architectures: vec![],
        default: Action::Errno(libc::ENOSYS as u16),
        rules: vec![Rule {
            names: vec!["uname".into()],
            action: Action::Errno(libc::EPERM as u16),
            conditions: vec![],
        }],
    };
    // A default that refuses everything refuses execve too: sh never starts.
    let out = under_filter(compile(&errno_default, arch).unwrap(), "true");
    assert!(!out.status.success());
}

/// 32-bit programs (i386 on x86_64) run under the default filter of mkroot,
/// nsclone and nsjoin, which filters their calls by i386's own numbers: a
/// harmless call goes through (before, every call of theirs failed and such
/// an image died at once), a denied one is still denied.
#[test]
fn the_default_filter_lets_32_bit_programs_run_and_still_filters_them() {
    use common::seccomp::{Arch, Policy, filter};
    require!(Arch::native() == Some(Arch::X86_64), "the i386 ABI is x86_64's");
    let work = TempDir::new("compat");
    let dir = nstools::c_helper(&work, "compat", include_str!("compat.c"));
    require!(dir.is_some(), "needs gcc to build tests/compat.c");
    let helper = dir.unwrap().join("compat");
    let bare = Command::new(&helper).output().unwrap();
    require!(bare.status.success(), "this kernel runs no i386 programs (ia32_emulation off)");
    let program = filter(Arch::X86_64, Policy { kept: 0, privileged: false });
    let out = under_filter(program, &format!("exec {}", helper.display()));
    assert_eq!(stdout(&out), format!("getpid ok\nmount -{}\n", libc::EPERM), "{}", stderr(&out));
}

/// Root with the namespaces a bundle asks for (and `more`).
fn have_namespaces(more: &[&str]) -> bool {
    is_root() && ["pid", "mnt", "uts", "ipc", "net"].iter().chain(more).all(|n| has_namespace(n))
}

/// A work directory with the `shared/` directory the bundles bind at /shared.
fn work_with_shared(name: &str) -> (TempDir, std::path::PathBuf) {
    let work = TempDir::new(name);
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    (work, shared)
}

/// A bundle of busybox with `args`, a /shared bind of `shared`, and the
/// hardening an engine asks for: CAP_CHOWN only, no_new_privs, a filter
/// that refuses mkdir with EACCES, /proc/kcore masked, /proc/sys read-only.
fn bundle(dir: &std::path::Path, shared: &std::path::Path, args: &[&str]) {
    bundle_with(dir, shared, args, "");
}

/// [`bundle`], with more of `linux` (`"key":value,` text).
fn bundle_with(dir: &std::path::Path, shared: &std::path::Path, args: &[&str], linux: &str) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].iter().map(std::path::Path::new).find(|p| p.exists()).unwrap();
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    nstools::copy_program(busybox, &bin.join("busybox"));
    for applet in ["sh", "echo", "cat", "hostname", "mkdir", "sleep", "grep", "tr", "wc", "head", "readlink", "cut"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let config = format!(
        r#"{{"ociVersion":"1.0.2",
 "process":{{"user":{{"uid":0,"gid":0}},"args":[{}],"env":["PATH=/bin"],"cwd":"/",
   "capabilities":{{"bounding":["CAP_CHOWN"],"effective":["CAP_CHOWN"],"permitted":["CAP_CHOWN"]}},"noNewPrivileges":true}},
 "root":{{"path":"rootfs"}},"hostname":"box",
 "mounts":[{{"destination":"/proc","type":"proc","source":"proc"}},
   {{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}},
   {{"destination":"/tmp","type":"tmpfs","source":"tmpfs"}},
   {{"destination":"/shared","type":"bind","source":{:?},"options":["rbind","rw"]}}],
 "linux":{{{linux}"namespaces":[{{"type":"pid"}},{{"type":"mount"}},{{"type":"uts"}},{{"type":"ipc"}},{{"type":"network"}}],
   "maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],
   "seccomp":{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}}]}}}}}}"#,
        args.join(","),
        shared.display().to_string()
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
}

fn state_of(root: &str, id: &str) -> String {
    let out = nsrun(&["--root", root, "state", id]);
    let text = stdout(&out);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("\"status\": \""))
        .map(|s| s.trim_end_matches(&['"', ','][..]).to_owned())
        .unwrap_or_default()
}

fn state_pid(root: &str, id: &str) -> i32 {
    let out = nsrun(&["--root", root, "state", id]);
    stdout(&out)
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"pid\": "))
        .and_then(|p| p.trim_end_matches(',').parse().ok())
        .unwrap_or(0)
}

fn wait_status(root: &str, id: &str, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state_of(root, id) != want {
        assert!(std::time::Instant::now() < deadline, "{id} never became {want}: {}", state_of(root, id));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_container_lives_through_create_start_state_kill_and_delete() {
    require!(have_namespaces(&[]), "needs root and namespaces");
    let (work, shared) = work_with_shared("nsrun-life");
    let (one, two) = (work.path().join("one"), work.path().join("two"));
    let script = "echo pid=$$ host=$(hostname) > /shared/out; mkdir /tmp/x 2>/dev/null || echo mkdir-refused >> /shared/out; \
                  grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t' >> /shared/out; \
                  cat /proc/kcore | wc -c >> /shared/out";
    bundle(&one, &shared, &["/bin/sh", "-c", script]);
    bundle(&two, &shared, &["/bin/sleep", "30"]);
    let root = work.path().join("state").display().to_string();
    let pid_file = work.path().join("pid");
    let guard = Guard::new(&[]);
    // Should an assertion fail midway, no held or running container outlives the test.
    let _end_all = Deleting(root.clone(), &["c1", "c2", "c3", "c4"]);
    // The container keeps the stdio create was given, as an engine means it to: a
    // file (run_ok's), so that waiting for create does not wait for the container.
    let run = |args: &[&str]| run_ok(&guard, &root, args);
    // create holds the process; start lets it run; it ends; delete takes it all away.
    run(&["create", "--bundle", &one.display().to_string(), "--pid-file", &pid_file.display().to_string(), "c1"]);
    assert_eq!(state_of(&root, "c1"), "created");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(std::path::Path::new(&root).join("c1")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the state directory is root's alone");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!shared.join("out").exists(), "the process ran before start");
    run(&["start", "c1"]);
    wait_status(&root, "c1", "stopped");
    assert_eq!(
        std::fs::read_to_string(shared.join("out")).unwrap().split_whitespace().collect::<Vec<_>>(),
        ["pid=1", "host=box", "mkdir-refused", "CapEff:0000000000000001", "NoNewPrivs:1", "Seccomp:2", "0"]
    );
    run(&["delete", "c1"]);
    assert!(!std::path::Path::new(&root).join("c1").exists());
    // A running one: delete refuses it, kill ends it (SIGKILL: sleep as PID 1 ignores TERM).
    run(&["create", "--bundle", &two.display().to_string(), "c2"]);
    run(&["start", "c2"]);
    assert_eq!(state_of(&root, "c2"), "running");
    // ps: its one process, as our PID namespace numbers it.
    let out = nsrun(&["--root", &root, "ps", "--format", "json", "c2"]);
    let pids = stdout(&out);
    let pid = pids.trim().trim_matches(&['[', ']'][..]).to_owned();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"));
    assert!(exe.is_ok_and(|e| e.ends_with("busybox")), "{pids}{}", stderr(&out));
    // exec: in its namespaces and cgroup, as its process is (caps, filter, no_new_privs), status relayed.
    let probe = "echo host=$(hostname) pid1=$(cat /proc/1/comm); grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t'; \
                 mkdir /tmp/y 2>/dev/null || echo mkdir-refused; exit 7";
    let out = guard.command("nsrun").args(["--root", &root, "exec", "c2", "/bin/sh", "-c", probe]).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["host=box", "pid1=sleep", "CapEff:0000000000000001", "NoNewPrivs:1", "Seccomp:2", "mkdir-refused"]
    );
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_eq!(std::fs::read_link("/proc/self/ns/pid").unwrap(), ours, "exec moved the caller");
    // --detach with a --process file: it runs on, its PID in the pid file, in the container's cgroup.
    let process = work.path().join("process.json");
    std::fs::write(
        &process,
        r#"{"args":["/bin/sleep","30"],"cwd":"/tmp","env":["PATH=/bin"],"user":{"uid":1000,"gid":1000}}"#,
    )
    .unwrap();
    let exec_pid = work.path().join("exec.pid");
    run(&[
        "exec",
        "--process",
        &process.display().to_string(),
        "--detach",
        "--pid-file",
        &exec_pid.display().to_string(),
        "c2",
    ]);
    let pid: i32 = std::fs::read_to_string(&exec_pid).unwrap().parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(std::time::Instant::now() < deadline, "the exec'd process never ran sleep");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Uid:\t1000\t1000"), "{status}");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(),
        std::fs::read_to_string(format!("/proc/{}/cgroup", state_pid(&root, "c2"))).unwrap()
    );
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), std::path::Path::new("/tmp"));
    let out = nsrun(&["--root", &root, "exec", "c1", "true"]);
    assert_eq!(stderr(&out), "nsrun: 'c1': container does not exist\n");
    let out = nsrun(&["--root", &root, "delete", "c2"]);
    assert_eq!(stderr(&out), "nsrun: cannot delete: 'c2': it is running: stop it first, or give --force\n");
    run(&["kill", "c2", "KILL"]);
    wait_status(&root, "c2", "stopped");
    run(&["delete", "c2"]);
    // With no /proc of the config's, and a hostile image that plants a file where the
    // process would reopen its FIFO, the process still waits for start.
    let three = work.path().join("three");
    bundle(&three, &shared, &["/bin/sh", "-c", "echo ran > /shared/early"]);
    let config = std::fs::read_to_string(three.join("config.json")).unwrap();
    let config = config.replace(r#"{"destination":"/proc","type":"proc","source":"proc"},"#, "");
    std::fs::write(
        three.join("config.json"),
        config.replace(r#""maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],"#, ""),
    )
    .unwrap();
    std::fs::create_dir_all(three.join("rootfs/proc/self/fd")).unwrap();
    for n in 0..64 {
        std::fs::write(three.join(format!("rootfs/proc/self/fd/{n}")), "").unwrap();
    }
    run(&["create", "--bundle", &three.display().to_string(), "c4"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!shared.join("early").exists(), "the process ran before start");
    assert_eq!(state_of(&root, "c4"), "created");
    run(&["start", "c4"]);
    wait_status(&root, "c4", "stopped");
    assert_eq!(std::fs::read_to_string(shared.join("early")).unwrap(), "ran\n");
    run(&["delete", "c4"]);
    // Created and never started: delete --force ends it.
    run(&["create", "--bundle", &two.display().to_string(), "c3"]);
    let out = nsrun(&["--root", &root, "create", "--bundle", &two.display().to_string(), "c3"]);
    assert_eq!(stderr(&out), "nsrun: cannot create: 'c3': a container of that id exists\n");
    run(&["delete", "--force", "c3"]);
    // run: create, start, wait, delete, with the container's status.
    let four = work.path().join("four");
    bundle(&four, &shared, &["/bin/sh", "-c", "exit 9"]);
    let status = guard
        .command("nsrun")
        .args(["--root", &root, "run", "--bundle", &four.display().to_string(), "c7"])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(9));
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "state left behind");
    guard.check();
}

/// The cgroup files of the container's cgroup `path` (below our own) for
/// `controller`, on v1 or v2, and its `cgroup.procs`.
fn cgroup_dir(controller: &str, path: &str) -> std::path::PathBuf {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let v1 = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, list, at) = (parts.next()?, parts.next()?, parts.next()?);
        list.split(',').any(|c| c == controller).then(|| at.to_owned())
    });
    let (fstype, at) = match v1 {
        Some(at) => ("cgroup", at),
        None => ("cgroup2", own.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_owned()),
    };
    let point = mountinfo
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let ok = f[sep + 1] == fstype && (fstype == "cgroup2" || f[sep + 3].split(',').any(|o| o == controller));
            ok.then(|| f[4].to_owned())
        })
        .unwrap();
    std::path::Path::new(&point).join(at.trim_start_matches('/')).join(path)
}

#[test]
fn cgroup_limits_device_rules_and_the_freezer_are_the_containers_and_go_with_it() {
    require!(have_namespaces(&[]), "needs root and namespaces");
    let (work, shared) = work_with_shared("nsrun-cgroup");
    let one = work.path().join("one");
    let script = "echo zero=$(head -c 3 /dev/zero | wc -c) > /shared/out; (: < /kmsg) 2>/dev/null || echo kmsg-refused >> /shared/out; \
                  exec sleep 30";
    let path = format!("nsrun-test.{}/c5", std::process::id());
    let linux = format!(
        r#""cgroupsPath":{path:?},"resources":{{"memory":{{"limit":67108864}},"pids":{{"limit":32}},"cpu":{{"shares":512}},
        "devices":[{{"allow":false,"access":"rwm"}}]}},"#
    );
    bundle_with(&one, &shared, &["/bin/sh", "-c", script], &linux);
    // A device the rules do not allow, where /dev does not hide it.
    let kmsg = std::ffi::CString::new(one.join("rootfs/kmsg").display().to_string()).unwrap();
    // SAFETY: mknod(2) of a character device node in our own temporary directory.
    assert_eq!(unsafe { libc::mknod(kmsg.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 11)) }, 0);
    let root = work.path().join("state").display().to_string();
    let guard = Guard::new(&[]);
    let _end = Deleting(root.clone(), &["c5"]);
    let run = |args: &[&str]| run_ok(&guard, &root, args);
    run(&["create", "--bundle", &one.display().to_string(), "c5"]);
    // The limits are written before the process is let in, and it is in.
    let memory = cgroup_dir("memory", &path);
    let (limit, pids) = if memory.join("memory.max").exists() {
        (std::fs::read_to_string(memory.join("memory.max")).unwrap(), cgroup_dir("pids", &path).join("pids.max"))
    } else {
        (
            std::fs::read_to_string(memory.join("memory.limit_in_bytes")).unwrap(),
            cgroup_dir("pids", &path).join("pids.max"),
        )
    };
    assert_eq!(limit.trim(), "67108864");
    assert_eq!(std::fs::read_to_string(pids).unwrap().trim(), "32");
    let procs = std::fs::read_to_string(memory.join("cgroup.procs")).unwrap();
    assert_eq!(procs.lines().count(), 1, "the held process alone: {procs}");
    run(&["start", "c5"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(state_of(&root, "c5"), "running", "{}", std::fs::read_to_string(errors_of(&root)).unwrap_or_default());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(shared.join("out")).is_ok_and(|o| o.lines().count() == 2) {
        assert!(std::time::Instant::now() < deadline, "the container never wrote its findings");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_to_string(shared.join("out")).unwrap(), "zero=3\nkmsg-refused\n");
    // pause freezes every process of it; resume thaws them.
    run(&["pause", "c5"]);
    assert_eq!(state_of(&root, "c5"), "paused");
    let out = nsrun(&["--root", &root, "ps", "--format", "json", "c5"]);
    let pid = stdout(&out).trim().trim_matches(&['[', ']'][..]).to_owned();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(stat.contains(") D ") || stat.contains(") S "), "{stat}");
    run(&["resume", "c5"]);
    assert_eq!(state_of(&root, "c5"), "running");
    run(&["kill", "--all", "c5", "KILL"]);
    wait_status(&root, "c5", "stopped");
    run(&["delete", "c5"]);
    assert!(!memory.exists(), "{} left behind", memory.display());
    assert!(!memory.parent().unwrap().exists(), "the parent nsrun made is left behind");
    guard.check();
}

#[test]
fn tmpcopyup_copies_the_image_below_and_follows_none_of_its_links_and_r_attributes_apply() {
    require!(have_namespaces(&[]), "needs root and namespaces");
    let (work, shared) = work_with_shared("nsrun-copyup");
    let one = work.path().join("one");
    let script = "cat /run/file /run/sub/deep > /shared/out; readlink /run/link >> /shared/out; \
                  echo changed > /run/file; cat /run/file >> /shared/out; \
                  o=$(grep ' /attrs ' /proc/self/mountinfo | cut -d' ' -f6); \
                  for f in nosuid noexec noatime; do case ,$o, in *,$f,*) echo $f;; esac; done >> /shared/out";
    bundle(&one, &shared, &["/bin/sh", "-c", script]);
    let config = std::fs::read_to_string(one.join("config.json")).unwrap();
    let config = config.replace(
        r#"{"destination":"/tmp","type":"tmpfs","source":"tmpfs"},"#,
        r#"{"destination":"/tmp","type":"tmpfs","source":"tmpfs"},{"destination":"/run","type":"tmpfs","source":"tmpfs","options":["tmpcopyup","mode=755"]},{"destination":"/attrs","type":"bind","source":"/usr","options":["rbind","ro","rnosuid","rnoexec","rnoatime"]},"#,
    );
    std::fs::write(one.join("config.json"), config).unwrap();
    let run_dir = one.join("rootfs/run");
    std::fs::create_dir_all(run_dir.join("sub")).unwrap();
    std::fs::write(run_dir.join("file"), "image\n").unwrap();
    std::fs::write(run_dir.join("sub/deep"), "deep\n").unwrap();
    // A link of the image's to a host file: copied as a link, never followed.
    std::os::unix::fs::symlink("/etc/passwd", run_dir.join("link")).unwrap();
    let root = work.path().join("state").display().to_string();
    let guard = Guard::new(&[]);
    run_ok(&guard, &root, &["create", "--bundle", one.to_str().unwrap(), "c6"]);
    run_ok(&guard, &root, &["start", "c6"]);
    wait_status(&root, "c6", "stopped");
    let _ = nsrun(&["--root", &root, "delete", "c6"]);
    assert_eq!(
        std::fs::read_to_string(shared.join("out")).unwrap(),
        "image\ndeep\n/etc/passwd\nchanged\nnosuid\nnoexec\nnoatime\n"
    );
    assert_eq!(std::fs::read_to_string(run_dir.join("file")).unwrap(), "image\n", "the write reached the image");
    guard.check();
}

#[test]
fn a_user_namespace_maps_the_container_and_exec_joins_it() {
    require!(have_namespaces(&["user"]), "needs root and namespaces");
    let (work, shared) = work_with_shared("nsrun-userns");
    work.open_to_all(0o755);
    let one = work.path().join("one");
    let linux = r#""uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"gidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"#;
    bundle_with(&one, &shared, &["/bin/sleep", "30"], linux);
    // Mount points the image has: its root (host uid 0) is not the namespace's to write.
    for dir in ["proc", "dev", "tmp", "unused"] {
        std::fs::create_dir(one.join("rootfs").join(dir)).unwrap();
    }
    let config = std::fs::read_to_string(one.join("config.json")).unwrap();
    let config = config
        .replace(r#"{"type":"network"}]"#, r#"{"type":"network"},{"type":"user"}]"#)
        .replace(r#""noNewPrivileges":true"#, r#""noNewPrivileges":true,"oomScoreAdj":100"#)
        .replace(
            r#"{"destination":"/shared","type":"bind","source":"#,
            r#"{"destination":"/unused","type":"bind","source":"#,
        );
    std::fs::write(one.join("config.json"), config).unwrap();
    let root = work.path().join("state").display().to_string();
    let guard = Guard::new(&[]);
    let _end = Deleting(root.clone(), &["u1", "u2"]);
    run_ok(&guard, &root, &["create", "--bundle", one.to_str().unwrap(), "u1"]);
    run_ok(&guard, &root, &["start", "u1"]);
    // On the host the container's root is uid 100000, with no capability over the host.
    let pid = state_pid(&root, "u1");
    // Exec made it dumpable again; until then its /proc files were root's, out of the
    // container's reach (checked on the next one, held before start).
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(format!("/proc/{pid}/environ")).unwrap().uid(), 100000);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Uid:\t100000\t100000\t100000\t100000"), "{status}");
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap(), "100\n");
    // exec: into the same user namespace, as its root, with the process's oomScoreAdj.
    let probe = "cat /proc/self/uid_map | tr -s ' ' | tr -d '\\n'; echo; cat /proc/self/oom_score_adj; echo uid=$(grep ^Uid: /proc/self/status | tr -s '\\t' ' ')";
    let out = guard.command("nsrun").args(["--root", &root, "exec", "u1", "/bin/sh", "-c", probe]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), " 0 100000 65536\n100\nuid=Uid: 0 0 0 0\n");
    run_ok(&guard, &root, &["delete", "--force", "u1"]);
    run_ok(&guard, &root, &["create", "--bundle", one.to_str().unwrap(), "u2"]);
    let held = state_pid(&root, "u2");
    assert_eq!(std::fs::metadata(format!("/proc/{held}/environ")).unwrap().uid(), 0, "the held process is dumpable");
    run_ok(&guard, &root, &["delete", "--force", "u2"]);
    guard.check();
}

/// `nsrun --root ROOT ARGS` must succeed. Its stderr goes to a file: a container keeps
/// create's stdio, and a pipe would keep us waiting for the container.
fn run_ok(guard: &Guard, root: &str, args: &[&str]) {
    let mut all = vec!["--root", root];
    all.extend(args);
    let errors = errors_of(root);
    let err = std::fs::File::create(&errors).unwrap();
    let status =
        guard.command("nsrun").args(&all).stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).status().unwrap();
    assert_eq!(status.code(), Some(0), "{args:?}: {}", std::fs::read_to_string(&errors).unwrap_or_default());
}

#[test]
fn a_failed_hook_fails_create_and_leaves_nothing_made() {
    require!(have_namespaces(&[]), "needs root and namespaces");
    let (work, shared) = work_with_shared("nsrun-hooks");
    let root = work.path().join("state").display().to_string();
    let guard = Guard::new(&[]);
    // A createRuntime hook past its timeout, then a prestart hook that fails: each ends
    // create with one line naming the hook, and the cgroup and state are gone.
    let cases = [
        (
            r#""createRuntime":[{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}]"#,
            "createRuntime hook '/bin/sleep': timed out after 1 s and was killed",
        ),
        (
            r#""prestart":[{"path":"/bin/sh","args":["sh","-c","read -r state; exit 3"]}]"#,
            "prestart hook '/bin/sh': failed: exit status: 3",
        ),
    ];
    for (i, (hooks, want)) in cases.iter().enumerate() {
        let dir = work.path().join(format!("b{i}"));
        let path = format!("nsrun-hooks.{}/h{i}", std::process::id());
        bundle_with(
            &dir,
            &shared,
            &["/bin/true"],
            &format!(r#""cgroupsPath":{path:?},"resources":{{"pids":{{"limit":10}}}},"#),
        );
        let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
        std::fs::write(dir.join("config.json"), config.replacen('{', &format!("{{\"hooks\":{{{hooks}}},"), 1)).unwrap();
        let started = std::time::Instant::now();
        let out = guard
            .command("nsrun")
            .args(["--root", &root, "create", "--bundle", &dir.display().to_string(), "h"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stderr(&out), format!("nsrun: {want}\n"));
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the timeout did not end the hook");
        assert!(!cgroup_dir("pids", &path).exists(), "the cgroup of a failed create is left");
        assert!(!cgroup_dir("pids", &path).parent().unwrap().exists());
        assert!(!std::path::Path::new(&root).join("h").exists(), "the state of a failed create is left");
    }
    guard.check();
}

/// Where [`run_ok`] puts the stderr of nsrun (and of a container it creates) for state root `root`.
fn errors_of(root: &str) -> std::path::PathBuf {
    std::path::Path::new(root).with_extension("stderr")
}

/// On drop (a failed assertion too), `nsrun delete --force` of these ids under state root `.0`:
/// no held or running container outlives its test.
struct Deleting(String, &'static [&'static str]);

impl Drop for Deleting {
    fn drop(&mut self) {
        for id in self.1 {
            let _ = nsrun(&["--root", &self.0, "delete", "--force", id]);
        }
    }
}

/// runc's CVE-2019-5736, as an engine meets it: create and start (the container's own
/// process is a #! script of /proc/self/exe), then 100 execs of every way to name the
/// binary, each caught inside by an attacker that holds its executable and, once it has
/// exited, writes to it. Root and in a user namespace.
#[test]
fn the_container_never_gets_our_binary_to_write() {
    require!(have_namespaces(&["user"]), "needs root and namespaces");
    let (work, shared) = work_with_shared("nsrun-exe");
    work.open_to_all(0o755);
    let helpers = nstools::c_helper(&work, "exewatch", include_str!("exewatch.c"));
    nstools::require_host!(helpers.is_some(), "gcc is not installed (to build the attacker)");
    let exewatch = helpers.unwrap().join("exewatch");
    // In a directory of its own, which the guard watches whole.
    std::fs::create_dir(work.path().join("victim")).unwrap();
    let victim = work.path().join("victim/nsrun-victim");
    nstools::copy_program(&bin("nsrun"), &victim);
    let before = std::fs::read(&victim).unwrap();
    let root = work.path().join("state").display().to_string();
    let guard = Guard::new(&[&victim]);
    let _end = Deleting(root.clone(), &["x1", "x2"]);
    const EXECS: usize = 100;
    let setup = format!(
        "printf '#!/proc/self/exe\\n' >/tmp/script; ln -s /proc/self/exe /tmp/link; printf '#!/tmp/script\\n' >/tmp/chain; \
         chmod +x /tmp/script /tmp/chain; exec /bin/exewatch nsrun /shared/report {} 120",
        EXECS + 1
    );
    let maps = r#""uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"gidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"#;
    for (id, linux) in [("x1", ""), ("x2", maps)] {
        let bundle = work.path().join(id);
        bundle_with(&bundle, &shared, &["/bin/sh", "-c", &setup], linux);
        nstools::copy_program(&exewatch, &bundle.join("rootfs/bin/exewatch"));
        if !linux.is_empty() {
            for dir in ["proc", "dev", "tmp", "shared"] {
                std::fs::create_dir(bundle.join("rootfs").join(dir)).unwrap();
            }
            let config = std::fs::read_to_string(bundle.join("config.json")).unwrap();
            let config = config.replace(r#"{"type":"network"}]"#, r#"{"type":"network"},{"type":"user"}]"#);
            std::fs::write(bundle.join("config.json"), config).unwrap();
            std::os::unix::fs::chown(&shared, Some(100000), Some(100000)).unwrap();
        }
        let report = shared.join("report");
        let _ = std::fs::remove_file(&report);
        let nsrun_victim = |args: &[&str]| {
            let mut cmd = guard.watch(Command::new(&victim));
            cmd.args(["--root", &root]).args(args).stdin(Stdio::null()).stdout(Stdio::null());
            cmd
        };
        // The container's own process: the script as process.args would be the same
        // attack; here the attacker runs and the execs come in.
        let errors = errors_of(&root);
        let made = nsrun_victim(&["create", "--bundle", bundle.to_str().unwrap(), id])
            .stderr(std::fs::File::create(&errors).unwrap())
            .status()
            .unwrap();
        assert!(made.success(), "{}", std::fs::read_to_string(&errors).unwrap_or_default());
        assert!(nsrun_victim(&["start", id]).status().unwrap().success());
        let pid = state_pid(&root, id);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("exewatch")) {
            assert!(std::time::Instant::now() < deadline, "the attacker never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for i in 0..EXECS {
            let name = ["/tmp/script", "/tmp/link", "/tmp/chain", "/proc/self/exe"][i % 4];
            let mut stalled = nstools::FullPipe::new();
            let exec = nsrun_victim(&["exec", id, name]).stderr(stalled.stdio()).spawn().unwrap();
            let caught = nstools::wait_report(&report, "caught", i + 1);
            let said = stalled.drain();
            let status = exec.wait_with_output().unwrap().status;
            assert!(!status.success(), "{id} {name}: {said}");
            let line = caught.lines().rfind(|l| l.starts_with("caught")).unwrap().to_owned();
            assert!(line.ends_with("/memfd:nsrun (deleted)"), "{id} {name}: {line}");
        }
        let text = nstools::wait_report(&report, "refused", EXECS);
        assert!(!text.contains("WROTE"), "{id}: {text}");
        assert!(std::fs::read(&victim).unwrap() == before, "{id}: the container rewrote the host's nsrun: {text}");
        run_ok(&guard, &root, &["delete", "--force", id]);
    }
    guard.check();
}

/// Red team 3 (#12, #4, #10, #13): a paused container is deleted with --force at
/// once (it hung: its frozen process never took the SIGKILL); a tampered
/// state.json cannot make delete end another cgroup; a create killed midway
/// leaves an id that delete --force clears; --process and --pid-file never read
/// unbounded or block on what is at their path.
#[test]
fn delete_force_and_the_state_files_hold_against_what_is_at_hand() {
    require!(have_namespaces(&[]), "needs root and namespaces");
    let (work, shared) = work_with_shared("nsrun-state");
    let one = work.path().join("one");
    bundle(&one, &shared, &["/bin/sleep", "30"]);
    let root = work.path().join("state").display().to_string();
    let guard = Guard::new(&[]);
    let _end = Deleting(root.clone(), &["p1", "t1", "h1"]);
    let bundle_dir = one.display().to_string();
    // Paused, then delete --force: done at once, nothing left.
    run_ok(&guard, &root, &["create", "--bundle", &bundle_dir, "p1"]);
    run_ok(&guard, &root, &["start", "p1"]);
    run_ok(&guard, &root, &["pause", "p1"]);
    assert_eq!(state_of(&root, "p1"), "paused");
    let mut deleting = guard.command("nsrun").args(["--root", &root, "delete", "--force", "p1"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while deleting.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = nsrun(&["--root", &root, "resume", "p1"]);
            panic!("delete --force of a paused container hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(deleting.wait().unwrap().success());
    assert!(!std::path::Path::new(&root).join("p1").exists());
    // A state file given a cgroup that is not the container's: refused, the victim untouched.
    let victim = cgroup_dir("pids", &format!("nsrun-victim.{}", std::process::id()));
    std::fs::create_dir(&victim).unwrap();
    run_ok(&guard, &root, &["create", "--bundle", &bundle_dir, "t1"]);
    let state_file = std::path::Path::new(&root).join("t1/state.json");
    let text = std::fs::read_to_string(&state_file).unwrap();
    let forged = text.replacen(
        r#""nsrunCgroups":["#,
        &format!(
            r#""nsrunCgroups":[{{"created":[{:?}],"dir":{:?},"v2":false}},"#,
            victim.display().to_string(),
            victim.display().to_string()
        ),
        1,
    );
    assert_ne!(forged, text, "the state file has no nsrunCgroups: {text}");
    std::fs::write(&state_file, forged).unwrap();
    let out = nsrun(&["--root", &root, "delete", "--force", "t1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid state") && stderr(&out).contains("not the container's own cgroup"),
        "{}",
        stderr(&out)
    );
    assert!(victim.exists(), "a tampered state removed another cgroup");
    std::fs::write(&state_file, text).unwrap();
    run_ok(&guard, &root, &["delete", "--force", "t1"]);
    std::fs::remove_dir(&victim).unwrap();
    // A create that never wrote its state (killed midway): delete --force clears the id.
    let half = std::path::Path::new(&root).join("h1");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::copy(one.join("config.json"), half.join("config.json")).unwrap();
    let out = nsrun(&["--root", &root, "create", "--bundle", &bundle_dir, "h1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    run_ok(&guard, &root, &["delete", "--force", "h1"]);
    assert!(!half.exists());
    run_ok(&guard, &root, &["create", "--bundle", &bundle_dir, "h1"]);
    run_ok(&guard, &root, &["start", "h1"]);
    // --process from /dev/zero or a FIFO, a --pid-file that is a FIFO: an error or a write, never a hang.
    let fifo = work.path().join("fifo");
    let name = common::cstring(&fifo).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let fifo_text = fifo.display().to_string();
    for (args, want) in [
        (
            vec!["exec", "--process=/dev/zero", "h1"],
            Some("nsrun: cannot read: /dev/zero: not a regular file\n".to_owned()),
        ),
        (
            vec!["exec", "--process", &fifo_text, "h1"],
            Some(format!("nsrun: cannot read: {fifo_text}: not a regular file\n")),
        ),
        (vec!["exec", "--pid-file", &fifo_text, "h1", "/bin/sh", "-c", "exit 3"], None),
    ] {
        let mut cmd = guard.command("nsrun");
        let mut running =
            cmd.args(["--root", &root]).args(&args).stderr(Stdio::piped()).stdin(Stdio::null()).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while running.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                running.kill().unwrap();
                panic!("{args:?}: still running after 5 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let out = running.wait_with_output().unwrap();
        match want {
            Some(message) => assert_eq!((out.status.code(), stderr(&out)), (Some(1), message), "{args:?}"),
            None => {
                assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
                // Replaced by a file holding the PID, never opened as the FIFO it was.
                let pid = std::fs::read_to_string(&fifo).unwrap();
                assert!(pid.parse::<u32>().is_ok(), "{pid:?}");
            }
        }
    }
    run_ok(&guard, &root, &["delete", "--force", "h1"]);
    guard.check();
}

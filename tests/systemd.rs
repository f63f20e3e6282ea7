//! The systemd lane (tests/systemd/run): Debian booted with systemd as PID 1,
//! pure cgroup v2, D-Bus, and a lingering user, tester (uid 1000), whose
//! user@1000.service has a delegated cgroup subtree, as on a server. These
//! tests run there only, as root, and as tester through runuser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Output};

use nstools::{Guard, code, stderr, stdout, systemd_lane_only};

const USER_MANAGER: &str = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service";

/// `args` run as tester, with its manager's bus, as a login would have it;
/// its output through files (a detached container keeps a pipe open).
fn as_tester(guard: &Guard, args: &[&str]) -> Output {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (out_file, err_file) = (format!("/tmp/as-tester-{n}.out"), format!("/tmp/as-tester-{n}.err"));
    let mut command = guard.watch(Command::new("runuser"));
    command.args(["-u", "tester", "--", "env", "XDG_RUNTIME_DIR=/run/user/1000"]);
    command.arg("DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus").args(args);
    command.stdout(std::fs::File::create(&out_file).unwrap()).stderr(std::fs::File::create(&err_file).unwrap());
    let status = command.current_dir("/tmp").stdin(std::process::Stdio::null()).status().unwrap();
    let out = Output { status, stdout: std::fs::read(&out_file).unwrap(), stderr: std::fs::read(&err_file).unwrap() };
    let _ = (std::fs::remove_file(out_file), std::fs::remove_file(err_file));
    out
}

#[test]
fn systemd_is_pid_1_and_the_lingering_user_has_a_delegated_subtree() {
    systemd_lane_only!();
    assert_eq!(std::fs::read_to_string("/proc/1/comm").unwrap(), "systemd\n");
    let out = Command::new("systemctl").args(["is-active", "user@1000.service"]).output().unwrap();
    assert_eq!(stdout(&out), "active\n", "{}", stderr(&out));
    // Delegated: the user's manager owns its cgroup, and hands controllers down.
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(USER_MANAGER).unwrap());
    assert_eq!(owner, 1000);
    let controllers = std::fs::read_to_string(Path::new(USER_MANAGER).join("cgroup.controllers")).unwrap();
    assert!(controllers.contains("memory") && controllers.contains("pids"), "{controllers}");
}

/// The README's promise: cglimit, run by a user in a scope systemd delegates
/// to them, limits its command without root, relays its fate, and leaves nothing.
#[test]
fn cglimit_runs_in_a_users_delegated_scope() {
    systemd_lane_only!();
    let guard = Guard::new(&[]);
    let cglimit = nstools::bin("cglimit");
    let cglimit = cglimit.to_str().unwrap();
    let scope = ["systemd-run", "--user", "--scope", "--quiet", "-p", "Delegate=yes", cglimit];
    let show = "cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max; id -u; exit 7";
    let mut args = scope.to_vec();
    args.extend(["50M", "sh", "-c", show]);
    let out = as_tester(&guard, &args);
    assert_eq!((code(&out), stdout(&out).as_str()), (7, "52428800\n1000\n"), "{}", stderr(&out));
    let mut args = scope.to_vec();
    args.extend(["--swap=0", "50M", "sh", "-c", "exec dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null"]);
    let out = as_tester(&guard, &args);
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("cglimit: out of memory: killed at the 50M limit"), "{}", stderr(&out));
    guard.check();
}

/// Outside a delegated scope, tester's cgroup is not theirs: cglimit says how to get one.
#[test]
fn cglimit_outside_a_delegated_scope_says_how_to_get_one() {
    systemd_lane_only!();
    let guard = Guard::new(&[]);
    let cglimit = nstools::bin("cglimit");
    let out = as_tester(&guard, &[cglimit.to_str().unwrap(), "50M", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).contains("systemd-run --user --scope -p Delegate=yes"), "{}", stderr(&out));
    guard.check();
}

/// A busybox bundle whose cgroupsPath is `cgroups_path`, with limits.
fn bundle(dir: &Path, cgroups_path: &str) {
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    nstools::copy_program(Path::new("/bin/busybox"), &bin.join("busybox"));
    for applet in ["sh", "sleep", "cat"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    for d in ["proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(dir.join("rootfs").join(d)).unwrap();
    }
    let config = format!(
        r#"{{"ociVersion":"1.0.2",
 "process":{{"args":["/bin/sleep","300"],"env":["PATH=/bin"],"cwd":"/","user":{{"uid":0,"gid":0}}}},
 "root":{{"path":"rootfs"}},
 "mounts":[{{"destination":"/proc","type":"proc","source":"proc"}}],
 "linux":{{"cgroupsPath":"{cgroups_path}",
   "resources":{{"memory":{{"limit":67108864}},"pids":{{"limit":32}},"cpu":{{"quota":50000,"period":100000}}}},
   "namespaces":[{{"type":"pid"}},{{"type":"mount"}},{{"type":"ipc"}},{{"type":"uts"}}]}}}}"#
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
}

const PODMAN_STORE: &str = "/var/lib/containers/storage/overlay";

fn podman_store_mounted() -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().any(|l| l.split(' ').nth(4) == Some(PODMAN_STORE))
}

/// Once the podman a test ran is done (its cleanup runs after the container, on its own), the
/// bind mount rootful podman keeps of its overlay store is taken away if the test's podman made it.
fn podman_settled(mounted_before: bool) {
    wait_until_none_runs(&["podman", "conmon"]);
    if podman_store_mounted() && !mounted_before {
        let ok = Command::new("umount").arg(PODMAN_STORE).status().unwrap();
        assert!(ok.success(), "umount {PODMAN_STORE}");
    }
}

/// Wait (up to 20 s) until no process runs any of `programs` (by /proc/PID/comm).
fn wait_until_none_runs(programs: &[&str]) {
    let running = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            programs.contains(&comm.trim())
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `systemctl show -p NAME... UNIT`: the values, in the order of `names`.
fn unit_properties(unit: &str, names: &[&str]) -> Vec<String> {
    let mut command = Command::new("systemctl");
    command.args(["show", unit]);
    for name in names {
        command.args(["-p", name]);
    }
    let text = stdout(&command.output().unwrap());
    let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or("").to_owned();
    names.iter().map(|n| value(n)).collect()
}

/// `runtime --root STATE --systemd-cgroup ARGS`, its stderr through the file `err`
/// (a detached container would hold a pipe open as long as it runs).
fn with_systemd_cgroup(guard: &Guard, runtime: &Path, state: &Path, err: &Path, args: &[&str]) -> Output {
    let mut command = guard.watch(Command::new(runtime));
    command.arg("--root").arg(state).arg("--systemd-cgroup").args(args);
    command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    let mut out = command.stderr(std::fs::File::create(err).unwrap()).output().unwrap();
    out.stderr = std::fs::read(err).unwrap_or_default();
    out
}

/// `--systemd-cgroup`, by hand, beside runc in the same run: the container's
/// cgroup is a transient scope of systemd's, in the slice cgroupsPath names,
/// its limits systemd's properties and the kernel's files alike; `update`
/// changes both; `delete` stops the scope.
#[test]
fn nsrun_makes_the_container_a_systemd_scope_as_runc_does() {
    systemd_lane_only!();
    let guard = Guard::new(&[]);
    let work = nstools::TempDir::new("systemd-scope");
    let state = work.path().join("state");
    let properties = ["MemoryMax", "TasksMax", "CPUQuotaPerSecUSec", "Delegate"];
    let mut seen = Vec::new();
    for (runtime, id) in [("runc", "r1"), ("nsrun", "n1")] {
        let dir = work.path().join(id);
        bundle(&dir, &format!("system.slice:nstools-{runtime}:{id}"));
        let unit = format!("nstools-{runtime}-{id}.scope");
        let binary = if runtime == "nsrun" { nstools::bin("nsrun") } else { "runc".into() };
        let run =
            |args: &[&str]| with_systemd_cgroup(&guard, &binary, &state, &work.path().join(format!("{id}.err")), args);
        let out = run(&["run", "-d", "--bundle", dir.to_str().unwrap(), id]);
        assert_eq!(code(&out), 0, "{runtime}: {}", stderr(&out));
        assert_eq!(unit_properties(&unit, &["ActiveState"]), ["active"], "{runtime}");
        let values = unit_properties(&unit, &properties);
        let cgroup = Path::new("/sys/fs/cgroup/system.slice").join(&unit);
        let file = |name: &str| std::fs::read_to_string(cgroup.join(name)).unwrap().trim().to_owned();
        assert_eq!(
            (file("memory.max"), file("pids.max"), file("cpu.max")),
            ("67108864".into(), "32".into(), "50000 100000".into()),
            "{runtime}"
        );
        let out = run(&["update", "--memory", "128M", "--pids-limit", "16", id]);
        assert_eq!(code(&out), 0, "{runtime}: {}", stderr(&out));
        assert_eq!((file("memory.max"), file("pids.max")), ("134217728".into(), "16".into()), "{runtime}");
        assert_eq!(
            unit_properties(&unit, &["MemoryMax", "TasksMax"]),
            ["134217728", "16"],
            "{runtime}: systemd keeps the update"
        );
        let out = run(&["delete", "-f", id]);
        assert_eq!(code(&out), 0, "{runtime}: {}", stderr(&out));
        assert!(!cgroup.exists(), "{runtime}: the scope's cgroup is gone");
        assert_ne!(unit_properties(&unit, &["ActiveState"]), ["active"], "{runtime}");
        seen.push(values);
    }
    assert_eq!(seen[1], seen[0], "nsrun's scope has runc's properties ({properties:?})");
    assert_eq!(seen[1], ["67108864", "32", "500ms", "yes"]);
    guard.check();
}

/// The same on a hybrid host (the lane booted again with
/// systemd.unified_cgroup_hierarchy=0; this test runs in that boot only):
/// v1's properties (MemoryLimit), the limits in the v1 hierarchies, the
/// hierarchies systemd leaves alone (freezer) joined at the scope's path,
/// and the device rules still in force after systemd reloads (it writes a
/// v1 devices cgroup again from its unit: DevicePolicy=strict keeps them).
#[test]
fn hybrid_nsrun_makes_the_container_a_systemd_scope_as_runc_does() {
    systemd_lane_only!();
    assert!(Path::new("/sys/fs/cgroup/memory").is_dir(), "this boot is hybrid: v1 controllers");
    // On v1, systemd makes and trims the cgroups of system.slice's units in each hierarchy as the
    // slice's members need them: a delegated unit of the test's own, there for the whole test,
    // keeps every controller realized, so the scopes coming and going change nothing else.
    let hold = Held::start();
    let guard = Guard::new(&[]);
    let work = nstools::TempDir::new("systemd-hybrid");
    let state = work.path().join("state");
    // runc makes system.slice in the hierarchies systemd leaves alone and leaves it there: the
    // reference's leftovers, not nsrun's, are taken away at the end.
    let unmanaged = ["freezer", "cpuset", "net_cls,net_prio", "perf_event", "hugetlb", "rdma", "misc"];
    let had: Vec<bool> =
        unmanaged.iter().map(|h| Path::new("/sys/fs/cgroup").join(h).join("system.slice").exists()).collect();
    let properties = ["MemoryLimit", "TasksMax", "CPUQuotaPerSecUSec", "Delegate", "DevicePolicy"];
    let mut seen = Vec::new();
    for (runtime, id) in [("nsrun", "n1"), ("runc", "r1")] {
        let dir = work.path().join(id);
        bundle(&dir, &format!("system.slice:nstools-{runtime}:{id}"));
        let config = dir.join("config.json");
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replace(r#""resources":{"#, r#""resources":{"devices":[{"allow":false,"access":"rwm"}],"#);
        std::fs::write(&config, text).unwrap();
        let unit = format!("nstools-{runtime}-{id}.scope");
        let binary = if runtime == "nsrun" { nstools::bin("nsrun") } else { "runc".into() };
        let run =
            |args: &[&str]| with_systemd_cgroup(&guard, &binary, &state, &work.path().join(format!("{id}.err")), args);
        let out = run(&["run", "-d", "--bundle", dir.to_str().unwrap(), id]);
        assert_eq!(code(&out), 0, "{runtime}: {}", stderr(&out));
        assert_eq!(unit_properties(&unit, &["ActiveState"]), ["active"], "{runtime}");
        let values = unit_properties(&unit, &properties);
        let cgroup = |hierarchy: &str| Path::new("/sys/fs/cgroup").join(hierarchy).join("system.slice").join(&unit);
        let file = |hierarchy: &str, name: &str| {
            std::fs::read_to_string(cgroup(hierarchy).join(name)).unwrap_or_default().trim().to_owned()
        };
        assert_eq!(
            (
                file("memory", "memory.limit_in_bytes"),
                file("pids", "pids.max"),
                file("cpu,cpuacct", "cpu.cfs_quota_us")
            ),
            ("67108864".into(), "32".into(), "50000".into()),
            "{runtime}"
        );
        let init = file("pids", "cgroup.procs");
        assert!(!init.is_empty() && file("freezer", "cgroup.procs") == init, "{runtime}: joined the freezer too");
        let devices = |why: &str| {
            let list = file("devices", "devices.list");
            assert!(!list.contains("a *:* rwm") && list.contains("c 1:3 rwm"), "{runtime}, {why}: {list}");
        };
        devices("as made");
        assert!(Command::new("systemctl").arg("daemon-reload").status().unwrap().success());
        devices("after systemd reloaded");
        let out = run(&["update", "--memory", "128M", id]);
        assert_eq!(code(&out), 0, "{runtime}: {}", stderr(&out));
        assert_eq!(file("memory", "memory.limit_in_bytes"), "134217728", "{runtime}");
        assert_eq!(unit_properties(&unit, &["MemoryLimit"]), ["134217728"], "{runtime}: systemd keeps the update");
        let out = run(&["delete", "-f", id]);
        assert_eq!(code(&out), 0, "{runtime}: {}", stderr(&out));
        for hierarchy in ["memory", "pids", "freezer"] {
            assert!(!cgroup(hierarchy).exists(), "{runtime}: {hierarchy}'s cgroup is gone");
        }
        seen.push(values);
        if runtime == "nsrun" {
            for (h, had) in unmanaged.iter().zip(&had) {
                let slice = Path::new("/sys/fs/cgroup").join(h).join("system.slice");
                assert_eq!(slice.exists(), *had, "nsrun left {} as it found it", slice.display());
            }
        }
    }
    for (h, had) in unmanaged.iter().zip(had) {
        if !had {
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(h).join("system.slice"));
        }
    }
    assert_eq!(seen[0], seen[1], "nsrun's scope has runc's properties ({properties:?})");
    assert_eq!(seen[0], ["67108864", "32", "500ms", "yes", "strict"]);
    guard.check();
    drop(hold);
}

/// A delegated service in system.slice with every accounting on, stopped when dropped.
struct Held;

impl Held {
    const UNIT: &'static str = "nstools-hold.service";

    fn start() -> Self {
        let mut run = Command::new("systemd-run");
        run.args(["--quiet", "--unit", Self::UNIT, "--slice", "system.slice", "-p", "Delegate=yes"]);
        for accounting in ["MemoryAccounting", "CPUAccounting", "BlockIOAccounting", "TasksAccounting"] {
            run.args(["-p", &format!("{accounting}=yes")]);
        }
        assert!(run.args(["sleep", "600"]).status().unwrap().success(), "systemd-run {}", Self::UNIT);
        assert_eq!(unit_properties(Self::UNIT, &["ActiveState"]), ["active"]);
        Self
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = Command::new("systemctl").args(["stop", Self::UNIT]).status();
    }
}

/// podman as Debian ships it (its containers.conf: cgroup_manager "systemd",
/// so it passes --systemd-cgroup and a machine.slice:libpod:ID cgroupsPath),
/// rootful, with nsrun beside runc in the same run: the limit lands in the
/// container's own cgroup namespace, the exit status is relayed, nothing is left.
#[test]
fn podman_with_its_stock_systemd_cgroup_manager_runs_nsrun_as_runc() {
    systemd_lane_only!();
    let guard = Guard::new(&[]);
    let mounted_before = podman_store_mounted();
    let work = nstools::TempDir::new("systemd-podman");
    bundle(work.path(), "unused");
    let rootfs = work.path().join("rootfs");
    let nsrun = nstools::bin("nsrun");
    // Its storage in the work directory, vfs: the stock overlay driver leaves a mount of its own
    // on /var/lib/containers/storage/overlay behind, which is podman's, not a container's.
    let storage: Vec<std::ffi::OsString> =
        vec!["--storage-driver".into(), "vfs".into(), "--root".into(), work.path().join("storage").into()];
    let runroot = work.path().join("run");
    for runtime in [Path::new("/usr/sbin/runc"), nsrun.as_path()] {
        let podman = |args: &[&str]| {
            let mut command = guard.watch(Command::new("podman"));
            command.args(&storage).arg("--runroot").arg(&runroot);
            command.arg("--runtime").arg(runtime).args(["run", "--rm", "--network", "none", "--memory", "64m"]);
            command.arg("--rootfs").arg(&rootfs).args(args).stdin(std::process::Stdio::null());
            command.output().unwrap()
        };
        let out = podman(&["/bin/sh", "-c", "cat /proc/self/cgroup /sys/fs/cgroup/memory.max"]);
        assert_eq!(
            (code(&out), stdout(&out).as_str()),
            (0, "0::/\n67108864\n"),
            "{}: {}",
            runtime.display(),
            stderr(&out)
        );
        let out = podman(&["/bin/sh", "-c", "exit 3"]);
        assert_eq!(code(&out), 3, "{}: {}", runtime.display(), stderr(&out));
    }
    // conmon runs podman's cleanup after the container ends, on its own: wait for it to be done.
    wait_until_none_runs(&["podman", "conmon"]);
    let left = stdout(
        &Command::new("podman").args(&storage).arg("--runroot").arg(&runroot).args(["ps", "-aq"]).output().unwrap(),
    );
    wait_until_none_runs(&["podman", "conmon"]);
    assert_eq!(left, "", "podman keeps no container");
    podman_settled(mounted_before);
    let scopes = std::fs::read_dir("/sys/fs/cgroup/machine.slice")
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("libpod-")).count())
        .unwrap_or(0);
    assert_eq!(scopes, 0, "no libpod scope is left");
    guard.check();
}

/// Kubernetes' path with the node default kubeadm writes: containerd's CRI
/// with SystemdCgroup = true for both handlers, driven by tests/cri as a
/// kubelet with the systemd driver (pod parents as slices), nsrun beside
/// runc in the same run: every finding of nsrun's handler is runc's.
#[test]
fn kubernetes_cri_with_the_systemd_driver_runs_pods_through_nsrun_as_runc() {
    systemd_lane_only!();
    let guard = Guard::new(&[]);
    let mounted_before = podman_store_mounted();
    let work = nstools::TempDir::new("systemd-cri");
    let tar = nstools::busybox_tar(work.path());
    let pause = work.path().join("pause.tar");
    let ok = Command::new("tar").args(["-C", "/nstools", "-cf"]).arg(&pause).arg("pause").status().unwrap();
    assert!(ok.success(), "tar of the pause program");
    let engine = work.path().join("engine");
    std::fs::create_dir(&engine).unwrap();
    let out = guard
        .watch(Command::new("/nstools/engines/cri"))
        .env("CRI_CGROUP_DRIVER", "systemd")
        .arg(nstools::bin("nsrun"))
        .arg("/nstools/cri-client")
        .args([&engine, &tar, &pause])
        .output()
        .unwrap();
    // With this driver an OOM kill is told as OOMKilled or as Error, for runc's handler as for
    // nsrun's: systemd removes the emptied scope, racing containerd's read of its OOM event.
    // Both must see the kill (137); the rest is alike.
    let both = nstools::cri_want();
    let both: Vec<(&str, &str)> =
        both.iter().filter(|(k, _)| !k.ends_with(".oom")).map(|(k, v)| (k.as_str(), *v)).collect();
    let found = nstools::findings(&out, &both);
    for handler in ["runc", "nsrun"] {
        let oom = found.get(&format!("{handler}.oom")).map(String::as_str).unwrap_or_default();
        assert!(["137 OOMKilled", "137 Error"].contains(&oom), "{handler}: {oom}");
    }
    std::fs::remove_dir_all(&engine).unwrap();
    wait_until_none_runs(&["containerd-shim", "containerd-shim-runc-v2"]);
    podman_settled(mounted_before);
    guard.check();
}

/// podman run by tester, rootless, with Debian's stock configuration (its
/// user's systemd manager for cgroups, over the user's bus), nsrun beside
/// runc: podman runs the runtime as root of a user namespace of its own;
/// the container's scope is made by tester's manager, the memory limit lands
/// there (delegated), the status is relayed; a volume with --userns=keep-id,
/// -it, and -d then exec, stop, rm; nothing is left.
#[test]
fn rootless_podman_runs_nsrun_as_runc() {
    systemd_lane_only!();
    let guard = Guard::new(&[]);
    let work = nstools::TempDir::new("systemd-rootless");
    work.open_to_all(0o755);
    bundle(work.path(), "unused");
    let rootfs = work.path().join("rootfs");
    // tester's image: podman writes /etc/hosts and the like into it.
    let ok = Command::new("chown").args(["-R", "1000:1000"]).arg(&rootfs).status().unwrap();
    assert!(ok.success());
    let nsrun = work.tool_copy("nsrun");
    let volume = work.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    assert!(Command::new("chown").arg("1000:1000").arg(&volume).status().unwrap().success());
    let bind = format!("{}:/vol", volume.display());
    let mut seen = Vec::new();
    for runtime in [Path::new("/usr/sbin/runc"), nsrun.as_path()] {
        let name = runtime.file_name().unwrap().to_str().unwrap();
        let with = |verb: &[&str], args: &[&str]| {
            let mut all = vec!["podman", "--runtime", runtime.to_str().unwrap()];
            all.extend(verb);
            all.extend(args);
            as_tester(&guard, &all)
        };
        let run = ["run", "--rm", "--network", "none", "--memory", "64m", "--rootfs", rootfs.to_str().unwrap()];
        let podman = |args: &[&str]| with(&run, args);
        let out = podman(&["/bin/sh", "-c", "cat /proc/self/cgroup /sys/fs/cgroup/memory.max; id -u"]);
        assert_eq!(
            (code(&out), stdout(&out).as_str()),
            (0, "0::/\n67108864\n0\n"),
            "{}: {}",
            runtime.display(),
            stderr(&out)
        );
        let out = podman(&["/bin/sh", "-c", "exit 3"]);
        assert_eq!(code(&out), 3, "{}: {}", runtime.display(), stderr(&out));
        // A volume, and --userns=keep-id: tester inside as outside, the file tester's on the host.
        let file = format!("/vol/{name}");
        let keep_id =
            ["run", "--rm", "--network", "none", "-v", &bind, "--userns=keep-id", "--rootfs", rootfs.to_str().unwrap()];
        let out = with(&keep_id, &["/bin/sh", "-c", &format!("id -u; echo made > {file}")]);
        assert_eq!((code(&out), stdout(&out).as_str()), (0, "1000\n"), "{name}: {}", stderr(&out));
        let made = volume.join(name);
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&made).unwrap());
        assert_eq!((std::fs::read_to_string(&made).unwrap().as_str(), owner), ("made\n", 1000), "{name}");
        // -it: a terminal of podman's (conmon holds the pty's master) relays the status.
        let line = format!(
            "sleep 5 | script -qec \"podman --runtime {} run --rm -it --network none --rootfs {} /bin/sh -c 'tty; exit 4'\" /dev/null",
            runtime.display(),
            rootfs.display()
        );
        let out = as_tester(&guard, &["sh", "-c", &line]);
        assert_eq!(code(&out), 4, "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains("/dev/pts/0"), "{name}: {}", stdout(&out));
        // -d, then exec, stop and rm.
        let id = format!("nstools-{name}");
        let detached = ["run", "-d", "--name", &id, "--network", "none", "--rootfs", rootfs.to_str().unwrap()];
        let out = with(&detached, &["/bin/sleep", "300"]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let out = with(&["exec", &id], &["/bin/sh", "-c", "cat /proc/1/comm; id -u"]);
        let exec = (code(&out), stdout(&out));
        let out = with(&["stop", "-t", "1", &id], &[]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let out = with(&["inspect", "--format", "{{.State.Status}}", &id], &[]);
        let status = stdout(&out);
        let out = with(&["rm", &id], &[]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        seen.push((exec, status));
    }
    assert_eq!(seen[1], seen[0], "nsrun's -d, exec, stop as runc's");
    assert_eq!(seen[1], ((0, "sleep\n0\n".to_owned()), "exited\n".to_owned()));
    wait_until_none_runs(&["podman", "conmon"]);
    let left = as_tester(&guard, &["podman", "ps", "-aq"]);
    assert_eq!(stdout(&left), "", "podman keeps no container");
    // Rootless podman keeps a pause process holding its user namespace for the next run: ours
    // (the test's podman started it), ended by the PID podman wrote.
    let pause = std::fs::read_to_string("/run/user/1000/libpod/tmp/pause.pid").unwrap_or_default();
    if let Ok(pid) = pause.trim().parse::<i32>() {
        // SAFETY: kill(2) of the pause process our podman started, by its PID.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    wait_until_none_runs(&["podman", "conmon", "catatonit"]);
    guard.check();
}

/// A bundle for tester: a user namespace mapping tester to root and its
/// /etc/subuid range above (written by newuidmap and newgidmap), `resources`.
fn user_bundle(dir: &Path, args: &str, resources: &str) {
    bundle(dir, "unused");
    let config = format!(
        r#"{{"ociVersion":"1.0.2",
 "process":{{"args":["/bin/sh","-c","{args}"],"env":["PATH=/bin"],"cwd":"/","user":{{"uid":0,"gid":0}}}},
 "root":{{"path":"rootfs"}},
 "mounts":[{{"destination":"/proc","type":"proc","source":"proc"}}],
 "linux":{{"resources":{{{resources}}},
   "uidMappings":[{{"containerID":0,"hostID":1000,"size":1}},{{"containerID":1,"hostID":100000,"size":65536}}],
   "gidMappings":[{{"containerID":0,"hostID":1000,"size":1}},{{"containerID":1,"hostID":100000,"size":65536}}],
   "namespaces":[{{"type":"user"}},{{"type":"pid"}},{{"type":"mount"}},{{"type":"ipc"}},{{"type":"uts"}}]}}}}"#
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
}

/// nsrun run by an ordinary user, by hand: state under $XDG_RUNTIME_DIR,
/// maps beyond their own ids through newuidmap/newgidmap, no cgroup where
/// none is delegated (one line says so), a limit refused there with how to
/// get delegation, and set in a delegated scope; what only the host's root
/// may set refused by name.
#[test]
fn a_user_runs_nsrun_by_hand() {
    systemd_lane_only!();
    let guard = Guard::new(&[]);
    let work = nstools::TempDir::new("systemd-user");
    work.open_to_all(0o755);
    let nsrun = work.tool_copy("nsrun");
    let nsrun = nsrun.to_str().unwrap();
    let plain = work.path().join("plain");
    user_bundle(&plain, "id -u; cat /proc/self/uid_map | tr -s ' '", "");
    let out = as_tester(&guard, &[nsrun, "run", "--bundle", plain.to_str().unwrap(), "u1"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "0\n 0 1000 1\n 1 100000 65536\n"), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "nsrun: warning: cgroups: none: the user's cgroup is not delegated, and the config sets no limit\n"
    );
    assert!(Path::new("/run/user/1000/nsrun").is_dir(), "state under $XDG_RUNTIME_DIR");
    let limited = work.path().join("limited");
    // Device rules as runc's spec writes them: no device program for a user (the kernel loads
    // one only for the host's root), and nothing refused for them.
    user_bundle(&limited, "sleep 300", r#""devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":67108864}"#);
    let out = as_tester(&guard, &[nsrun, "run", "-d", "--bundle", limited.to_str().unwrap(), "u2"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not delegated to them: run in a delegated scope"), "{}", stderr(&out));
    let scope = ["systemd-run", "--user", "--scope", "--quiet", "-p", "Delegate=yes", nsrun];
    let mut args = scope.to_vec();
    args.extend(["run", "-d", "--bundle", limited.to_str().unwrap(), "u3"]);
    let out = as_tester(&guard, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let state = as_tester(&guard, &[nsrun, "state", "u3"]);
    let pid: i32 = stdout(&state)
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"pid\": "))
        .unwrap()
        .trim_end_matches(',')
        .parse()
        .unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let dir = Path::new("/sys/fs/cgroup").join(cgroup.trim().trim_start_matches("0::/"));
    assert_eq!(std::fs::read_to_string(dir.join("memory.max")).unwrap(), "67108864\n");
    let out = as_tester(&guard, &[nsrun, "delete", "-f", "u3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!dir.exists());
    guard.check();
}

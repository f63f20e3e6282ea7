//! nsrun against the OCI runtime specification (runtime-spec 1.0.2,
//! config.md, config-linux.md, runtime.md), section by section, checked from
//! inside the container with busybox and from the host through /proc and the
//! cgroup files. Each test names the sections it covers; the README's
//! conformance table maps them to the files of the runtime-tools suite that
//! runc passes here, which these replace (facts from the spec, our own code).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nstools::{Guard, TempDir, has_namespace, is_root, require, stderr, stdout};

fn can_run() -> bool {
    is_root()
        && ["pid", "mnt", "uts", "ipc", "net", "user"].iter().all(|n| has_namespace(n))
        && ["/bin/busybox", "/usr/bin/busybox"].iter().any(|p| Path::new(p).exists())
}

/// A bundle: a busybox root, and config.json made of the parts a test changes.
struct Bundle {
    dir: PathBuf,
}

/// The parts of config.json a test sets: `process` fields after args (JSON
/// text with a trailing comma), `linux` fields, top-level fields, extra mounts.
#[derive(Default)]
struct Parts<'a> {
    process: &'a str,
    linux: &'a str,
    top: &'a str,
    mounts: &'a str,
    namespaces: Option<&'a str>,
}

impl Bundle {
    fn new(work: &Path, name: &str, args: &[&str], parts: &Parts<'_>) -> Self {
        let dir = work.join(name);
        let bin_dir = dir.join("rootfs/bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"].iter().map(Path::new).find(|p| p.exists()).unwrap();
        nstools::copy_program(busybox, &bin_dir.join("busybox"));
        for applet in [
            "sh", "cat", "echo", "grep", "id", "hostname", "readlink", "ls", "stat", "touch", "env", "pwd", "sleep",
            "wc", "head", "tr", "cut", "trap", "mkdir", "mount", "test",
        ] {
            std::os::unix::fs::symlink("busybox", bin_dir.join(applet)).unwrap();
        }
        for d in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(dir.join("rootfs").join(d)).unwrap();
        }
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let namespaces = parts
            .namespaces
            .unwrap_or(r#"[{"type":"pid"},{"type":"mount"},{"type":"uts"},{"type":"ipc"},{"type":"network"}]"#);
        let config = format!(
            r#"{{"ociVersion":"1.0.2",{top}
 "process":{{"args":[{args}],{process}"env":["PATH=/bin"],"cwd":"/","user":{{"uid":0,"gid":0}}}},
 "root":{{"path":"rootfs"}},
 "mounts":[{mounts}{{"destination":"/proc","type":"proc","source":"proc"}},
   {{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}}],
 "linux":{{{linux}"namespaces":{namespaces}}}}}"#,
            top = parts.top,
            args = args.join(","),
            process = parts.process,
            mounts = parts.mounts,
            linux = parts.linux,
        );
        std::fs::write(dir.join("config.json"), config).unwrap();
        Self { dir }
    }
}

/// `nsrun --root STATE ARGS`, output captured.
fn nsrun(guard: &Guard, state: &Path, args: &[&str]) -> Output {
    guard.command("nsrun").arg("--root").arg(state).args(args).stdin(Stdio::null()).output().unwrap()
}

/// `nsrun run` of a bundle: create, start, wait, delete. Its output is the container's.
fn run(guard: &Guard, state: &Path, bundle: &Bundle, id: &str) -> Output {
    nsrun(guard, state, &["run", "--bundle", bundle.dir.to_str().unwrap(), id])
}

/// `nsrun create` with its stdio on files (the container keeps them).
fn create(guard: &Guard, state: &Path, bundle: &Bundle, id: &str) -> Output {
    let err = state.with_extension(format!("{id}.err"));
    let status = guard
        .command("nsrun")
        .arg("--root")
        .arg(state)
        .args(["create", "--bundle", bundle.dir.to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(state.with_extension(format!("{id}.out"))).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    let mut out = Command::new("true").output().unwrap();
    out.status = status;
    out.stderr = std::fs::read(&err).unwrap_or_default();
    out
}

/// What `nsrun state` says: the status and the pid.
fn state_of(guard: &Guard, state: &Path, id: &str) -> (String, i32) {
    let text = stdout(&nsrun(guard, state, &["state", id]));
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("\"{key}\": ")))
            .map(|v| v.trim_end_matches(',').trim_matches('"').to_owned())
    };
    (field("status").unwrap_or_default(), field("pid").and_then(|p| p.parse().ok()).unwrap_or(0))
}

fn wait_status(guard: &Guard, state: &Path, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while state_of(guard, state, id).0 != want {
        assert!(Instant::now() < deadline, "{id} never became {want}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// config.md "Process" (args, env, cwd, user with additionalGids, noNewPrivileges,
/// oomScoreAdj, rlimits) and runtime.md's default run. Suite files: default,
/// process, process_user, process_oom_score_adj, process_rlimits, misc_props.
#[test]
fn the_process_is_the_configs() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-process");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let script = "pwd; echo $FOO; id -u; id -g; id -G; cat /proc/self/oom_score_adj; \
                  grep 'Max open files' /proc/self/limits | tr -s ' '; grep NoNewPrivs /proc/self/status | tr -d '\\t'; \
                  echo args: \"$0\" \"$1\"";
    let parts = Parts {
        process: r#""noNewPrivileges":true,"oomScoreAdj":300,"rlimits":[{"type":"RLIMIT_NOFILE","hard":200,"soft":100}],"#,
        ..Parts::default()
    };
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script, "zero", "one"], &parts);
    // The user and cwd of the process are set through the same document.
    let config = std::fs::read_to_string(bundle.dir.join("config.json")).unwrap();
    let config = config
        .replace(r#""env":["PATH=/bin"]"#, r#""env":["PATH=/bin","FOO=bar baz"]"#)
        .replace(r#""cwd":"/""#, r#""cwd":"/tmp""#)
        .replace(r#""user":{"uid":0,"gid":0}"#, r#""user":{"uid":1000,"gid":1001,"additionalGids":[1002,1003]}"#);
    std::fs::write(bundle.dir.join("config.json"), config).unwrap();
    let out = run(&guard, &state, &bundle, "p1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "/tmp\nbar baz\n1000\n1001\n1001 1002 1003\n300\nMax open files 100 200 files \nNoNewPrivs:1\nargs: zero one\n"
    );
    assert!(!state.join("p1").exists(), "run deletes what it created");
    guard.check();
}

/// config.md "Root" (readonly) and "Hostname". Suite files: root_readonly_true, hostname.
#[test]
fn a_read_only_root_and_the_hostname() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-root");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let parts = Parts { top: r#""hostname":"oci-box","#, ..Parts::default() };
    let bundle = Bundle::new(
        work.path(),
        "b",
        &["/bin/sh", "-c", "hostname; touch /x 2>&1 | grep -o 'Read-only file system'"],
        &parts,
    );
    let config = std::fs::read_to_string(bundle.dir.join("config.json")).unwrap();
    std::fs::write(
        bundle.dir.join("config.json"),
        config.replace(r#""root":{"path":"rootfs"}"#, r#""root":{"path":"rootfs","readonly":true}"#),
    )
    .unwrap();
    let out = run(&guard, &state, &bundle, "r1");
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "oci-box\nRead-only file system\n"),
        "{}",
        stderr(&out)
    );
    assert!(!bundle.dir.join("rootfs/x").exists());
    guard.check();
}

/// config.md "Capabilities": the sets as listed; an unknown name fails create
/// and leaves nothing. Suite file: process_capabilities_fail.
#[test]
fn capabilities_are_the_configs_and_an_unknown_one_fails() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-caps");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let caps = |list: &str| {
        format!(
            r#""capabilities":{{"bounding":[{list}],"effective":[{list}],"permitted":[{list}],"inheritable":[],"ambient":[]}},"#
        )
    };
    let good = caps(r#""CAP_CHOWN","CAP_KILL""#);
    let parts = Parts { process: &good, ..Parts::default() };
    let bundle = Bundle::new(
        work.path(),
        "b",
        &["/bin/sh", "-c", "grep -E '^Cap(Eff|Bnd):' /proc/self/status | tr -d '\\t'"],
        &parts,
    );
    let out = run(&guard, &state, &bundle, "c1");
    assert_eq!(stdout(&out), "CapEff:0000000000000021\nCapBnd:0000000000000021\n", "{}", stderr(&out));
    let bad = caps(r#""CAP_CHOWN","CAP_NOT_A_CAPABILITY""#);
    let parts = Parts { process: &bad, ..Parts::default() };
    let bundle = Bundle::new(work.path(), "bad", &["/bin/true"], &parts);
    let out = create(&guard, &state, &bundle, "c2");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("CAP_NOT_A_CAPABILITY"), "{}", stderr(&out));
    assert!(!state.join("c2").exists(), "a failed create left its state");
    guard.check();
}

/// config.md "Mounts" (a tmpfs with options, a read-only bind), config-linux.md
/// "Masked Paths" (a file reads empty, a directory is empty) and "Readonly
/// Paths". Suite files: mounts, linux_masked_paths, linux_readonly_paths.
#[test]
fn mounts_masked_paths_and_read_only_paths() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-mounts");
    let state = work.path().join("state");
    let shared = work.path().join("host/shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("file"), "from the host\n").unwrap();
    let guard = Guard::new(&[&shared]);
    let mounts = format!(
        r#"{{"destination":"/m1","type":"tmpfs","source":"tmpfs","options":["size=1m","mode=700","nosuid"]}},
           {{"destination":"/m2","type":"bind","source":{:?},"options":["rbind","ro"]}},"#,
        shared.display().to_string()
    );
    let parts = Parts {
        mounts: &mounts,
        linux: r#""maskedPaths":["/proc/kcore","/masked","/nonexistent-masked"],"readonlyPaths":["/proc/sys","/ro"],"#,
        ..Parts::default()
    };
    let script = "grep -c ' /m1 .*nosuid.* - tmpfs ' /proc/self/mountinfo; stat -c %a /m1; cat /m2/file; \
                  touch /m2/x 2>/dev/null || echo m2-ro; cat /proc/kcore | wc -c; ls /masked | wc -l; \
                  echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo proc-sys-ro; touch /ro/x 2>/dev/null || echo ro-ro; \
                  touch /masked/x 2>/dev/null || echo masked-ro";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &parts);
    for dir in ["masked", "ro"] {
        std::fs::create_dir(bundle.dir.join("rootfs").join(dir)).unwrap();
        std::fs::write(bundle.dir.join("rootfs").join(dir).join("secret"), "x").unwrap();
    }
    let out = run(&guard, &state, &bundle, "m1");
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "1\n700\nfrom the host\nm2-ro\n0\n0\nproc-sys-ro\nro-ro\nmasked-ro\n"),
        "{}",
        stderr(&out)
    );
    assert!(!shared.join("x").exists());
    guard.check();
}

/// config-linux.md "Sysctl", "Devices" and "User namespace mappings".
/// Suite files: linux_sysctl, linux_devices, linux_uid_mappings.
#[test]
fn sysctls_devices_and_id_maps() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-linux");
    work.open_to_all(0o755);
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let parts = Parts {
        linux: r#""sysctl":{"net.ipv4.ip_forward":"1","kernel.shmmax":"12345678"},
                  "devices":[{"path":"/dev/oci-char","type":"c","major":1,"minor":3,"fileMode":438,"uid":0,"gid":0},
                             {"path":"/dev/oci-block","type":"b","major":7,"minor":0,"fileMode":384,"uid":1,"gid":2},
                             {"path":"/dev/oci-fifo","type":"p","fileMode":420}],"#,
        ..Parts::default()
    };
    let script = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; \
                  stat -c '%n %F %t:%T %a %u:%g' /dev/oci-char /dev/oci-block /dev/oci-fifo";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &parts);
    let out = run(&guard, &state, &bundle, "l1");
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (
            Some(0),
            "1\n12345678\n/dev/oci-char character special file 1:3 666 0:0\n\
             /dev/oci-block block special file 7:0 600 1:2\n/dev/oci-fifo fifo 0:0 644 0:0\n"
        ),
        "{}",
        stderr(&out)
    );
    // The host's value is its own.
    assert_ne!(std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(), "12345678\n");
    let parts = Parts {
        linux: r#""uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"gidMappings":[{"containerID":0,"hostID":200000,"size":1000}],"#,
        namespaces: Some(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"uts"},{"type":"ipc"},{"type":"network"},{"type":"user"}]"#,
        ),
        ..Parts::default()
    };
    let script = "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '; id -u";
    let bundle = Bundle::new(work.path(), "u", &["/bin/sh", "-c", script], &parts);
    let out = run(&guard, &state, &bundle, "u1");
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), " 0 100000 65536\n 0 200000 1000\n0\n"),
        "{}",
        stderr(&out)
    );
    guard.check();
}

/// config.md "Mounts" under a user namespace: a bind source below a
/// directory only host root can enter (a volume under /root, /var/lib/...)
/// is opened by nsrun as host root in the container's mount namespace, as
/// runc does, before the container's root (an unprivileged uid on the host)
/// binds it; what the source itself lets that uid do stays as it is.
#[test]
fn a_bind_source_only_host_root_can_reach_is_bound_under_a_user_namespace() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    use std::os::unix::fs::PermissionsExt;
    let work = TempDir::new("oci-userns-bind");
    work.open_to_all(0o755);
    let state = work.path().join("state");
    let private = work.path().join("private");
    let data = private.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("x"), "from a volume\n").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&data, Some(100000), Some(200000)).unwrap();
    let secret = private.join("secret");
    std::fs::write(&secret, "host only\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let guard = Guard::new(&[]);
    let mounts = format!(
        r#"{{"destination":"/data","type":"bind","source":"{}","options":["rbind"]}},
           {{"destination":"/secret","type":"bind","source":"{}","options":["bind","ro"]}},"#,
        data.display(),
        secret.display()
    );
    let parts = Parts {
        linux: r#""uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"gidMappings":[{"containerID":0,"hostID":200000,"size":65536}],"#,
        namespaces: Some(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"uts"},{"type":"ipc"},{"type":"network"},{"type":"user"}]"#,
        ),
        mounts: &mounts,
        ..Parts::default()
    };
    let script = "cat /data/x; touch /data/y && echo written; cat /secret 2>/dev/null || echo secret refused";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &parts);
    // The image's root is the container root's, as engines hand it over (its mount points are made there).
    std::os::unix::fs::chown(bundle.dir.join("rootfs"), Some(100000), Some(200000)).unwrap();
    let out = run(&guard, &state, &bundle, "ub1");
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "from a volume\nwritten\nsecret refused\n"),
        "{}",
        stderr(&out)
    );
    assert!(data.join("y").exists());
    // A hostile image: a bind source the config names inside the image's root, made a symlink to
    // a host file only host root reaches. It resolves inside that root, as the image's paths do.
    std::fs::write(private.join("readable"), "host file\n").unwrap();
    let hostile = Bundle::new(work.path(), "h", &["/bin/cat", "/evil"], &parts);
    std::os::unix::fs::chown(hostile.dir.join("rootfs"), Some(100000), Some(200000)).unwrap();
    std::os::unix::fs::symlink(private.join("readable"), hostile.dir.join("rootfs/link")).unwrap();
    let config = std::fs::read_to_string(hostile.dir.join("config.json")).unwrap();
    let evil = r#"{"destination":"/evil","type":"bind","source":"rootfs/link","options":["bind"]},"#;
    std::fs::write(
        hostile.dir.join("config.json"),
        config.replacen(r#""mounts":["#, &format!(r#""mounts":[{evil}"#), 1),
    )
    .unwrap();
    let out = run(&guard, &state, &hostile, "ub3");
    assert!(!stdout(&out).contains("host file"), "the image's symlink reached the host: {}", stdout(&out));
    assert!(
        stderr(&out).contains("cannot open the bind source") && stderr(&out).contains("rootfs/link"),
        "{}",
        stderr(&out)
    );

    // A source that is not there is named, and nothing is left.
    let mounts = format!(
        r#"{{"destination":"/data","type":"bind","source":"{}","options":["rbind"]}},"#,
        private.join("none").display()
    );
    let bundle = Bundle::new(work.path(), "c", &["/bin/true"], &Parts { mounts: &mounts, ..parts });
    let out = run(&guard, &state, &bundle, "ub2");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("private/none") && stderr(&out).contains("No such file or directory"),
        "{}",
        stderr(&out)
    );
    guard.check();
}

/// config-linux.md "Namespaces": new ones without a path, an existing one
/// joined by its path, a path of another type refused, and no mount namespace
/// refused (nsrun would mount in the host's). Suite files: linux_ns_nopath,
/// linux_ns_path, linux_ns_path_type, linux_ns_itype.
#[test]
fn namespaces_new_joined_and_refused() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-ns");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let mut holder = guard.watch(Command::new("unshare")).args(["-n", "-i", "sleep", "30"]).spawn().unwrap();
    let held = holder.id();
    let ns =
        |pid: &str, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ns(&held.to_string(), "net") == ns("self", "net") {
        assert!(Instant::now() < deadline, "unshare never made its namespaces");
        std::thread::sleep(Duration::from_millis(5));
    }
    let script = "for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done";
    let bundle = Bundle::new(work.path(), "new", &["/bin/sh", "-c", script], &Parts::default());
    let out = run(&guard, &state, &bundle, "n1");
    let inside: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(inside.len(), 5, "{}", stderr(&out));
    for (line, kind) in inside.iter().zip(["pid", "mnt", "uts", "ipc", "net"]) {
        assert_ne!(line, &ns("self", kind), "{kind} is the host's");
    }
    let joined = format!(
        r#"[{{"type":"pid"}},{{"type":"mount"}},{{"type":"uts"}},{{"type":"ipc","path":"/proc/{held}/ns/ipc"}},{{"type":"network","path":"/proc/{held}/ns/net"}}]"#
    );
    let parts = Parts { namespaces: Some(&joined), ..Parts::default() };
    let bundle = Bundle::new(
        work.path(),
        "joined",
        &["/bin/sh", "-c", "for n in ipc net; do readlink /proc/self/ns/$n; done"],
        &parts,
    );
    let out = run(&guard, &state, &bundle, "n2");
    assert_eq!(
        stdout(&out),
        format!("{}\n{}\n", ns(&held.to_string(), "ipc"), ns(&held.to_string(), "net")),
        "{}",
        stderr(&out)
    );
    let mistyped =
        format!(r#"[{{"type":"pid"}},{{"type":"mount"}},{{"type":"network","path":"/proc/{held}/ns/ipc"}}]"#);
    let parts = Parts { namespaces: Some(&mistyped), ..Parts::default() };
    let bundle = Bundle::new(work.path(), "mistyped", &["/bin/true"], &parts);
    let out = create(&guard, &state, &bundle, "n3");
    assert_eq!(out.status.code(), Some(1), "a network path to an ipc namespace was taken");
    assert!(!state.join("n3").exists());
    let parts = Parts { namespaces: Some(r#"[{"type":"pid"},{"type":"uts"}]"#), ..Parts::default() };
    let bundle = Bundle::new(work.path(), "nomount", &["/bin/true"], &parts);
    let out = create(&guard, &state, &bundle, "n4");
    assert_eq!(out.status.code(), Some(1), "no mount namespace was taken");
    assert!(!state.join("n4").exists());
    holder.kill().unwrap();
    holder.wait().unwrap();
    guard.check();
}

/// The cgroup directories a created container's state names.
fn cgroup_dirs(state: &Path, id: &str) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(state.join(id).join("state.json")).unwrap();
    text.split("\"dir\":\"").skip(1).filter_map(|rest| rest.split('"').next()).map(PathBuf::from).collect()
}

/// The file of one of `dirs` that exists (v1 or v2 name), as text.
fn cgroup_file(dirs: &[PathBuf], names: &[&str]) -> String {
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.exists())
        .map(|p| std::fs::read_to_string(p).unwrap().trim().to_owned())
        .unwrap_or_else(|| panic!("none of {names:?} in {dirs:?}"))
}

/// config-linux.md "Control groups" (cgroupsPath relative and absolute, cpu and
/// pids resources) and runtime.md "delete" (what create made goes, what was
/// there stays). Suite files: linux_cgroups_cpus, linux_cgroups_relative_cpus,
/// linux_cgroups_pids, linux_cgroups_relative_pids, delete_resources,
/// delete_only_create_resources.
#[test]
fn cgroup_resources_land_in_the_files_and_go_with_delete() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-cgroups");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let own = common::cgroup::own();
    let pids_h = common::cgroup::holding(&own, "pids").expect("a pids controller").clone();
    // A cgroup that is there before: delete leaves it.
    let existing = format!("oci-existing.{}", std::process::id());
    let before = pids_h.dir.join(&existing);
    std::fs::create_dir(&before).unwrap();
    // Absolute: from each hierarchy's root, below our own cgroup where it lies deepest (elsewhere
    // we are at the root).
    let deepest = own.iter().map(|h| h.path.as_str()).max_by_key(|p| p.len()).unwrap_or("/");
    let absolute = format!("{}/oci-abs.{}", deepest.trim_end_matches('/'), std::process::id());
    for (id, path) in [("g1", format!("oci-rel.{}/c", std::process::id())), ("g2", absolute), ("g3", existing.clone())]
    {
        let linux = format!(
            r#""cgroupsPath":{path:?},"resources":{{"cpu":{{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"}},"pids":{{"limit":42}}}},"#
        );
        let parts = Parts { linux: &linux, ..Parts::default() };
        let bundle = Bundle::new(work.path(), id, &["/bin/sleep", "30"], &parts);
        let out = create(&guard, &state, &bundle, id);
        assert_eq!(out.status.code(), Some(0), "{id}: {}", stderr(&out));
        let dirs = cgroup_dirs(&state, id);
        assert!(!dirs.is_empty() && dirs.iter().all(|d| d.ends_with(path.trim_start_matches('/'))), "{id}: {dirs:?}");
        assert_eq!(cgroup_file(&dirs, &["pids.max"]), "42", "{id}");
        let quota = cgroup_file(&dirs, &["cpu.cfs_quota_us", "cpu.max"]);
        assert!(quota == "50000" || quota == "50000 100000", "{id}: {quota}");
        let shares = cgroup_file(&dirs, &["cpu.shares", "cpu.weight"]);
        assert!(shares == "512" || shares == "20", "{id}: {shares}");
        assert_eq!(cgroup_file(&dirs, &["cpuset.cpus"]), "0", "{id}");
        let (status, pid) = state_of(&guard, &state, id);
        assert_eq!(status, "created");
        let procs = cgroup_file(&dirs, &["cgroup.procs"]);
        assert_eq!(procs, pid.to_string(), "{id}: the held process is in");
        let out = nsrun(&guard, &state, &["delete", "--force", id]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        for dir in &dirs {
            assert_eq!(dir.exists(), id == "g3" && dir == &before, "{id}: {}", dir.display());
        }
    }
    std::fs::remove_dir(&before).unwrap();
    guard.check();
}

/// runtime.md "Lifecycle" and "Operations": create (created, the process held),
/// start (running, the process is the config's), state, kill with a signal the
/// process handles, kill of a stopped container (an error, no effect), delete,
/// and config.json changed after create (no effect). Suite files: create, start,
/// state, kill, killsig, kill_no_effect, config_updates_without_affect.
#[test]
fn the_lifecycle_create_start_state_kill_delete() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-life");
    let state = work.path().join("state");
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let guard = Guard::new(&[]);
    let mounts = format!(
        r#"{{"destination":"/shared","type":"bind","source":{:?},"options":["rbind","rw"]}},"#,
        shared.display().to_string()
    );
    let parts = Parts { mounts: &mounts, top: r#""hostname":"first","#, ..Parts::default() };
    let script = "trap 'echo usr1 >> /shared/out' USR1; hostname > /shared/out; while :; do sleep 0.05; done";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &parts);
    let out = create(&guard, &state, &bundle, "k1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (status, pid) = state_of(&guard, &state, "k1");
    assert_eq!(status, "created");
    assert!(pid > 0 && Path::new(&format!("/proc/{pid}")).exists());
    assert!(!shared.join("out").exists(), "the process ran before start");
    // What config.json says after create changes nothing.
    let config = std::fs::read_to_string(bundle.dir.join("config.json")).unwrap();
    std::fs::write(bundle.dir.join("config.json"), config.replace("\"first\"", "\"second\"")).unwrap();
    let out = nsrun(&guard, &state, &["start", "k1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(state_of(&guard, &state, "k1"), ("running".to_owned(), pid));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(shared.join("out")).is_ok_and(|o| o == "first\n") {
        assert!(Instant::now() < deadline, "the process never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A second start is an error.
    assert_eq!(nsrun(&guard, &state, &["start", "k1"]).status.code(), Some(1));
    let out = nsrun(&guard, &state, &["kill", "k1", "USR1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    while !std::fs::read_to_string(shared.join("out")).is_ok_and(|o| o == "first\nusr1\n") {
        assert!(Instant::now() < deadline, "the signal never came");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(nsrun(&guard, &state, &["kill", "k1", "KILL"]).status.code(), Some(0));
    wait_status(&guard, &state, "k1", "stopped");
    let out = nsrun(&guard, &state, &["kill", "k1", "TERM"]);
    assert_eq!(out.status.code(), Some(1), "a kill of a stopped container is an error");
    assert_eq!(nsrun(&guard, &state, &["delete", "k1"]).status.code(), Some(0));
    let out = nsrun(&guard, &state, &["state", "k1"]);
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(1), "nsrun: 'k1': container does not exist\n"));
    guard.check();
}

// What engines depend on beyond the specification: runc's behaviour, and its
// words, which engines match in a runtime's messages (../shared/oci/README.md).

/// podman on Debian sets `net.ipv4.ping_group_range` (containers.conf's
/// default_sysctls) and makes /proc/sys read-only: the sysctl is written
/// first, as runc does, and /proc/sys is read-only after.
#[test]
fn sysctls_are_written_before_proc_sys_turns_read_only() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-sysctl-ro");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let parts = Parts {
        linux: r#""sysctl":{"net.ipv4.ping_group_range":"0 0"},"readonlyPaths":["/proc/sys"],"maskedPaths":["/proc/kcore"],"#,
        ..Parts::default()
    };
    let script = "tr '\\t' ' ' < /proc/sys/net/ipv4/ping_group_range; \
                  echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo writable || echo read-only";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &parts);
    let out = run(&guard, &state, &bundle, "s1");
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "0 0\nread-only\n"), "{}", stderr(&out));
    guard.check();
}

/// A sysctl of a namespace joined by path is written in that namespace: when
/// the path names nsrun's own (the host's), it is refused before anything is
/// made, as runc refuses it, and the host's value is as it was.
#[test]
fn a_sysctl_in_the_hosts_own_namespace_is_refused() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-sysctl-host");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let joined = r#"[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/proc/self/ns/net"}]"#;
    let parts = Parts {
        namespaces: Some(joined),
        linux: r#""sysctl":{"net.ipv4.ip_unprivileged_port_start":"7"},"#,
        ..Parts::default()
    };
    let bundle = Bundle::new(work.path(), "b", &["/bin/true"], &parts);
    let out = run(&guard, &state, &bundle, "h1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "linux.sysctl.net.ipv4.ip_unprivileged_port_start: the net namespace '/proc/self/ns/net' is nsrun's own"
        ),
        "{}",
        stderr(&out)
    );
    let after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_eq!(after, before, "the host's sysctl is as it was");
    assert!(!state.join("h1").exists(), "nothing made");
    guard.check();
}

/// podman's `--cgroupns=private` (its default on cgroup v2): the new cgroup
/// namespace is rooted at the container's own cgroups, which it joins first,
/// and the cgroup mount shows them from there.
#[test]
fn a_new_cgroup_namespace_is_rooted_at_the_containers_cgroups() {
    require!(can_run() && has_namespace("cgroup"), "needs root, namespaces, a cgroup namespace and busybox-static");
    let work = TempDir::new("oci-cgroupns");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let parts = Parts {
        mounts: r#"{"destination":"/sys","type":"sysfs","source":"sysfs","options":["ro","nosuid","nodev","noexec"]},
                   {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro","nosuid","nodev","noexec"]},"#,
        namespaces: Some(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"uts"},{"type":"ipc"},{"type":"network"},{"type":"cgroup"}]"#,
        ),
        ..Parts::default()
    };
    let script = "grep -cv ':/$' /proc/self/cgroup; ls /sys/fs/cgroup | head -1 | wc -l";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &parts);
    let out = run(&guard, &state, &bundle, "g1");
    // Every line of /proc/self/cgroup is at the namespace's root, and the mount shows something.
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "0\n1\n"), "{}", stderr(&out));
    guard.check();
}

/// `create --preserve-fds N` (podman run --preserve-fds) passes descriptors
/// 3 to 2+N on; a LISTEN_FDS that names another process passes nothing.
#[test]
fn create_passes_preserved_descriptors_and_no_others() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-preserve");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let script = "for n in 3 4 5; do test -e /proc/self/fd/$n && echo open $n; done; echo done";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &Parts::default());
    let line = format!(
        "exec 3</dev/null 4</dev/null 5</dev/null; exec {} --root {} run --preserve-fds 1 --bundle {} p1",
        nstools::bin("nsrun").display(),
        state.display(),
        bundle.dir.display()
    );
    let mut sh = guard.watch(Command::new("sh"));
    let out = sh.args(["-c", &line]).env("LISTEN_FDS", "2").env("LISTEN_PID", "1").output().unwrap();
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "open 3\ndone\n"), "{}", stderr(&out));
    guard.check();
}

/// A missing or unrunnable executable fails `create` (not the start after
/// it), in runc's words: podman turns "executable file not found" and "no
/// such file or directory" into 127, "permission denied" into 126. Nothing is left.
#[test]
fn an_executable_that_cannot_run_fails_create_in_runcs_words() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-noexec");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    for (i, (program, words)) in [
        ("nosuch", "exec: \"nosuch\": executable file not found in $PATH"),
        ("/bin/nosuch", "exec: \"/bin/nosuch\": no such file or directory"),
        ("/etc/plain", "exec: \"/etc/plain\": permission denied"),
    ]
    .into_iter()
    .enumerate()
    {
        let bundle = Bundle::new(work.path(), &format!("b{i}"), &[program], &Parts::default());
        std::fs::write(bundle.dir.join("rootfs/etc/plain"), "not a program\n").unwrap();
        let id = format!("x{i}");
        let out = create(&guard, &state, &bundle, &id);
        assert_eq!(out.status.code(), Some(1), "{program}");
        assert!(stderr(&out).contains(words), "{program}: {}", stderr(&out));
        assert!(!state.join(&id).exists(), "{program}: a failed create left its state");
    }
    guard.check();
}

/// containerd's CRI sends `kill --all ID KILL` to every container that has
/// exited: runc succeeds; without --all it says `container not running`; a
/// container that is gone `does not exist`. The shim knows only those words.
#[test]
fn a_stopped_or_gone_container_answers_in_runcs_words() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-words");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let bundle = Bundle::new(work.path(), "b", &["/bin/true"], &Parts::default());
    std::os::unix::fs::symlink("busybox", bundle.dir.join("rootfs/bin/true")).unwrap();
    assert_eq!(create(&guard, &state, &bundle, "w1").status.code(), Some(0));
    assert_eq!(nsrun(&guard, &state, &["start", "w1"]).status.code(), Some(0));
    wait_status(&guard, &state, "w1", "stopped");
    let out = nsrun(&guard, &state, &["kill", "w1", "KILL"]);
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(1), "nsrun: cannot kill: 'w1': container not running\n")
    );
    let out = nsrun(&guard, &state, &["kill", "--all", "w1", "KILL"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = nsrun(&guard, &state, &["ps", "w1"]);
    assert!(stderr(&out).ends_with(": container not running\n"), "{}", stderr(&out));
    assert_eq!(nsrun(&guard, &state, &["delete", "w1"]).status.code(), Some(0));
    for args in [&["kill", "w1", "KILL"][..], &["kill", "--all", "w1", "9"], &["delete", "w1"], &["state", "w1"]] {
        let out = nsrun(&guard, &state, args);
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(1), "nsrun: 'w1': container does not exist\n"),
            "{args:?}"
        );
    }
    guard.check();
}

/// A Kubernetes `Bidirectional` volume: `rootfsPropagation: rshared` and an
/// `rshared` bind of a shared host directory. What the container mounts
/// there reaches the host, as with runc (and only there: the root itself is
/// private while it is built, so nothing else propagates).
#[test]
fn an_rshared_volume_propagates_the_containers_mounts_to_the_host() {
    require!(can_run() && nstools::have_program("mount"), "needs root, namespaces, busybox-static and mount");
    let work = TempDir::new("oci-rshared");
    let state = work.path().join("state");
    let volume = work.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let guard = Guard::new(&[]);
    let host = |args: &[&str]| Command::new("mount").args(args).status().unwrap().success();
    let v = volume.to_str().unwrap();
    assert!(host(&["-t", "tmpfs", "-o", "size=1m", "nstools-volume", v]) && host(&["--make-shared", v]));
    let mounts = format!(r#"{{"destination":"/volume","type":"bind","source":{v:?},"options":["rbind","rshared"]}},"#);
    let parts = Parts {
        mounts: &mounts,
        linux: r#""rootfsPropagation":"rshared","#,
        process: r#""capabilities":{"bounding":["CAP_SYS_ADMIN"],"effective":["CAP_SYS_ADMIN"],"permitted":["CAP_SYS_ADMIN"]},"#,
        ..Parts::default()
    };
    let script = "mkdir /volume/inner && mount -t tmpfs nstools-inner /volume/inner && echo made > /volume/inner/f";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &parts);
    let out = run(&guard, &state, &bundle, "r1");
    let seen = std::fs::read_to_string(volume.join("inner/f")).unwrap_or_default();
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(" nstools-inner ");
    let _ = Command::new("umount").arg(volume.join("inner")).status();
    let _ = Command::new("umount").arg(&volume).status();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!((seen.as_str(), mounted), ("made\n", true), "the container's mount never reached the host");
    guard.check();
}

/// config-linux.md "Seccomp" `architectures`: a profile that names the
/// 32-bit ABI (Docker's and podman's name SCMP_ARCH_X86 beside x86_64)
/// filters its calls by their own numbers; one that does not, refuses them.
#[test]
fn a_profile_filters_the_32_bit_abi_it_names() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    require!(common::seccomp::Arch::native() == Some(common::seccomp::Arch::X86_64), "the i386 ABI is x86_64's");
    let work = TempDir::new("oci-compat");
    let state = work.path().join("state");
    let dir = nstools::c_helper(&work, "compat", include_str!("compat.c"));
    require!(dir.is_some(), "needs gcc to build tests/compat.c");
    let helper = dir.unwrap().join("compat");
    require!(Command::new(&helper).output().unwrap().status.success(), "this kernel runs no i386 programs");
    let guard = Guard::new(&[]);
    for (name, archs, want) in [
        ("named", r#""SCMP_ARCH_X86_64","SCMP_ARCH_X86""#, "getpid ok\nmount -13\n"),
        ("unnamed", r#""SCMP_ARCH_X86_64""#, "getpid -1\nmount -1\n"),
    ] {
        let linux = format!(
            r#""seccomp":{{"defaultAction":"SCMP_ACT_ALLOW","architectures":[{archs}],
                 "syscalls":[{{"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":13}}]}},"#
        );
        let parts = Parts { linux: &linux, ..Parts::default() };
        let bundle = Bundle::new(work.path(), name, &["/bin/compat"], &parts);
        nstools::copy_program(&helper, &bundle.dir.join("rootfs/bin/compat"));
        let out = run(&guard, &state, &bundle, name);
        assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), want), "{name}: {}", stderr(&out));
    }
    guard.check();
}

// ---- runc's command line beyond the conformance suite (run -d, --keep, a
// terminal of nsrun's own, exec into a created container, update, events,
// list, spec, ps with ps(1)'s arguments), and the defects found behind it ----

/// A config's text with `from` replaced by `to` (the test's one change).
fn edit(bundle: &Bundle, from: &str, to: &str) {
    let path = bundle.dir.join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// A devpts at /dev/pts after the bundle's /dev tmpfs, which gets `dev_options` more.
fn add_devpts(bundle: &Bundle, dev_options: &str) {
    edit(
        bundle,
        r#""options":["nosuid","mode=755"]}"#,
        &format!(
            r#""options":["nosuid","mode=755"{dev_options}]}},
   {{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["newinstance","ptmxmode=0666"]}}"#
        ),
    );
}

/// `run -d`, then what an admin does to a running container: list, ps with
/// ps(1)'s arguments, exec, events --stats, kill 0, update (flags and -r -,
/// read back from the host's cgroup files and kept in its state), delete -f,
/// and delete -f again of what is gone (0, as runc). `run --keep` leaves the
/// stopped container for delete.
#[test]
fn run_detached_then_list_ps_exec_events_update_and_delete() {
    require!(can_run() && nstools::have_program("ps"), "needs root, namespaces, busybox-static and ps");
    let work = TempDir::new("oci-runc-cli");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let linux = r#""resources":{"pids":{"limit":40},"memory":{"limit":268435456}},"#;
    let bundle = Bundle::new(work.path(), "b", &["/bin/sleep", "300"], &Parts { linux, ..Parts::default() });
    let b = bundle.dir.to_str().unwrap();
    // Its stdio on a file: a pipe would stay open as long as the container runs.
    let err = work.path().join("d1.err");
    let status = guard
        .command("nsrun")
        .arg("--root")
        .arg(&state)
        .args(["run", "-d", "--bundle", b, "d1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{}", std::fs::read_to_string(&err).unwrap());
    let (status, pid) = state_of(&guard, &state, "d1");
    assert_eq!(status, "running");

    assert_eq!(stdout(&nsrun(&guard, &state, &["list", "-q"])), "d1\n");
    let table = stdout(&nsrun(&guard, &state, &["list"]));
    assert!(table.starts_with("ID   PID"), "{table}");
    assert!(table.contains(&format!("d1   {pid}")) && table.contains("running"), "{table}");
    let json = stdout(&nsrun(&guard, &state, &["list", "--format", "json"]));
    assert!(json.contains(r#""id":"d1""#) && json.contains(&format!(r#""pid":{pid}"#)), "{json}");

    let ps = stdout(&nsrun(&guard, &state, &["ps", "d1", "--", "-o", "pid,args"]));
    assert_eq!(
        ps.lines().next().map(str::split_whitespace).map(Iterator::collect::<Vec<_>>),
        Some(vec!["PID", "COMMAND"])
    );
    assert_eq!(ps.lines().count(), 2, "{ps}");
    assert!(ps.contains(&format!("{pid} /bin/sleep 300")), "{ps}");
    assert_eq!(stdout(&nsrun(&guard, &state, &["ps", "-f", "json", "d1"])), format!("[{pid}]\n"));

    let out = nsrun(&guard, &state, &["exec", "d1", "/bin/sh", "-c", "echo in"]);
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "in\n"), "{}", stderr(&out));
    let out = nsrun(&guard, &state, &["kill", "d1", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let stats = stdout(&nsrun(&guard, &state, &["events", "--stats", "d1"]));
    assert!(stats.starts_with(r#"{"data":"#) || stats.contains(r#""type":"stats""#), "{stats}");
    assert!(stats.contains(r#""pids":{"current":1,"limit":40}"#), "{stats}");

    let dirs = cgroup_dirs(&state, "d1");
    let out = nsrun(&guard, &state, &["update", "--pids-limit", "30", "--memory", "128M", "d1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(cgroup_file(&dirs, &["pids.max"]), "30");
    assert_eq!(cgroup_file(&dirs, &["memory.limit_in_bytes", "memory.max"]), (128u64 << 20).to_string());
    // containerd's way: the whole LinuxResources object on stdin; devices in it change nothing.
    let mut child = guard
        .command("nsrun")
        .arg("--root")
        .arg(&state)
        .args(["update", "-r", "-", "d1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"pids":{"limit":25},"memory":{"limit":0},"devices":[{"allow":false,"access":"rwm"}]}"#,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(cgroup_file(&dirs, &["pids.max"]), "25");
    assert_eq!(cgroup_file(&dirs, &["memory.limit_in_bytes", "memory.max"]), (128u64 << 20).to_string(), "0 is unset");
    let kept = std::fs::read_to_string(state.join("d1/config.json")).unwrap();
    assert!(
        kept.contains(r#""pids":{"limit":25}"#) && kept.contains(&format!(r#""limit":{}"#, 128u64 << 20)),
        "{kept}"
    );
    let out = nsrun(&guard, &state, &["update", "--kernel-memory", "1M", "d1"]);
    assert!(stderr(&out).contains("--kernel-memory: not supported"), "{}", stderr(&out));

    assert_eq!(nsrun(&guard, &state, &["delete", "-f", "d1"]).status.code(), Some(0));
    let out = nsrun(&guard, &state, &["delete", "-f", "d1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(nsrun(&guard, &state, &["delete", "d1"]).status.code(), Some(1));

    let bundle = Bundle::new(work.path(), "k", &["/bin/sh", "-c", "exit 3"], &Parts::default());
    let out = nsrun(&guard, &state, &["run", "--keep", "--bundle", bundle.dir.to_str().unwrap(), "k1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(state_of(&guard, &state, "k1").0, "stopped");
    assert_eq!(nsrun(&guard, &state, &["delete", "k1"]).status.code(), Some(0));
    assert!(!state.join("k1").exists());
    guard.check();
}

/// runc lets exec into a created container (its namespaces and cgroups are
/// all there) and keeps it created; a paused one only with --ignore-paused.
#[test]
fn exec_enters_a_created_container_and_a_paused_one_only_when_told() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-exec-created");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let bundle = Bundle::new(work.path(), "b", &["/bin/sleep", "300"], &Parts::default());
    assert_eq!(create(&guard, &state, &bundle, "e1").status.code(), Some(0));
    let out = nsrun(&guard, &state, &["exec", "--additional-gids", "7", "e1", "/bin/id", "-G"]);
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "0 7\n"), "{}", stderr(&out));
    assert_eq!(state_of(&guard, &state, "e1").0, "created");
    assert_eq!(nsrun(&guard, &state, &["start", "e1"]).status.code(), Some(0));
    assert_eq!(nsrun(&guard, &state, &["pause", "e1"]).status.code(), Some(0));
    let out = nsrun(&guard, &state, &["exec", "e1", "/bin/true"]);
    assert!(stderr(&out).contains("it is paused (give --ignore-paused)"), "{}", stderr(&out));
    assert_eq!(nsrun(&guard, &state, &["resume", "e1"]).status.code(), Some(0));
    let out = nsrun(&guard, &state, &["exec", "--cgroup", "../x", "e1", "/bin/true"]);
    assert!(stderr(&out).contains("invalid --cgroup: '../x'"), "{}", stderr(&out));
    let out = nsrun(&guard, &state, &["exec", "--cgroup", "no-such", "e1", "/bin/true"]);
    assert!(stderr(&out).contains("no such cgroup below the container's"), "{}", stderr(&out));
    assert_eq!(nsrun(&guard, &state, &["delete", "-f", "e1"]).status.code(), Some(0));
    guard.check();
}

/// process.terminal with no --console-socket: a foreground run relays the
/// pty on nsrun's own terminal (runc does), sized by consoleSize, owned by
/// the process's user, the status relayed; create and run -d refuse, in runc's words.
#[test]
fn a_terminal_without_a_console_socket_is_relayed_by_run() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-tty");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let process = r#""terminal":true,"consoleSize":{"height":31,"width":97},"#;
    let script = "echo tty=$(readlink /proc/self/fd/0); stat -c owner=%u:%g /proc/self/fd/0; \
                  echo size=$(stty size 2>/dev/null || echo none); read line; echo got=$line; exit 5";
    let bundle = Bundle::new(work.path(), "b", &["/bin/sh", "-c", script], &Parts { process, ..Parts::default() });
    std::os::unix::fs::symlink("busybox", bundle.dir.join("rootfs/bin/stty")).unwrap();
    add_devpts(&bundle, "");
    edit(&bundle, r#""user":{"uid":0,"gid":0}"#, r#""user":{"uid":1000,"gid":1001}"#);
    let mut cmd = guard.command("nsrun");
    cmd.arg("--root").arg(&state).args(["run", "--bundle", bundle.dir.to_str().unwrap(), "t1"]);
    let mut pty = nstools::pty::Pty::spawn(cmd);
    pty.expect("tty=/dev/pts/0", 10);
    pty.expect("owner=1000:1001", 10);
    pty.expect("size=31 97", 10);
    pty.send(b"hello\r");
    pty.expect("got=hello", 10);
    assert_eq!(pty.wait(10).code(), Some(5));
    assert!(!state.join("t1").exists());
    for args in [&["create"][..], &["run", "-d"]] {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--bundle", bundle.dir.to_str().unwrap(), "t2"]);
        let out = nsrun(&guard, &state, &all);
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(1), "nsrun: cannot allocate tty if runc will detach without setting console socket\n"),
            "{args:?}"
        );
    }
    assert!(!state.join("t2").exists());
    // exec -t without a socket: the same relay, into a container that has no terminal of its own.
    let sleeper = Bundle::new(work.path(), "s", &["/bin/sleep", "300"], &Parts::default());
    add_devpts(&sleeper, "");
    assert_eq!(create(&guard, &state, &sleeper, "t3").status.code(), Some(0));
    let mut cmd = guard.command("nsrun");
    cmd.arg("--root").arg(&state).args([
        "exec",
        "-t",
        "t3",
        "/bin/sh",
        "-c",
        "echo exec-tty=$(readlink /proc/self/fd/0); exit 4",
    ]);
    let mut pty = nstools::pty::Pty::spawn(cmd);
    pty.expect("exec-tty=/dev/pts/0", 10);
    assert_eq!(pty.wait(10).code(), Some(4));
    let out = nsrun(&guard, &state, &["exec", "-t", "-d", "t3", "/bin/true"]);
    assert!(stderr(&out).contains("cannot allocate tty if runc will detach"), "{}", stderr(&out));
    assert_eq!(nsrun(&guard, &state, &["delete", "-f", "t3"]).status.code(), Some(0));
    guard.check();
}

/// Defects runc does not have: a frozen cgroup refused at create (not a hang),
/// a read-only /dev tmpfs made read-only only once /dev/pts and the devices
/// are in, a 0700 working directory entered before the user changes, a
/// device of linux.devices kept shut by a deny-all rule.
#[test]
fn frozen_cgroups_read_only_dev_private_cwd_and_device_rules_as_runc() {
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-defects");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);

    let own = common::cgroup::own();
    if let Some(freezer) = common::cgroup::holding(&own, "freezer").cloned() {
        let parent = format!("{}/oci-frozen.{}", freezer.path.trim_end_matches('/'), std::process::id());
        let dir = freezer.point.join(parent.trim_start_matches('/'));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
        let linux = format!(r#""cgroupsPath":"{parent}/c","#);
        let bundle = Bundle::new(work.path(), "f", &["/bin/true"], &Parts { linux: &linux, ..Parts::default() });
        let out = create(&guard, &state, &bundle, "f1");
        std::fs::write(dir.join("freezer.state"), "THAWED").unwrap();
        let _ = std::fs::remove_dir(dir.join("c"));
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(1), "nsrun: cannot create: 'f1': container's cgroup unexpectedly frozen\n")
        );
        assert!(!state.join("f1").exists());
    }

    let linux = r#""devices":[{"path":"/dev/kmsg","type":"c","major":1,"minor":11}],"resources":{"devices":[{"allow":false,"access":"rwm"}]},"#;
    let script = "pwd; test -c /dev/pts/ptmx && echo pts; test -c /dev/null && echo null; \
                  touch /dev/x 2>&1 | grep -o 'Read-only file system'; \
                  head -c1 /dev/kmsg 2>&1 | grep -o 'Operation not permitted'";
    let bundle = Bundle::new(work.path(), "d", &["/bin/sh", "-c", script], &Parts { linux, ..Parts::default() });
    add_devpts(&bundle, r#","ro""#);
    edit(&bundle, r#""cwd":"/""#, r#""cwd":"/private""#);
    edit(&bundle, r#""user":{"uid":0,"gid":0}"#, r#""user":{"uid":1000,"gid":1000}"#);
    let private = bundle.dir.join("rootfs/private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let out = run(&guard, &state, &bundle, "d1");
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "/private\npts\nnull\nRead-only file system\nOperation not permitted\n"),
        "{}",
        stderr(&out)
    );
    guard.check();
}

/// `spec` writes runc's starting config (never over one), which nsrun reads;
/// `--rootless` maps the caller and leaves out the network namespace.
#[test]
fn spec_writes_a_config_nsrun_reads() {
    let work = TempDir::new("oci-spec");
    let dir = work.path().to_str().unwrap();
    let out = Command::new(nstools::bin("nsrun")).args(["spec", "--bundle", dir]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(work.path().join("config.json")).unwrap();
    assert!(text.contains(r#""args": ["#) && text.contains(r#""type": "network""#), "{text}");
    let out = Command::new(nstools::bin("nsrun")).args(["spec", "--bundle", dir, "--rootless"]).output().unwrap();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (Some(1), format!("nsrun: {dir}/config.json: exists: remove it first\n"))
    );
    std::fs::remove_file(work.path().join("config.json")).unwrap();
    let out = Command::new(nstools::bin("nsrun")).args(["spec", "-b", dir, "--rootless"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(work.path().join("config.json")).unwrap();
    assert!(text.contains(r#""uidMappings""#) && !text.contains(r#""type": "network""#), "{text}");
    // nsrun reads what it wrote: a create of it fails on the missing rootfs, not on the config.
    let state = work.path().join("state");
    let out = Command::new(nstools::bin("nsrun"))
        .args(["--root", state.to_str().unwrap(), "create", "--console-socket", "/nonexistent", "-b", dir, "s1"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("invalid config"), "{}", stderr(&out));
}

/// One SCM_RIGHTS message from `socket`: its descriptor and payload.
fn receive_with_payload(socket: &std::os::unix::net::UnixStream) -> (std::os::fd::OwnedFd, String) {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut payload = vec![0u8; 1 << 16];
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    let mut control = [0u64; 8];
    // SAFETY: plain data, filled below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: a valid msghdr over our buffers.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &raw mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: the kernel wrote one SCM_RIGHTS header with one descriptor.
    let fd = unsafe {
        let header = libc::CMSG_FIRSTHDR(&raw const msg);
        assert!(!header.is_null() && (*header).cmsg_type == libc::SCM_RIGHTS, "no descriptor came");
        std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<i32>())
    };
    // SAFETY: the descriptor the message carried, ours now.
    (unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }, String::from_utf8_lossy(&payload[..n as usize]).into_owned())
}

/// config-linux.md "Seccomp" listenerPath: a seccomp agent of the test's own
/// gets the listener with the container process state (and its metadata),
/// and answers the container's notified mkdir with ENOSPC; the same call is
/// refused as the default action, and without an agent.
#[test]
fn a_seccomp_agent_gets_the_listener_and_answers_notified_calls() {
    use std::os::fd::AsRawFd;
    require!(can_run(), "needs root, namespaces and busybox-static");
    let work = TempDir::new("oci-notify");
    let state = work.path().join("state");
    let guard = Guard::new(&[]);
    let socket = work.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let linux = format!(
        r#""seccomp":{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":{:?},"listenerMetadata":"meta-7","syscalls":[{{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}}]}},"#,
        socket.display().to_string()
    );
    let bundle = Bundle::new(
        work.path(),
        "b",
        &["/bin/sh", "-c", "mkdir /tmp/x 2>&1 | grep -o 'No space left on device'; test -d /tmp/x || echo none"],
        &Parts { linux: &linux, ..Parts::default() },
    );
    let child = guard
        .command("nsrun")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle", bundle.dir.to_str().unwrap(), "n1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    listener.set_nonblocking(false).unwrap();
    let (agent, _) = listener.accept().unwrap();
    agent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (notify, payload) = receive_with_payload(&agent);
    assert!(payload.contains(r#""fds":["seccompFd"]"#) && payload.contains(r#""metadata":"meta-7""#), "{payload}");
    assert!(payload.contains(r#""id":"n1""#) && payload.contains(r#""status":"running""#), "{payload}");
    // struct seccomp_notif (80 bytes) and seccomp_notif_resp (24): their ioctls.
    const RECV: libc::c_ulong = 0xc050_2100;
    const SEND: libc::c_ulong = 0xc018_2101;
    let mut fds = [libc::pollfd { fd: notify.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    // SAFETY: one valid pollfd.
    assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, 10_000) }, 1, "no call was notified");
    let mut request = [0u64; 10];
    // SAFETY: SECCOMP_IOCTL_NOTIF_RECV into a zeroed seccomp_notif.
    assert_eq!(unsafe { libc::ioctl(notify.as_raw_fd(), RECV as _, request.as_mut_ptr()) }, 0);
    let nr = request[2] as u32 as i64;
    assert!(nr == libc::SYS_mkdir || nr == libc::SYS_mkdirat, "notified call {nr}");
    let response: [u64; 3] = [request[0], 0, (-libc::ENOSPC) as u32 as u64];
    // SAFETY: SECCOMP_IOCTL_NOTIF_SEND with a seccomp_notif_resp: id, val 0, error -ENOSPC, flags 0.
    assert_eq!(unsafe { libc::ioctl(notify.as_raw_fd(), SEND as _, response.as_ptr()) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "No space left on device\nnone\n"),
        "{}",
        stderr(&out)
    );
    for (from, to, says) in [
        (r#""defaultAction":"SCMP_ACT_ALLOW""#, r#""defaultAction":"SCMP_ACT_NOTIFY""#, "cannot be the default"),
        (r#""names":["mkdir","mkdirat"]"#, r#""names":["close"]"#, "'close' cannot be SCMP_ACT_NOTIFY"),
        (r#","listenerMetadata""#, r#","nolistener""#, "needs a seccomp agent"),
    ] {
        let broken = Bundle::new(work.path(), "x", &["/bin/true"], &Parts { linux: &linux, ..Parts::default() });
        edit(&broken, from, to);
        if to.contains("nolistener") {
            edit(&broken, &format!(r#""listenerPath":{:?}"#, socket.display().to_string()), r#""x":"""#);
        }
        let out = create(&guard, &state, &broken, "x1");
        assert!(stderr(&out).contains(says), "{to}: {}", stderr(&out));
        std::fs::remove_dir_all(&broken.dir).unwrap();
    }
    guard.check();
}

/// `criu check` on this kernel: None when it passes, else its first error line.
fn criu_refusal() -> Option<String> {
    let out = Command::new("criu").arg("check").output().ok()?;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    (!out.status.success()).then(|| text.lines().find(|l| l.contains("Error")).unwrap_or(&text).trim().to_owned())
}

/// nsrun's error, with the end of the criu log it names.
fn with_criu_log(out: &Output) -> String {
    let err = stderr(out);
    let log = err.rsplit_once("(log: ").and_then(|(_, rest)| rest.split_once(')')).map(|(path, _)| path.to_owned());
    let text = log.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("{err}{}", lines[lines.len().saturating_sub(40)..].join("\n"))
}

/// The counter the container's shell keeps in memory and writes out.
fn count(bundle: &Bundle) -> u64 {
    std::fs::read_to_string(bundle.dir.join("rootfs/tmp/count")).unwrap_or_default().trim().parse().unwrap_or(0)
}

fn wait_count(bundle: &Bundle, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = count(bundle);
        if n >= at_least {
            return n;
        }
        assert!(Instant::now() < deadline, "the counter stayed at {n}, below {at_least}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// runc's checkpoint and restore through CRIU: --leave-running, --image-path,
/// --work-path; a container ended by its checkpoint and made again from it
/// with its memory (a shell's counter), its PIDs (a child's, inside), its
/// bind mount from the host and its cgroup; restore in the foreground relays
/// the status. Where criu cannot run on this kernel (the host lane's, newer
/// than Debian's criu), the failure is told in criu's words and changes
/// nothing; the round trip runs in the VM lane.
#[test]
fn checkpoint_and_restore_keep_memory_pids_and_mounts() {
    require!(can_run() && nstools::have_program("criu"), "needs root, namespaces, busybox-static and criu");
    let work = TempDir::new("oci-criu");
    let state = work.path().join("state");
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("x"), "from the host\n").unwrap();
    let guard = Guard::new(&[]);
    let mounts =
        format!(r#"{{"destination":"/data","type":"bind","source":"{}","options":["rbind","ro"]}},"#, data.display());
    let script =
        "sleep 1000 & echo $! > /tmp/child; i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done";
    let linux = r#""resources":{"pids":{"limit":40}},"#;
    let bundle = Bundle::new(
        work.path(),
        "b",
        &["/bin/sh", "-c", script],
        &Parts { linux, mounts: &mounts, ..Parts::default() },
    );
    let b = bundle.dir.to_str().unwrap();
    let run_detached = |args: &[&str]| {
        let err = work.path().join("nsrun.err");
        let status = guard
            .command("nsrun")
            .arg("--root")
            .arg(&state)
            .args(args)
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        (status.code(), std::fs::read_to_string(&err).unwrap())
    };
    let (code, err) = run_detached(&["run", "-d", "--bundle", b, "c1"]);
    assert_eq!(code, Some(0), "{err}");
    wait_count(&bundle, 1);

    if let Some(why) = criu_refusal() {
        // criu cannot work here: the checkpoint fails in its words, the container runs on.
        let out =
            nsrun(&guard, &state, &["checkpoint", "--image-path", work.path().join("img").to_str().unwrap(), "c1"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).starts_with("nsrun: cannot checkpoint: 'c1': criu failed (exit 1): "), "{}", stderr(&out));
        assert_eq!(state_of(&guard, &state, "c1").0, "running");
        assert_eq!(nsrun(&guard, &state, &["delete", "-f", "c1"]).status.code(), Some(0));
        assert!(!nstools::in_vm_lane(), "criu check fails in the VM lane: {why}");
        eprintln!("SKIP (the VM lane runs the round trip): criu check fails on this kernel: {why}");
        return;
    }

    let img1 = work.path().join("img1");
    let out = nsrun(&guard, &state, &["checkpoint", "--leave-running", "--image-path", img1.to_str().unwrap(), "c1"]);
    assert_eq!(out.status.code(), Some(0), "{}", with_criu_log(&out));
    assert!(img1.join("inventory.img").is_file() && img1.join("dump.log").is_file());
    assert_eq!(state_of(&guard, &state, "c1").0, "running", "--leave-running leaves it running");

    let before = wait_count(&bundle, 20);
    let child: u32 = std::fs::read_to_string(bundle.dir.join("rootfs/tmp/child")).unwrap().trim().parse().unwrap();
    // Relative paths are the caller's working directory's, as runc takes them.
    let in_work = |args: &[&str]| {
        let mut command = guard.command("nsrun");
        command.arg("--root").arg(&state).args(args).current_dir(work.path()).stdin(Stdio::null());
        command.output().unwrap()
    };
    let out = in_work(&["checkpoint", "--image-path", "img2", "--work-path", "work2", "c1"]);
    assert_eq!(out.status.code(), Some(0), "{}", with_criu_log(&out));
    let (img2, work2) = (work.path().join("img2"), work.path().join("work2"));
    assert!(
        img2.join("inventory.img").is_file() && work2.join("dump.log").is_file() && !img2.join("dump.log").exists()
    );
    assert!(
        stderr(&nsrun(&guard, &state, &["state", "c1"])).contains("container does not exist"),
        "the checkpoint ended it"
    );
    let stopped_at = count(&bundle);
    assert!(stopped_at >= before);

    let (code, err) = run_detached(&["restore", "-d", "--image-path", "img2", "--work-path", "work2", "-b", b, "c1"]);
    assert_eq!(code, Some(0), "{err}");
    let (status, pid) = state_of(&guard, &state, "c1");
    assert_eq!(status, "running");
    // Its memory: the counter goes on from where it stopped, not from 1.
    let after = wait_count(&bundle, stopped_at + 3);
    assert!(after > stopped_at);
    // Its PIDs inside, and the bind mount from the host.
    let out = nsrun(
        &guard,
        &state,
        &["exec", "c1", "/bin/sh", "-c", &format!("cat /proc/{child}/cmdline | tr '\\0' ' '; cat /data/x")],
    );
    assert_eq!(stdout(&out), "sleep 1000 from the host\n", "{}", stderr(&out));
    // Its cgroup: the container's, with the config's limit.
    let dirs = cgroup_dirs(&state, "c1");
    assert_eq!(cgroup_file(&dirs, &["pids.max"]), "40");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        dirs.iter().any(|d| own.lines().any(|l| d.ends_with(l.splitn(3, ':').nth(2).unwrap().trim_start_matches('/')))),
        "{own} {dirs:?}"
    );

    // Once more, restored in the foreground: its death is restore's status, and the container goes.
    let out = in_work(&["checkpoint", "--image-path", "img3", "c1"]);
    assert_eq!(out.status.code(), Some(0), "{}", with_criu_log(&out));
    // Its stderr was a host file (restore -d's): criu takes no other there, and nsrun opens no
    // path an image names. Refused, nothing made; given that file, restored.
    let out = in_work(&["restore", "--image-path", "img3", "-b", b, "c1"]);
    let err = stderr(&out);
    assert!(err.contains("its descriptor 2: it was the host's file") && err.contains("nsrun.err"), "{err}");
    assert!(!state.join("c1").exists());
    let err_file = std::fs::OpenOptions::new().append(true).open(work.path().join("nsrun.err")).unwrap();
    let mut restore = guard
        .command("nsrun")
        .arg("--root")
        .arg(&state)
        .args(["restore", "--image-path", "img3", "-b", b, "c1"])
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while state_of(&guard, &state, "c1").0 != "running" {
        if restore.try_wait().unwrap().is_some() {
            panic!("restore ended: {}", std::fs::read_to_string(work.path().join("nsrun.err")).unwrap());
        }
        assert!(Instant::now() < deadline, "c1 was never restored");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(nsrun(&guard, &state, &["kill", "c1", "KILL"]).status.code(), Some(0));
    let status = restore.wait().unwrap();
    // Its death is ours, as run mirrors it.
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status:?}");
    assert!(!state.join("c1").exists());

    // What it refuses, before anything is made.
    let out =
        nsrun(&guard, &state, &["restore", "--image-path", work.path().join("none").to_str().unwrap(), "-b", b, "c2"]);
    assert!(stderr(&out).contains("no checkpoint there (inventory.img)"), "{}", stderr(&out));
    assert!(!state.join("c2").exists());
}

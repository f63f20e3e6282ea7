//! nsrun under real engines, end to end: podman (through conmon) with the
//! distribution's configuration and the README's block on top of it, its
//! storage in a temporary directory, its network in a namespace of the
//! test's own, all of it inside
//! tests/oci/fence (the engine's cgroups at absolute paths such as
//! /libpod_parent/..., its /run and its cache stay there). The engine's
//! view is what is checked: exit statuses, exec, pause, stop, kill, the
//! limits read back from the cgroup files, users, read-only roots, volumes,
//! hooks, and that nothing outlives `rm`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::Command;

use nstools::{
    Guard, TempDir, bin, debian_image, have_program, in_vm_lane, is_root, must_work, require, require_host, source_dir,
};

#[test]
fn podman_runs_containers_through_nsrun() {
    require!(is_root(), "needs root");
    require_host!(!in_vm_lane(), "podman and conmon are the host lane's");
    require_host!(
        have_program("podman") && have_program("conmon"),
        "needs podman and conmon (tests/deps installs them)"
    );
    let work = TempDir::new("podman");
    let tar = nstools::busybox_tar(work.path());
    let debian = debian_image();
    let debian_tar = work.path().join("debian.tar");
    if debian.join("etc/debian_version").exists() {
        let ok = Command::new("tar").arg("-C").arg(&debian).arg("-cf").arg(&debian_tar).arg(".").status().unwrap();
        assert!(ok.success(), "tar of the debian image");
    } else {
        assert!(!must_work(), "no debian image at {}: make images builds it", debian.display());
    }
    let engine = work.path().join("engine");
    std::fs::create_dir(&engine).unwrap();
    let guard = Guard::new(&[&engine, Path::new("/var/lib/containers"), Path::new("/run/nsrun")]);
    let mut cmd = guard.watch(Command::new(source_dir().join("tests/oci/fence")));
    // Its own network namespace: podman's default network (a bridge, its
    // firewall rules) is made there, never on the host.
    cmd.arg(bin("nsunshare")).arg("--private=/var/lib").arg(bin("nsunshare")).arg("-n");
    cmd.arg(source_dir().join("tests/engines/podman"));
    cmd.arg(bin("nsrun")).arg(&engine).arg(&tar);
    if debian_tar.exists() {
        cmd.arg(&debian_tar);
    }
    let out = cmd.output().unwrap();
    let want = [
        ("hello", "hi"),
        ("stock", "0 0 eth0 lo eth0 lo"),
        ("sysctl", "1"),
        ("cgroupns", "0"),
        ("preserve_fds", "open 3 not 4"),
        ("missing", "127"),
        ("it", "/dev/pts/0 stdin-tty"),
        ("exit", "3"),
        ("pid1", "1"),
        ("tty", "/dev/pts/0 stdin-tty"),
        ("user", "uid=1000 gid=1000 groups=44,1000"),
        ("read_only", "refused"),
        ("volume", "from-inside"),
        ("hook", "\"status\":\"created\""),
        ("exec", "in-ID"),
        ("exec_exit", "5"),
        ("exec_user", "1000"),
        ("exec_tty", "/dev/pts/0"),
        ("paused", "paused"),
        ("unpaused", "running"),
        ("stopped", "exited"),
        ("removed", "0"),
        ("killed", "exited 137"),
        ("memory", "67108864"),
        ("pids", "50"),
        ("cpu", "50000"),
        ("cgroup_after_rm", "gone"),
    ];
    let f = nstools::findings(&out, &want);
    if debian_tar.exists() {
        assert_eq!(f.get("debian").map(String::as_str), Some("debian apt"), "{f:?}");
    }
    // What podman kept stays in its directory, which goes with the test.
    std::fs::remove_dir_all(&engine).unwrap();
    std::fs::create_dir(&engine).unwrap();
    guard.check();
}

#[test]
fn docker_runs_containers_through_nsrun() {
    require!(is_root(), "needs root");
    require_host!(!in_vm_lane(), "dockerd is the host lane's");
    require_host!(
        have_program("dockerd") && Path::new("/usr/bin/docker").exists() && have_program("script"),
        "needs Debian's docker.io and script (tests/deps installs them)"
    );
    let work = TempDir::new("docker");
    let tar = nstools::busybox_tar(work.path());
    let engine = work.path().join("engine");
    std::fs::create_dir(&engine).unwrap();
    let guard = Guard::new(&[&engine, Path::new("/run/nsrun")]);
    let out = guard
        .watch(Command::new(source_dir().join("tests/oci/fence")))
        .arg(bin("nsunshare"))
        .arg("--private=/var/lib")
        .arg(bin("nsunshare"))
        .arg("-n")
        .arg(source_dir().join("tests/engines/docker"))
        .arg(bin("nsrun"))
        .arg(&engine)
        .arg(&tar)
        .output()
        .unwrap();
    let want = [
        ("hello", "hi"),
        ("exit", "3"),
        ("network", "eth0 lo"),
        ("memory", "67108864"),
        ("missing", "127"),
        ("it", "/dev/pts/0 stdin-tty"),
        ("exec", "in-13"),
        ("exec_exit", "5"),
        ("stopped", "exited"),
        ("killed", "137"),
        ("removed", "0"),
        ("runtime_left", "0"),
    ];
    nstools::findings(&out, &want);
    std::fs::remove_dir_all(&engine).unwrap();
    std::fs::create_dir(&engine).unwrap();
    guard.check();
}

/// tests/cri's client, built by `make test-unit` for the tools' target
/// (cri/TRIPLE/debug below $CARGO_TARGET_DIR or target/), or None.
fn cri_client() -> Option<std::path::PathBuf> {
    let triple = std::env::var("NSTOOLS_TARGET").ok()?;
    let out = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| source_dir().join("target"), Into::into);
    let path = out.join("cri").join(triple).join("debug/cri-client");
    path.exists().then_some(path)
}

/// A tar of the pause program (tests/pause.c), as a pod sandbox's image.
fn pause_tar(work: &TempDir) -> Option<std::path::PathBuf> {
    let dir = nstools::c_helper(work, "pause", include_str!("pause.c"))?;
    let tar = work.path().join("pause.tar");
    let ok = Command::new("tar").arg("-C").arg(&dir).arg("-cf").arg(&tar).arg("pause").status().unwrap();
    ok.success().then_some(tar)
}

/// Kubernetes' path: containerd's CRI plugin with the README's RuntimeClass
/// handler, driven as a kubelet drives it (tests/cri), nsrun beside runc in
/// the same run: every finding of nsrun's handler is the one runc's gives.
#[test]
fn kubernetes_cri_runs_pods_through_nsrun_as_through_runc() {
    require!(is_root(), "needs root");
    require_host!(!in_vm_lane(), "containerd is the host lane's");
    require_host!(
        have_program("containerd") && have_program("ctr") && have_program("podman") && have_program("runc"),
        "needs containerd, ctr, podman and runc (tests/deps installs them)"
    );
    let Some(client) = cri_client() else {
        return nstools::skip("no tests/cri client: make test-unit builds it (target/cri)");
    };
    let work = TempDir::new("cri");
    let tar = nstools::busybox_tar(work.path());
    let Some(pause) = pause_tar(&work) else { return nstools::skip("needs gcc to build tests/pause.c") };
    let engine = work.path().join("engine");
    std::fs::create_dir(&engine).unwrap();
    let guard = Guard::new(&[&engine, Path::new("/run/nsrun")]);
    let out = guard
        .watch(Command::new(source_dir().join("tests/oci/fence")))
        .arg(bin("nsunshare"))
        .arg("--private=/var/lib")
        .arg(bin("nsunshare"))
        .arg("-n")
        .arg(source_dir().join("tests/engines/cri"))
        .arg(bin("nsrun"))
        .arg(&client)
        .arg(&engine)
        .arg(&tar)
        .arg(&pause)
        .output()
        .unwrap();
    let both = nstools::cri_want();
    let both: Vec<(&str, &str)> = both.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    nstools::findings(&out, &both);
    std::fs::remove_dir_all(&engine).unwrap();
    std::fs::create_dir(&engine).unwrap();
    guard.check();
}

#[test]
fn containerd_runs_tasks_through_nsrun() {
    require!(is_root(), "needs root");
    require_host!(!in_vm_lane(), "containerd is the host lane's");
    require_host!(
        have_program("containerd") && have_program("ctr") && have_program("podman"),
        "needs containerd, ctr and podman (tests/deps installs them)"
    );
    let work = TempDir::new("containerd");
    let tar = nstools::busybox_tar(work.path());
    let engine = work.path().join("engine");
    std::fs::create_dir(&engine).unwrap();
    let guard = Guard::new(&[&engine, Path::new("/var/lib/containerd"), Path::new("/run/containerd")]);
    let out = guard
        .watch(Command::new(source_dir().join("tests/oci/fence")))
        .arg(bin("nsunshare"))
        .arg("--private=/var/lib")
        .arg(source_dir().join("tests/engines/containerd"))
        .arg(bin("nsrun"))
        .arg(&engine)
        .arg(&tar)
        .output()
        .unwrap();
    let want = [
        ("exit", "4"),
        ("hello", "hi"),
        ("exec", "in-exec pid1=sleep"),
        ("exec_exit", "6"),
        ("ps", "1"),
        ("paused", "PAUSED"),
        ("resumed", "RUNNING"),
        ("killed", "STOPPED"),
        ("left", "0 0"),
    ];
    nstools::findings(&out, &want);
    std::fs::remove_dir_all(&engine).unwrap();
    std::fs::create_dir(&engine).unwrap();
    guard.check();
}

//! The guard must catch what it is there to catch: a deliberately leaking
//! "test" (a host mount, a process left running, a cgroup, a stray file) fails
//! it, and a clean one passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Stdio};

use nstools::guard::own_cgroups;
use nstools::{Guard, TempDir, is_root, require};

#[test]
fn a_clean_run_passes() {
    let dir = TempDir::new("guard");
    let guard = Guard::new(&[dir.path()]);
    let out = guard.command("nstype").arg("/proc/self/ns/net").output().unwrap();
    assert!(out.status.success());
    assert_eq!(guard.diff(), Vec::<String>::new());
}

#[test]
fn the_guard_catches_a_deliberate_leak() {
    require!(is_root(), "needs root to mount and make cgroups on the host");
    let dir = TempDir::new("guard");
    let mount_point = dir.path().join("mnt");
    std::fs::create_dir(&mount_point).unwrap();
    let watched = dir.path().join("watched");
    std::fs::create_dir(&watched).unwrap();
    let cgroup_parent = own_cgroups().into_iter().find(|p| p.is_dir() && p.join("cgroup.procs").exists());
    require!(cgroup_parent.is_some(), "no writable cgroup of our own");
    let leaked_cgroup = cgroup_parent.unwrap().join(format!("nstools-guard-test-{}", std::process::id()));

    let guard = Guard::new(&[&watched]);
    // The leaks.
    let mounted = Command::new("mount").args(["-t", "tmpfs", "nstools-leak"]).arg(&mount_point).status().unwrap();
    assert!(mounted.success());
    let mut sleeper = guard.watch(Command::new("sleep")).arg("60").stdin(Stdio::null()).spawn().unwrap();
    std::fs::create_dir(&leaked_cgroup).unwrap();
    std::fs::write(watched.join("stray"), "leak").unwrap();
    // The sleeper must have exec'd with its environment before we look.
    let environ = format!("/proc/{}/environ", sleeper.id());
    for _ in 0..200 {
        if std::fs::read(&environ).is_ok_and(|e| e.windows(14).any(|w| w == b"NSTOOLS_GUARD=")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let diff = guard.diff();
    let joined = diff.join("\n");
    let caught = |needle: &str| diff.iter().any(|l| l.contains(needle));

    // Clean up before asserting, so a failure leaves the host as it was.
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = Command::new("umount").arg(&mount_point).status();
    let _ = std::fs::remove_dir(&leaked_cgroup);
    let _ = std::fs::remove_file(watched.join("stray"));

    assert!(caught("mount added:") && caught("nstools-leak"), "mount not caught:\n{joined}");
    assert!(caught("process left running:") && caught("sleep 60"), "process not caught:\n{joined}");
    assert!(caught(&format!("cgroup added: {}", leaked_cgroup.display())), "cgroup not caught:\n{joined}");
    assert!(caught("stray"), "file not caught:\n{joined}");
    // With everything undone, the same guard is satisfied again.
    assert_eq!(guard.diff(), Vec::<String>::new());
}

#[test]
fn cgroups_of_our_own_are_found() {
    let mine = own_cgroups();
    require!(Path::new("/sys/fs/cgroup").is_dir(), "no /sys/fs/cgroup");
    assert!(!mine.is_empty(), "no cgroup hierarchy found for /proc/self/cgroup");
    assert!(mine.iter().all(|p| p.starts_with("/sys/fs/cgroup")), "{mine:?}");
}

#[test]
fn check_fails_the_test_on_a_leak() {
    let dir = TempDir::new("guard");
    let guard = Guard::new(&[dir.path()]);
    std::fs::write(dir.path().join("stray"), "leak").unwrap();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guard.check()));
    let message = failed.expect_err("check() must fail on a leak");
    let text = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("the host changed") && text.contains("stray"), "{text}");
}

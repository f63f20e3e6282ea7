//! The systemd lane (tests/systemd/run): Debian booted with systemd as PID 1,
//! pure cgroup v2, D-Bus, and a lingering user, tester (uid 1000), whose
//! user@1000.service has a delegated cgroup subtree, as on a server. These
//! tests run there only, as root, and as tester through runuser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Output};

use nstools::{Guard, code, stderr, stdout, systemd_lane_only};

const USER_MANAGER: &str = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service";

/// `args` run as tester, with its manager's bus, as a login would have it.
fn as_tester(guard: &Guard, args: &[&str]) -> Output {
    let mut command = guard.watch(Command::new("runuser"));
    command.args(["-u", "tester", "--", "env", "XDG_RUNTIME_DIR=/run/user/1000"]);
    command.arg("DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus").args(args);
    command.current_dir("/tmp").output().unwrap()
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

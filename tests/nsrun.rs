//! nsrun, run for real: what it does with an engine's command line and a
//! bundle before the container lifecycle exists: every config problem is
//! one line naming the field, exit 1, in the JSON log engines read too, and
//! nothing is created.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::{Command, Output};

use nstools::{TempDir, bin, stderr, stdout};

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
    // A valid config passes the check, and nsrun says plainly what it cannot do yet.
    std::fs::write(bundle.join("config.json"), VALID).unwrap();
    let out = nsrun(&["--root", &s, "create", "--bundle", &b, "c1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "nsrun: cannot create: 'c1': the container lifecycle is not built yet (config.json is valid)\n"
    );
    assert!(!state.exists());
}

#[test]
fn engine_flags_and_ids_are_checked() {
    let out = nsrun(&["--systemd-cgroup", "create", "--bundle", "/nonexistent", "c1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("nsrun: --systemd-cgroup: not supported"), "{}", stderr(&out));
    let out = nsrun(&["create", "--bundle", "/nonexistent", "../escape"]);
    assert_eq!(stderr(&out), "nsrun: invalid container id: '../escape': use letters, digits and . _ + -\n");
    let out = nsrun(&["create", "--bundle", "/nonexistent", "c1"]);
    assert_eq!(stderr(&out), "nsrun: cannot read: /nonexistent/config.json: No such file or directory\n");
    let out = nsrun(&["state", "c1"]);
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(1), "nsrun: cannot state: not built yet in this version of nsrun\n")
    );
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

//! exec_into, through the exec-probe example: statuses, messages, and the
//! signal state the command inherits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use nstools::{TempDir, code, exec_probe, have_program, require_host, stderr, stdout};

fn probe(args: &[&str]) -> std::process::Output {
    Command::new(exec_probe()).args(args).output().expect("run exec-probe")
}

/// A status line of /proc/self/status as the command saw it, as a bit mask.
fn status_mask(out: &str, key: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in {out}"));
    u64::from_str_radix(line[key.len()..].trim(), 16).expect("hex mask")
}

const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

#[test]
fn the_command_status_is_its_own() {
    assert_eq!(code(&probe(&["true"])), 0);
    assert_eq!(code(&probe(&["false"])), 1);
    assert_eq!(code(&probe(&["sh", "-c", "exit 42"])), 42);
    assert_eq!(code(&probe(&["sh", "-c", "kill -TERM $$"])), 128 + 15);
}

#[test]
fn not_found_is_127_and_says_so() {
    let out = probe(&["no-such-command-nstools"]);
    assert_eq!(code(&out), 127);
    assert_eq!(stderr(&out), "exec-probe: cannot execute: no-such-command-nstools: command not found\n");
    let out = probe(&["/no/such/file"]);
    assert_eq!(code(&out), 127);
    assert_eq!(stderr(&out), "exec-probe: cannot execute: /no/such/file: No such file or directory\n");
}

#[test]
fn found_but_not_runnable_is_126() {
    for (path, why) in [("/etc/passwd", "Permission denied"), ("/", "Permission denied")] {
        let out = probe(&[path]);
        assert_eq!(code(&out), 126, "{path}");
        assert_eq!(stderr(&out), format!("exec-probe: cannot execute: {path}: {why}\n"));
    }
    let dir = TempDir::new("exec");
    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "echo hi\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(code(&probe(&[plain.to_str().unwrap()])), 126);
    // Found on PATH but not executable: 126 too, as a shell says.
    let out = Command::new(exec_probe()).env("PATH", dir.path()).arg("not-executable").output().unwrap();
    assert_eq!(code(&out), 126, "{}", stderr(&out));
}

#[test]
fn missing_interpreters_are_named() {
    let dir = TempDir::new("exec");
    let write = |name: &str, body: &[u8]| {
        let p = dir.path().join(name);
        nstools::write_program(&p, body);
        p.to_str().unwrap().to_owned()
    };
    let script = write("script", b"#!/missing/interp -x\necho hi\n");
    let out = probe(&[&script]);
    assert_eq!(code(&out), 127);
    assert_eq!(
        stderr(&out),
        format!("exec-probe: cannot execute: {script}: #! interpreter '/missing/interp' not found\n")
    );

    let dos = write("dos", b"#!/bin/sh\r\necho hi\r\n");
    let out = probe(&[&dos]);
    assert_eq!(code(&out), 127);
    assert!(stderr(&out).contains("carriage return"), "{}", stderr(&out));

    // A real ELF binary whose PT_INTERP names a loader that does not exist.
    let mut elf = std::fs::read("/bin/true").unwrap();
    let loader = b"/lib64/ld-linux-x86-64.so.2";
    let found = elf.windows(loader.len()).position(|w| w == loader);
    require_host!(found.is_some(), "/bin/true is static here: no loader to rename");
    let at = found.unwrap();
    elf[at..at + loader.len()].copy_from_slice(b"/lib64/ld-nonexist-x86.so.2");
    let elf = write("elf", &elf);
    let out = probe(&[&elf]);
    assert_eq!(code(&out), 127);
    assert_eq!(
        stderr(&out),
        format!("exec-probe: cannot execute: {elf}: ELF interpreter '/lib64/ld-nonexist-x86.so.2' not found\n")
    );

    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink("/no/such/target", &dangling).unwrap();
    let out = probe(&[dangling.to_str().unwrap()]);
    assert_eq!(code(&out), 127);
    assert!(stderr(&out).ends_with(": dangling symbolic link\n"), "{}", stderr(&out));
}

#[test]
fn no_command_is_a_usage_error() {
    let out = probe(&[]);
    assert_eq!(code(&out), 125);
    assert_eq!(stderr(&out), "exec-probe: no command given\n");
}

#[test]
fn arguments_after_the_command_are_untouched() {
    let out = probe(&["--", "printf", "%s|", "-x", "--ignore-pipe", "--", ""]);
    assert_eq!(stdout(&out), "-x|--ignore-pipe|--||");
}

#[test]
fn the_command_gets_the_callers_signal_state_back() {
    // What the tool itself ignores or blocks does not reach the command…
    let out = probe(&["--ignore-pipe", "--block-usr1", "cat", "/proc/self/status"]);
    let status = stdout(&out);
    assert_eq!(status_mask(&status, "SigIgn:") & bit(libc::SIGPIPE), 0, "SIGPIPE stays default");
    assert_eq!(status_mask(&status, "SigBlk:") & bit(libc::SIGUSR1), 0, "SIGUSR1 unblocked");
    // …while what the caller ignored (nohup) stays ignored.
    let script = format!("trap '' HUP; exec {} --ignore-pipe cat /proc/self/status", exec_probe().display());
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let status = stdout(&out);
    assert_ne!(status_mask(&status, "SigIgn:") & bit(libc::SIGHUP), 0, "SIGHUP ignored by the caller");
    assert_eq!(status_mask(&status, "SigIgn:") & bit(libc::SIGPIPE), 0);
}

#[test]
fn sigpipe_kills_a_writer_as_usual() {
    require_host!(have_program("bash"), "bash is not installed");
    // yes(1) run through the link must die of SIGPIPE when the reader leaves.
    let script = format!("{} yes | head -n1 >/dev/null; echo ${{PIPESTATUS[0]}}", exec_probe().display());
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(stdout(&out).trim(), "141");
}

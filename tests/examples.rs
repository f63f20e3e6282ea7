//! The seed's two programs as nstools pipelines (examples/), and `make run`'s
//! chain (examples/run.sh), run for real through the host guard: they print
//! what a user should see, and leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Output, Stdio};

use nstools::{Guard, TempDir, bin_dir, code, has_namespace, is_root, require, stderr, stdout};

fn can_run() -> bool {
    is_root() && ["mnt", "uts", "ipc", "net", "pid", "cgroup"].iter().all(|n| has_namespace(n))
}

/// The text of an example, written into `work` (so that the VM lane, which
/// has no sources, has it too), before the guard looks.
fn write_example(work: &Path, script: &str) {
    std::fs::write(work.join("example.sh"), script).unwrap();
}

/// Run the example with the tools first on PATH and its temporary files in `work`.
fn example(guard: &Guard, work: &Path, args: &[&str]) -> Output {
    let file = work.join("example.sh");
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    guard
        .watch(Command::new("sh"))
        .arg(&file)
        .args(args)
        .env("PATH", path)
        .env("TMPDIR", work)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Only the script is left in `work`.
fn nothing_left(work: &Path) {
    let left: Vec<_> = std::fs::read_dir(work).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["example.sh"], "left behind");
}

#[test]
fn the_namespace_demo() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("namespace-demo");
    write_example(work.path(), include_str!("../examples/namespace-demo.sh"));
    let guard = Guard::new(&[work.path()]);
    let out = example(&guard, work.path(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let expected = format!(
        "hostname on the host:        {host}\
         hostname in the container:   my-container\n\
         type of /proc/PID/ns/mnt:      mnt\n\
         type of /proc/PID/ns/uts:      uts\n\
         type of /proc/PID/ns/net:      net\n\
         mount namespace:             not the host's\n\
         the file, seen from the host: no such file\n\
         the file, through nsjoin -m: hello from the container\n\
         network devices inside:      lo \n"
    );
    assert_eq!(text, expected, "{}", stderr(&out));
    nothing_left(work.path());
    guard.check();
}

#[test]
fn the_simple_container() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("simple-container");
    write_example(work.path(), include_str!("../examples/simple-container.sh"));
    let guard = Guard::new(&[work.path()]);
    let out = example(&guard, work.path(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "hostname:      container\n\
         I am PID:      2 (PID 1 is nsclone)\n\
         user:          root (2 accounts in /etc/passwd)\n\
         network:       lo \n\
         memory limit:  52428800 bytes\n\
         root:          tmpfs\n\
         /shared:       written on the host\n\
         on the host:   written in the container\n",
        "{}",
        stderr(&out)
    );
    // A command of the user's own, and its exit status, through the whole chain.
    let out = example(&guard, work.path(), &["sh", "-c", "exit 42"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (42, "on the host:   nothing came back\n"), "{}", stderr(&out));
    nothing_left(work.path());
    guard.check();
}

/// examples/run.sh (what `make run` runs), with the tools and its files here.
fn make_run(guard: &Guard, work: &Path) -> Command {
    let mut cmd = guard.watch(Command::new("sh"));
    cmd.arg(work.join("example.sh")).env("NSTOOLS_BIN_DIR", bin_dir()).env("NSTOOLS_RUN_DIR", work.join("run"));
    cmd
}

#[test]
fn make_run_without_a_terminal_tours_the_container() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("make-run");
    write_example(work.path(), include_str!("../examples/run.sh"));
    std::fs::create_dir_all(work.path().join("run/shared")).unwrap();
    std::fs::create_dir_all(work.path().join("run/root")).unwrap();
    let guard = Guard::new(&[&work.path().join("run/root")]);
    let out = make_run(&guard, work.path()).stdin(Stdio::null()).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(lines[0].starts_with("hostname:      box (the host: "), "{text}");
    assert!(lines[1].starts_with("PID of sh:     2, of "), "{text}");
    assert_eq!(lines[2], "network:       lo ");
    assert_eq!(lines[3], "memory limit:  52428800 bytes");
    assert!(lines[4].starts_with("root:          tmpfs "), "{text}");
    assert_eq!(&lines[5..], ["/shared:       written on the host", "on the host:   written in the container"]);
    guard.check();
}

#[test]
fn make_run_at_a_terminal_is_a_shell_inside() {
    require!(can_run(), "needs root and namespaces");
    let work = TempDir::new("make-run-tty");
    write_example(work.path(), include_str!("../examples/run.sh"));
    std::fs::create_dir_all(work.path().join("run/shared")).unwrap();
    std::fs::create_dir_all(work.path().join("run/root")).unwrap();
    let guard = Guard::new(&[&work.path().join("run/root")]);
    let mut pty = nstools::pty::Pty::spawn(make_run(&guard, work.path()));
    pty.send(b"echo \"in-$(hostname)-$(cat /shared/from-host | wc -w)\"; exit 7\n");
    pty.expect("in-box-4", 20);
    assert_eq!(pty.wait(10).code(), Some(7));
    guard.check();
}

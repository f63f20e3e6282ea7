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

//! The README's tutorial as a user types it, from a fresh `make`: its PATH
//! names the directory `make` links the tools into, and each of its command
//! lines runs for real (read from the README itself, so the two never drift).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::io::Write;
use std::process::{Command, Stdio};

use nstools::{
    Guard, TempDir, bin_dir, code, has_namespace, is_root, require, require_host, source_dir, stderr, stdout,
};

/// The tutorial: the directory its PATH names (below the checkout), and its command lines.
fn tutorial(readme: &str) -> (String, Vec<String>) {
    let section = readme.split("## Tutorial").nth(1).expect("a Tutorial section");
    let path = section.split("PATH=$PWD/").nth(1).and_then(|s| s.split(":$PATH").next()).expect("its PATH");
    let block = section.lines().skip_while(|l| !l.starts_with("    ")).take_while(|l| l.starts_with("    "));
    let commands = block.map(|l| l.trim().split("  #").next().unwrap().trim().to_owned()).collect();
    (path.to_owned(), commands)
}

#[test]
fn the_readme_tutorial_runs_as_written() {
    require_host!(source_dir().join("README.md").exists(), "the README is in the sources");
    require!(
        is_root() && ["mnt", "uts", "ipc", "net", "pid", "cgroup"].iter().all(|n| has_namespace(n)),
        "needs root and namespaces"
    );
    let readme = std::fs::read_to_string(source_dir().join("README.md")).unwrap();
    let (dir, commands) = tutorial(&readme);
    // What `make` would link, read from `make -n`: the README's PATH is where make puts the tools.
    let plan = Command::new("make")
        .args(["-n", "--no-print-directory", "-C"])
        .arg(source_dir())
        .arg("build")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("MAKEFLAGS")
        .output()
        .unwrap();
    let plan = stdout(&plan);
    assert!(
        plan.lines().any(|l| l.contains("ln -sfn") && l.ends_with(&format!(" {dir}"))),
        "the README's PATH ({dir}) is where make puts the tools: {plan}"
    );
    assert_eq!(commands.len(), 5, "{commands:?}");
    let work = TempDir::new("readme");
    std::fs::create_dir(work.path().join("src")).unwrap();
    let root = work.path().join("r");
    std::fs::create_dir(&root).unwrap();
    let guard = Guard::new(&[&root]);
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let mut seen = Vec::new();
    for line in &commands {
        // Its /tmp/r and $HOME in this test's own directory; an interactive sh told to exit.
        let line = line.replace("/tmp/r", root.to_str().unwrap()).replace("$HOME", work.path().to_str().unwrap());
        let mut child = guard
            .watch(Command::new("sh"))
            .args(["-c", &line])
            .env("PATH", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"test -d /proc/1 && echo inside\nexit\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{line}: {}", stderr(&out));
        seen.push(stdout(&out));
    }
    assert_eq!(seen[0], "box\n", "nsclone -u --hostname=box hostname");
    assert!(seen[1].starts_with("2\nlo "), "the PID and only lo: {}", seen[1]);
    for (line, out) in commands.iter().zip(&seen).skip(2) {
        assert_eq!(out, "inside\n", "{line}");
    }
    guard.check();
}

#[test]
fn the_tutorial_is_read_as_a_user_reads_it() {
    let readme =
        "## Tutorial\n\nadd a link (`PATH=$PWD/target/x:$PATH`):\n\n    a -b c   # why\n    d\n\nprose\n    not this\n";
    assert_eq!(tutorial(readme), ("target/x".to_owned(), vec!["a -b c".to_owned(), "d".to_owned()]));
}

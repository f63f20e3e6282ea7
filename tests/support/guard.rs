//! The host-state guard. A privileged test takes a snapshot of what the tools
//! must never change on the host, runs the tools through the guard's commands,
//! and fails if anything differs afterwards:
//! - the mount table of the test's (host) mount namespace;
//! - the cgroup tree below the test's own cgroup, in every hierarchy;
//! - the processes started through the guard (they carry a token in their
//!   environment; any still alive at the end is a leak);
//! - the files at and around the paths the test names.
//!
//! Guards are serialized across threads and processes with a file lock, so
//! one guarded test never sees another's work.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bin;

pub struct Guard {
    _lock: File,
    token: String,
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    paths: Vec<PathBuf>,
    files: BTreeSet<String>,
}

impl Guard {
    /// Snapshot the host, watching `paths` (and their parent directories).
    pub fn new(paths: &[&Path]) -> Self {
        let lock_path = std::env::temp_dir().join("nstools-guard.lock");
        let lock = File::options().create(true).append(true).open(&lock_path).expect("open guard lock");
        lock.lock().expect("take the guard lock");
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
        let token = format!("{}-{:?}", std::process::id(), std::thread::current().id());
        Self { _lock: lock, mounts: mount_table(), cgroups: cgroup_tree(), files: file_state(&paths), paths, token }
    }

    /// A command for `tool` whose processes the guard can find afterwards.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(bin(tool));
        cmd.env("NSTOOLS_GUARD", &self.token);
        cmd
    }

    /// Mark a command as watched (for programs that are not nstools).
    pub fn watch(&self, mut cmd: Command) -> Command {
        cmd.env("NSTOOLS_GUARD", &self.token);
        cmd
    }

    /// Run `sh -c script` in a private mount namespace of util-linux's own,
    /// for setups (pins, binds) that must never touch the host's table.
    pub fn in_private_mount_ns(&self, script: &str) -> std::process::Output {
        self.watch(Command::new("unshare"))
            .args(["-m", "--propagation", "private", "sh", "-c", script])
            .output()
            .expect("run util-linux unshare")
    }

    /// What changed since the snapshot, one line per difference.
    pub fn diff(&self) -> Vec<String> {
        let mut out = Vec::new();
        // Processes the kernel is still tearing down (a killed namespace) get a moment.
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut procs = processes_with(&self.token);
        while !procs.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            procs = processes_with(&self.token);
        }
        out.extend(procs.into_iter().map(|p| format!("process left running: {p}")));
        diff_sets("mount", &self.mounts, &mount_table(), &mut out);
        diff_sets("cgroup", &self.cgroups, &cgroup_tree(), &mut out);
        diff_sets("file", &self.files, &file_state(&self.paths), &mut out);
        out
    }

    /// Fail the test if the host changed.
    pub fn check(self) {
        let diff = self.diff();
        assert!(diff.is_empty(), "the host changed:\n  {}", diff.join("\n  "));
    }
}

fn diff_sets(what: &str, before: &BTreeSet<String>, after: &BTreeSet<String>, out: &mut Vec<String>) {
    out.extend(before.difference(after).map(|l| format!("{what} gone: {l}")));
    out.extend(after.difference(before).map(|l| format!("{what} added: {l}")));
}

/// The mount table of this process's mount namespace.
pub fn mount_table() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo").lines().map(str::to_owned).collect()
}

/// Where each cgroup hierarchy of this process is mounted, with our place in it.
pub fn own_cgroups() -> Vec<PathBuf> {
    common::cgroup::own().into_iter().map(|m| m.dir).collect()
}

fn cgroup_tree() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for root in own_cgroups() {
        walk_dirs(&root, &mut out);
    }
    out
}

fn walk_dirs(dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.insert(entry.path().display().to_string());
            walk_dirs(&entry.path(), out);
        }
    }
}

/// Processes whose environment holds our token.
fn processes_with(token: &str) -> Vec<String> {
    let needle = format!("NSTOOLS_GUARD={token}\0");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if environ.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            out.push(format!("{pid} {}", cmdline.trim_end()));
        }
    }
    out
}

/// Every file at and below each path, and the entries of its parent directory.
fn file_state(paths: &[PathBuf]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in paths {
        if let Some(parent) = path.parent() {
            for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                out.insert(format!("{} (in {})", entry.file_name().to_string_lossy(), parent.display()));
            }
        }
        describe_tree(path, &mut out);
    }
    out
}

fn describe_tree(path: &Path, out: &mut BTreeSet<String>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    let kind = if meta.is_dir() {
        "dir"
    } else if meta.is_symlink() {
        "symlink"
    } else {
        "file"
    };
    let extra = if meta.is_file() {
        format!(" size={} mtime={}", meta.len(), meta.mtime_nsec() + meta.mtime() * 1_000_000_000)
    } else {
        String::new()
    };
    out.insert(format!("{} {kind} mode={:o} uid={}{extra}", path.display(), meta.mode(), meta.uid()));
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            describe_tree(&entry.path(), out);
        }
    }
}

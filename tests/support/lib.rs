//! What the integration tests share: where the built tools are, the host-state
//! guard, loud skips, temporary directories, and a small JSON reader.
//!
//! The tools are found in `$NSTOOLS_BIN_DIR` when set (the VM lane sets it),
//! else built for `$NSTOOLS_TARGET` when set (`target/<triple>/<profile>/`:
//! make test sets it to the shipped triple), else next to the test binary
//! (`target/<profile>/`). A tool older than its
//! sources fails the test with the command to run: `cargo test` builds the
//! test binaries but not the tools, so `make test` builds them first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod guard;
pub mod json;
pub mod pty;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

pub use guard::Guard;

/// The workspace root, where the sources are (absent in the VM lane).
pub fn source_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory that holds the built tools.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NSTOOLS_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>
    let own = exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps");
    match (std::env::var_os("NSTOOLS_TARGET"), own.file_name(), own.parent()) {
        (Some(triple), Some(profile), Some(target)) => target.join(triple).join(profile),
        _ => own.to_path_buf(),
    }
}

/// The names of every tool in the workspace.
pub fn tools() -> Vec<String> {
    if let Ok(list) = std::env::var("NSTOOLS_TOOLS") {
        return list.split_whitespace().map(str::to_owned).collect();
    }
    let mut names: Vec<String> = std::fs::read_dir(source_dir().join("tools"))
        .expect("tools/ directory")
        .map(|e| e.expect("tools/ entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn newest_mtime(path: &Path) -> SystemTime {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return SystemTime::UNIX_EPOCH };
    let own = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if !meta.is_dir() {
        return own;
    }
    std::fs::read_dir(path).into_iter().flatten().flatten().map(|e| newest_mtime(&e.path())).fold(own, SystemTime::max)
}

/// The path of a built tool, checked to exist and to be newer than its sources.
pub fn bin(tool: &str) -> PathBuf {
    let path = bin_dir().join(tool);
    let hint = "build the tools first: cargo build --workspace --bins --examples (make test does it)";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing; {hint}", path.display()));
    if std::env::var_os("NSTOOLS_BIN_DIR").is_none() {
        let src = source_dir();
        let crate_dir = [src.join("tools").join(tool), src.join(tool)]
            .into_iter()
            .find(|d| d.is_dir())
            .unwrap_or_else(|| src.join("common"));
        for input in [crate_dir, src.join("common/src"), src.join("Cargo.toml"), src.join("Cargo.lock")] {
            assert!(newest_mtime(&input) <= built, "{} is older than {}; {hint}", path.display(), input.display());
        }
    }
    path
}

/// The example program `exec-probe` of the common crate (exec_into on argv).
pub fn exec_probe() -> PathBuf {
    let path = bin_dir().join("examples/exec-probe");
    if std::env::var_os("NSTOOLS_BIN_DIR").is_some() {
        return bin_dir().join("exec-probe");
    }
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing; build with: cargo build --workspace --examples", path.display()));
    let src = source_dir().join("common");
    assert!(newest_mtime(&src) <= built, "{} is stale; cargo build --workspace --examples", path.display());
    path
}

/// Run a tool with arguments and collect what it did.
pub fn run<S: AsRef<OsStr>>(tool: &str, args: &[S]) -> Output {
    Command::new(bin(tool)).args(args).output().unwrap_or_else(|e| panic!("spawn {tool}: {e}"))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code, or 128+N for a death by signal N (as a shell reports it).
pub fn code(out: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0))
}

/// True when skips must fail (CI sets NSTOOLS_MUST_WORK=1).
pub fn must_work() -> bool {
    std::env::var("NSTOOLS_MUST_WORK").is_ok_and(|v| v == "1")
}

/// Say why a test cannot run here. Under NSTOOLS_MUST_WORK=1 that is a failure.
pub fn skip(reason: &str) {
    assert!(!must_work(), "SKIP is a failure with NSTOOLS_MUST_WORK=1: {reason}");
    eprintln!("SKIP: {reason}");
}

/// Skip the calling test unless `$cond` holds.
#[macro_export]
macro_rules! require {
    ($cond:expr, $reason:expr) => {
        if !$cond {
            $crate::skip(&$reason);
            return;
        }
    };
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this kernel has the namespace type (by its /proc name).
pub fn has_namespace(proc_name: &str) -> bool {
    Path::new("/proc/self/ns").join(proc_name).exists()
}

/// Copies a program to `to` through cp(1), mode kept. Not `std::fs::copy`: the
/// descriptor it writes through would be ours, and a child another test thread
/// forks in that instant holds it until its exec, so running the copy could
/// fail with ETXTBSY (seen under the VM lane's load).
pub fn copy_program(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-p").arg(from).arg(to).status().expect("spawn cp");
    assert!(status.success(), "cp {} {}: {status}", from.display(), to.display());
}

/// Writes a program (mode 0755) that is run next, for the reason
/// [`copy_program`] gives: written beside it, then copied by cp(1).
pub fn write_program(path: &Path, body: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let draft = path.with_extension("draft");
    std::fs::write(&draft, body).unwrap();
    std::fs::set_permissions(&draft, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy_program(&draft, path);
    std::fs::remove_file(&draft).unwrap();
}

/// Whether a program is on PATH.
pub fn have_program(name: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())).unwrap_or(false)
}

/// A directory `<tmp>/nstools-<pid>-<n>/<tag>`, removed (with its contents) on
/// drop. The extra level gives every test a parent directory of its own, so a
/// guard watching "the files around" the path never sees another test's files.
pub struct TempDir {
    outer: PathBuf,
    inner: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let outer = std::env::temp_dir().join(format!("nstools-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&outer);
        let inner = outer.join(tag);
        std::fs::create_dir_all(&inner).expect("create temp dir");
        Self { outer, inner }
    }

    pub fn path(&self) -> &Path {
        &self.inner
    }

    /// Open this directory and its parent to every user with `mode`, for
    /// tests that drop to uid 65534.
    pub fn open_to_all(&self, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        for dir in [&self.inner, &self.outer] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).expect("chmod temp dir");
        }
    }

    /// A copy of a built tool here that any user can run.
    pub fn tool_copy(&self, tool: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let copy = self.inner.join(tool);
        copy_program(&bin(tool), &copy);
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod tool");
        copy
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outer);
    }
}

/// True inside the VM lane (`make test-vm`), which runs these same tests on a
/// second kernel with busybox instead of the host's programs.
pub fn in_vm_lane() -> bool {
    std::env::var("NSTOOLS_LANE").is_ok_and(|v| v == "vm")
}

/// True inside the systemd lane (`make test-systemd`): Debian booted with
/// systemd as PID 1 and a lingering user, tester (uid 1000).
pub fn in_systemd_lane() -> bool {
    std::env::var("NSTOOLS_LANE").is_ok_and(|v| v == "systemd")
}

/// Run the calling test only in the systemd lane, which CI runs: elsewhere
/// it says so and passes (there is no systemd to test against).
#[macro_export]
macro_rules! systemd_lane_only {
    () => {
        if !$crate::in_systemd_lane() {
            eprintln!("SKIP (the systemd lane runs it): no systemd as PID 1 here");
            return;
        }
    };
}

/// A test that needs what only the host lane has (util-linux as an oracle,
/// bash, gcc, the sources): in the VM lane it says so and passes; on the host
/// a missing program is an ordinary skip (a failure under NSTOOLS_MUST_WORK).
pub fn host_only(reason: &str) {
    if in_vm_lane() {
        eprintln!("SKIP (host-only): {reason}");
    } else {
        skip(reason);
    }
}

/// Skip the calling test outside the host lane unless `$cond` holds.
#[macro_export]
macro_rules! require_host {
    ($cond:expr, $reason:expr) => {
        if !$cond {
            $crate::host_only(&$reason);
            return;
        }
    };
}

/// Every file below `dir` (recursively), by its path below `dir`, with its bytes, in order.
pub fn file_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the tree").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(file_tree(&path).into_iter().map(|(p, t)| (Path::new(&entry.file_name()).join(p), t)));
        } else {
            files.push((PathBuf::from(entry.file_name()), std::fs::read(&path).expect("read a file of the tree")));
        }
    }
    files.sort();
    files
}

/// Whether `program` on PATH is util-linux's (not busybox's).
pub fn util_linux(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("util-linux"))
}

/// The descriptors a command run from this test starts with, without any
/// tool in between: what `ls /proc/self/fd` lists, less ls's own (3). A
/// chain link must pass exactly these on, and nothing of its own.
pub fn inherited_fds() -> Vec<String> {
    let out = Command::new("ls").arg("/proc/self/fd").stdin(std::process::Stdio::null()).output().expect("run ls");
    fd_list(&out)
}

/// The descriptor numbers in the output of `ls /proc/self/fd`, less ls's own (3).
pub fn fd_list(out: &Output) -> Vec<String> {
    let mut fds: Vec<String> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().filter(|fd| *fd != "3").map(str::to_owned).collect();
    fds.sort();
    fds
}

/// The probe (tests/probe.c), statically built: by the VM lane beforehand,
/// by gcc here on the host. `None` when neither is there.
pub fn probe_program(work: &TempDir) -> Option<PathBuf> {
    let prebuilt = Path::new("/nstools/probe");
    if prebuilt.exists() {
        let dir = work.path().join("probe");
        std::fs::create_dir_all(&dir).unwrap();
        copy_program(prebuilt, &dir.join("probe"));
        return Some(dir);
    }
    if !have_program("gcc") {
        return None;
    }
    let dir = work.path().join("probe");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("probe.c"), include_str!("../probe.c")).unwrap();
    let built =
        Command::new("gcc").args(["-static", "-O2", "-o"]).arg(dir.join("probe")).arg(dir.join("probe.c")).status();
    built.is_ok_and(|s| s.success()).then_some(dir)
}

/// The debootstrap tree `make images` builds (or `$NSTOOLS_DEBIAN_IMAGE`).
pub fn debian_image() -> PathBuf {
    std::env::var_os("NSTOOLS_DEBIAN_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| source_dir().join("target/images/debian"))
}

/// A memory cgroup `name` below ours delegated to `uid`, as a manager makes one: the directory
/// and the files to move into and to enable controllers with are the user's. Returns it and
/// the file a process joins it through (`cgroup.procs` on v2, `tasks` on v1). The caller removes it.
pub fn delegated_memory_cgroup(name: &str, uid: u32) -> (PathBuf, &'static str) {
    let memory = common::cgroup::holding(&common::cgroup::own(), "memory").expect("a memory controller").clone();
    if memory.is_v2() {
        std::fs::write(memory.dir.join("cgroup.subtree_control"), "+memory").expect("enable memory");
    }
    let scope = memory.dir.join(name);
    std::fs::create_dir(&scope).expect("create the delegated cgroup");
    let files = ["", "cgroup.procs", "tasks", "cgroup.subtree_control", "cgroup.threads"];
    for file in files.iter().map(|f| scope.join(f)).filter(|p| p.exists()) {
        std::os::unix::fs::chown(&file, Some(uid), Some(uid)).expect("delegate");
    }
    (scope, if memory.is_v2() { "cgroup.procs" } else { "tasks" })
}

/// A C helper of the tests (tests/NAME.c), statically built: by the VM lane
/// beforehand (/nstools/NAME), by gcc here on the host. The directory that
/// holds it, or `None` when neither can be had.
pub fn c_helper(work: &TempDir, name: &str, source: &str) -> Option<PathBuf> {
    let dir = work.path().join(format!("{name}-bin"));
    std::fs::create_dir_all(&dir).unwrap();
    let prebuilt = Path::new("/nstools").join(name);
    if prebuilt.exists() {
        copy_program(&prebuilt, &dir.join(name));
        return Some(dir);
    }
    if !have_program("gcc") {
        return None;
    }
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let built = Command::new("gcc").args(["-static", "-O2", "-o"]).arg(dir.join(name)).arg(&c).status();
    built.is_ok_and(|s| s.success()).then_some(dir)
}

/// A pipe whose buffer is full already: a process given it as stderr blocks at
/// its first message until [`FullPipe::drain`], long enough for an attacker in
/// a container to find it at any speed.
pub struct FullPipe {
    read: std::os::fd::OwnedFd,
    write: Option<std::os::fd::OwnedFd>,
}

impl Default for FullPipe {
    fn default() -> Self {
        Self::new()
    }
}

impl FullPipe {
    pub fn new() -> Self {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors, which become ours.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: as above.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on our own descriptors: the smallest buffer, filled without blocking, then
        // blocking again (the flag is the child's too).
        unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, 4096);
            libc::fcntl(write.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
            while libc::write(write.as_raw_fd(), [b'.'; 512].as_ptr().cast(), 512) > 0 {}
            libc::fcntl(write.as_raw_fd(), libc::F_SETFL, 0);
        }
        Self { read, write: Some(write) }
    }

    /// The write end, for a child's stderr (once).
    pub fn stdio(&mut self) -> std::process::Stdio {
        std::process::Stdio::from(self.write.take().expect("stdio taken once"))
    }

    /// Everything written after the filler, up to the end (every writer gone).
    pub fn drain(mut self) -> String {
        use std::io::Read;
        self.write = None;
        let mut all = Vec::new();
        let _ = std::fs::File::from(self.read).read_to_end(&mut all);
        String::from_utf8_lossy(&all).trim_start_matches('.').to_owned()
    }
}

/// Wait until `report` (a file another process appends lines to) has `count`
/// whole lines starting with `word`; its text up to its last whole line.
pub fn wait_report(report: &Path, word: &str, count: usize) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut text = std::fs::read_to_string(report).unwrap_or_default();
        // Only whole lines: the writer may be writing the next one as we read.
        text.truncate(text.rfind('\n').map_or(0, |at| at + 1));
        if text.lines().filter(|l| l.starts_with(word)).count() >= count {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "{count} × {word} never came: {text}");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// A tar of busybox and its applets, for `podman import`.
pub fn busybox_tar(work: &Path) -> std::path::PathBuf {
    let root = work.join("bb");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].iter().map(Path::new).find(|p| p.exists()).unwrap();
    copy_program(busybox, &root.join("bin/busybox"));
    for applet in [
        "sh", "echo", "cat", "sleep", "id", "hostname", "ls", "true", "false", "kill", "grep", "tr", "tty", "paste",
        "test", "cut", "sort", "tail",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = work.join("bb.tar");
    let ok = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar of the busybox image");
    tar
}

/// The script's `name=value` findings, once it succeeded and each of `want` is among them.
pub fn findings(out: &std::process::Output, want: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    let (text, errors) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}{errors}");
    let found: std::collections::BTreeMap<String, String> =
        text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    for (key, value) in want {
        assert_eq!(found.get(*key).map(String::as_str), Some(*value), "{key}:\n{text}{errors}");
    }
    found
}

/// What tests/engines/cri finds with a handler when all is well: runc's,
/// the reference, and nsrun's alike.
const CRI_WANT: [(&str, &str); 18] = [
    ("runtime", "containerd"),
    ("image", "true"),
    ("running", "true"),
    ("exec", "in-exec 6"),
    ("limits", "67108864 50000"),
    ("updated", "100663296 25000"),
    ("stats", "true"),
    ("streams", "true"),
    ("localhost", "pong"),
    ("exit", "7 Error"),
    ("removed_exited", "true"),
    ("oom", "137 OOMKilled"),
    ("missing", "reported"),
    ("stopped", "true"),
    ("removed", "true"),
    ("log", "hi"),
    ("pod_with_running", "true"),
    ("left", "0 0"),
];

/// [`CRI_WANT`] for both handlers, each line prefixed by its name, and nothing left.
pub fn cri_want() -> Vec<(String, &'static str)> {
    let mut both = Vec::new();
    for handler in ["runc", "nsrun"] {
        both.extend(CRI_WANT.iter().map(|(k, v)| (format!("{handler}.{k}"), *v)));
    }
    both.push(("left".to_owned(), "0 0"));
    both
}

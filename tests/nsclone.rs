//! nsclone, run for real: isolation seen from both sides, statuses relayed
//! through one and two links, signals, lifetimes, pins, rootless use, and
//! util-linux's unshare as an oracle. Every test runs under the host guard.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nstools::{
    Guard, TempDir, bin, code, has_namespace, have_program, is_root, require, require_host, stderr, stdout, util_linux,
};

fn can_run() -> bool {
    is_root() && ["mnt", "uts", "ipc", "net", "pid", "user", "cgroup", "time"].iter().all(|n| has_namespace(n))
}

macro_rules! require_namespaces {
    () => {
        require!(can_run(), "needs root and every namespace type");
    };
}

/// Run `nsclone ARGS... sh -c SCRIPT` under `guard`.
fn nsclone_sh(guard: &Guard, args: &[&str], script: &str) -> Output {
    guard.command("nsclone").args(args).args(["sh", "-c", script]).stdin(Stdio::null()).output().unwrap()
}

fn own_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().to_string_lossy().into_owned()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned()
}

#[test]
fn every_namespace_type_is_new_inside_and_the_same_outside() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let script = "for t in mnt uts ipc net pid user cgroup time; do echo $t $(readlink /proc/self/ns/$t); done";
    let out = nsclone_sh(&guard, &["-mupinUCT", "--as-pid-1"], script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for line in stdout(&out).lines() {
        let (kind, inside) = line.split_once(' ').unwrap();
        assert_ne!(inside, own_ns(kind), "{kind} namespace not new");
    }
    let out = nsclone_sh(&guard, &[], script);
    for line in stdout(&out).lines() {
        let (kind, inside) = line.split_once(' ').unwrap();
        assert_eq!(inside, own_ns(kind), "{kind} namespace changed without a flag");
    }
    guard.check();
}

#[test]
fn hostname_changes_inside_only() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let before = hostname();
    let out = guard
        .command("nsclone")
        .args(["--hostname=nstools-box", "--domainname=lab", "sh", "-c", "hostname; cat /proc/sys/kernel/domainname"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "nstools-box\nlab\n", "{}", stderr(&out));
    assert_eq!(hostname(), before);
    guard.check();
}

#[test]
fn network_namespace_has_only_lo_and_it_is_up() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    // /proc/net/dev and the flags of lo, as the kernel reports them inside.
    let script = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /proc/self/net/if_inet6 >/dev/null; \
                  grep -c . /proc/net/dev";
    let out = nsclone_sh(&guard, &["-n"], script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["lo", "3"], "interfaces inside");
    if Command::new("ip").args(["-o", "link"]).output().is_ok_and(|o| o.status.success()) {
        let out = guard.command("nsclone").args(["-n", "ip", "-o", "link"]).output().unwrap();
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("lo:") && text.contains(",UP"), "lo not up: {text}");
        let out = guard.command("nsclone").args(["-n", "--no-lo", "ip", "-o", "link"]).output().unwrap();
        assert!(!stdout(&out).contains(",UP"), "--no-lo: {}", stdout(&out));
    } else {
        nstools::host_only("ip (iproute2) is not installed: lo's flags unchecked");
    }
    guard.check();
}

#[test]
fn sysv_ipc_of_the_host_is_invisible_inside() {
    require_namespaces!();
    require_host!(have_program("ipcmk") && have_program("ipcs"), "ipcmk/ipcs (util-linux) are not installed");
    let guard = Guard::new(&[]);
    let made = Command::new("ipcmk").args(["-M", "4096"]).output().unwrap();
    let id = stdout(&made).split_whitespace().last().unwrap().to_owned();
    let inside = nsclone_sh(&guard, &["-i"], "ipcs -m");
    let outside = Command::new("ipcs").arg("-m").output().unwrap();
    let _ = Command::new("ipcrm").args(["-m", &id]).status();
    assert!(stdout(&outside).contains(&format!(" {id} ")), "host sees its segment");
    assert!(!stdout(&inside).contains(&format!(" {id} ")), "segment {id} visible inside:\n{}", stdout(&inside));
    guard.check();
}

#[test]
fn pid_namespace_with_mount_proc() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    // The shell's own glob counts the processes: no pipeline races its own count.
    let script = "echo $$; set -- /proc/[0-9]*; echo $#; cat /proc/1/comm";
    let out = nsclone_sh(&guard, &["-mp", "--mount-proc"], script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The init is PID 1, the command PID 2, and nothing else is there.
    assert_eq!(stdout(&out), "2\n2\nnsclone\n");
    // The builtin comes last: some shells exec their last command in place.
    let out = nsclone_sh(&guard, &["-mp", "--mount-proc", "--as-pid-1"], "cat /proc/1/comm; echo $$");
    assert_eq!(stdout(&out), "sh\n1\n");
    guard.check();
}

#[test]
fn mounts_inside_never_reach_the_host() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-mount");
    let guard = Guard::new(&[dir.path()]);
    let d = dir.path().display();
    let script =
        format!("mount -t tmpfs nstools-inside {d} && grep -c nstools-inside /proc/self/mountinfo && umount -l /");
    let out = nsclone_sh(&guard, &["-m"], &script);
    assert_eq!(stdout(&out), "1\n", "{}", stderr(&out));
    // A slave mount namespace still receives nothing back from inside.
    let out = nsclone_sh(&guard, &["-m", "--propagation=slave"], &format!("mount -t tmpfs nstools-inside {d}"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    guard.check();
}

#[test]
fn cgroup_namespace_root_is_our_cgroup() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let out = guard.command("nsclone").args(["-C", "cat", "/proc/self/cgroup"]).output().unwrap();
    for line in stdout(&out).lines() {
        assert!(line.ends_with(":/"), "not at the namespace root: {line}");
    }
    let host = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(host.lines().any(|l| !l.ends_with(":/")) || host.lines().all(|l| l.ends_with(":/")));
    guard.check();
}

#[test]
fn time_offsets_apply_inside() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let uptime = |text: &str| text.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    let out = guard.command("nsclone").args(["--boottime=86400", "cat", "/proc/uptime"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let host = uptime(&std::fs::read_to_string("/proc/uptime").unwrap());
    let inside = uptime(&stdout(&out));
    assert!((inside - host - 86400.0).abs() < 5.0, "inside {inside}, host {host}");
    // The monotonic clock, through a program that reads it.
    let out = nsclone_sh(&guard, &["--monotonic=-", "1"], "true");
    assert_eq!(code(&out), 125, "a malformed offset is refused");
    guard.check();
}

#[test]
fn map_root_user() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let out = nsclone_sh(&guard, &["-r"], "id -u; id -g; cat /proc/self/uid_map /proc/self/setgroups");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "0", "0", "1", "deny"]);
    let out = nsclone_sh(
        &guard,
        &["-U", "--map-users=0:100000:1000", "--map-groups=0:100000:1000"],
        "cat /proc/self/uid_map",
    );
    assert_eq!(stdout(&out).split_whitespace().collect::<Vec<_>>(), ["0", "100000", "1000"], "{}", stderr(&out));
    let out = nsclone_sh(&guard, &["--map-users=0:100:10", "--map-users=5:200:10"], "true");
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("inner ranges overlap"), "{}", stderr(&out));
    guard.check();
}

/// (args, script, expected status as a shell reports it)
const STATUSES: [(&str, i32); 8] = [
    ("exit 0", 0),
    ("exit 1", 1),
    ("exit 42", 42),
    ("exec /etc/passwd", 126),
    ("exec no-such-command-nstools", 127),
    ("kill -SEGV $$", 128 + 11),
    ("kill -KILL $$", 128 + 9),
    ("kill -TERM $$", 128 + 15),
];

#[test]
fn statuses_and_deaths_are_relayed_through_one_and_two_links() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-status");
    let guard = Guard::new(&[dir.path()]);
    let nsclone = bin("nsclone");
    let links: [&[&str]; 4] = [&["-m"], &["-mp"], &["-mp", "--as-pid-1"], &["-r"]];
    for links_args in links {
        for (script, want) in STATUSES {
            // A PID 1 ignores the signals it sends itself: no death to relay there.
            if want > 128 && links_args.contains(&"--as-pid-1") {
                continue;
            }
            // One link.
            let out = guard
                .command("nsclone")
                .current_dir(dir.path())
                .args(links_args)
                .args(["sh", "-c", script])
                .output()
                .unwrap();
            assert_eq!(code(&out), want, "nsclone {links_args:?} sh -c {script:?}: {}", stderr(&out));
            if want > 128 {
                assert_eq!(out.status.signal(), Some(want - 128), "death by signal, not an exit code");
            }
            // Two links.
            let out = guard
                .command("nsclone")
                .current_dir(dir.path())
                .args(links_args)
                .arg(&nsclone)
                .args(["-u", "sh", "-c", script])
                .output()
                .unwrap();
            assert_eq!(code(&out), want, "two links {links_args:?} {script:?}: {}", stderr(&out));
        }
    }
    // No core file of nsclone's own was left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    guard.check();
}

#[test]
fn command_errors() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let out = guard.command("nsclone").args(["-m", "no-such-command-nstools"]).output().unwrap();
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (127, "nsclone: cannot execute: no-such-command-nstools: command not found\n")
    );
    let out = guard.command("nsclone").args(["-mp", "no-such-command-nstools"]).output().unwrap();
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (127, "nsclone: cannot execute: no-such-command-nstools: command not found\n")
    );
    for path in ["/etc/passwd", "/"] {
        let out = guard.command("nsclone").args(["-m", path]).output().unwrap();
        assert_eq!(code(&out), 126, "{path}");
    }
    let out = guard.command("nsclone").args(["-m"]).output().unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).starts_with("nsclone: no command given; usage: "));
    let out = guard.command("nsclone").args(["-mX", "sh"]).output().unwrap();
    assert_eq!((code(&out), stderr(&out).starts_with("nsclone: invalid option '-X'")), (125, true));
    // Options stop at the command: -p belongs to sh, and -- lets a dash name through.
    let out = guard.command("nsclone").args(["-m", "sh", "-c", "echo \"$0 $1\"", "-p", "x"]).output().unwrap();
    assert_eq!(stdout(&out), "-p x\n");
    let out = guard.command("nsclone").args(["-m", "--", "--weird-name"]).output().unwrap();
    assert_eq!(
        (code(&out), stderr(&out).as_str()),
        (127, "nsclone: cannot execute: --weird-name: command not found\n")
    );
    guard.check();
}

#[test]
fn zombies_are_reaped_by_the_init() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    // Orphans that exit become zombies of PID 1 unless it reaps them.
    let script = "for i in 1 2 3 4 5; do (sleep 0.01 &) ; done; sleep 0.5; \
                  grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l";
    let out = nsclone_sh(&guard, &["-mp", "--mount-proc"], script);
    assert_eq!(stdout(&out).trim(), "0", "zombies left: {}", stderr(&out));
    guard.check();
}

/// Start `nsclone ARGS sh -c SCRIPT` where SCRIPT traps the forwarded signals
/// and logs each one it receives into `log`.
fn spawn_trapper(guard: &Guard, args: &[&str], log: &Path, ready: &Path) -> std::process::Child {
    let script = format!(
        "for s in TERM INT HUP QUIT USR1 USR2 WINCH; do trap \"echo $s >> {log}\" $s; done; \
         touch {ready}; while [ ! -e {log}.done ]; do sleep 0.02; done",
        log = log.display(),
        ready = ready.display()
    );
    guard.command("nsclone").args(args).args(["sh", "-c", &script]).stdin(Stdio::null()).spawn().unwrap()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn signals_reach_the_command_exactly_once() {
    require_namespaces!();
    // The command writes its log in this scratch directory: not a watched path.
    let dir = TempDir::new("nsclone-signals");
    let guard = Guard::new(&[]);
    let signals = [
        ("TERM", libc::SIGTERM),
        ("INT", libc::SIGINT),
        ("HUP", libc::SIGHUP),
        ("QUIT", libc::SIGQUIT),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("WINCH", libc::SIGWINCH),
    ];
    for (n, args) in [&["-m"][..], &["-mp"], &["-mp", "--as-pid-1"]].iter().enumerate() {
        let log = dir.path().join(format!("log{n}"));
        let ready = dir.path().join(format!("ready{n}"));
        let mut child = spawn_trapper(&guard, args, &log, &ready);
        wait_for(&ready);
        for (_, sig) in signals {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, sig) };
            std::thread::sleep(Duration::from_millis(60));
        }
        std::fs::write(format!("{}.done", log.display()), "").unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}");
        let got = std::fs::read_to_string(&log).unwrap_or_default();
        let want: String = signals.iter().map(|(name, _)| format!("{name}\n")).collect();
        assert_eq!(got, want, "{args:?}: each signal once, in order");
    }
    guard.check();
}

#[test]
fn sigterm_ends_a_command_without_a_handler_under_the_init() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let mut child = guard.command("nsclone").args(["-p", "sleep", "30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    guard.check();
}

#[test]
fn killing_nsclone_at_random_moments_leaves_no_survivor() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let args: &[&str] = match round % 4 {
            0 => &["-m", "sleep", "30"],
            1 => &["-mp", "sh", "-c", "sleep 30 & sleep 30"],
            2 => &["-r", "-mpn", "sleep", "30"],
            _ => &["-mp", "--as-pid-1", "sh", "-c", "sleep 30 & sleep 30"],
        };
        let mut child = guard.command("nsclone").args(args).stdin(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(seed % 3000));
        // SAFETY: killing our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
    }
    guard.check();
}

#[test]
fn pinned_namespaces_outlive_their_processes() {
    require_namespaces!();
    require_host!(util_linux("nsenter") && util_linux("unshare"), "util-linux nsenter/unshare are not installed");
    let dir = TempDir::new("nsclone-pin");
    let guard = Guard::new(&[dir.path()]);
    let d = dir.path().display();
    let nsclone = bin("nsclone");
    let nstype = bin("nstype");
    // In a private mount namespace of util-linux's own, so the pins never touch the host table.
    let script = format!(
        "set -e
         {nsclone} --net={d}/net --uts={d}/uts --ipc={d}/ipc --pid={d}/pid --time={d}/time --user={d}/user \
                   --hostname=pinned --boottime=1000 true
         {nstype} -t net {d}/net; {nstype} -t uts {d}/uts; {nstype} -t ipc {d}/ipc
         {nstype} -t pid {d}/pid; {nstype} -t time {d}/time; {nstype} -t user {d}/user
         nsenter --uts={d}/uts hostname
         nsenter --net={d}/net cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '
         ! {nsclone} --uts={d}/net true 2>{d}/stacked
         test $(grep -c {d}/net /proc/self/mountinfo) = 1
         for f in net uts ipc pid time user; do umount {d}/$f; done",
        nsclone = nsclone.display(),
        nstype = nstype.display(),
    );
    let out = guard.in_private_mount_ns(&script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "pinned\nlo\n");
    // The pin files were made at the named paths, and nothing else.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    // Red team 3 (#9): a second run does not stack a pin on the first's.
    let stacked = std::fs::read_to_string(dir.path().join("stacked")).unwrap();
    assert_eq!(
        stacked,
        format!(
            "nsclone: cannot pin a namespace at: {d}/net: it already pins a net namespace: one file holds one namespace (umount it first)\n"
        )
    );
    std::fs::remove_file(dir.path().join("stacked")).unwrap();
    names.retain(|n| n != "stacked");
    assert_eq!(names, ["ipc", "net", "pid", "time", "user", "uts"]);
    for n in &names {
        std::fs::remove_file(dir.path().join(n)).unwrap();
    }
    guard.check();
}

#[test]
fn a_failed_run_creates_nothing() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-fail");
    let guard = Guard::new(&[dir.path()]);
    let pin = dir.path().join("net");
    // The pin's directory is missing: refused before the clone.
    let out = guard
        .command("nsclone")
        .arg(format!("--net={}/missing/net", dir.path().display()))
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).starts_with("nsclone: cannot pin a namespace at"), "{}", stderr(&out));
    // An invalid map is refused before the pin file is created.
    let out = guard
        .command("nsclone")
        .arg(format!("--net={}", pin.display()))
        .args(["--map-users=0:1", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 125);
    assert!(!pin.exists(), "pin file made by a refused run");
    guard.check();
}

fn unprivileged(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // std drops the supplementary groups when root switches uid.
    cmd.uid(65534).gid(65534)
}

#[test]
fn rootless_end_to_end() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-rootless");
    dir.open_to_all(0o755);
    let nsclone = dir.tool_copy("nsclone");
    let guard = Guard::new(&[dir.path()]);
    let script = "id -u; echo $$; hostname rootless && hostname; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /proc/1/comm";
    let out =
        unprivileged(guard.watch(Command::new(&nsclone)).args(["-r", "-mupin", "--mount-proc", "sh", "-c", script]))
            .output()
            .unwrap();
    if code(&out) == 125 && stderr(&out).contains("unprivileged user namespaces may be disabled") {
        nstools::skip("unprivileged user namespaces are disabled here");
        return;
    }
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\n2\nrootless\nlo\nnsclone\n");
    // Without -r, the message says what is missing.
    let out = unprivileged(guard.watch(Command::new(&nsclone)).args(["-m", "true"])).output().unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("needs root, or -r/-U"), "{}", stderr(&out));
    // Only its own ids can be mapped.
    let out = unprivileged(guard.watch(Command::new(&nsclone)).args(["--map-users=0:0:10", "true"])).output().unwrap();
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("only your own uid and gid"), "{}", stderr(&out));
    guard.check();
}

#[test]
fn same_observations_as_util_linux_unshare() {
    require_namespaces!();
    require_host!(util_linux("unshare"), "util-linux unshare (the oracle) is not installed");
    let guard = Guard::new(&[]);
    let host: Vec<String> = ["mnt", "uts", "ipc", "net", "pid"].iter().map(|k| own_ns(k)).collect();
    let probe = format!(
        "echo pid=$$; set -- /proc/[0-9]*; echo procs=$#; echo uid=$(id -u); echo host=$(hostname); \
         echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '); \
         echo root=$(awk '$5==\"/\" {{print ($7 ~ /shared/) ? \"shared\" : \"private\"}}' /proc/self/mountinfo); \
         i=0; for t in mnt uts ipc net pid; do i=$((i+1)); set -- {host}; eval h=\\${{$i}}; \
         [ \"$(readlink /proc/self/ns/$t)\" = \"$h\" ] && echo $t=same || echo $t=new; done",
        host = host.join(" ")
    );
    let theirs =
        guard.watch(Command::new("unshare")).args(["-fmupin", "--mount-proc", "sh", "-c", &probe]).output().unwrap();
    let ours = guard
        .command("nsclone")
        .args(["-mupin", "--mount-proc", "--as-pid-1", "--no-lo", "sh", "-c", &probe])
        .output()
        .unwrap();
    assert_eq!(code(&theirs), 0, "{}", stderr(&theirs));
    assert_eq!(stdout(&ours), stdout(&theirs), "nsclone and unshare disagree; stderr: {}", stderr(&ours));
    assert!(stdout(&ours).contains("pid=1\n") && stdout(&ours).contains("net=new"));
    guard.check();
}

#[test]
fn pidfile_names_the_command_not_the_init() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-pidfile");
    let guard = Guard::new(&[dir.path()]);
    let pidfile = dir.path().join("pid");
    let flag = dir.path().join("seen");
    // The command compares the pid file with its own host PID, found through its cmdline marker.
    let mut child = guard
        .command("nsclone")
        .arg("-mp")
        .arg(format!("--pidfile={}", pidfile.display()))
        .args(["sh", "-c", &format!("touch {}; sleep 30", flag.display())])
        .spawn()
        .unwrap();
    wait_for(&flag);
    wait_for(&pidfile);
    std::thread::sleep(Duration::from_millis(20));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // The command is PID 2 of its namespace (the init is PID 1).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:")).unwrap().split_whitespace().last().unwrap();
    assert_eq!(nspid, "2", "{pid} is not the command");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(!pidfile.exists(), "pid file removed when the command ends");
    std::fs::remove_file(&flag).unwrap();
    guard.check();
}

#[test]
fn ctrl_c_at_a_terminal_interrupts_the_command_once() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-tty");
    let guard = Guard::new(&[]);
    for (n, args) in [&["-m"][..], &["-mp"]].iter().enumerate() {
        let log = dir.path().join(format!("log{n}"));
        let done = dir.path().join(format!("done{n}"));
        let script = format!(
            "trap 'echo INT >> {log}' INT; echo ready; while [ ! -e {done} ]; do sleep 0.02; done; echo finished",
            log = log.display(),
            done = done.display()
        );
        let mut cmd = guard.command("nsclone");
        cmd.args(*args).args(["sh", "-c", &script]);
        let mut pty = nstools::pty::Pty::spawn(cmd);
        pty.expect("ready", 10);
        pty.send(b"\x03");
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&done, "").unwrap();
        pty.expect("finished", 10);
        let status = pty.wait(10);
        assert_eq!(status.code(), Some(0), "{args:?}");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "INT\n", "{args:?}: SIGINT seen once");
    }
    guard.check();
}

#[test]
fn job_control_of_an_interactive_shell_inside() {
    require_namespaces!();
    require_host!(have_program("bash"), "bash is not installed");
    let dir = TempDir::new("nsclone-jobs");
    let guard = Guard::new(&[]);
    // Straight under nsclone, and in a root of mkroot's, under its seccomp filter.
    let root = dir.path().join("r");
    let root = root.to_string_lossy();
    let mkroot = bin("mkroot");
    let mkroot = mkroot.to_string_lossy();
    let chains: [&[&str]; 2] = [&["-mp", "--mount-proc"], &["-mupin", &mkroot, &root]];
    for chain in chains {
        job_control_in(&guard, chain);
    }
    guard.check();
}

fn job_control_in(guard: &Guard, chain: &[&str]) {
    let mut cmd = guard.command("nsclone");
    cmd.args(chain).args(["bash", "--norc", "--noprofile", "-i"]).env("PS1", "nstools$ ");
    let mut pty = nstools::pty::Pty::spawn(cmd);
    pty.expect("nstools$ ", 10);
    pty.send(b"sleep 30\n");
    std::thread::sleep(Duration::from_millis(300));
    pty.send(b"\x1a"); // Ctrl-Z
    pty.expect("Stopped", 10);
    pty.expect("nstools$ ", 10);
    pty.send(b"jobs -l | grep -c Stopped\n");
    pty.expect("1\r\n", 10);
    pty.send(b"fg\n");
    pty.expect("sleep 30", 10);
    std::thread::sleep(Duration::from_millis(300));
    pty.send(b"\x03"); // Ctrl-C ends the resumed sleep
    pty.expect("nstools$ ", 10);
    pty.send(b"echo status=$?\n");
    pty.expect("status=130", 10);
    pty.send(b"exit 7\n");
    let status = pty.wait(10);
    assert_eq!(status.code(), Some(7), "{chain:?}");
}

#[test]
fn verbose_traces_each_step_as_a_shell_command() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let out = guard.command("nsclone").args(["-v", "-r", "-mun", "--hostname=traced", "true"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let trace: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert!(trace.iter().all(|l| l.starts_with("+ ")), "{trace:?}");
    for step in [
        "+ clone --user",
        "/uid_map",
        "+ mount --make-rprivate /",
        "+ hostname traced",
        "+ ip link set lo up",
        "+ exec true",
    ] {
        assert!(trace.iter().any(|l| l.contains(step)), "{step} missing from {trace:?}");
    }
    guard.check();
}

#[test]
fn map_auto_uses_subordinate_ids_or_says_there_are_none() {
    require_namespaces!();
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
    let range = subuid.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() == 3 && (f[0] == "root" || f[0] == "0")).then(|| f[1].to_owned())
    });
    let guard = Guard::new(&[]);
    let out = guard.command("nsclone").args(["--map-auto", "cat", "/proc/self/uid_map"]).output().unwrap();
    match range {
        None => {
            assert_eq!(code(&out), 125);
            assert!(stderr(&out).contains("no range for this user in /etc/subuid"), "{}", stderr(&out));
        }
        Some(start) => {
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            assert_eq!(stdout(&out).split_whitespace().nth(1), Some(start.as_str()));
        }
    }
    guard.check();
}

#[test]
fn all_means_every_type_but_user() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let script = "for t in mnt uts ipc net pid cgroup time user; do echo $t $(readlink /proc/self/ns/$t); done";
    let out = nsclone_sh(&guard, &["-a"], script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for line in stdout(&out).lines() {
        let (kind, inside) = line.split_once(' ').unwrap();
        assert_eq!(inside == own_ns(kind), kind == "user", "{kind}: {inside}");
    }
    guard.check();
}

#[test]
fn pid_fd_reports_the_command() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    // Descriptor 3 of nsclone is the write end of a pipe the shell reads after the command.
    let script = format!("{} -mp --pid-fd=3 sh -c 'echo $$' 3>&1 >/dev/null", bin("nsclone").display());
    let out = guard.watch(Command::new("sh")).args(["-c", &script]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pid: i32 = stdout(&out).trim().parse().unwrap_or_else(|_| panic!("not a PID: {:?}", stdout(&out)));
    assert!(pid > 1);
    let out = guard.command("nsclone").args(["--pid-fd=99", "true"]).output().unwrap();
    assert_eq!((code(&out), stderr(&out).as_str()), (125, "nsclone: invalid descriptor: --pid-fd=99: not open\n"));
    guard.check();
}

#[test]
fn no_descriptor_of_ours_reaches_the_command() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-fds");
    let pidfile = format!("--pidfile={}", dir.path().join("pid").display());
    let guard = Guard::new(&[]);
    for args in [&["-m"][..], &["-mp"], &["-r", "-mpn", &pidfile], &["-r", "--boottime=5"]] {
        let out =
            guard.command("nsclone").args(args).args(["ls", "/proc/self/fd"]).stdin(Stdio::null()).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert_eq!(nstools::fd_list(&out), nstools::inherited_fds(), "{args:?}");
    }
    guard.check();
}

// Issue 8: descriptors, signal dispositions, pins, the pid file, messages.

/// `sh -c SCRIPT` under the guard (for descriptor redirections nsclone gets from a shell).
fn sh(guard: &Guard, script: &str) -> Output {
    guard.watch(Command::new("sh")).args(["-c", script]).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn the_pid_fd_never_reaches_the_command() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let nsclone = bin("nsclone");
    // Descriptor 7: the command lists its descriptors; 7 must not be among them, in every mode.
    for args in ["-m", "-mp", "-p --as-pid-1", "-r -mp", "-r --boottime=5"] {
        let out = sh(&guard, &format!("{} {args} --pid-fd=7 ls /proc/self/fd 7>/dev/null", nsclone.display()));
        assert_eq!(code(&out), 0, "{args}: {}", stderr(&out));
        assert_eq!(nstools::fd_list(&out), nstools::inherited_fds(), "{args}");
    }
    // Whoever reads the PID to the end is not held up by the command: at EOF it is still running.
    let script = format!(
        "pid=$({} -mp --pid-fd=3 sleep 30 3>&1 >/dev/null 2>&1 &); kill -0 $pid && echo running; kill $pid",
        nsclone.display()
    );
    let out = sh(&guard, &script);
    assert_eq!(stdout(&out), "running\n", "{}", stderr(&out));
    guard.check();
}

/// The `SigIgn` line that `grep SigIgn /proc/self/status` prints, run
/// through `nsclone ARGS` (or directly, with no ARGS), by a caller that leaves
/// glibc's internal signals (32, 33) at their default or ignores them.
fn sig_ign_through(guard: &Guard, nsclone: Option<&[&str]>, internal_at_default: bool) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = match nsclone {
        Some(args) => {
            let mut cmd = guard.command("nsclone");
            cmd.args(args).arg("grep");
            cmd
        }
        None => guard.watch(Command::new("grep")),
    };
    cmd.args(["SigIgn", "/proc/self/status"]);
    let handler = if internal_at_default { libc::SIG_DFL } else { libc::SIG_IGN };
    // SAFETY: between fork and exec the closure makes only raw rt_sigaction calls on a local array.
    unsafe {
        cmd.pre_exec(move || {
            let action = [handler as libc::c_ulong, 0, 0, 0];
            for sig in [32, 33] {
                libc::syscall(libc::SYS_rt_sigaction, sig, action.as_ptr(), std::ptr::null_mut::<u64>(), 8usize);
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn the_command_gets_the_signal_dispositions_of_the_caller() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    // glibc's internal signals: what the caller left, in every mode (posix_spawn under the init set them ignored).
    for at_default in [true, false] {
        let direct = stdout(&sig_ign_through(&guard, None, at_default));
        let internal = if at_default { 0 } else { 0x1_8000_0000u64 };
        let shown = u64::from_str_radix(direct.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
        assert_eq!(shown & 0x1_8000_0000, internal, "the oracle: {direct}");
        for args in [&["-m"][..], &["-mp"], &["-p", "--as-pid-1"], &["-r", "--boottime=5"]] {
            let out = sig_ign_through(&guard, Some(args), at_default);
            assert_eq!(stdout(&out), direct, "{args:?}, internal signals at default: {at_default}: {}", stderr(&out));
        }
    }
    // A signal the caller ignores stays ignored (nohup).
    let out = sh(&guard, &format!("trap '' USR1; {} -mp grep SigIgn /proc/self/status", bin("nsclone").display()));
    let shown = u64::from_str_radix(stdout(&out).trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_ne!(shown & (1 << (libc::SIGUSR1 - 1)), 0, "SIGUSR1 not ignored: {}", stdout(&out));
    guard.check();
}

#[test]
fn pin_files_and_the_pid_file_are_distinct_and_go_after_a_late_failure() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-pins");
    let guard = Guard::new(&[dir.path()]);
    let d = dir.path().display();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("link")).unwrap();
    let nsclone = bin("nsclone");
    let refused = [
        (
            format!("--net={d}/a --uts={d}/./a"),
            format!("invalid pin file: --uts={d}/./a: already the pin file of --net: one file holds one namespace"),
        ),
        (
            format!("--net={d}/a --pidfile={d}/a"),
            format!("invalid pid file: {d}/a: already the pin file of --net: give each its own file"),
        ),
        (
            format!("--net={d}/a --uts={d}/link/a"),
            format!("cannot use --uts: {d}/link/a: the same file as --net: give each its own file"),
        ),
        (format!("--net={d}/a --pid-fd=0"), "invalid descriptor: --pid-fd=0: not open for writing".to_owned()),
        ("--pidfile=".to_owned(), "invalid pid file: '': empty path".to_owned()),
    ];
    for (args, message) in refused {
        let out = sh(&guard, &format!("{} {args} true </dev/null", nsclone.display()));
        assert_eq!((code(&out), stderr(&out)), (125, format!("nsclone: {message}\n")), "{args}");
    }
    // The PID cannot be written (a full disk) after the pin is made: the pin and its file go.
    let out = sh(&guard, &format!("{} --net={d}/a --pid-fd=3 true 3>/dev/full", nsclone.display()));
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("nsclone: cannot write pid to: --pid-fd=3: No space left"), "{}", stderr(&out));
    assert!(!dir.path().join("a").exists(), "pin file left after a late failure");
    std::fs::remove_file(dir.path().join("link")).unwrap();
    guard.check();
}

#[test]
fn a_pid_file_with_content_is_never_overwritten() {
    require_namespaces!();
    let dir = TempDir::new("nsclone-pidfile-kept");
    let pidfile = dir.path().join("pid");
    let guard = Guard::new(&[dir.path()]);
    let with_pidfile = || {
        let mut cmd = guard.command("nsclone");
        cmd.arg(format!("--pidfile={}", pidfile.display()));
        cmd
    };
    std::fs::write(&pidfile, "someone else's\n").unwrap();
    let out = with_pidfile().arg("true").output().unwrap();
    let refused = format!(
        "nsclone: cannot write pid file: {}: it exists and is not empty (remove it first)\n",
        pidfile.display()
    );
    assert_eq!((code(&out), stderr(&out)), (125, refused));
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), "someone else's\n");
    // An empty file the caller made (mktemp) is written and left to the caller; one we made is removed.
    std::fs::write(&pidfile, "").unwrap();
    let out = with_pidfile().args(["sh", "-c", "echo $$"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), stdout(&out));
    std::fs::remove_file(&pidfile).unwrap();
    let out = with_pidfile().arg("true").output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!pidfile.exists());
    guard.check();
}

#[test]
fn empty_and_odd_values_are_named() {
    require_namespaces!();
    let guard = Guard::new(&[]);
    let out = guard.command("nsclone").args(["-m", ""]).output().unwrap();
    assert_eq!((code(&out), stderr(&out).as_str()), (127, "nsclone: cannot execute: '': command not found\n"));
    let out = guard.command("nsclone").args(["-m-", "true"]).output().unwrap();
    assert!(
        stderr(&out).starts_with("nsclone: invalid option '-' in a cluster of short options; usage: "),
        "{}",
        stderr(&out)
    );
    guard.check();
}

#[test]
fn a_new_session_leaves_the_terminal_behind() {
    require_namespaces!();
    let work = TempDir::new("nsclone-session");
    work.open_to_all(0o755);
    let probe = nstools::probe_program(&work);
    require_host!(probe.is_some(), "gcc is not installed (to build the probe)");
    let probe = probe.unwrap().join("probe");
    let nsclone = work.tool_copy("nsclone");
    let guard = Guard::new(&[]);
    // Rootless, the command holds no CAP_SYS_ADMIN of the host: outside its session TIOCSTI is refused.
    for (session, verdict) in [(false, "TIOCSTI=ok"), (true, "TIOCSTI=EPERM")] {
        let script = format!(
            "{n} -r {s} {p} sti; read line; echo \"read:[$line]\"",
            n = nsclone.display(),
            s = if session { "--new-session" } else { "" },
            p = probe.display()
        );
        let mut cmd = guard.watch(Command::new("sh"));
        {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534).args(["-c", &script]);
        }
        let mut pty = nstools::pty::Pty::spawn(cmd);
        pty.expect(verdict, 10);
        if session {
            pty.send(b"typed\n");
            pty.expect("read:[typed]", 10);
        } else {
            // What the probe pushed is what the shell reads next.
            pty.expect("read:[echo INJECTED]", 10);
        }
        assert_eq!(pty.wait(10).code(), Some(0), "session={session}");
    }
    guard.check();
}

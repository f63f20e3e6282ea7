//! nstype, run for real: against the kernel, readlink and lsns.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;
use std::process::Command;

use nstools::{
    Guard, TempDir, bin, code, has_namespace, have_program, is_root, json, require, require_host, run, stderr, stdout,
    util_linux,
};

const TYPES: [&str; 8] = ["user", "cgroup", "ipc", "uts", "net", "pid", "mnt", "time"];

/// `type:[inode]` as readlink shows it, split.
fn readlink_ns(path: &str) -> Option<(String, u64)> {
    let link = std::fs::read_link(path).ok()?;
    let link = link.to_str()?;
    let (kind, rest) = link.split_once(":[")?;
    Some((kind.to_owned(), rest.strip_suffix(']')?.parse().ok()?))
}

/// Parse `-r` lines into one map per row.
fn raw_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    text.lines()
        .map(|line| {
            line.split(' ')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn every_own_namespace_has_the_right_type_and_id() {
    for kind in TYPES.iter().filter(|t| has_namespace(t)) {
        let path = format!("/proc/self/ns/{kind}");
        let out = run("nstype", &["-r", "-o", "type,ns", &path]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // nstype's /proc/self is nstype itself; it shares every namespace with us.
        let (want_type, want_id) = readlink_ns(&path).unwrap();
        assert_eq!(stdout(&out), format!("type={want_type} ns={want_id}\n"));
    }
}

#[test]
fn agrees_with_readlink_for_every_process_and_type() {
    let mut checked = 0;
    let mut denied = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let out = run("nstype", &["-r", "-o", "path,type,ns", "-p", &name]);
        if !std::path::Path::new(&format!("/proc/{name}")).exists() {
            continue; // gone while we looked
        }
        let rows = raw_rows(&stdout(&out));
        for kind in TYPES.iter().filter(|t| has_namespace(t)) {
            let path = format!("/proc/{name}/ns/{kind}");
            let row = rows.iter().find(|r| r["path"] == path);
            match (readlink_ns(&path), row) {
                (Some((t, id)), Some(row)) => {
                    assert_eq!(
                        (row["type"].as_str(), row["ns"].as_str()),
                        (t.as_str(), id.to_string().as_str()),
                        "{path}"
                    );
                    checked += 1;
                }
                (None, None) => {
                    // Both refused (ptrace rules) or the process just exited.
                    if std::fs::symlink_metadata(&path).is_ok() {
                        assert!(stderr(&out).contains(&format!("cannot open: {path}: ")), "{path}: {}", stderr(&out));
                        assert_eq!(code(&out), 125);
                        denied += 1;
                    }
                }
                (Some(_), None) if !std::path::Path::new(&format!("/proc/{name}")).exists() => {}
                (link, row) => panic!("{path}: readlink {link:?}, nstype {row:?}; {}", stderr(&out)),
            }
        }
    }
    eprintln!("checked {checked} namespace files, {denied} refused to both");
    assert!(checked >= 8, "too few processes checked: {checked}");
}

#[test]
fn agrees_with_lsns() {
    require_host!(have_program("lsns"), "lsns (util-linux) is not installed");
    let out = Command::new("lsns").args(["-J", "-o", "NS,TYPE,PID"]).output().unwrap();
    assert!(out.status.success(), "lsns failed: {}", stderr(&out));
    let doc = json::parse(&stdout(&out)).expect("lsns -J is JSON");
    let list = doc.get("namespaces").expect("namespaces").as_array();
    assert!(!list.is_empty());
    let mut checked = 0;
    for ns in list {
        let id = ns.get("ns").and_then(json::Value::as_u64).expect("ns");
        let kind = ns.get("type").and_then(json::Value::as_str).expect("type");
        let pid = ns.get("pid").and_then(json::Value::as_u64).expect("pid").to_string();
        let out = run("nstype", &["-J", "-o", "type,ns", "-p", &pid, kind]);
        if code(&out) != 0 && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        assert_eq!(code(&out), 0, "nstype -p {pid} {kind}: {}", stderr(&out));
        let doc = json::parse(&stdout(&out)).expect("nstype -J is JSON");
        let row = &doc.get("namespaces").unwrap().as_array()[0];
        assert_eq!(row.get("type").and_then(json::Value::as_str), Some(kind), "pid {pid}");
        assert_eq!(row.get("ns").and_then(json::Value::as_u64), Some(id), "pid {pid} {kind}");
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn json_and_raw_say_the_same() {
    let files: Vec<String> = TYPES.iter().filter(|t| has_namespace(t)).map(|t| format!("/proc/self/ns/{t}")).collect();
    let raw = raw_rows(&stdout(&run("nstype", &[&["-r".to_owned()], files.as_slice()].concat())));
    let out = run("nstype", &[&["-J".to_owned()], files.as_slice()].concat());
    let doc = json::parse(&stdout(&out)).expect("valid JSON");
    let rows = doc.get("namespaces").unwrap().as_array();
    assert_eq!(rows.len(), raw.len());
    for (j, r) in rows.iter().zip(&raw) {
        for key in ["path", "type", "ns", "userns", "parent", "owner"] {
            let value = match j.get(key).unwrap() {
                json::Value::Null => "-".to_owned(),
                json::Value::String(s) => s.clone(),
                v => v.as_u64().unwrap().to_string(),
            };
            assert_eq!(value, r[key], "{key}");
        }
    }
    // Only a user namespace has an owner uid; the initial pid namespace shows no parent.
    for r in &raw {
        assert_eq!(r["owner"] != "-", r["type"] == "user", "{r:?}");
        if r["type"] == "pid" {
            assert_eq!(r["parent"], "-");
        }
    }
}

#[test]
fn not_a_namespace_file() {
    for path in ["/etc/passwd", "/proc", "/dev/null"] {
        let out = run("nstype", &[path]);
        assert_eq!(code(&out), 125, "{path}");
        assert_eq!(stderr(&out), format!("nstype: {path}: not a namespace file\n"));
        assert_eq!(stdout(&out), "");
    }
    let out = run("nstype", &["/nonexistent"]);
    assert_eq!(code(&out), 125);
    assert_eq!(stderr(&out), "nstype: cannot open: /nonexistent: No such file or directory\n");
    // An empty name is still named.
    let out = run("nstype", &[""]);
    assert_eq!((code(&out), stderr(&out).as_str()), (125, "nstype: cannot open: '': No such file or directory\n"));
}

#[test]
fn a_fifo_is_not_opened_for_reading() {
    let dir = TempDir::new("nstype");
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Opening a FIFO for reading would block forever; nstype must not.
    let out = run("nstype", &[&fifo]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).ends_with(": not a namespace file\n"));
}

#[test]
fn good_files_are_still_shown_beside_bad_ones() {
    let out = run("nstype", &["-n", "-o", "type", "/etc/passwd", "/proc/self/ns/uts"]);
    assert_eq!(code(&out), 125);
    assert_eq!(stdout(&out), "uts\n");
}

#[test]
fn bad_pids_are_refused() {
    for pid in ["abc", "", "0", "-1", "1x", " 1", "2147483648", "99999999999"] {
        let out = run("nstype", &["-p", pid]);
        assert_eq!(code(&out), 125, "{pid:?}");
        assert!(stderr(&out).starts_with(&format!("nstype: invalid PID: '{pid}': ")), "{pid:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
    // 4194304 is a valid PID that no process has here.
    let out = run("nstype", &["-p", "4194304"]);
    assert_eq!(code(&out), 125);
    assert_eq!(stderr(&out), "nstype: no such process: 4194304\n");
    let out = run("nstype", &["-p", "1", "bogus"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).starts_with("nstype: invalid namespace type: 'bogus': expected one of user, cgroup"));
}

#[test]
fn pid_mode_takes_types() {
    let pid = std::process::id().to_string();
    let out = run("nstype", &["-n", "-o", "path,type", "-p", &pid, "net", "mount"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("/proc/{pid}/ns/net net\n/proc/{pid}/ns/mnt mnt\n"));
}

#[test]
fn type_predicate() {
    let t = |args: &[&str]| {
        let out = run("nstype", args);
        assert_eq!(stdout(&out), "", "-t prints nothing");
        (code(&out), stderr(&out))
    };
    assert_eq!(t(&["-t", "net", "/proc/self/ns/net"]), (0, String::new()));
    assert_eq!(t(&["-t", "net", "/proc/self/ns/net", "/proc/self/ns/uts"]), (1, String::new()));
    assert_eq!(t(&["-t", "mount", "/proc/self/ns/mnt"]), (0, String::new()));
    assert_eq!(t(&["-t", "net", "/etc/passwd"]), (1, String::new()));
    let (status, err) = t(&["-t", "net", "/nonexistent"]);
    assert_eq!((status, err.as_str()), (125, "nstype: cannot open: /nonexistent: No such file or directory\n"));
    assert_eq!(t(&["--type=bogus", "/proc/self/ns/net"]).0, 125);
}

#[test]
fn same_predicate() {
    let pid = std::process::id().to_string();
    let s = |a: &str, b: &str| code(&run("nstype", &["-s", a, b]));
    assert_eq!(s("/proc/self/ns/net", &format!("/proc/{pid}/ns/net")), 0);
    assert_eq!(s("/proc/self/ns/net", "/proc/self/ns/uts"), 1);
    assert_eq!(s("/proc/self/ns/pid", "/proc/self/ns/pid_for_children"), 0);
    assert_eq!(s("/proc/self/ns/net", "/etc/passwd"), 125);
    assert_eq!(code(&run("nstype", &["-s", "/proc/self/ns/net"])), 125);
}

#[test]
fn fd_paths_work() {
    let script = format!("exec 3</proc/self/ns/uts; exec {} -r -o path,type /proc/self/fd/3", bin("nstype").display());
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "path=/proc/self/fd/3 type=uts\n");
}

/// Pinned namespaces (bind mounts made by `unshare --TYPE=FILE`), seen from
/// the creator's side: their parents and owners are visible there.
#[test]
fn pinned_namespaces_show_parent_owner_and_chain() {
    require!(is_root(), "needs root to pin namespaces with bind mounts");
    require_host!(util_linux("unshare"), "util-linux unshare is not installed");
    let dir = TempDir::new("nstype-pin");
    for name in ["user", "pid", "net"] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    let guard = Guard::new(&[dir.path()]);
    let d = dir.path().display();
    let nstype = bin("nstype");
    let nstype = nstype.display();
    // All of it inside a private mount namespace, so the pins never reach the host.
    // util-linux 2.38 cannot pin a user namespace itself (--user=FILE), so a
    // child holds one while we bind it.
    let script = format!(
        "set -e
         unshare -U sleep 30 & holder=$!
         while [ \"$(readlink /proc/$holder/ns/user)\" = \"$(readlink /proc/self/ns/user)\" ]; do sleep 0.01; done
         mount --bind /proc/$holder/ns/user {d}/user
         kill $holder; wait $holder || true
         unshare --pid={d}/pid --fork true
         unshare --net={d}/net true
         {nstype} -n -r -o type,parent,owner {d}/user {d}/pid {d}/net
         echo ---
         {nstype} -n -r -o relation,type,ns --chain {d}/pid
         echo ---
         {nstype} -t net {d}/net && {nstype} -t user {d}/user && ! {nstype} -t net {d}/pid && echo predicates-ok"
    );
    let out = guard.in_private_mount_ns(&script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let mut parts = text.split("---\n");
    let own_user = readlink_ns("/proc/self/ns/user").unwrap().1;
    let own_pid = readlink_ns("/proc/self/ns/pid").unwrap().1;
    assert_eq!(
        parts.next().unwrap(),
        format!("type=user parent={own_user} owner=0\ntype=pid parent={own_pid} owner=-\ntype=net parent=- owner=-\n")
    );
    let chain = raw_rows(parts.next().unwrap());
    let relations: Vec<(&str, &str)> = chain.iter().map(|r| (r["relation"].as_str(), r["type"].as_str())).collect();
    assert_eq!(relations, [("self", "pid"), ("parent", "pid"), ("owner", "user")]);
    assert_eq!(chain[1]["ns"], own_pid.to_string());
    assert_eq!(chain[2]["ns"], own_user.to_string());
    assert_eq!(parts.next().unwrap(), "predicates-ok\n");
    guard.check();
}

#[test]
fn inside_a_user_namespace_the_outside_is_hidden() {
    require!(has_namespace("user"), "no user namespaces");
    require_host!(util_linux("unshare"), "util-linux unshare is not installed");
    let out = Command::new("unshare")
        .args(["-U", "--map-root-user"])
        .arg(bin("nstype"))
        .args(["-r", "-o", "type,userns,parent,owner", "/proc/self/ns/user"])
        .output()
        .unwrap();
    if code(&out) != 0 && stderr(&out).contains("Operation not permitted") {
        nstools::skip("unprivileged user namespaces are refused here");
        return;
    }
    // The parent (the initial user namespace) lies outside our view: '-'.
    assert_eq!(stdout(&out), "type=user userns=- parent=- owner=0\n", "{}", stderr(&out));
}

/// What a command printed, run to its end.
fn output_of(command: &mut Command) -> std::process::Output {
    command.output().unwrap()
}

/// `nsclone -mupin --pidfile WORK/pid COMMAND...`, watched by the guard, and the PID of
/// COMMAND once the pid file names it.
fn container(guard: &Guard, work: &TempDir, command: &[&std::ffi::OsStr]) -> (std::process::Child, i32) {
    let pidfile = work.path().join("pid");
    let child = guard
        .watch(Command::new(bin("nsclone")))
        .args(["-mupin", "--pidfile"])
        .arg(&pidfile)
        .args(command)
        .spawn()
        .unwrap();
    (child, pid_in(&pidfile))
}

/// The PID a pid file names, once it does.
fn pid_in(pidfile: &std::path::Path) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(pidfile).ok().and_then(|t| t.trim().parse::<i32>().ok()) {
            return pid;
        }
        assert!(std::time::Instant::now() < deadline, "no pid file");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `--list` against lsns, on a container of our own: its own namespaces
/// (UTS, IPC, network, PID) hold its init and its command, the lowest
/// PID is the init's, and lsns -p says the same of each; `-t` filters and
/// `--tree` nests the container's PID namespace below ours.
#[test]
fn the_list_agrees_with_lsns_on_a_container() {
    require!(
        is_root() && ["mnt", "uts", "ipc", "net", "pid"].iter().all(|n| has_namespace(n)),
        "needs root and namespaces"
    );
    require_host!(have_program("lsns"), "lsns (util-linux) is not installed");
    let work = TempDir::new("nstype-list");
    let guard = Guard::new(&[]);
    let (mut container, pid) = container(&guard, &work, &["sleep".as_ref(), "60".as_ref()]);
    // Not its mount namespace: nsclone's init leaves it for one of its own, meanwhile.
    let own = ["uts", "ipc", "net", "pid"];
    let words = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|w| own.contains(&w[1].as_str()))
            .collect()
    };
    let ours =
        output_of(Command::new(bin("nstype")).args(["-l", "-n", "-o", "ns,type,nprocs,pid", "-p", &pid.to_string()]));
    let lsns = output_of(Command::new("lsns").args(["-n", "-r", "-o", "NS,TYPE,NPROCS,PID", "-p", &pid.to_string()]));
    let (ours, lsns) = (words(&stdout(&ours)), words(&stdout(&lsns)));
    assert_eq!(ours.len(), 4, "{ours:?}");
    assert_eq!(ours, lsns, "nstype --list -p against lsns -p");
    let init = ours[0][3].clone();
    for row in &ours {
        assert_eq!((row[2].as_str(), row[3].as_str()), ("2", init.as_str()), "the init and sleep: {row:?}");
        assert_eq!(Some(row[0].parse().unwrap()), readlink_ns(&format!("/proc/{pid}/ns/{}", row[1])).map(|r| r.1));
    }
    // -t filters; the command column is the lowest PID's (the init, nsclone).
    let nets = stdout(&output_of(Command::new(bin("nstype")).args(["-l", "-n", "-t", "net", "-o", "type,command"])));
    assert!(nets.lines().all(|l| l.starts_with("net ")), "{nets}");
    assert!(nets.lines().any(|l| l.starts_with("net ") && l.contains("nsclone -mupin")), "{nets}");
    // The tree: the container's PID namespace one level below ours.
    let tree =
        stdout(&output_of(Command::new(bin("nstype")).args(["-l", "--tree", "-n", "-t", "pid", "-o", "ns,nprocs"])));
    let theirs = readlink_ns(&format!("/proc/{pid}/ns/pid")).unwrap().1;
    assert!(tree.lines().any(|l| l.starts_with(&format!("└─{theirs} "))), "{tree}");
    let mine = readlink_ns("/proc/self/ns/pid").unwrap().1;
    assert!(tree.lines().any(|l| l.starts_with(&format!("{mine} "))), "{tree}");
    // SAFETY: kill(2) of the container we started, by its PID.
    unsafe { libc::kill(container.id() as i32, libc::SIGTERM) };
    let _ = container.wait();
    guard.check();
}

/// Each row of a tree listing, in order, with its depth: lsns's from its JSON (nested
/// `children`), ours from the table (two characters of drawing per level before the id).
fn lsns_tree(how: &str) -> Vec<(u64, usize)> {
    fn walk(rows: &[json::Value], depth: usize, out: &mut Vec<(u64, usize)>) {
        for row in rows {
            out.push((row.get("ns").and_then(json::Value::as_u64).unwrap(), depth));
            if let Some(children) = row.get("children") {
                walk(children.as_array(), depth + 1, out);
            }
        }
    }
    let out = output_of(Command::new("lsns").args(["-J", &format!("--tree={how}"), "-o", "NS,PID,COMMAND"]));
    let doc = json::parse(&stdout(&out)).expect("lsns -J is JSON");
    let mut rows = Vec::new();
    walk(doc.get("namespaces").unwrap().as_array(), 0, &mut rows);
    rows
}

fn nstype_tree(how: &str) -> Vec<(u64, usize)> {
    let out = output_of(Command::new(bin("nstype")).args(["-l", &format!("--tree={how}"), "-n", "-o", "ns"]));
    stdout(&out)
        .lines()
        .map(|line| {
            let digits = line.find(|c: char| c.is_ascii_digit()).unwrap();
            (line[digits..].trim().parse().unwrap(), line[..digits].chars().count() / 2)
        })
        .collect()
}

/// A row's depth and the row it nests under (the nearest row above it one level up).
fn place(rows: &[(u64, usize)], ns: u64) -> Option<(usize, Option<u64>)> {
    let at = rows.iter().position(|r| r.0 == ns)?;
    let depth = rows[at].1;
    let above = rows[..at].iter().rev().find(|r| depth > 0 && r.1 == depth - 1).map(|r| r.0);
    Some((depth, above))
}

/// `--tree=owner` and `--tree=process` nest as lsns nests them: a container's namespaces
/// below the user namespace that owns them; a UTS namespace its command made below the
/// last row of the init that started it.
#[test]
fn the_trees_nest_as_lsns_nests_them() {
    require!(
        is_root() && ["mnt", "uts", "ipc", "net", "pid"].iter().all(|n| has_namespace(n)),
        "needs root and namespaces"
    );
    require_host!(util_linux("lsns"), "lsns (util-linux) is not installed");
    let work = TempDir::new("nstype-trees");
    let guard = Guard::new(&[]);
    let unshare = bin("nsunshare");
    let (mut container, sleep) =
        container(&guard, &work, &[unshare.as_ref(), "-u".as_ref(), "sleep".as_ref(), "60".as_ref()]);
    // The pid file names the command; the init is its parent.
    let stat = std::fs::read_to_string(format!("/proc/{sleep}/stat")).unwrap();
    let init: i32 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let nested = loop {
        let (own, theirs) =
            (readlink_ns(&format!("/proc/{init}/ns/uts")), readlink_ns(&format!("/proc/{sleep}/ns/uts")));
        if let (Some(own), Some(theirs)) = (own, theirs)
            && own != theirs
        {
            break theirs.1;
        }
        assert!(std::time::Instant::now() < deadline, "no UTS namespace of the command's own");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let container_net = readlink_ns(&format!("/proc/{init}/ns/net")).unwrap().1;
    let container_uts = readlink_ns(&format!("/proc/{init}/ns/uts")).unwrap().1;
    let host_user = readlink_ns("/proc/self/ns/user").unwrap().1;
    for (how, ns, want) in [
        ("owner", container_net, (1, Some(host_user))),
        ("owner", nested, (1, Some(host_user))),
        ("process", nested, (1, None)),
    ] {
        // Other tests start and end processes meanwhile: the rows asked about are stable.
        let (ours, theirs) = (nstype_tree(how), lsns_tree(how));
        let (ours, theirs) = (place(&ours, ns), place(&theirs, ns));
        assert_eq!(ours, theirs, "--tree={how}: the row of {ns}");
        let got = ours.unwrap();
        assert_eq!(got.0, want.0, "--tree={how}: the depth of {ns}");
        if want.1.is_some() {
            assert_eq!(got.1, want.1, "--tree={how}: what {ns} is below");
        }
    }
    // Process: below the last row of the init, one of the container's own.
    let ours = nstype_tree("process");
    let above = place(&ours, nested).unwrap().1.unwrap();
    assert!(ours.iter().filter(|r| r.1 == 0).any(|r| r.0 == above), "{ours:?}");
    assert!(place(&ours, container_uts).is_some_and(|p| p.0 == 0), "{ours:?}");
    // SAFETY: kill(2) of the container we started, by its PID.
    unsafe { libc::kill(container.id() as i32, libc::SIGTERM) };
    let _ = container.wait();
    guard.check();
}

/// A namespace kept only by an nsfs mount is listed with no process and the
/// mount as its path; a command line's escape sequence (the only process of
/// a UTS namespace of its own) reaches no terminal.
#[test]
fn the_list_shows_pins_and_escapes_commands() {
    require!(is_root() && has_namespace("net"), "needs root to pin namespaces with bind mounts");
    let dir = TempDir::new("nstype-list-pin");
    std::fs::write(dir.path().join("net"), "").unwrap();
    let guard = Guard::new(&[dir.path()]);
    let d = dir.path().display();
    // A process of its own holds the escaped command line: a shell reading a FIFO we close.
    let scratch = TempDir::new("nstype-list-fifo");
    let w = scratch.path().display();
    let (nstype, nsclone) = (bin("nstype"), bin("nsclone"));
    let (nstype, nsclone) = (nstype.display(), nsclone.display());
    let script = format!(
        "set -e
         {nsclone} --net={d}/net true
         {nstype} -l -n -t net -o nprocs,path | grep ' {d}/net$'
         mkfifo {w}/in
         {nsclone} -u --pidfile={w}/pid sh -c 'read x; : \"$0\"' \"$(printf 'evil \\033]0;T\\007')\" <{w}/in >/dev/null 2>&1 & s=$!
         exec 3>{w}/in
         while [ ! -s {w}/pid ]; do sleep 0.05; done
         {nstype} -l -n -p \"$(cat {w}/pid)\" -t uts -o command
         exec 3>&-
         wait $s
         umount {d}/net"
    );
    let out = guard.in_private_mount_ns(&script);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap().split_whitespace().collect::<Vec<_>>(), ["0", &format!("{d}/net")]);
    let command = lines.next().unwrap_or_default();
    assert!(command.ends_with("evil \\x1b]0;T\\x07"), "{command:?}");
    assert!(!command.contains('\u{1b}') && !command.contains('\u{7}'), "{command:?}");
    guard.check();
}

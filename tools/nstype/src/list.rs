//! `nstype --list`: every namespace this /proc shows, as lsns(8) lists them:
//! each with the number of processes in it, the lowest of their PIDs, that
//! process's user and command; namespaces that only a bind mount keeps (an
//! nsfs mount such as /run/netns/NAME) with that mount as their path.

use std::collections::BTreeMap;

use common::ns::{self, Namespace};

/// What /proc tells of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    /// Its parent's PID (0 when not read: only `--tree=process` needs it).
    pub ppid: i32,
    pub uid: u32,
    pub command: String,
    /// Its namespaces: the type and the inode, as readlink shows them.
    pub namespaces: Vec<(&'static Namespace, u64)>,
}

/// One namespace of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub kind: &'static Namespace,
    pub id: u64,
    /// Its processes, lowest PID first.
    pub pids: Vec<i32>,
    /// The lowest PID's user and command.
    pub uid: Option<u32>,
    pub command: Option<String>,
    /// Where a bind mount keeps it (the first, if several).
    pub pin: Option<String>,
}

/// The namespace a `/proc/PID/ns/X` link names: `net:[4026531840]`.
pub fn parse_link(text: &str) -> Option<(&'static Namespace, u64)> {
    let (name, rest) = text.split_once(":[")?;
    let id = rest.strip_suffix(']')?.parse().ok()?;
    Some((ns::by_proc_name(name)?, id))
}

/// The nsfs mounts of a mountinfo text: the namespace each keeps, and where.
pub fn pins(mountinfo: &str) -> Vec<(&'static Namespace, u64, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            if *fields.get(sep + 1)? != "nsfs" {
                return None;
            }
            let (kind, id) = parse_link(fields.get(3)?)?;
            Some((kind, id, common::procfs::unescape_mountinfo(fields.get(4)?)))
        })
        .collect()
}

/// Group the processes by namespace, add the namespaces only pins keep, and
/// order them as lsns does: by id.
pub fn group(processes: &[Process], pinned: &[(&'static Namespace, u64, String)]) -> Vec<Listed> {
    // Ids are inodes of one file system, unique across types; the type only breaks a tie.
    let mut by_ns: BTreeMap<(u64, usize), Listed> = BTreeMap::new();
    let order = |kind: &Namespace| ns::NAMESPACES.iter().position(|n| n.flag == kind.flag).unwrap_or(usize::MAX);
    let mut sorted: Vec<&Process> = processes.iter().collect();
    sorted.sort_by_key(|p| p.pid);
    for p in sorted {
        for &(kind, id) in &p.namespaces {
            let entry = by_ns.entry((id, order(kind))).or_insert_with(|| Listed {
                kind,
                id,
                pids: Vec::new(),
                uid: Some(p.uid),
                command: Some(p.command.clone()),
                pin: None,
            });
            entry.pids.push(p.pid);
        }
    }
    for (kind, id, point) in pinned {
        let entry = by_ns.entry((*id, order(kind))).or_insert_with(|| Listed {
            kind,
            id: *id,
            pids: Vec::new(),
            uid: None,
            command: None,
            pin: None,
        });
        entry.pin.get_or_insert_with(|| point.clone());
    }
    by_ns.into_values().collect()
}

/// The command of a process as lsns shows it: its arguments joined by
/// spaces; a kernel thread's (no arguments) its name.
pub fn command_of(cmdline: &[u8], comm: &str) -> String {
    let args: Vec<String> =
        cmdline.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if args.is_empty() { comm.trim_end().to_owned() } else { args.join(" ") }
}

/// Every process /proc shows, and how many of them could not be read (they
/// ended meanwhile, or their namespaces are another user's to see).
pub fn scan(with_parents: bool) -> (Vec<Process>, usize) {
    use std::os::unix::fs::MetadataExt;
    let mut processes = Vec::new();
    let mut unreadable = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else { return (processes, 0) };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let dir = entry.path();
        let Ok(meta) = std::fs::metadata(&dir) else { continue };
        let mut namespaces = Vec::new();
        let mut denied = false;
        for kind in &ns::NAMESPACES {
            match std::fs::read_link(dir.join("ns").join(kind.proc_name)) {
                Ok(link) => namespaces.extend(link.to_str().and_then(parse_link)),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(_) => denied = true,
            }
        }
        if namespaces.is_empty() {
            // Gone meanwhile, or none of it ours to read.
            unreadable += usize::from(denied);
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let ppid = if with_parents {
            std::fs::read_to_string(dir.join("stat")).ok().as_deref().and_then(parent_in_stat).unwrap_or(0)
        } else {
            0
        };
        processes.push(Process { pid, ppid, uid: meta.uid(), command: command_of(&cmdline, &comm), namespaces });
    }
    (processes, unreadable)
}

/// The parent PID in a `/proc/PID/stat` text (after the command in parentheses, which may hold
/// anything: the state, then the parent).
pub fn parent_in_stat(stat: &str) -> Option<i32> {
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// For each row (the lowest PID speaking for it, if any), the row it nests under in lsns's
/// process tree: of the rows above it, the last one that its process's parent speaks for.
/// Rows that share a process are siblings; `parents` maps each PID to its parent.
pub fn by_process(pids: &[Option<i32>], parents: &std::collections::HashMap<i32, i32>) -> Vec<Option<usize>> {
    pids.iter()
        .enumerate()
        .map(|(row, &pid)| {
            let parent = parents.get(&pid?).copied().filter(|&p| p > 0 && Some(p) != pid)?;
            pids[..row].iter().rposition(|&p| p == Some(parent))
        })
        .collect()
}

/// The namespaces as a tree by their parents (pid and user namespaces):
/// each row's depth, in the order a tree is read, parents first.
pub fn tree_order(rows: &[(u64, Option<u64>)]) -> Vec<(usize, usize)> {
    let known: std::collections::HashSet<u64> = rows.iter().map(|r| r.0).collect();
    let mut out = Vec::new();
    let visit = |start: usize, out: &mut Vec<(usize, usize)>| {
        // Depth-first without recursion, bounded by the rows (a cycle cannot loop).
        let mut stack = vec![(start, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            if out.iter().any(|&(j, _)| j == i) {
                continue;
            }
            out.push((i, depth));
            let children: Vec<usize> =
                rows.iter().enumerate().filter(|(_, r)| r.1 == Some(rows[i].0)).map(|(j, _)| j).collect();
            stack.extend(children.into_iter().rev().map(|j| (j, depth + 1)));
        }
    };
    for (i, row) in rows.iter().enumerate() {
        if row.1.is_none_or(|p| !known.contains(&p)) {
            visit(i, &mut out);
        }
    }
    // What a cycle kept from every root: at the top level.
    for i in 0..rows.len() {
        if !out.iter().any(|&(j, _)| j == i) {
            visit(i, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> &'static Namespace {
        ns::by_name(name).unwrap()
    }

    #[test]
    fn links_and_pins_name_their_namespaces() {
        assert_eq!(parse_link("net:[4026531840]"), Some((kind("net"), 4026531840)));
        assert_eq!(parse_link("pid_for_children:[1]"), None);
        assert_eq!(parse_link("mnt:[x]"), None);
        assert_eq!(parse_link("junk"), None);
        let mountinfo = "30 1 0:4 net:[4026532281] /run/netns/blue rw shared:5 - nsfs nsfs rw\n\
                         31 1 0:4 / /proc rw - proc proc rw\n\
                         32 1 0:4 uts:[4026532300] /run/a\\040b rw - nsfs nsfs rw\n";
        assert_eq!(
            pins(mountinfo),
            [(kind("net"), 4026532281, "/run/netns/blue".to_owned()), (kind("uts"), 4026532300, "/run/a b".to_owned())]
        );
    }

    #[test]
    fn processes_group_by_namespace_the_lowest_pid_speaking_for_it() {
        let p =
            |pid, uid, command: &str, namespaces| Process { pid, ppid: 0, uid, command: command.into(), namespaces };
        let processes = [
            p(40, 1000, "sleep 9", vec![(kind("net"), 7), (kind("uts"), 3)]),
            p(1, 0, "/sbin/init", vec![(kind("net"), 5), (kind("uts"), 3)]),
            p(12, 0, "sh", vec![(kind("net"), 7), (kind("uts"), 3)]),
        ];
        let listed = group(&processes, &[(kind("net"), 9, "/run/netns/x".into()), (kind("net"), 7, "/run/y".into())]);
        type Row<'a> = (&'a str, u64, Vec<i32>, Option<&'a str>, Option<&'a str>);
        let rows: Vec<Row<'_>> = listed
            .iter()
            .map(|l| (l.kind.name, l.id, l.pids.clone(), l.command.as_deref(), l.pin.as_deref()))
            .collect();
        assert_eq!(
            rows,
            [
                ("uts", 3, vec![1, 12, 40], Some("/sbin/init"), None),
                ("net", 5, vec![1], Some("/sbin/init"), None),
                ("net", 7, vec![12, 40], Some("sh"), Some("/run/y")),
                ("net", 9, vec![], None, Some("/run/netns/x")),
            ]
        );
        assert_eq!(listed[2].uid, Some(0), "the lowest PID's user");
    }

    #[test]
    fn a_process_tree_nests_each_row_under_the_last_row_of_its_parent_above_it() {
        assert_eq!(parent_in_stat("42 (a) b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("42 (x"), None);
        // 1 -> 5 -> 9 -> 12; 1 -> 30 -> 31. Rows: 2 (its parent 1 has no row above it), 1,
        // 9 (its parent 5 speaks for none), 12, 30, 1 again, 31, a pinned one, 99 (parent gone).
        let parents: std::collections::HashMap<i32, i32> =
            [(1, 0), (5, 1), (9, 5), (12, 9), (30, 1), (31, 30), (99, 77), (2, 1)].into_iter().collect();
        let pids = [Some(2), Some(1), Some(9), Some(12), Some(30), Some(1), Some(31), None, Some(99)];
        let want = [None, None, None, Some(2), Some(1), None, Some(4), None, None];
        assert_eq!(by_process(&pids, &parents), want);
        let own: std::collections::HashMap<i32, i32> = [(3, 3)].into_iter().collect();
        assert_eq!(by_process(&[Some(3), Some(3)], &own), [None, None]);
    }

    #[test]
    fn commands_read_as_lsns_shows_them() {
        assert_eq!(command_of(b"sleep\x0060\x00", "sleep\n"), "sleep 60");
        assert_eq!(command_of(b"", "kthreadd\n"), "kthreadd");
        assert_eq!(command_of(b"a\xffb\x00", "x"), "a\u{fffd}b");
    }

    #[test]
    fn a_tree_reads_parents_first_and_survives_a_cycle() {
        // 1 is the root; 2 and 3 its children; 4 below 3; 8 and 9 name each other.
        let rows = [(3, Some(1)), (1, None), (4, Some(3)), (2, Some(1)), (8, Some(9)), (9, Some(8)), (5, Some(77))];
        let order: Vec<(u64, usize)> = tree_order(&rows).into_iter().map(|(i, d)| (rows[i].0, d)).collect();
        assert_eq!(order, [(1, 0), (3, 1), (4, 2), (2, 1), (5, 0), (8, 0), (9, 1)]);
    }
}

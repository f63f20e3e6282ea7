//! nstype: tell what a namespace file is and how it relates to other namespaces.

#![cfg_attr(not(test), no_main)]

mod list;
mod output;

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use common::cli::{self, Cli, Parsed};
use common::error::quoted;
use common::ns::{self, Namespace};
use common::values;
use common::{Error, exit};
use lexopt::prelude::*;

use output::{Column, Format, Info};

common::tool_main!("nstype", run);

const CLI: Cli = Cli {
    tool: "nstype",
    synopsis: "nstype [-J|-r] [-n] [-o COLS] FILE... | -p PID [TYPE...] | -t TYPE FILE... | -s FILE1 FILE2 | --chain FILE... | --list [-t TYPE]... [-p PID] [--tree[=MODE]]",
    help: "\
Usage:
  nstype [options] FILE...
  nstype [options] -p PID [TYPE...]
  nstype -t TYPE FILE...
  nstype -s FILE1 FILE2
  nstype [options] --chain FILE...
  nstype [options] --list [-t TYPE]... [-p PID] [--tree[=MODE]]

Tell what namespace each FILE is (a /proc/PID/ns/* entry, a bind-mounted
namespace file such as /run/netns/NAME, or /proc/self/fd/N) and how it
relates to other namespaces.

Options:
  -p, --pid=PID        show the namespaces of process PID: every type, or the TYPEs given
  -t, --type=TYPE      exit 0 if every FILE is a TYPE namespace, 1 if not; print nothing
  -s, --same           exit 0 if FILE1 and FILE2 are the same namespace, 1 if not
      --chain          walk each FILE's parents and owning user namespaces upward
  -l, --list           list every namespace /proc shows, as lsns does (with -t: those
                       TYPEs; with -p: those of process PID; nsfs mounts as their path)
      --tree[=MODE]    with --list, nested as lsns --tree nests them: by the parent of
                       pid and user namespaces (the default), by the user namespace
                       that owns each, or by the process tree of their lowest PIDs;
                       MODE is parent, owner or process
  -o, --output=COLS    columns to show, comma-separated
  -J, --json           print JSON
  -r, --raw            print key=value lines that a shell can eval
  -n, --noheadings     do not print the header line
  -h, --help           show this help and exit
  -V, --version        show the version and exit

Columns (default: path,type,ns,userns,parent,owner; --list: ns,type,nprocs,pid,user,command):
  path      the file as given; with --list, the nsfs mount that keeps it
  type      user, cgroup, ipc, uts, net, pid, mnt or time
  ns        the namespace id: the inode that readlink and lsns show
  userns    id of the owning user namespace
  parent    id of the parent namespace (pid and user namespaces)
  owner     uid of the creator of a user namespace
  relation  in --chain output: self, parent or owner of the row above
  nprocs    with --list: how many processes are in it
  pid       with --list: the lowest PID in it
  user      with --list: that process's user
  command   with --list: that process's command line

A '-' (null in JSON) marks a value that does not apply, or that lies
outside the caller's view.

With --list, processes whose namespaces cannot be read (another user's, or
one that no one may inspect) are counted and said on stderr.

Exit status: 0 success; 1 a -t or -s test is false; 125 an error.
",
};

#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Show,
    Pid(i32),
    Type(&'static Namespace),
    Same,
    Chain,
    List { types: Vec<&'static Namespace>, pid: Option<i32>, tree: Option<TreeBy> },
}

/// How `--list --tree` nests its rows (lsns's `--tree=parent|owner|process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeBy {
    Parent,
    Owner,
    Process,
}

impl TreeBy {
    fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "parent" => Ok(Self::Parent),
            "owner" => Ok(Self::Owner),
            "process" => Ok(Self::Process),
            _ => Err(Error::new("invalid tree mode", quoted(text), "it is parent, owner or process")),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Args {
    mode: Mode,
    format: Format,
    columns: Vec<Column>,
    headings: bool,
    operands: Vec<OsString>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>, Error> {
    let usage = |e: lexopt::Error| CLI.usage_error(e);
    let mut parser = lexopt::Parser::from_args(args);
    let mut modes = Vec::new();
    let mut format = Format::Table;
    let mut columns = None;
    let mut headings = true;
    let mut operands = Vec::new();
    let (mut list, mut tree) = (false, None);
    // -h and -V win, but only once the whole line parsed (so `--help=x` is refused).
    let mut asked = None;
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('p') | Long("pid") => {
                let text = cli::string_value(&mut parser).map_err(usage)?;
                let pid = values::parse_pid(&text).map_err(|why| Error::new("invalid PID", quoted(&text), why))?;
                modes.push(Mode::Pid(pid));
            }
            Short('t') | Long("type") => {
                let text = cli::string_value(&mut parser).map_err(usage)?;
                modes.push(Mode::Type(namespace_type(&text)?));
            }
            Short('s') | Long("same") => modes.push(Mode::Same),
            Long("chain") => modes.push(Mode::Chain),
            Short('l') | Long("list") => list = true,
            Long("tree") => {
                let how = match parser.optional_value() {
                    Some(value) => TreeBy::parse(&value.string().map_err(usage)?)?,
                    None => TreeBy::Parent,
                };
                tree = Some(how);
            }
            Short('o') | Long("output") => {
                let text = cli::string_value(&mut parser).map_err(usage)?;
                columns = Some(Column::parse_list(&text)?);
            }
            Short('J') | Long("json") => format = Format::Json,
            Short('r') | Long("raw") => format = Format::Raw,
            Short('n') | Long("noheadings") => headings = false,
            Short('h') | Long("help") => asked = asked.or(Some(Parsed::Help)),
            Short('V') | Long("version") => asked = asked.or(Some(Parsed::Version)),
            Value(first) => {
                operands = cli::command(&mut parser, first).map_err(usage)?;
                break;
            }
            _ => return Err(usage(arg.unexpected())),
        }
    }
    if let Some(asked) = asked {
        return Ok(asked);
    }
    let mode = if list {
        list_mode(modes, tree, &operands)?
    } else if tree.is_some() {
        return Err(CLI.usage_error("--tree goes with --list"));
    } else {
        one_mode(modes, &operands)?
    };
    let columns = columns.unwrap_or_else(|| match mode {
        Mode::List { .. } => Column::default_list(),
        _ => Column::default_for(mode == Mode::Chain),
    });
    Ok(Parsed::Run(Args { mode, format, columns, headings, operands }))
}

/// `--list`: `-t` filters by type (any number of them), `-p` names one process; no FILE.
fn list_mode(modes: Vec<Mode>, tree: Option<TreeBy>, operands: &[OsString]) -> Result<Mode, Error> {
    if let Some(first) = operands.first() {
        return Err(CLI.usage_error(format!("--list takes no FILE: {}", quoted(first))));
    }
    let (mut types, mut pid) = (Vec::new(), None);
    for mode in modes {
        match mode {
            Mode::Type(t) => types.push(t),
            Mode::Pid(p) if pid.is_none() => pid = Some(p),
            Mode::Pid(_) => return Err(CLI.usage_error("--list takes one -p PID")),
            _ => return Err(CLI.usage_error("-s and --chain do not go with --list")),
        }
    }
    Ok(Mode::List { types, pid, tree })
}

/// The one mode asked for, with the operands it takes.
fn one_mode(mut modes: Vec<Mode>, operands: &[OsString]) -> Result<Mode, Error> {
    if modes.len() > 1 {
        return Err(CLI.usage_error("-p, -t, -s and --chain exclude each other"));
    }
    let mode = modes.pop().unwrap_or(Mode::Show);
    match (&mode, operands.len()) {
        (Mode::Pid(_), _) => {}
        (Mode::Same, 2) => {}
        (Mode::Same, _) => return Err(CLI.usage_error("-s compares exactly two FILEs")),
        (_, 0) => return Err(CLI.usage_error("no FILE given")),
        _ => {}
    }
    if let Mode::Pid(_) = mode {
        for text in operands {
            namespace_type(&text.to_string_lossy())?;
        }
    }
    Ok(mode)
}

fn namespace_type(text: &str) -> Result<&'static Namespace, Error> {
    ns::by_name(text)
        .ok_or_else(|| Error::new("invalid namespace type", quoted(text), format!("expected one of {}", ns::names())))
}

fn run(argv: Vec<OsString>) -> Result<i32, Error> {
    let Some(args) = CLI.finish(parse_args(argv))? else {
        return Ok(0);
    };
    match args.mode {
        Mode::Show => show(&args, args.operands.iter().map(OsString::as_os_str), false),
        Mode::Chain => show(&args, args.operands.iter().map(OsString::as_os_str), true),
        Mode::Pid(pid) => {
            let files = pid_files(pid, &args.operands)?;
            show(&args, files.iter().map(OsString::as_os_str), false)
        }
        Mode::Type(want) => Ok(is_type(want, &args.operands)),
        Mode::Same => same(&args.operands[0], &args.operands[1]),
        Mode::List { ref types, pid, tree } => list_all(&args, types, pid, tree),
    }
}

/// `--list`: every namespace /proc shows, grouped from its processes, with
/// the nsfs mounts; the relations asked for read from the lowest PID's
/// namespace file (or the mount's).
fn list_all(args: &Args, types: &[&'static Namespace], pid: Option<i32>, tree: Option<TreeBy>) -> Result<i32, Error> {
    let (processes, unreadable) = list::scan(tree == Some(TreeBy::Process));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut rows = list::group(&processes, &list::pins(&mountinfo));
    if let Some(pid) = pid {
        let Some(own) = processes.iter().find(|p| p.pid == pid) else {
            return Err(Error::new("no such process", pid, ""));
        };
        rows.retain(|r| own.namespaces.iter().any(|&(k, id)| k.flag == r.kind.flag && id == r.id));
    }
    let types: Vec<&Namespace> = match (types.is_empty(), tree) {
        (false, _) => types.to_vec(),
        // A tree nests by parent: pid and user namespaces are the ones that have parents.
        (true, Some(TreeBy::Parent)) => ns::NAMESPACES.iter().filter(|n| is_hierarchical(n)).collect(),
        (true, _) => Vec::new(),
    };
    if !types.is_empty() {
        rows.retain(|r| types.iter().any(|t| t.flag == r.kind.flag));
    }
    let wants = |c: Column| {
        args.columns.contains(&c)
            || (tree == Some(TreeBy::Parent) && c == Column::Parent)
            || (tree == Some(TreeBy::Owner) && c == Column::Userns)
    };
    let relations = wants(Column::Userns) || wants(Column::Parent) || wants(Column::Owner);
    let mut infos: Vec<Info> = rows
        .iter()
        .map(|r| {
            let file = r.pids.first().map(|p| format!("/proc/{p}/ns/{}", r.kind.proc_name)).or_else(|| r.pin.clone());
            let opened = relations.then(|| file.and_then(|f| ns::open(std::ffi::OsStr::new(&f)).ok())).flatten();
            let mut info = match &opened {
                // The same namespace still (a PID reused meanwhile would name another): its relations.
                Some((fd, kind)) if kind.flag == r.kind.flag && ns::inode(fd.as_fd()) == Some(r.id) => {
                    describe(fd.as_fd(), kind, None, "self")
                }
                _ => Info {
                    path: None,
                    kind: r.kind.name,
                    id: r.id,
                    userns: None,
                    parent: None,
                    owner: None,
                    relation: "self",
                    listed: None,
                    depth: 0,
                },
            };
            info.path = r.pin.clone();
            info.listed = Some(output::Listed {
                nprocs: r.pids.len() as u64,
                pid: r.pids.first().map(|&p| p as u64),
                user: r.uid.map(|u| common::userns::user_name(u).unwrap_or_else(|| u.to_string())),
                command: r.command.as_deref().map(common::error::printable),
            });
            info
        })
        .collect();
    match tree {
        Some(TreeBy::Parent) => infos = nest(infos),
        Some(TreeBy::Owner) => infos = nest_by(infos, |i| i.userns),
        Some(TreeBy::Process) => {
            let parents: std::collections::HashMap<i32, i32> = processes.iter().map(|p| (p.pid, p.ppid)).collect();
            let pids: Vec<Option<i32>> = rows.iter().map(|r| r.pids.first().copied()).collect();
            let below = list::by_process(&pids, &parents);
            let ids: Vec<u64> = infos.iter().map(|i| i.id).collect();
            infos = nest_by(infos, |i| {
                let at = ids.iter().position(|&id| id == i.id)?;
                below[at].map(|up| ids[up])
            });
        }
        None => {}
    }
    if unreadable > 0 {
        let s = if unreadable == 1 { "" } else { "es" };
        common::report(&Error::new(
            "warning",
            format!("{unreadable} process{s}"),
            "not counted: their namespaces could not be read (another user's, or a process no one may inspect)",
        ));
    }
    common::print(&output::render(&infos, &args.columns, args.format, args.headings))?;
    Ok(0)
}

/// The rows in tree order (each type apart: pid below pid, user below user), each with its depth.
fn nest(infos: Vec<Info>) -> Vec<Info> {
    let mut out = Vec::with_capacity(infos.len());
    for kind in &ns::NAMESPACES {
        let of_kind: Vec<&Info> = infos.iter().filter(|i| i.kind == kind.name).collect();
        let links: Vec<(u64, Option<u64>)> = of_kind.iter().map(|i| (i.id, i.parent)).collect();
        for (i, depth) in list::tree_order(&links) {
            out.push(Info { depth, ..of_kind[i].clone() });
        }
    }
    out
}

/// The rows in tree order, each below the row `above` names (by id), with its depth.
fn nest_by(infos: Vec<Info>, above: impl Fn(&Info) -> Option<u64>) -> Vec<Info> {
    let links: Vec<(u64, Option<u64>)> = infos.iter().map(|i| (i.id, above(i))).collect();
    list::tree_order(&links).into_iter().map(|(i, depth)| Info { depth, ..infos[i].clone() }).collect()
}

/// Print one row per file (or per step of each chain); report each failure
/// and go on with the next file, as ls does.
fn show<'a>(args: &Args, files: impl Iterator<Item = &'a OsStr>, chain: bool) -> Result<i32, Error> {
    let mut rows = Vec::new();
    let mut status = 0;
    for file in files {
        match ns::open(file) {
            Ok((fd, ns)) => {
                let shown = file.to_string_lossy().into_owned();
                if chain {
                    rows.extend(walk_chain(fd.as_fd(), ns, shown));
                } else {
                    rows.push(describe(fd.as_fd(), ns, Some(shown), "self"));
                }
            }
            Err(err) => {
                common::report(&err);
                status = exit::TOOL_FAILED;
            }
        }
    }
    common::print(&output::render(&rows, &args.columns, args.format, args.headings))?;
    Ok(status)
}

/// `/proc/PID/ns/X` for the asked types, or for every type this kernel has.
fn pid_files(pid: i32, types: &[OsString]) -> Result<Vec<OsString>, Error> {
    let dir = format!("/proc/{pid}/ns");
    if let Err(e) = std::fs::symlink_metadata(format!("/proc/{pid}")) {
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT) => Error::new("no such process", pid, ""),
            _ => Error::new("cannot read", format!("/proc/{pid}"), common::io_reason(&e)),
        });
    }
    let wanted: Vec<&Namespace> = if types.is_empty() {
        ns::NAMESPACES
            .iter()
            .filter(|ns| std::fs::symlink_metadata(format!("{dir}/{}", ns.proc_name)).is_ok())
            .collect()
    } else {
        types.iter().filter_map(|t| ns::by_name(&t.to_string_lossy())).collect()
    };
    Ok(wanted.iter().map(|ns| OsString::from(format!("{dir}/{}", ns.proc_name))).collect())
}

/// The predicate of `-t`: 0 if every file is a `want` namespace, 1 if one is
/// not (or is no namespace at all), 125 if one cannot be examined.
fn is_type(want: &Namespace, files: &[OsString]) -> i32 {
    let mut status = 0;
    for file in files {
        match ns::open(file) {
            Ok((_, ns)) if ns == want => {}
            Ok(_) => status = status.max(1),
            Err(err) if err.kind == common::error::Kind::NotANamespace => status = status.max(1),
            Err(err) => {
                common::report(&err);
                status = exit::TOOL_FAILED;
            }
        }
    }
    status
}

/// The predicate of `-s`: 0 for the same namespace, 1 for two different ones.
fn same(a: &OsStr, b: &OsStr) -> Result<i32, Error> {
    Ok(if ns::same(a, b)? { 0 } else { 1 })
}

fn is_hierarchical(ns: &Namespace) -> bool {
    ns.flag == libc::CLONE_NEWPID || ns.flag == libc::CLONE_NEWUSER
}

fn describe(fd: BorrowedFd<'_>, ns: &'static Namespace, path: Option<String>, relation: &'static str) -> Info {
    let userns = ns::related(fd, libc::NS_GET_USERNS).and_then(|u| ns::inode(u.as_fd()));
    let parent = if is_hierarchical(ns) {
        ns::related(fd, libc::NS_GET_PARENT).and_then(|p| ns::inode(p.as_fd()))
    } else {
        None
    };
    let owner = if ns.flag == libc::CLONE_NEWUSER { ns::owner_uid(fd) } else { None };
    Info {
        path,
        kind: ns.name,
        id: ns::inode(fd).unwrap_or(0),
        userns,
        parent,
        owner,
        relation,
        listed: None,
        depth: 0,
    }
}

/// The namespace, its ancestors (pid and user namespaces), then its owning
/// user namespace and that one's ancestors, as far as the kernel shows them.
fn walk_chain(fd: BorrowedFd<'_>, ns: &'static Namespace, path: String) -> Vec<Info> {
    let mut rows = vec![describe(fd, ns, Some(path), "self")];
    let climb = |start: OwnedFd, ns: &'static Namespace, relation: &'static str, rows: &mut Vec<Info>| {
        rows.push(describe(start.as_fd(), ns, None, relation));
        let mut current = start;
        // A depth bound, in case a kernel ever answered with a cycle.
        for _ in 0..64 {
            let Some(up) = ns::related(current.as_fd(), libc::NS_GET_PARENT) else { break };
            rows.push(describe(up.as_fd(), ns, None, "parent"));
            current = up;
        }
    };
    if is_hierarchical(ns)
        && let Some(parent) = ns::related(fd, libc::NS_GET_PARENT)
    {
        climb(parent, ns, "parent", &mut rows);
    }
    // A user namespace's owner is its parent, already walked.
    if ns.flag != libc::CLONE_NEWUSER
        && let (Some(owner), Some(user)) = (ns::related(fd, libc::NS_GET_USERNS), ns::by_name("user"))
    {
        climb(owner, user, "owner", &mut rows);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed<Args>, Error> {
        parse_args(args.iter().map(OsString::from))
    }

    fn run_args(args: &[&str]) -> Args {
        match parse(args) {
            Ok(Parsed::Run(a)) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn list_takes_types_a_pid_and_a_tree() {
        let a = run_args(&["-l"]);
        assert_eq!(a.mode, Mode::List { types: vec![], pid: None, tree: None });
        assert_eq!(a.columns, Column::default_list());
        let a = run_args(&["--list", "-t", "net", "-tpid", "-p", "5", "--tree", "-o", "ns,path"]);
        let types = vec![ns::by_name("net").unwrap(), ns::by_name("pid").unwrap()];
        assert_eq!(a.mode, Mode::List { types, pid: Some(5), tree: Some(TreeBy::Parent) });
        assert_eq!(a.columns, [Column::Ns, Column::Path]);
        for (how, by) in [("parent", TreeBy::Parent), ("owner", TreeBy::Owner), ("process", TreeBy::Process)] {
            let a = run_args(&["-l", &format!("--tree={how}")]);
            assert_eq!(a.mode, Mode::List { types: vec![], pid: None, tree: Some(by) });
        }
        for (bad, why) in [
            (&["-l", "/proc/self/ns/net"][..], "--list takes no FILE"),
            (&["--tree", "x"][..], "--tree goes with --list"),
            (&["-l", "--tree=users"][..], "invalid tree mode: 'users': it is parent, owner or process"),
            (&["-l", "-s"][..], "do not go with --list"),
            (&["-l", "-p", "1", "-p", "2"][..], "one -p PID"),
            (&["-l", "-t", "bogus"][..], "invalid namespace type"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn files_with_default_columns() {
        let a = run_args(&["/proc/self/ns/net", "/run/netns/x"]);
        assert_eq!(a.mode, Mode::Show);
        assert_eq!(a.operands, ["/proc/self/ns/net", "/run/netns/x"]);
        assert_eq!(a.columns, Column::default_for(false));
        assert_eq!((a.format, a.headings), (Format::Table, true));
    }

    #[test]
    fn pid_with_and_without_types() {
        assert_eq!(run_args(&["-p", "1"]).mode, Mode::Pid(1));
        assert_eq!(run_args(&["--pid=42", "net", "mount"]).operands, ["net", "mount"]);
        assert_eq!(run_args(&["-p42"]).mode, Mode::Pid(42));
        let err = parse(&["-p", "1x"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid PID: '1x': not a decimal number");
        assert_eq!(parse(&["-p", "0"]).unwrap_err().to_string(), "invalid PID: '0': out of range (1 to 4194304)");
        assert!(parse(&["-p", "1", "bogus"]).unwrap_err().to_string().starts_with("invalid namespace type: 'bogus'"));
        assert!(parse(&["-p"]).unwrap_err().to_string().starts_with("missing argument for option '-p'"));
    }

    #[test]
    fn type_predicate() {
        let a = run_args(&["-t", "net", "/run/netns/x"]);
        assert_eq!(a.mode, Mode::Type(ns::by_name("net").unwrap()));
        assert_eq!(run_args(&["--type=mount", "f"]).mode, Mode::Type(ns::by_name("mnt").unwrap()));
        assert!(parse(&["-t", "nett", "f"]).unwrap_err().to_string().starts_with("invalid namespace type: 'nett'"));
        assert!(parse(&["-t", "net"]).unwrap_err().to_string().starts_with("no FILE given"));
    }

    #[test]
    fn same_takes_two_files() {
        assert_eq!(run_args(&["-s", "a", "b"]).mode, Mode::Same);
        assert_eq!(run_args(&["--same", "a", "b"]).operands, ["a", "b"]);
        assert!(parse(&["-s", "a"]).is_err());
        assert!(parse(&["-s", "a", "b", "c"]).is_err());
    }

    #[test]
    fn chain_gets_the_relation_column() {
        let a = run_args(&["--chain", "/proc/self/ns/pid"]);
        assert_eq!(a.mode, Mode::Chain);
        assert_eq!(a.columns[0], Column::Relation);
    }

    #[test]
    fn formats_and_columns() {
        assert_eq!(run_args(&["-J", "f"]).format, Format::Json);
        assert_eq!(run_args(&["--json", "f"]).format, Format::Json);
        assert_eq!(run_args(&["-r", "f"]).format, Format::Raw);
        assert_eq!(run_args(&["--raw", "f"]).format, Format::Raw);
        assert!(!run_args(&["-n", "f"]).headings);
        assert!(!run_args(&["--noheadings", "f"]).headings);
        assert_eq!(run_args(&["-o", "NS,type", "f"]).columns, [Column::Ns, Column::Type]);
        assert_eq!(run_args(&["--output=path", "f"]).columns, [Column::Path]);
        assert_eq!(
            parse(&["-o", "ns,bogus", "f"]).unwrap_err().to_string(),
            "invalid column: 'bogus': expected one of path, type, ns, userns, parent, owner, relation, nprocs, pid, user, command"
        );
        assert!(parse(&["-o", "", "f"]).is_err());
        assert_eq!(run_args(&["-rn", "f"]).format, Format::Raw);
    }

    #[test]
    fn help_version_and_unknown() {
        assert_eq!(parse(&["-h"]).unwrap(), Parsed::Help);
        assert_eq!(parse(&["--help"]).unwrap(), Parsed::Help);
        assert_eq!(parse(&["-V"]).unwrap(), Parsed::Version);
        assert_eq!(parse(&["--version"]).unwrap(), Parsed::Version);
        assert_eq!(parse(&["-J", "-h", "f"]).unwrap(), Parsed::Help);
        assert!(parse(&["--help=x"]).is_err());
        assert!(parse(&["-h", "--bogus"]).is_err());
        let err = parse(&["-x", "f"]).unwrap_err();
        assert!(err.to_string().starts_with("invalid option '-x'; usage: nstype "), "{err}");
        assert_eq!(err.code, 125);
        assert!(parse(&[]).is_err());
        assert!(parse(&["-p", "1", "-s", "a", "b"]).is_err());
    }

    #[test]
    fn fuzz_command_lines() {
        let words = ["-p", "1", "-t", "net", "-s", "--chain", "-o", "ns,type", "-J", "-r", "-n", "--", "/f"];
        let mut rng = common::fuzz::Rng::new(13);
        for _ in 0..20_000 {
            let _ = parse_args(rng.argv(&words, common::fuzz::NASTY, 8));
            let _ = Column::parse_list(&rng.text(common::fuzz::NASTY, 12));
        }
    }

    #[test]
    fn options_stop_at_the_first_file() {
        let a = run_args(&["-J", "--", "-weird", "-n"]);
        assert_eq!(a.operands, ["-weird", "-n"]);
        assert!(a.headings);
        let a = run_args(&["f", "-J"]);
        assert_eq!((a.format, a.operands.len()), (Format::Table, 2));
    }
}

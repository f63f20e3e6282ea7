//! The namespace options nsclone and nsunshare share: what the user asks of
//! new namespaces, parsed and checked before anything is touched, their
//! `--help` lines, and the fixed order in which the child sets them up.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::Opt;
use crate::error::{Error, quoted};
use crate::mount::Propagation;
use crate::ns::{self, Namespace};
use crate::setup::Inside;
use crate::userns::{IdMap, MapRequest, Setgroups};
use crate::values::{checked_name, parse_id, parse_seconds};

/// Everything nsclone and nsunshare are asked to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `CLONE_NEW*` flags of the namespaces to create.
    pub flags: libc::c_int,
    /// Where to pin a new namespace (a bind mount of its ns file).
    pub pins: Vec<(&'static Namespace, PathBuf)>,
    pub propagation: Propagation,
    pub hostname: Option<OsString>,
    pub domainname: Option<OsString>,
    pub loopback: bool,
    pub maps: MapRequest,
    pub monotonic: Option<i64>,
    pub boottime: Option<i64>,
    pub mount_proc: Option<PathBuf>,
    /// `--new-session`: the command leaves the caller's terminal (setsid).
    pub new_session: bool,
    pub verbose: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            flags: 0,
            pins: Vec::new(),
            propagation: Propagation::Private,
            hostname: None,
            domainname: None,
            loopback: true,
            maps: MapRequest::default(),
            monotonic: None,
            boottime: None,
            mount_proc: None,
            new_session: false,
            verbose: false,
        }
    }
}

impl Spec {
    pub fn wants(&self, flag: libc::c_int) -> bool {
        self.flags & flag != 0
    }

    /// The namespaces clone(2) or unshare(2) make at once: all but a time
    /// namespace, whose clock offsets must be set between its unshare and the
    /// first process in it (see `timens`).
    pub fn flags_at_once(&self) -> libc::c_int {
        self.flags & !libc::CLONE_NEWTIME
    }

    /// Take one option if it is one of the shared namespace options.
    /// Returns `Ok(false)` when `arg` is not ours, leaving it to the tool.
    pub fn take(&mut self, arg: &Opt, parser: &mut lexopt::Parser) -> Result<bool, Error> {
        let (short, long) = match arg {
            Opt::Short(c) => (Some(*c), ""),
            Opt::Long(l) => (None, l.as_str()),
            Opt::Value(_) => return Ok(false),
        };
        Ok(self.take_map(short, long, parser)?
            || self.take_setup(short, long, parser)?
            || self.take_namespace(short, long, parser)?)
    }

    /// The user namespace maps: `-r`, `--map-*`, `--setgroups`; each implies `-U`.
    fn take_map(&mut self, short: Option<char>, long: &str, parser: &mut lexopt::Parser) -> Result<bool, Error> {
        let maps = &mut self.maps;
        match (short, long) {
            (Some('r'), _) | (_, "map-root-user") => maps.root = true,
            (_, "map-current-user") => maps.current = true,
            (_, "map-user") => maps.user = Some(parse_id(&value(parser, long)?, "user")?),
            (_, "map-group") => maps.group = Some(parse_id(&value(parser, long)?, "group")?),
            (_, "map-users") => maps.users.push(IdMap::parse(&value(parser, long)?)?),
            (_, "map-groups") => maps.groups.push(IdMap::parse(&value(parser, long)?)?),
            (_, "map-auto") => maps.auto = true,
            (_, "setgroups") => {
                let text = value(parser, long)?;
                maps.setgroups = Some(match text.as_str() {
                    "allow" => Setgroups::Allow,
                    "deny" => Setgroups::Deny,
                    _ => return Err(Error::new("invalid setgroups", quoted(&text), "expected allow or deny")),
                });
                return Ok(true);
            }
            _ => return Ok(false),
        }
        self.flags |= libc::CLONE_NEWUSER;
        Ok(true)
    }

    /// What is set up inside: propagation, names, loopback, clocks, /proc, the trace.
    fn take_setup(&mut self, short: Option<char>, long: &str, parser: &mut lexopt::Parser) -> Result<bool, Error> {
        match (short, long) {
            (_, "propagation") => self.propagation = Propagation::parse(&value(parser, long)?)?,
            (_, "hostname") => {
                self.hostname = Some(OsString::from(checked_name(&value(parser, long)?, "hostname")?));
                self.flags |= libc::CLONE_NEWUTS;
            }
            (_, "domainname") => {
                self.domainname = Some(OsString::from(checked_name(&value(parser, long)?, "domainname")?));
                self.flags |= libc::CLONE_NEWUTS;
            }
            (_, "no-lo") => self.loopback = false,
            (_, "new-session") => self.new_session = true,
            (_, "monotonic") => {
                self.monotonic = Some(parse_seconds(&value(parser, long)?)?);
                self.flags |= libc::CLONE_NEWTIME;
            }
            (_, "boottime") => {
                self.boottime = Some(parse_seconds(&value(parser, long)?)?);
                self.flags |= libc::CLONE_NEWTIME;
            }
            (_, "mount-proc") => {
                let dir = parser.optional_value().map_or_else(|| PathBuf::from("/proc"), PathBuf::from);
                if !dir.is_absolute() {
                    return Err(Error::new("invalid --mount-proc", quoted(&dir), "must be an absolute path"));
                }
                self.mount_proc = Some(dir);
                self.flags |= libc::CLONE_NEWNS;
            }
            (Some('v'), _) | (_, "verbose") => self.verbose = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The namespace types, by letter (clustered) or long name (with a pin
    /// file), and `-a`.
    fn take_namespace(&mut self, short: Option<char>, long: &str, parser: &mut lexopt::Parser) -> Result<bool, Error> {
        let ns = match (short, long) {
            (Some('a'), _) | (_, "all") => {
                for ns in ns::NAMESPACES.iter().filter(|n| n.flag != libc::CLONE_NEWUSER) {
                    if std::path::Path::new("/proc/self/ns").join(ns.proc_name).exists() {
                        self.flags |= ns.flag;
                    }
                }
                return Ok(true);
            }
            (Some(letter), _) => ns::by_letter(letter),
            (None, name) => ns::NAMESPACES.iter().find(|n| n.long == name),
        };
        let Some(ns) = ns else { return Ok(false) };
        self.flags |= ns.flag;
        if short.is_none()
            && let Some(file) = parser.optional_value()
        {
            self.pin_at(ns, PathBuf::from(file))?;
        }
        Ok(true)
    }

    fn pin_at(&mut self, ns: &'static Namespace, file: PathBuf) -> Result<(), Error> {
        let name = ns.long;
        if file.as_os_str().is_empty() {
            return Err(Error::new("invalid pin file", format!("--{name}="), "empty path"));
        }
        if let Some((other, _)) = self.pins.iter().find(|(_, f)| same_path(f, &file)) {
            return Err(Error::new(
                "invalid pin file",
                format!("--{name}={}", file.display()),
                format!("already the pin file of --{}: one file holds one namespace", other.long),
            ));
        }
        self.pins.push((ns, file));
        Ok(())
    }
}

/// The command line of a tool built on the namespace options (nsclone,
/// nsunshare): the shared options, the tool's own through `own` (which
/// returns `Ok(false)` for an option it does not know), `-h` and `-V` once
/// the whole line parsed, and the command, which must be there.
pub fn parse_line(
    cli: &crate::cli::Cli,
    args: impl IntoIterator<Item = OsString>,
    mut own: impl FnMut(&Opt, &mut lexopt::Parser) -> Result<bool, Error>,
) -> Result<crate::cli::Parsed<(Spec, Vec<OsString>)>, Error> {
    use crate::cli::Parsed;
    let usage = |e: lexopt::Error| cli.usage_error(e);
    let mut parser = lexopt::Parser::from_args(args);
    let (mut spec, mut command, mut asked) = (Spec::default(), Vec::new(), None);
    while let Some(arg) = parser.next().map_err(usage)? {
        let arg = Opt::from_arg(arg);
        if spec.take(&arg, &mut parser).map_err(|e| cli.with_synopsis(e))? || own(&arg, &mut parser)? {
            continue;
        }
        match arg {
            Opt::Value(first) => {
                command = crate::cli::command(&mut parser, first).map_err(usage)?;
                break;
            }
            a if a.is(Some('h'), "help") => asked = asked.or(Some(Parsed::Help)),
            a if a.is(Some('V'), "version") => asked = asked.or(Some(Parsed::Version)),
            other => return Err(cli.usage_error(other.unexpected())),
        }
    }
    if let Some(asked) = asked {
        return Ok(asked);
    }
    if command.is_empty() {
        return Err(cli.usage_error("no command given"));
    }
    Ok(Parsed::Run((spec, command)))
}

/// The value of `--NAME`, as UTF-8.
fn value(parser: &mut lexopt::Parser, name: &str) -> Result<String, Error> {
    parser
        .value()
        .map_err(|e| Error::usage(e.to_string()))?
        .into_string()
        .map_err(|v| Error::new("invalid value", format!("--{name}={}", v.to_string_lossy()), "not UTF-8"))
}

/// Whether two paths name the same file as written (`./a` and `a`, `/x//y/`
/// and `/x/y`), before anything is resolved; `setup::check_distinct_files`
/// compares them again, resolved, before anything is created.
pub fn same_path(a: &std::path::Path, b: &std::path::Path) -> bool {
    let normal = |p: &std::path::Path| -> Vec<std::ffi::OsString> {
        p.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .map(|c| c.as_os_str().to_owned())
            .collect()
    };
    normal(a) == normal(b)
}

/// The `--help` lines of the options [`Spec::take`] understands, shared by
/// nsclone and nsunshare (a macro, so `concat!` can take it).
#[macro_export]
macro_rules! namespace_options_help {
    () => {
        "\
Namespaces (short options cluster: -mupin; a long form may pin the new
namespace on FILE, a bind mount that keeps it after its processes are gone):
  -m, --mount[=FILE]       new mount namespace
  -u, --uts[=FILE]         new UTS namespace (hostname, domainname)
  -i, --ipc[=FILE]         new IPC namespace
  -n, --net[=FILE]         new network namespace, with lo up
  -p, --pid[=FILE]         new PID namespace
  -U, --user[=FILE]        new user namespace
  -C, --cgroup[=FILE]      new cgroup namespace
  -T, --time[=FILE]        new time namespace
  -a, --all                every type this kernel has, except user

Setup:
      --propagation=MODE   mount propagation of / in a new mount namespace:
                           private (default), slave, shared or unchanged
      --hostname=NAME      set the hostname (implies -u)
      --domainname=NAME    set the NIS domain name (implies -u)
      --no-lo              leave lo down in a new network namespace
      --new-session        a new session for COMMAND, without the caller's
                           terminal (no TIOCSTI injection, no job control)
      --mount-proc[=DIR]   mount a proc for the new PID namespace on DIR
                           (default /proc; implies -m)
      --monotonic=SECONDS  offset of CLOCK_MONOTONIC (implies -T)
      --boottime=SECONDS   offset of CLOCK_BOOTTIME (implies -T)

User namespace maps (each implies -U):
  -r, --map-root-user      map root to your uid and gid (setgroups denied)
      --map-current-user   map your uid and gid to themselves
      --map-user=UID       map UID to your uid
      --map-group=GID      map GID to your gid
      --map-users=INNER:OUTER:COUNT   a uid range, in uid_map order (repeatable)
      --map-groups=INNER:OUTER:COUNT  a gid range, in gid_map order (repeatable)
      --map-auto           add your ranges from /etc/subuid and /etc/subgid
                           (written by newuidmap and newgidmap without root)
      --setgroups=allow|deny  whether setgroups(2) works inside

  -v, --verbose            trace each step on stderr
"
    };
}

impl Spec {
    /// Check the pin files before anything is created: each on its own, and
    /// all distinct, with `other` (a tool's own file, such as `--pidfile`).
    pub fn check_pin_files(&self, other: Option<(&str, &std::path::Path)>) -> Result<(), Error> {
        for (_, file) in &self.pins {
            ns::check_pin(file)?;
        }
        let mut files: Vec<(String, &std::path::Path)> =
            self.pins.iter().map(|(ns, file)| (format!("--{}", ns.long), file.as_path())).collect();
        files.extend(other.map(|(option, file)| (option.to_owned(), file)));
        ns::check_distinct_files(&files)
    }
}

/// The steps of [`Spec::inside`] that another process does instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoneElsewhere {
    /// `--mount-proc`: nsunshare's PID 1 holder mounts it, from inside the new PID namespace.
    pub mount_proc: bool,
    /// The time namespace: nsclone's parent makes it as root, before the clone.
    pub time: bool,
}

impl Spec {
    /// What the process inside the new namespaces sets up, less what
    /// another process does instead.
    pub fn inside(&self, elsewhere: DoneElsewhere) -> Inside<'_> {
        Inside {
            propagation: self.wants(libc::CLONE_NEWNS).then_some(self.propagation),
            mount_proc: self.mount_proc.as_deref().filter(|_| !elsewhere.mount_proc),
            hostname: self.hostname.as_deref(),
            domainname: self.domainname.as_deref(),
            loopback: self.wants(libc::CLONE_NEWNET) && self.loopback,
            time: (self.wants(libc::CLONE_NEWTIME) && !elsewhere.time).then_some((self.monotonic, self.boottime)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userns::{Caller, SubRange, plan_maps};

    const ROOT: Caller = Caller { uid: 0, gid: 0, privileged: true };
    const USER: Caller = Caller { uid: 1000, gid: 1000, privileged: false };

    fn spec(args: &[&str]) -> Result<(Spec, Vec<String>), Error> {
        let mut parser = lexopt::Parser::from_args(args.iter().map(OsString::from));
        let mut s = Spec::default();
        let mut rest = Vec::new();
        while let Some(arg) = parser.next().map_err(|e| Error::usage(e.to_string()))? {
            let arg = Opt::from_arg(arg);
            if !s.take(&arg, &mut parser)? {
                match arg {
                    Opt::Value(v) => rest.push(v.to_string_lossy().into_owned()),
                    other => return Err(Error::usage(other.unexpected())),
                }
            }
        }
        Ok((s, rest))
    }

    #[test]
    fn inside_leaves_out_what_is_done_elsewhere() {
        let (s, _) = spec(&["-mnT", "--mount-proc", "--hostname=box", "--monotonic=5"]).unwrap();
        let all = s.inside(DoneElsewhere::default());
        assert_eq!(all.propagation, Some(Propagation::Private));
        assert_eq!(all.mount_proc, Some(std::path::Path::new("/proc")));
        assert_eq!(all.hostname, Some(std::ffi::OsStr::new("box")));
        assert!(all.loopback);
        assert_eq!(all.time, Some((Some(5), None)));
        let rest = s.inside(DoneElsewhere { mount_proc: true, time: true });
        assert_eq!((rest.mount_proc, rest.time), (None, None));
        let (s, _) = spec(&["-u"]).unwrap();
        let uts = s.inside(DoneElsewhere::default());
        assert_eq!((uts.propagation, uts.loopback, uts.time), (None, false, None));
    }

    #[test]
    fn letters_cluster() {
        let (s, _) = spec(&["-mupin"]).unwrap();
        assert_eq!(
            s.flags,
            libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWNET
        );
        let (s, _) = spec(&["-UCT"]).unwrap();
        assert_eq!(s.flags, libc::CLONE_NEWUSER | libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME);
        assert!(spec(&["-mX"]).is_err());
    }

    #[test]
    fn long_forms_and_pins() {
        let (s, _) = spec(&["--net=/run/netns/x", "--uts", "--mount"]).unwrap();
        assert_eq!(s.flags, libc::CLONE_NEWNET | libc::CLONE_NEWUTS | libc::CLONE_NEWNS);
        assert_eq!(s.pins, [(ns::by_name("net").unwrap(), PathBuf::from("/run/netns/x"))]);
        assert!(spec(&["--net="]).is_err());
        let two = spec(&["--net=/run/x", "--uts=/run/./x/"]).unwrap_err().to_string();
        assert_eq!(
            two,
            "invalid pin file: --uts=/run/./x/: already the pin file of --net: one file holds one namespace"
        );
        assert!(spec(&["--net=/run/x", "--uts=/run/y"]).is_ok());
        // A separate word is the command, not the pin file.
        let (s, rest) = spec(&["--net", "x"]).unwrap();
        assert!(s.pins.is_empty());
        assert_eq!(rest, ["x"]);
    }

    #[test]
    fn all_takes_every_type_but_user() {
        let (s, _) = spec(&["-a"]).unwrap();
        assert!(s.wants(libc::CLONE_NEWNS) && s.wants(libc::CLONE_NEWNET) && !s.wants(libc::CLONE_NEWUSER));
    }

    #[test]
    fn options_imply_their_namespace() {
        let (s, _) = spec(&["--hostname=box"]).unwrap();
        assert!(s.wants(libc::CLONE_NEWUTS));
        assert_eq!(s.hostname.as_deref(), Some(std::ffi::OsStr::new("box")));
        let (s, _) = spec(&["--mount-proc"]).unwrap();
        assert_eq!((s.wants(libc::CLONE_NEWNS), s.mount_proc), (true, Some(PathBuf::from("/proc"))));
        let (s, _) = spec(&["--mount-proc=/mnt/p"]).unwrap();
        assert_eq!(s.mount_proc, Some(PathBuf::from("/mnt/p")));
        assert!(spec(&["--mount-proc=rel"]).is_err());
        let (s, _) = spec(&["--monotonic=-5", "--boottime=86400"]).unwrap();
        assert_eq!((s.monotonic, s.boottime, s.wants(libc::CLONE_NEWTIME)), (Some(-5), Some(86400), true));
        assert!(spec(&["--monotonic=1.5"]).is_err());
        assert!(spec(&["--boottime=99999999999999999"]).is_err());
        let (s, _) = spec(&["-r"]).unwrap();
        assert!(s.maps.root && s.wants(libc::CLONE_NEWUSER));
        assert!(spec(&[&format!("--hostname={}", "x".repeat(65))]).is_err());
    }

    #[test]
    fn propagation_and_setgroups() {
        assert_eq!(spec(&["--propagation=slave"]).unwrap().0.propagation, Propagation::Slave);
        assert_eq!(spec(&["--propagation", "unchanged"]).unwrap().0.propagation, Propagation::Unchanged);
        assert!(spec(&["--propagation=rshared"]).is_err());
        assert_eq!(spec(&["--setgroups=deny"]).unwrap().0.maps.setgroups, Some(Setgroups::Deny));
        assert!(spec(&["--setgroups=maybe"]).is_err());
        assert!(!spec(&["--no-lo"]).unwrap().0.loopback);
        assert!(spec(&["--new-session"]).unwrap().0.new_session);
    }

    #[test]
    fn fuzz_spec_options() {
        let words = [
            "-mupin",
            "-a",
            "-r",
            "-U",
            "-v",
            "--net=/x",
            "--mount",
            "--propagation=slave",
            "--hostname=h",
            "--map-users=0:100:10",
            "--map-groups=1:2:3",
            "--map-user=5",
            "--setgroups=deny",
            "--monotonic=-3",
            "--boottime=9",
            "--mount-proc=/p",
            "--no-lo",
            "--map-auto",
            "--",
            "sh",
            "-c",
            "x",
        ];
        let mut rng = crate::fuzz::Rng::new(0x5eed);
        for _ in 0..20_000 {
            let argv: Vec<String> =
                rng.argv(&words, crate::fuzz::NASTY, 8).iter().map(|a| a.to_string_lossy().into_owned()).collect();
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            if let Ok((spec, _)) = spec(&refs) {
                // Whatever was accepted plans without panicking.
                let _ = plan_maps(&spec.maps, USER, None);
                let _ = plan_maps(
                    &spec.maps,
                    ROOT,
                    Some((SubRange { start: 1, count: 9 }, SubRange { start: 1, count: 9 })),
                );
            }
            let _ = IdMap::parse(&rng.mutate("0:100000:65536", crate::fuzz::NASTY));
        }
    }
}

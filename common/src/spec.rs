//! What a user asks of new namespaces, parsed and checked before anything is
//! touched: the options nsclone and nsunshare share, and the plan of user
//! namespace maps. Pure logic; `setup` applies it.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{Error, quoted};
use crate::ns::{self, Namespace};
use crate::opts::Opt;

/// How mount events travel between the new mount namespace and the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Slave,
    Shared,
    Unchanged,
}

impl Propagation {
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "private" => Ok(Self::Private),
            "slave" => Ok(Self::Slave),
            "shared" => Ok(Self::Shared),
            "unchanged" => Ok(Self::Unchanged),
            _ => Err(Error::new("invalid propagation", quoted(text), "expected private, slave, shared or unchanged")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Slave => "slave",
            Self::Shared => "shared",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One line of `/proc/PID/uid_map`: `inner outer count`, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub inner: u32,
    pub outer: u32,
    pub count: u32,
}

impl IdMap {
    /// `INNER:OUTER:COUNT`, the order `/proc/PID/uid_map` prints.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::new("invalid map", quoted(text), why);
        let parts: Vec<&str> = text.split(':').collect();
        let [inner, outer, count] = parts[..] else {
            return Err(bad("expected INNER:OUTER:COUNT"));
        };
        let number = |s: &str, what: &str| -> Result<u32, Error> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!("{what} is not a decimal number")));
            }
            s.parse::<u32>().ok().filter(|&n| n != u32::MAX).ok_or_else(|| bad(&format!("{what} is out of range")))
        };
        let map =
            Self { inner: number(inner, "INNER")?, outer: number(outer, "OUTER")?, count: number(count, "COUNT")? };
        if map.count == 0 {
            return Err(bad("COUNT is 0"));
        }
        if u64::from(map.inner) + u64::from(map.count) > u64::from(u32::MAX)
            || u64::from(map.outer) + u64::from(map.count) > u64::from(u32::MAX)
        {
            return Err(bad("the range runs past 4294967294"));
        }
        Ok(map)
    }

    fn overlaps(a: u32, b: u32, count_a: u32, count_b: u32) -> bool {
        u64::from(a) < u64::from(b) + u64::from(count_b) && u64::from(b) < u64::from(a) + u64::from(count_a)
    }
}

/// Render maps as the kernel reads them.
pub fn map_text(maps: &[IdMap]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.inner, m.outer, m.count)).collect()
}

/// Whether setgroups(2) stays allowed in the new user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setgroups {
    Allow,
    Deny,
}

/// The user-namespace options as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapRequest {
    pub root: bool,
    pub current: bool,
    pub user: Option<u32>,
    pub group: Option<u32>,
    pub users: Vec<IdMap>,
    pub groups: Vec<IdMap>,
    pub auto: bool,
    pub setgroups: Option<Setgroups>,
}

impl MapRequest {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

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
            verbose: false,
        }
    }
}

impl Spec {
    pub fn wants(&self, flag: libc::c_int) -> bool {
        self.flags & flag != 0
    }

    /// Take one option if it is one of the shared namespace options.
    /// Returns `Ok(false)` when `arg` is not ours, leaving it to the tool.
    pub fn take(&mut self, arg: &Opt, parser: &mut lexopt::Parser) -> Result<bool, Error> {
        let value = |parser: &mut lexopt::Parser, name: &str| -> Result<String, Error> {
            parser
                .value()
                .map_err(|e| Error::usage(e.to_string()))?
                .into_string()
                .map_err(|v| Error::new("invalid value", format!("--{name}={}", v.to_string_lossy()), "not UTF-8"))
        };
        let (short, long) = match arg {
            Opt::Short(c) => (Some(*c), ""),
            Opt::Long(l) => (None, l.as_str()),
            Opt::Value(_) => return Ok(false),
        };
        match (short, long) {
            (Some('a'), _) | (_, "all") => {
                for ns in ns::NAMESPACES.iter().filter(|n| n.flag != libc::CLONE_NEWUSER) {
                    if std::path::Path::new("/proc/self/ns").join(ns.proc_name).exists() {
                        self.flags |= ns.flag;
                    }
                }
            }
            (_, "propagation") => self.propagation = Propagation::parse(&value(parser, "propagation")?)?,
            (_, "hostname") => {
                self.hostname = Some(OsString::from(checked_name(&value(parser, "hostname")?, "hostname")?));
                self.flags |= libc::CLONE_NEWUTS;
            }
            (_, "domainname") => {
                self.domainname = Some(OsString::from(checked_name(&value(parser, "domainname")?, "domainname")?));
                self.flags |= libc::CLONE_NEWUTS;
            }
            (_, "no-lo") => self.loopback = false,
            (Some('r'), _) | (_, "map-root-user") => {
                self.maps.root = true;
                self.flags |= libc::CLONE_NEWUSER;
            }
            (_, "map-current-user") => {
                self.maps.current = true;
                self.flags |= libc::CLONE_NEWUSER;
            }
            (_, "map-user") => {
                self.maps.user = Some(parse_id(&value(parser, "map-user")?, "user")?);
                self.flags |= libc::CLONE_NEWUSER;
            }
            (_, "map-group") => {
                self.maps.group = Some(parse_id(&value(parser, "map-group")?, "group")?);
                self.flags |= libc::CLONE_NEWUSER;
            }
            (_, "map-users") => {
                self.maps.users.push(IdMap::parse(&value(parser, "map-users")?)?);
                self.flags |= libc::CLONE_NEWUSER;
            }
            (_, "map-groups") => {
                self.maps.groups.push(IdMap::parse(&value(parser, "map-groups")?)?);
                self.flags |= libc::CLONE_NEWUSER;
            }
            (_, "map-auto") => {
                self.maps.auto = true;
                self.flags |= libc::CLONE_NEWUSER;
            }
            (_, "setgroups") => {
                let text = value(parser, "setgroups")?;
                self.maps.setgroups = Some(match text.as_str() {
                    "allow" => Setgroups::Allow,
                    "deny" => Setgroups::Deny,
                    _ => return Err(Error::new("invalid setgroups", quoted(&text), "expected allow or deny")),
                });
            }
            (_, "monotonic") => {
                self.monotonic = Some(parse_seconds(&value(parser, "monotonic")?)?);
                self.flags |= libc::CLONE_NEWTIME;
            }
            (_, "boottime") => {
                self.boottime = Some(parse_seconds(&value(parser, "boottime")?)?);
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
            (Some(letter), _) => match ns::by_letter(letter) {
                Some(ns) => self.flags |= ns.flag,
                None => return Ok(false),
            },
            (None, name) => match ns::NAMESPACES.iter().find(|n| n.long == name) {
                Some(ns) => {
                    self.flags |= ns.flag;
                    if let Some(file) = parser.optional_value() {
                        if file.is_empty() {
                            return Err(Error::new("invalid pin file", format!("--{name}="), "empty path"));
                        }
                        let file = PathBuf::from(file);
                        if let Some((other, _)) = self.pins.iter().find(|(_, f)| same_path(f, &file)) {
                            return Err(Error::new(
                                "invalid pin file",
                                format!("--{name}={}", file.display()),
                                format!("already the pin file of --{}: one file holds one namespace", other.long),
                            ));
                        }
                        self.pins.push((ns, file));
                    }
                }
                None => return Ok(false),
            },
        }
        Ok(true)
    }
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

fn checked_name(text: &str, what: &str) -> Result<String, Error> {
    // The kernel's limit for both names (__NEW_UTS_LEN).
    if text.len() > 64 {
        return Err(Error::new(format!("invalid {what}"), quoted(text), "longer than 64 bytes"));
    }
    Ok(text.to_owned())
}

fn parse_id(text: &str, what: &str) -> Result<u32, Error> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(format!("invalid {what} id"), quoted(text), "not a decimal number"));
    }
    text.parse::<u32>()
        .ok()
        .filter(|&n| n != u32::MAX)
        .ok_or_else(|| Error::new(format!("invalid {what} id"), quoted(text), "out of range"))
}

/// Whole seconds, possibly negative, for a clock offset.
fn parse_seconds(text: &str) -> Result<i64, Error> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new("invalid clock offset", quoted(text), "expected whole seconds"));
    }
    // The kernel refuses offsets beyond KTIME_SEC_MAX / 2.
    text.parse::<i64>()
        .ok()
        .filter(|s| s.unsigned_abs() <= (i64::MAX / 1_000_000_000 / 2) as u64)
        .ok_or_else(|| Error::new("invalid clock offset", quoted(text), "out of range"))
}

/// Who writes the maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapWriter {
    /// The tool writes `/proc/PID/{uid,gid}_map` itself.
    Direct,
    /// newuidmap/newgidmap write them, checking /etc/subuid and /etc/subgid.
    Helper,
}

/// The maps to write and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapPlan {
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
    pub setgroups: Setgroups,
    pub writer: MapWriter,
}

impl MapPlan {
    /// Whether the maps are a single line for the uid and one for the gid,
    /// each mapping only the caller's own id: all that a process may write
    /// for itself, or write without privilege.
    pub fn only_own_ids(&self, uid: u32, gid: u32) -> bool {
        only_own(&self.uid, uid) && only_own(&self.gid, gid)
    }
}

fn only_own(maps: &[IdMap], id: u32) -> bool {
    maps.len() <= 1 && maps.iter().all(|m| m.outer == id && m.count == 1)
}

/// The caller's identity and privilege, for planning maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// CAP_SETUID and CAP_SETGID in the parent user namespace (root).
    pub privileged: bool,
}

/// A range of subordinate ids from /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubRange {
    pub start: u32,
    pub count: u32,
}

/// The first range of `/etc/subuid`-style `text` that belongs to the user.
pub fn subordinate_range(text: &str, name: Option<&str>, id: u32) -> Option<SubRange> {
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let (owner, start, count) = (parts.next()?, parts.next()?, parts.next()?);
        let mine = Some(owner) == name || owner.parse::<u32>().ok() == Some(id);
        let range = SubRange { start: start.parse().ok()?, count: count.parse().ok()? };
        (mine && range.count > 0).then_some(range)
    })
}

/// Turn the options into maps. `sub` holds the caller's subordinate ranges
/// (uid, gid) when `--map-auto` is given. Errors name what is wrong before
/// any namespace exists.
pub fn plan_maps(
    req: &MapRequest,
    caller: Caller,
    sub: Option<(SubRange, SubRange)>,
) -> Result<Option<MapPlan>, Error> {
    if req.is_empty()
        || (req.setgroups.is_some() && req == &MapRequest { setgroups: req.setgroups, ..Default::default() })
    {
        return Ok(None);
    }
    let mut uid = Vec::new();
    let mut gid = Vec::new();
    let own = |inner: u32, outer: u32| IdMap { inner, outer, count: 1 };
    if req.root {
        uid.push(own(0, caller.uid));
        gid.push(own(0, caller.gid));
    }
    if req.current {
        uid.push(own(caller.uid, caller.uid));
        gid.push(own(caller.gid, caller.gid));
    }
    if let Some(u) = req.user {
        uid.push(own(u, caller.uid));
    }
    if let Some(g) = req.group {
        gid.push(own(g, caller.gid));
    }
    uid.extend(&req.users);
    gid.extend(&req.groups);
    let mut writer = MapWriter::Direct;
    if req.auto {
        let Some((subuid, subgid)) = sub else {
            return Err(Error::new(
                "cannot map subordinate ids",
                "--map-auto",
                "no range for this user in /etc/subuid and /etc/subgid",
            ));
        };
        let start_u = if uid.iter().any(|m| m.inner == 0) { 1 } else { 0 };
        let start_g = if gid.iter().any(|m| m.inner == 0) { 1 } else { 0 };
        uid.push(IdMap { inner: start_u, outer: subuid.start, count: subuid.count.min(u32::MAX - 1 - start_u) });
        gid.push(IdMap { inner: start_g, outer: subgid.start, count: subgid.count.min(u32::MAX - 1 - start_g) });
        if !caller.privileged {
            writer = MapWriter::Helper;
        }
    }
    for (what, maps) in [("uid", &uid), ("gid", &gid)] {
        check_overlaps(what, maps)?;
    }
    if !caller.privileged && writer == MapWriter::Direct && !(only_own(&uid, caller.uid) && only_own(&gid, caller.gid))
    {
        return Err(Error::new(
            "cannot map ids",
            "--map-users/--map-groups",
            "without root only your own uid and gid can be mapped (or use --map-auto with newuidmap)",
        ));
    }
    let setgroups = match req.setgroups {
        Some(s) => s,
        // An unprivileged writer must deny setgroups to write gid_map; -r denies it as unshare -r does.
        None if (!caller.privileged && writer == MapWriter::Direct) || req.root => Setgroups::Deny,
        None => Setgroups::Allow,
    };
    if setgroups == Setgroups::Allow && !caller.privileged && writer == MapWriter::Direct && !gid.is_empty() {
        return Err(Error::new(
            "cannot allow setgroups",
            "--setgroups=allow",
            "without root, gid_map can only be written with setgroups denied",
        ));
    }
    Ok(Some(MapPlan { uid, gid, setgroups, writer }))
}

fn check_overlaps(what: &str, maps: &[IdMap]) -> Result<(), Error> {
    if maps.len() > 340 {
        return Err(Error::new(format!("too many {what} maps"), maps.len(), "the kernel takes at most 340"));
    }
    for (i, a) in maps.iter().enumerate() {
        for b in &maps[i + 1..] {
            if IdMap::overlaps(a.inner, b.inner, a.count, b.count) {
                return Err(Error::new(
                    format!("overlapping {what} maps"),
                    format!("{}:{}:{} and {}:{}:{}", a.inner, a.outer, a.count, b.inner, b.outer, b.count),
                    "inner ranges overlap",
                ));
            }
            if IdMap::overlaps(a.outer, b.outer, a.count, b.count) {
                return Err(Error::new(
                    format!("overlapping {what} maps"),
                    format!("{}:{}:{} and {}:{}:{}", a.inner, a.outer, a.count, b.inner, b.outer, b.count),
                    "outer ranges overlap",
                ));
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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

    const ROOT: Caller = Caller { uid: 0, gid: 0, privileged: true };
    const USER: Caller = Caller { uid: 1000, gid: 1000, privileged: false };

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
    }

    #[test]
    fn id_maps_parse_in_uid_map_order() {
        assert_eq!(IdMap::parse("0:100000:65536").unwrap(), IdMap { inner: 0, outer: 100000, count: 65536 });
        for bad in ["", "0:1", "0:1:2:3", "a:1:1", "0:1:0", "-1:0:1", "0:4294967295:1", "4294967290:0:10", " 0:1:1"] {
            assert!(IdMap::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(map_text(&[IdMap { inner: 0, outer: 1000, count: 1 }]), "0 1000 1\n");
    }

    #[test]
    fn map_root_user() {
        let req = MapRequest { root: true, ..Default::default() };
        let plan = plan_maps(&req, USER, None).unwrap().unwrap();
        assert_eq!(plan.uid, [IdMap { inner: 0, outer: 1000, count: 1 }]);
        assert_eq!(plan.gid, [IdMap { inner: 0, outer: 1000, count: 1 }]);
        assert_eq!((plan.setgroups, plan.writer), (Setgroups::Deny, MapWriter::Direct));
    }

    #[test]
    fn unprivileged_callers_map_only_themselves() {
        let req = MapRequest { users: vec![IdMap { inner: 0, outer: 0, count: 10 }], ..Default::default() };
        assert!(plan_maps(&req, USER, None).is_err());
        assert!(plan_maps(&req, ROOT, None).is_ok());
        let req = MapRequest { current: true, setgroups: Some(Setgroups::Allow), ..Default::default() };
        assert!(plan_maps(&req, USER, None).is_err());
        let req = MapRequest { user: Some(42), group: Some(7), ..Default::default() };
        let plan = plan_maps(&req, USER, None).unwrap().unwrap();
        assert_eq!((plan.uid[0].inner, plan.gid[0].inner, plan.setgroups), (42, 7, Setgroups::Deny));
    }

    #[test]
    fn root_keeps_setgroups_unless_map_root() {
        let req = MapRequest { users: vec![IdMap { inner: 0, outer: 100000, count: 100 }], ..Default::default() };
        assert_eq!(plan_maps(&req, ROOT, None).unwrap().unwrap().setgroups, Setgroups::Allow);
    }

    #[test]
    fn overlaps_are_refused() {
        let req = MapRequest {
            users: vec![IdMap { inner: 0, outer: 100, count: 10 }, IdMap { inner: 5, outer: 500, count: 10 }],
            ..Default::default()
        };
        assert!(plan_maps(&req, ROOT, None).unwrap_err().to_string().contains("inner ranges overlap"));
        let req = MapRequest {
            users: vec![IdMap { inner: 0, outer: 100, count: 10 }, IdMap { inner: 50, outer: 105, count: 10 }],
            ..Default::default()
        };
        assert!(plan_maps(&req, ROOT, None).unwrap_err().to_string().contains("outer ranges overlap"));
    }

    #[test]
    fn map_auto_uses_subordinate_ranges() {
        let range = SubRange { start: 100000, count: 65536 };
        let req = MapRequest { root: true, auto: true, ..Default::default() };
        let plan = plan_maps(&req, USER, Some((range, range))).unwrap().unwrap();
        assert_eq!(
            plan.uid,
            [IdMap { inner: 0, outer: 1000, count: 1 }, IdMap { inner: 1, outer: 100000, count: 65536 }]
        );
        assert_eq!(plan.writer, MapWriter::Helper);
        assert!(plan_maps(&MapRequest { auto: true, ..Default::default() }, USER, None).is_err());
        let text = "alice:100000:65536\n1000:200000:10\nbob:300000:5\n";
        assert_eq!(subordinate_range(text, Some("bob"), 7), Some(SubRange { start: 300000, count: 5 }));
        assert_eq!(subordinate_range(text, Some("carol"), 1000), Some(SubRange { start: 200000, count: 10 }));
        assert_eq!(subordinate_range(text, Some("dave"), 5), None);
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

    #[test]
    fn no_user_options_no_maps() {
        assert_eq!(plan_maps(&MapRequest::default(), USER, None).unwrap(), None);
    }
}

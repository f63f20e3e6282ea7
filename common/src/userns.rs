//! User namespaces: id maps as the options ask for them, the plan that
//! checks them before any namespace exists, and the writers (the tool itself
//! through /proc/PID/{uid,gid}_map, or newuidmap and newgidmap).

use nix::errno::Errno;

use std::path::Path;

use crate::error::{Error, quoted};
use crate::values::{NotDecimal, decimal};
use crate::{procfs, trace};

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
            match decimal(s, u64::from(u32::MAX) - 1) {
                Ok(n) => Ok(n as u32),
                Err(NotDecimal::NotDigits) => Err(bad(&format!("{what} is not a decimal number"))),
                Err(NotDecimal::OutOfRange) => Err(bad(&format!("{what} is out of range"))),
            }
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

/// The id inside a user namespace that `outer` (an id of the reader's
/// namespace) maps to, by that namespace's `/proc/PID/uid_map` (or
/// gid_map) text as the reader sees it; None when unmapped.
pub fn inward(map: &str, outer: u32) -> Option<u32> {
    map.lines().find_map(|line| {
        let mut fields = line.split_whitespace().map(|f| f.parse::<u32>().ok());
        let (Some(Some(inner)), Some(Some(start)), Some(Some(count))) = (fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        let offset = outer.checked_sub(start)?;
        (offset < count).then(|| inner.checked_add(offset)).flatten()
    })
}

/// The id outside a user namespace that `inner` (an id inside it) is, by
/// that namespace's uid_map (or gid_map) text; None when unmapped.
pub fn outward(map: &str, inner: u32) -> Option<u32> {
    map.lines().find_map(|line| {
        let f: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let [start, outer, count] = f[..] else { return None };
        let inner = u64::from(inner);
        (inner >= start && inner < start + count).then(|| u32::try_from(outer + inner - start).ok()).flatten()
    })
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

/// Write the id maps of process `pid` (the tool itself or its child).
pub fn write_maps(pid: libc::pid_t, plan: &MapPlan) -> Result<(), Error> {
    let proc = format!("/proc/{pid}");
    match plan.writer {
        MapWriter::Direct => {
            if !plan.gid.is_empty() || plan.setgroups == Setgroups::Deny {
                let word = if plan.setgroups == Setgroups::Deny { "deny" } else { "allow" };
                trace::step(|| format!("echo {word} > {proc}/setgroups"));
                procfs::write_once(Path::new(&format!("{proc}/setgroups")), word)
                    .map_err(|e| Error::sys("cannot write", format!("{proc}/setgroups"), e))?;
            }
            for (file, maps) in [("uid_map", &plan.uid), ("gid_map", &plan.gid)] {
                if maps.is_empty() {
                    continue;
                }
                let path = format!("{proc}/{file}");
                let text = map_text(maps);
                trace::step(|| format!("echo '{}' > {path}", text.trim_end().replace('\n', "; ")));
                procfs::write_once(Path::new(&path), &text).map_err(|e| map_failure(&path, maps, e))?;
            }
            Ok(())
        }
        MapWriter::Helper => {
            for (helper, maps) in [("newuidmap", &plan.uid), ("newgidmap", &plan.gid)] {
                if maps.is_empty() {
                    continue;
                }
                let mut args = vec![pid.to_string()];
                for m in maps.iter() {
                    args.extend([m.inner.to_string(), m.outer.to_string(), m.count.to_string()]);
                }
                trace::step(|| format!("{helper} {}", args.join(" ")));
                let status = std::process::Command::new(helper).args(&args).status().map_err(|e| {
                    let why = if e.kind() == std::io::ErrorKind::NotFound {
                        "not installed (package uidmap)".to_owned()
                    } else {
                        crate::io_reason(&e)
                    };
                    Error::new("cannot run", helper, why)
                })?;
                if !status.success() {
                    return Err(Error::new(
                        "cannot map ids",
                        helper,
                        "it refused the ranges (check /etc/subuid and /etc/subgid)",
                    ));
                }
            }
            Ok(())
        }
    }
}

fn map_failure(path: &str, maps: &[IdMap], errno: Errno) -> Error {
    let text = map_text(maps).trim_end().replace('\n', ", ");
    let why = match errno {
        // The kernel takes a gid_map from a writer without CAP_SETGID over the parent
        // namespace (nsunshare, writing its own from inside) only once setgroups is denied.
        Errno::EPERM if path.ends_with("gid_map") => "Operation not permitted (a process without CAP_SETGID outside, such as one writing its own map from inside, may map only its own gid, and only with setgroups denied: --setgroups=deny; other ids need root outside or --map-auto)".to_owned(),
        Errno::EPERM => "Operation not permitted (mapping ids other than your own needs root or --map-auto)".to_owned(),
        Errno::EINVAL => "Invalid argument (overlapping ranges, or ids outside the parent namespace)".to_owned(),
        e => e.desc().to_owned(),
    };
    Error::new(format!("cannot write {path}"), text, why)
}

/// Plan the user namespace maps for the calling user, reading /etc/subuid and
/// /etc/subgid only when `--map-auto` asks for them.
pub fn plan_for_caller(req: &MapRequest) -> Result<Option<MapPlan>, Error> {
    let caller = Caller {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
        privileged: nix::unistd::geteuid().is_root(),
    };
    let sub = if req.auto {
        let name = user_name(caller.uid);
        let range = |file: &str, id: u32| {
            std::fs::read_to_string(file).ok().and_then(|t| subordinate_range(&t, name.as_deref(), id))
        };
        range("/etc/subuid", caller.uid).zip(range("/etc/subgid", caller.gid))
    } else {
        None
    };
    plan_maps(req, caller, sub)
}

/// The name of `uid` in /etc/passwd, read directly: a static binary has no NSS.
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_owned())
    })
}

/// Whether this process runs in a user namespace (its uid map is not the identity).
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// The host's name for the uid `inside` of our user namespace (through our uid map).
pub fn host_user_name(inside: u32) -> Option<String> {
    let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
    user_name(outward(&map, inside)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_go_out_through_the_map() {
        let map = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(outward(map, 0), Some(1000));
        assert_eq!(outward(map, 1), Some(100000));
        assert_eq!(outward(map, 65536), Some(165535));
        assert_eq!(outward(map, 65537), None);
        assert_eq!(outward("0 0 4294967295\n", 42), Some(42));
    }

    const ROOT: Caller = Caller { uid: 0, gid: 0, privileged: true };
    const USER: Caller = Caller { uid: 1000, gid: 1000, privileged: false };

    #[test]
    fn ids_map_inward_by_the_map_the_kernel_prints() {
        let map = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(inward(map, 1000), Some(0));
        assert_eq!(inward(map, 100000), Some(1));
        assert_eq!(inward(map, 165535), Some(65536));
        for unmapped in [0, 999, 1001, 99999, 165536, u32::MAX] {
            assert_eq!(inward(map, unmapped), None, "{unmapped}");
        }
        assert_eq!(inward("0 4294967295 4294967295\n", 7), None);
        assert_eq!(inward("0 0 4294967295\n", 7), Some(7));
        assert_eq!(inward("junk\n1 x 2\n\n", 1), None);
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
    fn no_user_options_no_maps() {
        assert_eq!(plan_maps(&MapRequest::default(), USER, None).unwrap(), None);
    }
}

//! Users and groups as a root file system's /etc/passwd and /etc/group name
//! them (read directly: a static binary has no NSS), and the switch of the
//! command to one of them, as `docker run --user` does.

use crate::error::{Error, quoted};
use crate::trace;

/// `--user=USER[:GROUP]` as written: each a name or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
}

impl UserSpec {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::new("invalid user", quoted(text), why);
        let (user, group) = match text.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (text, None),
        };
        let valid = |s: &str| !s.is_empty() && !s.contains(':') && !s.bytes().any(|b| b.is_ascii_whitespace());
        if !valid(user) || group.is_some_and(|g| !valid(g)) {
            return Err(bad("expected USER or USER:GROUP, names or numbers"));
        }
        Ok(Self { user: user.to_owned(), group: group.map(str::to_owned) })
    }

    /// Whether resolving needs /etc/passwd or /etc/group (a name is given).
    pub fn needs_names(&self) -> bool {
        number(&self.user).is_none() || self.group.as_deref().is_some_and(|g| number(g).is_none())
    }
}

fn number(text: &str) -> Option<u32> {
    crate::values::decimal(text, u64::from(u32::MAX) - 1).ok().map(|n| n as u32)
}

/// Who the command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    /// The supplementary groups /etc/group lists for a named user (its own gid first).
    pub groups: Vec<u32>,
    /// From /etc/passwd, when the user is there: for HOME, USER and LOGNAME.
    pub name: Option<String>,
    pub home: Option<String>,
}

/// Resolve `spec` against the texts of /etc/passwd and /etc/group (None
/// when the root has none). A number not in passwd is taken as it is, with
/// group 0, as Docker and podman do.
pub fn resolve(spec: &UserSpec, passwd: Option<&str>, group: Option<&str>) -> Result<Account, String> {
    let entries: Vec<Vec<&str>> = passwd.unwrap_or("").lines().map(|l| l.split(':').collect()).collect();
    let entry = entries
        .iter()
        .find(|f| f.len() >= 7 && (f[0] == spec.user || number(&spec.user).is_some_and(|n| f[2].parse() == Ok(n))));
    let (uid, mut gid, name, home) = match (entry, number(&spec.user)) {
        (Some(f), _) => {
            let uid = f[2].parse().map_err(|_| format!("a bad /etc/passwd line for '{}'", f[0]))?;
            let gid = f[3].parse().map_err(|_| format!("a bad /etc/passwd line for '{}'", f[0]))?;
            (uid, gid, Some(f[0].to_owned()), Some(f[5].to_owned()))
        }
        (None, Some(uid)) => (uid, 0, None, None),
        (None, None) if passwd.is_none() => return Err("the root has no /etc/passwd to look the name up in".into()),
        (None, None) => return Err("no such user in the root's /etc/passwd".into()),
    };
    let groups_text = group.unwrap_or("");
    let group_entries: Vec<Vec<&str>> = groups_text.lines().map(|l| l.split(':').collect()).collect();
    if let Some(g) = &spec.group {
        gid = match (number(g), group_entries.iter().find(|f| f.len() >= 3 && f[0] == g.as_str())) {
            (Some(n), _) => n,
            (None, Some(f)) => f[2].parse().map_err(|_| format!("a bad /etc/group line for '{g}'"))?,
            (None, None) if group.is_none() => return Err("the root has no /etc/group to look the group up in".into()),
            (None, None) => return Err(format!("no group '{g}' in the root's /etc/group")),
        };
    }
    let mut groups = vec![gid];
    if let (Some(user), None) = (&name, &spec.group) {
        for f in group_entries.iter().filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == user)) {
            if let Ok(g) = f[2].parse::<u32>()
                && !groups.contains(&g)
            {
                groups.push(g);
            }
        }
    }
    Ok(Account { uid, gid, groups, name, home })
}

/// The text of an image's /etc/passwd or /etc/group from its descriptor,
/// opened with O_NONBLOCK: only a regular file of at most 1 MiB, so that a
/// hostile image's FIFO or device cannot hang or flood the tool.
pub fn read_accounts(fd: std::os::fd::OwnedFd) -> Option<String> {
    String::from_utf8(crate::read_regular_file(std::fs::File::from(fd), 1 << 20).ok()?).ok()
}

/// Open `path` for [`read_accounts`]: never blocking on a FIFO.
pub fn open_accounts(path: &str) -> Option<String> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    read_accounts(fd)
}

/// Become `account`: supplementary groups, group, user (in that order, while
/// we may), then HOME, USER and LOGNAME from passwd.
pub fn switch_to(account: &Account) -> Result<(), Error> {
    use nix::unistd::{Gid, Uid};
    trace::step(|| format!("setpriv --reuid={} --regid={} --groups={:?}", account.uid, account.gid, account.groups));
    let groups: Vec<Gid> = account.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    match nix::unistd::setgroups(&groups) {
        Ok(()) => {}
        // A user namespace with setgroups denied keeps the groups it has: fine for the one gid mapped.
        Err(nix::errno::Errno::EPERM) if crate::userns::in_user_namespace() => {
            trace::step(|| "setgroups refused (EPERM: denied in this user namespace): groups left as they are".into())
        }
        Err(e) => return Err(Error::sys("cannot set the groups of", account.uid, e)),
    }
    let unmapped = |e: nix::errno::Errno, what: &str, id: u32| {
        let why = match e {
            nix::errno::Errno::EINVAL => "Invalid argument (not mapped in this user namespace)".to_owned(),
            e => e.desc().to_owned(),
        };
        Error::new(format!("cannot switch to {what}"), id, why)
    };
    nix::unistd::setgid(Gid::from_raw(account.gid)).map_err(|e| unmapped(e, "group", account.gid))?;
    nix::unistd::setuid(Uid::from_raw(account.uid)).map_err(|e| unmapped(e, "user", account.uid))?;
    if let Some(name) = &account.name {
        let home = account.home.as_deref().filter(|h| !h.is_empty()).unwrap_or("/");
        // SAFETY: the tools are single-threaded: nothing reads the environment concurrently.
        unsafe {
            std::env::set_var("HOME", home);
            std::env::set_var("USER", name);
            std::env::set_var("LOGNAME", name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                          alice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:alice\n";

    fn user(text: &str) -> UserSpec {
        UserSpec::parse(text).unwrap()
    }

    #[test]
    fn names_and_numbers() {
        let alice = resolve(&user("alice"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((alice.uid, alice.gid, alice.groups.as_slice()), (1000, 1000, &[1000, 10, 29][..]));
        assert_eq!((alice.name.as_deref(), alice.home.as_deref()), (Some("alice"), Some("/home/alice")));
        let nobody = resolve(&user("65534"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((nobody.uid, nobody.gid, nobody.name.as_deref()), (65534, 65534, Some("nobody")));
        // Numbers need no passwd; an unknown uid gets group 0, as Docker does.
        let numeric = resolve(&user("1234:1234"), None, None).unwrap();
        assert_eq!((numeric.uid, numeric.gid, numeric.groups.as_slice()), (1234, 1234, &[1234][..]));
        assert_eq!(resolve(&user("4321"), Some(PASSWD), Some(GROUP)).unwrap().gid, 0);
        let grouped = resolve(&user("alice:wheel"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((grouped.gid, grouped.groups.as_slice()), (10, &[10][..]));
    }

    #[test]
    fn what_cannot_be_resolved_says_why() {
        assert_eq!(
            resolve(&user("carol"), Some(PASSWD), Some(GROUP)).unwrap_err(),
            "no such user in the root's /etc/passwd"
        );
        assert!(resolve(&user("alice"), None, None).unwrap_err().contains("no /etc/passwd"));
        assert!(resolve(&user("alice:staff"), Some(PASSWD), Some(GROUP)).unwrap_err().contains("no group 'staff'"));
        for bad in ["", ":", "a:", ":b", "a:b:c", "a b"] {
            assert!(UserSpec::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!user("1000:1000").needs_names() && user("alice").needs_names() && user("1:wheel").needs_names());
    }
}

//! What a process takes on last before it runs a command in a container:
//! its bounding set, seccomp filters, user and groups, capability sets and
//! no_new_privs, in the one order that keeps each step possible. nsjoin
//! takes on a target's this way, and nsrun a config's process, at start
//! and at exec.

use crate::account::{self, Account};
use crate::caps;
use crate::error::Error;
use crate::seccomp;

/// The privileges to end with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges {
    pub bounding: u64,
    pub sets: caps::Sets,
    pub ambient: u64,
    pub no_new_privs: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Becoming {
    /// None: keep ours.
    pub privileges: Option<Privileges>,
    /// Seccomp filters to stack, oldest first.
    pub filters: Vec<Vec<libc::sock_filter>>,
    /// None: stay who we are.
    pub account: Option<Account>,
    /// The last filter is installed with a listener (SCMP_ACT_NOTIFY), which take_on returns.
    pub listen: bool,
}

impl Becoming {
    /// The bounding set while CAP_SETPCAP is ours; without no_new_privs the
    /// filters while CAP_SYS_ADMIN is (so they need not allow what follows);
    /// the user, keeping capabilities across the switch; the sets, never more
    /// than we held; then no_new_privs and, under it, the filters, as late as
    /// can be (as runc does).
    pub fn take_on(&self) -> Result<Option<std::os::fd::OwnedFd>, Error> {
        let ours = caps::Sets::read()?.permitted;
        let nnp = self.privileges.is_some_and(|p| p.no_new_privs);
        if let Some(p) = &self.privileges {
            caps::limit_bounding(p.bounding & ours)?;
        }
        let mut listener = None;
        if !nnp {
            listener = self.install_filters()?;
        }
        if let Some(a) = self.account.as_ref().filter(|a| !already(a)) {
            if a.uid != 0 && self.privileges.is_some() {
                nix::sys::prctl::set_keepcaps(true).map_err(|e| Error::sys("cannot set", "PR_SET_KEEPCAPS", e))?;
            }
            account::switch_to(a)?;
        }
        if let Some(p) = &self.privileges {
            let permitted = p.sets.permitted & ours;
            caps::limit_sets(permitted)?;
            caps::Sets {
                effective: p.sets.effective & permitted,
                permitted,
                inheritable: p.sets.inheritable & permitted,
            }
            .write()?;
            caps::raise_ambient(p.ambient & permitted & p.sets.inheritable)?;
        }
        if nnp {
            nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("cannot set", "no_new_privs", e))?;
            listener = self.install_filters()?;
        }
        Ok(listener)
    }

    /// The filters, oldest first; the last with a listener when asked.
    fn install_filters(&self) -> Result<Option<std::os::fd::OwnedFd>, Error> {
        let Some((last, earlier)) = self.filters.split_last() else { return Ok(None) };
        for filter in earlier {
            seccomp::install(filter)?;
        }
        if self.listen {
            return seccomp::install_listening(last).map(Some);
        }
        seccomp::install(last).map(|()| None)
    }
}

/// We are that user with those groups already: nothing to switch (and a
/// caller without CAP_SETGID could not even set the same groups again).
fn already(account: &Account) -> bool {
    use nix::unistd::{getegid, geteuid, getgroups};
    let groups: Option<Vec<u32>> = getgroups().ok().map(|g| g.iter().map(|g| g.as_raw()).collect());
    geteuid().as_raw() == account.uid && getegid().as_raw() == account.gid && groups.as_ref() == Some(&account.groups)
}

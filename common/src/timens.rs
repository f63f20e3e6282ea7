//! Time namespaces: a new one, and its clock offsets.

use std::path::Path;

use crate::error::Error;
use crate::{ns, procfs, trace};

/// Enter a new time namespace for the children (and, at exec, for this
/// process) and set its clock offsets, which the kernel accepts only before
/// any process lives in it.
pub fn new_time_namespace(monotonic: Option<i64>, boottime: Option<i64>) -> Result<(), Error> {
    trace::step(|| "unshare --time".to_owned());
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .map_err(|e| ns::namespace_failure("cannot create namespace", libc::CLONE_NEWTIME, e))?;
    let mut text = String::new();
    if let Some(s) = monotonic {
        text.push_str(&format!("monotonic {s} 0\n"));
    }
    if let Some(s) = boottime {
        text.push_str(&format!("boottime {s} 0\n"));
    }
    if text.is_empty() {
        return Ok(());
    }
    trace::step(|| format!("echo '{}' > /proc/self/timens_offsets", text.trim_end().replace('\n', "; ")));
    procfs::write_once(Path::new("/proc/self/timens_offsets"), &text)
        .map_err(|e| Error::sys("cannot set clock offsets", "/proc/self/timens_offsets", e))
}

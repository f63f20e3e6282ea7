//! What /proc says and takes: files written in one write(2), mountinfo
//! read, the uid map read back.

use std::path::Path;

use nix::errno::Errno;

/// Write a /proc or /sys file in a single write(2): these files take
/// their whole content in one.
pub fn write_once(path: &Path, text: &str) -> Result<(), Errno> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // One write: these proc files take their content in a single write(2).
    let n = nix::unistd::write(&fd, text.as_bytes())?;
    if n != text.len() { Err(Errno::EIO) } else { Ok(()) }
}

/// Whether a process's `/proc/PID/mountinfo` shows it sealed away from every
/// file (see [`seal_away_from_files`]): a single mount, at `/`, read-only.
pub fn sealed_mountinfo(text: &str) -> bool {
    let mut lines = text.lines();
    let (Some(line), None) = (lines.next(), lines.next()) else { return false };
    let fields: Vec<&str> = line.split(' ').collect();
    fields.len() > 5 && fields[4] == "/" && fields[5].split(',').any(|o| o == "ro")
}

/// The file system type of the mount whose mount point is `dir`, from
/// /proc/self/mountinfo (the last one: it hides the others).
pub fn mount_at<'a>(mountinfo: &'a str, dir: &Path) -> Option<&'a str> {
    use std::os::unix::ffi::OsStrExt;
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            let point = fields.get(4)?;
            (unescape_octal(point) == dir.as_os_str().as_bytes()).then(|| fields.get(dash + 1).copied()).flatten()
        })
        .next_back()
}

/// The mount point of the mount that holds `path` (the longest mount point
/// above it, the last of equals), and whether that mount is shared.
pub fn mount_holding(mountinfo: &str, path: &Path) -> Option<(std::path::PathBuf, bool)> {
    use std::os::unix::ffi::OsStrExt;
    let mut best: Option<(std::path::PathBuf, bool)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
        let Some(point) = fields.get(4) else { continue };
        let point = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_octal(point)));
        let shared = fields.get(6..dash).is_some_and(|tags| tags.iter().any(|t| t.starts_with("shared:")));
        if path.starts_with(&point) && best.as_ref().is_none_or(|(b, _)| point.as_os_str().len() >= b.as_os_str().len())
        {
            best = Some((point, shared));
        }
    }
    best
}

/// A mountinfo field as the path it names (`\040` is a space), for display.
pub fn unescape_mountinfo(text: &str) -> String {
    String::from_utf8_lossy(&unescape_octal(text)).into_owned()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes.get(i + 1..i + 4).and_then(|o| u8::from_str_radix(std::str::from_utf8(o).ok()?, 8).ok());
        match (bytes[i], code) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_holding_a_path() {
        let info = "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:40 / /var/lib rw - tmpfs tmpfs rw\n\
                    31 30 0:41 / /var/lib/c\\040d rw shared:7 master:2 - tmpfs tmpfs rw\n";
        let at = |p: &str| mount_holding(info, Path::new(p));
        assert_eq!(at("/var/lib/c d/rootfs"), Some(("/var/lib/c d".into(), true)));
        assert_eq!(at("/var/lib/x/rootfs"), Some(("/var/lib".into(), false)));
        assert_eq!(at("/var/library"), Some(("/".into(), true)));
        assert_eq!(at("/"), Some(("/".into(), true)));
    }

    #[test]
    fn mount_points_from_mountinfo() {
        let info = "22 1 0:21 / /dev/shm rw - tmpfs tmpfs rw\n23 1 8:1 / /srv/my\\040img rw - ext4 /dev/sda1 rw\n\
                    24 22 0:30 / /dev/shm rw,nosuid shared:5 - devtmpfs udev rw\n";
        assert_eq!(mount_at(info, Path::new("/dev/shm")), Some("devtmpfs"));
        assert_eq!(mount_at(info, Path::new("/srv/my img")), Some("ext4"));
        assert_eq!(mount_at(info, Path::new("/srv")), None);
        assert_eq!(unescape_octal("a\\134b\\"), b"a\\b\\");
    }
}

//! What mkroot is asked to build, parsed and checked before any mount:
//! the filesystem operations in command-line order, and the capabilities to drop.

use std::path::{Component, Path, PathBuf};

use common::Error;
use common::error::quoted;
use common::rootfs::Make;

/// One filesystem operation inside the new root, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Bind a host path (read-only when `ro`); `make` is what its target is
    /// made as where it is missing, a directory for a directory.
    Bind { src: PathBuf, dst: PathBuf, ro: bool, make: Make },
    /// A fresh tmpfs.
    Tmpfs { dst: PathBuf },
    /// A directory.
    Dir { dst: PathBuf },
    /// A symbolic link at `dst` pointing to `target`.
    Symlink { target: PathBuf, dst: PathBuf },
}

/// A path inside the container: absolute, without `..`, normalized.
pub fn container_path(text: &str, what: &str, spec: &str) -> Result<PathBuf, Error> {
    let bad = |why: &str| Error::new(format!("invalid {what}"), quoted(spec), why);
    if text.is_empty() {
        return Err(bad("empty section"));
    }
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(bad(&format!("container path '{text}' must be absolute")));
    }
    let mut clean = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(bad(&format!("container path '{text}' holds '..'"))),
            Component::Normal(p) => clean.push(p),
            Component::Prefix(_) => return Err(bad("not a Unix path")),
        }
    }
    Ok(clean)
}

/// Where a mount must not go: the root itself, and the kernel interfaces
/// mkroot sets up itself. The reason completes "mkroot …".
pub fn reserved_target(dst: &Path) -> Option<String> {
    if dst == Path::new("/") {
        return Some("cannot mount over the root itself".to_owned());
    }
    for special in ["/proc", "/sys"] {
        if dst.starts_with(special) {
            return Some(format!("sets up {special} itself, with its masks"));
        }
    }
    if dst == Path::new("/dev") {
        return Some("sets up /dev itself (bind single devices below it instead)".to_owned());
    }
    None
}

fn check_mount_target(dst: &Path, what: &str, spec: &str) -> Result<(), Error> {
    match reserved_target(dst) {
        Some(why) => Err(Error::new(format!("invalid {what}"), quoted(spec), format!("mkroot {why}"))),
        None => Ok(()),
    }
}

/// A bind's source on the host, and what its target is made as: looked at
/// once, here (following a link; a dangling one is found, and made a file).
fn host_source(text: &str, what: &str, spec: &str, absolute: bool) -> Result<(PathBuf, Make), Error> {
    if text.is_empty() {
        return Err(Error::new(format!("invalid {what}"), quoted(spec), "empty section"));
    }
    let src = PathBuf::from(text);
    if absolute && !src.is_absolute() {
        return Err(Error::new(
            format!("invalid {what}"),
            quoted(spec),
            format!("host path '{text}' must be absolute"),
        ));
    }
    let make = match std::fs::metadata(&src) {
        Ok(m) if m.is_dir() => Make::Dir,
        Ok(_) => Make::File,
        Err(_) if std::fs::symlink_metadata(&src).is_ok() => Make::File,
        Err(_) => {
            return Err(Error::new(format!("invalid {what}"), quoted(spec), format!("source '{text}' not found")));
        }
    };
    Ok((src, make))
}

/// `-b SRC[:DST]` and `-r SRC[:DST]`.
pub fn parse_bind(spec: &str, ro: bool) -> Result<Op, Error> {
    let what = if ro { "read-only bind" } else { "bind" };
    let (src, dst) = match spec.split_once(':') {
        Some((src, dst)) => (src, dst),
        None => (spec, spec),
    };
    if dst.contains(':') {
        return Err(Error::new(format!("invalid {what}"), quoted(spec), "too many ':'"));
    }
    let dst = container_path(dst, what, spec)?;
    check_mount_target(&dst, what, spec)?;
    let (src, make) = host_source(src, what, spec, false)?;
    Ok(Op::Bind { src, dst, ro, make })
}

/// `-v HOST:CONT[:ro|rw]`, as `docker run -v` takes it.
pub fn parse_volume(spec: &str) -> Result<Op, Error> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, cont, ro) = match parts[..] {
        [_] => return Err(Error::new("invalid volume", quoted(spec), "missing ':' between HOST and CONT")),
        [host, cont] => (host, cont, false),
        [host, cont, "ro"] => (host, cont, true),
        [host, cont, "rw"] => (host, cont, false),
        [_, _, option] => {
            return Err(Error::new("invalid volume", quoted(spec), format!("unknown option '{option}' (ro or rw)")));
        }
        _ => return Err(Error::new("invalid volume", quoted(spec), "too many ':'")),
    };
    if host.is_empty() || cont.is_empty() {
        return Err(Error::new("invalid volume", quoted(spec), "empty section"));
    }
    let dst = container_path(cont, "volume", spec)?;
    check_mount_target(&dst, "volume", spec)?;
    let (src, make) = host_source(host, "volume", spec, true)?;
    Ok(Op::Bind { src, dst, ro, make })
}

pub fn parse_tmpfs(spec: &str) -> Result<Op, Error> {
    let dst = container_path(spec, "tmpfs", spec)?;
    check_mount_target(&dst, "tmpfs", spec)?;
    Ok(Op::Tmpfs { dst })
}

pub fn parse_dir(spec: &str) -> Result<Op, Error> {
    Ok(Op::Dir { dst: container_path(spec, "dir", spec)? })
}

/// `--symlink TARGET:DST`: TARGET is what the link says, taken as it is.
pub fn parse_symlink(spec: &str) -> Result<Op, Error> {
    let Some((target, dst)) = spec.rsplit_once(':') else {
        return Err(Error::new("invalid symlink", quoted(spec), "missing ':' between TARGET and DST"));
    };
    if target.is_empty() {
        return Err(Error::new("invalid symlink", quoted(spec), "empty section"));
    }
    let dst = container_path(dst, "symlink", spec)?;
    if dst == Path::new("/") {
        return Err(Error::new("invalid symlink", quoted(spec), "cannot replace the root"));
    }
    Ok(Op::Symlink { target: PathBuf::from(target), dst })
}

/// `--mode=MODE`: octal permission bits.
pub fn parse_mode(text: &str) -> Result<u32, Error> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !text.is_empty())
        .ok_or_else(|| Error::new("invalid mode", quoted(text), "expected octal permission bits such as 0755"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_absolute_and_clean() {
        assert_eq!(container_path("/a//b/./c/", "x", "s").unwrap(), PathBuf::from("/a/b/c"));
        assert!(container_path("rel", "x", "s").unwrap_err().to_string().contains("must be absolute"));
        assert!(container_path("/a/../b", "x", "s").unwrap_err().to_string().contains("holds '..'"));
        assert!(container_path("", "x", "s").unwrap_err().to_string().contains("empty section"));
    }

    #[test]
    fn volumes_like_docker() {
        let op = parse_volume("/tmp:/shared").unwrap();
        assert_eq!(op, Op::Bind { src: "/tmp".into(), dst: "/shared".into(), ro: false, make: Make::Dir });
        assert_eq!(
            parse_volume("/tmp:/shared:ro").unwrap(),
            Op::Bind { src: "/tmp".into(), dst: "/shared".into(), ro: true, make: Make::Dir }
        );
        let cases = [
            ("foo", "missing ':'"),
            (":/d", "empty section"),
            ("/tmp:", "empty section"),
            ("/tmp:rel", "must be absolute"),
            ("rel:/d", "must be absolute"),
            ("/no/such/source:/d", "source '/no/such/source' not found"),
            ("/tmp:/d:bogusopt", "unknown option 'bogusopt'"),
            ("/tmp:/", "over the root"),
            ("/tmp:/proc", "mkroot sets up /proc itself"),
            ("/tmp:/proc/sys", "mkroot sets up /proc itself"),
            ("/tmp:/sys", "mkroot sets up /sys itself"),
            ("/tmp:/dev", "mkroot sets up /dev itself"),
            ("/tmp:/a:ro:x", "too many"),
        ];
        for (spec, why) in cases {
            let err = parse_volume(spec).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid volume: '{spec}': ")) && err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn binds() {
        assert_eq!(
            parse_bind("/usr", true).unwrap(),
            Op::Bind { src: "/usr".into(), dst: "/usr".into(), ro: true, make: Make::Dir }
        );
        assert_eq!(
            parse_bind("/tmp:/x", false).unwrap(),
            Op::Bind { src: "/tmp".into(), dst: "/x".into(), ro: false, make: Make::Dir }
        );
        let file = parse_bind("/etc/passwd:/p", true).unwrap();
        assert!(matches!(file, Op::Bind { make: Make::File, .. }), "{file:?}");
        assert!(parse_bind("/nonexistent-src", false).is_err());
        assert!(parse_bind("/tmp:/x:y", false).is_err());
        assert!(parse_bind("relative", false).unwrap_err().to_string().contains("must be absolute"));
        assert!(parse_bind("/tmp:/dev/shm", false).is_ok());
    }

    #[test]
    fn tmpfs_dir_symlink() {
        assert_eq!(parse_tmpfs("/run").unwrap(), Op::Tmpfs { dst: "/run".into() });
        assert!(parse_tmpfs("/").is_err());
        assert_eq!(parse_dir("/a/b").unwrap(), Op::Dir { dst: "/a/b".into() });
        assert_eq!(
            parse_symlink("usr/lib:/lib").unwrap(),
            Op::Symlink { target: "usr/lib".into(), dst: "/lib".into() }
        );
        assert!(parse_symlink("/x").is_err());
        assert!(parse_symlink(":/x").is_err());
    }

    #[test]
    fn fuzz_specs() {
        let mut rng = common::fuzz::Rng::new(0xfeed);
        let seeds = ["/tmp:/shared:ro", "/usr", "/tmp:/x", "usr/lib:/lib", "CAP_NET_RAW,sys_admin", "0755", "/a/b"];
        for _ in 0..20_000 {
            let seed = seeds[rng.below(seeds.len())];
            let text = rng.mutate(seed, common::fuzz::NASTY);
            let _ = (parse_volume(&text), parse_bind(&text, true), parse_tmpfs(&text), parse_dir(&text));
            let _ = (parse_symlink(&text), common::caps::parse_caps(&text), parse_mode(&text));
            if let Ok(Op::Bind { dst, .. } | Op::Tmpfs { dst } | Op::Dir { dst } | Op::Symlink { dst, .. }) =
                parse_volume(&text)
            {
                assert!(dst.is_absolute() && !dst.components().any(|c| c == Component::ParentDir), "{text:?}");
            }
        }
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0755").unwrap(), 0o755);
        assert_eq!(parse_mode("1777").unwrap(), 0o1777);
        assert!(parse_mode("999").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("77777").is_err());
    }
}

//! The build honours $CARGO_TARGET_DIR, as Rust developers set it: make puts
//! the tools there and target/shipped (what make install copies) points
//! there; the lanes' scripts take their binaries from there. Read through
//! `make -n`, so nothing is built or linked by the test. And `make build`,
//! `make install` and `make uninstall` run as other distributions run them:
//! bash or busybox as /bin/sh, gawk or busybox as awk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::Command;

use nstools::{
    Guard, TempDir, bin, bin_dir, copy_program, file_tree, have_program, is_root, require_host, source_dir, stderr,
    stdout,
};

/// What `make -n TARGETS` would run with CARGO_TARGET_DIR set to `dir`.
fn dry_run(dir: &str, targets: &[&str]) -> String {
    let out = Command::new("make")
        .args(["-n", "--no-print-directory", "-C"])
        .arg(source_dir())
        .arg(format!("CARGO_TARGET_DIR={dir}"))
        .args(targets)
        .env_remove("MAKEFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn make_builds_and_links_where_cargo_target_dir_says() {
    require_host!(source_dir().join("Makefile").exists() && have_program("make"), "the Makefile is in the sources");
    let plan = dry_run("/nstools-out", &["build"]);
    let link = plan.lines().find(|l| l.contains("target/shipped") && l.contains("ln ")).unwrap_or_default();
    assert!(link.contains(" /nstools-out/") && link.ends_with("/release target/shipped"), "{plan}");
    // A relative one is taken from the checkout, as cargo takes it.
    let plan = dry_run("out-rel", &["build"]);
    let link = plan.lines().find(|l| l.contains("ln ")).unwrap_or_default();
    assert!(link.contains(&format!(" {}/out-rel/", source_dir().display())), "{plan}");
    let plan = dry_run("/nstools-out", &["lint"]);
    assert!(plan.contains("--target-dir /nstools-out/cri"), "tests/cri's client too: {plan}");
    // The lanes take the binaries cargo built, wherever that is.
    for script in ["tests/vm/run", "tests/systemd/run", "bench/run"] {
        let text = std::fs::read_to_string(source_dir().join(script)).unwrap();
        let fixed: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter(|l| l.contains("target/debug") || l.contains("target/cri") || l.contains("target/release"))
            .filter(|l| !l.contains("${CARGO_TARGET_DIR:-target}"))
            .collect();
        assert!(fixed.is_empty(), "{script} names cargo's output directory itself: {fixed:?}");
    }
}

/// The sources `make build`, `make install` and `make uninstall` read, copied into `dir`
/// (no tool's sources: the tool directories only, for the Makefile's list of tools).
fn copy_build_sources(dir: &std::path::Path) {
    let src = source_dir();
    for sub in ["completions", "packaging", "man", "tools"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for file in ["Makefile", "completions/generate", "packaging/rust-target"] {
        copy_program(&src.join(file), &dir.join(file));
    }
    for entry in std::fs::read_dir(src.join("man")).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.join("man").join(entry.file_name())).unwrap();
    }
    for entry in std::fs::read_dir(src.join("tools")).unwrap().flatten() {
        std::fs::create_dir_all(dir.join("tools").join(entry.file_name())).unwrap();
    }
}

/// What the build runs, in a root where /bin/sh and awk are what Fedora and Arch have (bash,
/// gawk) or what an Alpine-like system has (busybox's sh and awk): the host's programs bound
/// over dash and over what `awk` resolves to, by mkroot. cargo itself is not run (CARGO=true;
/// the binaries the tests run stand for its output): what is tested is the Makefile's recipes
/// and the scripts they call, with the completions byte for byte those of the host's build.
#[test]
fn make_builds_and_installs_with_each_distributions_sh_and_awk() {
    require_host!(
        is_root() && have_program("make") && have_program("bash") && have_program("gawk") && have_program("busybox"),
        "needs root, make, bash, gawk and busybox (tests/packages)"
    );
    let triple = "nstools-test-triple";
    let reference = TempDir::new("build-reference");
    let made = Command::new(source_dir().join("completions/generate"))
        .arg(bin_dir())
        .arg(reference.path().join("completions"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let want = file_tree(&reference.path().join("completions"));
    for (userland, sh, awk, sh_says, awk_says) in [
        ("fedora-like", "/usr/bin/bash", "/usr/bin/gawk", "GNU bash", "GNU Awk"),
        ("alpine-like", "/usr/bin/busybox", "/usr/bin/busybox", "BusyBox", "BusyBox"),
    ] {
        let work = TempDir::new(&format!("build-{userland}"));
        let root = TempDir::new(&format!("build-{userland}-root"));
        let (src, out) = (work.path().join("src"), work.path().join("out"));
        copy_build_sources(&src);
        let release = out.join(triple).join("release");
        std::fs::create_dir_all(&release).unwrap();
        for tool in nstools::tools().iter().map(String::as_str).chain(["nsrun"]) {
            copy_program(&bin_dir().join(tool), &release.join(tool));
        }
        let script = format!(
            r#"set -e
echo "sh: $(/bin/sh --help 2>&1 | head -n 1)"
echo "awk: $(awk --version 2>&1 | grep -m 1 -o 'GNU Awk\|BusyBox' || :)"
cd {src}
make -s build CARGO=true CARGO_TARGET_DIR={out}
make -s install DESTDIR={work}/dest PREFIX=/usr/local
echo "installed: $(find {work}/dest -type f | wc -l)"
make -s uninstall DESTDIR={work}/dest PREFIX=/usr/local
echo "left: $(find {work}/dest -type f | wc -l)"
"#,
            src = src.display(),
            out = out.display(),
            work = work.path().display(),
        );
        let guard = Guard::new(&[]);
        let run = guard
            .command("nsclone")
            .args(["-mp", bin("mkroot").to_str().unwrap(), "-r"])
            .arg(format!("{sh}:/usr/bin/sh"))
            .arg("-r")
            .arg(format!("{awk}:/usr/bin/awk"))
            .arg("-b")
            .arg(work.path())
            .arg(root.path().join("r"))
            .args(["/usr/bin/sh", "-c", &script])
            .env("NSTOOLS_TARGET", triple)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .output()
            .unwrap();
        guard.check();
        let said = stdout(&run);
        assert!(run.status.success(), "{userland}: {said}{}", stderr(&run));
        assert!(said.lines().any(|l| l.starts_with("sh: ") && l.contains(sh_says)), "{userland}: {said}");
        assert!(said.lines().any(|l| l == format!("awk: {awk_says}")), "{userland}: {said}");
        // Each of the six tools and nsrun: the binary, its man page and three completions; nstools.7.
        assert!(said.contains(&format!("installed: {}\n", 7 * 5 + 1)), "{userland}: {said}");
        assert!(said.contains("left: 0\n"), "{userland}: {said}");
        let link = std::fs::read_link(src.join("target/shipped")).unwrap();
        assert_eq!(link, release, "{userland}");
        assert!(file_tree(&src.join("target/completions")) == want, "{userland}: other completions than the host's");
    }
}

//! The build honours $CARGO_TARGET_DIR, as Rust developers set it: make puts
//! the tools there and target/shipped (what make install copies) points
//! there; the lanes' scripts take their binaries from there. Read through
//! `make -n`, so nothing is built or linked by the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::Command;

use nstools::{have_program, require_host, source_dir, stderr, stdout};

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

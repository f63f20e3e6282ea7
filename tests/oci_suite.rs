//! The opencontainers runtime-tools validation suite (vendored in
//! tests/oci, built offline with Debian's Go) against nsrun, fenced by
//! tests/oci/suite in a cgroup, mount and cgroup namespace of its own: every
//! file that runc 1.1.5 passes here (tests/oci/baseline-runc.md) passes for
//! nsrun too, apart from the exceptions below, each with its reason. The
//! per-file table is printed (the README quotes it); oks do not count skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;
use std::process::Command;

use nstools::{Guard, TempDir, bin, bin_dir, have_program, in_vm_lane, is_root, require, require_host, source_dir};

// The runner and the baseline travel inside the test binary: the VM lane has no sources.
const FENCE: &str = include_str!("oci/fence");
const SUITE: &str = include_str!("oci/suite");
const BASELINE: &str = include_str!("oci/baseline-runc.md");

/// Files runc passes that nsrun fails on purpose.
const EXCEPTIONS: &[(&str, &str)] = &[(
    "linux_ns_itype",
    "a container without a mount namespace of its own would mount and pivot in nsrun's, the host's: refused",
)];

/// And in the VM lane (pure cgroup v2, no runc to measure there): files the
/// suite itself cannot judge on v2.
const VM_EXCEPTIONS: &[(&str, &str)] = &[
    ("linux_cgroups_cpus", V1_ONLY),
    ("linux_cgroups_pids", V1_ONLY),
    ("linux_cgroups_relative_cpus", V1_ONLY),
    ("linux_cgroups_relative_pids", V1_ONLY),
    ("delete_resources", V1_ONLY),
    (
        "delete_only_create_resources",
        "the file opens /sys/fs/cgroup/pids/cgrouptest/tasks, a v1 path, whatever the host has",
    ),
];

const V1_ONLY: &str =
    "the suite's validator reads cgroup v1 files only (\"cgroupv2 is not supported yet\"): no runtime passes it on v2";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Score {
    ok: u32,
    not_ok: u32,
    skip: u32,
    plan: String,
    rc: i32,
}

impl Score {
    /// A file passes when nothing in it failed and it ran to its end (a
    /// `_fail` file that expects the runtime to refuse prints nothing and exits 0).
    fn passes(&self) -> bool {
        self.not_ok == 0 && self.rc == 0
    }
}

fn baseline() -> BTreeMap<String, Score> {
    BASELINE
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').map(str::trim).collect();
            let [file, ok, not_ok, skip, plan] = cells.as_slice() else { return None };
            // The baseline counts a skip among its oks, as TAP prints it ("ok 7 # SKIP"); ours apart.
            let (ok, skip): (u32, u32) = (ok.parse().ok()?, skip.parse().ok()?);
            let score = Score {
                ok: ok.saturating_sub(skip),
                not_ok: not_ok.parse().ok()?,
                skip,
                plan: (*plan).to_owned(),
                rc: 0,
            };
            Some(((*file).to_owned(), score))
        })
        .collect()
}

#[test]
fn the_runtime_tools_suite_passes_every_file_runc_passes() {
    require!(is_root(), "needs root");
    // The VM lane carries the suite built on the host (tests/vm/run); the host builds it here.
    let tree = match std::env::var_os("NSTOOLS_OCI_SUITE") {
        Some(dir) => dir.to_string_lossy().into_owned(),
        None => {
            require_host!(!in_vm_lane(), "the VM image carries no suite (tests/vm/run found no go to build it)");
            require_host!(have_program("go"), "needs go to build the suite (tests/deps installs golang-go)");
            let built =
                Command::new(source_dir().join("tests/oci/build")).arg(bin_dir().join("oci-suite")).output().unwrap();
            assert!(built.status.success(), "building the suite: {}", String::from_utf8_lossy(&built.stderr));
            String::from_utf8_lossy(&built.stdout).trim().to_owned()
        }
    };
    let work = TempDir::new("oci-suite");
    let scripts = work.path().join("bin");
    std::fs::create_dir(&scripts).unwrap();
    for (name, text) in [("fence", FENCE), ("suite", SUITE)] {
        std::fs::write(scripts.join(name), text).unwrap();
        std::fs::set_permissions(scripts.join(name), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    for dir in ["tmp", "tap", "state"] {
        std::fs::create_dir(work.path().join(dir)).unwrap();
    }
    // The suite's TMPDIR, emptied by the runner after each file: nothing of it may stay.
    let guard = Guard::new(&[&work.path().join("tmp")]);
    let out = guard
        .watch(Command::new(scripts.join("suite")))
        .args([tree.as_str(), &bin("nsrun").display().to_string(), &work.path().display().to_string()])
        .arg(bin("nsunshare"))
        .output()
        .unwrap();
    assert!(out.status.success(), "the suite's runner: {}", String::from_utf8_lossy(&out.stderr));
    let ours: BTreeMap<String, Score> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [file, ok, not_ok, skip, plan, rc] = f.as_slice() else { return None };
            let score = Score {
                ok: ok.parse().ok()?,
                not_ok: not_ok.parse().ok()?,
                skip: skip.parse().ok()?,
                plan: if *plan == "-" { String::new() } else { (*plan).to_owned() },
                rc: rc.parse().unwrap_or(-1),
            };
            Some(((*file).to_owned(), score))
        })
        .collect();
    let runc = baseline();
    // The VM lane carries only the files runc passes; each of them is checked below.
    assert!(runc.len() > 50 && ours.len() >= 29, "too few files: ours {}, runc's {}", ours.len(), runc.len());
    let mut table =
        String::from("| file | nsrun ok | not ok | skip | runc ok | not ok | skip |\n|---|---|---|---|---|---|---|\n");
    let mut failures = Vec::new();
    let (mut total_ours, mut total_runc) = ((0, 0, 0), (0, 0, 0));
    for (file, r) in &runc {
        let o = ours.get(file).cloned().unwrap_or(Score { rc: -1, ..Score::default() });
        table += &format!("| {file} | {} | {} | {} | {} | {} | {} |\n", o.ok, o.not_ok, o.skip, r.ok, r.not_ok, r.skip);
        total_ours = (total_ours.0 + o.ok, total_ours.1 + o.not_ok, total_ours.2 + o.skip);
        total_runc = (total_runc.0 + r.ok, total_runc.1 + r.not_ok, total_runc.2 + r.skip);
        // runc passes a file when nothing failed in a plan of tests it printed (an
        // empty plan, 1..0, is a file that could not run here: blkio, hugetlb and
        // net_cls files are missing on this kernel).
        let runc_passes = r.not_ok == 0 && !r.plan.is_empty() && r.plan != "1..0";
        let excepted = EXCEPTIONS.iter().chain(if in_vm_lane() { VM_EXCEPTIONS } else { &[] }).any(|(f, _)| f == file);
        if !runc_passes || excepted {
            continue;
        }
        // A `_fail` file passes when the runtime refuses: runc's oks there are of a container it ran anyway.
        if !o.passes() || (!file.ends_with("_fail") && o.ok < r.ok) {
            // What the file said first: usually the runtime's one line.
            let tap = std::fs::read_to_string(work.path().join("tap").join(format!("{file}.tap"))).unwrap_or_default();
            let said: String = tap.lines().filter(|l| !l.trim().is_empty()).take(6).collect::<Vec<_>>().join(" / ");
            failures
                .push(format!("{file}: nsrun {o:?}, runc {r:?}\n    {}", said.chars().take(400).collect::<String>()));
        }
    }
    table += &format!(
        "| **total** | {} | {} | {} | {} | {} | {} |\n",
        total_ours.0, total_ours.1, total_ours.2, total_runc.0, total_runc.1, total_runc.2
    );
    println!("{table}");
    for (file, why) in EXCEPTIONS.iter().chain(if in_vm_lane() { VM_EXCEPTIONS } else { &[] }) {
        println!("exception: {file}: {why}");
    }
    assert!(failures.is_empty(), "files runc passes and nsrun does not:\n  {}\n{table}", failures.join("\n  "));
    guard.check();
}

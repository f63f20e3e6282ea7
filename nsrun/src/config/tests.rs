//! config.json read whole: real engines' configs, broken variants, fuzzed ones.

use super::*;

/// The configs real engines passed (../shared/oci/configs), parsed: what was understood.
#[test]
fn golden_parses_of_engine_configs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for name in ["ctr-run", "podman-run", "podman-run-options"] {
        let text = std::fs::read_to_string(dir.join(format!("configs/{name}.json"))).unwrap();
        let config = Config::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let golden = std::fs::read_to_string(dir.join(format!("golden/{name}.txt"))).unwrap_or_default();
        let got = summary(&config);
        if std::env::var_os("NSRUN_BLESS").is_some() {
            std::fs::write(dir.join(format!("golden/{name}.txt")), &got).unwrap();
            continue;
        }
        assert_eq!(got, golden, "{name}: run with NSRUN_BLESS=1 to see the difference as a diff");
    }
}

/// Broken variants of a real config, each refused with the field at fault.
#[test]
fn broken_configs_name_the_field() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let text = std::fs::read_to_string(dir.join("configs/ctr-run.json")).unwrap();
    let base: serde_json::Value = serde_json::from_str(&text).unwrap();
    let with = |pointer: &str, value: serde_json::Value| {
        let mut v = base.clone();
        // The field, set or added to its parent object.
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}")) {
            serde_json::Value::Object(o) => drop(o.insert(key.to_owned(), value)),
            other => *other.pointer_mut(&format!("/{key}")).unwrap_or_else(|| panic!("{pointer}")) = value,
        }
        Config::parse(&v.to_string()).unwrap_err().to_string()
    };
    use serde_json::json;
    for (pointer, value, want) in [
        ("/ociVersion", json!("2.0.0"), "ociVersion: '2.0.0' is not a 1.x version"),
        ("/process/args", json!([]), "process.args: missing or empty"),
        ("/process/args", json!("sh"), "process.args: expected an array"),
        ("/process/args/0", json!(7), "process.args[0]: expected a string"),
        ("/process/cwd", json!("tmp"), "process.cwd: 'tmp' is not an absolute path"),
        ("/process/env/0", json!("PATH"), "process.env[0]: 'PATH' is not NAME=VALUE"),
        ("/process/user/uid", json!(-1), "process.user.uid: -1 is out of range"),
        (
            "/process/capabilities/bounding/0",
            json!("CAP_FLY"),
            "process.capabilities.bounding[0]: 'CAP_FLY' is no capability",
        ),
        ("/process/rlimits/0/type", json!("RLIMIT_FOO"), "process.rlimits[0].type: 'RLIMIT_FOO' is no RLIMIT_*"),
        ("/process/rlimits/0/soft", json!(4096), "process.rlimits[0]: soft 4096 is above hard 1024"),
        ("/root/path", json!(""), "root.path: missing or empty"),
        ("/mounts/0/destination", json!("proc"), "mounts[0].destination: 'proc' is not an absolute path"),
        ("/linux/namespaces/0/type", json!("pidx"), "linux.namespaces[0].type: 'pidx' is no namespace type"),
        ("/linux/namespaces/1/type", json!("pid"), "linux.namespaces[1].type: 'pid' is listed twice"),
        (
            "/linux/resources/devices/1/access",
            json!("rwx"),
            "linux.resources.devices[1].access: 'rwx' is not made of r, w and m",
        ),
        ("/linux/resources/devices/1/type", json!("x"), "linux.resources.devices[1].type: 'x' is not one of acb"),
        ("/linux/resources/cpu/shares", json!("lots"), "linux.resources.cpu.shares: expected a number"),
        ("/linux/maskedPaths", json!({}), "linux.maskedPaths: expected an array"),
        ("/linux/resources/cpu/shares", json!(-3), "linux.resources.cpu.shares: expected a whole number"),
        ("/linux/resources/cpu", json!({"period": 5}), "linux.resources.cpu.period: out of range"),
        (
            "/linux/resources/memory",
            json!({"limit": 100, "swap": 50}),
            "linux.resources.memory.swap: 50 is below the limit 100",
        ),
        (
            "/linux/resources/memory",
            json!({"swappiness": 101}),
            "linux.resources.memory.swappiness: 101 is out of range",
        ),
        ("/linux/resources/cpu", json!({"cpus": "0-x"}), "linux.resources.cpu.cpus: expected a list such as 0-1,3"),
        ("/linux/resources/pids", json!({"limit": "many"}), "linux.resources.pids.limit: expected a number"),
        ("/linux/resources/devices", json!({}), "linux.resources.devices: expected an array"),
        (
            "/linux/resources/cpu",
            json!({"shares": 2, "realtimeRuntime": "x"}),
            "linux.resources.cpu.realtimeRuntime: expected a number",
        ),
        (
            "/linux/resources/blockIO",
            json!({"weightDevice": [{"major": 8, "minor": 0, "weight": 100}]}),
            "linux.resources.blockIO.weightDevice: is not built yet",
        ),
        (
            "/linux/resources/hugepageLimits",
            json!([{"pageSize": "2XB", "limit": 1}]),
            "linux.resources.hugepageLimits[0].pageSize: '2XB' is not a page size",
        ),
    ] {
        let got = with(pointer, value);
        assert!(got.starts_with(want), "{pointer}: {got}");
    }
    // A process outside the container moved in, or a cgroup killed, through `unified`: refused.
    for file in ["cgroup.procs", "cgroup.threads", "cgroup.kill"] {
        let mut v = base.clone();
        v["linux"]["resources"]["unified"] = json!({ file: "1" });
        let got = Config::parse(&v.to_string()).unwrap_err().to_string();
        assert!(got.starts_with(&format!("linux.resources.unified.{file}: not a limit")), "{got}");
    }
    // Rules across sections.
    let mut v = base.clone();
    v["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
    assert!(
        Config::parse(&v.to_string())
            .unwrap_err()
            .to_string()
            .starts_with("linux.uidMappings: id mappings need a user namespace")
    );
    let mut v = base.clone();
    v["linux"]["sysctl"] = json!({ "kernel.panic": "1" });
    assert!(Config::parse(&v.to_string()).unwrap_err().to_string().contains("not a namespaced sysctl"));
    assert!(Config::parse("{").unwrap_err().to_string().starts_with("config.json: not JSON"));
    assert!(Config::parse("[]").unwrap_err().to_string().starts_with("config.json: expected an object"));
}

/// podman's own profile, compiled by common's compiler, decides as podman means it.
#[test]
fn podmans_seccomp_profile_compiles_and_decides() {
    use common::seccomp::{Arch, audit_arch, compile, evaluate, number_of};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let text = std::fs::read_to_string(dir.join("configs/podman-run.json")).unwrap();
    let config = Config::parse(&text).unwrap();
    let profile = config.linux.seccomp.as_ref().unwrap().profile.clone();
    let arch = Arch::native().unwrap();
    let program = compile(&profile, arch).unwrap();
    assert!(program.len() < 4096, "{} instructions", program.len());
    let at = |name: &str, args: [u64; 6]| {
        evaluate(&program, audit_arch(arch), number_of(arch, name).unwrap(), args).unwrap()
    };
    let allow = 0x7fff_0000;
    assert_eq!(at("read", [0; 6]), allow);
    assert_eq!(at("execve", [0; 6]), allow);
    // Named with errnoRet 1: EPERM.
    assert_eq!(at("kexec_load", [0; 6]), 0x0005_0000 | 1);
    // Named nowhere: the default, ENOSYS (defaultErrnoRet 38).
    let listed: Vec<&str> = profile.rules.iter().flat_map(|r| r.names.iter().map(String::as_str)).collect();
    let unlisted = ["read", "write"]
        .iter()
        .chain(["uselib", "nfsservctl", "vserver", "afs_syscall", "tuxcall"].iter())
        .find(|n| !listed.contains(n) && number_of(arch, n).is_some())
        .expect("a call podman does not name");
    assert_eq!(at(unlisted, [0; 6]), 0x0005_0000 | 38, "{unlisted}");
    // Argument rules: personality only with the listed values; an audit
    // netlink socket (AF_NETLINK 16, NETLINK_AUDIT 9) gets EINVAL, other sockets go through.
    assert_eq!(at("personality", [0x8, 0, 0, 0, 0, 0]), allow);
    assert_eq!(at("personality", [0x40_0000, 0, 0, 0, 0, 0]), 0x0005_0000 | 38);
    assert_eq!(at("socket", [16, 3, 9, 0, 0, 0]), 0x0005_0000 | 22);
    assert_eq!(at("socket", [16, 3, 0, 0, 0, 0]), allow);
    assert_eq!(at("socket", [2, 1, 6, 0, 0, 0]), allow);
}

#[test]
fn fuzz_configs_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let text = std::fs::read_to_string(dir.join("configs/podman-run-options.json")).unwrap();
    let mut rng = common::fuzz::Rng::new(0x0c1);
    let bytes = text.as_bytes();
    for _ in 0..3000 {
        let mut mutated = bytes.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(mutated.len());
            let junk = b"{}[]\",:0-9ae \x00";
            mutated[at] = junk[rng.below(junk.len())];
        }
        let _ = Config::parse(&String::from_utf8_lossy(&mutated));
    }
}

/// Docker sends zeros for every resource its user did not set (blockIO.weight
/// 0 on every run): runc reads 0 as "unset", so no file is written, and -1
/// (and swappiness's uint64 -1) as no limit or unset.
#[test]
fn zeros_are_unset_as_runc_reads_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let text = std::fs::read_to_string(dir.join("configs/ctr-run.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let zeros = serde_json::json!({
        "memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0, "swappiness": u64::MAX},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "", "mems": ""},
        "pids": {"limit": 0},
        "blockIO": {"weight": 0, "leafWeight": 0, "weightDevice": [], "throttleReadBpsDevice": [],
                    "throttleWriteBpsDevice": [], "throttleReadIOPSDevice": [], "throttleWriteIOPSDevice": []},
        "network": {"classID": 0},
    });
    v["linux"]["resources"] = zeros;
    let config = Config::parse(&v.to_string()).unwrap();
    assert_eq!(config.linux.resources.writes, []);
    v["linux"]["resources"] = serde_json::json!({"pids": {"limit": -1}, "memory": {"limit": -1, "swappiness": -1}});
    let config = Config::parse(&v.to_string()).unwrap();
    let files: Vec<String> = config
        .linux
        .resources
        .writes
        .iter()
        .flat_map(|w| w.v2.iter().map(|f| format!("{}={}", f.file, f.value)))
        .collect();
    assert_eq!(files, ["memory.max=max", "pids.max=max"]);
    v["linux"]["resources"] = serde_json::json!({"blockIO": {"weight": 5}});
    assert!(Config::parse(&v.to_string()).unwrap_err().to_string().contains("blockIO.weight: 5 is out of range"));
}

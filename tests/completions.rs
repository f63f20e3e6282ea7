//! The shell completions (completions/generate, from each tool's --help),
//! driven in bash through a COMP_WORDS/COMP_CWORD harness, loaded by zsh's
//! compinit, and asked of fish with `complete -C`. Host only: the generator
//! is in the sources, and the VM has no bash, zsh or fish.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

use nstools::{TempDir, bin_dir, file_tree, have_program, require_host, source_dir, stderr, stdout};

fn generated(work: &TempDir) -> PathBuf {
    let out = work.path().join("completions");
    let status = Command::new(source_dir().join("completions/generate")).arg(bin_dir()).arg(&out).status().unwrap();
    assert!(status.success());
    out
}

/// The generator runs under every awk a distribution ships as `awk` (Fedora's and Arch's
/// gawk refused a bracket expression mawk took) and writes the same completions with each.
#[test]
fn every_awk_generates_the_same_completions() {
    let awks = ["mawk", "gawk", "busybox awk", "gawk --posix"];
    require_host!(
        awks.iter().all(|a| have_program(a.split(' ').next().unwrap())),
        "needs mawk, gawk and busybox (tests/packages)"
    );
    let work = TempDir::new("completions-awk");
    let mut seen = Vec::new();
    for awk in awks {
        let out = work.path().join(awk.replace(' ', "-"));
        let run =
            Command::new(source_dir().join("completions/generate")).env("AWK", awk).arg(bin_dir()).arg(&out).output();
        let run = run.unwrap();
        assert!(run.status.success() && run.stderr.is_empty(), "{awk}: {}", stderr(&run));
        seen.push(file_tree(&out));
    }
    assert!(seen[0].len() == 21, "bash, zsh and fish files for the six tools and nsrun: {:?}", seen[0].len());
    for (awk, files) in awks.iter().zip(&seen).skip(1) {
        assert!(files == &seen[0], "{awk} wrote other completions than mawk");
    }
}

const HARNESS: &str = r#"
dir=$1; shift
source /usr/share/bash-completion/bash_completion
source "$dir/bash/$1"
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_nstools_$1 "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}" | sort -u
"#;

/// What bash offers for the last of `words`.
fn bash(dir: &Path, words: &[&str]) -> Vec<String> {
    let out = Command::new("bash").args(["-c", HARNESS, "harness"]).arg(dir).args(words).output().unwrap();
    assert!(out.status.success(), "{words:?}: {}", stderr(&out));
    stdout(&out).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn bash_completes_options_values_and_the_command() {
    require_host!(Path::new("/usr/share/bash-completion/bash_completion").exists(), "bash-completion is not installed");
    let work = TempDir::new("completions-bash");
    let dir = generated(&work);
    let has = |words: &[&str], want: &str| {
        let got = bash(&dir, words);
        assert!(got.iter().any(|g| g == want), "{words:?}: {want} not in {got:?}");
    };
    // Every option --help lists, for every tool.
    for tool in nstools::tools() {
        let help = stdout(&Command::new(bin_dir().join(&tool)).arg("--help").output().unwrap());
        let got = bash(&dir, &[&tool, "-"]);
        for word in help.split_whitespace().filter(|w| w.starts_with("--") && w.len() > 2) {
            let name = word.split(['=', '[', ',']).next().unwrap().trim_end_matches([':', ';', '.', ')']);
            assert!(got.iter().any(|g| g.trim_end_matches('=') == name), "{tool}: {name} not offered: {got:?}");
        }
    }
    has(&["nsclone", "--ne"], "--net");
    has(&["nsjoin", "-t", "1"], "1");
    has(&["mkroot", "--cap-add=SYS_A"], "SYS_ADMIN");
    has(&["cglimit", "5"], "50M");
    has(&["nsunshare", "--setgroups=a"], "allow");
    has(&["nsjoin", "-t", "1", "-a", "ech"], "echo");
    has(&["mkroot", "/tmp/r", "ech"], "echo");
    has(&["cglimit", "50M", "ech"], "echo");
    has(&["nstype", "/proc/self/ns/m"], "/proc/self/ns/mnt");
    has(&["nsclone", "--net=/proc/self/ns/n"], "/proc/self/ns/net");
    // After the command, its own completion: ls's options, not ours.
    assert!(!bash(&dir, &["nsclone", "-mupin", "ls", "--ne"]).contains(&"--net".to_owned()));
}

#[test]
fn zsh_loads_them_with_compinit() {
    require_host!(have_program("zsh"), "zsh is not installed");
    let work = TempDir::new("completions-zsh");
    let dir = generated(&work);
    let script = "fpath=($1 $fpath); autoload -U compinit && compinit -u -d $2/zcompdump || exit 1; \
                  for t in cglimit mkroot nsclone nsjoin nstype nsunshare nsrun; do \
                  [ \"$_comps[$t]\" = _$t ] || { echo \"no completion for $t: $_comps[$t]\"; exit 1; }; done";
    let out = Command::new("zsh").args(["-fc", script, "zsh"]).arg(dir.join("zsh")).arg(work.path()).output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn fish_completes_options_and_the_command() {
    require_host!(have_program("fish"), "fish is not installed");
    let work = TempDir::new("completions-fish");
    let dir = generated(&work);
    let ask = |tool: &str, line: &str| {
        let script = format!("source {}; complete -C '{line}'", dir.join(format!("fish/{tool}.fish")).display());
        let out = Command::new("fish").args(["--no-config", "-c", &script]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(ask("nsclone", "nsclone --ne").lines().any(|l| l.starts_with("--net\t")));
    assert!(ask("nsjoin", "nsjoin -t ").lines().any(|l| l.starts_with("1\t")));
    assert!(ask("mkroot", "mkroot --cap-add=").contains("SYS_ADMIN"));
    assert!(ask("nsclone", "nsclone -mupin ech").lines().any(|l| l.starts_with("echo")));
    assert!(ask("nsclone", "nsclone --propagation=").contains("slave"));
    assert!(ask("nsrun", "nsrun ").lines().any(|l| l.starts_with("checkpoint")));
    assert!(ask("nsrun", "nsrun exec --").lines().any(|l| l.starts_with("--ignore-paused")));
}

/// nsrun's completion, from its own --help: the commands, each command's
/// options, the ids of the containers under the --root given on the line
/// (a container of ours, created and deleted here), kill's signals.
#[test]
fn bash_completes_nsrun_commands_options_and_ids() {
    require_host!(Path::new("/usr/share/bash-completion/bash_completion").exists(), "bash-completion is not installed");
    nstools::require!(nstools::is_root() && nstools::has_namespace("pid"), "needs root to create a container");
    let work = TempDir::new("completions-nsrun");
    let dir = generated(&work);
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let complete = |words: &[&str]| -> Vec<String> {
        let out = Command::new("bash")
            .args(["-c", HARNESS, "harness"])
            .arg(&dir)
            .args(words)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{words:?}: {}", stderr(&out));
        stdout(&out).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
    };
    let has = |words: &[&str], want: &str| {
        let got = complete(words);
        assert!(got.iter().any(|g| g == want), "{words:?}: {want} not in {got:?}");
    };
    has(&["nsrun", "ch"], "checkpoint");
    has(&["nsrun", "--sys"], "--systemd-cgroup");
    has(&["nsrun", "--root=/x", "exec", "--ign"], "--ignore-paused");
    has(&["nsrun", "update", "--pids"], "--pids-limit=");
    has(&["nsrun", "kill", "c1", "TE"], "TERM");
    assert!(complete(&["nsrun", "list", ""]).is_empty(), "list takes no id");
    // A container of ours under a --root of our own: its id is offered.
    let root = work.path().join("state");
    let bundle = work.path().join("bundle");
    std::fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].iter().map(Path::new).find(|p| p.exists());
    nstools::require!(busybox.is_some(), "needs busybox-static");
    nstools::copy_program(busybox.unwrap(), &bundle.join("rootfs/bin/sh"));
    std::fs::write(
        bundle.join("config.json"),
        r#"{"ociVersion":"1.0.2","process":{"args":["/bin/sh"],"cwd":"/","user":{"uid":0,"gid":0}},
            "root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}"#,
    )
    .unwrap();
    let guard = nstools::Guard::new(&[]);
    let nsrun = |args: &[&str]| {
        let mut command = guard.watch(Command::new(bin_dir().join("nsrun")));
        command.arg("--root").arg(&root).args(args).stdin(std::process::Stdio::null());
        let err = work.path().join("nsrun.err");
        command.stdout(std::process::Stdio::null()).stderr(std::fs::File::create(&err).unwrap());
        let status = command.status().unwrap();
        (status, std::fs::read_to_string(&err).unwrap_or_default())
    };
    let (status, err) = nsrun(&["create", "--bundle", bundle.to_str().unwrap(), "nstools-completion-1"]);
    assert!(status.success(), "{err}");
    let offered = complete(&["nsrun", "--root", root.to_str().unwrap(), "start", "nstools-c"]);
    let (status, err) = nsrun(&["delete", "-f", "nstools-completion-1"]);
    assert!(status.success(), "{err}");
    assert_eq!(offered, ["nstools-completion-1"]);
    guard.check();
}

/// What `make install` chooses for PREFIX: the bash, zsh and fish directories.
fn install_dirs(prefix: &str) -> Vec<String> {
    let out = Command::new("make")
        .args(["-s", "--no-print-directory", "-C"])
        .arg(source_dir())
        .arg(format!("PREFIX={prefix}"))
        .args(["--eval", "nstools-dirs: ; @echo $(BASHCOMPDIR) $(ZSHCOMPDIR) $(FISHCOMPDIR)", "nstools-dirs"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).split_whitespace().map(str::to_owned).collect()
}

/// make install puts each completion where its shell looks for that prefix with no
/// configuration of the user's: zsh started with -f, fish with an empty home and no
/// XDG_DATA_DIRS (a server's login), bash-completion's default data directories.
#[test]
fn installed_completions_are_where_each_shell_looks() {
    require_host!(have_program("zsh") && have_program("fish") && have_program("make"), "needs zsh, fish and make");
    let home = TempDir::new("completions-home");
    let fpath = stdout(&Command::new("zsh").args(["-f", "-c", "print -l $fpath"]).output().unwrap());
    // Its own share/config.fish sets the path; HOME empty, so no file of a user's adds to it.
    let fish = Command::new("fish")
        .args(["-c", "for p in $fish_complete_path; echo $p; end"])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_DIRS")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    let fish = stdout(&fish);
    for prefix in ["/usr", "/usr/local"] {
        let dirs = install_dirs(prefix);
        assert_eq!(dirs.len(), 3, "{dirs:?}");
        assert_eq!(dirs[0], format!("{prefix}/share/bash-completion/completions"), "bash-completion's XDG_DATA_DIRS");
        assert!(fpath.lines().any(|l| l == dirs[1]), "zsh -f searches {}: {fpath}", dirs[1]);
        assert!(fish.lines().any(|l| l == dirs[2]), "fish searches {}: {fish}", dirs[2]);
    }
}

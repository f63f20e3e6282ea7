//! The user interface of every tool, checked like util-linux's checkusage.sh
//! and checkmanpage.sh: --help and --version on stdout, exit 0; an unknown
//! option on stderr, exit 125; every option in --help is in the man page and
//! the other way round; every man page lints clean.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use nstools::{code, have_program, require, require_host, run, source_dir, stderr, stdout, tools};

fn man_page(tool: &str) -> PathBuf {
    source_dir().join("man").join(format!("{tool}.1"))
}

#[test]
fn there_are_tools() {
    assert!(tools().contains(&"nstype".to_owned()), "{:?}", tools());
}

#[test]
fn help_goes_to_stdout_and_exits_0() {
    for tool in tools() {
        let long = run(&tool, &["--help"]);
        assert_eq!(code(&long), 0, "{tool} --help");
        assert!(!long.stdout.is_empty(), "{tool} --help printed nothing");
        assert_eq!(stderr(&long), "", "{tool} --help wrote to stderr");
        assert!(stdout(&long).starts_with("Usage:\n"), "{tool}");
        assert_eq!(run(&tool, &["-h"]).stdout, long.stdout, "{tool} -h");
    }
}

#[test]
fn version_goes_to_stdout_and_exits_0() {
    for tool in tools() {
        for flag in ["--version", "-V"] {
            let out = run(&tool, &[flag]);
            assert_eq!(code(&out), 0, "{tool} {flag}");
            // The tools are built static (.cargo/config.toml), and say so.
            assert_eq!(stdout(&out), format!("{tool} (nstools) {}, static\n", env!("CARGO_PKG_VERSION")));
            assert_eq!(stderr(&out), "");
        }
    }
}

#[test]
fn unknown_options_exit_125_with_one_line_on_stderr() {
    for tool in tools() {
        for bad in ["--unknownopt", "-Y", "--help=x"] {
            let out = run(&tool, &[bad]);
            // nsrun keeps runc's contract: 1 for any failure (engines read the message).
            let want = if tool == "nsrun" { 1 } else { 125 };
            assert_eq!(code(&out), want, "{tool} {bad}");
            assert_eq!(stdout(&out), "", "{tool} {bad}");
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{tool} {bad}: {err}");
            assert!(err.starts_with(&format!("{tool}: ")) && err.contains("; usage: "), "{tool} {bad}: {err}");
        }
    }
}

/// `-x` and `--long` as written at the start of an option line of --help.
fn help_options(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in help.lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        let head = line.split("  ").next().unwrap_or_default();
        for word in head.split([',', ' ']) {
            let word = word.split(['=', '[']).next().unwrap_or_default();
            if word.starts_with('-') && word.len() > 1 {
                out.insert(word.to_owned());
            }
        }
    }
    out
}

/// The options of the OPTIONS section of a man page: the tag line of each `.TP`.
fn man_options(page: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_options = false;
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line.starts_with(".SH") {
            in_options = line.trim() == ".SH OPTIONS";
        } else if in_options && line.starts_with(".TP") {
            let tag = lines.next().unwrap_or_default();
            let plain =
                tag.replace("\\fB", "").replace("\\fR", "").replace("\\fI", "").replace("\\fP", "").replace("\\-", "-");
            for word in plain.split([',', ' ']) {
                let word = word.split(['=', '[']).next().unwrap_or_default();
                if word.starts_with('-') && word.len() > 1 {
                    out.insert(word.to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn help_and_man_page_list_the_same_options() {
    require_host!(source_dir().join("man").is_dir(), "the man pages are not here");
    for tool in tools() {
        let help = help_options(&stdout(&run(&tool, &["--help"])));
        let page = std::fs::read_to_string(man_page(&tool)).unwrap_or_else(|e| panic!("man/{tool}.1: {e}"));
        let man = man_options(&page);
        assert!(help.contains("--help") && help.contains("-V"), "{tool}: {help:?}");
        let only_help: Vec<_> = help.difference(&man).collect();
        let only_man: Vec<_> = man.difference(&help).collect();
        assert!(
            only_help.is_empty() && only_man.is_empty(),
            "{tool}: only in --help {only_help:?}; only in man page {only_man:?}"
        );
    }
}

#[test]
fn the_option_extractors_work() {
    let help = "Usage:\n  t [options]\n\nOptions:\n  -p, --pid=PID   x\n      --chain     y -z\n  -h, --help\n";
    assert_eq!(help_options(help), ["--chain", "--help", "--pid", "-h", "-p"].map(String::from).into());
    let page = ".SH OPTIONS\n.TP\n\\fB\\-p\\fR, \\fB\\-\\-pid\\fR=\\fIpid\\fR\ntext \\-x\n.TP\n\\fB\\-\\-chain\\fR\n.SH EXIT STATUS\n.TP\n.B \\-q\n";
    assert_eq!(man_options(page), ["--chain", "--pid", "-p"].map(String::from).into());
}

fn all_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> =
        std::fs::read_dir(source_dir().join("man")).unwrap().flatten().map(|e| e.path()).collect();
    pages.sort();
    pages
}

#[test]
fn every_tool_has_a_page_and_the_overview_names_it() {
    require_host!(source_dir().join("man").is_dir(), "the man pages are not here");
    let overview = std::fs::read_to_string(source_dir().join("man/nstools.7")).expect("man/nstools.7");
    for tool in tools() {
        assert!(man_page(&tool).is_file(), "man/{tool}.1 missing");
        assert!(overview.contains(&format!(".BR {tool} (1)")), "nstools.7 does not refer to {tool}(1)");
    }
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES", "NOTES", "SEE ALSO"] {
        for page in all_pages() {
            let text = std::fs::read_to_string(&page).unwrap();
            assert!(text.contains(&format!("\n.SH {section}\n")), "{}: no {section} section", page.display());
        }
    }
}

#[test]
fn man_pages_lint_clean_with_mandoc() {
    require_host!(source_dir().join("man").is_dir(), "the man pages are not here");
    require!(have_program("mandoc"), "mandoc is not installed (apt-get install mandoc)");
    for page in all_pages() {
        let out = Command::new("mandoc").arg("-Tlint").arg(&page).output().unwrap();
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{}:\n{}{}",
            page.display(),
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn man_pages_are_clean_for_groff() {
    require_host!(source_dir().join("man").is_dir(), "the man pages are not here");
    require!(have_program("groff"), "groff is not installed (apt-get install groff-base)");
    for page in all_pages() {
        let out = Command::new("groff").args(["-man", "-ww", "-z"]).arg(&page).output().unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{}:\n{}", page.display(), stderr(&out));
    }
}

#[test]
fn every_man_page_has_the_sections_a_reader_looks_for() {
    let man = nstools::source_dir().join("man");
    if !man.is_dir() {
        return nstools::host_only("the man pages are in the sources");
    }
    let overview = std::fs::read_to_string(man.join("nstools.7")).unwrap();
    for tool in tools() {
        let page = std::fs::read_to_string(man.join(format!("{tool}.1"))).unwrap();
        for section in ["SYNOPSIS", "OPTIONS", "EXIT STATUS", "EXAMPLES", "SEE ALSO"] {
            assert!(
                page.lines().any(|l| l.trim_start_matches(".SH ").trim_matches('"') == section),
                "{tool}.1: no {section}"
            );
        }
        assert!(overview.contains(&format!(".BR {tool} (1)")), "nstools(7) does not list {tool}(1)");
    }
}

/// nsrun, an OCI runtime beside the six tools (section 8, not in tools()):
/// its global options, in --help and in man/nsrun.8 alike.
#[test]
fn nsrun_help_and_man_page_list_the_same_global_options() {
    require_host!(source_dir().join("man").is_dir(), "the man pages are not here");
    let help = stdout(&run("nsrun", &["--help"]));
    let global = help.split("Commands:").next().unwrap_or_default();
    let page = std::fs::read_to_string(source_dir().join("man/nsrun.8")).unwrap();
    assert_eq!(help_options(global), man_options(&page));
    assert!(help_options(global).contains("--log-format"));
    // Every command of --help has its entry in COMMANDS.
    for command in ["create", "run", "start", "state", "kill", "delete", "exec", "ps", "pause", "resume", "features"] {
        assert!(
            help.contains(&format!("\n  {command} ")) || help.contains(&format!(", {command} ")),
            "--help: {command}"
        );
        let lines: Vec<&str> = page.lines().skip_while(|l| *l != ".SH COMMANDS").collect();
        let tags: Vec<&str> = lines.windows(2).filter(|w| w[0] == ".TP").map(|w| w[1]).collect();
        assert!(tags.iter().any(|t| t.split([' ', '"']).any(|w| w == command)), "nsrun.8 COMMANDS: {command}");
    }
}

/// Red team 3 (#18): a name with terminal escapes (from an image, a command
/// line) reaches the admin's terminal escaped, never as the bytes a terminal acts on.
#[test]
fn messages_carry_no_terminal_escape() {
    let hostile = "\u{1b}]0;TITLE\u{7}\u{1b}[2J\u{9b}x";
    let net = format!("--net={hostile}");
    for (tool, args) in [
        ("nstype", vec![hostile]),
        ("nsclone", vec!["-U", hostile]),
        ("nsunshare", vec![hostile]),
        ("cglimit", vec!["--name", hostile, "true"]),
        ("mkroot", vec!["--chdir", hostile]),
        ("nsjoin", vec![net.as_str(), "true"]),
    ] {
        let out = run(tool, &args);
        let said = stderr(&out);
        assert_ne!(code(&out), 0, "{tool}");
        assert!(!said.chars().any(|c| c.is_control() && c != '\n'), "{tool}: {said:?}");
        assert!(said.contains("\\x1b") || said.contains("x1b"), "{tool} names the value: {said:?}");
    }
}

//! The user interface of every tool, checked like util-linux's checkusage.sh
//! and checkmanpage.sh: --help and --version on stdout, exit 0; an unknown
//! option on stderr, exit 125; every option in --help is in the man page and
//! the other way round; every man page lints clean.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::{BTreeMap, BTreeSet};
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

/// The words of a man page tag line, without font escapes.
fn tag_words(tag: &str) -> Vec<String> {
    let plain = tag.replace("\\fB", "").replace("\\fR", "").replace("\\fI", "").replace("\\fP", "").replace("\\-", "-");
    plain
        .split([',', ' ', '"'])
        .map(|w| w.split(['=', '[']).next().unwrap_or_default().to_owned())
        .filter(|w| !w.is_empty() && w != ".BI" && w != ".BR" && w != ".B")
        .collect()
}

/// nsrun.8's COMMANDS: each command (a tag at the outer level) with the
/// options tagged below it (inside its .RS/.RE).
fn man_command_options(page: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut lines = page.lines().skip_while(|l| *l != ".SH COMMANDS").skip(1);
    let (mut depth, mut command) = (0, String::new());
    while let Some(line) = lines.next() {
        match line {
            l if l.starts_with(".SH") => break,
            ".RS" => depth += 1,
            ".RE" => depth -= 1,
            ".TP" | ".TQ" => {
                let words = tag_words(lines.next().unwrap_or_default());
                if depth == 0 {
                    command = words.first().cloned().unwrap_or_default();
                    out.entry(command.clone()).or_default();
                } else {
                    out.entry(command.clone()).or_default().extend(words.into_iter().filter(|w| w.starts_with('-')));
                }
            }
            _ => {}
        }
    }
    out
}

/// nsrun, an OCI runtime beside the six tools (section 8, not in tools()):
/// its global options, its commands and each command's options, in --help
/// (`nsrun --help`, `nsrun COMMAND --help`) and in man/nsrun.8 alike.
#[test]
fn nsrun_help_and_man_page_list_the_same_options() {
    require_host!(source_dir().join("man").is_dir(), "the man pages are not here");
    let help = stdout(&run("nsrun", &["--help"]));
    let (global, listed) = help.split_once("Commands:").expect("a Commands section");
    let page = std::fs::read_to_string(source_dir().join("man/nsrun.8")).unwrap();
    assert_eq!(help_options(global), man_options(&page));
    assert!(help_options(global).contains("--log-format"));
    let commands: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let man = man_command_options(&page);
    assert_eq!(commands.iter().map(|c| c.to_string()).collect::<BTreeSet<_>>(), man.keys().cloned().collect());
    for command in ["create", "run", "start", "state", "kill", "delete", "exec", "ps", "pause", "resume", "features"] {
        assert!(commands.contains(&command), "--help lists {command}");
    }
    for command in commands {
        let out = run("nsrun", &[command, "--help"]);
        assert_eq!(code(&out), 0, "nsrun {command} --help");
        let mut options = help_options(&stdout(&out));
        assert!(options.remove("--help") && options.remove("-h"), "{command}: {options:?}");
        assert_eq!(options, man[command], "nsrun {command}: --help and nsrun.8 differ");
    }
    assert!(man["exec"].contains("--preserve-fds") && man["kill"].contains("--all"), "{man:?}");
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

//! What ships besides the binary: the manual pages and shell completion scripts generated from the
//! clap definition (committed under `doc/`, regenerated and compared here), their validity for groff
//! and for each shell, `--help` pointing to documentation that ships with the binary, and the
//! Debian package's metadata agreeing with the files in `contrib/`.
//!
//! `PIDAUDIT_BLESS=1 cargo test --test ship` rewrites the committed pages and scripts from the
//! current definition; review the diff before committing it. Building, installing and linting the
//! package itself is `.ci/package` (it needs cargo-deb, lintian and root).

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn doc() -> PathBuf {
    repo().join("doc")
}

fn bless() -> bool {
    std::env::var_os("PIDAUDIT_BLESS").is_some_and(|v| v == "1")
}

/// The committed completion script of each shell, by the name the repository keeps it under.
const SCRIPTS: [(&str, &str); 3] = [
    ("bash", "completions/pidaudit.bash"),
    ("zsh", "completions/_pidaudit"),
    ("fish", "completions/pidaudit.fish"),
];

/// Compares a generated file with its committed copy (or rewrites it when blessing); returns what
/// differs, for one failure listing every stale file.
fn compare(path: &Path, actual: &[u8]) -> Option<String> {
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return None;
    }
    match std::fs::read(path) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => {
            let (e, a) = (
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(actual),
            );
            let line = e
                .lines()
                .zip(a.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(e.lines().count().min(a.lines().count()));
            Some(format!(
                "{} differs from the generated text first at line {}:\n  committed: {:?}\n  generated: {:?}",
                path.display(),
                line + 1,
                e.lines().nth(line),
                a.lines().nth(line)
            ))
        }
        Err(e) => Some(format!("{}: {e}", path.display())),
    }
}

fn fail_on(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{}\nIf the change is intended, rerun with PIDAUDIT_BLESS=1 and review the diff.",
        problems.join("\n")
    );
}

/// The committed man pages are exactly what `pidaudit::manpage` generates from the clap
/// definition and the finding catalogue: one page per command, no page left from a removed one.
#[test]
fn man_pages_match_the_cli() {
    let pages = pidaudit::manpage::pages();
    let names: BTreeSet<String> = pages.iter().map(|p| p.file_name.clone()).collect();
    assert!(names.contains("pidaudit.1"), "{names:?}");
    for command in ["scan", "explain", "completions", "status"] {
        assert!(
            names.contains(&format!("pidaudit-{command}.1")),
            "{names:?}"
        );
    }
    let mut problems: Vec<String> = pages
        .iter()
        .filter_map(|p| compare(&doc().join(&p.file_name), p.roff.as_bytes()))
        .collect();
    for entry in std::fs::read_dir(doc()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".1") && !names.contains(&name) {
            if bless() {
                std::fs::remove_file(doc().join(&name)).unwrap();
            } else {
                problems.push(format!("doc/{name} is no longer generated"));
            }
        }
    }
    fail_on(problems);
}

/// The committed completion scripts are what `pidaudit completions SHELL` prints.
#[test]
fn completion_scripts_match_the_cli() {
    let problems = SCRIPTS
        .iter()
        .filter_map(|(shell, file)| {
            let r = run(&["completions", shell]);
            assert_eq!(r.code, 0, "completions {shell}: {}", r.stderr);
            assert!(
                r.stdout.contains("fail-on"),
                "{shell}: {}",
                &r.stdout[..r.stdout.len().min(500)]
            );
            compare(&doc().join(file), r.stdout.as_bytes())
        })
        .collect();
    fail_on(problems);
}

/// An unknown shell is a usage error (exit 2) naming the ones supported.
#[test]
fn completions_reject_an_unknown_shell() {
    let r = run(&["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("bash, zsh, fish"), "{}", r.stderr);
}

fn shell_output(cmd: &mut Command) -> String {
    let r = run_cmd(cmd);
    assert_eq!(r.code, 0, "{cmd:?}: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.is_empty(), "{cmd:?}: {}", r.stderr);
    r.stdout
}

fn script(shell: &str) -> PathBuf {
    let file = SCRIPTS.iter().find(|(s, _)| *s == shell).unwrap().1;
    doc().join(file)
}

/// Sources the bash script `$1` and prints the candidates its function gives for the line `$2`,
/// as bash's programmable completion calls it (the line's words, the index of the last).
const BASH_COMPLETE: &str = r#"source "$1"
read -r -a COMP_WORDS <<<"$2"
[[ $2 == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$2 COMP_POINT=${#2}
_pidaudit pidaudit "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s
' "${COMPREPLY[@]}""#;

/// The bash script parses (`bash -n`) and, sourced, completes options, their values and the
/// `completions` command's shells.
#[test]
fn bash_completion_works() {
    let path = script("bash");
    shell_output(Command::new("bash").arg("-n").arg(&path));
    let complete = |line: &str| {
        shell_output(
            Command::new("bash")
                .args(["--norc", "--noprofile", "-c", BASH_COMPLETE, "bash"])
                .arg(&path)
                .arg(line),
        )
    };
    assert_eq!(complete("pidaudit --fail-"), "--fail-on\n");
    let formats = complete("pidaudit --format ");
    for f in ["human", "json", "nagios", "prometheus", "junit"] {
        assert!(formats.lines().any(|l| l == f), "{formats}");
    }
    let shells = complete("pidaudit completions ");
    let shells: Vec<&str> = shells.lines().filter(|l| !l.starts_with('-')).collect();
    assert_eq!(shells, ["bash", "zsh", "fish"]);
}

/// The zsh script parses (`zsh -n`) and, loaded after `compinit`, registers `_pidaudit` for
/// `pidaudit`.
#[test]
fn zsh_completion_loads() {
    let path = script("zsh");
    shell_output(Command::new("zsh").arg("-n").arg(&path));
    let home = tempfile::tempdir().unwrap();
    let out = shell_output(
        Command::new("zsh")
            .args([
                "-f",
                "-c",
                "autoload -Uz compinit && compinit -u -D && source \"$1\" && print -r -- $_comps[pidaudit]",
                "zsh",
            ])
            .arg(&path)
            .env("HOME", home.path()),
    );
    assert_eq!(out, "_pidaudit\n");
}

/// The fish script parses (`fish --no-execute`) and, sourced, completes commands, options with
/// their help, and option values. (clap_complete's fish script completes no positional values,
/// such as `completions`' shells, and offers values only in the `--format=` form under fish 3.6.)
#[test]
fn fish_completion_works() {
    let path = script("fish");
    shell_output(Command::new("fish").arg("--no-execute").arg(&path));
    // An empty working directory, so file names do not mix into the candidates.
    let home = tempfile::tempdir().unwrap();
    let cwd = home.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let complete = |line: &str| {
        shell_output(
            Command::new("fish")
                .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
                .arg(&path)
                .arg(line)
                .current_dir(&cwd)
                .env("HOME", home.path())
                .env("XDG_DATA_HOME", home.path())
                .env("XDG_CONFIG_HOME", home.path()),
        )
    };
    let first = |out: String| -> Vec<String> {
        out.lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        first(complete("pidaudit ")),
        [
            "completions",
            "explain",
            "fix",
            "help",
            "scan",
            "status",
            "undo",
            "watch"
        ]
    );
    let opts = complete("pidaudit --fail-");
    assert!(opts.starts_with("--fail-on\tExit 1 when"), "{opts}");
    let formats = first(complete("pidaudit --format="));
    for f in ["human", "json", "nagios", "prometheus", "junit"] {
        assert!(formats.contains(&format!("--format={f}")), "{formats:?}");
    }
}

/// Every committed man page renders with no warning, checked as lintian checks pages
/// (`man --warnings`, 80 columns) and by groff with every warning on (`-ww`).
#[test]
fn man_pages_render_without_warnings() {
    for page in pidaudit::manpage::pages() {
        let path = doc().join(&page.file_name);
        let r = run_cmd(
            Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&path),
        );
        assert!(
            r.code == 0 && r.stderr.is_empty(),
            "groff {}: {}",
            page.file_name,
            r.stderr
        );
        let r = run_cmd(
            Command::new("man")
                .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
                .arg(&path)
                .env("LC_ALL", "C.UTF-8")
                .env("MANWIDTH", "80")
                .env("MANROFFSEQ", ""),
        );
        assert!(
            r.code == 0 && r.stderr.is_empty(),
            "man {}: {}",
            page.file_name,
            r.stderr
        );
    }
}

/// Rendered as a reader sees it, `pidaudit(1)` documents every option, every finding code, the
/// exit statuses and the other pages.
#[test]
fn man_page_documents_the_whole_cli() {
    let r = run_cmd(
        Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(doc().join("pidaudit.1"))
            .env("LC_ALL", "C.UTF-8")
            .env("MANWIDTH", "200")
            .env("MAN_KEEP_FORMATTING", ""),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Drop overstrike bold and underline, in case the pager's formatting is kept.
    let text: String = {
        let mut out = String::new();
        for c in r.stdout.chars() {
            if c == '\u{8}' {
                out.pop();
            } else {
                out.push(c);
            }
        }
        out
    };
    use clap::CommandFactory;
    let cmd = pidaudit::cli::Cli::command();
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                text.contains(&format!("--{long}")),
                "--{long} missing:\n{text}"
            );
        }
    }
    for code in pidaudit::checks::catalogue() {
        let code = code.as_str();
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(code)),
            "{code} missing:\n{text}"
        );
    }
    for needle in [
        "EXIT STATUS",
        "UNKNOWN",
        "NO_COLOR",
        "expect.example.toml",
        "pidaudit-scan(1)",
        "pidaudit-explain(1)",
        "pidaudit-completions(1)",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

/// `--help` of every command points to documentation that ships with the binary (the man page,
/// `pidaudit explain`), never to files of the source repository.
#[test]
fn help_points_to_shipped_documentation() {
    let top = run(&["--help"]);
    assert_eq!(top.code, 0, "{}", top.stderr);
    assert!(top.stdout.contains("man pidaudit"), "{}", top.stdout);
    assert!(top.stdout.contains("pidaudit explain"), "{}", top.stdout);
    for args in [
        &["--help"][..],
        &["scan", "--help"],
        &["explain", "--help"],
        &["completions", "--help"],
    ] {
        let r = run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        for repo_path in ["README", ".md", "schema/", "contrib/", "src/", "fixtures/"] {
            assert!(
                !r.stdout.contains(repo_path),
                "{args:?} mentions {repo_path}:\n{}",
                r.stdout
            );
        }
    }
}

/// The Debian package's assets exist, put the binary in /usr/bin, and every file in `contrib/` that
/// calls pidaudit by path calls that one (the systemd unit, the Nagios, Icinga and sudoers lines).
#[test]
fn package_metadata_agrees_with_contrib() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let mut dests = Vec::new();
    for asset in assets {
        let a = asset.as_array().unwrap();
        let (src, dest) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
        if src != "target/release/pidaudit" && !src.contains('*') {
            assert!(repo().join(src).is_file(), "asset {src} does not exist");
        }
        dests.push((src, dest));
    }
    assert!(
        dests.contains(&("target/release/pidaudit", "usr/bin/")),
        "{dests:?}"
    );
    // Every page (man_pages_match_the_cli keeps doc/*.1 exactly the generated set).
    assert!(
        dests.contains(&("doc/*.1", "usr/share/man/man1/")),
        "{dests:?}"
    );
    for (_, file) in SCRIPTS {
        let src = format!("doc/{file}");
        assert!(
            dests.iter().any(|(s, _)| *s == src),
            "{src} is not packaged"
        );
    }

    let re = regex::Regex::new(r"[\w./-]*/pidaudit\b").unwrap();
    let mut seen = 0;
    for dir in ["systemd", "nagios", "icinga2", "ci"] {
        for entry in std::fs::read_dir(repo().join("contrib").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for m in re.find_iter(&text) {
                // Paths to the binary, not to pidaudit's own directories or files.
                if m.as_str().ends_with("bin/pidaudit") {
                    assert_eq!(m.as_str(), "/usr/bin/pidaudit", "{}", path.display());
                    seen += 1;
                }
            }
        }
    }
    assert!(seen >= 5, "only {seen} binary paths found in contrib/");
    let changelog = std::fs::read_to_string(repo().join("debian/changelog")).unwrap();
    let top = changelog.lines().next().unwrap();
    assert!(
        top.starts_with(&format!("pidaudit ({}-1) ", env!("CARGO_PKG_VERSION"))),
        "debian/changelog's top entry is not this version: {top}"
    );
    let service =
        std::fs::read_to_string(repo().join("contrib/systemd/pidaudit-textfile.service")).unwrap();
    assert!(
        service.lines().any(|l| l.starts_with("LimitNOFILE=")),
        "{service}"
    );
}

//! The pipeline's layers point one way: a module imports only modules of its own stage or an
//! earlier one, and the modules (folders) form no import cycle. The stages are listed in
//! ARCHITECTURE.md and in the crate docs (`src/lib.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module and its stage, in pipeline order.
const STAGES: &[(&str, u8)] = &[
    ("model", 0),
    ("util", 0),
    ("discover", 1),
    ("pidfile", 1),
    ("system", 1),
    ("supervise", 1),
    ("units", 1),
    ("config", 2),
    ("exit", 2),
    ("checks", 3),
    ("audit", 4),
    ("commands", 5),
    ("fix", 5),
    ("watch", 5),
    ("report", 6),
    ("textfile", 6),
    ("cli", 7),
    ("completions", 7),
    ("manpage", 8),
];

fn stage(module: &str) -> Option<u8> {
    STAGES.iter().find(|(m, _)| *m == module).map(|(_, s)| *s)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a file names through `crate::`, outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let name: String = rest[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `use crate::{a, b}` names several.
            if name.is_empty() && rest[i + 7..].starts_with('{') {
                let inner = &rest[i + 8..];
                let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
                for part in inner.split(',') {
                    let n: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !n.is_empty() && n != "self" {
                        out.insert(n);
                    }
                }
            } else if !name.is_empty() {
                out.insert(name);
            }
            rest = &rest[i + 7..];
        }
    }
    out
}

/// The module graph of `src/`: top-level module -> the top-level modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = g.entry(module.clone()).or_default();
        deps.extend(imports(&text).into_iter().filter(|m| *m != module));
    }
    g
}

/// No module imports one of a later stage, and every module has a stage.
#[test]
fn imports_follow_the_pipeline() {
    let mut backwards = Vec::new();
    for (module, deps) in graph() {
        let from = stage(&module).unwrap_or_else(|| panic!("src/{module} has no stage in STAGES"));
        for d in deps {
            let to = stage(&d).unwrap_or_else(|| panic!("src/{module} imports unknown crate::{d}"));
            if to > from {
                backwards.push(format!("{module} (stage {from}) imports {d} (stage {to})"));
            }
        }
    }
    assert!(
        backwards.is_empty(),
        "imports against the pipeline:\n{}",
        backwards.join("\n")
    );
}

/// The modules form no cycle (a cycle may only stay inside one folder).
#[test]
fn no_cycle_between_modules() {
    let g = graph();
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == n) {
            panic!("import cycle: {} -> {n}", path[i..].join(" -> "));
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            visit(d, g, path, done);
        }
        path.pop();
        done.insert(n.to_string());
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        visit(n, &g, &mut Vec::new(), &mut done);
    }
}

/// The scanner sees what it must: a backward import in a sample is caught, comments are not.
#[test]
fn the_scanner_finds_imports() {
    let text = "use crate::model::Finding;\nuse crate::{audit, checks::Entry};\n// crate::cli in a comment\nlet x = crate::report::emit;";
    let got = imports(text);
    assert_eq!(
        got,
        ["audit", "checks", "model", "report"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

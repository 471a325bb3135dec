//! The module walls, enforced: data flows source → classifier → counters →
//! exposition, and a module may import only the modules listed before it
//! in `ORDER` (the order of `src/lib.rs`). Reads every `crate::…` path
//! under `src/`, in `use` lines and inline alike, comments left out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Leaves first. Each module may use the ones above it, never below.
const ORDER: &[&str] = &[
    "limits",
    "clock",
    "duration",
    "timestamp",
    "version",
    "errno",
    "classify",
    "source",
    "checkpoint",
    "metrics",
    "sockstat",
    "status",
    "pipeline",
    "report",
    "http",
    "logging",
    "cli",
    "config",
    "settings",
    "diagnose",
    "serve",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file under `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str();
    Path::new(first)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The top-level modules a piece of Rust source names through `crate::`,
/// with the line each is named on.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // `use crate::{a, b::c}`: every top-level name in the group.
                let inner = group.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push((n + 1, name));
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((n + 1, name));
            }
            rest = after;
        }
    }
    out
}

/// Every import that breaks the order, as `file:line: a -> b`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let module = module_of(src, &file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(rank) = ORDER.iter().position(|m| *m == module) else {
            bad.push(format!(
                "{}: module {module:?} is not in the walls' ORDER",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, target) in crate_paths(&text) {
            if target == module {
                continue;
            }
            match ORDER.iter().position(|m| *m == target) {
                Some(t) if t < rank => {}
                _ => bad.push(format!("{}:{line}: {module} -> {target}", file.display())),
            }
        }
    }
    bad
}

#[test]
fn every_module_imports_only_what_comes_before_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "imports against the data flow:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_order_is_the_map_in_lib_rs() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    // `//! - [`name`]: …`, one line per module, in data-flow order.
    let mapped: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//! - [`"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert_eq!(mapped, ORDER);
    let mut declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    declared.sort_unstable();
    let mut ordered = ORDER.to_vec();
    ordered.sort_unstable();
    assert_eq!(declared, ordered, "every module is in the map, once");
}

#[test]
fn the_walls_named_in_the_design_hold_in_the_order() {
    let rank = |m: &str| ORDER.iter().position(|o| *o == m).unwrap();
    for low in ["errno", "classify", "source"] {
        for high in [
            "config",
            "settings",
            "metrics",
            "checkpoint",
            "pipeline",
            "http",
            "serve",
        ] {
            assert!(rank(low) < rank(high), "{low} must come before {high}");
        }
    }
    for low in ["pipeline", "metrics"] {
        assert!(rank(low) < rank("http"), "{low} must come before http");
    }
}

#[test]
fn the_scanner_sees_every_form_of_import() {
    let text = "use crate::metrics::X;\nuse crate::{http, pipeline::View};\n// crate::serve in a comment\nlet a = crate::clock::unix_now();\n";
    let names: BTreeSet<String> = crate_paths(text).into_iter().map(|(_, n)| n).collect();
    let want: BTreeSet<String> = ["metrics", "http", "pipeline", "clock"]
        .map(String::from)
        .into();
    assert_eq!(names, want);
}

//! The module structure keeps one direction: no file of `harness/src` imports a
//! file that imports it back, directly or around a circle. A file's edges are
//! the `crate::`, `super::` and `self::` paths it names (test modules at the end
//! of a file are left out: tests may look anywhere); a module and the file that
//! declares it are not a circle. The library (`harness/src` without `bin/`) and
//! the `synlab` binary (`harness/src/bin/synlab`, whose `crate::` is its own
//! `main.rs`) are two crate roots, each checked on its own. One level up, no
//! folder (a top-level module) imports one that imports it back either, the
//! files compiled for unit tests alone left out. Needs no privilege.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod support;

/// Module path of a source file: `observe/trace/mod.rs` -> `observe::trace`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The `.rs` files under `dir`; a crate root's `bin/` (other crates) is left out.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let root = dir.join("lib.rs").is_file() || dir.join("main.rs").is_file();
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            if root && path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without a trailing `#[cfg(test)] mod tests { ... }` and comments.
fn code_of(text: &str) -> String {
    let cut = text
        .find("#[cfg(test)]\nmod tests")
        .or_else(|| text.find("#[cfg(test)]\npub(crate) mod tests"))
        .unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file names: `crate::a::b`, `super::x`, `self::y` (also inside
/// `use` groups: `use crate::a::{b, c::d}` names `a::b` and `a::c::d`).
fn named_paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start).map(|i| i + from) {
            from = i + start.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let mut base: Vec<String> = match start {
                "crate::" => vec![],
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.to_vec(),
            };
            let rest: String = code[from..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts: Vec<&str> = rest.split("::").filter(|p| !p.is_empty()).collect();
            while parts.first() == Some(&"super") {
                parts.remove(0);
                base.pop();
            }
            let prefix: Vec<String> = base
                .into_iter()
                .chain(parts.iter().map(|p| p.to_string()))
                .collect();
            let after = &code[from + rest.len()..];
            if (rest.is_empty() || rest.ends_with("::")) && after.starts_with('{') {
                use_tree(&prefix, &after[1..], &mut out);
            } else {
                out.push(prefix);
            }
        }
    }
    out
}

/// The paths of a `use` group, `text` starting just inside its `{`: items
/// split at top-level commas, nested groups followed.
fn use_tree(prefix: &[String], text: &str, out: &mut Vec<Vec<String>>) {
    let mut depth = 0;
    let mut item = String::new();
    let mut items = Vec::new();
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    for item in items {
        let item = item.trim();
        if let Some(i) = item.find('{') {
            let mut p = prefix.to_vec();
            p.extend(
                item[..i]
                    .split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
            use_tree(&p, &item[i + 1..], out);
        } else {
            let mut p = prefix.to_vec();
            p.extend(
                item.split(" as ")
                    .next()
                    .unwrap_or("")
                    .split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && *s != "self")
                    .map(String::from),
            );
            out.push(p);
        }
    }
}

/// The import graph of `src`: file module -> the file modules it names.
fn graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let file_of = |path: &[String]| {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains(p))
    };
    let mut edges = BTreeMap::new();
    for f in &files {
        let module = module_of(src, f);
        let code = code_of(&std::fs::read_to_string(f).expect("read a source file"));
        let mut to = BTreeSet::new();
        for path in named_paths(&module, &code) {
            let Some(target) = file_of(&path) else {
                continue;
            };
            // A module and its ancestors (the files that declare it) are not a circle.
            if target == module || module.starts_with(&target) || target.starts_with(&module) {
                continue;
            }
            to.insert(target);
        }
        edges.insert(module, to);
    }
    edges
}

/// Every circle, each as the list of its files.
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    let mut found: Vec<Vec<Vec<String>>> = Vec::new();
    let mut seen: BTreeSet<BTreeSet<Vec<String>>> = BTreeSet::new();
    fn walk(
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        seen: &mut BTreeSet<BTreeSet<Vec<String>>>,
        found: &mut Vec<Vec<Vec<String>>>,
    ) {
        let Some(last) = stack.last().cloned() else {
            return;
        };
        for next in edges.get(&last).into_iter().flatten() {
            if let Some(i) = stack.iter().position(|m| m == next) {
                let circle = stack[i..].to_vec();
                if seen.insert(circle.iter().cloned().collect()) {
                    found.push(circle);
                }
            } else if stack.len() < 12 {
                stack.push(next.clone());
                walk(edges, stack, seen, found);
                stack.pop();
            }
        }
    }
    for start in edges.keys() {
        walk(edges, &mut vec![start.clone()], &mut seen, &mut found);
    }
    found
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("/")
    }
}

/// The circles of the crate rooted at `src`, one line each (`a -> b -> a`).
fn circle_lines(src: &Path) -> Vec<String> {
    let edges = graph(src);
    assert!(
        edges.len() > 5,
        "read {} files under {}",
        edges.len(),
        src.display()
    );
    lines(&edges)
}

/// Every circle of `edges` as a line: `a -> b -> a`.
fn lines(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    circles(edges)
        .iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|m| show(m)).collect();
            names.push(show(&c[0]));
            names.join(" -> ")
        })
        .collect()
}

/// Every circle of `edges` as its members, sorted: `a b`.
fn members(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> BTreeSet<String> {
    circles(edges)
        .iter()
        .map(|c| {
            let mut v: Vec<String> = c.iter().map(|m| show(m)).collect();
            v.sort();
            v.join(" ")
        })
        .collect()
}

#[test]
fn no_file_of_the_harness_imports_one_that_imports_it_back() {
    let src = support::workspace().join("harness/src");
    assert!(graph(&src).len() > 20, "the library's files");
    let lines = circle_lines(&src);
    assert!(
        lines.is_empty(),
        "import circles between files of harness/src (break each: move the shared \
         piece down into a module both can import):\n{}",
        lines.join("\n")
    );
}

/// The same graph one level up: each top-level module of the crate (a folder
/// or a file beside `lib.rs`) is one node, the crate root left out (it only
/// declares and re-exports).
/// The files compiled for the unit tests alone (declared `#[cfg(test)] mod
/// name;`) are left out, as the file-level graph leaves out the test module
/// at the end of a file: tests may look anywhere.
fn folder_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let tests = test_only(src);
    let counted = |m: &Vec<String>| !tests.iter().any(|t| m.starts_with(t));
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, to) in graph(src) {
        let Some(top) = from.first().filter(|_| counted(&from)) else {
            continue;
        };
        let node = edges.entry(vec![top.clone()]).or_default();
        node.extend(
            to.iter()
                .filter(|t| counted(t))
                .filter_map(|t| t.first())
                .filter(|t| *t != top)
                .map(|t| vec![t.clone()]),
        );
    }
    edges
}

/// The modules declared `#[cfg(test)] mod name;` (or `pub(crate) mod`).
fn test_only(src: &Path) -> BTreeSet<Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = BTreeSet::new();
    for f in &files {
        let module = module_of(src, f);
        let text = std::fs::read_to_string(f).expect("read a source file");
        for declared in text.split("#[cfg(test)]\n").skip(1) {
            let line = declared.lines().next().unwrap_or("");
            let name = line
                .trim_start_matches("pub(crate) ")
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'));
            if let Some(name) = name {
                let mut m = module.clone();
                m.push(name.to_string());
                out.insert(m);
            }
        }
    }
    out
}

#[test]
fn no_folder_of_the_harness_imports_one_that_imports_it_back() {
    let src = support::workspace().join("harness/src");
    let lines = lines(&folder_graph(&src));
    assert!(
        lines.is_empty(),
        "import circles between the folders of harness/src, though no file imports one \
         that imports it back (move the shared piece into a folder below both):\n{}",
        lines.join("\n")
    );
}

#[test]
fn no_file_of_the_binary_imports_one_that_imports_it_back() {
    let src = support::workspace().join("harness/src/bin/synlab");
    let lines = circle_lines(&src);
    assert!(
        lines.is_empty(),
        "import circles between files of the synlab binary (its crate:: is main.rs; \
         move the shared piece down, or into the library):\n{}",
        lines.join("\n")
    );
}

#[test]
fn a_binary_is_its_own_crate_root() {
    // A circle inside a binary, which a library-rooted reading would miss
    // (its `crate::run` would name the library's `run`).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    std::fs::create_dir_all(src.join("bin/tool/kernels")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod run;\n").unwrap();
    std::fs::write(src.join("run.rs"), "").unwrap();
    let bin = src.join("bin/tool");
    std::fs::write(bin.join("main.rs"), "mod kernels;\nmod run;\n").unwrap();
    std::fs::write(
        bin.join("run.rs"),
        "use crate::kernels::go;\nuse synlab::run;\n",
    )
    .unwrap();
    std::fs::write(bin.join("kernels/mod.rs"), "use crate::run::Args;\n").unwrap();
    assert!(
        circles(&graph(src)).is_empty(),
        "the library alone has none"
    );
    assert_eq!(
        members(&graph(&bin)),
        BTreeSet::from(["kernels run".to_string()])
    );
}

#[test]
fn a_planted_circle_is_found() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod x;\nuse crate::b::B;\n").unwrap();
    std::fs::write(src.join("a/x.rs"), "use super::super::c::C;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::{a::A, c};\n").unwrap();
    std::fs::write(
        src.join("c.rs"),
        "// use crate::a::x; (a comment)\nuse crate::a::x::X;\n#[cfg(test)]\nmod tests {\n use crate::b;\n}\n",
    )
    .unwrap();
    let as_text = members(&graph(src));
    assert_eq!(
        as_text,
        BTreeSet::from(["a b".to_string(), "a/x c".to_string()]),
        "{as_text:?}"
    );
}

#[test]
fn a_planted_circle_between_folders_is_found_and_a_test_file_is_not_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod x;\nmod y;\n").unwrap();
    // a/x -> b -> a/y (b.rs below): no file imports one that imports it back.
    std::fs::write(src.join("a/x.rs"), "use crate::b::B;\n").unwrap();
    std::fs::write(src.join("a/y.rs"), "pub struct Y;\n").unwrap();
    // c's unit tests, in a file of their own, may import what imports c.
    std::fs::write(src.join("c.rs"), "#[cfg(test)]\nmod tests;\n").unwrap();
    std::fs::create_dir(src.join("c")).unwrap();
    std::fs::write(src.join("c/tests.rs"), "use crate::b::B;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::a::y::Y;\nuse crate::c;\n").unwrap();
    assert!(circles(&graph(src)).is_empty(), "no circle between files");
    assert_eq!(
        members(&folder_graph(src)),
        BTreeSet::from(["a b".to_string()])
    );
}

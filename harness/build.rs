//! Embeds the shipped scenarios (`../scenarios/<area>/<name>.toml`) in the
//! library, so an installed `synlab` has them wherever it runs. They stay plain
//! files in the repository; this writes `$OUT_DIR/builtin_scenarios.rs`, a
//! sorted table of (`<area>/<name>.toml`, `include_str!` of the file), and asks
//! cargo to run again when anything under `scenarios/` changes.
//!
//! A build script instead of a crate such as include_dir: twenty lines, no
//! dependency, and the table holds only what the loader needs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest
        .parent()
        .expect("harness/ sits in the workspace")
        .join("scenarios");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    for area in sorted(&root) {
        if area.is_dir() && !hidden(&area) {
            println!("cargo:rerun-if-changed={}", area.display());
            files.extend(
                sorted(&area)
                    .into_iter()
                    .filter(|f| f.extension().is_some_and(|e| e == "toml") && !hidden(f)),
            );
        }
    }
    let mut out = String::from(
        "/// The shipped scenarios: (`<area>/<name>.toml`, the file's text), sorted.\n\
         pub(super) static FILES: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        let rel = file.strip_prefix(&root).expect("under scenarios/");
        let rel = rel.to_str().expect("scenario paths are UTF-8");
        let abs = file.to_str().expect("scenario paths are UTF-8");
        writeln!(out, "    ({rel:?}, include_str!({abs:?})),").expect("write to a String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"))
        .join("builtin_scenarios.rs");
    std::fs::write(dest, out).expect("write builtin_scenarios.rs");
}

/// The entries of `dir`, sorted; none when it cannot be read (a checkout
/// without scenarios builds a synlab with none built in).
fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

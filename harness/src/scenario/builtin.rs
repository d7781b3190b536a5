//! The scenarios built into synlab: the repository's `scenarios/` folder,
//! embedded at build time (harness/build.rs), so an installed binary has them
//! in any directory. Each reads as the file it came from
//! (`scenarios/<area>/<name>.toml`) and is marked `builtin`.

use std::path::PathBuf;

use super::{Scenario, ScenarioError, parse_str};

include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));

/// The folder the built-in files are shown under, as in the repository.
pub const SHOWN_ROOT: &str = "scenarios";

/// Each built-in file: the path it is shown by and its text, sorted.
pub fn files() -> impl Iterator<Item = (PathBuf, &'static str)> {
    FILES
        .iter()
        .map(|(rel, text)| (PathBuf::from(SHOWN_ROOT).join(rel), *text))
}

/// Every built-in scenario, sorted by area then name.
///
/// # Errors
/// What [`parse_str`] finds: only for a binary built from a tree with a broken
/// scenario (its tests would have failed first).
pub fn load_all() -> Result<Vec<Scenario>, ScenarioError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (path, text) in files() {
        match parse_str(&path, text) {
            Ok(s) => out.push(mark(s)),
            Err(e) => errors.push(e),
        }
    }
    ScenarioError::check(errors)?;
    out.sort_by(|a, b| (&a.area, &a.name).cmp(&(&b.area, &b.name)));
    Ok(out)
}

fn mark(mut s: Scenario) -> Scenario {
    s.builtin = true;
    for c in &mut s.cases {
        c.builtin = true;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_is_built_in_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut on_disk = Vec::new();
        for area in std::fs::read_dir(&dir).expect("scenarios/") {
            let area = area.expect("entry").path();
            for f in std::fs::read_dir(&area).expect("an area") {
                let f = f.expect("entry").path();
                if f.extension().is_some_and(|e| e == "toml") {
                    let rel = f.strip_prefix(&dir).expect("under scenarios/");
                    on_disk.push((
                        PathBuf::from(SHOWN_ROOT).join(rel),
                        std::fs::read_to_string(&f).expect("read"),
                    ));
                }
            }
        }
        on_disk.sort();
        let built: Vec<(PathBuf, String)> = files().map(|(p, t)| (p, t.to_owned())).collect();
        assert_eq!(built, on_disk, "the binary embeds exactly scenarios/");
        let all = load_all().expect("the shipped scenarios parse");
        assert!(
            all.iter()
                .all(|s| s.builtin && s.cases.iter().all(|c| c.builtin))
        );
        let ts_off = all
            .iter()
            .find(|s| s.name == "ts-off")
            .expect("ts-off is shipped");
        assert_eq!(ts_off.file, PathBuf::from("scenarios/timewait/ts-off.toml"));
        assert_eq!(ts_off.area, "timewait");
    }
}

//! Finds scenario files in one folder: every `<root>/<area>/<name>.toml`, and what a
//! name given on the command line names there. The search order over the user
//! folder and the built-in scenarios is `sources.rs`.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use super::{Scenario, ScenarioError, load_file};

/// Loads every `<root>/<area>/*.toml`, sorted by area then name. Reports every broken
/// file at once, and a `Duplicate` error when two areas hold the same scenario name.
///
/// # Errors
/// `Io` when `root` or an area cannot be listed; every file's own errors; `Duplicate`.
pub fn discover(root: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let mut files = Vec::new();
    for area in sorted_entries(root)? {
        if area.is_dir() && !is_hidden(&area) {
            files.extend(
                sorted_entries(&area)?
                    .into_iter()
                    .filter(|f| is_scenario_file(f)),
            );
        }
    }

    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load_file(&file) {
            Ok(s) => scenarios.push(s),
            Err(e) => errors.push(e),
        }
    }
    scenarios.sort_by(|a, b| (&a.area, &a.name).cmp(&(&b.area, &b.name)));
    for (i, s) in scenarios.iter().enumerate() {
        if let Some(first) = scenarios[..i].iter().find(|f| f.name == s.name) {
            errors.push(ScenarioError::Duplicate {
                name: s.name.clone(),
                first: first.file.clone(),
                second: s.file.clone(),
            });
        }
    }
    ScenarioError::check(errors)?;
    Ok(scenarios)
}

/// What a command-line argument names: an existing file (`scenarios/timewait/x.toml`),
/// a scenario (`x`), an area (`timewait`: all of its scenarios) or one scenario's cases
/// (`x/tcp_timestamps=0`: the cases whose name is that or starts with it and `/`).
///
/// # Errors
/// `NotFound` when nothing matches, `Duplicate` when two areas have the name, and the
/// errors of the files read.
pub fn resolve(root: &Path, arg: &str) -> Result<Vec<Scenario>, ScenarioError> {
    let path = Path::new(arg);
    if path.is_file() || arg.ends_with(".toml") {
        return load_file(path).map(|s| vec![s]);
    }
    let not_found = || ScenarioError::NotFound {
        name: arg.to_owned(),
        searched: root.to_path_buf(),
    };
    let (name, case_filter) = match arg.split_once('/') {
        Some((name, rest)) if !rest.is_empty() => (name, Some(arg)),
        Some((name, _)) => (name, None),
        None => (arg, None),
    };
    if name.is_empty() {
        return Err(not_found());
    }

    let file_name = format!("{name}.toml");
    let mut found = Vec::new();
    for area in sorted_entries(root)? {
        let candidate = area.join(&file_name);
        if area.is_dir() && !is_hidden(&area) && candidate.is_file() {
            found.push(candidate);
        }
    }
    match found.as_slice() {
        [] if case_filter.is_none() && root.join(name).is_dir() => {
            let area = root.join(name);
            let mut out = Vec::new();
            let mut errors = Vec::new();
            for file in sorted_entries(&area)?
                .into_iter()
                .filter(|f| is_scenario_file(f))
            {
                match load_file(&file) {
                    Ok(s) => out.push(s),
                    Err(e) => errors.push(e),
                }
            }
            match ScenarioError::from_list(errors) {
                Some(err) => Err(err),
                None if out.is_empty() => Err(not_found()),
                None => Ok(out),
            }
        }
        [] => Err(not_found()),
        [file] => {
            let mut scenario = load_file(file)?;
            if let Some(filter) = case_filter {
                let prefix = format!("{filter}/");
                scenario
                    .cases
                    .retain(|c| c.name == filter || c.name.starts_with(&prefix));
                if scenario.cases.is_empty() {
                    return Err(not_found());
                }
            }
            Ok(vec![scenario])
        }
        [first, second, ..] => Err(ScenarioError::Duplicate {
            name: name.to_owned(),
            first: first.clone(),
            second: second.clone(),
        }),
    }
}

/// The entries of a directory, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let io = |error| ScenarioError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        out.push(entry.map_err(io)?.path());
    }
    out.sort();
    Ok(out)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.starts_with('.'))
}

fn is_scenario_file(path: &Path) -> bool {
    path.extension() == Some(OsStr::new("toml")) && !is_hidden(path) && path.is_file()
}

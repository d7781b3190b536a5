//! Finds scenario files in one folder: every `<root>/<area>/<name>.toml`, and what a
//! name given on the command line names there; reads one file safely (only a regular
//! file, bounded, never blocking on a FIFO or a device). The search order over the
//! user folder and the built-in scenarios is `sources.rs`.

use std::ffi::OsStr;
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::{MAX_FILE_BYTES, Scenario, ScenarioError, parse_bytes};

/// Reads and checks one scenario file named by the user (a symbolic link is
/// followed); its area is the name of its parent directory.
///
/// # Errors
/// `ControlChar` when a name on the path holds a control character,
/// `NotRegular` when it is no regular file, `Io` when unreadable, `Syntax`
/// when larger than [`MAX_FILE_BYTES`], not UTF-8 or not TOML, else as
/// [`parse_str`](super::parse_str).
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    parse_bytes(path, &read_regular(path, Links::Follow)?)
}

/// [`load_file`] for a file found in a scenario folder: a symbolic link there
/// is refused (synlab runs as root, and the folder may be anyone's).
fn load_found(path: &Path) -> Result<Scenario, ScenarioError> {
    parse_bytes(path, &read_regular(path, Links::Refuse)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Links {
    Follow,
    Refuse,
}

/// The bytes of the regular file at `path`, at most [`MAX_FILE_BYTES`] + 1.
/// What it is, is checked before the open (so no FIFO, socket or device is
/// opened) and again on the open file (so a file swapped meanwhile is caught);
/// the open is non-blocking, so not even a FIFO put there in between can hang it.
fn read_regular(path: &Path, links: Links) -> Result<Vec<u8>, ScenarioError> {
    if path
        .iter()
        .any(|part| part.to_string_lossy().chars().any(char::is_control))
    {
        return Err(ScenarioError::ControlChar {
            path: path.to_path_buf(),
        });
    }
    let io = |error| ScenarioError::Io {
        path: path.to_path_buf(),
        error,
    };
    let meta = match links {
        Links::Follow => fs::metadata(path),
        Links::Refuse => fs::symlink_metadata(path),
    };
    regular(path, &meta.map_err(io)?.file_type())?;
    let mut open = fs::OpenOptions::new();
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = open.read(true).custom_flags(flags).open(path).map_err(io)?;
    regular(path, &file.metadata().map_err(io)?.file_type())?;
    let mut bytes = Vec::new();
    // One byte past the limit, never the whole of a huge file.
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

/// `NotRegular`, saying what it is, unless `kind` is a regular file.
fn regular(path: &Path, kind: &fs::FileType) -> Result<(), ScenarioError> {
    let what = match kind {
        k if k.is_file() => return Ok(()),
        k if k.is_symlink() => "is a symbolic link in a scenario folder (name the file itself)",
        k if k.is_dir() => "is a directory",
        k if k.is_fifo() => "is a FIFO",
        k if k.is_socket() => "is a socket",
        k if k.is_char_device() => "is a character device",
        k if k.is_block_device() => "is a block device",
        _ => "is not a regular file",
    };
    Err(ScenarioError::NotRegular {
        path: path.to_path_buf(),
        what: what.to_owned(),
    })
}

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
        match load_found(&file) {
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
    if names_a_file(arg) {
        return load_file(Path::new(arg)).map(|s| vec![s]);
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
        let there = fs::symlink_metadata(&candidate).is_ok_and(|m| !m.is_dir());
        if area.is_dir() && !is_hidden(&area) && there {
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
                match load_found(&file) {
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
            let mut scenario = load_found(file)?;
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

/// Whether a command-line argument names a file rather than a scenario: it
/// ends in `.toml`, or something that is not a folder exists at that path
/// (`/dev/null` is then refused as what it is, not looked up as a name).
pub(crate) fn names_a_file(arg: &str) -> bool {
    arg.ends_with(".toml") || fs::symlink_metadata(arg).is_ok_and(|m| !m.is_dir())
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.starts_with('.'))
}

/// A `.toml` name that is not hidden; `load_found` refuses it when it is no
/// regular file, so a FIFO or a link named `x.toml` is reported, not skipped.
fn is_scenario_file(path: &Path) -> bool {
    path.extension() == Some(OsStr::new("toml"))
        && !is_hidden(path)
        && fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir())
}

//! Scenario files (`scenarios/<area>/<name>.toml`): reading, validating and expanding them
//! into the `Case`s the lab runs and the judge compares against. Format: README, Contract 1.

pub mod builtin;
mod discover;
mod expectations;
mod file;
mod locate;
mod matrix;
pub mod model;
mod parse;
mod sources;
mod value;

use std::path::{Path, PathBuf};

pub use crate::read::error::{MAX_ERRORS, ScenarioError};
pub use discover::{discover, load_file, resolve};
pub use model::{Answer, At, Case, ClientKind, Close, Expect, Family, Loc, SeqExpr, TsExpr};
pub use sources::Sources;

use crate::read::error::{self, Source};

/// One scenario file: its identity, what it is for, and every case of its matrix.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Area folder (`timewait`).
    pub area: String,
    /// File stem (`ts-off`).
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub kernel_ref: Option<String>,
    /// Read from the copy built into synlab ([`builtin`]), not from a file.
    pub builtin: bool,
    /// Never empty; in matrix order (first list slowest).
    pub cases: Vec<Case>,
}

/// A scenario file is a page of settings; anything this large is not one, and is refused
/// before it is parsed (1 MiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// [`load_file`] after the read: the size limit, UTF-8, then `parse_str`.
pub(crate) fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Scenario, ScenarioError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(path));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| error::not_utf8(path, bytes, e))?;
    parse_str(path, text)
}

fn too_large(path: &Path) -> ScenarioError {
    ScenarioError::Syntax {
        loc: Loc {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
        },
        message: format!(
            "the file is larger than {MAX_FILE_BYTES} bytes (1 MiB), the limit for a scenario file"
        ),
    }
}

/// Checks scenario text as if read from `path` (which names the scenario and its area).
///
/// # Errors
/// `Syntax` when larger than [`MAX_FILE_BYTES`] or not TOML; `Invalid` for a key or value
/// the format refuses (several at once as `Many`).
pub fn parse_str(path: &Path, src: &str) -> Result<Scenario, ScenarioError> {
    if src.len() > MAX_FILE_BYTES {
        return Err(too_large(path));
    }
    let source = Source::new(path, src);
    let raw: file::RawFile = toml::from_str(src).map_err(|e| locate::toml_error(&source, &e))?;
    let spec = parse::check(&source, raw)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let area = path
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let origin = matrix::Origin {
        area: &area,
        name: &name,
        file: path,
    };
    let cases = matrix::expand(&origin, &spec)?;
    Ok(Scenario {
        area,
        name,
        file: path.to_path_buf(),
        description: spec.description,
        kernel_ref: spec.kernel_ref,
        builtin: false,
        cases,
    })
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

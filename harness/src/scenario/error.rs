//! Typed errors for reading scenario files, each printed as `file:line:column: field: message`,
//! and the byte-offset to line:column translation they rely on.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::model::Loc;

/// Why a scenario file (or the scenario directory) could not be turned into cases.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// The file is not valid TOML, not UTF-8, or a value has the wrong TOML type
    /// (the message is toml's own, kept on one line).
    #[error("{loc}: {message}")]
    Syntax { loc: Loc, message: String },

    /// The TOML is well formed but a value is not acceptable.
    #[error("{loc}: {field}: {message}")]
    Invalid {
        loc: Loc,
        field: String,
        message: String,
    },

    /// No scenario file has this name.
    #[error("{name}: no scenario named \"{name}\" under {}", searched.display())]
    NotFound { name: String, searched: PathBuf },

    /// Two scenario files share a name (the file stem), so a name would be ambiguous.
    #[error(
        "{}: duplicate scenario name \"{name}\", first defined in {}",
        second.display(),
        first.display()
    )]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// Several independent errors, in file order; displayed one per line.
    #[error("{}", DisplayList(.0))]
    Many(Vec<ScenarioError>),
}

impl ScenarioError {
    /// Folds a list of errors into one: `None` when empty, the error itself when alone.
    pub fn from_list(mut errors: Vec<ScenarioError>) -> Option<ScenarioError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ScenarioError::Many(errors)),
        }
    }

    /// `Ok(())` when `errors` is empty, else the errors folded into one.
    pub(crate) fn check(errors: Vec<ScenarioError>) -> Result<(), ScenarioError> {
        ScenarioError::from_list(errors).map_or(Ok(()), Err)
    }

    /// Every single error, with `Many` flattened.
    pub fn errors(&self) -> Box<dyn Iterator<Item = &ScenarioError> + '_> {
        match self {
            ScenarioError::Many(list) => Box::new(list.iter().flat_map(|e| e.errors())),
            other => Box::new(std::iter::once(other)),
        }
    }

    /// Where the error points to, when it points into a file.
    pub fn loc(&self) -> Option<&Loc> {
        match self {
            ScenarioError::Syntax { loc, .. } | ScenarioError::Invalid { loc, .. } => Some(loc),
            ScenarioError::Many(list) => list.first().and_then(|e| e.loc()),
            _ => None,
        }
    }
}

struct DisplayList<'a>(&'a [ScenarioError]);

impl fmt::Display for DisplayList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// One scenario file's text and path: turns byte offsets into `Loc`s and builds errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Source { path, text }
    }

    /// The 1-based line and column (in chars) of a byte offset; offsets past the end or
    /// inside a multi-byte char are clamped.
    pub fn loc(&self, offset: usize) -> Loc {
        let (line, column) = line_column(self.text, offset);
        Loc {
            file: self.path.to_path_buf(),
            line,
            column,
        }
    }

    pub fn loc_of(&self, span: &Range<usize>) -> Loc {
        self.loc(span.start)
    }

    pub fn invalid(
        &self,
        span: &Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        invalid(self.loc_of(span), field, message)
    }

    /// A toml deserialisation error, with its span turned into a position and its
    /// message folded onto one line.
    pub fn toml_error(&self, err: &toml::de::Error) -> ScenarioError {
        let offset = err.span().map_or(0, |s| s.start);
        ScenarioError::Syntax {
            loc: self.loc(offset),
            message: one_line(err.message()),
        }
    }
}

pub(crate) fn invalid(
    loc: Loc,
    field: impl Into<String>,
    message: impl Into<String>,
) -> ScenarioError {
    ScenarioError::Invalid {
        loc,
        field: field.into(),
        message: message.into(),
    }
}

/// 1-based (line, column) of `offset` in `text`; the column counts chars.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A `Syntax` error for a file that is not UTF-8, at the first offending byte.
pub(crate) fn not_utf8(path: &Path, bytes: &[u8], err: std::str::Utf8Error) -> ScenarioError {
    let valid = err.valid_up_to();
    // The prefix is valid UTF-8 by definition of `valid_up_to`.
    let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
    let (line, column) = line_column(prefix, valid);
    ScenarioError::Syntax {
        loc: Loc {
            file: path.to_path_buf(),
            line,
            column,
        },
        message: format!("the file is not UTF-8 (invalid byte at offset {valid})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_chars_from_one() {
        let text = "ab\ncé d\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 2), (1, 3));
        assert_eq!(line_column(text, 3), (2, 1));
        // 'd' is at byte 7 (é is two bytes) but char column 4.
        assert_eq!(line_column(text, 7), (2, 4));
        // inside 'é': clamped back to its start.
        assert_eq!(line_column(text, 5), (2, 2));
        assert_eq!(line_column(text, 999), (3, 1));
        assert_eq!(line_column("", 5), (1, 1));
    }

    #[test]
    fn toml_messages_fold_onto_one_line() {
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
    }
}

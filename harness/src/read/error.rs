//! Typed errors for reading scenario files, each printed as `file:line:column: field: message`,
//! and the byte-offset to line:column translation they rely on.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::loc::Loc;

/// At most this many errors of one file are listed.
pub const MAX_ERRORS: usize = 50;

/// Why a scenario file (or the scenario directory) could not be turned into cases.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file or directory could not be read. (The io error is shown, not chained as a
    /// `source`: `{:#}` in the CLI would print it twice.)
    #[error("{}: {error}", shown(path))]
    Io { path: PathBuf, error: io::Error },

    /// The path names something that is not a regular file (a FIFO, a socket, a
    /// device, a directory) or, in a scenario folder, a symbolic link: refused
    /// before it is read, so nothing blocks on it or reads a device.
    #[error("{}: {what}; a scenario is a regular `.toml` file", shown(path))]
    NotRegular { path: PathBuf, what: String },

    /// A folder or file name on the path holds a control character (a newline,
    /// an escape): names are printed in every report, so they cannot hold one.
    #[error(
        "{}: the path holds a control character; rename the file or its folder",
        shown(path)
    )]
    ControlChar { path: PathBuf },

    /// The file is too large, not UTF-8 or not valid TOML: a problem of the file, not of
    /// one field (the message is toml's own, kept on one line).
    #[error("{loc}: {message}")]
    Syntax { loc: Loc, message: String },

    /// A value is missing, unknown, of the wrong type or not acceptable; `field` is its
    /// path in the file (`connection.port`, `server.sysctl."net.ipv4.tcp_rfc1337"`).
    #[error("{loc}: {field}: {message}")]
    Invalid {
        loc: Loc,
        field: String,
        message: String,
    },

    /// No scenario file has this name.
    #[error(
        "{}: no scenario named \"{}\" under {}",
        escaped(name),
        escaped(name),
        shown(searched)
    )]
    NotFound { name: String, searched: PathBuf },

    /// Two scenario files share a name (the file stem), so a name would be ambiguous.
    #[error(
        "{}: duplicate scenario name \"{}\", first defined in {}",
        shown(second),
        escaped(name),
        shown(first)
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

    /// Like `check`, for the errors of one file: past `MAX_ERRORS`, one more line counts
    /// the rest (a generated or pasted file can otherwise print thousands of lines).
    pub(crate) fn check_file(mut errors: Vec<ScenarioError>) -> Result<(), ScenarioError> {
        if errors.len() > MAX_ERRORS {
            let rest = errors.split_off(MAX_ERRORS);
            if let Some(loc) = rest.first().and_then(ScenarioError::loc).cloned() {
                errors.push(ScenarioError::Syntax {
                    loc,
                    message: format!(
                        "and {} more errors from here on (at most {MAX_ERRORS} are shown)",
                        rest.len()
                    ),
                });
            }
        }
        ScenarioError::check(errors)
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

/// `text` with control characters escaped (`\n`, `\u{1b}`), so that a name
/// cannot add lines to, or colour, what prints it.
pub(crate) fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A path as printed in an error: escaped like [`escaped`].
pub(crate) fn shown(path: &Path) -> String {
    escaped(&path.to_string_lossy())
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
#[derive(Debug, Clone)]
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    index: LineIndex,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Source {
            path,
            text,
            index: LineIndex::new(text),
        }
    }

    /// The 1-based line and column (in chars) of a byte offset; offsets past the end or
    /// inside a multi-byte char are clamped.
    pub fn loc(&self, offset: usize) -> Loc {
        let (line, column) = self.index.line_column(self.text, offset);
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

    /// A `Syntax` error (about the file, not one field) at a byte offset.
    pub fn syntax(&self, offset: usize, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Syntax {
            loc: self.loc(offset),
            message: message.into(),
        }
    }
}

/// Byte offset to (line, column) in O(log lines + BLOCK), whatever the file: a scenario
/// file may be up to `MAX_FILE_BYTES` on one line, and every value gets a position.
#[derive(Debug, Clone)]
struct LineIndex {
    /// Byte offset where each line starts; the first is 0.
    line_starts: Vec<usize>,
    /// UTF-8 continuation bytes in `text[..k * BLOCK]`, for each k.
    continuation: Vec<usize>,
    /// The text starts with a byte-order mark, which no editor shows as a column.
    bom: bool,
}

const BLOCK: usize = 256;

fn is_continuation(b: u8) -> bool {
    b & 0xc0 == 0x80
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut continuation = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut count = 0;
        continuation.push(0);
        for block in bytes.chunks(BLOCK) {
            count += block.iter().filter(|&&b| is_continuation(b)).count();
            continuation.push(count);
        }
        LineIndex {
            line_starts,
            continuation,
            bom: text.starts_with('\u{feff}'),
        }
    }

    /// Chars in `text[..offset]`; `offset` is a char boundary.
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        let block = offset / BLOCK;
        let tail = text.as_bytes()[block * BLOCK..offset]
            .iter()
            .filter(|&&b| is_continuation(b))
            .count();
        offset - self.continuation[block] - tail
    }

    fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        // The end of a CRLF line is its CR, as for an LF line it is the LF.
        let bytes = text.as_bytes();
        if offset > 0 && bytes.get(offset) == Some(&b'\n') && bytes[offset - 1] == b'\r' {
            offset -= 1;
        }
        // At least one start (0) is <= offset, so `line` >= 1.
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let mut column = self.chars_before(text, offset) - self.chars_before(text, start) + 1;
        if self.bom && line == 1 && offset > 0 {
            column -= 1;
        }
        (line, column)
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

/// 1-based (line, column) of `offset` in `text`; the column counts chars (not a leading
/// byte-order mark).
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).line_column(text, offset)
}

pub(crate) fn one_line(message: &str) -> String {
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
    let byte = bytes.get(valid).copied().unwrap_or_default();
    ScenarioError::Syntax {
        loc: Loc {
            file: path.to_path_buf(),
            line,
            column,
        },
        message: format!("the file is not UTF-8 (byte 0x{byte:02x} here); save it as UTF-8 text"),
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
        // The end of a CRLF line is where the CR is.
        assert_eq!(line_column("ab\r\ncd", 3), (1, 3));
        assert_eq!(line_column("ab\r\ncd", 4), (2, 1));
        // A byte-order mark is not a column.
        assert_eq!(line_column("\u{feff}ab\ncd", 0), (1, 1));
        assert_eq!(line_column("\u{feff}ab\ncd", 4), (1, 2));
        assert_eq!(line_column("\u{feff}ab\ncd", 6), (2, 1));
    }

    #[test]
    fn toml_messages_fold_onto_one_line() {
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
    }
}

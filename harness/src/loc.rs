//! Where a scenario file said something: every value read from a file keeps its
//! `file:line:column`, so a failure can point at the line that expected it.

use std::fmt;
use std::path::PathBuf;

/// A position in a scenario file, printed as `file:line:column` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relative to the current directory when below it: short and clickable.
        let cwd = std::env::current_dir().ok();
        let file = cwd
            .as_deref()
            .and_then(|c| self.file.strip_prefix(c).ok())
            .unwrap_or(&self.file);
        write!(f, "{}:{}:{}", file.display(), self.line, self.column)
    }
}

/// A value together with where the scenario file said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub loc: Loc,
}

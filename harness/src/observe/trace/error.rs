//! Why a state trace could not be made or read ([`TraceError`]), and the helper
//! that names the operation that failed.

use std::io;
use std::path::PathBuf;

/// Why a state trace could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The kernel or the privileges do not allow a trace; the caller falls back
    /// to sock_diag snapshots and says so, quoting `why`.
    #[error("state trace unavailable: {why}")]
    Unavailable {
        /// One sentence a person can act on.
        why: String,
    },
    /// A tracefs read or a perf operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was done, like `map the perf ring of CPU 1`.
        op: String,
        source: io::Error,
    },
    /// A tracefs `format` file (or another kernel list) that this module cannot read.
    #[error("{path}: unexpected format: {what}")]
    Format { path: PathBuf, what: String },
    /// A perf ring that holds a record that does not parse.
    #[error("perf ring of CPU {cpu}: malformed record: {what}")]
    Ring { cpu: u32, what: String },
}

pub(super) fn io_err(op: impl Into<String>) -> impl FnOnce(io::Error) -> TraceError {
    move |source| TraceError::Io {
        op: op.into(),
        source,
    }
}

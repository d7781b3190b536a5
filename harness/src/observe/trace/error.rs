//! Why a state trace could not be made or read ([`TraceError`]), and the helper
//! that names the tracefs operation that failed.

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
    /// A tracefs operation failed after the instance was made.
    #[error("{op}: {source}")]
    Io {
        /// What was done, like `write tai to .../trace_clock`.
        op: String,
        source: io::Error,
    },
    /// A tracefs `format` file that this module cannot read.
    #[error("{path}: unexpected format: {what}")]
    Format { path: PathBuf, what: String },
    /// A ring-buffer page that does not decode.
    #[error("{path}: malformed ring-buffer page: {what}")]
    Page { path: PathBuf, what: String },
}

impl TraceError {
    /// True when the environment cannot trace at all (as opposed to a failure
    /// part-way), so the caller should fall back to sock_diag.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, TraceError::Unavailable { .. })
    }
}

pub(super) fn io_err(op: impl Into<String>) -> impl FnOnce(io::Error) -> TraceError {
    move |source| TraceError::Io {
        op: op.into(),
        source,
    }
}

//! Why a case could not be run to its end: the error of the executor and of the
//! run entry, one variant per layer, each keeping its source. A timeout carries
//! the segments captured until then; the reports render them.

use crate::lab::LabError;
use crate::observe::capture::CaptureError;
use crate::observe::conntrack::ConntrackError;
use crate::observe::diag::DiagError;
use crate::wire::{EmitError, Segment, Side};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("router namespace: {source}")]
    Conntrack { source: ConntrackError },
    #[error("sock_diag in the {side} namespace: {source}")]
    Diag { side: Side, source: DiagError },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A wait reached the case's deadline; `seen` is what the capture held then.
    #[error(
        "timed out after {after_ms} ms waiting for {what} ({} TCP segments captured)",
        seen.len()
    )]
    Timeout {
        what: String,
        after_ms: u128,
        seen: Vec<Segment>,
    },
    #[error("raw peer: {op}: {source}")]
    RawIo {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("raw peer: build frame: {0}")]
    RawFrame(EmitError),
    /// The case ran, but its answer would be chance on this machine (a timing
    /// the harness needs was missed): an error to run again, never a verdict.
    #[error("uncertain: {why}")]
    Uncertain { why: String },
    /// A combination the scenario checks refuse, reached anyway (a bug).
    #[error("not supported: {what}")]
    Unsupported { what: String },
    /// Not run: the scenario's `kernel = "..."` leaves this kernel out. Not a
    /// failure, and never a pass.
    #[error("skipped: {why}")]
    Skipped { why: String },
}

impl RunError {
    /// Errors that are about the environment (privilege), not about the case.
    pub fn is_privilege(&self) -> bool {
        matches!(self, RunError::Lab(LabError::NoPrivilege))
    }

    /// The case was not run on this kernel (and why), as its scenario says.
    pub fn skipped(&self) -> Option<&str> {
        match self {
            RunError::Skipped { why } => Some(why),
            _ => None,
        }
    }

    /// The segments captured when the case stopped, for a timeout.
    pub fn segments(&self) -> Option<&[Segment]> {
        match self {
            RunError::Timeout { seen, .. } => Some(seen),
            _ => None,
        }
    }
}

//! How one case ended, in one word: the judge's verdict (pass, partial,
//! fail) and the two ways a case ends without one (error, skip). The judge,
//! every output, the JSON rows and the kernels table share this one type.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The verdict of a case, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
// docs/report.schema.json only grows: the rows' verdict keeps its name there.
#[schemars(rename = "VerdictKind")]
pub enum Status {
    /// Every expectation was checked and matched.
    Pass,
    /// Every expectation that could be checked matched, but some could not
    /// be checked on this kernel: not a pass.
    Partial,
    /// An expectation did not match (or there was nothing to check at all).
    Fail,
    /// The case could not be run to its end.
    Error,
    /// The case was not run on this kernel (its scenario's `kernel` condition).
    Skip,
}

impl Status {
    /// Every status, in the order the tallies count them.
    pub const ALL: [Status; 5] = [
        Status::Pass,
        Status::Partial,
        Status::Fail,
        Status::Error,
        Status::Skip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Partial => "partial",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skip => "skip",
        }
    }

    /// The case ran and was judged: what it showed means something.
    pub fn judged(self) -> bool {
        matches!(self, Status::Pass | Status::Partial | Status::Fail)
    }

    /// The case makes a run fail (exit 1): a skip does not, a pass does not.
    pub fn fails_run(self) -> bool {
        matches!(self, Status::Partial | Status::Fail | Status::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn words_are_lowercase_in_serde_and_as_str() {
        for s in Status::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(
                serde_json::from_str::<Status>(&format!("\"{}\"", s.as_str())).unwrap(),
                s
            );
        }
        assert!(!Status::Skip.judged() && !Status::Skip.fails_run());
        assert!(Status::Partial.fails_run() && Status::Error.fails_run());
    }
}

//! What every machine-readable output needs of one case, owned and small: its
//! names, how it ended (pass, partial, fail, error, skip), the failing checks,
//! the unchecked expectations, the pcap; and the [`Tally`] of a whole run.
//! JUnit, KTAP and the JSON summary are written from these.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::RunError;
use crate::report::json::SummaryRow;
use crate::report::json::rows::{Counts, Version};
use crate::run::CaseRun;
use crate::scenario::Case;
use crate::verdict::Status;

/// One case, as the machine-readable outputs show it.
#[derive(Debug, Clone)]
pub struct Record {
    /// `<area>::<scenario>`: the JUnit testsuite.
    pub suite: String,
    /// `<area>::<scenario>::<case values>`.
    pub trial: String,
    /// The case name (`ts-off/ipv6`).
    pub case: String,
    /// The scenario file (`scenarios/<area>/<name>.toml` for a built-in one).
    pub file: String,
    pub conclusion: Status,
    pub duration: Duration,
    /// Each failing check: `field: expected X, seen Y (file:line:column)`.
    pub failures: Vec<String>,
    /// Each expectation not checked: `field = X: why (file:line:column)`.
    pub unchecked: Vec<String>,
    /// The error or the reason for a skip.
    pub message: Option<String>,
    pub pcap: Option<PathBuf>,
    /// The human report of a case that did not pass (text timeline).
    pub details: Option<String>,
}

impl Record {
    fn new(case: &Case, conclusion: Status) -> Record {
        Record {
            suite: format!("{}::{}", case.area, case.scenario),
            trial: case.trial_name(),
            case: case.name.clone(),
            file: case.file.display().to_string(),
            conclusion,
            duration: Duration::ZERO,
            failures: Vec::new(),
            unchecked: Vec::new(),
            message: None,
            pcap: None,
            details: None,
        }
    }

    /// A case that ran; `pcap` when one was written.
    pub fn from_run(run: &CaseRun, pcap: Option<&Path>) -> Record {
        let conclusion = run.verdict.status;
        let mut r = Record::new(&run.case, conclusion);
        r.duration = run.duration;
        r.failures = run
            .verdict
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| {
                format!(
                    "{}: expected {}, seen {} ({})",
                    c.field, c.expected, c.seen, c.loc
                )
            })
            .collect();
        r.unchecked = run
            .verdict
            .unchecked
            .iter()
            .map(|u| format!("{} = {}: {} ({})", u.field, u.expected, u.why, u.loc))
            .collect();
        if conclusion == Status::Fail && r.failures.is_empty() {
            r.failures
                .push("nothing could be checked on this kernel".into());
        }
        r.pcap = pcap.map(Path::to_path_buf);
        if conclusion != Status::Pass {
            r.details = Some(crate::report::text::render(run));
        }
        r
    }

    /// A case that could not be run to its end.
    pub fn from_error(case: &Case, error: &RunError, duration: Duration) -> Record {
        let mut r = Record::new(case, Status::Error);
        r.duration = duration;
        let text = crate::report::text::error(error);
        r.message = Some(text.lines().next().unwrap_or_default().to_owned());
        r.details = Some(text);
        r
    }

    /// A case not run on this kernel, and why.
    pub fn skipped(case: &Case, reason: &str) -> Record {
        let mut r = Record::new(case, Status::Skip);
        r.message = Some(reason.to_owned());
        r
    }
}

/// The counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub pass: usize,
    pub partial: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
}

impl Tally {
    pub fn add(&mut self, c: Status) {
        match c {
            Status::Pass => self.pass += 1,
            Status::Partial => self.partial += 1,
            Status::Fail => self.fail += 1,
            Status::Error => self.error += 1,
            Status::Skip => self.skip += 1,
        }
    }

    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Tally {
        let mut t = Tally::default();
        for r in records {
            t.add(r.conclusion);
        }
        t
    }

    pub fn cases(&self) -> usize {
        self.pass + self.partial + self.fail + self.error + self.skip
    }

    /// 0 when no case failed, was partial or hit an error (skips are
    /// reported, and do not fail a run); else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.partial + self.fail + self.error > 0)
    }

    /// The summary line of `--json`.
    pub fn summary_row(&self, kernel: &str, took: Duration) -> SummaryRow {
        SummaryRow {
            version: Version,
            pass: self.exit_code() == 0,
            cases: self.cases(),
            counts: Counts {
                pass: self.pass,
                partial: self.partial,
                fail: self.fail,
                error: self.error,
                skip: self.skip,
            },
            kernel: kernel.to_owned(),
            duration_ms: (took.as_secs_f64() * 1e6).round() / 1e3,
            exit_code: self.exit_code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_passes_only_without_fail_partial_or_error() {
        let mut t = Tally::default();
        t.add(Status::Pass);
        t.add(Status::Skip);
        assert_eq!(t.exit_code(), 0, "a skip does not fail a run");
        for bad in [Status::Partial, Status::Fail, Status::Error] {
            let mut u = t.clone();
            u.add(bad);
            assert_eq!(u.exit_code(), 1, "{bad:?}");
        }
        let s = t.summary_row("6.1.0", Duration::from_micros(1500));
        assert_eq!(
            (s.pass, s.cases, s.counts.pass, s.counts.skip, s.duration_ms),
            (true, 2, 1, 1, 1.5)
        );
    }
}

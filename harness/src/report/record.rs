//! What every output needs of one case, owned, small and neutral: its
//! names, its kernel, how it ended, the failing checks, the unchecked
//! expectations, the pcap, the facts the kernels are compared by; and the
//! [`Tally`] of a run. Built for each case (`case_end`) from its JSON row,
//! whether the case ran here or in a guest; JUnit, KTAP, the kernels table
//! and the HTML index are written from these.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::verdict::Status;

/// One case on one kernel, as the outputs show it.
#[derive(Debug, Clone)]
pub struct Record {
    /// `<area>::<scenario>`: the JUnit testsuite.
    pub suite: String,
    /// `<area>::<scenario>::<case values>`.
    pub trial: String,
    /// The case name (`ts-off/ipv6`): the key kernels are compared by.
    pub case: String,
    /// The scenario file (`scenarios/<area>/<name>.toml` for a built-in one).
    pub file: String,
    /// The release of the kernel it ran on.
    pub kernel: String,
    pub conclusion: Status,
    pub duration: Duration,
    /// Each failing check: `field: expected X, seen Y (file:line:column)`.
    pub failures: Vec<String>,
    /// Each expectation not checked: `field = X: why (file:line:column)`.
    pub unchecked: Vec<String>,
    /// The error's first line, or the reason for a skip.
    pub message: Option<String>,
    pub pcap: Option<PathBuf>,
    /// The human report of a case that did not pass (its timeline).
    pub details: Option<String>,
    /// What the TIME_WAIT side answered (a judged case).
    pub answer: Option<String>,
    /// The facts compared between kernels, by name, as short text (`null`:
    /// not seen on that kernel); a judged case only.
    pub facts: BTreeMap<&'static str, String>,
    /// The segments as timeline lines, when the evidence itself stayed in a
    /// guest (the HTML shows them instead of a ladder).
    pub timeline: Vec<String>,
}

impl Record {
    /// Why it is not a pass, one line each: the failed checks, the
    /// unchecked expectations, the error or the reason for a skip.
    pub fn why(&self) -> Vec<String> {
        let mut out = self.failures.clone();
        out.extend(self.unchecked.iter().cloned());
        out.extend(self.message.iter().cloned());
        out
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

    /// How many ended so.
    pub fn count(&self, s: Status) -> usize {
        match s {
            Status::Pass => self.pass,
            Status::Partial => self.partial,
            Status::Fail => self.fail,
            Status::Error => self.error,
            Status::Skip => self.skip,
        }
    }

    /// Add another run's counts.
    pub fn merge(&mut self, other: &Tally) {
        self.pass += other.pass;
        self.partial += other.partial;
        self.fail += other.fail;
        self.error += other.error;
        self.skip += other.skip;
    }

    pub fn cases(&self) -> usize {
        self.pass + self.partial + self.fail + self.error + self.skip
    }

    /// 0 when no case failed, was partial or hit an error (skips are
    /// reported, and do not fail a run); else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.partial + self.fail + self.error > 0)
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
        assert_eq!(t.cases(), 2);
    }
}

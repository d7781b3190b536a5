//! The running kernel's column of a multi-kernel run: the cases run
//! in-process through the library, as `synlab run` does, each turned into the
//! JSON row a guest would print (pcaps written where that run writes them),
//! and the summary row last, as a guest's run ends.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use synlab::report;
use synlab::report::json::{self, Row};
use synlab::report::record::{Record, Tally};
use synlab::scenario::Case;
use synlab::{CaseRun, RunOptions, SafeDir};

/// Run `cases`, `jobs` at a time: one row per case, in order, then the
/// summary row. A missing privilege ends it (`Err`): that is the host's
/// problem, not a case's. Pcaps go to `pcap_dir`/RELEASE (every case) or
/// `artifacts`/RELEASE (a case that did not pass).
pub fn rows(
    cases: &[Case],
    jobs: usize,
    pcap_dir: Option<&Path>,
    artifacts: &Path,
) -> Result<Vec<Value>, String> {
    let kernel = synlab::kernel_release();
    let started = Instant::now();
    let mut rows = Vec::with_capacity(cases.len() + 1);
    let mut records = Vec::with_capacity(cases.len());
    let mut fatal = None;
    synlab::run_cases(cases, &RunOptions::default(), jobs, |case, r| {
        let (row, record) = match r {
            Ok(run) => case_row(&run, &kernel, pcap_dir, artifacts),
            Err(e) if e.is_privilege() => {
                fatal = Some(e.to_string());
                return false;
            }
            Err(e) => match e.skipped() {
                Some(why) => (
                    json::skip_row(case, &kernel, why),
                    Record::skipped(case, why),
                ),
                None => (
                    json::error_row(case, &kernel, &e),
                    Record::from_error(case, &e, std::time::Duration::ZERO),
                ),
            },
        };
        rows.push(value(&row));
        records.push(record);
        true
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    let summary = Tally::of(&records).summary_row(&kernel, started.elapsed());
    rows.push(value(&Row::Summary(summary)));
    Ok(rows)
}

fn value(row: &Row) -> Value {
    serde_json::from_str(&json::line(row)).unwrap_or(Value::Null)
}

fn case_row(
    run: &CaseRun,
    release: &str,
    pcap_dir: Option<&Path>,
    artifacts: &Path,
) -> (Row, Record) {
    let dir = match pcap_dir {
        Some(d) => Some(SafeDir::named(d).and_then(|d| d.subdir(release))),
        None if !run.verdict.pass => {
            Some(report::artifacts::open_private(artifacts).and_then(|d| d.subdir(release)))
        }
        None => None,
    };
    let mut pcap = None;
    if let Some(dir) = dir {
        match dir.and_then(|d| report::artifacts::pcap_into(&d, run)) {
            Ok(p) => pcap = Some(p),
            Err(e) => eprintln!("{}: pcap not written: {e}", run.case.trial_name()),
        }
    }
    (
        Row::Case(Box::new(json::case_row(run, pcap.as_deref()))),
        Record::from_run(run, pcap.as_deref()),
    )
}

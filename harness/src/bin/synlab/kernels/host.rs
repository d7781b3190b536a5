//! The running kernel's column of a multi-kernel run: the cases run
//! in-process through the library, as `synlab run` does, each turned into the
//! JSON row a guest would print (pcaps written where that run writes them).

use std::path::{Path, PathBuf};

use serde_json::Value;

use synlab::report;
use synlab::scenario::Case;
use synlab::{CaseRun, RunError, RunOptions};

/// Run `cases`, `jobs` at a time: one row per case, in order. A missing
/// privilege ends it (`Err`): that is the host's problem, not a case's.
/// Pcaps go to `pcap_dir` (every case) or `artifacts` (a case that did not pass).
pub fn rows(
    cases: &[Case],
    jobs: usize,
    pcap_dir: Option<&Path>,
    artifacts: &Path,
) -> Result<Vec<Value>, String> {
    let kernel = synlab::kernel_release();
    let mut rows = Vec::with_capacity(cases.len());
    let mut fatal = None;
    synlab::run_cases(cases, &RunOptions::default(), jobs, |case, r| {
        match r {
            Ok(run) => rows.push(row(&run, pcap_dir, artifacts)),
            Err(e) if e.is_privilege() => {
                fatal = Some(e.to_string());
                return false;
            }
            Err(RunError::Skipped { why }) => rows.push(report::json::skipped(case, &kernel, &why)),
            Err(e) => rows.push(report::json::error(case, &kernel, &e)),
        }
        true
    });
    match fatal {
        Some(e) => Err(e),
        None => Ok(rows),
    }
}

fn row(run: &CaseRun, pcap_dir: Option<&Path>, artifacts: &Path) -> Value {
    let dir: Option<PathBuf> = match pcap_dir {
        Some(d) => Some(d.to_path_buf()),
        None if !run.verdict.pass => Some(artifacts.to_path_buf()),
        None => None,
    };
    let mut pcap = None;
    let mut problem = None;
    if let Some(dir) = dir {
        match report::artifacts::write_pcap(&dir, run) {
            Ok(p) => pcap = Some(p),
            Err(e) => problem = Some(format!("pcap not written into {}: {e}", dir.display())),
        }
    }
    let mut v = report::json::row(run, pcap.as_deref());
    if let Some(p) = problem {
        v["pcap_error"] = Value::from(p);
    }
    v
}

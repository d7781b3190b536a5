//! The running kernel's part of a run: the cases run in this process
//! through `run_cases`, each case's end made as soon as it and those before
//! it are done, with its pcap written where the run writes it (every case
//! into `--pcap-dir`, a case that did not pass into the artifacts folder;
//! across kernels into a folder per release inside them).

use crate::error::RunError;
use crate::files::SafeDir;
use crate::report::CaseEnd;
use crate::report::artifacts;
use crate::run::{CaseRun, RunOptions, run_cases};
use crate::scenario::Case;
use crate::verdict::Status;

use super::{KernelError, Pcaps};

/// Run `cases`, `jobs` at a time, and hand each case's end to `done` in case
/// order (`false` stops the run). `subdir`: the release folder the pcaps go
/// in (across kernels). Ends the run with an error when there is no
/// privilege after all; a pcap that cannot be written safely is an error
/// of its case (`CaseEnd::artifact_lost`), and the run goes on.
pub fn run(
    cases: &[Case],
    opts: &RunOptions,
    jobs: usize,
    pcaps: &Pcaps,
    subdir: Option<&str>,
    mut done: impl FnMut(CaseEnd) -> bool + Send,
) -> Result<(), KernelError> {
    let kernel = crate::run::kernel_release();
    let mut fatal = None;
    run_cases(cases, opts, jobs, |case, r| {
        let end = match r {
            Ok(run) => match pcap(&run, pcaps, subdir) {
                Ok(p) => CaseEnd::ran(run, p.as_deref()),
                Err(e) => CaseEnd::ran(run, None).artifact_lost(&e.to_string()),
            },
            Err(e) if e.is_privilege() => {
                fatal = Some(KernelError::Host(Box::new(e)));
                return false;
            }
            Err(RunError::Skipped { why }) => CaseEnd::skipped(case, &kernel, &why),
            Err(e) => CaseEnd::errored(case, &kernel, &e),
        };
        done(end)
    });
    fatal.map_or(Ok(()), Err)
}

/// Write the case's pcap when the run asks for it; its path.
fn pcap(
    run: &CaseRun,
    pcaps: &Pcaps,
    subdir: Option<&str>,
) -> Result<Option<std::path::PathBuf>, crate::files::FileError> {
    let dir = match &pcaps.every {
        Some(d) => SafeDir::named(d)?,
        None if run.verdict.status != Status::Pass => artifacts::open_private(&pcaps.failing)?,
        None => return Ok(None),
    };
    let dir = match subdir {
        Some(s) => dir.subdir(s)?,
        None => dir,
    };
    artifacts::pcap_into(&dir, run).map(Some)
}

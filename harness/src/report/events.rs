//! One reporter interface, in the style of cargo-nextest's reporter: a run
//! emits typed events (the run begins, a kernel begins, a case finished,
//! was skipped or errored, a kernel ended, the run ends with the tally), and
//! every output (text, JSON, JUnit, KTAP, HTML) is a [`Reporter`] fed the
//! same events, for the running kernel and for every kernel booted in a VM
//! alike. [`FanOut`] hands each event to every reporter chosen.
//!
//! Events come in order: a kernel's cases between its `kernel_started` and
//! its `kernel_ended`, kernels one after the other; `kernel_note` may come
//! at any time (a guest booting, a path refused).

use std::path::PathBuf;
use std::time::Duration;

use crate::files::FileError;
use crate::report::case_end::CaseEnd;
use crate::report::record::Tally;

/// What the run is, said once at its start.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The page's and the reports' title (`synlab run ts-off`).
    pub title: String,
    /// The names of the cases asked for, in order (each runs on every kernel).
    pub cases: Vec<String>,
    /// How many kernels the cases run on.
    pub kernels: usize,
    /// A run across kernels (`--kernel` other than `host` alone): the
    /// outputs name each case with its kernel.
    pub across_kernels: bool,
}

/// One kernel of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInfo {
    /// Its place in the run, from 0.
    pub index: usize,
    /// Its heading: `host 6.18.44-...` or the release of the booted image.
    pub label: String,
    /// Its release (`uname -r`): what every row of it says in `kernel`.
    pub release: String,
}

/// How a kernel's part of the run ended.
#[derive(Debug, Clone)]
pub struct KernelEnd {
    /// Where its results came from, in words (in-process, or the image and
    /// how it booted).
    pub how: String,
    /// Its cases, counted.
    pub tally: Tally,
    /// The time its cases took: wall time in this process, or for a guest
    /// its suite's run on the guest's clock (host wall time when unknown).
    pub took: Duration,
    /// The kernel could not run the lab at all (or did not boot): why. Its
    /// cases are then not reported one by one.
    pub unusable: Option<String>,
}

/// How the whole run ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// Every case on every kernel, counted.
    pub tally: Tally,
    pub took: Duration,
    /// Kernels that could not run the lab.
    pub unusable: usize,
}

impl RunEnd {
    /// The exit code: 0 every case passed (skips aside), 1 one did not, 2 a
    /// kernel could not run the lab at all.
    pub fn exit_code(&self) -> u8 {
        if self.unusable > 0 {
            2
        } else {
            self.tally.exit_code()
        }
    }
}

/// Why a reporter could not write.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("write the {what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("write the {what}: {source}")]
    File {
        what: &'static str,
        source: FileError,
    },
    #[error("the {what} {}: {source}", path.display())]
    Path {
        what: &'static str,
        path: PathBuf,
        source: FileError,
    },
}

impl ReportError {
    /// A closure for `map_err` on a sink's write.
    pub fn io(what: &'static str) -> impl Fn(std::io::Error) -> ReportError {
        move |source| ReportError::Io { what, source }
    }
}

/// An output of a run. Every method but the three about cases does nothing
/// unless the output needs it.
pub trait Reporter: Send {
    fn run_started(&mut self, _run: &RunInfo) -> Result<(), ReportError> {
        Ok(())
    }

    fn kernel_started(&mut self, _kernel: &KernelInfo) -> Result<(), ReportError> {
        Ok(())
    }

    /// A case that ran to its end and was judged.
    fn case_finished(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError>;

    /// A case not run on this kernel.
    fn case_skipped(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError>;

    /// A case that could not be run to its end (or whose result never came back).
    fn case_errored(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError>;

    /// A line about a kernel's part that is no case's (a guest booting, a
    /// guest's path refused); for stderr.
    fn kernel_note(&mut self, _kernel: &KernelInfo, _note: &str) -> Result<(), ReportError> {
        Ok(())
    }

    fn kernel_ended(&mut self, _kernel: &KernelInfo, _end: &KernelEnd) -> Result<(), ReportError> {
        Ok(())
    }

    fn run_ended(&mut self, _end: &RunEnd) -> Result<(), ReportError> {
        Ok(())
    }
}

/// Hand a case to the reporter method its ending calls for.
pub fn report_case(
    r: &mut dyn Reporter,
    kernel: &KernelInfo,
    case: &CaseEnd,
) -> Result<(), ReportError> {
    use crate::verdict::Status;
    match case.record.conclusion {
        Status::Skip => r.case_skipped(kernel, case),
        Status::Error => r.case_errored(kernel, case),
        Status::Pass | Status::Partial | Status::Fail => r.case_finished(kernel, case),
    }
}

/// Every reporter chosen, fed the same events in the order they were
/// given. Each gets every event; the first error is returned after all had it.
#[derive(Default)]
pub struct FanOut {
    reporters: Vec<Box<dyn Reporter>>,
}

impl FanOut {
    pub fn new() -> FanOut {
        FanOut::default()
    }

    pub fn push(&mut self, r: Box<dyn Reporter>) {
        self.reporters.push(r);
    }

    fn each(
        &mut self,
        mut f: impl FnMut(&mut dyn Reporter) -> Result<(), ReportError>,
    ) -> Result<(), ReportError> {
        let mut first = Ok(());
        for r in &mut self.reporters {
            let done = f(r.as_mut());
            if first.is_ok() {
                first = done;
            }
        }
        first
    }
}

impl Reporter for FanOut {
    fn run_started(&mut self, run: &RunInfo) -> Result<(), ReportError> {
        self.each(|r| r.run_started(run))
    }

    fn kernel_started(&mut self, kernel: &KernelInfo) -> Result<(), ReportError> {
        self.each(|r| r.kernel_started(kernel))
    }

    fn case_finished(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.each(|r| r.case_finished(kernel, case))
    }

    fn case_skipped(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.each(|r| r.case_skipped(kernel, case))
    }

    fn case_errored(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.each(|r| r.case_errored(kernel, case))
    }

    fn kernel_note(&mut self, kernel: &KernelInfo, note: &str) -> Result<(), ReportError> {
        self.each(|r| r.kernel_note(kernel, note))
    }

    fn kernel_ended(&mut self, kernel: &KernelInfo, end: &KernelEnd) -> Result<(), ReportError> {
        self.each(|r| r.kernel_ended(kernel, end))
    }

    fn run_ended(&mut self, end: &RunEnd) -> Result<(), ReportError> {
        self.each(|r| r.run_ended(end))
    }
}

//! `synlab run --json`: each case's row as one line, as soon as its case
//! ends, and each kernel's summary row when that kernel's part ends (a run
//! on one kernel ends with the one summary row, Contract 2), with the model
//! against that kernel counted from its case rows.

use std::io::Write;

use crate::report::case_end::CaseEnd;
use crate::report::events::{KernelEnd, KernelInfo, ReportError, Reporter};

use super::{ModelSummary, Row, line, summary_row};

/// The JSON lines, written to `out` (stdout).
pub struct JsonReporter<W> {
    out: W,
    /// The model against the current kernel, from its case rows.
    model: ModelSummary,
}

impl<W: Write + Send> JsonReporter<W> {
    pub fn new(out: W) -> JsonReporter<W> {
        JsonReporter {
            out,
            model: ModelSummary::default(),
        }
    }

    /// What was written, for a reporter writing into a buffer.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn row(&mut self, row: &Row) -> Result<(), ReportError> {
        let io = ReportError::io("JSON rows");
        writeln!(self.out, "{}", line(row)).map_err(&io)?;
        self.out.flush().map_err(io)
    }
}

impl<W: Write + Send> Reporter for JsonReporter<W> {
    fn kernel_started(&mut self, _: &KernelInfo) -> Result<(), ReportError> {
        self.model = ModelSummary::default();
        Ok(())
    }

    fn case_finished(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        if let Row::Case(c) = &case.row {
            self.model.add(c);
        }
        self.row(&case.row)
    }

    fn case_skipped(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.row(&case.row)
    }

    fn case_errored(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.row(&case.row)
    }

    fn kernel_ended(&mut self, kernel: &KernelInfo, end: &KernelEnd) -> Result<(), ReportError> {
        if end.unusable.is_some() {
            return Ok(());
        }
        let summary = summary_row(&end.tally, &self.model, &kernel.release, end.took);
        self.row(&Row::Summary(summary))
    }
}

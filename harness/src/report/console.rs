//! The human report as a [`Reporter`]. On one kernel: each case's timeline
//! and verdict as it ends (`text`), then the folklore table, the model
//! against the kernel (`model vs kernel: N of M cases agree` and each other
//! case) and the tally. Across kernels: per kernel where its results came
//! from, its tally, each case that did not pass with the reason and pcap,
//! and the model against that kernel, then the one table, case by kernel
//! (`table`), written when the run ends.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use crate::judge::ClaimVerdict;
use crate::report::case_end::CaseEnd;
use crate::report::events::{KernelEnd, KernelInfo, ReportError, Reporter, RunEnd, RunInfo};
use crate::report::json::{ModelSummary, Row};
use crate::report::phrase;
use crate::report::record::{Record, Tally};
use crate::report::table::{self, Column};
use crate::report::text;
use crate::verdict::Status;

/// One kernel's part, kept for the end of a run across kernels.
struct Part {
    kernel: KernelInfo,
    end: KernelEnd,
    records: Vec<Record>,
    model: ModelSummary,
}

/// The text report, written to `out`.
pub struct TextReporter<W> {
    out: W,
    across: bool,
    /// The files the run writes, named at the end (`html: PATH`, `junit: PATH`).
    html: Option<PathBuf>,
    junit: Option<PathBuf>,
    /// Each case that tests a popular claim, for the closing table.
    claims: Vec<(String, ClaimVerdict)>,
    /// Across kernels: the cases asked for, and each kernel's part.
    cases: Vec<String>,
    current: Vec<Record>,
    parts: Vec<Part>,
    /// The model against the current kernel, from its case rows.
    model: ModelSummary,
}

impl<W: Write + Send> TextReporter<W> {
    pub fn new(out: W) -> TextReporter<W> {
        TextReporter {
            out,
            across: false,
            html: None,
            junit: None,
            claims: Vec::new(),
            cases: Vec::new(),
            current: Vec::new(),
            parts: Vec::new(),
            model: ModelSummary::default(),
        }
    }

    /// Name these files at the end of a run on one kernel.
    pub fn naming(mut self, html: Option<PathBuf>, junit: Option<PathBuf>) -> TextReporter<W> {
        self.html = html;
        self.junit = junit;
        self
    }

    /// What was written, for a reporter writing into a buffer.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, text: &str) -> Result<(), ReportError> {
        let io = ReportError::io("text report");
        self.out.write_all(text.as_bytes()).map_err(&io)?;
        self.out.flush().map_err(io)
    }

    /// Across kernels, keep the case for the end; else `text` now.
    fn case(&mut self, case: &CaseEnd, text: impl FnOnce() -> String) -> Result<(), ReportError> {
        if self.across {
            self.current.push(case.record.clone());
            Ok(())
        } else {
            self.write(&text())
        }
    }

    /// A kernel's section: where its results came from, its tally, each
    /// case that did not pass with why and its pcap.
    fn section(part: &Part) -> String {
        let mut text = format!("\n== kernel {}: {}\n", part.kernel.label, part.end.how);
        if let Some(why) = &part.end.unusable {
            let _ = writeln!(text, "   KERNEL UNUSABLE, none of its cases counted: {why}");
            return text;
        }
        let tally = Status::ALL
            .iter()
            .map(|s| (part.end.tally.count(*s), s.as_str()))
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(text, "   {} cases: {tally}", part.records.len());
        for r in part.records.iter().filter(|r| r.conclusion != Status::Pass) {
            let pad = format!("{:<7} {}", "", " ".repeat(r.case.len()));
            for (i, why) in r.why().iter().enumerate() {
                let head = if i == 0 {
                    format!("{:<7} {}", r.conclusion.as_str().to_uppercase(), r.case)
                } else {
                    pad.clone()
                };
                let _ = writeln!(text, "   {head}: {why}");
            }
            if let Some(p) = &r.pcap {
                let _ = writeln!(text, "   {pad}  pcap: {}", p.display());
            }
        }
        for line in phrase::model_summary(&part.model).lines() {
            let _ = writeln!(text, "   {line}");
        }
        text
    }

    /// The closing lines of a run on one kernel.
    fn closing(&self, tally: &Tally) -> String {
        let mut t = String::new();
        if let Some(p) = &self.html {
            let _ = writeln!(t, "html: {}", p.display());
        }
        if !self.claims.is_empty() {
            t.push_str(&text::folklore_table(&self.claims, self.claims.len()));
        }
        t.push('\n');
        t.push_str(&phrase::model_summary(&self.model));
        let failed = tally.fail + tally.partial + tally.error;
        if tally.partial + tally.error > 0 {
            let _ = writeln!(
                t,
                "({failed} failed: {} did not match, {} partial, {} errors)",
                tally.fail, tally.partial, tally.error
            );
        }
        let _ = write!(t, "{} passed, {failed} failed", tally.pass);
        if tally.skip > 0 {
            let _ = write!(t, ", {} skipped", tally.skip);
        }
        t.push('\n');
        if let Some(p) = &self.junit {
            let _ = writeln!(t, "junit: {}", p.display());
        }
        t
    }
}

impl<W: Write + Send> Reporter for TextReporter<W> {
    fn run_started(&mut self, run: &RunInfo) -> Result<(), ReportError> {
        self.across = run.across_kernels;
        self.cases = run.cases.clone();
        Ok(())
    }

    fn kernel_started(&mut self, _: &KernelInfo) -> Result<(), ReportError> {
        self.current.clear();
        self.model = ModelSummary::default();
        Ok(())
    }

    fn case_finished(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        if let Row::Case(c) = &case.row {
            self.model.add(c);
        }
        if let Some(claim) = case.run.as_ref().and_then(|r| r.folklore.clone()) {
            self.claims.push((case.record.case.clone(), claim));
        }
        self.case(case, || {
            let mut t = match &case.run {
                Some(run) => text::render(run),
                None => case.record.details.clone().unwrap_or_default(),
            };
            if let Some(p) = &case.record.pcap {
                let _ = writeln!(t, "   pcap: {}", p.display());
            }
            t
        })
    }

    fn case_skipped(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.case(case, || {
            let why = case.record.message.as_deref().unwrap_or_default();
            match &case.case {
                Some(c) => text::skipped(c, why),
                None => format!("SKIP {}: {why}\n", case.record.trial),
            }
        })
    }

    fn case_errored(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.case(case, || {
            let r = &case.record;
            let file = case
                .case
                .as_ref()
                .map_or_else(|| r.file.clone(), |c| c.file_label());
            let what = r.details.as_deref().unwrap_or_default();
            format!("== {}  ({file})\nERROR {}: {what}\n", r.trial, r.trial)
        })
    }

    fn kernel_ended(&mut self, kernel: &KernelInfo, end: &KernelEnd) -> Result<(), ReportError> {
        if self.across {
            self.parts.push(Part {
                kernel: kernel.clone(),
                end: end.clone(),
                records: std::mem::take(&mut self.current),
                model: std::mem::take(&mut self.model),
            });
        }
        Ok(())
    }

    fn run_ended(&mut self, end: &RunEnd) -> Result<(), ReportError> {
        if !self.across {
            let closing = self.closing(&end.tally);
            return self.write(&closing);
        }
        let mut text: String = self.parts.iter().map(Self::section).collect();
        let columns: Vec<Column> = self
            .parts
            .iter()
            .map(|p| Column {
                label: if p.end.unusable.is_some() {
                    format!("{} (not run)", p.kernel.label)
                } else {
                    p.kernel.label.clone()
                },
                cells: p.end.unusable.is_none().then_some(p.records.as_slice()),
            })
            .collect();
        text.push_str(&table::render(&self.cases, &columns));
        self.write(&text)
    }
}

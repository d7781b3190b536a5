//! `synlab run --ktap`: KTAP version 1, as the kernel's selftests print it
//! (Documentation/dev-tools/ktap.rst, tools/testing/selftests/kselftest.h):
//! the version line, the plan `1..N`, then per case its diagnostics (`# ...`)
//! and one result line, `ok N name`, `not ok N name` or `ok N name # SKIP
//! reason`, and kselftest's `# Totals:` line at the end. Names are the cargo
//! trial names (`timewait::ts-off::ipv4`). A partial case is `not ok`: it is
//! not a pass. Across kernels, each kernel is a subtest (KTAP's nesting, two
//! spaces deeper, `# Subtest: KERNEL`) holding every case of that kernel, and
//! the totals count every case of every kernel.

use std::io::Write;

use crate::report::case_end::CaseEnd;
use crate::report::events::{KernelEnd, KernelInfo, ReportError, Reporter, RunEnd, RunInfo};
use crate::report::record::{Record, Tally};
use crate::verdict::Status;

/// The version line and the plan for `total` cases.
pub fn header(total: usize) -> String {
    format!("KTAP version 1\n1..{total}\n")
}

/// Case number `n` (from 1): diagnostics, then its result line.
pub fn result(n: usize, r: &Record) -> String {
    let mut out = String::new();
    let mut diag = |line: &str| {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    };
    match r.conclusion {
        Status::Pass | Status::Skip => {}
        Status::Fail => {
            diag(&format!("{}: failed ({})", r.trial, r.file));
            for f in &r.failures {
                diag(&format!("  {f}"));
            }
        }
        Status::Partial => {
            diag(&format!(
                "{}: partial: expectations not checked on this kernel ({})",
                r.trial, r.file
            ));
            for u in &r.unchecked {
                diag(&format!("  {u}"));
            }
        }
        Status::Error => {
            diag(&format!("{}: error ({})", r.trial, r.file));
        }
    }
    if let Some(p) = &r.pcap {
        diag(&format!("pcap: {}", p.display()));
    }
    if let Some(d) = &r.details {
        for line in d.lines() {
            diag(line);
        }
    }
    let name = r.trial.replace('#', "_");
    match r.conclusion {
        Status::Pass => out.push_str(&format!("ok {n} {name}\n")),
        Status::Skip => {
            let why = r.message.as_deref().unwrap_or("not run").replace('\n', " ");
            out.push_str(&format!("ok {n} {name} # SKIP {why}\n"));
        }
        _ => out.push_str(&format!("not ok {n} {name}\n")),
    }
    out
}

/// kselftest's closing line; a partial case counts as a failure.
pub fn totals(t: &Tally) -> String {
    format!(
        "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:{}\n",
        t.pass,
        t.fail + t.partial,
        t.skip,
        t.error
    )
}

/// `text` with every line indented by `indent`.
fn indented(text: &str, indent: &str) -> String {
    text.lines().map(|l| format!("{indent}{l}\n")).collect()
}

/// KTAP on `out` (stdout).
pub struct KtapReporter<W> {
    out: W,
    across: bool,
    /// Cases reported so far (of the run, or of the kernel across kernels).
    n: usize,
    /// Kernels ended so far.
    kernels: usize,
    /// Across kernels: the current kernel's lines, written when it ends
    /// (its plan is then known).
    held: String,
}

impl<W: Write + Send> KtapReporter<W> {
    pub fn new(out: W) -> KtapReporter<W> {
        KtapReporter {
            out,
            across: false,
            n: 0,
            kernels: 0,
            held: String::new(),
        }
    }

    fn write(&mut self, text: &str) -> Result<(), ReportError> {
        let io = ReportError::io("KTAP");
        self.out.write_all(text.as_bytes()).map_err(&io)?;
        self.out.flush().map_err(io)
    }

    fn case(&mut self, r: &Record) -> Result<(), ReportError> {
        self.n += 1;
        let lines = result(self.n, r);
        if self.across {
            self.held.push_str(&indented(&lines, "  "));
            Ok(())
        } else {
            self.write(&lines)
        }
    }
}

impl<W: Write + Send> Reporter for KtapReporter<W> {
    fn run_started(&mut self, run: &RunInfo) -> Result<(), ReportError> {
        self.across = run.across_kernels;
        let plan = if self.across {
            run.kernels
        } else {
            run.cases.len()
        };
        self.write(&header(plan))
    }

    fn kernel_started(&mut self, _: &KernelInfo) -> Result<(), ReportError> {
        if self.across {
            self.n = 0;
            self.held.clear();
        }
        Ok(())
    }

    fn case_finished(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.case(&case.record)
    }

    fn case_skipped(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.case(&case.record)
    }

    fn case_errored(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.case(&case.record)
    }

    fn kernel_ended(&mut self, kernel: &KernelInfo, end: &KernelEnd) -> Result<(), ReportError> {
        if !self.across {
            return Ok(());
        }
        self.kernels += 1;
        let label = kernel.label.replace('#', "_");
        let mut text = format!("  KTAP version 1\n  # Subtest: {label}\n");
        if let Some(why) = &end.unusable {
            text.push_str(&indented(
                &format!("# kernel could not run the lab: {why}"),
                "  ",
            ));
        }
        text.push_str(&format!("  1..{}\n", self.n));
        text.push_str(&std::mem::take(&mut self.held));
        let ok = end.unusable.is_none() && end.tally.exit_code() == 0;
        text.push_str(&format!(
            "{}ok {} {label}\n",
            if ok { "" } else { "not " },
            self.kernels
        ));
        self.write(&text)
    }

    fn run_ended(&mut self, end: &RunEnd) -> Result<(), ReportError> {
        self.write(&totals(&end.tally))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(conclusion: Status) -> Record {
        let mut r = crate::report::fixtures::record("ipv4", conclusion);
        r.duration = Duration::from_millis(3);
        r.failures = vec!["answer: expected ack, seen rst (x.toml:7:10)".into()];
        r.message = Some("kernel >= 6.14: this is 6.1.0".into());
        r
    }

    #[test]
    fn lines_as_kselftest_prints_them() {
        assert_eq!(header(3), "KTAP version 1\n1..3\n");
        assert_eq!(result(1, &record(Status::Pass)), "ok 1 timewait::x::ipv4\n");
        assert_eq!(
            result(2, &record(Status::Skip)),
            "ok 2 timewait::x::ipv4 # SKIP kernel >= 6.14: this is 6.1.0\n"
        );
        let mut fail = record(Status::Fail);
        fail.pcap = Some("synlab-artifacts/x.pcap".into());
        assert_eq!(
            result(3, &fail),
            "# timewait::x::ipv4: failed (scenarios/timewait/x.toml)\n\
             #   answer: expected ack, seen rst (x.toml:7:10)\n\
             # pcap: synlab-artifacts/x.pcap\n\
             not ok 3 timewait::x::ipv4\n"
        );
        let t = Tally {
            pass: 1,
            partial: 1,
            fail: 1,
            error: 0,
            skip: 1,
        };
        assert_eq!(
            totals(&t),
            "# Totals: pass:1 fail:2 xfail:0 xpass:0 skip:1 error:0\n"
        );
    }

    #[test]
    fn across_kernels_each_kernel_is_a_subtest_with_every_case() {
        let mut k = KtapReporter::new(Vec::new());
        let run = RunInfo {
            title: "t".into(),
            cases: vec!["x/ipv4".into()],
            kernels: 2,
            across_kernels: true,
        };
        k.run_started(&run).unwrap();
        let mut all = Tally::default();
        for (i, (label, status)) in [("host 6.18.0", Status::Pass), ("6.1.0", Status::Fail)]
            .into_iter()
            .enumerate()
        {
            let kernel = KernelInfo {
                index: i,
                label: label.into(),
                release: label.into(),
            };
            k.kernel_started(&kernel).unwrap();
            let end = CaseEnd {
                record: record(status),
                row: crate::report::json::skip_row(
                    &crate::report::fixtures::case_run(
                        crate::report::fixtures::challenge_segments(),
                        "k",
                    )
                    .case,
                    label,
                    "unused",
                ),
                case: None,
                run: None,
            };
            k.case_finished(&kernel, &end).unwrap();
            let mut tally = Tally::default();
            tally.add(status);
            all.add(status);
            let end = KernelEnd {
                how: String::new(),
                tally,
                took: Duration::ZERO,
                unusable: None,
            };
            k.kernel_ended(&kernel, &end).unwrap();
        }
        k.run_ended(&RunEnd {
            tally: all,
            took: Duration::ZERO,
            unusable: 0,
        })
        .unwrap();
        let text = String::from_utf8(k.out).unwrap();
        assert_eq!(
            text,
            "KTAP version 1\n1..2\n\
             \x20 KTAP version 1\n  # Subtest: host 6.18.0\n  1..1\n  ok 1 timewait::x::ipv4\n\
             ok 1 host 6.18.0\n\
             \x20 KTAP version 1\n  # Subtest: 6.1.0\n  1..1\n\
             \x20 # timewait::x::ipv4: failed (scenarios/timewait/x.toml)\n\
             \x20 #   answer: expected ack, seen rst (x.toml:7:10)\n\
             \x20 not ok 1 timewait::x::ipv4\n\
             not ok 2 6.1.0\n\
             # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0\n"
        );
    }
}

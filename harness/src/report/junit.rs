//! `synlab run --junit FILE`: JUnit XML as CI systems read it (the
//! `testsuites > testsuite > testcase` shape of Ant/Surefire, which GitLab,
//! Jenkins and the GitHub test-report actions take): one testsuite per
//! scenario, one testcase per case; a failing case's `<failure>` lists the
//! checks that failed and names its pcap; an error is an `<error>`; a partial
//! or skipped case is `<skipped>` with the reason. Across kernels, a
//! testsuite per scenario per kernel and a testcase per case per kernel, each
//! named with its kernel (`ts-off/ipv4 [6.1.0-57-amd64]`); a kernel that could
//! not run the lab is a testsuite with one `<error>`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::files;
use crate::report::case_end::CaseEnd;
use crate::report::events::{KernelEnd, KernelInfo, ReportError, Reporter, RunEnd, RunInfo};
use crate::report::markup::escape as esc;
use crate::report::record::{Record, Tally};
use crate::verdict::Status;

/// The XML document for `records` (in run order); each testsuite names the
/// kernel of its cases.
pub fn render(records: &[Record], took: Duration) -> String {
    let mut suites: Vec<(&str, Vec<&Record>)> = Vec::new();
    for r in records {
        match suites.iter_mut().find(|(name, _)| *name == r.suite) {
            Some((_, list)) => list.push(r),
            None => suites.push((&r.suite, vec![r])),
        }
    }
    let all = Tally::of(records);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"synlab\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
        all.cases(),
        all.fail,
        all.error,
        all.skip + all.partial,
        secs(took),
    );
    for (name, list) in &suites {
        let t = Tally::of(list.iter().copied());
        let time: Duration = list.iter().map(|r| r.duration).sum();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
            esc(name),
            t.cases(),
            t.fail,
            t.error,
            t.skip + t.partial,
            secs(time),
        );
        let file = list.first().map(|r| r.file.as_str()).unwrap_or_default();
        let kernel = list.first().map(|r| r.kernel.as_str()).unwrap_or_default();
        let _ = writeln!(
            x,
            "    <properties>\n      <property name=\"kernel\" value=\"{}\"/>\n      <property name=\"file\" value=\"{}\"/>\n    </properties>",
            esc(kernel),
            esc(file),
        );
        for r in list {
            testcase(&mut x, r);
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn testcase(x: &mut String, r: &Record) {
    let _ = write!(
        x,
        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{}\"",
        esc(&r.case),
        esc(&r.suite),
        esc(&r.file),
        secs(r.duration),
    );
    let body = |first: &[String]| {
        let mut b = first.join("\n");
        if let Some(p) = &r.pcap {
            let _ = write!(b, "\npcap: {}", p.display());
        }
        if let Some(d) = &r.details {
            b.push_str("\n\n");
            b.push_str(d);
        }
        b
    };
    match r.conclusion {
        Status::Pass => x.push_str("/>\n"),
        Status::Fail => {
            let message = r.failures.first().cloned().unwrap_or_default();
            let _ = write!(
                x,
                ">\n      <failure type=\"mismatch\" message=\"{}\">{}</failure>\n    </testcase>\n",
                esc(&message),
                esc(&body(&r.failures)),
            );
        }
        Status::Error => {
            let message = r.message.clone().unwrap_or_default();
            let _ = write!(
                x,
                ">\n      <error type=\"error\" message=\"{}\">{}</error>\n    </testcase>\n",
                esc(&message),
                esc(&body(&[])),
            );
        }
        Status::Partial => {
            let message = format!(
                "partial: not checked on this kernel: {}",
                r.unchecked.join("; ")
            );
            let _ = write!(
                x,
                ">\n      <skipped message=\"{}\">{}</skipped>\n    </testcase>\n",
                esc(&message),
                esc(&body(&r.unchecked)),
            );
        }
        Status::Skip => {
            let message = r.message.clone().unwrap_or_default();
            let _ = write!(
                x,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                esc(&message),
            );
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// `--junit FILE`: every case kept, the file written when the run ends (the
/// user's own file there replaced, never through a link).
pub struct JunitReporter {
    path: PathBuf,
    across: bool,
    records: Vec<Record>,
}

impl JunitReporter {
    pub fn new(path: PathBuf) -> JunitReporter {
        JunitReporter {
            path,
            across: false,
            records: Vec::new(),
        }
    }

    fn keep(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        let mut r = case.record.clone();
        if self.across {
            r.suite = format!("{} [{}]", r.suite, kernel.label);
            r.case = format!("{} [{}]", r.case, kernel.label);
        }
        self.records.push(r);
        Ok(())
    }
}

impl Reporter for JunitReporter {
    fn run_started(&mut self, run: &RunInfo) -> Result<(), ReportError> {
        self.across = run.across_kernels;
        Ok(())
    }

    fn case_finished(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.keep(kernel, case)
    }

    fn case_skipped(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.keep(kernel, case)
    }

    fn case_errored(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.keep(kernel, case)
    }

    fn kernel_ended(&mut self, kernel: &KernelInfo, end: &KernelEnd) -> Result<(), ReportError> {
        if let Some(why) = &end.unusable {
            self.records.push(Record {
                suite: format!("kernel [{}]", kernel.label),
                trial: format!("kernel::{}", kernel.label),
                case: format!("lab [{}]", kernel.label),
                file: String::new(),
                kernel: kernel.release.clone(),
                conclusion: Status::Error,
                duration: end.took,
                failures: Vec::new(),
                unchecked: Vec::new(),
                message: Some(format!("the kernel could not run the lab: {why}")),
                pcap: None,
                details: Some(end.how.clone()),
                answer: None,
                facts: Default::default(),
                timeline: Vec::new(),
            });
        }
        Ok(())
    }

    fn run_ended(&mut self, end: &RunEnd) -> Result<(), ReportError> {
        let xml = render(&self.records, end.took);
        files::write_named(&self.path, xml.as_bytes())
            .map(drop)
            .map_err(|source| ReportError::Path {
                what: "JUnit report",
                path: self.path.clone(),
                source,
            })
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn record(case: &str, conclusion: Status) -> Record {
        crate::report::fixtures::record(case, conclusion)
    }

    #[test]
    fn one_testsuite_per_scenario_and_each_kind_of_ending() {
        let mut fail = record("b", Status::Fail);
        fail.failures = vec!["answer: expected ack, seen syn-ack (x.toml:7:10)".into()];
        fail.pcap = Some(PathBuf::from("synlab-artifacts/x_b.pcap"));
        let mut partial = record("c", Status::Partial);
        partial.unchecked = vec!["counters.TcpExt.X = 1: no such counter (x.toml:9:1)".into()];
        let mut skip = record("d", Status::Skip);
        skip.message = Some("kernel >= 6.14 (x.toml:3:10): this is 6.1.0".into());
        let mut error = record("e", Status::Error);
        error.message = Some("timed out <after> 300 ms & \u{1} more".into());
        let mut other = record("a", Status::Pass);
        other.suite = "timewait::y".into();
        let records = [record("a", Status::Pass), fail, partial, skip, error, other];
        let xml = render(&records, Duration::from_millis(250));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"synlab\" tests=\"6\" failures=\"1\" errors=\"1\" skipped=\"2\" time=\"0.250\">"), "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
        assert!(xml.contains("<failure type=\"mismatch\" message=\"answer: expected ack, seen syn-ack (x.toml:7:10)\">"), "{xml}");
        assert!(
            xml.contains("pcap: synlab-artifacts/x_b.pcap</failure>"),
            "{xml}"
        );
        assert!(xml.contains("<skipped message=\"partial: not checked on this kernel: counters.TcpExt.X = 1: no such counter (x.toml:9:1)\">"), "{xml}");
        assert!(
            xml.contains("<skipped message=\"kernel &gt;= 6.14 (x.toml:3:10): this is 6.1.0\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"timed out &lt;after&gt; 300 ms &amp; \u{FFFD} more\""),
            "{xml}"
        );
    }
}

//! One case's end on one kernel, as every output gets it: the neutral
//! [`Record`] (JUnit, KTAP, the kernels table, the HTML index), the typed JSON
//! row (`--json` prints it as it is), and the evidence itself when the case
//! ran in this process (the text timeline, the HTML ladder). Built from a
//! finished [`CaseRun`], a skip or an error here, or read back from the row a
//! guest printed: the record is made from the row in every case, so the
//! outputs say the same whether the case ran here or in a VM.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::RunError;
use crate::expect::FIELDS;
use crate::report::error_text;
use crate::report::json::{self, Row};
use crate::report::record::Record;
use crate::report::text;
use crate::rows::{CaseRow, Direction, ErrorRow, SkipRow};
use crate::run::CaseRun;
use crate::scenario::Case;
use crate::verdict::Status;

/// One case on one kernel.
#[derive(Debug, Clone)]
pub struct CaseEnd {
    pub record: Record,
    /// The JSON row: `case`, `skip` or `error` (never `summary`).
    pub row: Row,
    /// The case as this synlab read it from its scenario file (a guest's row
    /// for a case it does not know has none).
    pub case: Option<Case>,
    /// The evidence, when the case ran in this process.
    pub run: Option<Box<CaseRun>>,
}

impl CaseEnd {
    /// A case that ran here; `pcap` when its capture was written.
    pub fn ran(run: CaseRun, pcap: Option<&Path>) -> CaseEnd {
        let row = json::case_row(&run, pcap);
        let mut record = case_record(&row);
        record.duration = run.duration;
        if run.verdict.status != Status::Pass {
            record.details = Some(text::render(&run));
        }
        CaseEnd {
            record,
            row: Row::Case(Box::new(row)),
            case: Some(run.case.clone()),
            run: Some(Box::new(run)),
        }
    }

    /// A case whose artifact (its pcap) could not be written: an error of
    /// that case, said in `why`, with what the case showed kept in the
    /// error's text (its verdict, its timeline when it did not pass), never
    /// the end of the run nor a silent loss. A case this synlab does not
    /// know (a guest's stray row) keeps its row and says `why` in place of
    /// the pcap.
    pub fn artifact_lost(mut self, why: &str) -> CaseEnd {
        let Some(case) = self.case.take() else {
            self.move_pcap(Err(why.to_owned()));
            return self;
        };
        let verdict = self.record.conclusion.as_str().to_uppercase();
        let mut message = format!(
            "the pcap could not be written: {why}\nthe case ran: {verdict} {}",
            self.record.trial
        );
        if let Some(d) = &self.record.details {
            message.push('\n');
            message.push_str(d);
        }
        let mut end = CaseEnd::lost(&case, &self.record.kernel, message);
        end.record.duration = self.record.duration;
        end.run = self.run;
        end
    }

    /// A case not run on `kernel` (its scenario's `kernel` condition).
    pub fn skipped(case: &Case, kernel: &str, why: &str) -> CaseEnd {
        let row = json::skip_row(case, kernel, why);
        CaseEnd::of_case(case, row)
    }

    /// A case that could not be run to its end.
    pub fn errored(case: &Case, kernel: &str, error: &RunError) -> CaseEnd {
        CaseEnd::lost(case, kernel, error_text::render(error))
    }

    /// A case that ended in an error said in `message` (a guest that returned
    /// no row for it, or one that did not parse).
    pub fn lost(case: &Case, kernel: &str, message: String) -> CaseEnd {
        CaseEnd::of_case(case, json::message_row(case, kernel, message))
    }

    fn of_case(case: &Case, row: Row) -> CaseEnd {
        let mut end = CaseEnd::from_row(row).expect("a case's row, not a summary");
        end.case = Some(case.clone());
        end
    }

    /// A row read back from a guest (`None` for its summary row, which the
    /// host makes itself); `case` when this synlab knows the case.
    pub fn from_row(row: Row) -> Option<CaseEnd> {
        let record = match &row {
            Row::Case(c) => {
                let mut r = case_record(c);
                r.timeline = timeline(c);
                if r.conclusion != Status::Pass {
                    r.details = Some(guest_details(c, &r.timeline));
                }
                r
            }
            Row::Skip(s) => skip_record(s),
            Row::Error(e) => error_record(e),
            Row::Summary(_) => return None,
        };
        Some(CaseEnd {
            record,
            row,
            case: None,
            run: None,
        })
    }

    /// Point the row and the record at where the pcap is now (a guest's
    /// pcap brought back to the host), or say it is gone.
    pub fn move_pcap(&mut self, to: Result<PathBuf, String>) {
        let text = match &to {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("(refused: {e})"),
        };
        if let Row::Case(c) = &mut self.row {
            c.pcap = Some(text);
        }
        self.record.pcap = to.ok();
    }

    /// The pcap the row names, if any.
    pub fn pcap(&self) -> Option<&str> {
        match &self.row {
            Row::Case(c) => c.pcap.as_deref(),
            _ => None,
        }
    }

    /// The case's name (`ts-off/ipv4`).
    pub fn name(&self) -> &str {
        &self.record.case
    }
}

/// The identity every row carries.
fn base(
    (scenario, case, trial, file, kernel): (&str, &str, &str, &str, &str),
    conclusion: Status,
) -> Record {
    let area = trial.split("::").next().unwrap_or_default();
    Record {
        suite: format!("{area}::{scenario}"),
        trial: trial.to_owned(),
        case: case.to_owned(),
        file: file.to_owned(),
        kernel: kernel.to_owned(),
        conclusion,
        duration: Duration::ZERO,
        failures: Vec::new(),
        unchecked: Vec::new(),
        message: None,
        pcap: None,
        details: None,
        answer: None,
        facts: BTreeMap::new(),
        timeline: Vec::new(),
    }
}

fn skip_record(s: &SkipRow) -> Record {
    let mut r = base(
        (&s.scenario, &s.case, &s.trial, &s.file, &s.kernel),
        Status::Skip,
    );
    r.message = Some(s.reason.clone());
    r
}

fn error_record(e: &ErrorRow) -> Record {
    let mut r = base(
        (&e.scenario, &e.case, &e.trial, &e.file, &e.kernel),
        Status::Error,
    );
    r.message = Some(e.error.lines().next().unwrap_or_default().to_owned());
    r.details = Some(e.error.clone());
    r
}

/// A judged case's record, from its row.
fn case_record(c: &CaseRow) -> Record {
    let mut r = base(
        (&c.scenario, &c.case, &c.trial, &c.file, &c.kernel),
        c.verdict,
    );
    r.duration = Duration::from_secs_f64(c.duration_ms.max(0.0) / 1e3);
    r.failures = c
        .checks
        .iter()
        .filter(|k| !k.ok)
        .map(|k| {
            format!(
                "{}: expected {}, seen {} ({})",
                k.field, k.expected, k.seen, k.loc
            )
        })
        .collect();
    r.unchecked = c
        .unchecked
        .iter()
        .map(|u| format!("{} = {}: {} ({})", u.field, u.expected, u.why, u.loc))
        .collect();
    if r.conclusion == Status::Fail && r.failures.is_empty() {
        r.failures
            .push("nothing could be checked on this kernel".into());
    }
    r.pcap = c.pcap.as_ref().map(PathBuf::from);
    r.answer = Some(c.answer.as_str().to_owned());
    r.facts = facts(c);
    r
}

/// The facts the kernels are compared by, as short text: every expectation
/// of the table the row carries at its top level (`null` where the kernel
/// showed nothing), the TCP counters, and where the reopened connection's ISN
/// started.
fn facts(c: &CaseRow) -> BTreeMap<&'static str, String> {
    let row = serde_json::to_value(c).unwrap_or_default();
    let mut facts: BTreeMap<&'static str, String> = FIELDS
        .iter()
        .filter_map(|f| {
            let shown = match row.get(f.name)? {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Some((f.name, shown))
        })
        .collect();
    let counters = c
        .counters
        .iter()
        // The IP counters differ between kernels for reasons of their own
        // (`Ip.OutTransmits` from 6.3): only the TCP ones are compared.
        .filter(|(k, v)| (k.starts_with("Tcp.") || k.starts_with("TcpExt.")) && **v != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let isn = match c.reopen_isn.from_time_wait {
        Some(true) => "snd_nxt+65537",
        Some(false) => "a new ISN",
        None => "none",
    };
    facts.insert("counters", counters);
    facts.insert("reopen_isn", isn.to_owned());
    facts
}

/// A row's segments as timeline lines, relative numbers as the text report
/// shows them.
fn timeline(c: &CaseRow) -> Vec<String> {
    c.segments
        .iter()
        .map(|s| {
            let mut l = format!(
                "{:>9.3} ms  {}  {:<4} seq {}",
                s.t_ms,
                match s.direction {
                    Direction::ToServer => "C > S",
                    Direction::ToClient => "S > C",
                },
                s.flags,
                s.seq
            );
            if let Some(a) = s.ack {
                let _ = write!(l, " ack {a}");
            }
            let _ = write!(l, " win {}", s.win);
            if let Some(t) = s.tsval_rel {
                let _ = write!(l, " ts {t}");
            }
            if s.len > 0 {
                let _ = write!(l, " len {}", s.len);
            }
            l
        })
        .collect()
}

/// What a case that did not pass in a guest showed, as text.
fn guest_details(c: &CaseRow, timeline: &[String]) -> String {
    let mut out = format!("== {}  ({})\n", c.trial, c.file);
    let _ = writeln!(
        out,
        "   kernel {}, {}, answer {}, client SYNs {}, established {}, TIME_WAIT after {}",
        c.kernel,
        c.family,
        c.answer.as_str(),
        c.client_syns,
        c.established,
        c.time_wait_after
    );
    for l in timeline {
        let _ = writeln!(out, "   {l}");
    }
    let _ = write!(
        out,
        "{} {} ({:.1} ms)",
        c.verdict.as_str().to_uppercase(),
        c.trial,
        c.duration_ms
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{case_run, challenge_segments, rich_run};

    #[test]
    fn a_row_read_back_gives_the_record_the_run_gave() {
        for run in [case_run(challenge_segments(), "plain"), rich_run()] {
            let here = CaseEnd::ran(run, Some(Path::new("x.pcap")));
            let line = json::line(&here.row);
            let back: Row = serde_json::from_str(&line).expect("the row reads back");
            assert_eq!(json::line(&back), line, "byte for byte");
            let there = CaseEnd::from_row(back).expect("a case");
            let (a, b) = (&here.record, &there.record);
            assert_eq!(
                (
                    &a.suite,
                    &a.trial,
                    &a.case,
                    &a.kernel,
                    a.conclusion,
                    &a.failures,
                    &a.unchecked,
                    &a.pcap
                ),
                (
                    &b.suite,
                    &b.trial,
                    &b.case,
                    &b.kernel,
                    b.conclusion,
                    &b.failures,
                    &b.unchecked,
                    &b.pcap
                )
            );
            assert_eq!((&a.answer, &a.facts), (&b.answer, &b.facts));
            assert!(!b.timeline.is_empty() && a.timeline.is_empty());
        }
    }

    #[test]
    fn facts_are_the_compared_fields_and_the_tcp_counters() {
        let end = CaseEnd::ran(rich_run(), None);
        let f = &end.record.facts;
        assert_eq!(f["answer"], "syn-ack");
        assert_eq!(f["counters"], "Tcp.PassiveOpens=1 TcpExt.PAWSTimewait=3");
        // Every expectation the row carries at its top level is a fact; what
        // the kernel did not show reads `null`.
        let top: Vec<&str> = FIELDS
            .iter()
            .map(|f| f.name)
            .filter(|n| *n != "isn_from_time_wait")
            .collect();
        for name in &top {
            assert!(f.contains_key(name), "{name}: {f:?}");
        }
        assert_eq!(f.len(), top.len() + 2, "and counters, reopen_isn: {f:?}");
        assert_eq!(f["connect"], "null");
        assert_eq!(f["established"], "false");
        assert_eq!(end.record.conclusion, Status::Fail);
        assert!(
            end.record
                .details
                .as_deref()
                .unwrap_or("")
                .contains("FAIL ")
        );
    }
}

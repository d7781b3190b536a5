//! End to end, a deliberately wrong model is a finding the run reports (root):
//! real cases run on this kernel, judged once by the model as it stands and
//! once by one with a branch of `tcp_timewait_state_process()` swapped, go
//! through the reporters `synlab run` uses (text and JSON). The closing line,
//! the summary row and each case's row say which cases disagree, with what
//! the model said and what the kernel did; no verdict changes.
//!
//! The wrong model is swapped in here, on the evidence of real runs, rather
//! than through a switch in the product: synlab has one model, and a test
//! must not be able to ship a second one.

use serde_json::Value;

use crate::model::{self, Inputs, Model};
use crate::report::events::{KernelEnd, KernelInfo, Reporter, RunEnd, RunInfo, report_case};
use crate::report::record::Tally;
use crate::report::{CaseEnd, JsonReporter, TextReporter};
use crate::run::{CaseRun, RunOptions, run_cases};
use crate::scenario::{Case, builtin};

/// `timewait-row/rst`'s IPv4 cases: an RST at and around `rcv_nxt`, with
/// `tcp_rfc1337` 0 and 1, timestamps on and off (16 cases).
fn rst_cases() -> Vec<Case> {
    builtin::load_all()
        .expect("the shipped scenarios parse")
        .into_iter()
        .filter(|s| s.name == "rst")
        .flat_map(|s| s.cases)
        .filter(|c| c.name.contains("/ipv4/"))
        .collect()
}

/// The text and the JSON lines the run's reporters write for `runs`, on one
/// kernel, as `synlab run` feeds them.
fn report(runs: &[CaseRun]) -> (String, Vec<Value>) {
    let mut text = TextReporter::new(Vec::new());
    let mut json = JsonReporter::new(Vec::new());
    let kernel = KernelInfo {
        index: 0,
        label: "host".into(),
        release: crate::run::kernel_release(),
    };
    let mut tally = Tally::default();
    let ends: Vec<CaseEnd> = runs
        .iter()
        .cloned()
        .map(|r| CaseEnd::ran(r, None))
        .collect();
    for e in &ends {
        tally.add(e.record.conclusion);
    }
    for r in [&mut text as &mut dyn Reporter, &mut json] {
        r.run_started(&RunInfo {
            title: "wrong model".into(),
            cases: ends.iter().map(|e| e.name().to_owned()).collect(),
            kernels: 1,
            across_kernels: false,
        })
        .expect("run started");
        r.kernel_started(&kernel).expect("kernel started");
        for e in &ends {
            report_case(r, &kernel, e).expect("a case");
        }
        r.kernel_ended(
            &kernel,
            &KernelEnd {
                how: "in-process".into(),
                tally: tally.clone(),
                took: std::time::Duration::ZERO,
                unusable: None,
            },
        )
        .expect("kernel ended");
        r.run_ended(&RunEnd {
            tally: tally.clone(),
            took: std::time::Duration::ZERO,
            unusable: 0,
        })
        .expect("run ended");
    }
    let text = String::from_utf8(text.into_inner()).expect("UTF-8");
    let rows = String::from_utf8(json.into_inner())
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    (text, rows)
}

/// `run` as judged by `model`.
fn judged_by(model: &Model<'_>, run: &CaseRun) -> CaseRun {
    let mut run = run.clone();
    run.prediction =
        model::predict_with(model, &Inputs::observed(&run.case, &run.obs, &run.kernel));
    run.agreement = run
        .prediction
        .agreement(&run.outcome, |m| run.case.measures(m));
    run
}

#[test]
fn a_wrong_branch_makes_its_cases_disagree_in_the_closing_line_and_the_rows() {
    crate::testing::require_root();
    let cases = rst_cases();
    assert_eq!(
        cases.len(),
        16,
        "{:?}",
        cases.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    let mut runs = Vec::new();
    run_cases(&cases, &RunOptions::default(), 4, |case, r| {
        runs.push(r.unwrap_or_else(|e| panic!("{}: {e}", case.name)));
        true
    });

    // The model as it stands agrees with every case.
    let (text, rows) = report(&runs);
    assert!(
        text.lines()
            .any(|l| l == "model vs kernel: 16 of 16 cases agree"),
        "{text}"
    );
    assert!(!text.contains("MODEL DISAGREES"), "{text}");
    let summary = rows.last().expect("a summary row");
    assert_eq!(
        summary["model"],
        serde_json::json!({ "agree": 16, "cases": 16, "differ": [] })
    );

    // With the folklore's rule for an RST under tcp_rfc1337 = 1, exactly the
    // two cases of an RST at rcv_nxt with tcp_rfc1337 = 1 disagree.
    let branches = model::rfc1337_ignored_swapped();
    let wrong = Model {
        time_wait: &branches,
    };
    let wrong_runs: Vec<CaseRun> = runs.iter().map(|r| judged_by(&wrong, r)).collect();
    let (wrong_text, wrong_rows) = report(&wrong_runs);
    let differ = [
        "rst/tcp_timestamps=1/tcp_rfc1337=1/ipv4/seq=rcv_nxt",
        "rst/tcp_timestamps=0/tcp_rfc1337=1/ipv4/seq=rcv_nxt",
    ];
    let lines: Vec<&str> = wrong_text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "model vs kernel: 14 of 16 cases agree")
        .unwrap_or_else(|| panic!("no closing line in\n{wrong_text}"));
    for case in differ {
        assert!(
            lines[at + 1..]
                .iter()
                .any(|l| l.trim_start().starts_with(case)
                    && l.ends_with("time_wait_after: model false, kernel true")),
            "{case} listed after the closing line:\n{}",
            lines[at..].join("\n")
        );
    }
    let summary = wrong_rows.last().expect("a summary row");
    assert_eq!(
        (&summary["model"]["agree"], &summary["model"]["cases"]),
        (&14.into(), &16.into())
    );
    let listed: Vec<&str> = summary["model"]["differ"]
        .as_array()
        .expect("differ")
        .iter()
        .map(|d| d["case"].as_str().unwrap_or_default())
        .collect();
    assert!(differ.iter().all(|c| listed.contains(c)), "{listed:?}");
    assert!(listed.iter().all(|c| differ.contains(c)), "{listed:?}");

    // Each case row says it, with the branch the model took; the verdicts
    // (the scenario against the kernel) are those of the right model.
    let cases = |rows: &[Value]| -> Vec<Value> {
        rows.iter()
            .filter(|r| r["type"] == "case")
            .cloned()
            .collect()
    };
    let (rows, wrong_rows) = (cases(&rows), cases(&wrong_rows));
    assert_eq!(wrong_rows.len(), 16);
    for (right, row) in rows.iter().zip(&wrong_rows) {
        let k = &row["rules"]["kernel"];
        let case = row["case"].as_str().unwrap_or_default();
        assert_eq!(
            k["agrees"],
            Value::Bool(!differ.contains(&case)),
            "{case}: {k}"
        );
        assert_eq!(
            row["verdict"], right["verdict"],
            "{case}: the verdict does not change"
        );
        if differ.contains(&case) {
            assert_eq!(
                k["differs"],
                serde_json::json!([{ "field": "time_wait_after", "predicted": "false", "seen": "true" }]),
                "{case}"
            );
            assert!(
                k["steps"]
                    .as_array()
                    .expect("steps")
                    .iter()
                    .any(|s| s["branch"] == "in-window RST, tcp_rfc1337 = 1: ignored"),
                "{case}: {k}"
            );
        }
    }
    assert_eq!(
        wrong_text.matches("MODEL DISAGREES").count(),
        2,
        "the please-report sentence only where the model is wrong:\n{wrong_text}"
    );
}

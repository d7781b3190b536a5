//! The one table a multi-kernel run ends with: a row per case, a column per
//! kernel, each cell the verdict and the answer; a `*` marks the cases whose
//! kernels differ, with the differing fields at the end of the row, and a last
//! line counts them by field.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::rows::{Cell, differences};

/// One kernel's column: its heading, and its cells (`None`: the kernel could
/// not run the lab, each cell shows `-`).
pub struct Column<'a> {
    pub label: String,
    pub cells: Option<&'a [Cell]>,
}

/// The table, as text: a row for each of `known` (the cases asked for, in
/// order) and for any other case a kernel reported.
pub fn render(known: &[String], columns: &[Column]) -> String {
    let mut cases: Vec<&str> = known.iter().map(String::as_str).collect();
    for col in columns {
        for c in col.cells.into_iter().flatten() {
            if !cases.contains(&c.case.as_str()) {
                cases.push(&c.case);
            }
        }
    }
    let lookup: Vec<BTreeMap<&str, &Cell>> = columns
        .iter()
        .map(|col| {
            col.cells
                .into_iter()
                .flatten()
                .map(|c| (c.case.as_str(), c))
                .collect()
        })
        .collect();
    let mut rows: Vec<(bool, String, Vec<String>, String)> = Vec::new();
    let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        let cells: Vec<Option<&Cell>> = lookup.iter().map(|m| m.get(case).copied()).collect();
        let diff = differences(&cells);
        for d in &diff {
            let field = d.split(':').next().unwrap_or(d).to_string();
            *by_field.entry(field).or_default() += 1;
        }
        let shown = cells
            .iter()
            .map(|c| c.map_or_else(|| "-".to_string(), Cell::show))
            .collect();
        rows.push((!diff.is_empty(), case.to_string(), shown, diff.join("; ")));
    }
    let case_w = cases.iter().map(|c| c.len()).max().unwrap_or(0).max(4);
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            rows.iter()
                .map(|r| r.2[i].len())
                .chain([col.label.len()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    let mut out =
        String::from("\ncase by kernel (* = the kernels differ; the fields that do at the end)\n");
    let line = |mark: &str, case: &str, cells: &[String], tail: &str| {
        let mut l = format!("{mark} {case:<case_w$}");
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(l, "  {c:<w$}");
        }
        if !tail.is_empty() {
            let _ = write!(l, "  {tail}");
        }
        l.trim_end().to_string()
    };
    let labels: Vec<String> = columns.iter().map(|c| c.label.clone()).collect();
    let _ = writeln!(out, "{}", line(" ", "case", &labels, "differs"));
    for (differs, case, cells, tail) in &rows {
        let _ = writeln!(
            out,
            "{}",
            line(if *differs { "*" } else { " " }, case, cells, tail)
        );
    }
    let ran = columns.iter().filter(|c| c.cells.is_some()).count();
    let differ = rows.iter().filter(|r| r.0).count();
    if ran < 2 {
        let _ = writeln!(
            out,
            "{} cases; fewer than two kernels ran, nothing to compare",
            cases.len()
        );
    } else if differ == 0 {
        let _ = writeln!(
            out,
            "no case differs between the kernels ({} cases)",
            cases.len()
        );
    } else {
        let fields = by_field
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "{differ} of {} cases differ between the kernels (cases per field: {fields})",
            cases.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::rows::tests::row;
    use serde_json::json;

    fn cell(
        case: &str,
        verdict: &str,
        answer: &str,
        counters: serde_json::Value,
        isn: bool,
    ) -> Cell {
        Cell::from_row(&row(case, verdict, answer, counters, json!(isn))).unwrap()
    }

    #[test]
    fn one_row_per_case_one_column_per_kernel_differences_marked() {
        let host = vec![
            cell(
                "paws/a",
                "pass",
                "ack",
                json!({"TcpExt.PAWSTimewait": 1}),
                true,
            ),
            cell("ts-off/ipv4", "pass", "syn-ack", json!({}), true),
        ];
        let old = vec![
            cell(
                "paws/a",
                "pass",
                "ack",
                json!({"TcpExt.PAWSEstab": 1}),
                true,
            ),
            cell("ts-off/ipv4", "partial", "syn-ack", json!({}), false),
        ];
        let text = render(
            &[],
            &[
                Column {
                    label: "host 6.18.44".into(),
                    cells: Some(&host),
                },
                Column {
                    label: "6.1.0-57-amd64".into(),
                    cells: Some(&old),
                },
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1..],
            [
                "case by kernel (* = the kernels differ; the fields that do at the end)",
                "  case         host 6.18.44  6.1.0-57-amd64   differs",
                "* paws/a       pass ack      pass ack         counters: PAWSEstab PAWSTimewait",
                "* ts-off/ipv4  pass syn-ack  partial syn-ack  verdict; reopen_isn",
                "2 of 2 cases differ between the kernels (cases per field: counters 1, reopen_isn 1, verdict 1)",
            ][..],
            "{text}"
        );
    }

    #[test]
    fn a_kernel_that_did_not_run_shows_dashes_and_no_difference() {
        let host = vec![cell("ts-off/ipv4", "pass", "syn-ack", json!({}), true)];
        let text = render(
            &[],
            &[
                Column {
                    label: "host".into(),
                    cells: Some(&host),
                },
                Column {
                    label: "5.10.0 (did not run)".into(),
                    cells: None,
                },
            ],
        );
        assert!(
            text.contains("\n  ts-off/ipv4  pass syn-ack  -\n"),
            "{text}"
        );
        assert!(
            text.ends_with("1 cases; fewer than two kernels ran, nothing to compare\n"),
            "{text}"
        );
    }

    #[test]
    fn the_same_everywhere_says_so() {
        let a = vec![cell("x/y", "pass", "rst", json!({"Tcp.OutRsts": 1}), false)];
        let text = render(
            &[],
            &[
                Column {
                    label: "a".into(),
                    cells: Some(&a),
                },
                Column {
                    label: "b".into(),
                    cells: Some(&a),
                },
            ],
        );
        assert!(text.contains("\n  x/y   pass rst  pass rst\n"), "{text}");
        assert!(
            text.ends_with("no case differs between the kernels (1 cases)\n"),
            "{text}"
        );
    }
}

//! The one table a run across kernels ends with (and, from rows written
//! elsewhere, `synlab table`): a row per case, a column per kernel, each cell
//! the verdict and the answer; a `*` marks the cases whose kernels differ,
//! with the differing fields at the end of the row, and a last line counts
//! them by field. Made from each case's [`Record`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::record::Record;
use crate::verdict::Status;

/// A verdict as a cell shows it: a failure in capitals.
fn word(v: Status) -> &'static str {
    match v {
        Status::Fail => "FAIL",
        other => other.as_str(),
    }
}

/// What a cell shows: `pass syn-ack`, `FAIL ack`, `error`, `skip`.
pub fn show(r: &Record) -> String {
    match &r.answer {
        Some(a) => format!("{} {a}", word(r.conclusion)),
        None => word(r.conclusion).to_string(),
    }
}

/// One kernel's column: its heading, and its cells (`None`: the kernel could
/// not run the lab, each cell shows `-`).
pub struct Column<'a> {
    pub label: String,
    pub cells: Option<&'a [Record]>,
}

/// How the cells of one case differ between kernels: the names of the
/// differing facts, with detail (`counters: PAWSEstab PAWSTimewait`). Kernels
/// without a cell (the kernel could not run) are left out; a verdict that
/// differs is `verdict`; facts are compared among judged cells only.
pub fn differences(cells: &[Option<&Record>]) -> Vec<String> {
    let present: Vec<&Record> = cells.iter().flatten().copied().collect();
    let mut out = Vec::new();
    if present
        .windows(2)
        .any(|w| w[0].conclusion != w[1].conclusion)
    {
        out.push("verdict".to_string());
    }
    let judged: Vec<&Record> = present
        .iter()
        .copied()
        .filter(|c| c.conclusion.judged())
        .collect();
    let Some(first) = judged.first() else {
        return out;
    };
    for name in first.facts.keys() {
        // `null` is "not seen on that kernel" (a timer too young to judge, no
        // connect() made), not a value: only values seen are compared.
        let values: Vec<&String> = judged
            .iter()
            .filter_map(|c| c.facts.get(name))
            .filter(|v| *v != "null")
            .collect();
        if values.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        if *name == "counters" {
            out.push(format!("counters: {}", counter_difference(&judged)));
        } else {
            out.push(name.to_string());
        }
    }
    out
}

/// The counters whose values are not the same on every kernel, short names.
fn counter_difference(cells: &[&Record]) -> String {
    let parse = |c: &Record| -> BTreeMap<String, String> {
        c.facts
            .get("counters")
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let maps: Vec<BTreeMap<String, String>> = cells.iter().map(|c| parse(c)).collect();
    let mut names: Vec<&String> = maps.iter().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| maps.windows(2).any(|w| w[0].get(*n) != w[1].get(*n)))
        .map(|n| n.rsplit('.').next().unwrap_or(n).to_string())
        .collect::<Vec<_>>()
        .join(" ")
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
    let lookup: Vec<BTreeMap<&str, &Record>> = columns
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
        let cells: Vec<Option<&Record>> = lookup.iter().map(|m| m.get(case).copied()).collect();
        let diff = differences(&cells);
        for d in &diff {
            let field = d.split(':').next().unwrap_or(d).to_string();
            *by_field.entry(field).or_default() += 1;
        }
        let shown = cells
            .iter()
            .map(|c| c.map_or_else(|| "-".to_string(), show))
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
    use crate::report::case_end::CaseEnd;
    use crate::report::fixtures::{case_run, challenge_segments};

    /// A judged record of `case` with `verdict`, `answer`, the TCP counters
    /// `counters` and whether the reopened ISN came from TIME_WAIT.
    fn cell(case: &str, verdict: Status, answer: &str, counters: &str, isn: bool) -> Record {
        let mut r = CaseEnd::ran(case_run(challenge_segments(), "t"), None).record;
        r.case = case.into();
        r.conclusion = verdict;
        r.answer = Some(answer.into());
        r.facts.insert("answer", answer.into());
        r.facts.insert("counters", counters.into());
        r.facts.insert(
            "reopen_isn",
            if isn { "snd_nxt+65537" } else { "a new ISN" }.into(),
        );
        r
    }

    #[test]
    fn one_row_per_case_one_column_per_kernel_differences_marked() {
        let host = vec![
            cell("paws/a", Status::Pass, "ack", "TcpExt.PAWSTimewait=1", true),
            cell("ts-off/ipv4", Status::Pass, "syn-ack", "", true),
        ];
        let old = vec![
            cell("paws/a", Status::Pass, "ack", "TcpExt.PAWSEstab=1", true),
            cell("ts-off/ipv4", Status::Partial, "syn-ack", "", false),
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
        let host = vec![cell("ts-off/ipv4", Status::Pass, "syn-ack", "", true)];
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
        let a = vec![cell("x/y", Status::Pass, "rst", "Tcp.OutRsts=1", false)];
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

    #[test]
    fn differences_name_the_fields_and_the_counters() {
        let new = cell(
            "paws/x",
            Status::Pass,
            "ack",
            "TcpExt.PAWSTimewait=1 Tcp.InSegs=1",
            true,
        );
        let old = cell(
            "paws/x",
            Status::Pass,
            "ack",
            "TcpExt.PAWSEstab=1 Tcp.InSegs=1",
            false,
        );
        assert_eq!(
            differences(&[Some(&new), Some(&old)]),
            ["counters: PAWSEstab PAWSTimewait", "reopen_isn"]
        );
        assert!(differences(&[Some(&new), Some(&new.clone())]).is_empty());
        // A fact one kernel could not see is no difference.
        let mut unseen = new.clone();
        unseen.facts.insert("connect", "null".into());
        let mut seen = new.clone();
        seen.facts.insert("connect", "ok".into());
        assert!(differences(&[Some(&unseen), Some(&seen)]).is_empty());
        let mut other = seen.clone();
        other.facts.insert("connect", "EADDRNOTAVAIL".into());
        assert_eq!(differences(&[Some(&other), Some(&seen)]), ["connect"]);
        assert!(
            differences(&[Some(&new), None]).is_empty(),
            "a kernel that did not run"
        );
        let mut skip = new.clone();
        skip.conclusion = Status::Skip;
        skip.facts.clear();
        assert_eq!(differences(&[Some(&new), Some(&skip)]), ["verdict"]);
    }
}

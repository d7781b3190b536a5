//! The one table a run across kernels ends with, and `synlab table` prints
//! from rows written elsewhere: a row per case, a column per kernel run, each
//! cell the verdict and the answer; a `*` marks the cases whose kernels
//! differ, with the differing fields at the end of the row, and a last line
//! counts them by field. Made from each case's [`Record`], laid out once
//! ([`Table`]) and printed as text or as a Markdown table: the `--kernel` run
//! and `synlab table` both call [`Table::new`], so they cannot drift.

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

/// One kernel run's column: the kernel's release, where the run came from
/// (`host`, the image, the rows file and line: it labels the column only
/// when two columns are of one release), and its cells (`None`: the kernel
/// could not run the lab, each cell shows `-`).
pub struct Column<'a> {
    pub release: String,
    pub origin: String,
    pub cells: Option<&'a [Record]>,
}

/// One case's line of the table.
struct Line {
    differs: bool,
    case: String,
    /// Each column's cell, and whether it did not pass (fail, partial, error).
    cells: Vec<(String, bool)>,
    /// The differing fields, `; `-separated.
    tail: String,
}

/// The table laid out: what the text and the Markdown both print.
pub struct Table {
    labels: Vec<String>,
    /// Two runs of one kernel, said before the table (never merged).
    notes: Vec<String>,
    lines: Vec<Line>,
    /// `N of M cases differ between the kernels (cases per field: ...)`.
    last: String,
}

const HEADING: &str = "case by kernel (* = the kernels differ; the fields that do at the end)";

impl Table {
    /// The table of `columns`: a line for each of `known` (the cases asked
    /// for, in order) and for any other case a column has, in the order the
    /// columns have them.
    pub fn new(known: &[String], columns: &[Column]) -> Table {
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
        let mut lines = Vec::new();
        let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
        for case in &cases {
            let cells: Vec<Option<&Record>> = lookup.iter().map(|m| m.get(case).copied()).collect();
            let diff = differences(&cells);
            for d in &diff {
                let field = d.split(':').next().unwrap_or(d).to_string();
                *by_field.entry(field).or_default() += 1;
            }
            lines.push(Line {
                differs: !diff.is_empty(),
                case: case.to_string(),
                cells: cells
                    .iter()
                    .map(|c| match c {
                        Some(r) => (show(r), r.conclusion.fails_run()),
                        None => ("-".to_string(), false),
                    })
                    .collect(),
                tail: diff.join("; "),
            });
        }
        let ran = columns.iter().filter(|c| c.cells.is_some()).count();
        let differ = lines.iter().filter(|l| l.differs).count();
        let last = if ran < 2 {
            format!(
                "{} cases; fewer than two kernels ran, nothing to compare",
                cases.len()
            )
        } else if differ == 0 {
            format!(
                "no case differs between the kernels ({} cases)",
                cases.len()
            )
        } else {
            let fields = by_field
                .iter()
                .map(|(f, n)| format!("{f} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{differ} of {} cases differ between the kernels (cases per field: {fields})",
                cases.len()
            )
        };
        let (labels, notes) = labels(columns);
        Table {
            labels,
            notes,
            lines,
            last,
        }
    }

    /// As text: aligned columns, after an empty line.
    pub fn text(&self) -> String {
        let case_w = self
            .lines
            .iter()
            .map(|l| l.case.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let widths: Vec<usize> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                self.lines
                    .iter()
                    .map(|l| l.cells[i].0.len())
                    .chain([label.len()])
                    .max()
                    .unwrap_or(1)
            })
            .collect();
        let row = |mark: &str, case: &str, cells: &mut dyn Iterator<Item = &str>, tail: &str| {
            let mut l = format!("{mark} {case:<case_w$}");
            for (c, w) in cells.zip(&widths) {
                let _ = write!(l, "  {c:<w$}");
            }
            if !tail.is_empty() {
                let _ = write!(l, "  {tail}");
            }
            l.trim_end().to_string()
        };
        let mut out = format!("\n{HEADING}\n");
        for n in &self.notes {
            let _ = writeln!(out, "{n}");
        }
        let mut labels = self.labels.iter().map(String::as_str);
        let _ = writeln!(out, "{}", row(" ", "case", &mut labels, "differs"));
        for l in &self.lines {
            let mark = if l.differs { "*" } else { " " };
            let mut cells = l.cells.iter().map(|c| c.0.as_str());
            let _ = writeln!(out, "{}", row(mark, &l.case, &mut cells, &l.tail));
        }
        let _ = writeln!(out, "{}", self.last);
        out
    }

    /// As a Markdown table (GitHub's, a job summary or a README): the same
    /// heading, notes, cells and last line; case names as code, a cell that
    /// did not pass in bold.
    pub fn markdown(&self) -> String {
        let mut out = format!("{}\n\n", escape(HEADING));
        for n in &self.notes {
            let _ = writeln!(out, "> {}\n", escape(n));
        }
        out.push_str("|   | case |");
        for l in &self.labels {
            let _ = write!(out, " {} |", escape(l));
        }
        out.push_str(" differs |\n|---|---|");
        out.push_str(&"---|".repeat(self.labels.len()));
        out.push_str("---|\n");
        for l in &self.lines {
            let mark = if l.differs { "\\*" } else { " " };
            let _ = write!(out, "| {mark} | {} |", code(&l.case));
            for (c, failed) in &l.cells {
                if *failed {
                    let _ = write!(out, " **{}** |", escape(c));
                } else {
                    let _ = write!(out, " {} |", escape(c));
                }
            }
            let _ = writeln!(out, " {} |", escape(&l.tail));
        }
        let _ = writeln!(out, "\n{}", escape(&self.last));
        out
    }
}

/// The table, as text (what a run across kernels prints at its end).
pub fn render(known: &[String], columns: &[Column]) -> String {
    Table::new(known, columns).text()
}

/// Each column's heading: its release (` (not run)` when it could not run
/// the lab), and where two columns are of one release, where each came from;
/// and a note for each release that has more than one column.
fn labels(columns: &[Column]) -> (Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    let mut labels = Vec::new();
    for (i, col) in columns.iter().enumerate() {
        let same: Vec<&Column> = columns
            .iter()
            .filter(|c| c.release == col.release)
            .collect();
        let mut label = col.release.clone();
        if same.len() > 1 {
            let _ = write!(label, " ({})", col.origin);
            if columns.iter().position(|c| c.release == col.release) == Some(i) {
                let from = same
                    .iter()
                    .map(|c| c.origin.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                notes.push(format!(
                    "note: {} kernel runs of {} ({from}): a column each, not merged; \
                     a case where they differ counts as a difference",
                    same.len(),
                    col.release
                ));
            }
        }
        if col.cells.is_none() {
            label.push_str(" (not run)");
        }
        labels.push(label);
    }
    (labels, notes)
}

/// `text` with what Markdown would read as markup escaped (`*`, `_`, `|`,
/// `<`, links, code, entities), for a table cell or a paragraph.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '!' | '#'
        ) {
            out.push('\\');
        }
        // A line break would end the table row.
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    out
}

/// `text` as a code span in a table cell: fenced by more backticks than it
/// holds in a row, `|` escaped (GitHub's tables read `\|` in code too).
fn code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let body: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let pad = if [body.chars().next(), body.chars().last()]
        .iter()
        .any(|c| matches!(c, Some('`' | ' ')))
    {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
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
                    release: "6.18.44".into(),
                    origin: "test".into(),
                    cells: Some(&host),
                },
                Column {
                    release: "6.1.0-57-amd64".into(),
                    origin: "test".into(),
                    cells: Some(&old),
                },
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1..],
            [
                "case by kernel (* = the kernels differ; the fields that do at the end)",
                "  case         6.18.44       6.1.0-57-amd64   differs",
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
                    release: "host".into(),
                    origin: "test".into(),
                    cells: Some(&host),
                },
                Column {
                    release: "5.10.0".into(),
                    origin: "test".into(),
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
                    release: "a".into(),
                    origin: "test".into(),
                    cells: Some(&a),
                },
                Column {
                    release: "b".into(),
                    origin: "test".into(),
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

    /// Two columns of one release are kept apart, labelled by origin, and said.
    #[test]
    fn two_runs_of_one_kernel_are_two_columns_and_a_note() {
        let a = vec![cell("x/y", Status::Pass, "rst", "", false)];
        let b = vec![cell("x/y", Status::Fail, "ack", "", false)];
        let col = |origin: &str, cells| Column {
            release: "6.1.0-57-amd64".into(),
            origin: origin.into(),
            cells: Some(cells),
        };
        let text = render(&[], &[col("a.jsonl", &a), col("b.jsonl", &b)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "note: 2 kernel runs of 6.1.0-57-amd64 (a.jsonl, b.jsonl): a column each, not merged; \
             a case where they differ counts as a difference",
            "{text}"
        );
        assert!(
            lines[3].contains("6.1.0-57-amd64 (a.jsonl)  6.1.0-57-amd64 (b.jsonl)"),
            "{text}"
        );
        assert!(lines[4].starts_with("* x/y"), "{text}");
    }
}

//! Rows read back into the types `--json` writes them from: the lines a
//! guest printed, and files of rows written elsewhere (`synlab table`),
//! grouped into kernel runs. A line that is not a row is kept with the
//! reason, naming its case when it has one: never silently dropped.

use serde::Deserialize;

use crate::rows::{Row, SummaryRow};

/// One line of a run's output.
#[derive(Debug)]
pub enum Line {
    Row(Row),
    /// Not a row of this version: the line, why, and the case it names.
    Bad {
        line: String,
        error: String,
        case: Option<String>,
    },
}

/// The case a line names, when it is an object with a string `case`.
#[derive(Deserialize)]
struct Named {
    case: String,
}

/// Every non-empty line of `text`, typed.
pub fn read(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Row>(l) {
            Ok(row) => Line::Row(row),
            Err(e) => Line::Bad {
                line: l.to_owned(),
                error: e.to_string(),
                case: serde_json::from_str::<Named>(l).ok().map(|n| n.case),
            },
        })
        .collect()
}

/// One kernel's run as a rows file holds it: the rows of one release, in
/// order, up to that kernel's summary row (a `--kernel` run writes each
/// kernel's rows and then its summary; a file may hold many kernels).
#[derive(Debug)]
pub struct KernelRun {
    /// The release every row of it names (`kernel`).
    pub release: String,
    /// The file it was read from, as named, and the line of its first row.
    pub file: String,
    pub line: usize,
    /// Its case, skip and error rows.
    pub rows: Vec<Row>,
    /// Its summary row, when the file has it.
    pub summary: Option<SummaryRow>,
}

impl KernelRun {
    /// Where it came from: `FILE`, or `FILE:LINE` when the file holds another
    /// run of the same release.
    pub fn origin(&self, runs: &[KernelRun]) -> String {
        let twice = runs
            .iter()
            .filter(|r| r.file == self.file && r.release == self.release)
            .count()
            > 1;
        if twice {
            format!("{}:{}", self.file, self.line)
        } else {
            self.file.clone()
        }
    }
}

/// Why a rows file could not be read into kernel runs.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}:{line}: not a row{}: {error}", case.as_ref().map(|c| format!(" (case {c})")).unwrap_or_default())]
    NotARow {
        file: String,
        line: usize,
        error: String,
        case: Option<String>,
    },
    #[error("{file}: no rows in it")]
    Empty { file: String },
}

/// The kernel and the case a row names (a summary names no case).
fn names(row: &Row) -> (&str, Option<&str>) {
    match row {
        Row::Case(c) => (&c.kernel, Some(&c.case)),
        Row::Skip(s) => (&s.kernel, Some(&s.case)),
        Row::Error(e) => (&e.kernel, Some(&e.case)),
        Row::Summary(s) => (&s.kernel, None),
    }
}

/// The rows of `files` (each its name and its text), grouped into kernel
/// runs in the order they start; and every line that is not a row, and every
/// file without rows. A run ends at its kernel's summary row; a row of a
/// case its release's open run already has starts another run (two runs in
/// one file, without their summaries): runs are never merged.
pub fn kernel_runs(files: &[(String, String)]) -> (Vec<KernelRun>, Vec<ReadError>) {
    let mut runs: Vec<KernelRun> = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in files {
        // The run of each release still open in this file: its index in `runs`.
        let mut open: Vec<(String, usize)> = Vec::new();
        let mut rows = 0;
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            let row = match serde_json::from_str::<Row>(l) {
                Ok(row) => row,
                Err(e) => {
                    errors.push(ReadError::NotARow {
                        file: file.clone(),
                        line: i + 1,
                        error: e.to_string(),
                        case: serde_json::from_str::<Named>(l).ok().map(|n| n.case),
                    });
                    continue;
                }
            };
            rows += 1;
            let (kernel, case) = names(&row);
            let kernel = kernel.to_owned();
            let at = open.iter().position(|(k, _)| *k == kernel);
            if let Row::Summary(s) = row {
                if let Some(at) = at {
                    runs[open.remove(at).1].summary = Some(s);
                }
                continue;
            }
            let has = |run: &KernelRun| run.rows.iter().any(|r| names(r).1 == case);
            let index = match at {
                Some(at) if !has(&runs[open[at].1]) => open[at].1,
                _ => {
                    if let Some(at) = at {
                        open.remove(at);
                    }
                    runs.push(KernelRun {
                        release: kernel.clone(),
                        file: file.clone(),
                        line: i + 1,
                        rows: Vec::new(),
                        summary: None,
                    });
                    open.push((kernel, runs.len() - 1));
                    runs.len() - 1
                }
            };
            runs[index].rows.push(row);
        }
        if rows == 0 {
            errors.push(ReadError::Empty { file: file.clone() });
        }
    }
    (runs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_and_other_lines_say_why() {
        let lines = read(
            "{\"type\":\"skip\",\"version\":1,\"scenario\":\"a\",\"case\":\"a/x\",\"trial\":\"t::a::x\",\
             \"file\":\"f\",\"kernel\":\"k\",\"reason\":\"why\",\"pass\":false}\n\nnot json\n\
             {\"type\":\"case\",\"case\":\"a/y\",\"renamed\":1}\n[1]\n",
        );
        assert_eq!(lines.len(), 4);
        assert!(matches!(&lines[0], Line::Row(Row::Skip(s)) if s.reason == "why"));
        assert!(matches!(&lines[1], Line::Bad { case: None, .. }));
        let Line::Bad { case, error, .. } = &lines[2] else {
            panic!("{:?}", lines[2])
        };
        assert_eq!(case.as_deref(), Some("a/y"));
        assert!(!error.is_empty());
        assert!(matches!(&lines[3], Line::Bad { case: None, .. }));
    }

    #[test]
    fn a_renamed_field_is_an_error_not_an_absent_value() {
        let row = "{\"type\":\"skip\",\"version\":1,\"scenario\":\"a\",\"case\":\"a/x\",\"trial\":\"t\",\
                   \"file\":\"f\",\"kernel\":\"k\",\"reason\":\"why\",\"pass\":false,\"reasons\":1}";
        let Line::Bad { error, .. } = &read(row)[0] else {
            panic!("read")
        };
        assert!(error.contains("reasons"), "{error}");
        let newer = row.replace("\"version\":1", "\"version\":2");
        let Line::Bad { error, .. } = &read(&newer)[0] else {
            panic!("read")
        };
        assert!(error.contains("version 2"), "{error}");
    }

    /// A row of `kind` (`case`, `skip` or `error` as a skip row; `summary`)
    /// for `case` on `kernel`, as a line.
    fn row(kind: &str, kernel: &str, case: &str) -> String {
        match kind {
            "summary" => format!(
                "{{\"type\":\"summary\",\"version\":1,\"pass\":true,\"cases\":1,\"counts\":{{\"pass\":0,\
                 \"partial\":0,\"fail\":0,\"error\":0,\"skip\":1}},\"kernel\":\"{kernel}\",\
                 \"duration_ms\":1.0,\"exit_code\":0}}"
            ),
            _ => format!(
                "{{\"type\":\"skip\",\"version\":1,\"scenario\":\"a\",\"case\":\"{case}\",\"trial\":\"t\",\
                 \"file\":\"f\",\"kernel\":\"{kernel}\",\"reason\":\"why\",\"pass\":false}}"
            ),
        }
    }

    #[test]
    fn files_are_grouped_into_kernel_runs_never_merged() {
        let mixed = [
            row("skip", "k1", "a/x"),
            row("skip", "k1", "a/y"),
            row("summary", "k1", ""),
            row("skip", "k2", "a/x"),
            row("summary", "k2", ""),
            // The same kernel again after its summary: another run.
            row("skip", "k1", "a/x"),
            // And again, without a summary between: a case seen twice.
            row("skip", "k1", "a/x"),
        ]
        .join("\n");
        let other = [row("skip", "k2", "a/x"), String::new()].join("\n");
        let (runs, errors) = kernel_runs(&[("m.jsonl".into(), mixed), ("o.jsonl".into(), other)]);
        assert!(errors.is_empty(), "{errors:?}");
        let seen: Vec<(&str, &str, usize, usize, bool)> = runs
            .iter()
            .map(|r| {
                (
                    r.release.as_str(),
                    r.file.as_str(),
                    r.line,
                    r.rows.len(),
                    r.summary.is_some(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("k1", "m.jsonl", 1, 2, true),
                ("k2", "m.jsonl", 4, 1, true),
                ("k1", "m.jsonl", 6, 1, false),
                ("k1", "m.jsonl", 7, 1, false),
                ("k2", "o.jsonl", 1, 1, false),
            ]
        );
        assert_eq!(runs[0].origin(&runs), "m.jsonl:1");
        assert_eq!(runs[1].origin(&runs), "m.jsonl");
        assert_eq!(runs[4].origin(&runs), "o.jsonl");
    }

    #[test]
    fn a_line_that_is_no_row_and_a_file_without_rows_name_the_file() {
        let text = format!(
            "{}\n{{\"type\":\"case\",\"case\":\"a/y\"}}\n",
            row("skip", "k", "a/x")
        );
        let (runs, errors) =
            kernel_runs(&[("r.jsonl".into(), text), ("e.jsonl".into(), "\n".into())]);
        assert_eq!(runs.len(), 1);
        let said: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].starts_with("r.jsonl:2: not a row (case a/y): "),
            "{said:?}"
        );
        assert_eq!(said[1], "e.jsonl: no rows in it");
    }
}

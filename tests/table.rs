//! `synlab table` on the committed rows of docs/results/ (no root): the
//! table and the differences line are the ones the `--kernel` run that wrote
//! them printed (docs/results/run.txt), from one file per kernel or from one
//! mixed file; `--markdown` parses as a table of the same cells; the
//! README's findings table is what the rows give; two runs of one kernel are
//! said and kept apart; a row that did not pass is exit 1; a line that is no
//! row, or a file that cannot be read, is exit 2 at file:line. One test
//! needs root: a run that names the running kernel twice.
//! Regenerate with `just results` (a new run) or `just readme-table`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{ScratchDir, synlab_bin, workspace};

fn results() -> PathBuf {
    workspace().join("docs/results")
}

fn synlab(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(synlab_bin())
        .arg("table")
        .args(args)
        .args(files)
        .current_dir(workspace())
        .output()
        .expect("start synlab")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn said(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// The table the `--kernel` run printed, and its rows files in the order of
/// its columns (each file is named by its kernel's release).
fn the_run() -> (String, Vec<PathBuf>) {
    let run = std::fs::read_to_string(results().join("run.txt"))
        .expect("docs/results/run.txt: regenerate with `just results`");
    let header = run.lines().nth(1).expect("run.txt: a heading and a header");
    let words: Vec<&str> = header.split_whitespace().collect();
    assert!(
        words.first() == Some(&"case") && words.last() == Some(&"differs"),
        "run.txt's header: {header}"
    );
    let files = words[1..words.len() - 1]
        .iter()
        .map(|release| results().join(format!("{release}.jsonl")))
        .collect();
    (run, files)
}

/// Every rows file of docs/results/, sorted by name: the README's order.
fn sorted_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(results())
        .expect("docs/results/")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_committed_rows_give_the_table_their_run_printed() {
    let (run, files) = the_run();
    assert!(files.len() >= 2, "rows of two kernels at least: {files:?}");
    let out = synlab(&[], &files);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        text(&out.stdout) == run,
        "synlab table {} is not docs/results/run.txt (regenerate both with `just results`):\n{}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        said(&out)
    );
    assert!(
        run.lines()
            .last()
            .is_some_and(|l| l.contains(" cases differ between the kernels")),
        "run.txt ends with the differences line:\n{run}"
    );
}

#[test]
fn one_mixed_file_gives_the_same_table() {
    let (run, files) = the_run();
    let dir = ScratchDir::new("synlab-table-mixed");
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("a rows file"))
        .collect();
    let mixed = dir.write("all.jsonl", all.as_bytes());
    let out = synlab(&[], &[mixed]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(text(&out.stdout) == run, "{}", said(&out));
}

/// Every table row's cells as pulldown-cmark reads them (GitHub's tables),
/// and the paragraphs.
fn parse_markdown(md: &str) -> (Vec<Vec<String>>, Vec<String>) {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut paragraphs = Vec::new();
    let mut text: Option<String> = None;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::TableHead | Tag::TableRow) => rows.push(Vec::new()),
            Event::Start(Tag::TableCell | Tag::Paragraph) => text = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(s) = text.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::TableCell) => {
                let cell = text.take().unwrap_or_default();
                rows.last_mut().expect("a row").push(cell);
            }
            Event::End(TagEnd::Paragraph) => paragraphs.extend(text.take()),
            _ => {}
        }
    }
    (rows, paragraphs)
}

#[test]
fn markdown_is_a_table_of_the_same_cells() {
    let (run, files) = the_run();
    let out = synlab(&["--markdown"], &files);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let md = text(&out.stdout);
    let (rows, paragraphs) = parse_markdown(&md);
    // The text table's lines: heading, header, a line per case, the last line.
    let lines: Vec<&str> = run.lines().collect();
    assert_eq!(
        rows.len(),
        lines.len() - 2,
        "a row per case and the header:\n{md}"
    );
    let kernels = files.len();
    for (row, line) in rows.iter().zip(&lines[1..]) {
        assert_eq!(
            row.len(),
            kernels + 3,
            "mark, case, kernels, differs: {row:?}"
        );
        // The text line is the same cells, aligned.
        let joined = row
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let words = line.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(joined, words, "the Markdown row and the text line");
    }
    assert_eq!(
        paragraphs,
        [lines[0], lines[lines.len() - 1]],
        "the heading and the differences line:\n{md}"
    );
}

/// A case name with Markdown's and HTML's characters is one cell that reads
/// as written, and a verdict that is no pass stands out (bold).
#[test]
fn markdown_keeps_an_odd_case_name_in_its_cell() {
    let (_, files) = the_run();
    let odd = "odd/|*_`x`<b>&amp;";
    let dir = ScratchDir::new("synlab-table-odd");
    let mut written = Vec::new();
    for (n, file) in files.iter().take(2).enumerate() {
        let rows = std::fs::read_to_string(file).expect("a rows file");
        let mut row: serde_json::Value = rows
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON row"))
            .find(|r: &serde_json::Value| r["type"] == "case")
            .expect("a case row");
        row["case"] = odd.into();
        row["pass"] = false.into();
        row["verdict"] = "fail".into();
        let answer = row["answer"].as_str().unwrap_or_default().to_owned();
        written.push((
            dir.write(&format!("{n}.jsonl"), format!("{row}\n").as_bytes()),
            answer,
        ));
    }
    let files: Vec<PathBuf> = written.iter().map(|(f, _)| f.clone()).collect();
    let out = synlab(&["--markdown"], &files);
    assert_eq!(out.status.code(), Some(1), "a failed row: {}", said(&out));
    let md = text(&out.stdout);
    let (rows, _) = parse_markdown(&md);
    assert_eq!(rows.len(), 2, "the header and the case:\n{md}");
    assert_eq!(rows[1][1], odd, "{md}");
    for (n, (_, answer)) in written.iter().enumerate() {
        assert_eq!(rows[1][2 + n], format!("FAIL {answer}"), "{md}");
        assert!(md.contains(&format!("| **FAIL {answer}** |")), "{md}");
    }
}

const BEGIN: &str =
    "<!-- synlab table --markdown docs/results/*.jsonl: begin (just readme-table) -->\n";
const END: &str = "<!-- synlab table: end -->";

/// README.md's findings table is `synlab table --markdown docs/results/*.jsonl`.
#[test]
fn the_readme_table_is_what_the_rows_give() {
    let path = workspace().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    assert_eq!(
        (readme.matches(BEGIN).count(), readme.matches(END).count()),
        (1, 1),
        "README.md has one {} and one {END} line",
        BEGIN.trim_end()
    );
    let inside = readme
        .split(BEGIN)
        .nth(1)
        .and_then(|rest| rest.split(END).next())
        .unwrap_or_default();
    let out = synlab(&["--markdown"], &sorted_files());
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", said(&out));
    let want = format!("\n{}\n", text(&out.stdout));
    assert!(
        inside == want,
        "README.md's findings table is not what docs/results/ gives: run `just readme-table` \
         (or `just results` for new rows) and commit it\nREADME has:\n{inside}\nthe rows give:\n{want}"
    );
}

/// The rows of `file` with every line passed through `f`.
fn edited(file: &Path, f: impl Fn(&mut serde_json::Value)) -> String {
    std::fs::read_to_string(file)
        .expect("a rows file")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON row");
            f(&mut v);
            format!("{v}\n")
        })
        .collect()
}

#[test]
fn two_runs_of_one_kernel_are_said_and_kept_apart() {
    let (_, files) = the_run();
    let dir = ScratchDir::new("synlab-table-twice");
    let rows = std::fs::read(&files[0]).expect("a rows file");
    let a = dir.write("machine-a.jsonl", &rows);
    let b = dir.write("machine-b.jsonl", &rows);
    let out = synlab(&[], &[a.clone(), b.clone(), files[1].clone()]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let release = files[0]
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a name");
    let stdout = text(&out.stdout);
    let (a, b) = (a.display(), b.display());
    let note = format!(
        "note: 2 kernel runs of {release} ({a}, {b}): a column each, not merged; \
         a case where they differ counts as a difference"
    );
    assert_eq!(stdout.lines().nth(1), Some(note.as_str()), "{}", said(&out));
    let header = stdout.lines().nth(2).unwrap_or_default();
    assert!(
        header.contains(&format!("{release} ({a})"))
            && header.contains(&format!("{release} ({b})")),
        "each column labelled by its file: {header}"
    );
}

#[test]
fn a_row_that_did_not_pass_is_exit_1() {
    let (_, files) = the_run();
    let dir = ScratchDir::new("synlab-table-fail");
    let case = first_case(&files[0]);
    let rows = edited(&files[0], |v| {
        if v["type"] == "case" && v["case"] == case.as_str() {
            v["verdict"] = "fail".into();
            v["pass"] = false.into();
        }
    });
    let failed = dir.write("failed.jsonl", rows.as_bytes());
    let out = synlab(&[], &[failed, files[1].clone()]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(case.as_str()))
        .unwrap_or_default();
    assert!(
        line.starts_with("* ") && line.contains("FAIL") && line.contains("verdict"),
        "{line}"
    );
}

/// The first case row's case name in `file`.
fn first_case(file: &Path) -> String {
    std::fs::read_to_string(file)
        .expect("a rows file")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON row"))
        .find(|v| v["type"] == "case")
        .and_then(|v| v["case"].as_str().map(str::to_owned))
        .expect("a case row")
}

#[test]
fn a_line_that_is_no_row_or_a_missing_file_is_exit_2() {
    let (_, files) = the_run();
    let dir = ScratchDir::new("synlab-table-bad");
    let rows = std::fs::read_to_string(&files[0]).expect("a rows file");
    let mut lines: Vec<&str> = rows.lines().collect();
    lines.insert(2, "{\"type\":\"case\",\"case\":\"x/y\",\"renamed\":1}");
    let bad = dir.write("bad.jsonl", lines.join("\n").as_bytes());
    let out = synlab(&[], std::slice::from_ref(&bad));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "synlab: {}:3: not a row (case x/y): ",
            bad.display()
        )),
        "{}",
        said(&out)
    );
    assert!(out.stdout.is_empty(), "no table: {}", said(&out));
    let missing = dir.path().join("missing.jsonl");
    let out = synlab(&[], std::slice::from_ref(&missing));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        text(&out.stderr).contains(&format!("read {}", missing.display())),
        "{}",
        said(&out)
    );
}

/// `synlab run paws --kernel host --kernel host --json` (root): the run says
/// up front that the kernel is named twice, its table has a column each
/// (labelled by which --kernel it was) with the note; `synlab table` on its
/// rows keeps the two runs apart too (labelled by file and line), with the
/// same cells and the same last line.
#[test]
fn one_kernel_named_twice_in_a_run_is_two_columns() {
    support::require_root();
    let dir = ScratchDir::new("synlab-table-run-twice");
    let run = Command::new(synlab_bin())
        .args([
            "run", "paws", "--kernel", "host", "--kernel", "host", "--json",
        ])
        .current_dir(dir.path())
        .output()
        .expect("start synlab");
    assert_eq!(run.status.code(), Some(0), "{}", said(&run));
    let stderr = text(&run.stderr);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .expect("the release")
        .trim()
        .to_owned();
    assert!(
        stderr.contains(
            "synlab: --kernel host (kernel 2) is the running kernel, like --kernel host (kernel 1): \
             it runs twice, a column each in the table, not merged"
        ),
        "{}",
        said(&run)
    );
    let table = &stderr[stderr.find("case by kernel").expect("a table")..];
    let mut lines = table.lines();
    lines.next();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "note: 2 kernel runs of {release} (kernel 1: host, kernel 2: host): a column each, \
                 not merged; a case where they differ counts as a difference"
            )
            .as_str()
        ),
        "{table}"
    );
    let header = lines.next().unwrap_or_default();
    assert!(
        header.contains(&format!("{release} (kernel 1: host)"))
            && header.contains(&format!("{release} (kernel 2: host)")),
        "{header}"
    );
    let rows = dir.write("rows.jsonl", &run.stdout);
    let out = synlab(&[], std::slice::from_ref(&rows));
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let stdout = text(&out.stdout);
    let second = text(&run.stdout)
        .lines()
        .position(|l| l.contains("\"type\":\"summary\""))
        .expect("the first run's summary row")
        + 2;
    let r = rows.display();
    assert_eq!(
        stdout.lines().nth(1),
        Some(
            format!(
                "note: 2 kernel runs of {release} ({r}:1, {r}:{second}): a column each, not merged; \
                 a case where they differ counts as a difference"
            )
            .as_str()
        ),
        "{}",
        said(&out)
    );
    // The same cells, case by case, and the same last line.
    let cells = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("paws/"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(cells(table), cells(&stdout), "{table}\n{stdout}");
    assert_eq!(table.lines().last(), stdout.lines().last());
}

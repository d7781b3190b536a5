//! The bad-input corpus: every file in `tests/bad-scenarios/` (and every file made here:
//! too large, a huge list, thousands of errors, CRLF and BOM variants) is refused with a
//! message `file:line:column: field: message`, one error per line, the first at the
//! line:column and with the text that the file's `# expect: <line>:<column> <text>` names;
//! `synlab check` prints exactly that and exits 2; nothing panics.
//!
//! `cargo test --test bad_scenarios -- --nocapture` prints every message for review.
//!
//! Two tests check the same files: the library's `load_file` (in-process, so a panic
//! names its file) and the real CLI. The CLI is this workspace's `synlab` binary, built
//! by asking cargo (see `support::synlab_bin`), because this package cannot use
//! `CARGO_BIN_EXE_synlab` and `cargo test` does not rebuild another package's binary.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{ScratchDir, synlab_bin};
use synlab::{Loc, MAX_ERRORS, MAX_FILE_BYTES, ScenarioError};

/// A file that must be refused, and how.
struct Bad {
    path: PathBuf,
    line: usize,
    column: usize,
    /// Text the first error line must contain.
    needle: String,
    /// The message must equal this file's message (same text, another path).
    same_as: Option<PathBuf>,
}

fn corpus_dir() -> PathBuf {
    support::workspace().join("tests/bad-scenarios")
}

/// `# expect: 3:8 text` (after an optional BOM, before an optional CR).
fn expectation(bytes: &[u8]) -> Result<(usize, usize, String), String> {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let first = first.trim_start_matches('\u{feff}').trim_end_matches('\r');
    let rest = first
        .strip_prefix("# expect: ")
        .ok_or("the first line is not `# expect: <line>:<column> <text>`")?;
    let (at, needle) = rest.split_once(' ').unwrap_or((rest, ""));
    let (line, column) = at.split_once(':').ok_or("no line:column")?;
    let num = |s: &str| s.parse::<usize>().map_err(|e| format!("{s:?}: {e}"));
    Ok((num(line)?, num(column)?, needle.to_owned()))
}

/// Every committed file, sorted.
fn corpus() -> Vec<Bad> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read tests/bad-scenarios")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read a corpus file");
            let (line, column, needle) =
                expectation(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Bad {
                path,
                line,
                column,
                needle,
                same_as: None,
            }
        })
        .collect()
}

/// A private directory for generated files, removed at the end.
fn scratch(tag: &str) -> ScratchDir {
    ScratchDir::new(&format!("synlab-bad-scenarios-{tag}"))
}

const VALID: &str = r#"# A valid scenario, the base of the generated files.
description = "A SYN below rcv_nxt gets the challenge ACK."
[server.sysctl]
"net.ipv4.tcp_rfc1337" = [0, 1]
[connection]
family = ["ipv4", "ipv6"]
[second_syn]
seq = "rcv_nxt - 1000"
[expect]
answer = "ack"
"#;

fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn bom(bytes: &[u8]) -> Vec<u8> {
    [&b"\xef\xbb\xbf"[..], bytes].concat()
}

/// Files made at test time: too large or too many to commit, and the CRLF and BOM
/// variant of every committed file (same position, same message).
fn generated(dir: &ScratchDir, corpus: &[Bad]) -> Vec<Bad> {
    let mut out = Vec::new();
    let mut add = |path: PathBuf, line, column, needle: &str| {
        out.push(Bad {
            path,
            line,
            column,
            needle: needle.to_owned(),
            same_as: None,
        });
    };
    let limit = format!("larger than {MAX_FILE_BYTES} bytes (1 MiB)");

    // 20 MB of comments: refused from its size, before it is read whole.
    let line = "# padding padding padding padding padding padding padding padding\n";
    let huge = line.repeat(20_000_000 / line.len());
    add(
        dir.write("huge-comments.toml", format!("{VALID}{huge}").as_bytes()),
        1,
        1,
        &limit,
    );
    // One byte over the limit.
    let pad = MAX_FILE_BYTES + 1 - VALID.len();
    let over = format!("{VALID}#{}", "x".repeat(pad - 2) + "\n");
    assert_eq!(over.len(), MAX_FILE_BYTES + 1);
    add(
        dir.write("one-byte-over.toml", over.as_bytes()),
        1,
        1,
        &limit,
    );

    // A list of 10^5 ports (under the size limit): one error at the list.
    let ports: Vec<String> = (0..100_000).map(|i| (1 + i % 65_535).to_string()).collect();
    let src = format!(
        "description = \"d\"\n[connection]\nport = [{}]\n[expect]\nanswer = \"ack\"\n",
        ports.join(",")
    );
    assert!(src.len() < MAX_FILE_BYTES);
    add(
        dir.write("list-of-100000-ports.toml", src.as_bytes()),
        3,
        8,
        "connection.port: a list of 100000 values would make more than the 256 cases allowed in one file",
    );

    // 10^4 sysctls in one table.
    let keys: String = (0..10_000)
        .map(|i| format!("\"net.ipv4.k{i}\" = 1\n"))
        .collect();
    let src = format!("description = \"d\"\n[sysctl]\n{keys}[expect]\nanswer = \"ack\"\n");
    add(
        dir.write("10000-sysctls.toml", src.as_bytes()),
        131,
        1,
        "sysctl: 10000 sysctls, more than the 128 one table may set",
    );

    // 2000 errors: MAX_ERRORS lines, then one that counts the rest.
    let whens: String = (0..2_000)
        .map(|i| format!("[[expect.when]]\nmatch = {{ axis{i} = 1 }}\n"))
        .collect();
    let src = format!(
        "description = \"d\"\n[connection]\nfamily = [\"ipv4\", \"ipv6\"]\n[expect]\nanswer = \"ack\"\n{whens}"
    );
    add(
        dir.write("2000-errors.toml", src.as_bytes()),
        7,
        11,
        "expect.when[0].match.\"axis0\": no matrix axis named \"axis0\"",
    );

    // Nesting far beyond toml's recursion limit.
    let src = format!("description = \"d\"\na = {}\n", "[".repeat(100_000));
    add(
        dir.write("deep-nesting.toml", src.as_bytes()),
        2,
        85,
        "max recursion depth met",
    );

    // A BOM does not count as a column.
    add(
        dir.write(
            "bom-line-1.toml",
            "\u{feff}description = \"d\" x\n".as_bytes(),
        ),
        1,
        19,
        "unexpected key or value",
    );
    // A lone CR is not a line break in TOML; a NUL is not text.
    add(
        dir.write(
            "lone-cr.toml",
            b"description = \"d\"\r[expect]\nanswer = \"ack\"\n",
        ),
        1,
        19,
        "carriage return must be followed by newline",
    );
    add(
        dir.write("nul.toml", b"description = \"d\"\n\0\n"),
        2,
        1,
        "control character U+0000 in the file",
    );
    add(
        dir.write("empty.toml", b""),
        1,
        1,
        "description: is missing",
    );

    // Same file name in a folder of its own: case names (the file stem) stay the same.
    for tag in ["crlf", "bom"] {
        std::fs::create_dir_all(dir.path().join(tag)).expect("create a variant dir");
    }
    for bad in corpus {
        let bytes = std::fs::read(&bad.path).expect("read a corpus file");
        let name = bad.path.file_name().and_then(|n| n.to_str()).unwrap_or("x");
        for (tag, variant) in [("crlf", crlf(&bytes)), ("bom", bom(&bytes))] {
            if variant == bytes || (tag == "bom" && bytes.starts_with(b"\xef\xbb\xbf")) {
                continue;
            }
            out.push(Bad {
                path: dir.write(&format!("{tag}/{name}"), &variant),
                line: bad.line,
                column: bad.column,
                needle: String::new(),
                same_as: Some(bad.path.clone()),
            });
        }
    }
    out
}

/// `x.toml`, or `crlf/x.toml` for a variant.
fn display_name(path: &Path) -> String {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    match path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
    {
        Some(tag @ ("crlf" | "bom")) => format!("{tag}/{file}"),
        _ => file.to_owned(),
    }
}

/// How `Loc` shows a path (relative to the current directory when below it).
fn shown(path: &Path, line: usize, column: usize) -> String {
    Loc {
        file: path.to_path_buf(),
        line,
        column,
    }
    .to_string()
}

/// The chars of each line of a file, for bounds checks.
fn line_lengths(bytes: &[u8]) -> Vec<usize> {
    String::from_utf8_lossy(bytes)
        .split('\n')
        .map(|l| l.chars().count())
        .collect()
}

/// Checks one refusal message; returns the problems found.
fn check_message(bad: &Bad, message: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let bytes = std::fs::read(&bad.path).unwrap_or_default();
    let lengths = line_lengths(&bytes);
    let prefix = shown(&bad.path, 0, 0);
    let prefix = prefix.strip_suffix(":0:0").unwrap_or(&prefix);
    let lines: Vec<&str> = message.lines().collect();
    if lines.is_empty() {
        problems.push("empty message".to_owned());
    }
    if lines.len() > MAX_ERRORS + 1 {
        problems.push(format!(
            "{} lines, more than {}",
            lines.len(),
            MAX_ERRORS + 1
        ));
    }
    for line in &lines {
        // `file:line:column: message`, with the position inside the file.
        let Some(rest) = line.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')) else {
            problems.push(format!("does not start with `{prefix}:`: {line}"));
            continue;
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(l), Some(c), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
            problems.push(format!("no line:column: {line}"));
            continue;
        };
        let (Ok(l), Ok(c)) = (l.parse::<usize>(), c.parse::<usize>()) else {
            problems.push(format!("no line:column: {line}"));
            continue;
        };
        let in_file = l >= 1 && l <= lengths.len() && c >= 1 && c <= lengths[l - 1] + 1;
        if !in_file {
            problems.push(format!("{l}:{c} is outside the file: {line}"));
        }
        if !text.starts_with(' ') || text.trim().is_empty() {
            problems.push(format!("no message after the position: {line}"));
        }
    }
    let first = lines.first().copied().unwrap_or_default();
    let at = format!("{}: ", shown(&bad.path, bad.line, bad.column));
    if !first.starts_with(&at) {
        problems.push(format!("expected the first error at {at}got: {first}"));
    }
    if !first.contains(&bad.needle) {
        problems.push(format!("expected {:?} in: {first}", bad.needle));
    }
    if message.contains("panicked") {
        problems.push("a panic message".to_owned());
    }
    problems
}

fn load(path: &Path) -> Result<Result<synlab::Scenario, ScenarioError>, String> {
    catch_unwind(AssertUnwindSafe(|| synlab::load_file(path))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// The message the library gives for a file it must refuse.
fn library_message(path: &Path) -> Result<String, String> {
    match load(path) {
        Err(panic) => Err(format!("panicked: {panic}")),
        Ok(Ok(s)) => Err(format!("accepted ({} cases)", s.cases.len())),
        Ok(Err(e)) => Ok(e.to_string()),
    }
}

fn without_path(message: &str, path: &Path) -> String {
    let prefix = shown(path, 0, 0);
    let prefix = prefix.strip_suffix(":0:0").unwrap_or(&prefix).to_owned();
    message
        .replace(&prefix, "FILE")
        // A CRLF variant shows a multi-line string with its CR.
        .replace("\\r\\n", "\\n")
}

#[test]
fn library_refuses_every_bad_file_at_its_position() {
    let corpus = corpus();
    assert!(corpus.len() >= 30, "only {} corpus files", corpus.len());
    let dir = scratch("lib");
    let generated = generated(&dir, &corpus);
    let mut failures = Vec::new();
    println!("\n{:<50} message", "file");
    for bad in corpus.iter().chain(&generated) {
        let name = display_name(&bad.path);
        let message = match library_message(&bad.path) {
            Ok(m) => m,
            Err(why) => {
                failures.push(format!("{name}: {why}"));
                continue;
            }
        };
        if bad.same_as.is_none() {
            // The review table: one row per file, the first error without its path.
            let first = message.lines().next().unwrap_or_default();
            let short = first
                .strip_prefix(&shown(&bad.path, 0, 0).replace(":0:0", ""))
                .unwrap_or(first);
            let more = match message.lines().count() {
                1 => String::new(),
                n => format!("  (+{} lines)", n - 1),
            };
            println!("{name:<50} {}{more}", short.trim_start_matches(':'));
        }
        let mut problems = check_message(bad, &message);
        if let Some(original) = &bad.same_as
            && let Ok(expected) = library_message(original)
            && without_path(&expected, original) != without_path(&message, &bad.path)
        {
            problems.push(format!("differs from {}: {message}", original.display()));
        }
        failures.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
    }
    // The file with 2000 errors shows MAX_ERRORS of them and counts the rest.
    let many = dir.path().join("2000-errors.toml");
    let message = library_message(&many).unwrap_or_default();
    let last = message.lines().last().unwrap_or_default();
    if message.lines().count() != MAX_ERRORS + 1 || !last.contains("and 1950 more errors") {
        failures.push(format!(
            "2000-errors.toml: last of {} lines: {last}",
            message.lines().count()
        ));
    }
    println!(
        "{} corpus files, {} generated",
        corpus.len(),
        generated.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn crlf_bom_and_size_limit_are_fine_on_valid_files() {
    let dir = scratch("valid");
    let lf = dir.write("lf.toml", VALID.as_bytes());
    let names = |path: &Path| -> Vec<String> {
        let s =
            synlab::load_file(path).unwrap_or_else(|e| panic!("{} refused: {e}", path.display()));
        s.cases.iter().map(|c| c.name.clone()).collect()
    };
    let base: Vec<String> = names(&lf)
        .into_iter()
        .map(|n| n.replacen("lf", "x", 1))
        .collect();
    assert_eq!(base.len(), 4);
    for (name, bytes) in [
        ("crlf.toml", crlf(VALID.as_bytes())),
        ("bom.toml", bom(VALID.as_bytes())),
        ("bom-crlf.toml", bom(&crlf(VALID.as_bytes()))),
    ] {
        let path = dir.write(name, &bytes);
        let stem = name.trim_end_matches(".toml");
        let got: Vec<String> = names(&path)
            .into_iter()
            .map(|n| n.replacen(stem, "x", 1))
            .collect();
        assert_eq!(got, base, "{name}");
    }
    // Exactly at the limit is still read.
    let pad = MAX_FILE_BYTES - VALID.len();
    let at_limit = format!("{VALID}#{}\n", "x".repeat(pad - 2));
    assert_eq!(at_limit.len(), MAX_FILE_BYTES);
    names(&dir.write("at-limit.toml", at_limit.as_bytes()));
    // And a position in a CRLF file is the same as in the LF one.
    let bad = VALID.replace("answer = \"ack\"", "answer = \"ok\"");
    let lf_err = synlab::parse_str(Path::new("f.toml"), &bad).expect_err("bad answer");
    let crlf_text = String::from_utf8(crlf(bad.as_bytes())).expect("utf-8");
    let crlf_err = synlab::parse_str(Path::new("f.toml"), &crlf_text).expect_err("bad answer");
    assert_eq!(lf_err.to_string(), crlf_err.to_string());
}

#[test]
fn cli_check_prints_the_library_message_and_exits_2() {
    let bin = synlab_bin();
    let corpus = corpus();
    let dir = scratch("cli");
    let generated = generated(&dir, &corpus);
    let cwd = std::env::current_dir().expect("cwd");
    let mut failures = Vec::new();
    for bad in corpus.iter().chain(&generated) {
        let name = display_name(&bad.path);
        let out = Command::new(&bin)
            .arg("check")
            .arg(&bad.path)
            .current_dir(&cwd)
            .output()
            .expect("run synlab check");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(2) {
            failures.push(format!(
                "{name}: exit {:?}, stderr: {stderr}",
                out.status.code()
            ));
            continue;
        }
        if !stdout.is_empty() {
            failures.push(format!("{name}: printed on stdout: {stdout}"));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{name}: panicked: {stderr}"));
            continue;
        }
        // main.rs puts its name before the first line, as for every fatal error.
        let message = stderr
            .strip_prefix("synlab: ")
            .unwrap_or(&stderr)
            .trim_end_matches('\n');
        match library_message(&bad.path) {
            Ok(lib) if lib == message => {}
            Ok(lib) => failures.push(format!("{name}: CLI says\n{message}\nlibrary says\n{lib}")),
            Err(why) => failures.push(format!("{name}: library {why}")),
        }
        failures.extend(
            check_message(bad, message)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    println!(
        "synlab check refused {} files with exit 2",
        corpus.len() + generated.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

//! The machine-readable outputs, read back by real consumers: `synlab run
//! --all --json --junit r.xml` over the built-in scenarios plus a folder with
//! a case made to fail and one that ends in an error. Every JSON line has
//! `type` and `version` and validates against docs/report.schema.json (the
//! jsonschema crate); the last line is the summary and its counts are the
//! rows'; r.xml is read by Python's junitparser (python3-junitparser,
//! installed by the test when it runs as root with apt-get), one testcase per
//! case, the failure naming the check and the pcap. `--ktap` prints KTAP v1.
//!
//! Runs real cases: root, or rootless mode (synlab enters a user namespace).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{ScratchDir, synlab_bin, workspace};

/// A folder of one's own: ts-off with a wrong expectation (it fails), and the
/// case whose reconnect comes after its deadline (an error).
fn user_folder(dir: &ScratchDir) -> std::path::PathBuf {
    let root = dir.path().join("mine");
    let area = root.join("broken");
    std::fs::create_dir_all(&area).expect("mkdir");
    let ts_off = std::fs::read_to_string(workspace().join("scenarios/timewait/ts-off.toml"))
        .expect("read ts-off");
    let wrong = ts_off.replace("answer = \"syn-ack\"", "answer = \"rst\"");
    assert_ne!(wrong, ts_off, "ts-off expects a syn-ack");
    std::fs::write(area.join("wrong-answer.toml"), wrong).expect("write");
    std::fs::copy(
        workspace().join("tests/timeout-scenarios/timeouts/reconnect-past-deadline.toml"),
        area.join("reconnect-past-deadline.toml"),
    )
    .expect("copy the timeout scenario");
    root
}

fn synlab(cwd: &Path, args: &[&str]) -> Output {
    Command::new(synlab_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SYNLAB_SCENARIOS")
        .env_remove("SYNLAB_ARTIFACTS")
        .output()
        .unwrap_or_else(|e| panic!("run synlab {}: {e}", args.join(" ")))
}

fn show(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What junitparser reads from the file: totals and each testcase.
const JUNIT_READER: &str = r#"
import json, sys
from junitparser import JUnitXml, TestSuite
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if isinstance(xml, TestSuite) else list(xml)
cases = []
for suite in suites:
    for case in suite:
        cases.append({
            "suite": suite.name,
            "name": case.name,
            "results": [[type(r).__name__, r.message or "", r.text or ""] for r in case.result],
        })
print(json.dumps({"suites": len(suites), "cases": cases}))
"#;

/// The Python that has junitparser: Debian's, installed when the test may.
fn python_with_junitparser() -> &'static str {
    const PY: &str = "/usr/bin/python3";
    let has = || support::runs(PY, &["-c", "import junitparser"]);
    support::ensure_installed("Python's junitparser", "python3-junitparser", has);
    PY
}

#[test]
fn json_rows_validate_and_junit_reads_back_with_one_testcase_per_case() {
    let dir = ScratchDir::new("synlab-outputs");
    let mine = user_folder(&dir);
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    let mine_arg = mine.to_str().expect("UTF-8 path");
    let out = synlab(
        &cwd,
        &[
            "--scenarios-dir",
            mine_arg,
            "run",
            "--all",
            "--json",
            "--junit",
            "r.xml",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "a case fails: {}", show(&out));

    // Every line: type, version, valid against the schema in docs/.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("docs/report.schema.json")).expect("the schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for row in &rows {
        assert_eq!(row["version"], 1, "{row}");
        let errors: Vec<String> = validator
            .iter_errors(row)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}:\n{}", row["case"], errors.join("\n"));
    }
    let kind = |t: &str| rows.iter().filter(|r| r["type"] == t).count();
    let (cases, errors, skips) = (kind("case"), kind("error"), kind("skip"));
    assert_eq!(kind("summary"), 1);
    let summary = rows.last().expect("rows");
    assert_eq!(summary["type"], "summary", "the summary is last");
    assert_eq!(cases + errors + skips + 1, rows.len(), "only known types");
    assert_eq!(summary["cases"], cases + errors + skips);
    assert_eq!(summary["counts"]["error"], errors);
    assert_eq!(summary["pass"], false, "a run with a failure does not pass");
    assert_eq!(errors, 1, "the case that runs past its deadline");
    let verdicts = |v: &str| rows.iter().filter(|r| r["verdict"] == v).count();
    assert_eq!(summary["counts"]["pass"], verdicts("pass"));
    assert_eq!(summary["counts"]["fail"], verdicts("fail"));
    assert_eq!(summary["counts"]["partial"], verdicts("partial"));
    assert_eq!(summary["counts"]["skip"], skips);
    assert_eq!(summary["exit_code"], 1);
    let wrong: Vec<&Value> = rows
        .iter()
        .filter(|r| r["scenario"] == "wrong-answer")
        .collect();
    assert_eq!(wrong.len(), 2);
    assert!(
        wrong
            .iter()
            .all(|r| r["verdict"] == "fail" && !r["builtin"].as_bool().unwrap_or(true))
    );
    assert!(
        rows.iter()
            .any(|r| r["scenario"] == "ts-off" && r["builtin"] == true)
    );
    // The failing case's pcap went under the current directory.
    let pcap = wrong[0]["pcap"]
        .as_str()
        .expect("a failing case names its pcap");
    assert!(pcap.starts_with("synlab-artifacts/"), "{pcap}");
    assert!(
        cwd.join(pcap).is_file(),
        "{pcap} written under the current directory"
    );

    // r.xml through junitparser.
    let py = python_with_junitparser();
    let read = Command::new(py)
        .args(["-c", JUNIT_READER])
        .arg(cwd.join("r.xml"))
        .output()
        .expect("run python3");
    assert!(read.status.success(), "junitparser: {}", show(&read));
    let junit: Value = serde_json::from_slice(&read.stdout).expect("the reader prints JSON");
    let tc = junit["cases"].as_array().expect("cases");
    assert_eq!(tc.len(), cases + errors + skips, "one testcase per case");
    let scenarios: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["scenario"].as_str()).collect();
    assert_eq!(
        junit["suites"],
        scenarios.len(),
        "one testsuite per scenario"
    );
    let failure = tc
        .iter()
        .find(|c| c["name"] == wrong[0]["case"])
        .expect("the failing testcase");
    let r = &failure["results"][0];
    assert_eq!(r[0], "Failure", "{failure}");
    let message = r[1].as_str().unwrap_or_default();
    assert!(
        message.starts_with("answer: expected rst, seen syn-ack ("),
        "{message}"
    );
    assert!(
        r[2].as_str()
            .unwrap_or_default()
            .contains(&format!("pcap: {pcap}")),
        "{r}"
    );
    let error = tc
        .iter()
        .find(|c| c["suite"] == "broken::reconnect-past-deadline")
        .expect("the error testcase");
    assert_eq!(error["results"][0][0], "Error", "{error}");
    let passed = tc
        .iter()
        .filter(|c| c["results"] == Value::Array(vec![]))
        .count();
    assert_eq!(passed, verdicts("pass"));
}

#[test]
fn ktap_is_what_the_selftests_print() {
    let dir = ScratchDir::new("synlab-ktap");
    let mine = user_folder(&dir);
    let mine_arg = mine.to_str().expect("UTF-8 path");
    let out = synlab(
        dir.path(),
        &[
            "--scenarios-dir",
            mine_arg,
            "run",
            "ts-off",
            "wrong-answer",
            "--ktap",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..2], ["KTAP version 1", "1..4"], "{stdout}");
    let results: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
        .collect();
    assert_eq!(
        results,
        [
            "ok 1 timewait::ts-off::ipv4",
            "ok 2 timewait::ts-off::ipv6",
            "not ok 3 broken::wrong-answer::ipv4",
            "not ok 4 broken::wrong-answer::ipv6",
        ],
        "{stdout}"
    );
    assert!(
        lines.iter().all(|l| l.starts_with("# ")
            || results.contains(l)
            || l.starts_with("KTAP version")
            || l.starts_with("1..")),
        "every other line is a diagnostic: {stdout}"
    );
    assert!(
        stdout.contains("#   answer: expected rst, seen syn-ack ("),
        "{stdout}"
    );
    assert!(stdout.contains("# pcap: synlab-artifacts/"), "{stdout}");
    assert_eq!(
        lines.last().copied(),
        Some("# Totals: pass:2 fail:2 xfail:0 xpass:0 skip:0 error:0")
    );
}

/// Issue 19: root never writes through a link planted at a name it writes. A
/// symlink at every pcap name of `--pcap-dir`, at the `--junit` and at the
/// `--html` file, and a `synlab-artifacts` that is a link to another folder,
/// each pointing into this test's own temporary folder: every target is
/// unchanged, and each refusal is said: a pcap's as its case's error (exit
/// 1, the run goes on), a report file's on stderr (exit 2).
#[test]
fn planted_symlinks_at_every_output_name_leave_their_targets_unchanged() {
    use std::os::unix::fs::symlink;
    let dir = ScratchDir::new("synlab-planted");
    let mine = user_folder(&dir);
    let mine_arg = mine.to_str().expect("UTF-8 path");
    let victim = dir.write("victim", b"precious");
    let pcaps = dir.path().join("pcaps");
    std::fs::create_dir(&pcaps).expect("mkdir");
    for name in ["timewait.ts-off.ipv4.pcap", "timewait.ts-off.ipv6.pcap"] {
        symlink(&victim, pcaps.join(name)).expect("plant a link");
    }
    for name in ["j.xml", "h.html"] {
        symlink(&victim, dir.path().join(name)).expect("plant a link");
    }
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    symlink(&elsewhere, dir.path().join("synlab-artifacts")).expect("plant a link");
    // A pcap refused is an error of its case (exit 1, said in the case's
    // error on stdout, the run goes on); a refused report file ends the run
    // (exit 2, on stderr).
    for (args, code) in [
        (&["run", "ts-off", "--pcap-dir", "pcaps"][..], 1),
        (&["run", "ts-off", "--junit", "j.xml"][..], 2),
        (&["run", "ts-off", "--html", "h.html"][..], 2),
        (&["--scenarios-dir", mine_arg, "run", "wrong-answer"][..], 1),
    ] {
        let out = synlab(dir.path(), args);
        let stderr = String::from_utf8_lossy(if code == 1 { &out.stdout } else { &out.stderr });
        assert_eq!(
            std::fs::read(&victim).expect("the victim"),
            b"precious",
            "synlab {}: {}",
            args.join(" "),
            show(&out)
        );
        assert_eq!(
            support::dir_names(&elsewhere).len(),
            0,
            "nothing written through synlab-artifacts: {}",
            show(&out)
        );
        assert_eq!(out.status.code(), Some(code), "refused: {}", show(&out));
        assert!(
            stderr.contains("is a symbolic link: refused"),
            "synlab {}: {}",
            args.join(" "),
            show(&out)
        );
    }
}

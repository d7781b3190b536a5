//! An artifact synlab cannot write is an error of its case, never the end of
//! the run (root): with `SYNLAB_ARTIFACTS` naming a file, a scenario with a
//! failing case and a passing one reports both: the failing case as `error`
//! (why its pcap is missing, and what it showed: FAIL and its timeline) in
//! the JSON rows, the JUnit file and the HTML page, the passing case as
//! `pass`, and a summary row; exit 1 (a case did not pass), not 2.

mod support;

use std::process::Command;

use serde_json::Value;
use support::{ScratchDir, require_root, synlab_bin};

/// Two cases without timestamps: a SYN below rcv_nxt gets the TIME_WAIT's
/// ACK (`tcp_timewait_state_process()`), one above it a SYN-ACK; the file
/// expects a SYN-ACK from both, so the first fails.
const SCENARIO: &str = r#"# One case fails, one passes.
description = "A SYN below and above rcv_nxt without timestamps; the one below is expected wrongly."
kernel_ref = "tcp_timewait_state_process() in net/ipv4/tcp_minisocks.c"

[sysctl]
"net.ipv4.tcp_timestamps" = 0

[client]
kind = "raw"

[connection]
family = "ipv4"

[segment]
flags = "S"
seq = ["rcv_nxt - 1", "rcv_nxt + 1"]

[expect]
answer = "syn-ack"
"#;

#[test]
fn a_pcap_that_cannot_be_written_is_its_cases_error_and_the_run_goes_on() {
    require_root();
    let dir = ScratchDir::new("synlab-artifact-errors");
    std::fs::create_dir_all(dir.path().join("mine/art")).expect("mkdir");
    dir.write("mine/art/wrong.toml", SCENARIO.as_bytes());
    let not_a_folder = dir.write("artifacts", b"a file, not a folder");
    let out = Command::new(synlab_bin())
        .args([
            "--scenarios-dir",
            "mine",
            "run",
            "wrong",
            "--json",
            "--junit",
            "report.xml",
            "--html",
            "report.html",
        ])
        .current_dir(dir.path())
        .env_remove("SYNLAB_SCENARIOS")
        .env("SYNLAB_ARTIFACTS", &not_a_folder)
        .output()
        .expect("run synlab");
    let show = format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let types: Vec<&str> = rows
        .iter()
        .map(|r| r["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types, ["error", "case", "summary"], "{show}");
    let error = rows[0]["error"].as_str().unwrap_or("");
    assert!(
        error.contains("the pcap could not be written")
            && error.contains("the case ran: FAIL")
            && error.contains("rcv_nxt - 1"),
        "the error says why and what the case showed: {error}"
    );
    assert_eq!(rows[1]["pass"], true, "{show}");
    assert_eq!(rows[2]["counts"]["error"], 1, "{show}");
    assert_eq!(out.status.code(), Some(1), "{show}");
    assert_eq!(
        std::fs::read(&not_a_folder).expect("the file is still there"),
        b"a file, not a folder"
    );
    let junit = std::fs::read_to_string(dir.path().join("report.xml")).expect("the JUnit file");
    assert!(
        junit.contains("<error") && junit.contains("the pcap could not be written"),
        "{junit}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("the HTML page");
    assert!(
        html.contains("the pcap could not be written"),
        "the HTML page names the error"
    );
}

//! A stdout synlab cannot write is an error, never a panic: every subcommand
//! with stdout on /dev/full exits 2 with one `synlab: ...` line (`run` as
//! root, the others as anyone); `synlab run --all --json | head -1` ends
//! quietly (exit 2, nothing on stderr, no panic) once `head` is gone.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{ScratchDir, require_root, synlab_bin, workspace};

fn to_dev_full(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = ScratchDir::new(&format!(
        "synlab-full-{}",
        N.fetch_add(1, Ordering::Relaxed)
    ));
    Command::new(synlab_bin())
        .args(args)
        .current_dir(dir.path())
        .env_remove("SYNLAB_SCENARIOS")
        .env("SYNLAB_ARTIFACTS", dir.path().join("artifacts"))
        .env("SYNLAB_CACHE", dir.path().join("cache"))
        .stdout(full)
        .output()
        .unwrap_or_else(|e| panic!("run synlab {}: {e}", args.join(" ")))
}

fn assert_one_line_exit_2(args: &[&str]) {
    let out = to_dev_full(args);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        out.status.code() == Some(2)
            && !err.contains("panicked")
            && lines.len() == 1
            && lines[0].starts_with("synlab: ")
            && lines[0].contains("No space left on device"),
        "synlab {} > /dev/full: expected exit 2 and one `synlab: ...` line, seen {}:\n{err}",
        args.join(" "),
        out.status
    );
}

#[test]
fn every_subcommand_on_a_full_stdout_exits_2_with_one_line() {
    let ts_off = workspace().join("scenarios/timewait/ts-off.toml");
    let ts_off = ts_off.to_str().expect("UTF-8 path");
    let rows = std::fs::read_dir(workspace().join("docs/results"))
        .expect("docs/results")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a rows file in docs/results");
    let rows = rows.to_str().expect("UTF-8 path");
    for args in [
        &["list"][..],
        &["schema"],
        &["check", ts_off],
        &["completions", "bash"],
        &["man"],
        &["rules"],
        &["table", rows],
        &["table", "--markdown", rows],
        &["kernels", "--offline"],
        &["--help"],
        &["--version"],
        &["help", "run"],
    ] {
        assert_one_line_exit_2(args);
    }
}

#[test]
fn run_on_a_full_stdout_exits_2_with_one_line() {
    require_root();
    for args in [
        &["run", "ts-off"][..],
        &["run", "ts-off", "--json"],
        &["run", "ts-off", "--ktap"],
    ] {
        assert_one_line_exit_2(args);
    }
}

#[test]
fn run_all_into_head_ends_quietly() {
    require_root();
    let dir = ScratchDir::new("synlab-head");
    let mut child = Command::new(synlab_bin())
        .args(["run", "--all", "--json", "-j", "2"])
        .current_dir(dir.path())
        .env_remove("SYNLAB_SCENARIOS")
        .env("SYNLAB_ARTIFACTS", dir.path().join("artifacts"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn synlab run --all");
    // `head -1`: read one line, then close the pipe.
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the first row");
    assert!(first.starts_with("{\"type\":"), "first line: {first}");
    let out = child.wait_with_output().expect("wait for synlab");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (out.status.code(), err.as_ref()),
        (Some(2), ""),
        "expected exit 2 and nothing on stderr once stdout's reader is gone"
    );
}

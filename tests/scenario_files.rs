//! What `synlab check`, `list` and `run` do with files that are not scenario
//! files: a FIFO, a device, a symbolic link in a scenario folder, a name with a
//! control character (issue 19, items 7, 9 and 11). Each is refused at once
//! with one line that says what it is, printed escaped; nothing waits on a FIFO,
//! and no report prints a name that adds lines. A name given twice runs once.
//! No root needed but for the last test; every target is under a temp folder.

mod support;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::ScratchDir;

/// `synlab ARGS`, which must end within 20 s: a FIFO that hangs it is killed
/// and the test fails saying so.
fn synlab(args: &[&str]) -> Output {
    let mut child = Command::new(support::synlab_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synlab");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait for synlab").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap synlab");
            panic!(
                "synlab {args:?} still ran after 20 s (killed); it said:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("synlab's output")
}

/// Exit 2 and one stderr line holding `what`; nothing on stdout.
fn refused(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "exit status; stderr:\n{stderr}");
    assert!(stderr.contains(what), "expected {what:?} in:\n{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates it.
    let made = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(made, 0, "mkfifo {}", path.display());
}

/// A scenario folder with one area and a valid `ok.toml` in it.
fn folder(name: &str) -> ScratchDir {
    let dir = ScratchDir::new(name);
    std::fs::create_dir(dir.path().join("mine")).expect("an area");
    let ts_off = support::workspace().join("scenarios/timewait/ts-off.toml");
    std::fs::copy(ts_off, dir.path().join("mine/ok.toml")).expect("a valid scenario");
    dir
}

#[test]
fn a_fifo_named_toml_is_refused_by_check_list_and_run() {
    let dir = folder("synlab-fifo");
    let fifo = dir.path().join("mine/x.toml");
    mkfifo(&fifo);
    let fifo = fifo.to_str().expect("a UTF-8 temp path");
    refused(
        &synlab(&["check", fifo]),
        "x.toml: is a FIFO; a scenario is a regular",
    );
    refused(&synlab(&["run", fifo]), "is a FIFO");
    let root = dir.path().to_str().unwrap();
    refused(
        &synlab(&["list", "--scenarios-dir", root]),
        "x.toml: is a FIFO",
    );
    refused(
        &synlab(&["run", "x", "--scenarios-dir", root]),
        "x.toml: is a FIFO",
    );
}

#[test]
fn a_device_is_not_looked_up_as_a_name() {
    let err = refused(
        &synlab(&["run", "/dev/null"]),
        "/dev/null: is a character device",
    );
    assert!(!err.contains("no scenario named"), "{err}");
    refused(
        &synlab(&["check", "/dev/zero"]),
        "/dev/zero: is a character device",
    );
}

#[test]
fn a_symbolic_link_in_a_scenario_folder_is_not_followed() {
    let dir = folder("synlab-link");
    std::os::unix::fs::symlink(
        dir.path().join("mine/ok.toml"),
        dir.path().join("mine/l.toml"),
    )
    .expect("a symlink");
    let root = dir.path().to_str().unwrap();
    refused(
        &synlab(&["list", "--scenarios-dir", root]),
        "l.toml: is a symbolic link",
    );
    refused(
        &synlab(&["run", "l", "--scenarios-dir", root]),
        "is a symbolic link",
    );
}

#[test]
fn a_control_character_in_a_name_is_refused_and_printed_escaped() {
    let dir = folder("synlab-newline");
    let bad = dir.path().join("mine/a\nok 99 injected.toml");
    std::fs::copy(dir.path().join("mine/ok.toml"), &bad).expect("a file with a newline");
    let root = dir.path().to_str().unwrap();
    for args in [
        vec!["list", "--scenarios-dir", root],
        vec!["run", "--ktap", "mine", "--scenarios-dir", root],
        vec!["run", "--ktap", "--all", "--scenarios-dir", root],
        vec!["check", bad.to_str().unwrap()],
    ] {
        let err = refused(
            &synlab(&args),
            "a\\nok 99 injected.toml: the path holds a control",
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: one line:\n{err}");
    }
    let err = refused(&synlab(&["run", "nope\nok 1 x"]), "nope\\nok 1 x");
    assert_eq!(err.lines().count(), 1, "one line:\n{err}");
}

#[test]
fn a_scenario_named_twice_runs_each_case_once() {
    if let Err(e) = synlab::probe_privilege() {
        panic!("{e}");
    }
    let artifacts = ScratchDir::new("synlab-twice");
    let out = Command::new(support::synlab_bin())
        .args(["run", "ts-off", "ts-off", "ts-off/ipv4", "--json"])
        .env("SYNLAB_ARTIFACTS", artifacts.path())
        .output()
        .expect("run synlab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cases: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON row"))
        .filter(|r| r["type"] == "case")
        .map(|r| r["case"].as_str().unwrap_or_default().to_owned())
        .collect();
    cases.sort();
    assert_eq!(cases, ["ts-off/ipv4", "ts-off/ipv6"]);
}

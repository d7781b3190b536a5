//! Names synlab makes from case names are one per case and fit a file name
//! (root): `run syn --keep` gets a namespace pair for each of its 16 cases
//! (`seq=rcv_nxt-1` and `seq=rcv_nxt+1` once shared one); cases whose values
//! differ only in white space or in `+` against `-` get pcaps and kept
//! namespaces of their own; a case name past 255 bytes (a file `check` calls
//! valid) gets a short pcap name that is still its own, and the run passes.
//! Every namespace a run keeps is deleted by the test, also when it fails.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{ScratchDir, require_root, synlab_bin};

/// The namespaces a run kept, deleted when dropped (`ip netns delete`).
struct Kept(Vec<String>);

impl Kept {
    /// The names in the `kept: ... remove with: ip netns delete A && ip
    /// netns delete B` lines of `out`'s stderr.
    fn from(out: &Output) -> Kept {
        let names = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter_map(|l| l.split_once("remove with: ").map(|(_, c)| c.to_owned()))
            .flat_map(|cmd| {
                cmd.split("&&")
                    .filter_map(|c| c.trim().strip_prefix("ip netns delete "))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        Kept(names)
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "delete", n]).output();
        }
    }
}

fn synlab(cwd: &Path, args: &[&str]) -> Output {
    Command::new(synlab_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SYNLAB_SCENARIOS")
        .env("SYNLAB_ARTIFACTS", cwd.join("artifacts"))
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

fn rows(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["type"] != "summary")
        .collect()
}

/// A scenario whose three cases differ in `ip_local_port_range`: one value
/// with 300 spaces (a case name past 255 bytes), one with a space, one with
/// a tab; and in the raw client's `seq`, `rcv_nxt - 1` against
/// `rcv_nxt + 1`. Each case passes on any kernel: a SYN below or above
/// rcv_nxt without timestamps is answered as `syn` shows.
fn scenarios(dir: &ScratchDir) -> std::path::PathBuf {
    let root = dir.path().join("mine");
    std::fs::create_dir_all(root.join("names")).expect("mkdir");
    let wide = format!("40000{}40001", " ".repeat(300));
    let text = format!(
        r#"# Case names that differ only in white space or in + against -.
description = "A SYN below and above rcv_nxt without timestamps, three ways to write one port range."
kernel_ref = "tcp_timewait_state_process() in net/ipv4/tcp_minisocks.c"

[sysctl]
"net.ipv4.tcp_timestamps" = 0
"net.ipv4.ip_local_port_range" = ["{wide}", "40000 40001", "40000\t40001"]

[client]
kind = "raw"

[connection]
family = "ipv4"

[segment]
flags = "S"
seq = ["rcv_nxt - 1", "rcv_nxt + 1"]

[expect]
answer = "syn-ack"

[[expect.when]]
match = {{ seq = "rcv_nxt - 1" }}
answer = "ack"
"#
    );
    std::fs::write(root.join("names/spaces.toml"), text).expect("write");
    root
}

#[test]
fn run_syn_keep_gives_each_of_its_16_cases_its_own_namespaces() {
    require_root();
    let dir = ScratchDir::new("synlab-names-keep");
    let out = synlab(dir.path(), &["run", "syn", "--keep", "--json"]);
    let kept = Kept::from(&out);
    let rows = rows(&out);
    assert_eq!(rows.len(), 16, "{}", show(&out));
    let errors: Vec<&Value> = rows.iter().filter(|r| r["type"] == "error").collect();
    assert!(errors.is_empty(), "{errors:#?}\n{}", show(&out));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let unique: BTreeSet<&String> = kept.0.iter().collect();
    assert_eq!((kept.0.len(), unique.len()), (32, 32), "{:#?}", kept.0);
    let listed = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list")
            .stdout,
    )
    .into_owned();
    for n in &kept.0 {
        assert!(listed.contains(n.as_str()), "{n} is not in ip netns list");
    }
}

#[test]
fn cases_that_differ_in_spaces_or_plus_and_minus_get_their_own_pcaps_and_namespaces() {
    require_root();
    let dir = ScratchDir::new("synlab-names-pcaps");
    let mine = scenarios(&dir);
    let mine = mine.to_str().expect("UTF-8 path");
    let check = synlab(dir.path(), &["check", &format!("{mine}/names/spaces.toml")]);
    assert_eq!(check.status.code(), Some(0), "check: {}", show(&check));
    let out = synlab(
        dir.path(),
        &[
            "--scenarios-dir",
            mine,
            "run",
            "spaces",
            "--json",
            "--keep",
            "--pcap-dir",
            "pcaps",
        ],
    );
    let kept = Kept::from(&out);
    let rows = rows(&out);
    assert_eq!(rows.len(), 6, "{}", show(&out));
    assert_eq!(
        out.status.code(),
        Some(0),
        "every case passes: {}",
        show(&out)
    );
    let long = rows
        .iter()
        .filter(|r| r["case"].as_str().unwrap_or("").len() > 255)
        .count();
    assert_eq!(long, 2, "two case names past 255 bytes");
    let pcaps: BTreeSet<&str> = rows.iter().filter_map(|r| r["pcap"].as_str()).collect();
    assert_eq!(pcaps.len(), 6, "one pcap per case: {pcaps:#?}");
    for p in &pcaps {
        let name = Path::new(p).file_name().expect("a file name");
        assert!(name.len() <= 255, "{p}");
        assert!(
            dir.path().join(p).is_file() || Path::new(p).is_file(),
            "{p} was not written"
        );
    }
    assert_eq!(support::dir_names(dir.path().join("pcaps")).len(), 6);
    let unique: BTreeSet<&String> = kept.0.iter().collect();
    assert_eq!((kept.0.len(), unique.len()), (12, 12), "{:#?}", kept.0);
    assert!(kept.0.iter().all(|n| n.len() < 255), "{:#?}", kept.0);
}

/// The namespaces under /run/netns now.
fn listed() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list")
            .stdout,
    )
    .into_owned()
}

#[test]
fn keep_names_every_namespace_of_a_loopback_or_nat_lab_and_removes_them_all() {
    require_root();
    let dir = ScratchDir::new("synlab-names-shapes");
    let out = synlab(
        dir.path(),
        &[
            "run",
            "reuse",
            "same-machine",
            "--filter",
            "ipv4",
            "--keep",
            "--json",
        ],
    );
    let kept = Kept::from(&out);
    let rows = rows(&out);
    assert!(rows.len() >= 2, "{}", show(&out));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let lines: Vec<&str> = std::str::from_utf8(&out.stderr)
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("kept: "))
        .collect();
    assert_eq!(
        lines.len(),
        rows.len(),
        "one kept line per case: {}",
        show(&out)
    );
    // Over loopback one namespace; behind a NAT the server, the router and
    // its client(s): every one named, every one there.
    assert!(kept.0.iter().any(|n| n.ends_with("-lab")), "{:#?}", kept.0);
    for label in ["-srv", "-router", "-cli"] {
        assert!(
            kept.0.iter().any(|n| n.ends_with(label)),
            "no {label}: {:#?}",
            kept.0
        );
    }
    let now = listed();
    for n in &kept.0 {
        assert!(
            now.contains(n.as_str()),
            "{n} is named but not there: {now}"
        );
    }
    drop(kept);
    let after = listed();
    assert!(
        !after.contains("synlab-restart.reuse") && !after.contains("synlab-nat.same-machine"),
        "{after}"
    );
}

#[test]
fn a_case_that_ends_in_an_error_leaves_no_kept_namespace() {
    require_root();
    let dir = ScratchDir::new("synlab-names-error");
    let timeouts = support::workspace().join("tests/timeout-scenarios");
    let out = synlab(
        dir.path(),
        &[
            "--scenarios-dir",
            timeouts.to_str().expect("UTF-8 path"),
            "run",
            "reconnect-past-deadline",
            "--keep",
            "--json",
        ],
    );
    let rows = rows(&out);
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["type"] == "error"),
        "the case times out: {}",
        show(&out)
    );
    let kept = Kept::from(&out);
    assert!(kept.0.is_empty(), "{:#?}", kept.0);
    let now = listed();
    assert!(
        !now.contains("reconnect-past-deadline"),
        "an errored case's namespaces are left: {now}"
    );
}

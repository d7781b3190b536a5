//! `synlab bench` killed (SIGINT, SIGTERM, SIGKILL) while an `ip` command of its
//! selftest-style lab runs leaves nothing behind (issue 19, item 5): no named
//! namespace of it in the host's /run/netns, no mount of one in any mount
//! namespace, no veth of it in the root namespace, /run/netns no more a mount
//! point than before. Needs root (the bench does), and iproute2, which
//! the test installs as root when it is missing.

mod support;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether /run/netns is a mount point (`ip netns add` makes it one).
fn run_netns_mounted() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mounts
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/run/netns"))
}

/// The pids whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Every mount namespace's mounts that name `needle` (an nsfs bind mount of a
/// named namespace shows its path there).
fn mounts_with(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let mounts = std::fs::read_to_string(entry.path().join("mountinfo")).unwrap_or_default();
        out.extend(
            mounts
                .lines()
                .filter(|l| l.contains(needle))
                .map(str::to_owned),
        );
    }
    out.sort();
    out.dedup();
    out
}

fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !done() {
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn exited(child: &mut Child) -> bool {
    child.try_wait().expect("wait for the bench").is_some()
}

/// Starts a bench, kills it with `signal` while one of its lab's `ip` commands
/// runs, and checks that the host is as it was.
fn killed_bench_leaves_nothing(signal: libc::c_int) {
    if let Err(e) = synlab::probe_privilege() {
        panic!("{e}");
    }
    assert!(
        support::is_root(),
        "synlab bench needs real root (ip netns add)"
    );
    let mounted = run_netns_mounted();
    let artifacts = support::ScratchDir::new("synlab-bench-leaks");
    let mut cmd = Command::new(support::synlab_bin());
    cmd.args(["bench", "--runs", "3", "--quick"])
        .env("SYNLAB_ARTIFACTS", artifacts.path())
        .current_dir(artifacts.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: signal() is async-signal-safe. A shell gives background jobs an
    // ignored SIGINT and exec keeps it: the bench would go on and end by
    // itself, and the test would pass without a kill; a user's Ctrl-C meets
    // the default action.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut bench = cmd.spawn().expect("start synlab bench");
    let names = format!("synlab-bench-{}-", bench.id());
    wait_until(
        "an ip command of the bench's lab",
        Duration::from_secs(60),
        || {
            assert!(!exited(&mut bench), "the bench ended before its lab");
            !processes_with(&names).is_empty()
        },
    );
    let pid = i32::try_from(bench.id()).expect("a pid");
    // SAFETY: kill(2) on our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill the bench");
    wait_until("the bench to exit", Duration::from_secs(10), || {
        exited(&mut bench)
    });
    // It was the signal that ended it, not the end of its work.
    let status = bench.wait().expect("the bench's exit status");
    assert_eq!(
        status.signal(),
        Some(signal),
        "signal {signal}: the bench ended with {status}, not by the signal"
    );
    // The `ip` command it was waiting for ends on its own.
    wait_until(
        "the bench's last ip command",
        Duration::from_secs(10),
        || processes_with(&names).is_empty(),
    );
    let netns = support::ip(&["netns", "list"]);
    assert!(
        !netns.contains(&names),
        "signal {signal}: ip netns list:\n{netns}"
    );
    let veths = support::ip(&["-o", "link", "show", "type", "veth"]);
    assert!(
        !veths.contains("syn-srv0"),
        "signal {signal}: root veths:\n{veths}"
    );
    assert_eq!(
        mounts_with(&names),
        Vec::<String>::new(),
        "signal {signal}: mounts left"
    );
    assert!(!Path::new("/run/netns").join(format!("{names}0-a")).exists());
    assert_eq!(
        run_netns_mounted(),
        mounted,
        "signal {signal}: /run/netns mounted"
    );
}

#[test]
fn a_bench_killed_by_sigint_sigterm_or_sigkill_leaves_nothing() {
    // One after the other: each looks at the same host.
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGKILL] {
        killed_bench_leaves_nothing(signal);
    }
}

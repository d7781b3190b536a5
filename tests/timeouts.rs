//! A case whose condition never comes ends at its deadline with a clear error:
//! what was awaited, after how long, and the segments last seen. Uses a scenario
//! kept out of `scenarios/` (it is meant to fail): the server namespace has no
//! TIME_WAIT buckets, so the TIME_WAIT the experiment waits for never appears.

mod support;

use std::time::Duration;

use synlab::scenario;
use synlab::{RunError, RunOptions, run_case};

// Without root, run in an unprivileged user namespace (rootless mode). The
// standard test harness starts threads before any test, so this must happen
// before main: see synlab::rootless.
support::enter_rootless_before_main!();

#[test]
fn a_time_wait_that_never_comes_is_a_timeout_with_what_was_seen() {
    if let Err(e) = synlab::probe_privilege() {
        panic!("{e}");
    }
    let file = support::workspace().join("tests/timeout-scenarios/timeouts/no-time-wait.toml");
    let s = scenario::load_file(&file).expect("the scenario parses");
    let case = &s.cases[0];
    assert_eq!(case.timeout, Duration::from_millis(300));

    let err = match run_case(case, &RunOptions::default()) {
        Ok(run) => panic!(
            "expected a timeout, the case ran:\n{}",
            synlab::report::text::render(&run)
        ),
        Err(e) => e,
    };
    // The report renders the segments the error carries.
    let msg = synlab::report::text::error(&err);
    assert!(matches!(err, RunError::Timeout { .. }), "{msg}");
    assert!(msg.contains("TIME_WAIT"), "names what it waited for: {msg}");
    assert!(
        msg.contains("timed out after 300 ms"),
        "names the deadline: {msg}"
    );
    // The first connection happened and is shown: SYN, SYN-ACK, both FINs.
    assert!(
        msg.contains("C > S  S "),
        "shows the segments last seen: {msg}"
    );
    assert!(msg.contains("S > C  F."), "shows the server's FIN: {msg}");
}

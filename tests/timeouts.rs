//! A case whose condition does not come in time ends at its deadline with a
//! clear error: what was awaited, after how long, and the segments last seen.
//! Uses a scenario kept out of `scenarios/` (it is meant to fail): a reconnect
//! asked for 1 s after the client's TIME_WAIT appeared, in a 300 ms case.

mod support;

use std::time::Duration;

use synlab::{RunError, RunOptions, run_case};

// Without root, run in an unprivileged user namespace (rootless mode). The
// standard test harness starts threads before any test, so this must happen
// before main: see synlab::rootless.
support::enter_rootless_before_main!();

#[test]
fn a_wait_past_the_deadline_is_a_timeout_with_what_was_seen() {
    if let Err(e) = synlab::probe_privilege() {
        panic!("{e}");
    }
    let file =
        support::workspace().join("tests/timeout-scenarios/timeouts/reconnect-past-deadline.toml");
    let s = synlab::load_file(&file).expect("the scenario parses");
    let case = &s.cases[0];
    assert_eq!(case.timeout, Duration::from_millis(300));

    let err = match run_case(case, &RunOptions::default()) {
        Ok(run) => panic!(
            "expected a timeout, the case ran:\n{}",
            synlab::render_text(&run)
        ),
        Err(e) => e,
    };
    // The report renders the segments the error carries.
    let msg = synlab::error_text(&err);
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

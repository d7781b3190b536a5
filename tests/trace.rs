//! The state trace end to end, through `synlab run --json` as a user runs it:
//! which states each side's sockets went through (a server that closes first,
//! on IPv4 and IPv6, with parallel cases on the same 4-tuple), the resets sent
//! and received, and that states and segments share one clock.
//!
//! Needs real root: the trace uses perf tracepoints, which rootless mode has
//! not (its rows say `state_source: sock_diag`). Without root it fails, saying so.

mod support;

use std::process::Command;

use serde_json::Value;

/// The case rows of `synlab run --json ARGS`, which must pass.
fn rows(args: &[&str]) -> Vec<Value> {
    support::require_root();
    let artifacts = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new(support::synlab_bin())
        .args(["run", "--json"])
        .args(args)
        .env("SYNLAB_ARTIFACTS", artifacts.path())
        .output()
        .expect("run synlab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "synlab run {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .filter(|r: &Value| r["type"] == "case")
        .collect();
    for row in &rows {
        assert_eq!(row["state_source"], "trace", "{}: {row}", row["case"]);
        assert!(
            row["trace_unavailable"].is_null(),
            "{}",
            row["trace_unavailable"]
        );
    }
    rows
}

/// One side's state changes, in time order: (old, new).
fn states<'a>(row: &'a Value, side: &str) -> Vec<(&'a str, &'a str)> {
    let all = row["states"].as_array().expect("states");
    all.iter()
        .filter(|s| s["side"] == side)
        .map(|s| (s["old"].as_str().unwrap(), s["new"].as_str().unwrap()))
        .collect()
}

/// When (ms on the report's timeline) `side` first went `old -> new`.
fn state_at(row: &Value, side: &str, old: &str, new: &str) -> f64 {
    let all = row["states"].as_array().expect("states");
    all.iter()
        .find(|s| s["side"] == side && s["old"] == old && s["new"] == new)
        .and_then(|s| s["t_ms"].as_f64())
        .unwrap_or_else(|| panic!("{}: no {side} {old} -> {new}: {row}", row["case"]))
}

/// When the `n`th segment (from 0) was captured, and its flags.
fn segment(row: &Value, n: usize) -> (f64, &str) {
    let s = &row["segments"][n];
    (
        s["t_ms"].as_f64().expect("t_ms"),
        s["flags"].as_str().expect("flags"),
    )
}

const SERVER_CLOSES_FIRST: [(&str, &str); 6] = [
    ("CLOSE", "LISTEN"),
    ("LISTEN", "SYN_RECV"),
    ("SYN_RECV", "ESTABLISHED"),
    ("ESTABLISHED", "FIN_WAIT1"),
    ("FIN_WAIT1", "FIN_WAIT2"),
    // tcp_time_wait(): a timewait socket takes over and the full socket is
    // done. No event says TIME_WAIT.
    ("FIN_WAIT2", "CLOSE"),
];
const CLIENT_CLOSES_SECOND: [(&str, &str); 5] = [
    ("CLOSE", "SYN_SENT"),
    ("SYN_SENT", "ESTABLISHED"),
    ("ESTABLISHED", "CLOSE_WAIT"),
    ("CLOSE_WAIT", "LAST_ACK"),
    ("LAST_ACK", "CLOSE"),
];

#[test]
fn parallel_cases_on_one_tuple_each_trace_their_own_close_first_connection() {
    // Four cases at once, all on 198.18.0.1:8888 <-> 198.18.0.2:12345 (or the
    // IPv6 pair) in their own namespaces: the event carries no namespace, and
    // each case must get its own sockets' changes and no other's.
    let rows = rows(&["ts-off", "ts-on", "-j", "4"]);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let case = &row["case"];
        let server = states(row, "server");
        let client = states(row, "client");
        assert_eq!(
            server[..6],
            SERVER_CLOSES_FIRST,
            "{case}: server {server:?}"
        );
        assert_eq!(
            client[..5],
            CLIENT_CLOSES_SECOND,
            "{case}: client {client:?}"
        );
        assert!(
            !server
                .iter()
                .chain(&client)
                .any(|(o, n)| [o, n].contains(&&"TIME_WAIT")),
            "{case}: a TIME_WAIT event"
        );
        let ends = |side: &str, port: &str| {
            let all = row["states"].as_array().unwrap();
            all.iter()
                .filter(|s| s["side"] == side)
                .all(|s| s["src"].as_str().unwrap().ends_with(port))
        };
        assert!(ends("server", ":8888") && ends("client", ":12345"), "{row}");
    }
    let families: Vec<&str> = rows.iter().map(|r| r["family"].as_str().unwrap()).collect();
    assert_eq!(
        (families.iter().filter(|f| **f == "ipv6").count()),
        2,
        "{families:?}"
    );
}

#[test]
fn state_changes_and_segments_are_on_one_clock() {
    // Cause and effect across the two observers: the client enters SYN_SENT
    // before its SYN reaches the server's veth, and ESTABLISHED after the
    // SYN-ACK left it; the server's child socket is made when the client's
    // ACK has arrived. The JSON rounds to the microsecond.
    const ROUNDING: f64 = 0.001;
    for row in rows(&["ts-off"]) {
        let case = &row["case"];
        let (syn, f0) = segment(&row, 0);
        let (syn_ack, f1) = segment(&row, 1);
        let (ack, f2) = segment(&row, 2);
        assert_eq!((f0, f1, f2), ("S", "S.", "."), "{case}: the handshake");
        let syn_sent = state_at(&row, "client", "CLOSE", "SYN_SENT");
        let established = state_at(&row, "client", "SYN_SENT", "ESTABLISHED");
        let child = state_at(&row, "server", "LISTEN", "SYN_RECV");
        assert!(
            syn_sent <= syn + ROUNDING,
            "{case}: SYN_SENT {syn_sent} ms, SYN {syn} ms"
        );
        assert!(
            established + ROUNDING >= syn_ack,
            "{case}: ESTABLISHED {established} ms, SYN-ACK {syn_ack} ms"
        );
        assert!(
            child + ROUNDING >= ack,
            "{case}: SYN_RECV {child} ms, ACK {ack} ms"
        );
    }
}

#[test]
fn a_linger0_close_traces_the_reset_sent_and_the_reset_received() {
    for row in rows(&["linger0-server"]) {
        let case = &row["case"];
        let server = states(&row, "server");
        assert_eq!(
            server[..4],
            [
                ("CLOSE", "LISTEN"),
                ("LISTEN", "SYN_RECV"),
                ("SYN_RECV", "ESTABLISHED"),
                // tcp_disconnect(): straight to CLOSE, no FIN_WAIT.
                ("ESTABLISHED", "CLOSE"),
            ],
            "{case}: server {server:?}"
        );
        let resets = row["resets"].as_array().expect("resets");
        let one = |side: &str, direction: &str| {
            let found: Vec<&Value> = resets
                .iter()
                .filter(|r| r["side"] == side && r["direction"] == direction)
                .collect();
            assert_eq!(found.len(), 1, "{case}: {side} {direction}: {resets:?}");
            found[0]
        };
        let sent = one("server", "sent");
        // The socket is in CLOSE by the time tcp_send_active_reset() runs.
        assert_eq!(sent["state"], "CLOSE", "{case}: {sent}");
        assert!(
            sent["reason"].is_null() || sent["reason"].is_string(),
            "{sent}"
        );
        one("client", "received");
    }
}

//! Scenario files from outside the project, written only with the keys of
//! Contracts 1, 3 and 5 (../shared/README.md), get the kernel's answers: a
//! listener restart, the last free ephemeral port over loopback, four
//! connections in a row, the same machine and a second one behind a NAT, run
//! as a user runs them (`synlab --scenarios-dir DIR run AREA --json`). Each
//! row must pass and carry the Contract 5 fields (`topology`, `bind`,
//! `nat_port`, `connections`) with the kernel's values; a wrong expectation in
//! the same folder fails, naming its line. Every row, the wrong one included,
//! has a why from synlab's model naming the kernel function that decided (the
//! NAT's port choice among them), and the model agrees with the kernel.
//!
//! Runs real cases: root, or rootless mode (synlab enters a user namespace).

mod support;

use serde_json::Value;
use support::{ScratchDir, assert_failed_check, run_outside};

/// (file, text): each as someone outside the project would write it.
const FILES: [(&str, &str); 5] = [
    (
        "restart.toml",
        r#"description = "The server restarts while its TIME_WAIT holds the port."
[listener]
options = ["plain", "reuseaddr"]
restart = "reuseaddr"
[connection]
family = ["ipv4", "ipv6"]
[expect]
bind = "EADDRINUSE"
time_wait_after = true
[[expect.when]]
match = { listener = "reuseaddr" }
bind = "ok"
"#,
    ),
    (
        "last-port.toml",
        r#"description = "Two ephemeral ports, both in the client's TIME_WAIT, over loopback."
[topology]
kind = "loopback"
[client]
sysctl = { "net.ipv4.ip_local_port_range" = "41000 41001", "net.ipv4.tcp_tw_reuse" = [0, 2] }
[connection]
closes_first = "client"
client_port = "ephemeral"
count = 2
[reconnect]
port = "ephemeral"
after_ms = 1100
[expect]
connect = "EADDRNOTAVAIL"
[[expect.when]]
match = { "client.tcp_tw_reuse" = 2 }
connect = "ok"
"#,
    ),
    (
        "same-machine.toml",
        r#"description = "nc -p again from the same machine behind a NAT."
[topology]
kind = "nat"
[connection]
family = ["ipv4", "ipv6"]
[expect]
nat_port = "kept"
answer = "syn-ack"
"#,
    ),
    (
        "second-machine.toml",
        r#"description = "A second machine behind the NAT on the same port."
[topology]
kind = "nat"
clients = 2
[sysctl]
"net.ipv4.tcp_timestamps" = 2
[second_syn]
from = "client2"
[expect]
nat_port = "remapped"
time_wait_after = true
"#,
    ),
    (
        "wrong.toml",
        r#"description = "Expects what the kernel does not do: it must fail."
[listener]
options = "plain"
restart = "plain"
[expect]
bind = "ok"
"#,
    ),
];

#[test]
fn outside_scenarios_written_to_contract_5_get_the_kernels_answers() {
    let dir = ScratchDir::new("synlab-contract5");
    dir.area("questions", &FILES);
    let run = run_outside(dir.path(), "questions");
    let context = run.context.clone();
    assert_eq!(run.code, Some(1), "wrong.toml fails\n{context}");
    let all = run.rows.clone();
    let rows = run.cases();
    let row = |case: &str| -> &Value {
        rows.iter()
            .find(|r| r["case"] == case)
            .unwrap_or_else(|| panic!("no row for {case}\n{context}"))
    };

    // restart 4, last-port 2, same-machine 2, second-machine 1, wrong 1.
    assert_eq!(rows.len(), 10, "{context}");
    for r in rows.iter().filter(|r| r["scenario"] != "wrong") {
        assert_eq!(
            r["verdict"], "pass",
            "{}: {}\n{context}",
            r["case"], r["checks"]
        );
    }

    let restart = row("restart/listener=plain/ipv4");
    assert_eq!(restart["event"]["kind"], "restart");
    assert_eq!(restart["bind"], "EADDRINUSE");
    assert_eq!(restart["topology"], "veth");
    assert_eq!(row("restart/listener=reuseaddr/ipv6")["bind"], "ok");

    let reused = row("last-port/client.tcp_tw_reuse=2");
    assert_eq!(reused["topology"], "loopback");
    assert_eq!(reused["connect"], "ok");
    let ports: Vec<u64> = reused["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("connections\n{context}"))
        .iter()
        .map(|c| c["client_port"].as_u64().unwrap_or(0))
        .collect();
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [41000, 41001], "each port once: {ports:?}");
    assert_eq!(
        row("last-port/client.tcp_tw_reuse=0")["connect"],
        "EADDRNOTAVAIL"
    );

    for case in ["same-machine/ipv4", "same-machine/ipv6"] {
        let r = row(case);
        assert_eq!(
            (&r["topology"], &r["nat_port"]),
            (&"nat".into(), &"kept".into()),
            "{case}"
        );
        let states: Vec<&str> = r["conntrack"]
            .as_array()
            .unwrap_or_else(|| panic!("conntrack readings in {case}\n{context}"))
            .iter()
            .filter_map(|c| c["state"].as_str())
            .collect();
        assert_eq!(
            states,
            ["TIME_WAIT", "ESTABLISHED"],
            "{case}: conntrack before and after the new SYN"
        );
    }
    let second = row("second-machine");
    assert_eq!(second["nat_port"], "remapped");
    assert_eq!(second["time_wait_after"], true);

    // synlab's model: agreement with the kernel on every row (the wrong
    // expectation's verdict is the scenario's, the agreement the model's),
    // and a why that names the functions that decided.
    for r in &rows {
        let k = &r["rules"]["kernel"];
        assert_eq!(k["agrees"], true, "{}: {k}\n{context}", r["case"]);
        assert!(
            k["checked"].as_u64().is_some_and(|n| n > 0),
            "{}: {k}",
            r["case"]
        );
    }
    let why = |case: &str| {
        row(case)["rules"]["kernel"]["why"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for (case, function) in [
        ("second-machine", "nf_nat_l4proto_unique_tuple()"),
        ("same-machine/ipv4", "get_unique_tuple()"),
        ("restart/listener=plain/ipv4", "inet_csk_bind_conflict()"),
        ("last-port/client.tcp_tw_reuse=2", "tcp_twsk_unique()"),
    ] {
        assert!(
            why(case).contains(function),
            "{case}: {function} not in {:?}",
            why(case)
        );
    }
    let summary = all.last().expect("a summary row");
    assert_eq!(
        summary["model"],
        serde_json::json!({ "agree": 10, "cases": 10, "differ": [] }),
        "{context}"
    );

    let wrong = row("wrong");
    assert_failed_check(
        wrong,
        "bind",
        ("ok", "EADDRINUSE"),
        "wrong.toml:6:8",
        &context,
    );
}

//! Scenario files from outside the project, written only with the keys of
//! Contracts 1, 3 and 5 (../shared/README.md), get the kernel's answers: a
//! folder of its own with a retransmitted FIN, an RST at rcv_nxt, a SYN-ACK,
//! a client's `nc -p` again with timestamps on and off, a linger0 close, a
//! restarted listener and a reconnect over loopback, run as a user runs them
//! (`synlab --scenarios-dir DIR run --all --json`). Each row must pass and
//! carry the Contract 3 fields (`event`, `timer_restarted`, `connect`) with
//! the kernel's values; a wrong expectation in the same folder must fail,
//! naming its line. Every row, the wrong one included, has a why naming a
//! kernel function from synlab's model, and the model agrees with the kernel
//! (`rules.kernel.agrees`, and the summary row's `model`).
//!
//! Runs real cases: root, or rootless mode (synlab enters a user namespace).

mod support;

use serde_json::Value;
use support::{ScratchDir, assert_failed_check, run_outside};

/// (file, text): each as someone outside the project would write it.
const FILES: [(&str, &str); 8] = [
    (
        "fin-again.toml",
        r#"description = "The client's FIN again (a retransmission) at rcv_nxt - 1."
[client]
kind = "raw"
[connection]
family = ["ipv4", "ipv6"]
[segment]
flags = "F."
seq = "rcv_nxt - 1"
[expect]
answer = "ack"
time_wait_after = true
timer_restarted = true
"#,
    ),
    (
        "rst-kills.toml",
        r#"description = "An RST at rcv_nxt with tcp_rfc1337 = 0 ends TIME_WAIT."
[server]
sysctl = { "net.ipv4.tcp_rfc1337" = 0 }
[client]
kind = "raw"
[connection]
family = ["ipv4", "ipv6"]
[segment]
flags = "R"
seq = "rcv_nxt"
[expect]
answer = "none"
time_wait_after = false
"#,
    ),
    (
        "syn-ack.toml",
        r#"description = "A SYN-ACK at a TIME_WAIT socket."
[client]
kind = "raw"
[connection]
family = ["ipv4", "ipv6"]
[segment]
flags = "S."
seq = "rcv_nxt"
ack = "snd_nxt"
[expect]
answer = "ack"
time_wait_after = true
timer_restarted = true
"#,
    ),
    (
        "nc-p-again.toml",
        r#"description = "The client closed first; nc -p with the same port."
[client]
kind = "kernel"
sysctl = { "net.ipv4.tcp_timestamps" = [1, 0] }
[server]
sysctl = { "net.ipv4.tcp_timestamps" = 1 }
[connection]
closes_first = "client"
family = ["ipv4", "ipv6"]
[reconnect]
port = "bind"
after_ms = 0
[expect]
connect = "ok"
"#,
    ),
    (
        "linger0.toml",
        r#"description = "The server closes with SO_LINGER {1, 0}: an RST, no TIME_WAIT."
[connection]
close = "linger0"
family = ["ipv4", "ipv6"]
[expect]
answer = "syn-ack"
time_wait_after = false
"#,
    ),
    (
        "restart.toml",
        r#"description = "The server restarts its listener while its TIME_WAIT holds the port."
[listener]
options = ["plain", "reuseaddr"]
restart = "reuseaddr"
[expect]
bind = "EADDRINUSE"
[[expect.when]]
match = { listener = "reuseaddr" }
bind = "ok"
"#,
    ),
    (
        "loopback-reuse.toml",
        r#"description = "Over loopback, tcp_tw_reuse = 2 (the default) lets connect() take the client's TIME_WAIT over."
[topology]
kind = "loopback"
[connection]
family = ["ipv4", "ipv6"]
closes_first = "client"
[reconnect]
port = "ephemeral"
after_ms = 1100
[expect]
connect = "ok"
"#,
    ),
    (
        "wrong.toml",
        r#"description = "Expects what the kernel does not do: it must fail."
[client]
kind = "raw"
[segment]
flags = "F."
seq = "rcv_nxt - 1"
[expect]
answer = "rst"
"#,
    ),
];

#[test]
fn outside_scenarios_written_to_contract_3_get_the_kernels_answers() {
    let dir = ScratchDir::new("synlab-contract3");
    let area = dir.area("outside", &FILES);
    let mut text = FILES[3].1.to_string();
    // Timestamps off on the client: nothing to tell the old connection's
    // segments from the new one's, so connect() gets EADDRNOTAVAIL.
    text.push_str(
        "[[expect.when]]\nmatch = { \"client.tcp_timestamps\" = 0 }\nconnect = \"EADDRNOTAVAIL\"\n",
    );
    std::fs::write(area.join("nc-p-again.toml"), text).expect("write");

    let run = run_outside(dir.path(), "outside");
    let context = run.context.clone();
    assert_eq!(run.code, Some(1), "wrong.toml fails\n{context}");
    let all = run.rows.clone();
    let rows = run.cases();
    let row = |case: &str| -> &Value {
        rows.iter()
            .find(|r| r["case"] == case)
            .unwrap_or_else(|| panic!("no row for {case}\n{context}"))
    };
    let passed = |r: &Value| r["verdict"] == "pass";

    // IPv4 and IPv6 of each file, both timestamps for nc-p-again, both first
    // listeners for restart (IPv4), and the one wrong case (IPv4, the default).
    assert_eq!(rows.len(), 17, "{context}");
    for r in rows.iter().filter(|r| r["scenario"] != "wrong") {
        assert!(
            passed(r),
            "{} {}: {}\n{context}",
            r["case"],
            r["verdict"],
            r["checks"]
        );
    }

    let fin = row("fin-again/ipv4");
    assert_eq!(fin["event"]["flags"], "F.");
    assert_eq!(fin["event"]["seq_vs_rcv_nxt"], -1);
    assert_eq!(fin["answer"], "ack");
    assert_eq!(fin["timer_restarted"], true);

    let rst = row("rst-kills/ipv6");
    assert_eq!(rst["event"]["flags"], "R");
    assert_eq!(
        (&rst["answer"], &rst["time_wait_after"]),
        (&"none".into(), &false.into())
    );

    let synack = row("syn-ack/ipv4");
    assert_eq!(synack["event"]["ack_vs_snd_nxt"], 0);
    assert_eq!(synack["answer"], "ack");

    let ts_on = row("nc-p-again/client.tcp_timestamps=1/ipv4");
    assert_eq!(ts_on["event"]["kind"], "reconnect");
    assert_eq!(ts_on["connect"], "ok", "{context}");
    let ts_off = row("nc-p-again/client.tcp_timestamps=0/ipv6");
    assert_eq!(ts_off["connect"], "EADDRNOTAVAIL", "{context}");

    let restart = row("restart/listener=plain");
    assert_eq!(restart["event"]["kind"], "restart");
    assert_eq!(restart["bind"], "EADDRINUSE", "{context}");
    assert_eq!(row("restart/listener=reuseaddr")["bind"], "ok", "{context}");
    for family in ["ipv4", "ipv6"] {
        let lo = row(&format!("loopback-reuse/{family}"));
        assert_eq!(lo["topology"], "loopback");
        assert_eq!(lo["connect"], "ok", "{context}");
        let why = lo["why"].as_str().unwrap_or_default();
        assert!(why.contains("this is loopback"), "{why}");
    }

    // synlab's model: a why naming the kernel function of each step, and
    // agreement with the kernel in every case, the wrong expectation's too
    // (the verdict is the scenario's, the model's agreement the model's).
    let function = |why: &str| {
        why.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == ')'))
            .any(|w| w.len() > 2 && w.ends_with("()") && w[..w.len() - 2].contains('_'))
    };
    for r in &rows {
        let k = &r["rules"]["kernel"];
        let why = k["why"].as_str().unwrap_or_default();
        assert!(
            function(why),
            "{}: no kernel function in {why:?}",
            r["case"]
        );
        assert_eq!(r["why"], k["why"], "{}", r["case"]);
        assert_eq!(k["agrees"], true, "{}: {k}\n{context}", r["case"]);
        assert_eq!(k["differs"], serde_json::json!([]), "{}", r["case"]);
        assert!(
            k["checked"].as_u64().is_some_and(|n| n > 0),
            "{}: {k}",
            r["case"]
        );
    }
    let summary = all.last().expect("a summary row");
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        summary["model"],
        serde_json::json!({ "agree": 17, "cases": 17, "differ": [] }),
        "{context}"
    );

    let linger = row("linger0/ipv4");
    assert_eq!(linger["time_wait_side"], Value::Null, "no TIME_WAIT");
    assert_eq!(linger["answer"], "syn-ack");

    for r in rows.iter().filter(|r| r["scenario"] == "wrong") {
        assert_failed_check(r, "answer", ("rst", "ack"), "wrong.toml:8:10", &context);
    }
}

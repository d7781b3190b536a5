//! Contract 2: every field of the row, its type and its value, so that a
//! rename, a removal or a change of unit fails here first.

use super::*;
use crate::report::fixtures::{case_run, challenge_segments, rich_run};
use serde_json::json;

/// The JSON line of one case as `synlab run --json` prints it, with
/// `pcap` when one was written.
fn row(run: &CaseRun, pcap: Option<&Path>) -> Value {
    serde_json::to_value(Row::Case(Box::new(case_row(run, pcap)))).unwrap_or(Value::Null)
}

/// The JSON object for one case.
fn case(run: &CaseRun) -> Value {
    row(run, None)
}

/// Every top-level key of a case row, sorted, as the checked-in contract
/// (docs/report.schema.json, which tests/cli.rs holds to the row types) names
/// them: all its properties but the three written only with content (`pcap`
/// when one was written ([`row`]), `connections`, `conntrack`).
fn row_keys() -> Vec<String> {
    let schema: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/report.schema.json"
    )))
    .expect("docs/report.schema.json is JSON");
    let case = schema["oneOf"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["properties"]["type"]["const"] == "case")
        })
        .expect("the schema has a case row");
    let mut keys: Vec<String> = case["properties"]
        .as_object()
        .expect("its properties")
        .keys()
        .filter(|k| !["pcap", "connections", "conntrack"].contains(&k.as_str()))
        .cloned()
        .collect();
    keys.sort_unstable();
    assert_eq!(keys.len(), 44, "{keys:?}");
    keys
}

const SEGMENT_KEYS: [&str; 12] = [
    "ack",
    "ack_abs",
    "direction",
    "flags",
    "len",
    "seq",
    "seq_abs",
    "t_ms",
    "tsecr",
    "tsval",
    "tsval_rel",
    "win",
];

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// A segment's row as contract 2 names its fields (win 64240, no payload,
/// as `wire::test_segment` builds them); `ts` is (tsval, tsecr, tsval_rel).
fn segment(
    t_ms: f64,
    (direction, flags): (&str, &str),
    (seq, ack): (i64, Option<i64>),
    (seq_abs, ack_abs): (u32, u32),
    ts: Option<(u32, u32, i64)>,
) -> Value {
    json!({
        "t_ms": t_ms,
        "direction": direction,
        "flags": flags,
        "seq": seq,
        "ack": ack,
        "seq_abs": seq_abs,
        "ack_abs": ack_abs,
        "win": 64240,
        "tsval": ts.map(|t| t.0),
        "tsecr": ts.map(|t| t.1),
        "tsval_rel": ts.map(|t| t.2),
        "len": 0,
    })
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("an array: {v}"))
}

#[test]
fn row_has_exactly_the_contract_keys() {
    let want = row_keys();
    let plain = case_run(challenge_segments(), "plain");
    assert_eq!(keys(&case(&plain)), want);
    assert_eq!(
        keys(&case(&rich_run())),
        want,
        "the same keys, filled or not"
    );
    assert_eq!(keys(&row(&plain, None)), want, "no pcap written, no key");
    let with = row(&plain, Some(Path::new("/tmp/synlab/x.pcap")));
    let mut want = want.clone();
    want.push("pcap".to_owned());
    want.sort_unstable();
    assert_eq!(keys(&with), want);
    assert_eq!(with["pcap"], json!("/tmp/synlab/x.pcap"));
    for s in array(&case(&plain)["segments"]) {
        assert_eq!(keys(s), SEGMENT_KEYS);
    }
}

#[test]
fn the_event_and_the_reopened_isn_have_their_contract_shape() {
    let plain = case(&case_run(challenge_segments(), "plain"));
    assert_eq!(
        keys(&plain["event"]),
        [
            "ack_vs_snd_nxt",
            "flags",
            "kind",
            "len",
            "seq_vs_rcv_nxt",
            "tsval_vs_ts_recent"
        ]
    );
    assert_eq!(plain["event"]["kind"], json!("syn"));
    assert_eq!(plain["event"]["flags"], json!("S"));
    assert_eq!(plain["event"]["ack_vs_snd_nxt"], json!(null));
    assert_eq!(
        plain["event"]["seq_vs_rcv_nxt"],
        plain["second_syn"]["seq_vs_rcv_nxt"]
    );
    assert_eq!(
        keys(&plain["reopen_isn"]),
        ["from_time_wait", "seq_vs_snd_nxt"]
    );
    assert_eq!(keys(&plain["timer"]), ["after_ms", "before_ms"]);
}

/// Two rows: `plain` (timestamps off, the challenge ACK, a RST and a retried
/// SYN that gets in; it passes) and `rich` (every optional part: timestamps,
/// forced ISN, client counters, an unavailable counter, states, resets,
/// sock_diag snapshots; a counter mismatch fails it).
fn rows() -> (CaseRun, Value, CaseRun, Value) {
    let plain = case_run(challenge_segments(), "plain");
    let rich = rich_run();
    let (p, r) = (case(&plain), case(&rich));
    (plain, p, rich, r)
}

#[test]
fn values_of_the_fields_in_two_rows() {
    let (_, plain, _, rich) = rows();
    let none = Value::Null;
    for (key, p, r) in [
        ("scenario", json!("synthetic"), json!("rich")),
        (
            "case",
            json!("synthetic"),
            json!("rich/server.tcp_rfc1337=1"),
        ),
        (
            "trial",
            json!("timewait::synthetic::default"),
            json!("timewait::rich::server.tcp_rfc1337=1"),
        ),
        (
            "file",
            json!("/scenarios/timewait/synthetic.toml"),
            json!("/scenarios/timewait/rich.toml"),
        ),
        ("kernel", json!("6.18.0-test"), json!("6.18.0-test")),
        ("family", json!("ipv4"), json!("ipv4")),
        ("answer", json!("ack"), json!("syn-ack")),
        ("client_syns", json!(2), json!(1)),
        ("established", json!(true), json!(false)),
        // 16.641 ms - 3.843 ms between the two SYNs; one SYN, no gap.
        ("retry_gap_ms", json!(12.798), none.clone()),
        ("time_wait_after", json!(false), json!(true)),
        (
            "peer_notes",
            json!(["sent <RST> & stopped"]),
            json!(["first note", "second note"]),
        ),
        // Relative to the TIME_WAIT socket; the ISN forced with TCP_REPAIR, absolute.
        (
            "second_syn",
            json!({ "seq_vs_rcv_nxt": -1000, "tsval_vs_ts_recent": null, "forced_isn": null }),
            json!({ "seq_vs_rcv_nxt": 89998, "tsval_vs_ts_recent": 3, "forced_isn": 1_000_000 }),
        ),
        // Absolute: the plain client's rcv_nxt wrapped past 2^32 to 0.
        (
            "time_wait",
            json!({ "rcv_nxt": 0, "snd_nxt": 5002, "ts_recent": null }),
            json!({ "rcv_nxt": 1002, "snd_nxt": 900_002, "ts_recent": 3_000_000_001u32 }),
        ),
        // Every changed counter, not only the TCP ones the text shows.
        (
            "counters",
            json!({ "IpExt.InOctets": 400, "Tcp.OutSegs": 2, "Tcp.PassiveOpens": 1 }),
            json!({ "Tcp.PassiveOpens": 1, "TcpExt.PAWSTimewait": 3 }),
        ),
        (
            "client_counters",
            json!({}),
            json!({ "Ip.InReceives": 9, "TcpExt.TCPTimeouts": 2 }),
        ),
        (
            "unavailable_counters",
            json!([]),
            json!(["TcpExt.TCPAOGood"]),
        ),
        ("state_source", json!("trace"), json!("sock_diag")),
        ("trace_unavailable", none.clone(), json!("no tracefs")),
        ("duration_ms", json!(77.0), json!(77.0)),
        ("pass", json!(true), json!(false)),
        ("verdict", json!("pass"), json!("fail")),
        ("time_wait_side", json!("server"), json!("server")),
        ("connect", none.clone(), none.clone()),
        (
            "timer",
            json!({ "before_ms": null, "after_ms": null }),
            json!({ "before_ms": null, "after_ms": null }),
        ),
    ] {
        assert_eq!((key, &plain[key]), (key, &p), "plain");
        assert_eq!((key, &rich[key]), (key, &r), "rich");
    }
    // Units and types a consumer relies on.
    assert!(plain["client_syns"].is_u64());
    assert!(plain["retry_gap_ms"].is_f64() && plain["duration_ms"].is_f64());
    assert!(plain["second_syn"]["seq_vs_rcv_nxt"].is_i64());
}

#[test]
fn rules_kernel_is_the_model_held_against_the_kernel() {
    let (plain_run, plain, rich_run, rich) = rows();
    for (run, v, answer) in [(&plain_run, &plain, "ack"), (&rich_run, &rich, "syn-ack")] {
        let why = run.prediction.why();
        let folklore = run.outcome.folklore_rule.as_ref().expect("a folklore rule");
        assert_eq!(v["why"], json!(why), "the top-level why is the model's");
        assert_eq!(keys(&v["rules"]), ["folklore", "inputs", "kernel"]);
        let k = &v["rules"]["kernel"];
        assert_eq!(
            keys(k),
            ["agrees", "answer", "checked", "differs", "steps", "why"]
        );
        assert_eq!((&k["answer"], &k["why"]), (&json!(answer), &json!(why)));
        assert!(
            why.contains("tcp_timewait_state_process()"),
            "the why names the kernel function: {why}"
        );
        let steps = array(&k["steps"]);
        assert_eq!(steps.len(), run.prediction.steps.len());
        for s in steps {
            assert_eq!(keys(s), ["branch", "file", "function"]);
        }
        assert_eq!(k["checked"], json!(run.agreement.checked()));
        assert_eq!(
            v["rules"]["folklore"],
            json!({ "answer": answer, "why": folklore.why })
        );
    }
    // The plain case is what the kernel does; the rich one's synthetic
    // evidence is not (among others, TcpExt.PAWSTimewait 3 where the
    // model says 0, and no established connection after a SYN-ACK).
    assert_eq!(plain["rules"]["kernel"]["agrees"], json!(true));
    assert_eq!(plain["rules"]["kernel"]["differs"], json!([]));
    assert_eq!(rich["rules"]["kernel"]["agrees"], json!(false));
    let differs = array(&rich["rules"]["kernel"]["differs"]);
    assert_eq!(differs.len(), rich_run.agreement.differences().count());
    for want in [
        json!({ "field": "counters.TcpExt.PAWSTimewait", "predicted": "0", "seen": "3" }),
        json!({ "field": "established", "predicted": "true", "seen": "false" }),
    ] {
        assert!(differs.contains(&want), "{want} in {differs:?}");
    }
    // What the server knew and what the SYN carried, absolute.
    assert_eq!(
        plain["rules"]["inputs"],
        json!({
            "seq": 4_294_966_296u32,
            "rcv_nxt": 0,
            "tsval": null,
            "ts_recent": null,
            "server_ts_on": false,
        })
    );
    assert_eq!(
        rich["rules"]["inputs"],
        json!({
            "seq": 91000,
            "rcv_nxt": 1002,
            "tsval": 3_000_000_004u32,
            "ts_recent": 3_000_000_001u32,
            "server_ts_on": true,
        })
    );
}

#[test]
fn checks_name_field_location_expected_and_seen() {
    let (_, plain, _, rich) = rows();
    let loc = |l: &str| format!("/scenarios/timewait/synthetic.toml:{l}");
    assert_eq!(
        plain["checks"],
        json!([
            { "field": "answer", "loc": loc("7:10"), "expected": "ack", "seen": "ack", "ok": true },
            { "field": "client_syns", "loc": loc("8:15"), "expected": "2", "seen": "2", "ok": true },
            {
                "field": "counters.TcpExt.PAWSTimewait", "loc": loc("9:38"),
                "expected": "0", "seen": "0", "ok": true
            },
        ])
    );
    let checks = array(&rich["checks"]);
    let fields: Vec<&Value> = checks.iter().map(|c| &c["field"]).collect();
    assert_eq!(
        fields,
        [
            "answer",
            "client_syns",
            "time_wait_after",
            "counters.TcpExt.PAWSTimewait"
        ]
    );
    assert_eq!(
        checks[3],
        json!({
            "field": "counters.TcpExt.PAWSTimewait",
            "loc": "/scenarios/timewait/rich.toml:11:38",
            "expected": "0",
            "seen": "3",
            "ok": false,
        })
    );
}

#[test]
fn segments_carry_relative_and_absolute_numbers() {
    let (_, plain, _, rich) = rows();
    let segs = array(&plain["segments"]);
    assert_eq!(segs.len(), 12);
    let want = [
        // The first SYN: relative seq 0 (the client ISN 2^32 - 2), no ack without ACK.
        (0, 0.0, ("c>s", "S"), (0, None), (4_294_967_294, 0)),
        // The SYN that hit TIME_WAIT, and the server's challenge ACK.
        (6, 3.843, ("c>s", "S"), (-998, None), (4_294_966_296, 0)),
        (7, 3.855, ("s>c", "."), (2, Some(2)), (5002, 0)),
        // The retried SYN-ACK: server seq relative to the server's first ISN.
        (
            10,
            16.664,
            ("s>c", "S."),
            (65000, Some(-997)),
            (70000, 4_294_966_297),
        ),
    ];
    for (i, t_ms, kind, rel, abs) in want {
        assert_eq!(segs[i], segment(t_ms, kind, rel, abs, None), "segment {i}");
    }
    // Timestamps: absolute tsval/tsecr, tsval relative to the sender's first.
    assert_eq!(array(&rich["segments"]).len(), 8);
    assert_eq!(
        rich["segments"][7],
        segment(
            4.01,
            ("s>c", "S."),
            (-899_995, Some(90001)),
            (5, 91001),
            Some((11, 3_000_000_004, 4))
        )
    );
    for s in array(&rich["segments"]) {
        assert_eq!(keys(s), SEGMENT_KEYS);
    }
}

#[test]
fn states_resets_and_snapshots() {
    let (_, plain, _, rich) = rows();
    for key in ["states", "resets", "snapshots"] {
        assert_eq!((key, &plain[key]), (key, &json!([])));
    }
    // States keep the kernel's names (FIN_WAIT2 -> CLOSE, not TIME_WAIT).
    let (src, dst) = ("198.18.0.1:8888", "198.18.0.2:12345");
    assert_eq!(
        rich["states"],
        json!([
            { "t_ms": 0.045, "side": "client", "old": "FIN_WAIT1", "new": "FIN_WAIT2", "src": src, "dst": dst },
            { "t_ms": 0.052, "side": "server", "old": "FIN_WAIT2", "new": "CLOSE", "src": src, "dst": dst },
            { "t_ms": 3.99, "side": null, "old": "CLOSE", "new": "SYN_SENT", "src": src, "dst": dst },
        ])
    );
    assert_eq!(
        rich["resets"],
        json!([{
            "t_ms": 0.06, "side": "server", "direction": "sent",
            "state": "TIME_WAIT", "reason": "NOT_SPECIFIED",
        }])
    );
    assert_eq!(
        rich["snapshots"],
        json!([
            { "t_ms": 0.5, "ss": "TIME-WAIT 0 0 198.18.0.1:8888 198.18.0.2:12345" },
            { "t_ms": 4.5, "ss": "ESTAB 0 0 198.18.0.1:8888 198.18.0.2:12345" },
        ])
    );
}

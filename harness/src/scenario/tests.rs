//! Tests of the whole path from scenario text to cases: parsing, matrix, `when`, errors
//! with their exact positions, discovery on a temporary tree. No privilege needed.

use std::path::Path;
use std::time::Duration;

use super::*;

const FILE: &str = "scenarios/timewait/x.toml";

fn parse(src: &str) -> Result<Scenario, ScenarioError> {
    parse_str(Path::new(FILE), src)
}

fn names(s: &Scenario) -> Vec<&str> {
    s.cases.iter().map(|c| c.name.as_str()).collect()
}

/// The first error's line, column and field, and the whole message.
fn error_at(src: &str) -> (usize, usize, String, String) {
    let err = match parse(src) {
        Ok(s) => panic!("expected an error, got {} cases", s.cases.len()),
        Err(e) => e,
    };
    let shown = err.to_string();
    let first = err.errors().next().expect("at least one error");
    let field = match first {
        ScenarioError::Invalid { field, .. } => field.clone(),
        _ => String::new(),
    };
    let loc = first.loc().expect("a position");
    assert!(
        shown.starts_with(&format!("{FILE}:{}:{}: ", loc.line, loc.column)),
        "{shown}"
    );
    (loc.line, loc.column, field, shown)
}

const FULL: &str = r#"# The example of the format.
description = "A SYN below rcv_nxt gets the challenge ACK."
kernel_ref = "tcp_timewait_state_process() in net/ipv4/tcp_minisocks.c"
timeout_ms = 3000

[sysctl]
"net.ipv4.tcp_timestamps" = 1

[server]
sysctl = { "net.ipv4.tcp_rfc1337" = 1 }

[client]
kind = "raw"
sysctl = { "net.ipv4.tcp_timestamps" = true, "net.ipv4.conf.all.rp_filter" = 0 }

[connection]
port = 8080
client_port = 40000
family = "ipv6"

[second_syn]
seq = "rcv_nxt - 1000"
tsval = "ts_recent + 10"

[expect]
answer = "ack"
client_syns = 2
time_wait_after = false
counters = { "TcpExt.PAWSTimewait" = 0, "Tcp.OutRsts" = 1 }
"#;

#[test]
fn full_example_parses() {
    let s = parse(FULL).expect("valid");
    assert_eq!(s.area, "timewait");
    assert_eq!(s.name, "x");
    assert_eq!(
        s.kernel_ref.as_deref(),
        Some("tcp_timewait_state_process() in net/ipv4/tcp_minisocks.c")
    );
    assert_eq!(names(&s), ["x"]);
    let c = &s.cases[0];
    assert_eq!(c.trial_name(), "timewait::x::default");
    assert!(c.values.is_empty());
    assert_eq!(c.timeout, Duration::from_millis(3000));
    assert_eq!(c.client_kind, ClientKind::Raw);
    assert_eq!(c.family, Family::V6);
    assert_eq!((c.port, c.client_port.fixed()), (8080, Some(40000)));
    let crate::event::Event::Syn(syn) = &c.event else {
        panic!("a SYN: {:?}", c.event)
    };
    assert_eq!(syn.seq.value, SeqExpr::RcvNxt(-1000));
    assert_eq!((syn.seq.loc.line, syn.seq.loc.column), (22, 7));
    assert_eq!(syn.tsval.value, TsExpr::TsRecent(10));
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pairs(&c.server_sysctl),
        ["net.ipv4.tcp_timestamps=1", "net.ipv4.tcp_rfc1337=1"]
    );
    // The client's own entry wins (and a boolean is written as 1).
    assert_eq!(
        pairs(&c.client_sysctl),
        ["net.ipv4.tcp_timestamps=1", "net.ipv4.conf.all.rp_filter=0"]
    );
    assert_eq!(
        c.sysctl(crate::wire::Side::Server, "net.ipv4.tcp_rfc1337"),
        Some("1")
    );
    let e = &c.expect;
    assert_eq!(
        e.get("answer").map(|a| a.value.to_string()),
        Some("ack".to_owned())
    );
    assert_eq!(e.get("answer").map(|a| a.loc.line), Some(26));
    assert_eq!(
        e.get("client_syns").map(|a| a.value.to_string()),
        Some("2".to_owned())
    );
    assert_eq!(
        e.get("time_wait_after").map(|a| a.value.to_string()),
        Some("false".to_owned())
    );
    let counters: Vec<_> = e.counters.iter().map(|c| c.value.clone()).collect();
    assert_eq!(
        counters,
        [
            ("TcpExt.PAWSTimewait".to_owned(), 0),
            ("Tcp.OutRsts".to_owned(), 1)
        ]
    );
}

#[test]
fn defaults() {
    let s = parse("description = \"d\"\n[expect]\nanswer = \"syn-ack\"\n").expect("valid");
    let c = &s.cases[0];
    assert_eq!(c.timeout, Duration::from_millis(5000));
    assert_eq!(c.client_kind, ClientKind::Kernel);
    assert_eq!(c.family, Family::V4);
    assert_eq!((c.port, c.client_port.fixed()), (8888, Some(12345)));
    let crate::event::Event::Syn(syn) = &c.event else {
        panic!("a SYN: {:?}", c.event)
    };
    assert_eq!(syn.seq.value, SeqExpr::Auto);
    assert_eq!(syn.tsval.value, TsExpr::Auto);
    assert!(c.server_sysctl.is_empty() && c.client_sysctl.is_empty());
    assert_eq!(
        c.expect.get("answer").map(|a| a.value.to_string()),
        Some("syn-ack".to_owned())
    );
}

const SEQ_BELOW: &str = r#"description = "seq below"
[sysctl]
"net.ipv4.tcp_timestamps" = [1, 0]
[connection]
family = ["ipv4", "ipv6"]
[second_syn]
seq = "rcv_nxt - 1000"
[expect]
answer = "ack"
"#;

#[test]
fn matrix_names_values_and_sysctls() {
    let s = parse_str(Path::new("scenarios/timewait/seq-below.toml"), SEQ_BELOW).expect("valid");
    assert_eq!(
        names(&s),
        [
            "seq-below/tcp_timestamps=1/ipv4",
            "seq-below/tcp_timestamps=1/ipv6",
            "seq-below/tcp_timestamps=0/ipv4",
            "seq-below/tcp_timestamps=0/ipv6",
        ]
    );
    let c = &s.cases[2];
    assert_eq!(c.trial_name(), "timewait::seq-below::tcp_timestamps=0/ipv4");
    assert_eq!(
        c.values,
        [
            ("tcp_timestamps".to_owned(), "0".to_owned()),
            ("family".to_owned(), "ipv4".to_owned())
        ]
    );
    assert_eq!(c.family, Family::V4);
    assert_eq!(
        c.sysctl(crate::wire::Side::Server, "net.ipv4.tcp_timestamps"),
        Some("0")
    );
    assert_eq!(
        c.sysctl(crate::wire::Side::Client, "net.ipv4.tcp_timestamps"),
        Some("0")
    );
    assert_eq!(s.cases[3].family, Family::V6);
}

#[test]
fn axes_follow_file_order_and_strip_spaces() {
    let src = r#"description = "d"
[second_syn]
seq = ["rcv_nxt - 1", "rcv_nxt + 1"]
[client]
sysctl = { "net.ipv4.tcp_timestamps" = [0] }
[server]
sysctl = { "net.ipv4.tcp_rfc1337" = [0, 1] }
[connection]
port = [443]
[expect]
answer = "ack"
"#;
    let s = parse(src).expect("valid");
    assert_eq!(s.cases.len(), 4);
    assert_eq!(
        s.cases[0].name,
        "x/seq=rcv_nxt-1/client.tcp_timestamps=0/server.tcp_rfc1337=0/port=443"
    );
    assert_eq!(
        s.cases[3].name,
        "x/seq=rcv_nxt+1/client.tcp_timestamps=0/server.tcp_rfc1337=1/port=443"
    );
    // Only the client side has the client's setting.
    assert_eq!(
        s.cases[0].sysctl(crate::wire::Side::Server, "net.ipv4.tcp_timestamps"),
        None
    );
}

#[test]
fn equal_labels_fall_back_to_the_full_key() {
    let src = r#"description = "d"
[sysctl]
"net.ipv4.tcp_timestamps" = [0, 1]
"net.ipv6.foo.tcp_timestamps" = [2, 3]
[expect]
answer = "ack"
[[expect.when]]
match = { "net.ipv6.foo.tcp_timestamps" = 3 }
answer = "rst"
[[expect.when]]
match.net.ipv6.foo.tcp_timestamps = 2
client_syns = 1
"#;
    let s = parse(src).expect("valid");
    assert_eq!(
        names(&s)[1],
        "x/tcp_timestamps=0/net.ipv6.foo.tcp_timestamps=3"
    );
    let answer = |i: usize| s.cases[i].expect.get("answer").map(|a| a.value.to_string());
    assert_eq!(answer(0), Some("ack".to_owned()));
    assert_eq!(answer(1), Some("rst".to_owned()));
    // The dotted-key spelling of the label matches too.
    assert!(s.cases[0].expect.get("client_syns").is_some());
    assert!(s.cases[1].expect.get("client_syns").is_none());
}

#[test]
fn when_overrides_matching_cases_later_entries_win() {
    let src = r#"description = "d"
[sysctl]
"net.ipv4.tcp_timestamps" = [1, 0]
[server]
sysctl = { "net.ipv4.tcp_rfc1337" = [0, 1] }
[connection]
family = ["ipv4", "ipv6"]
[expect]
answer = "ack"
counters = { "TcpExt.PAWSTimewait" = 0, "Tcp.OutRsts" = 1 }

[[expect.when]]
match = { tcp_timestamps = 0 }
answer = "syn-ack"
counters = { "Tcp.OutRsts" = 0, "TcpExt.TW" = 1 }

[[expect.when]]
match = { tcp_timestamps = "0", family = "ipv6", server.tcp_rfc1337 = true }
answer = "rst"
"#;
    let s = parse(src).expect("valid");
    assert_eq!(s.cases.len(), 8);
    let by_name = |name: &str| {
        s.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name}"))
    };
    let answer = |c: &Case| c.expect.get("answer").map(|a| a.value.to_string());
    assert_eq!(
        answer(by_name("x/tcp_timestamps=1/server.tcp_rfc1337=1/ipv6")),
        Some("ack".to_owned())
    );
    assert_eq!(
        answer(by_name("x/tcp_timestamps=0/server.tcp_rfc1337=0/ipv6")),
        Some("syn-ack".to_owned())
    );
    let last = by_name("x/tcp_timestamps=0/server.tcp_rfc1337=1/ipv6");
    assert_eq!(answer(last), Some("rst".to_owned()));
    assert_eq!(last.expect.get("answer").map(|a| a.loc.line), Some(19));
    let counters: Vec<_> = last
        .expect
        .counters
        .iter()
        .map(|c| c.value.clone())
        .collect();
    assert_eq!(
        counters,
        [
            ("TcpExt.PAWSTimewait".to_owned(), 0),
            ("Tcp.OutRsts".to_owned(), 0),
            ("TcpExt.TW".to_owned(), 1)
        ]
    );
}

#[test]
fn when_can_supply_the_whole_expectation() {
    let src = r#"description = "d"
[sysctl]
"net.ipv4.tcp_timestamps" = [1, 0]
[expect]
[[expect.when]]
match = { tcp_timestamps = 1 }
answer = "ack"
[[expect.when]]
match = { tcp_timestamps = 0 }
answer = "syn-ack"
"#;
    assert!(parse(src).is_ok());
    let (line, column, field, msg) =
        error_at(&src.replace("tcp_timestamps = 0 }", "tcp_timestamps = 1 }"));
    assert_eq!((line, column, field.as_str()), (4, 1, "expect"));
    assert!(msg.contains("sets nothing to check"), "{msg}");
    assert!(msg.contains("in case x/tcp_timestamps=0"), "{msg}");
}

#[test]
fn unknown_key_in_expect() {
    let src = "description = \"d\"\n[expect]\nanswer = \"ack\"\n  anwser = \"ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column, field.as_str()), (4, 3, "expect.anwser"));
    // The expectations in the table's order, between the keys of the
    // section itself.
    let table: Vec<&str> = crate::expect::FIELDS.iter().map(|f| f.name).collect();
    assert!(
        msg.ends_with(&format!(
            "expect.anwser: unknown field, expected one of: match, claim, {}, counters, \
             client_counters, when (did you mean answer?)",
            table.join(", ")
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn unknown_answer_names_the_field() {
    let src = "description = \"d\"\n[expect]\nanswer = \"syn_ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column, field.as_str()), (3, 10, "expect.answer"));
    assert_eq!(
        msg,
        format!(
            "{FILE}:3:10: expect.answer: unknown answer \"syn_ack\", expected one of \"syn-ack\", \"ack\", \"rst\", \"none\""
        )
    );
}

#[test]
fn wrong_type_for_port() {
    let src = "description = \"d\"\n[connection]\nport = \"8888\"\n[expect]\nanswer = \"ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column, field.as_str()), (3, 8, "connection.port"));
    assert!(msg.contains("found a string"), "{msg}");
    // Inside a list, the element is pointed at; a float is toml's own type error.
    let src = "description = \"d\"\n[connection]\nport = [80, 8.5]\n[expect]\nanswer = \"ack\"\n";
    assert_eq!(error_at(src).0..error_at(src).1, 3..13);
}

#[test]
fn port_range_and_client_port_must_differ() {
    let src = "description = \"d\"\n[connection]\nport = [1, 65536]\n[expect]\nanswer = \"ack\"\n";
    let (line, column, _, msg) = error_at(src);
    assert_eq!((line, column), (3, 12));
    assert!(msg.contains("out of range 1..=65535"), "{msg}");
    let src = "description = \"d\"\n[connection]\nport = [1, 2]\nclient_port = 2\n[expect]\nanswer = \"ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!(
        (line, column, field.as_str()),
        (4, 15, "connection.client_port")
    );
    assert!(msg.contains("in case x/port=2"), "{msg}");
}

#[test]
fn bad_seq_expression() {
    let src = "description = \"d\"\n[second_syn]\nseq = [\"auto\", \"rcv_nxt * 2\"]\n[expect]\nanswer = \"ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column, field.as_str()), (3, 16, "second_syn.seq"));
    assert!(msg.contains("\"rcv_nxt - N\""), "{msg}");
}

#[test]
fn tsval_on_kernel_client() {
    let src = "description = \"d\"\n[second_syn]\ntsval = \"ts_recent - 1\"\n[expect]\nanswer = \"ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column, field.as_str()), (3, 9, "second_syn.tsval"));
    assert!(
        msg.contains("a kernel client's tsval cannot be chosen; use kind = \"raw\""),
        "{msg}"
    );
    // A kernel client may force its ISN.
    let src = "description = \"d\"\n[second_syn]\nseq = \"rcv_nxt\"\n[expect]\nanswer = \"ack\"\n";
    assert!(parse(src).is_ok());
}

#[test]
fn ts_recent_needs_timestamps_in_that_case() {
    let src = r#"description = "d"
[client]
kind = "raw"
[server]
sysctl = { "net.ipv4.tcp_timestamps" = [1, 0] }
[second_syn]
tsval = ["none", "ts_recent + 1"]
[expect]
answer = "ack"
"#;
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column, field.as_str()), (7, 18, "second_syn.tsval"));
    assert!(
        msg.contains("on the server in case x/server.tcp_timestamps=0/tsval=ts_recent+1"),
        "{msg}"
    );
    // Default is on; "none" and "auto" need nothing.
    let ok = src.replace("[1, 0]", "[1, 2]");
    assert!(parse(&ok).is_ok());
    let off_on_client = src.replace("[server]", "[client.x]").replace(
        "[client]\nkind",
        "[client]\nsysctl = { \"net.ipv4.tcp_timestamps\" = 0 }\nkind",
    );
    assert!(parse(&off_on_client).is_err());
}

#[test]
fn non_net_sysctl() {
    let src = "description = \"d\"\n[server]\nsysctl = { \"net.ipv4.x\" = 1, \"kernel.foo\" = 1 }\n[expect]\nanswer = \"ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!(
        (line, column, field.as_str()),
        (3, 30, "server.sysctl.\"kernel.foo\"")
    );
    assert!(
        msg.contains("only net.* sysctls of the harness's own namespaces may be set"),
        "{msg}"
    );
    // Unquoted, a dotted key is a nested table in TOML; it is read as the same key.
    let src = "description = \"d\"\n[sysctl]\nvm.x = 1\n[expect]\nanswer = \"ack\"\n";
    let (line, column, field, _) = error_at(src);
    assert_eq!((line, column, field.as_str()), (3, 1, "sysctl.\"vm.x\""));
}

#[test]
fn unquoted_dotted_sysctl_keys() {
    let src = r#"description = "d"
[sysctl]
net.ipv4.tcp_timestamps = [0, 1]
[server.sysctl]
net.ipv4 = { tcp_rfc1337 = 1, tcp_sack = 0 }
[client.sysctl]
net.ipv4.tcp_sack = [1, 0]
net.ipv4.tcp_ecn = [0, 1]
[expect]
answer = "ack"
"#;
    let s = parse(src).expect("valid");
    // File order, although toml hands nested keys out sorted.
    assert_eq!(
        names(&s)[..2],
        [
            "x/tcp_timestamps=0/client.tcp_sack=1/client.tcp_ecn=0",
            "x/tcp_timestamps=0/client.tcp_sack=1/client.tcp_ecn=1"
        ]
    );
    assert_eq!(
        s.cases[0].sysctl(crate::wire::Side::Server, "net.ipv4.tcp_sack"),
        Some("0")
    );
    assert_eq!(
        s.cases[0].sysctl(crate::wire::Side::Server, "net.ipv4.tcp_rfc1337"),
        Some("1")
    );
    assert_eq!(
        s.cases[0].sysctl(crate::wire::Side::Client, "net.ipv4.tcp_rfc1337"),
        None
    );
    let twice = src.replace(
        "tcp_sack = 0 }",
        "tcp_sack = 0 }\n\"net.ipv4.tcp_sack\" = 1",
    );
    let (line, column, field, msg) = error_at(&twice);
    assert_eq!((line, column), (6, 1), "{msg}");
    assert_eq!(field, "server.sysctl.\"net.ipv4.tcp_sack\"");
    assert!(msg.contains("is set twice"), "{msg}");
}

#[test]
fn empty_list() {
    let src = "description = \"d\"\n[connection]\nfamily = []\n[expect]\nanswer = \"ack\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column, field.as_str()), (3, 10, "connection.family"));
    assert!(
        msg.contains("empty list: the matrix would have no cases"),
        "{msg}"
    );
}

#[test]
fn when_with_unknown_axis_or_value() {
    let src = "description = \"d\"\n[connection]\nfamily = [\"ipv4\", \"ipv6\"]\n[expect]\nanswer = \"ack\"\n[[expect.when]]\nmatch = { famliy = \"ipv6\" }\nanswer = \"rst\"\n";
    let (line, column, field, msg) = error_at(src);
    assert_eq!((line, column), (7, 11));
    assert_eq!(field, "expect.when[0].match.\"famliy\"");
    assert!(
        msg.contains("no matrix axis named \"famliy\"; axes are: family"),
        "{msg}"
    );
    let src = src
        .replace("famliy", "family")
        .replace("\"ipv6\" }", "\"ipv5\" }");
    let (line, column, _, msg) = error_at(&src);
    assert_eq!((line, column), (7, 20));
    assert!(
        msg.contains("\"ipv5\" is not one of the values of family: ipv4, ipv6"),
        "{msg}"
    );
}

#[test]
fn duplicate_list_values_and_the_case_cap() {
    let src = "description = \"d\"\n[connection]\nfamily = [\"ipv4\", \"ipv4\"]\n[expect]\nanswer = \"ack\"\n";
    assert_eq!(error_at(src).0..error_at(src).1, 3..19);
    let list: Vec<String> = (1..=20).map(|p| p.to_string()).collect();
    let src = format!(
        "description = \"d\"\n[connection]\nport = [{}]\nclient_port = [{}]\n[expect]\nanswer = \"ack\"\n",
        list.join(", "),
        list.iter()
            .map(|p| format!("1{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (line, _, field, msg) = error_at(&src);
    assert_eq!((line, field.as_str()), (4, "connection.client_port"));
    assert!(
        msg.contains("400 cases, more than the 256 allowed"),
        "{msg}"
    );
}

#[test]
fn several_errors_are_reported_together() {
    let src = "description = \"\"\ntimeout_ms = 50\n[expect]\nclient_syns = 11\n";
    let err = parse(src).expect_err("invalid");
    let lines: Vec<String> = err.errors().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{FILE}:1:15: description:")));
    assert!(lines[1].starts_with(&format!("{FILE}:2:14: timeout_ms:")));
    assert!(lines[2].starts_with(&format!("{FILE}:4:15: expect.client_syns:")));
    assert_eq!(err.to_string().lines().count(), 3);
}

#[test]
fn syntax_errors_have_positions() {
    let (line, column, _, _) = error_at("description = \"d\"\n[expect\n");
    assert_eq!((line, column), (2, 8));
    let (line, column, _, msg) = error_at("[expect]\nanswer = \"ack\"\n");
    assert_eq!((line, column), (1, 1));
    assert!(msg.contains("description: is missing"), "{msg}");
    // Columns count chars, not bytes.
    let (line, column, _, _) = error_at("description = \"é\" x\n[expect]\n");
    assert_eq!((line, column), (1, 19));
}

#[test]
fn non_utf8_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, b"description = \"ok\"\nkernel_ref = \"\xff\"\n").expect("write");
    let err = load_file(&path).expect_err("not UTF-8");
    let loc = err.loc().expect("position");
    assert_eq!((loc.line, loc.column), (2, 15));
    assert!(err.to_string().contains("not UTF-8"), "{err}");
}

#[test]
fn garbage_never_panics() {
    let mut inputs: Vec<String> = [
        "",
        "=",
        "[",
        "[[expect.when]]",
        "description = 1",
        "description = \"d\"\n[expect]\n[[expect.when]]\nmatch = 1\n",
        "description = \"d\"\n[expect]\n[[expect.when]]\nmatch = { a = { b = [1] } }\n",
        "description = \"d\"\n[expect]\nanswer = \"ack\"\n[[expect.when]]\nmatch = {}\n",
        "description = \"d\"\n[expect]\ncounters = { \"TcpExt.X\" = 99999999999999999999 }\n",
        "description = \"d\"\n[expect]\ncounters = { \"Udp.X\" = 1 }\n",
        "description = \"d\"\n[sysctl]\n\"net.a\" = [[1]]\n[expect]\n",
        "description = \"d\"\n[sysctl]\n\"net.a\" = 1979-05-27\n[expect]\n",
        "description = \"d\"\n[sysctl]\n\"net.a\" = \"x\\ny\"\n[expect]\n",
        "description = \"d\"\n[connection]\nport = -1\nfamily = 4\n[expect]\n",
        "description = \"d\"\n[second_syn]\nseq = 5\ntsval = [\"ts_recent + 99999999999\"]\n[expect]\n",
        "description = \"d\"\ntimeout_ms = -9223372036854775808\n[expect]\nclient_syns = -1\n",
        "description = \"\u{0}\"\r\n[expect]\r\nanswer = \"ack\"",
        "\u{feff}description = \"d\"\n[expect]\nanswer = \"ack\"\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every prefix of a valid file, and the file with each byte turned into junk.
    for i in 0..FULL.len() {
        if FULL.is_char_boundary(i) {
            inputs.push(FULL[..i].to_owned());
            for junk in ["\"", "[", "]", "=", "\n", "é"] {
                let mut s = FULL.to_owned();
                if s.is_char_boundary(i + 1) {
                    s.replace_range(i..i + 1, junk);
                    inputs.push(s);
                }
            }
        }
    }
    inputs.push(format!("a = {}1{}", "[".repeat(5000), "]".repeat(5000)));
    inputs.push(format!(
        "description = \"d\"\n[expect]\n[[expect.when]]\nmatch.{} = 1\n",
        vec!["a"; 5000].join(".")
    ));
    for input in &inputs {
        if let Err(e) = parse(input) {
            let shown = e.to_string();
            assert!(shown.starts_with(FILE), "{input:?}: {shown}");
        }
    }
}

#[test]
fn discover_and_resolve_on_a_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    let ok = "description = \"d\"\n[expect]\nanswer = \"ack\"\n";
    write("timewait/b.toml", ok);
    write("timewait/a.toml", ok);
    write("listen/z.toml", SEQ_BELOW);
    write("listen/notes.md", "not a scenario");
    write(".hidden/h.toml", "junk");

    let all = discover(root).expect("valid tree");
    let ids: Vec<_> = all
        .iter()
        .map(|s| format!("{}/{}", s.area, s.name))
        .collect();
    assert_eq!(ids, ["listen/z", "timewait/a", "timewait/b"]);

    assert_eq!(resolve(root, "a").expect("by name")[0].name, "a");
    assert_eq!(resolve(root, "timewait").expect("by area").len(), 2);
    let file = root.join("timewait/b.toml");
    let by_path = resolve(root, &file.to_string_lossy()).expect("by path");
    assert_eq!(by_path[0].file, file);
    let some = resolve(root, "z/tcp_timestamps=0").expect("by case prefix");
    assert_eq!(some[0].cases.len(), 2);
    assert!(matches!(
        resolve(root, "nope"),
        Err(ScenarioError::NotFound { .. })
    ));
    assert!(matches!(
        resolve(root, "z/tcp_timestamps=7"),
        Err(ScenarioError::NotFound { .. })
    ));

    write("listen/a.toml", ok);
    assert!(matches!(
        discover(root),
        Err(ScenarioError::Duplicate { .. })
    ));
    assert!(matches!(
        resolve(root, "a"),
        Err(ScenarioError::Duplicate { .. })
    ));

    write("listen/broken.toml", "description = 1\n");
    let err = discover(root).expect_err("broken and duplicate");
    assert_eq!(err.errors().count(), 2, "{err}");
}

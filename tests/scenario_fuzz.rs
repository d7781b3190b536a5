//! Fuzzing the scenario reader through its public entry (`synlab::parse_str`),
//! with proptest (cargo-fuzz needs a nightly toolchain): arbitrary text, and
//! arbitrary TOML documents built from the format's own keys and values mixed
//! with others. Whatever the input: no panic, and every error line names the
//! file and a `line:column` inside the input; every error about a document that
//! is valid TOML names its field. Bounded: a fixed number of cases per property
//! (`SYNLAB_FUZZ_CASES`, default 1500), a few seconds. No root.

use std::path::Path;

use proptest::prelude::*;
use synlab::{ScenarioError, parse_str};
use toml::{Table, Value};

const FILE: &str = "scenarios/fuzz/f.toml";

fn cases() -> u32 {
    std::env::var("SYNLAB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// Keys of the format (every table and field), and some that are not.
const KEYS: &[&str] = &[
    "description",
    "kernel_ref",
    "timeout_ms",
    "kernel",
    "sysctl",
    "server",
    "client",
    "connection",
    "second_syn",
    "segment",
    "reconnect",
    "expect",
    "when",
    "match",
    "folklore",
    "claim",
    "topology",
    "listener",
    "kind",
    "port",
    "client_port",
    "family",
    "closes_first",
    "close",
    "seq",
    "tsval",
    "ack",
    "flags",
    "len",
    "then",
    "after_ms",
    "answer",
    "client_syns",
    "time_wait_after",
    "timer_restarted",
    "time_wait_seconds",
    "established",
    "counters",
    "connect",
    "reopen_isn",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_rfc1337",
    "TcpExt.PAWSTimewait",
    "Tcp.OutRsts",
    "x",
    "",
    "é",
    "a b",
];

/// Values the format knows, and some it does not.
const STRINGS: &[&str] = &[
    "ack",
    "syn-ack",
    "rst",
    "none",
    "raw",
    "kernel",
    "ipv4",
    "ipv6",
    "server",
    "client",
    "fin",
    "linger0",
    "auto",
    "rcv_nxt - 1000",
    "rcv_nxt + 1",
    "ts_recent - 1",
    "snd_nxt",
    "F.",
    "S",
    "R.",
    "bind",
    "ephemeral",
    "ok",
    "EADDRNOTAVAIL",
    ">= 6.10",
    "rst",
    "syn",
    "",
    " ",
    "rcv_nxt - 99999999999999999999",
    "\u{2212}1",
    "😀",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => proptest::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
        1 => any::<String>().prop_map(Value::String),
        3 => prop_oneof![
            Just(0i64), Just(1), Just(2), Just(-1), Just(65535), Just(65536), Just(i64::MAX),
            Just(i64::MIN), any::<i64>()
        ]
        .prop_map(Value::Integer),
        2 => any::<bool>().prop_map(Value::Boolean),
        1 => prop_oneof![Just(0.5f64), Just(f64::NAN), Just(f64::INFINITY), any::<f64>()]
            .prop_map(Value::Float),
        1 => Just(Value::Datetime("1979-05-27T07:32:00Z".parse().expect("a date-time"))),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z_.]{1,12}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// A document: some of the format's top-level tables, filled at random.
fn document() -> impl Strategy<Value = Table> {
    proptest::collection::btree_map(key(), value(), 0..10).prop_map(|m| m.into_iter().collect())
}

/// Valid scenarios the mutations start from (every table of the format).
const BASES: [&str; 3] = [
    r#"description = "d"
kernel_ref = "tcp_timewait_state_process()"
timeout_ms = 3000
[sysctl]
"net.ipv4.tcp_timestamps" = 1
[server]
sysctl = { "net.ipv4.tcp_rfc1337" = [0, 1] }
[client]
kind = "raw"
[connection]
port = 8080
client_port = [40000, 40001]
family = ["ipv4", "ipv6"]
[second_syn]
seq = ["rcv_nxt - 1000", "rcv_nxt + 1"]
tsval = "ts_recent + 10"
then = ["rst", "syn"]
[expect]
answer = "ack"
client_syns = 2
time_wait_after = false
counters = { "TcpExt.PAWSTimewait" = 0 }
[[expect.when]]
match = { family = "ipv6", server.tcp_rfc1337 = 1 }
answer = "rst"
[folklore]
claim = "c"
answer = "ack"
"#,
    r#"description = "d"
[client]
kind = "raw"
[connection]
family = "ipv4"
[segment]
flags = ["F.", "R."]
seq = "rcv_nxt - 1"
ack = "snd_nxt"
len = [0, 100]
[expect]
answer = "ack"
time_wait_after = true
timer_restarted = true
"#,
    r#"description = "d"
[connection]
closes_first = "client"
close = "fin"
[reconnect]
port = "bind"
after_ms = 0
[expect]
connect = "EADDRNOTAVAIL"
"#,
];

/// One change to a document: a value set at a path (made where missing), or
/// the key at a path removed. A path is walked by indices into the tables and
/// lists met on the way.
#[derive(Debug, Clone)]
enum Change {
    Set(Vec<usize>, String, Value),
    Remove(Vec<usize>),
}

fn change() -> impl Strategy<Value = Change> {
    let path = proptest::collection::vec(any::<usize>(), 0..4);
    prop_oneof![
        3 => (path.clone(), key(), value()).prop_map(|(p, k, v)| Change::Set(p, k, v)),
        1 => path.prop_map(Change::Remove),
    ]
}

/// The table at the end of `path` (stops at the first value that is no table
/// or list of tables).
fn walk<'a>(table: &'a mut Table, path: &[usize]) -> &'a mut Table {
    let Some((&i, rest)) = path.split_first() else {
        return table;
    };
    let Some(key) = table.keys().nth(i % table.len().max(1)).cloned() else {
        return table;
    };
    let goes_on = match table.get(&key) {
        Some(Value::Table(_)) => true,
        Some(Value::Array(a)) => a.iter().any(Value::is_table),
        _ => false,
    };
    if !goes_on {
        return table;
    }
    match table.get_mut(&key) {
        Some(Value::Table(t)) => walk(t, rest),
        Some(Value::Array(a)) => match a.iter_mut().find_map(|v| v.as_table_mut()) {
            Some(t) => walk(t, rest),
            None => unreachable!("checked above"),
        },
        _ => unreachable!("checked above"),
    }
}

fn apply(doc: &mut Table, change: &Change) {
    match change {
        Change::Set(path, key, value) => {
            walk(doc, path).insert(key.clone(), value.clone());
        }
        Change::Remove(path) => {
            let (last, path) = path.split_last().unwrap_or((&0, &[]));
            let table = walk(doc, path);
            if let Some(key) = table.keys().nth(last % table.len().max(1)).cloned() {
                table.remove(&key);
            }
        }
    }
}

/// Reads `text`; on error checks every line: the file, a line:column inside
/// the input, a message, and the field when `need_field`.
fn check(text: &str, need_field: bool) -> Result<(), TestCaseError> {
    let Err(err) = parse_str(Path::new(FILE), text) else {
        return Ok(());
    };
    let lengths: Vec<usize> = text.split('\n').map(|l| l.chars().count()).collect();
    for e in err.errors() {
        let line = e.to_string();
        let Some(loc) = e.loc() else {
            return Err(TestCaseError::fail(format!(
                "an error without a place: {line}"
            )));
        };
        prop_assert_eq!(loc.file.to_str(), Some(FILE), "{}", line);
        prop_assert!(
            loc.line >= 1 && loc.line <= lengths.len(),
            "line of {}: {}",
            lengths.len(),
            line
        );
        prop_assert!(
            loc.column >= 1 && loc.column <= lengths[loc.line - 1] + 1,
            "column of {}: {}",
            lengths[loc.line - 1],
            line
        );
        prop_assert!(
            line.starts_with(&format!("{FILE}:{}:{}: ", loc.line, loc.column)),
            "{}",
            line
        );
        match e {
            ScenarioError::Invalid { field, message, .. } => {
                prop_assert!(!field.is_empty(), "no field: {}", line);
                prop_assert!(!message.is_empty(), "no message: {}", line);
            }
            ScenarioError::Syntax { message, .. } => {
                prop_assert!(!need_field, "valid TOML, yet no field: {}", line);
                prop_assert!(!message.is_empty(), "no message: {}", line);
            }
            other => return Err(TestCaseError::fail(format!("unexpected error: {other}"))),
        }
    }
    Ok(())
}

#[test]
fn the_bases_are_valid_scenarios() {
    for base in BASES {
        if let Err(e) = parse_str(Path::new(FILE), base) {
            panic!("{e}\n{base}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_errors_point_inside(text in any::<String>()) {
        check(&text, false)?;
    }

    #[test]
    fn changed_scenarios_get_errors_with_their_field(
        base in 0..BASES.len(),
        changes in proptest::collection::vec(change(), 1..5),
    ) {
        let mut doc: Table = BASES[base].parse().expect("a base is TOML");
        for c in &changes {
            apply(&mut doc, c);
        }
        let Ok(text) = toml::to_string(&doc) else {
            return Ok(());
        };
        check(&text, true)?;
    }

    #[test]
    fn arbitrary_toml_documents_get_errors_with_their_field(doc in document()) {
        let Ok(text) = toml::to_string(&doc) else {
            // A document TOML cannot write (a NaN key order, a mixed array).
            return Ok(());
        };
        check(&text, true)?;
    }
}

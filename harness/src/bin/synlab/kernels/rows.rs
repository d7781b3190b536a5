//! The JSON rows of one kernel's run (`synlab run --json`, in a guest or
//! in-process) read back into what the closing table compares: each case's
//! verdict, the answer, and the facts that may differ between kernels.

use std::collections::BTreeMap;

use serde_json::Value;

pub use synlab::Status as Verdict;

/// A verdict as a table cell shows it: a failure in capitals.
pub fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Fail => "FAIL",
        other => other.as_str(),
    }
}

/// One case on one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The case name (`ts-off/ipv4`): the key the kernels are compared by.
    pub case: String,
    pub verdict: Verdict,
    /// What the TIME_WAIT side answered (judged cases).
    pub answer: Option<String>,
    /// The compared facts, by name, as short text (judged cases).
    pub facts: BTreeMap<&'static str, String>,
    /// Why it is not a pass, one line each (failed checks, unchecked
    /// expectations with the reason, the error, the reason for a skip).
    pub why: Vec<String>,
    /// Where its pcap was written, if it was.
    pub pcap: Option<String>,
}

/// The outcome fields compared between kernels, and where a row has them.
const FACTS: [(&str, &str); 6] = [
    ("answer", "answer"),
    ("client_syns", "client_syns"),
    ("established", "established"),
    ("time_wait_after", "time_wait_after"),
    ("timer_restarted", "timer_restarted"),
    ("connect", "connect"),
];

/// Text of a JSON scalar as a person writes it (`null` when absent).
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The row's TCP counters that moved (`Tcp.*`, `TcpExt.*`: the IP ones differ
/// between kernels for reasons of their own, such as `Ip.OutTransmits` from 6.3).
pub fn tcp_counters(row: &Value) -> BTreeMap<String, i64> {
    row.get("counters")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("Tcp.") || k.starts_with("TcpExt."))
                .filter_map(|(k, v)| v.as_i64().map(|n| (k.clone(), n)))
                .filter(|(_, n)| *n != 0)
                .collect()
        })
        .unwrap_or_default()
}

impl Cell {
    /// Read one row; `None` when it names no case.
    pub fn from_row(row: &Value) -> Option<Cell> {
        let case = row.get("case")?.as_str()?.to_string();
        let mut why = Vec::new();
        let verdict = if let Some(e) = row.get("error") {
            why.push(text(Some(e)).lines().next().unwrap_or("").to_string());
            Verdict::Error
        } else {
            match (
                row.get("type").and_then(Value::as_str),
                row.get("verdict").and_then(Value::as_str),
            ) {
                (Some("skip"), _) => {
                    why.push(text(row.get("reason")));
                    Verdict::Skip
                }
                (_, Some("pass")) => Verdict::Pass,
                (_, Some("partial")) => Verdict::Partial,
                _ => Verdict::Fail,
            }
        };
        let mut facts = BTreeMap::new();
        let mut answer = None;
        if verdict.judged() {
            for (name, key) in FACTS {
                facts.insert(name, text(row.get(key)));
            }
            answer = row.get("answer").and_then(Value::as_str).map(str::to_owned);
            let counters = tcp_counters(row)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            facts.insert("counters", counters);
            let isn = match row.pointer("/reopen_isn/from_time_wait") {
                Some(Value::Bool(true)) => "snd_nxt+65537",
                Some(Value::Bool(false)) => "a new ISN",
                _ => "none",
            };
            facts.insert("reopen_isn", isn.into());
            for c in row
                .get("checks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if c.get("ok") == Some(&Value::Bool(false)) {
                    why.push(format!(
                        "{} ({}): expected {}, seen {}",
                        text(c.get("field")),
                        text(c.get("loc")),
                        text(c.get("expected")),
                        text(c.get("seen"))
                    ));
                }
            }
            for u in row
                .get("unchecked")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                why.push(format!(
                    "{} ({}): not checked: {}",
                    text(u.get("field")),
                    text(u.get("loc")),
                    text(u.get("why"))
                ));
            }
        }
        Some(Cell {
            case,
            verdict,
            answer,
            facts,
            why,
            pcap: row.get("pcap").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// What the table shows: `pass syn-ack`, `FAIL ack`, `error`, `skip`.
    pub fn show(&self) -> String {
        match &self.answer {
            Some(a) => format!("{} {a}", word(self.verdict)),
            None => word(self.verdict).to_string(),
        }
    }
}

/// Every row of a run's output (one JSON object a line), and the lines that
/// were not JSON objects (a guest's stray output; reported, not dropped).
pub fn read_lines(text: &str) -> (Vec<Value>, Vec<String>) {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => rows.push(v),
            _ => bad.push(line.to_string()),
        }
    }
    (rows, bad)
}

/// How the cells of one case differ between kernels: the names of the
/// differing facts, with detail (`counters: PAWSEstab PAWSTimewait`). Kernels
/// without a cell (the kernel could not run) are left out; a verdict that
/// differs is `verdict`; facts are compared among judged cells only.
pub fn differences(cells: &[Option<&Cell>]) -> Vec<String> {
    let present: Vec<&Cell> = cells.iter().flatten().copied().collect();
    let mut out = Vec::new();
    if present.windows(2).any(|w| w[0].verdict != w[1].verdict) {
        out.push("verdict".to_string());
    }
    let judged: Vec<&Cell> = present
        .iter()
        .copied()
        .filter(|c| c.verdict.judged())
        .collect();
    let Some(first) = judged.first() else {
        return out;
    };
    for name in first.facts.keys() {
        // `null` is "not seen on that kernel" (a timer too young to judge, no
        // connect() made), not a value: only values seen are compared.
        let values: Vec<&String> = judged
            .iter()
            .filter_map(|c| c.facts.get(name))
            .filter(|v| *v != "null")
            .collect();
        if values.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        if *name == "counters" {
            out.push(format!("counters: {}", counter_difference(&judged)));
        } else {
            out.push(name.to_string());
        }
    }
    out
}

/// The counters whose values are not the same on every kernel, short names.
fn counter_difference(cells: &[&Cell]) -> String {
    let parse = |c: &Cell| -> BTreeMap<String, String> {
        c.facts
            .get("counters")
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let maps: Vec<BTreeMap<String, String>> = cells.iter().map(|c| parse(c)).collect();
    let mut names: Vec<&String> = maps.iter().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| maps.windows(2).any(|w| w[0].get(*n) != w[1].get(*n)))
        .map(|n| n.rsplit('.').next().unwrap_or(n).to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A judged row as `synlab run --json` prints it (the fields read here).
    pub fn row(case: &str, verdict: &str, answer: &str, counters: Value, isn: Value) -> Value {
        json!({
            "type": "case", "version": 1,
            "scenario": case.split('/').next(), "case": case, "kernel": "k",
            "answer": answer, "client_syns": 1, "established": true,
            "time_wait_after": false, "timer_restarted": null, "connect": null,
            "counters": counters,
            "reopen_isn": { "seq_vs_snd_nxt": 65537, "from_time_wait": isn },
            "checks": [], "unchecked": [], "pass": verdict == "pass", "verdict": verdict,
        })
    }

    #[test]
    fn a_judged_row_gives_its_verdict_answer_and_tcp_counters() {
        let r = row(
            "paws/ipv4",
            "pass",
            "ack",
            json!({"TcpExt.PAWSTimewait": 1, "Ip.OutTransmits": 1, "Tcp.InSegs": 1}),
            json!(true),
        );
        let c = Cell::from_row(&r).expect("a case");
        assert_eq!(c.case, "paws/ipv4");
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(c.show(), "pass ack");
        assert_eq!(c.facts["counters"], "Tcp.InSegs=1 TcpExt.PAWSTimewait=1");
        assert_eq!(c.facts["reopen_isn"], "snd_nxt+65537");
        assert!(c.why.is_empty());
    }

    #[test]
    fn failed_checks_unchecked_errors_and_skips_say_why() {
        let mut r = row("a/x", "partial", "ack", json!({}), Value::Null);
        r["checks"] = json!([{"field": "answer", "loc": "f.toml:3:10", "expected": "ack", "seen": "ack", "ok": true}]);
        r["unchecked"] = json!([{"field": "counters.TcpExt.TCPAOGood", "loc": "f.toml:4:1", "expected": "0", "why": "this kernel predates it"}]);
        let c = Cell::from_row(&r).unwrap();
        assert_eq!(c.verdict, Verdict::Partial);
        assert_eq!(
            c.why,
            ["counters.TcpExt.TCPAOGood (f.toml:4:1): not checked: this kernel predates it"]
        );
        r["verdict"] = json!("fail");
        r["checks"][0]["ok"] = json!(false);
        r["checks"][0]["seen"] = json!("rst");
        let c = Cell::from_row(&r).unwrap();
        assert_eq!(c.show(), "FAIL ack");
        assert_eq!(c.why[0], "answer (f.toml:3:10): expected ack, seen rst");

        let e = json!({"type": "error", "scenario": "a", "case": "a/x", "kernel": "k", "pass": false,
                       "error": "server namespace: ip link add type veth: Operation not supported\nmore"});
        let c = Cell::from_row(&e).unwrap();
        assert_eq!((c.verdict, c.show()), (Verdict::Error, "error".to_string()));
        assert_eq!(
            c.why,
            ["server namespace: ip link add type veth: Operation not supported"]
        );
        assert!(c.facts.is_empty());

        let s = json!({"type": "skip", "case": "a/x", "pass": false, "reason": "for >= 6.14"});
        let c = Cell::from_row(&s).unwrap();
        assert_eq!(
            (c.verdict, c.why.clone()),
            (Verdict::Skip, vec!["for >= 6.14".to_string()])
        );
        assert_eq!(
            Cell::from_row(&json!({"type": "summary", "kernel": "k"})),
            None,
            "the summary names no case"
        );
    }

    #[test]
    fn lines_that_are_not_json_objects_are_kept_apart() {
        let (rows, bad) = read_lines("{\"case\": \"a\"}\n\nnot json\n[1]\n{\"case\": \"b\"}\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(bad, ["not json", "[1]"]);
    }

    #[test]
    fn differences_name_the_fields_and_the_counters() {
        let new = Cell::from_row(&row(
            "paws/x",
            "pass",
            "ack",
            json!({"TcpExt.PAWSTimewait": 1, "Tcp.InSegs": 1}),
            json!(true),
        ))
        .unwrap();
        let old = Cell::from_row(&row(
            "paws/x",
            "pass",
            "ack",
            json!({"TcpExt.PAWSEstab": 1, "Tcp.InSegs": 1}),
            json!(false),
        ))
        .unwrap();
        assert_eq!(
            differences(&[Some(&new), Some(&old)]),
            ["counters: PAWSEstab PAWSTimewait", "reopen_isn"]
        );
        assert!(differences(&[Some(&new), Some(&new.clone())]).is_empty());
        // A fact one kernel could not see is no difference.
        let mut unseen = new.clone();
        unseen.facts.insert("timer_restarted", "null".into());
        let mut seen = new.clone();
        seen.facts.insert("timer_restarted", "true".into());
        assert!(differences(&[Some(&unseen), Some(&seen)]).is_empty());
        let mut other = seen.clone();
        other.facts.insert("timer_restarted", "false".into());
        assert_eq!(
            differences(&[Some(&other), Some(&seen)]),
            ["timer_restarted"]
        );
        assert!(
            differences(&[Some(&new), None]).is_empty(),
            "a kernel that did not run"
        );
        let skip = Cell::from_row(&json!({"type": "skip", "case": "paws/x"})).unwrap();
        assert_eq!(differences(&[Some(&new), Some(&skip)]), ["verdict"]);
    }
}

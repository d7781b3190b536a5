//! One JSON object per case (contract 2): absolute and relative numbers.

use serde_json::{Value, json};

use crate::report::phrase::state_name;
use crate::report::timeline::Bases;
use crate::run::CaseRun;

/// The JSON object for one case.
pub fn case(run: &CaseRun) -> Value {
    let obs = &run.obs;
    let o = &run.outcome;
    let b = Bases::from_segments(&obs.segments);
    let segments: Vec<Value> = obs
        .segments
        .iter()
        .map(|s| {
            let ts = b.ts(s);
            json!({
                "t_ms": (b.ms(s) * 1000.0).round() / 1000.0,
                "direction": s.dir,
                "flags": s.flags,
                "seq": b.seq(s),
                "ack": if s.flags.ack { Some(b.ack(s)) } else { None },
                "seq_abs": s.seq,
                "ack_abs": s.ack,
                "win": s.win,
                "tsval": s.tsval,
                "tsecr": s.tsecr,
                "tsval_rel": ts.map(|t| t.0),
                "len": s.payload_len,
            })
        })
        .collect();
    let ms = |at: u64| ((at as i128 - b.t0_ns as i128) as f64 / 1e3).round() / 1e3;
    let states: Vec<Value> = obs
        .states
        .iter()
        .map(|c| {
            json!({
                "t_ms": ms(c.at_ns),
                "side": c.side,
                "old": state_name(c.old),
                "new": state_name(c.new),
                "src": c.src.to_string(),
                "dst": c.dst.to_string(),
            })
        })
        .collect();
    let resets: Vec<Value> = obs
        .resets
        .iter()
        .map(|r| {
            json!({
                "t_ms": ms(r.at_ns),
                "side": r.side,
                "direction": r.direction,
                "state": r.state.map(state_name),
                "reason": r.reason,
            })
        })
        .collect();
    let snapshots: Vec<Value> = obs
        .snapshots
        .iter()
        .map(|(at, s)| json!({ "t_ms": ms(*at), "ss": s }))
        .collect();
    json!({
        "scenario": run.case.scenario,
        "case": run.case.name,
        "trial": run.case.trial_name(),
        "file": run.case.file.display().to_string(),
        "kernel": run.kernel,
        "family": run.case.family.as_str(),
        "answer": o.answer.as_str(),
        "client_syns": o.client_syns,
        "established": o.established,
        "retry_gap_ms": o.retry_gap_ms,
        "time_wait_after": o.time_wait_after,
        "why": o.kernel_rule.as_ref().map(|k| k.why.clone()),
        "rules": {
            "inputs": o.inputs,
            "kernel": o.kernel_rule,
            "folklore": o.folklore_rule,
        },
        "peer_notes": obs.peer_notes,
        "second_syn": {
            "seq_vs_rcv_nxt": o.syn2_seq_vs_rcv_nxt,
            "tsval_vs_ts_recent": o.syn2_tsval_vs_ts_recent,
            "forced_isn": obs.forced_isn,
        },
        "time_wait": {
            "rcv_nxt": obs.first.rcv_nxt,
            "snd_nxt": obs.first.snd_nxt,
            "ts_recent": obs.first.ts_recent,
        },
        "counters": obs.server_counters,
        "client_counters": obs.client_counters,
        "unavailable_counters": run.verdict.unavailable_counters,
        "checks": run.verdict.checks,
        "segments": segments,
        "states": states,
        "resets": resets,
        "state_source": if obs.trace_unavailable.is_none() { "trace" } else { "sock_diag" },
        "trace_unavailable": obs.trace_unavailable,
        "snapshots": snapshots,
        "duration_ms": (run.duration.as_secs_f64() * 1e6).round() / 1e3,
        "pass": run.verdict.pass,
    })
}

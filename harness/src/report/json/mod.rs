//! One JSON object per case (contract 2), built from the typed rows of
//! [`rows`]: absolute and relative numbers, a `type` and a `version` on every
//! line, a summary line at the end of a run.

mod out;
pub mod read;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::judge::Check;
use crate::report::phrase::state_name;
use crate::report::record::Tally;
use crate::report::timeline::Bases;
use crate::run::CaseRun;
use crate::scenario::{Answer, Case};
use crate::wire::{Dir, Side};

pub use crate::rows::{ModelSummary, Row, SummaryRow};
pub use out::JsonReporter;

use crate::rows::{
    AnswerKind, CaseRow, CheckRow, ConnectionRow, ConntrackRow, Counts, Direction, ErrorRow, Event,
    Folklore, Inputs, KernelModel, ModelDiff, ModelStep, Prediction, ReopenIsn, ResetRow, Rules,
    SecondSyn, SegmentEvent, SegmentRow, SideKind, SkipRow, Snapshot, StateRow, TimeWait, Timer,
    UncheckedRow, Version,
};

/// The JSON Schema of every row (`synlab schema`, docs/report.schema.json).
pub fn schema() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Row>();
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// One row as its line: compact JSON, no newline.
pub fn line(row: &Row) -> String {
    // A row is plain data (strings, numbers, maps with string keys): it
    // always serializes.
    serde_json::to_string(row).unwrap_or_default()
}

/// The row of a case that ended in an error said in `message` (a guest
/// that returned no row for it).
pub fn message_row(case: &Case, kernel: &str, message: String) -> Row {
    Row::Error(ErrorRow {
        version: Version,
        scenario: case.scenario.clone(),
        case: case.name.clone(),
        trial: case.trial_name(),
        file: case.file.display().to_string(),
        kernel: kernel.to_owned(),
        error: message,
        pass: false,
    })
}

/// The summary line of `--json`: the counts of one kernel's run, and the
/// model against that kernel.
pub fn summary_row(t: &Tally, model: &ModelSummary, kernel: &str, took: Duration) -> SummaryRow {
    SummaryRow {
        version: Version,
        pass: t.exit_code() == 0,
        cases: t.cases(),
        counts: Counts {
            pass: t.pass,
            partial: t.partial,
            fail: t.fail,
            error: t.error,
            skip: t.skip,
        },
        kernel: kernel.to_owned(),
        duration_ms: (took.as_secs_f64() * 1e6).round() / 1e3,
        exit_code: t.exit_code(),
        model: model.clone(),
    }
}

/// The row of a case not run on this kernel.
pub fn skip_row(case: &Case, kernel: &str, reason: &str) -> Row {
    Row::Skip(SkipRow {
        version: Version,
        scenario: case.scenario.clone(),
        case: case.name.clone(),
        trial: case.trial_name(),
        file: case.file.display().to_string(),
        kernel: kernel.to_owned(),
        reason: reason.to_owned(),
        pass: false,
    })
}

fn answer(a: Answer) -> AnswerKind {
    match a {
        Answer::SynAck => AnswerKind::SynAck,
        Answer::Ack => AnswerKind::Ack,
        Answer::Rst => AnswerKind::Rst,
        Answer::None => AnswerKind::None,
    }
}

fn side(s: Side) -> SideKind {
    match s {
        Side::Server => SideKind::Server,
        Side::Client => SideKind::Client,
    }
}

fn prediction(p: &crate::rules::Prediction) -> Prediction {
    Prediction {
        answer: answer(p.answer),
        why: p.why.clone(),
    }
}

/// The model's prediction for the case and how it fared against the kernel
/// (`rules.kernel`; the text and HTML reports word it from the same).
pub(crate) fn kernel_model(run: &CaseRun) -> KernelModel {
    let p = &run.prediction;
    let a = &run.agreement;
    KernelModel {
        answer: p.answer.map(answer),
        why: p.why(),
        agrees: Some(a.agrees()),
        checked: a.checked(),
        steps: p
            .steps
            .iter()
            .map(|s| ModelStep {
                function: s.function.to_owned(),
                file: s.file.to_owned(),
                branch: s.branch.to_owned(),
            })
            .collect(),
        differs: a
            .differences()
            .map(|c| ModelDiff {
                field: c.field.clone(),
                predicted: c.predicted.clone(),
                seen: c.seen.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// The event under test as it went out (Contract 3: `event`): its kind, and
/// what it carried relative to the TIME_WAIT socket.
fn event(run: &CaseRun) -> Event {
    let o = &run.outcome;
    let seg = run.obs.event_index.and_then(|i| run.obs.segments.get(i));
    run.case.event.row(SegmentEvent {
        flags: seg.map(|s| s.flags.to_string()),
        seq_vs_rcv_nxt: o.syn2_seq_vs_rcv_nxt,
        ack_vs_snd_nxt: o.event_ack_vs_snd_nxt,
        tsval_vs_ts_recent: o.syn2_tsval_vs_ts_recent,
        len: seg.map(|s| s.payload_len),
    })
}

/// The typed row of one case; `pcap` when one was written.
pub fn case_row(run: &CaseRun, pcap: Option<&Path>) -> CaseRow {
    let obs = &run.obs;
    let o = &run.outcome;
    let b = Bases::from_segments(&obs.segments);
    let segments = obs
        .segments
        .iter()
        .map(|s| {
            let ts = b.ts(s);
            SegmentRow {
                t_ms: (b.ms(s) * 1000.0).round() / 1000.0,
                direction: match s.dir {
                    Dir::ToServer => Direction::ToServer,
                    Dir::ToClient => Direction::ToClient,
                },
                flags: s.flags.to_string(),
                seq: b.seq(s),
                ack: s.flags.ack.then(|| b.ack(s)),
                seq_abs: s.seq.0,
                ack_abs: s.ack.0,
                win: s.win,
                tsval: s.tsval.map(|t| t.0),
                tsecr: s.tsecr.map(|t| t.0),
                tsval_rel: ts.map(|t| t.0),
                len: s.payload_len,
            }
        })
        .collect();
    let ms = |at: u64| ((at as i128 - b.t0_ns as i128) as f64 / 1e3).round() / 1e3;
    let states = obs
        .states
        .iter()
        .map(|c| StateRow {
            t_ms: ms(c.at_ns),
            side: c.side.map(side),
            old: state_name(c.old).to_owned(),
            new: state_name(c.new).to_owned(),
            src: c.src.to_string(),
            dst: c.dst.to_string(),
        })
        .collect();
    let resets = obs
        .resets
        .iter()
        .map(|r| ResetRow {
            t_ms: ms(r.at_ns),
            side: r.side.map(side),
            direction: plain_string(&r.direction),
            state: r.state.map(|s| state_name(s).to_owned()),
            reason: r.reason.clone(),
        })
        .collect();
    let snapshots = obs
        .snapshots
        .iter()
        .map(|(at, s)| Snapshot {
            t_ms: ms(*at),
            ss: s.clone(),
        })
        .collect();
    let v = &run.verdict;
    CaseRow {
        version: Version,
        scenario: run.case.scenario.clone(),
        case: run.case.name.clone(),
        trial: run.case.trial_name(),
        file: run.case.file.display().to_string(),
        builtin: run.case.builtin,
        kernel: run.kernel.clone(),
        family: run.case.family.as_str().to_owned(),
        topology: run.case.topology.as_str().to_owned(),
        answer: answer(o.answer),
        client_syns: o.client_syns,
        established: o.established,
        retry_gap_ms: o.retry_gap_ms,
        time_wait_after: o.time_wait_after,
        why: Some(run.prediction.why()),
        rules: Rules {
            inputs: o.inputs.as_ref().map(|i| Inputs {
                seq: i.seq.0,
                rcv_nxt: i.rcv_nxt.0,
                tsval: i.tsval.map(|t| t.0),
                ts_recent: i.ts_recent.map(|t| t.0),
                server_ts_on: i.server_ts_on,
            }),
            kernel: Some(kernel_model(run)),
            folklore: o.folklore_rule.as_ref().map(prediction),
        },
        peer_notes: obs.peer_notes.clone(),
        event: event(run),
        time_wait_side: (!obs.closing.rst).then_some(side(obs.closing.closer)),
        timer_restarted: o.timer_restarted,
        time_wait_seconds: o.time_wait_seconds,
        timer: Timer {
            before_ms: obs.timer_before.map(|t| t.left_ms),
            after_ms: obs.timer_after.map(|t| t.left_ms),
        },
        connect: o.connect.clone(),
        bind: o.bind.clone(),
        nat_port: o.nat_port.clone(),
        conntrack: obs
            .conntrack
            .iter()
            .map(|c| ConntrackRow {
                t_ms: ms(c.at_ns),
                when: c.when.to_owned(),
                state: c.entry.state.to_string(),
                timeout_s: c.entry.timeout_s,
                orig: c.entry.orig.to_string(),
                reply: c.entry.reply.to_string(),
                status: c.entry.status.to_string(),
            })
            .collect(),
        connections: obs
            .connections
            .iter()
            .map(|c| ConnectionRow {
                client_port: c.client_port,
                time_wait: c.time_wait,
            })
            .collect(),
        reopen_isn: ReopenIsn {
            seq_vs_snd_nxt: o.reopen_isn_vs_snd_nxt,
            from_time_wait: o.isn_from_time_wait(),
        },
        second_syn: SecondSyn {
            seq_vs_rcv_nxt: o.syn2_seq_vs_rcv_nxt,
            tsval_vs_ts_recent: o.syn2_tsval_vs_ts_recent,
            forced_isn: obs.forced_isn.map(|s| s.0),
        },
        time_wait: TimeWait {
            rcv_nxt: obs.first.rcv_nxt.0,
            snd_nxt: obs.first.snd_nxt.0,
            ts_recent: obs.first.ts_recent.map(|t| t.0),
        },
        counters: obs.server_counters.clone(),
        client_counters: obs.client_counters.clone(),
        unavailable_counters: v.unavailable_counters.clone(),
        checks: v.checks.iter().map(check_row).collect(),
        unchecked: v
            .unchecked
            .iter()
            .map(|u| UncheckedRow {
                field: u.field.clone(),
                loc: u.loc.to_string(),
                expected: u.expected.clone(),
                why: u.why.clone(),
            })
            .collect(),
        segments,
        states,
        resets,
        state_source: if obs.trace_unavailable.is_none() {
            "trace"
        } else {
            "sock_diag"
        }
        .to_owned(),
        trace_unavailable: obs.trace_unavailable.clone(),
        snapshots,
        duration_ms: (run.duration.as_secs_f64() * 1e6).round() / 1e3,
        pass: v.pass,
        verdict: v.status,
        folklore: run.folklore.as_ref().map(|f| Folklore {
            claim: f.claim.clone(),
            holds: f.holds,
            differs: f.differs.iter().map(check_row).collect(),
        }),
        pcap: pcap.map(|p| p.display().to_string()),
    }
}

fn check_row(c: &Check) -> CheckRow {
    CheckRow {
        field: c.field.clone(),
        loc: c.loc.to_string(),
        expected: c.expected.clone(),
        seen: c.seen.clone(),
        ok: c.ok,
        note: c.note.clone(),
    }
}

/// A unit enum's serde name (`sent`, `received`).
fn plain_string<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;

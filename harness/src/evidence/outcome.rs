//! What a case showed, read off its evidence: the server's answer to the SYN
//! that hit TIME_WAIT, how many SYNs the client needed, whether it got
//! through, the counters that moved, and what the popular rule predicts for
//! a SYN at a server's TIME_WAIT. Pure functions: no root needed to test.

use serde::Serialize;

use std::time::Duration;

use super::{Observation, TIMER_AGE, handshake_ack};
use crate::observe::counters::Counters;
use crate::rules;
use crate::wire::{Answer, Dir, Segment, Side};

/// What the case showed.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// What the server sent first after the event (for a reconnect: its
    /// answer to the new SYN).
    pub answer: Answer,
    /// Index of the server's answer in the segment list.
    pub answer_index: Option<usize>,
    /// Client SYNs from the event until ESTABLISHED (or the end).
    pub client_syns: u32,
    /// The client completed the new handshake.
    pub established: bool,
    /// Gap between the first and the second SYN of the reconnect.
    pub retry_gap_ms: Option<f64>,
    /// The event's seq relative to the TIME_WAIT side's `rcv_nxt`.
    pub syn2_seq_vs_rcv_nxt: Option<i64>,
    /// The event's tsval relative to the TIME_WAIT side's `ts_recent`.
    pub syn2_tsval_vs_ts_recent: Option<i64>,
    /// The event's ack relative to the TIME_WAIT side's `snd_nxt` (with ACK).
    pub event_ack_vs_snd_nxt: Option<i64>,
    pub time_wait_after: bool,
    /// TIME_WAIT's timer was pushed back by the event; `None` when it could
    /// not be read reliably (no TIME_WAIT before or after, or too young).
    pub timer_restarted: Option<bool>,
    /// TIME_WAIT's length in whole seconds: the time it had left when read
    /// before the event, plus its age then.
    pub time_wait_seconds: Option<u32>,
    /// `[reconnect]`: "ok" or the errno name.
    pub connect: Option<String>,
    /// `[listener] restart`: "ok" or the errno name of the new listener's
    /// bind() or listen().
    pub bind: Option<String>,
    /// Behind a NAT: whether the server saw the event's SYN from the
    /// client's own port (`kept`) or another (`remapped`).
    pub nat_port: Option<String>,
    /// The new connection's ISN on the TIME_WAIT side (the server's SYN-ACK,
    /// or the reconnecting client's SYN) relative to its old `snd_nxt`.
    pub reopen_isn_vs_snd_nxt: Option<i64>,
    pub counters: Counters,
    pub client_counters: Counters,
    /// What the SYN that hit a server's TIME_WAIT carried and what the
    /// server knew.
    pub inputs: Option<rules::Inputs>,
    /// The popular rule applied to those inputs (the kernel's, with the why
    /// of every case, is the model's: `CaseRun::prediction`).
    pub folklore_rule: Option<rules::Prediction>,
}

impl Outcome {
    /// The reopened connection starts at the old `snd_nxt + 65537`
    /// (`tw_snd_nxt + 65535 + 2`, tcp_timewait_state_process() and
    /// tcp_twsk_unique()).
    pub fn isn_from_time_wait(&self) -> Option<bool> {
        self.reopen_isn_vs_snd_nxt.map(|d| d == ISN_FROM_TIME_WAIT)
    }
}

/// `tw_snd_nxt + 65535 + 2`.
pub const ISN_FROM_TIME_WAIT: i64 = 65537;

/// Classify the observation.
pub fn analyze(obs: &Observation, settings: &rules::Settings) -> Outcome {
    let segs = &obs.segments;
    let first = &obs.first;
    let mut out = Outcome {
        answer: Answer::None,
        answer_index: None,
        client_syns: 0,
        established: false,
        retry_gap_ms: None,
        syn2_seq_vs_rcv_nxt: None,
        syn2_tsval_vs_ts_recent: None,
        event_ack_vs_snd_nxt: None,
        time_wait_after: obs.time_wait_after,
        timer_restarted: timer_restarted(obs),
        time_wait_seconds: time_wait_seconds(obs),
        connect: obs.connect.clone(),
        bind: obs.bind.clone(),
        nat_port: obs
            .nat_port
            .map(|(own, seen)| if own == seen { "kept" } else { "remapped" }.to_owned()),
        reopen_isn_vs_snd_nxt: None,
        counters: obs.server_counters.clone(),
        client_counters: obs.client_counters.clone(),
        inputs: None,
        folklore_rule: None,
    };
    let Some(ev) = obs.event_index else {
        return out;
    };
    out.answer_index = segs
        .iter()
        .enumerate()
        .skip(ev + 1)
        .find(|(_, s)| s.dir == Dir::ToClient)
        .map(|(i, _)| i);
    out.answer = Answer::of(out.answer_index.map(|i| &segs[i]));
    let done = handshake_ack(segs, ev);
    let end = done.unwrap_or(segs.len());
    let syns: Vec<&Segment> = segs[ev..end]
        .iter()
        .filter(|s| s.dir == Dir::ToServer && s.flags.is_pure_syn())
        .collect();
    out.retry_gap_ms = syns
        .get(1)
        .map(|second| (second.at_ns.saturating_sub(syns[0].at_ns)) as f64 / 1e6);
    out.client_syns = u32::try_from(syns.len()).unwrap_or(u32::MAX);
    out.established = done.is_some();
    let e = &segs[ev];
    out.syn2_seq_vs_rcv_nxt = Some(e.seq - first.rcv_nxt);
    out.syn2_tsval_vs_ts_recent = match (e.tsval, first.ts_recent) {
        (Some(v), Some(r)) => Some(v - r),
        _ => None,
    };
    out.event_ack_vs_snd_nxt = e.flags.ack.then(|| e.ack - first.snd_nxt);
    let server_tw = obs.closing.closer == Side::Server && !obs.closing.rst;
    out.reopen_isn_vs_snd_nxt = match obs.closing.closer {
        // The server's SYN-ACK to the SYN that reopened its TIME_WAIT.
        Side::Server if server_tw => out
            .answer_index
            .map(|i| &segs[i])
            .filter(|a| a.flags.syn && a.flags.ack)
            .map(|a| a.seq - first.snd_nxt),
        // The client's own SYN from the 4-tuple it held in TIME_WAIT.
        Side::Client if !obs.closing.rst => e.flags.is_pure_syn().then(|| e.seq - first.snd_nxt),
        _ => None,
    };
    if server_tw && e.flags.is_pure_syn() {
        let inputs = rules::Inputs {
            seq: e.seq,
            rcv_nxt: first.rcv_nxt,
            tsval: e.tsval,
            ts_recent: first.ts_recent,
            server_ts_on: settings.timestamps,
        };
        out.folklore_rule = Some(rules::folklore(&inputs));
        out.inputs = Some(inputs);
    }
    out
}

/// TIME_WAIT's length, rounded to seconds: the timer's reading before the
/// event plus how long TIME_WAIT had existed when it was read.
fn time_wait_seconds(obs: &Observation) -> Option<u32> {
    let before = obs.timer_before?;
    let began = obs.segments.get(obs.first.closed_index)?.at_ns;
    let age_ms = before.at_ns.saturating_sub(began) / 1_000_000;
    let total_ms = u64::from(before.left_ms) + age_ms;
    u32::try_from((total_ms + 500) / 1000).ok()
}

/// Whether the event pushed TIME_WAIT's timer back. TIME_WAIT's timer starts
/// at `TCP_TIMEWAIT_LEN` (60 s) when TIME_WAIT begins (the closer's ACK of its
/// peer's FIN) and, when re-armed, again at the event; both moments are
/// capture stamps. Read after the event, a timer left alone has about
/// 60 s - (read - began) left, a re-armed one 60 s - (read - event): they
/// differ by TIME_WAIT's age at the event, which must be past [`TIMER_AGE`]
/// (the executor waits for it when the scenario judges the timer), and the
/// reading counts as re-armed when it is nearer the second. Only the reading's
/// own moment is a userspace stamp (the middle of the sock_diag query).
fn timer_restarted(obs: &Observation) -> Option<bool> {
    let after = obs.timer_after?;
    let began = obs.segments.get(obs.first.closed_index)?.at_ns;
    let event = obs.segments.get(obs.event_index?)?.at_ns;
    if Duration::from_nanos(event.saturating_sub(began)) < TIMER_AGE {
        return None;
    }
    let left_ms = |since: u64| {
        TIME_WAIT_LEN_MS
            - i64::try_from(after.at_ns.saturating_sub(since) / 1_000_000).unwrap_or(i64::MAX)
    };
    let (alone, rearmed) = (left_ms(began), left_ms(event));
    Some(2 * i64::from(after.left_ms) > alone + rearmed)
}

/// `TCP_TIMEWAIT_LEN` (include/net/tcp.h): 60 s on every Linux.
const TIME_WAIT_LEN_MS: i64 = 60_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::first_tests::{first_connection, seg};

    fn obs(segments: Vec<Segment>) -> Observation {
        Observation::for_tests(segments)
    }

    #[test]
    fn syn_ack_answer_is_recycling() {
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, "S", 100, 0, 10));
        segs.push(seg(Dir::ToClient, "S.", 70539, 101, 10));
        segs.push(seg(Dir::ToServer, ".", 101, 70540, 10));
        let o = analyze(&obs(segs), &crate::rules::Settings::default());
        assert_eq!(o.answer, Answer::SynAck);
        assert_eq!((o.client_syns, o.established), (1, true));
        assert_eq!(o.syn2_seq_vs_rcv_nxt, Some(100));
        assert_eq!(o.retry_gap_ms, None);
    }

    #[test]
    fn challenge_ack_then_rst_then_retry() {
        let mut segs = first_connection();
        let below = 0u32.wrapping_sub(1000);
        segs.push(seg(Dir::ToServer, "S", below, 0, 10));
        segs.push(seg(Dir::ToClient, ".", 5002, 0, 10));
        segs.push(seg(Dir::ToServer, "R", 0, 0, 10));
        segs.push(seg(Dir::ToServer, "S", below, 0, 12));
        segs.push(seg(Dir::ToClient, "S.", 9, below.wrapping_add(1), 12));
        segs.push(seg(Dir::ToServer, ".", below.wrapping_add(1), 10, 12));
        let o = analyze(&obs(segs), &crate::rules::Settings::default());
        assert_eq!(o.answer, Answer::Ack);
        assert_eq!((o.client_syns, o.established), (2, true));
        assert_eq!(o.syn2_seq_vs_rcv_nxt, Some(-1000));
        assert_eq!(o.retry_gap_ms, Some(2.0));
    }

    #[test]
    fn no_answer_and_rst_answer() {
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, "S", 7, 0, 10));
        assert_eq!(
            analyze(&obs(segs.clone()), &crate::rules::Settings::default()).answer,
            Answer::None
        );
        segs.push(seg(Dir::ToClient, "R.", 0, 8, 10));
        let o = analyze(&obs(segs), &crate::rules::Settings::default());
        assert_eq!(o.answer, Answer::Rst);
        assert!(!o.established);
    }

    #[test]
    fn a_rearmed_timer_reads_nearer_the_event_than_the_start() {
        use crate::evidence::TimerReading;
        let ms = 1_000_000u64;
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, ".", 7, 5002, 40));
        segs.push(seg(Dir::ToClient, ".", 5002, 0, 40));
        let mut o = obs(segs);
        o.event_index = Some(7);
        // TIME_WAIT began at 1 ms (the closer's ACK), the event came at 40 ms,
        // the timer is read at 60 ms.
        let at = |left_ms| TimerReading {
            at_ns: 60 * ms,
            left_ms,
        };
        o.timer_after = Some(at(60_000 - 20));
        assert_eq!(
            analyze(&o, &crate::rules::Settings::default()).timer_restarted,
            Some(true)
        );
        o.timer_after = Some(at(60_000 - 59));
        assert_eq!(
            analyze(&o, &crate::rules::Settings::default()).timer_restarted,
            Some(false)
        );
        // A jiffy either way does not change the answer.
        o.timer_after = Some(at(60_000 - 59 + 4));
        assert_eq!(
            analyze(&o, &crate::rules::Settings::default()).timer_restarted,
            Some(false)
        );
        // An event 9 ms into TIME_WAIT is too young to tell.
        for s in &mut o.segments[7..] {
            s.at_ns = 10 * ms;
        }
        assert_eq!(
            analyze(&o, &crate::rules::Settings::default()).timer_restarted,
            None
        );
    }
}

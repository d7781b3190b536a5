//! What a case showed, read off its evidence: the server's answer to the SYN
//! that hit TIME_WAIT, how many SYNs the client needed, whether it got
//! through, the counters that moved, and what the kernel's and the popular
//! rule predict for the same inputs. Pure functions: no root needed to test.

use serde::Serialize;

use crate::evidence::{Observation, handshake_ack};
use crate::observe::counters::Counters;
use crate::rules;
use crate::scenario::Answer;
use crate::wire::{Dir, Segment};

/// The server's answer to one segment: its next segment towards the client.
pub fn classify(seg: Option<&Segment>) -> Answer {
    match seg {
        None => Answer::None,
        Some(s) if s.flags.rst => Answer::Rst,
        Some(s) if s.flags.syn && s.flags.ack => Answer::SynAck,
        Some(_) => Answer::Ack,
    }
}

/// What the case showed.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub answer: Answer,
    /// Index of the server's answer in the segment list.
    pub answer_index: Option<usize>,
    /// Client SYNs from the one that hit TIME_WAIT until ESTABLISHED (or the end).
    pub client_syns: u32,
    /// The client completed the new handshake.
    pub established: bool,
    /// Gap between the first and the second SYN of the reconnect.
    pub retry_gap_ms: Option<f64>,
    /// The second SYN's seq relative to the server's `rcv_nxt`.
    pub syn2_seq_vs_rcv_nxt: Option<i64>,
    /// The second SYN's tsval relative to the server's `ts_recent`.
    pub syn2_tsval_vs_ts_recent: Option<i64>,
    pub time_wait_after: bool,
    pub counters: Counters,
    /// What the SYN that hit TIME_WAIT carried and what the server knew.
    pub inputs: Option<rules::Inputs>,
    /// The kernel's rule and the popular rule, applied to those inputs.
    pub kernel_rule: Option<rules::Prediction>,
    pub folklore_rule: Option<rules::Prediction>,
}

/// Classify the observation.
pub fn analyze(obs: &Observation) -> Outcome {
    let segs = &obs.segments;
    let first = &obs.first;
    let Some(syn2) = obs.event_index else {
        return Outcome {
            answer: Answer::None,
            answer_index: None,
            client_syns: 0,
            established: false,
            retry_gap_ms: None,
            syn2_seq_vs_rcv_nxt: None,
            syn2_tsval_vs_ts_recent: None,
            time_wait_after: obs.time_wait_after,
            counters: obs.server_counters.clone(),
            inputs: None,
            kernel_rule: None,
            folklore_rule: None,
        };
    };
    let answer_index = segs
        .iter()
        .enumerate()
        .skip(syn2 + 1)
        .find(|(_, s)| s.dir == Dir::ToClient)
        .map(|(i, _)| i);
    let done = handshake_ack(segs, syn2);
    let end = done.unwrap_or(segs.len());
    let syns: Vec<&Segment> = segs[syn2..end]
        .iter()
        .filter(|s| s.dir == Dir::ToServer && s.flags.is_pure_syn())
        .collect();
    let retry_gap_ms = syns
        .get(1)
        .map(|second| (second.at_ns.saturating_sub(syns[0].at_ns)) as f64 / 1e6);
    let s2 = &segs[syn2];
    let inputs = rules::Inputs {
        seq: s2.seq,
        rcv_nxt: first.rcv_nxt,
        tsval: s2.tsval,
        ts_recent: first.ts_recent,
        server_ts_on: obs.server_ts_on,
    };
    Outcome {
        answer: classify(answer_index.map(|i| &segs[i])),
        answer_index,
        client_syns: u32::try_from(syns.len()).unwrap_or(u32::MAX),
        established: done.is_some(),
        retry_gap_ms,
        syn2_seq_vs_rcv_nxt: Some(s2.seq - first.rcv_nxt),
        syn2_tsval_vs_ts_recent: match (s2.tsval, first.ts_recent) {
            (Some(v), Some(r)) => Some(v - r),
            _ => None,
        },
        time_wait_after: obs.time_wait_after,
        counters: obs.server_counters.clone(),
        kernel_rule: Some(rules::kernel(&inputs)),
        folklore_rule: Some(rules::folklore(&inputs)),
        inputs: Some(inputs),
    }
}

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
        let o = analyze(&obs(segs));
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
        let o = analyze(&obs(segs));
        assert_eq!(o.answer, Answer::Ack);
        assert_eq!((o.client_syns, o.established), (2, true));
        assert_eq!(o.syn2_seq_vs_rcv_nxt, Some(-1000));
        assert_eq!(o.retry_gap_ms, Some(2.0));
    }

    #[test]
    fn no_answer_and_rst_answer() {
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, "S", 7, 0, 10));
        assert_eq!(analyze(&obs(segs.clone())).answer, Answer::None);
        segs.push(seg(Dir::ToClient, "R.", 0, 8, 10));
        let o = analyze(&obs(segs));
        assert_eq!(o.answer, Answer::Rst);
        assert!(!o.established);
    }
}

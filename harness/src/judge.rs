//! Judge a case: classify what the captured segments show (the server's answer
//! to the SYN that hit TIME_WAIT, the client's SYN count, ...) and compare it with
//! the scenario's `[expect]`. Pure functions over typed segments: no root needed
//! to test them.

use serde::Serialize;

use crate::observe::counters::Counters;
use crate::rules;
use crate::run::Observation;
use crate::scenario::{Answer, Expect, Loc};
use crate::wire::{self, Dir, Segment};

/// What the first connection left behind, read off the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstConnection {
    pub client_isn: u32,
    pub server_isn: u32,
    /// The server's `rcv_nxt` in TIME_WAIT: just after the client's FIN.
    pub rcv_nxt: u32,
    /// The server's `snd_nxt`: just after its own FIN.
    pub snd_nxt: u32,
    /// Both SYN and SYN-ACK carried the timestamp option.
    pub ts_negotiated: bool,
    /// The server's `ts_recent`: the tsval of the client's FIN.
    pub ts_recent: Option<u32>,
    /// Index of the client's FIN in the segment list.
    pub fin_index: usize,
}

impl FirstConnection {
    /// Recognise the complete first connection (SYN, SYN-ACK, both FINs, and the
    /// server's ACK of the client's FIN); `None` until all of it was captured.
    pub fn from_segments(segs: &[Segment]) -> Option<FirstConnection> {
        let syn = segs
            .iter()
            .position(|s| s.dir == Dir::ToServer && s.flags.is_pure_syn())?;
        let synack = segs[syn..]
            .iter()
            .find(|s| s.dir == Dir::ToClient && s.flags.syn && s.flags.ack)?;
        let fin_index = syn
            + segs[syn..]
                .iter()
                .position(|s| s.dir == Dir::ToServer && s.flags.fin)?;
        let fin = &segs[fin_index];
        let rcv_nxt = fin.seq_end();
        // The server's ACK of the client's FIN moves it to TIME_WAIT.
        segs[fin_index..]
            .iter()
            .find(|s| s.dir == Dir::ToClient && s.flags.ack && s.ack == rcv_nxt)?;
        let snd_nxt = segs[syn..=fin_index]
            .iter()
            .filter(|s| s.dir == Dir::ToClient)
            .map(Segment::seq_end)
            .max_by(|a, b| wire::rel(*a, *b).cmp(&0))?;
        let ts_negotiated = segs[syn].tsval.is_some() && synack.tsval.is_some();
        Some(FirstConnection {
            client_isn: segs[syn].seq,
            server_isn: synack.seq,
            rcv_nxt,
            snd_nxt,
            ts_negotiated,
            ts_recent: if ts_negotiated { fin.tsval } else { None },
            fin_index,
        })
    }
}

/// The first client SYN after the first connection's FIN: the SYN that hit TIME_WAIT.
pub fn find_syn2(segs: &[Segment], fin_index: usize) -> Option<usize> {
    segs.iter()
        .enumerate()
        .skip(fin_index + 1)
        .find(|(_, s)| s.dir == Dir::ToServer && s.flags.is_pure_syn())
        .map(|(i, _)| i)
}

/// Index of the client's ACK that completes a handshake begun at or after `from`.
pub fn handshake_ack(segs: &[Segment], from: usize) -> Option<usize> {
    let mut synack: Option<u32> = None;
    for (i, s) in segs.iter().enumerate().skip(from) {
        match s.dir {
            Dir::ToClient if s.flags.syn && s.flags.ack => synack = Some(s.seq.wrapping_add(1)),
            Dir::ToServer
                if s.flags.ack && !s.flags.syn && !s.flags.rst && Some(s.ack) == synack =>
            {
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

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
    #[serde(serialize_with = "ser_answer")]
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

fn ser_answer<S: serde::Serializer>(a: &Answer, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

/// Classify the observation.
pub fn analyze(obs: &Observation) -> Outcome {
    let segs = &obs.segments;
    let first = &obs.first;
    let Some(syn2) = obs.syn2_index else {
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
        syn2_seq_vs_rcv_nxt: Some(wire::rel(s2.seq, first.rcv_nxt)),
        syn2_tsval_vs_ts_recent: match (s2.tsval, first.ts_recent) {
            (Some(v), Some(r)) => Some(wire::rel(v, r)),
            _ => None,
        },
        time_wait_after: obs.time_wait_after,
        counters: obs.server_counters.clone(),
        kernel_rule: Some(rules::kernel(&inputs)),
        folklore_rule: Some(rules::folklore(&inputs)),
        inputs: Some(inputs),
    }
}

/// One expectation compared with what was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub field: String,
    #[serde(serialize_with = "ser_loc")]
    pub loc: Loc,
    pub expected: String,
    pub seen: String,
    pub ok: bool,
}

fn ser_loc<S: serde::Serializer>(l: &Loc, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&l.to_string())
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub checks: Vec<Check>,
    /// Expected counters this kernel does not have: reported, not judged.
    pub unavailable_counters: Vec<String>,
}

/// Compare the expectation with the outcome. A counter the running kernel lacks
/// is listed in `unavailable_counters` and the case is judged on the rest; a case
/// with nothing left to judge fails.
pub fn judge(expect: &Expect, outcome: &Outcome, known_counters: &[String]) -> Verdict {
    let mut checks = Vec::new();
    let mut push = |field: &str, loc: &Loc, expected: String, seen: String| {
        let ok = expected == seen;
        checks.push(Check {
            field: field.to_string(),
            loc: loc.clone(),
            expected,
            seen,
            ok,
        });
    };
    if let Some(a) = &expect.answer {
        push(
            "answer",
            &a.loc,
            a.value.as_str().into(),
            outcome.answer.as_str().into(),
        );
    }
    if let Some(n) = &expect.client_syns {
        push(
            "client_syns",
            &n.loc,
            n.value.to_string(),
            outcome.client_syns.to_string(),
        );
    }
    if let Some(b) = &expect.time_wait_after {
        push(
            "time_wait_after",
            &b.loc,
            b.value.to_string(),
            outcome.time_wait_after.to_string(),
        );
    }
    if let Some(b) = &expect.established {
        push(
            "established",
            &b.loc,
            b.value.to_string(),
            outcome.established.to_string(),
        );
    }
    let mut unavailable = Vec::new();
    for c in &expect.counters {
        let (name, want) = &c.value;
        if !known_counters.iter().any(|k| k == name) {
            unavailable.push(name.clone());
            continue;
        }
        let seen = outcome.counters.get(name).copied().unwrap_or(0);
        push(
            &format!("counters.{name}"),
            &c.loc,
            want.to_string(),
            seen.to_string(),
        );
    }
    let pass = !checks.is_empty() && checks.iter().all(|c| c.ok);
    Verdict {
        pass,
        checks,
        unavailable_counters: unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::At;
    use std::path::PathBuf;

    fn seg(dir: Dir, flags: &str, seq: u32, ack: u32, at_ms: u64) -> Segment {
        crate::wire::test_segment(dir, flags, seq, ack, at_ms * 1_000_000, None)
    }

    /// The seed experiment, with seq numbers near the 2^32 wrap.
    fn first_connection() -> Vec<Segment> {
        let (c, s) = (u32::MAX - 1, 5000);
        use Dir::*;
        vec![
            seg(ToServer, "S", c, 0, 0),
            seg(ToClient, "S.", s, c.wrapping_add(1), 0),
            seg(ToServer, ".", c.wrapping_add(1), s + 1, 0),
            seg(ToClient, "F.", s + 1, c.wrapping_add(1), 1),
            seg(ToServer, ".", c.wrapping_add(1), s + 2, 1),
            seg(ToServer, "F.", c.wrapping_add(1), s + 2, 1),
            seg(ToClient, ".", s + 2, c.wrapping_add(2), 1),
        ]
    }

    fn obs(segments: Vec<Segment>) -> Observation {
        Observation::for_tests(segments)
    }

    #[test]
    fn first_connection_is_read_across_the_wrap() {
        let f = FirstConnection::from_segments(&first_connection()).unwrap();
        assert_eq!(f.rcv_nxt, 0, "ISN 2^32-2, SYN and FIN: rcv_nxt wraps to 0");
        assert_eq!(f.snd_nxt, 5002);
        assert_eq!(f.fin_index, 5);
        assert!(!f.ts_negotiated);
        assert!(FirstConnection::from_segments(&first_connection()[..6]).is_none());
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

    fn loc() -> Loc {
        Loc {
            file: PathBuf::from("x.toml"),
            line: 3,
            column: 1,
        }
    }

    #[test]
    fn judge_reports_each_field_and_unavailable_counters() {
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, "S", 100, 0, 10));
        segs.push(seg(Dir::ToClient, ".", 5002, 0, 10));
        let o = analyze(&obs(segs));
        let expect = Expect {
            answer: Some(At {
                value: Answer::SynAck,
                loc: loc(),
            }),
            client_syns: None,
            time_wait_after: Some(At {
                value: false,
                loc: loc(),
            }),
            established: None,
            counters: vec![
                At {
                    value: ("TcpExt.PAWSTimewait".into(), 0),
                    loc: loc(),
                },
                At {
                    value: ("TcpExt.NoSuchCounter".into(), 1),
                    loc: loc(),
                },
            ],
        };
        let v = judge(&expect, &o, &["TcpExt.PAWSTimewait".into()]);
        assert!(!v.pass);
        assert_eq!(v.checks.len(), 3);
        assert_eq!(v.checks[0].seen, "ack");
        assert!(!v.checks[0].ok && v.checks[1].ok && v.checks[2].ok);
        assert_eq!(v.unavailable_counters, vec!["TcpExt.NoSuchCounter"]);
    }

    #[test]
    fn nothing_to_judge_is_not_a_pass() {
        let o = analyze(&obs(first_connection()));
        let expect = Expect {
            counters: vec![At {
                value: ("TcpExt.Gone".into(), 0),
                loc: loc(),
            }],
            ..Expect::default()
        };
        assert!(!judge(&expect, &o, &[]).pass);
    }
}

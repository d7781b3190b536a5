//! The popular rule for a SYN that hits a TIME_WAIT socket, beside the
//! kernel's (whose model is `model`), computed from the observed inputs (never
//! copied from the scenario), so a report can say which rule predicted what.
//!
//! Folklore: with timestamps, the SYN is legal only if seq > rcv_nxt AND
//! tsval > ts_recent; without timestamps, seq > rcv_nxt alone. The kernel
//! (`tcp_timewait_state_process()`): not rejected by PAWS, and seq after
//! rcv_nxt OR tsval newer than ts_recent.

use serde::Serialize;

use crate::wire::{Answer, Seq, TsVal};

/// The TIME_WAIT side's settings the rules read, from the case's sysctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `net.ipv4.tcp_timestamps` != 0 in its namespace.
    pub timestamps: bool,
}

impl Default for Settings {
    /// The kernel's default: timestamps on.
    fn default() -> Settings {
        Settings { timestamps: true }
    }
}

/// What the server knew and what the SYN carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Inputs {
    pub seq: Seq,
    pub rcv_nxt: Seq,
    pub tsval: Option<TsVal>,
    /// `tw_ts_recent` when the old connection negotiated timestamps.
    pub ts_recent: Option<TsVal>,
    /// The server namespace's `net.ipv4.tcp_timestamps` != 0.
    pub server_ts_on: bool,
}

/// A rule's prediction and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    pub answer: Answer,
    pub why: String,
}

/// The popular rule: seq AND timestamp must both be newer (when the old
/// connection had timestamps).
pub fn folklore(i: &Inputs) -> Prediction {
    let seq_after = i.seq.after(i.rcv_nxt);
    match i.ts_recent {
        Some(r) => {
            let ts_newer = i.tsval.is_some_and(|v| v.after(r));
            let ok = seq_after && ts_newer;
            Prediction {
                answer: if ok { Answer::SynAck } else { Answer::Ack },
                why: format!(
                    "seq > rcv_nxt: {}, tsval > ts_recent: {} -> {}",
                    if seq_after { "yes" } else { "no" },
                    if ts_newer { "yes" } else { "no" },
                    if ok { "legal" } else { "illegal" }
                ),
            }
        }
        None => Prediction {
            answer: if seq_after {
                Answer::SynAck
            } else {
                Answer::Ack
            },
            why: format!(
                "no timestamps: seq > rcv_nxt: {}",
                if seq_after { "yes" } else { "no" }
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(seq_off: i64, ts_off: Option<i64>) -> Inputs {
        let rcv_nxt = Seq(5);
        let recent = TsVal(u32::MAX - 3);
        Inputs {
            seq: rcv_nxt + seq_off,
            rcv_nxt,
            tsval: ts_off.map(|o| recent + o),
            ts_recent: Some(recent),
            server_ts_on: true,
        }
    }

    #[test]
    fn folklore_needs_both() {
        assert_eq!(folklore(&inputs(1, Some(1))).answer, Answer::SynAck);
        assert_eq!(folklore(&inputs(-1000, Some(10))).answer, Answer::Ack);
        assert_eq!(folklore(&inputs(1, Some(0))).answer, Answer::Ack);
        let mut no_ts = inputs(1, None);
        no_ts.ts_recent = None;
        assert_eq!(folklore(&no_ts).answer, Answer::SynAck);
    }
}

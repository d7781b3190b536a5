//! The two rules for a SYN that hits a TIME_WAIT socket, computed from the
//! observed inputs (never copied from the scenario), so a report can say which
//! rule predicted what and why the kernel decided as it did.
//!
//! Kernel (tcp_timewait_state_process(), net/ipv4/tcp_minisocks.c): the SYN is
//! accepted (TCP_TW_SYN) when it is not rejected by PAWS and (its seq is after
//! rcv_nxt, or it carries a timestamp newer than ts_recent); otherwise the
//! server answers with the TIME_WAIT ACK (TCP_TW_ACK). PAWS applies only when
//! the old connection had timestamps and the server's tcp_timestamps is on when
//! the SYN arrives (tcp_parse_options() with estab = 0); tcp_paws_reject() uses
//! tcp_paws_check(.., 0): any tsval older than ts_recent is rejected.
//!
//! Folklore: with timestamps, the SYN is legal only if seq > rcv_nxt AND
//! tsval > ts_recent; without timestamps, seq > rcv_nxt alone.

use serde::Serialize;

use crate::wire::{Answer, Flags, Seq, TsVal};

/// The TIME_WAIT side's settings the rules read, from the case's sysctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `net.ipv4.tcp_timestamps` != 0 in its namespace.
    pub timestamps: bool,
    /// `net.ipv4.tcp_rfc1337` != 0.
    pub rfc1337: bool,
}

impl Default for Settings {
    /// The kernel's defaults: timestamps on, RFC 1337 off.
    fn default() -> Settings {
        Settings {
            timestamps: true,
            rfc1337: false,
        }
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

fn seq_words(i: &Inputs) -> String {
    let d = i.seq - i.rcv_nxt;
    match d {
        0 => "seq equal to rcv_nxt".to_string(),
        d if d > 0 => format!("seq {d} after rcv_nxt"),
        d => format!("seq {} below rcv_nxt", -d),
    }
}

fn ts_words(tsval: TsVal, recent: TsVal) -> String {
    let d = tsval - recent;
    match d {
        0 => format!("tsval {tsval} equal to ts_recent"),
        d if d > 0 => format!("tsval {tsval} newer than ts_recent {recent}"),
        _ => format!("tsval {tsval} older than ts_recent {recent}"),
    }
}

/// The kernel's rule (TCP_TW_SYN vs TCP_TW_ACK).
pub fn kernel(i: &Inputs) -> Prediction {
    const WHERE: &str = "tcp_timewait_state_process()";
    let seq_after = i.seq.after(i.rcv_nxt);
    // tw_ts_recent_stamp is set, the server's sysctl lets tcp_parse_options()
    // see the option, and the SYN carries one.
    let saw = match (i.ts_recent, i.tsval, i.server_ts_on) {
        (Some(r), Some(v), true) => Some((v, r)),
        _ => None,
    };
    if let Some((v, r)) = saw
        && v < r
    {
        return Prediction {
            answer: Answer::Ack,
            why: format!(
                "rejected by PAWS: {} (tcp_paws_reject()); {}; TIME_WAIT ACK — {WHERE}",
                ts_words(v, r),
                seq_words(i)
            ),
        };
    }
    let ts_newer = saw.is_some_and(|(v, r)| v.after(r));
    let ts_part = match (saw, i.ts_recent, i.tsval) {
        (Some((v, r)), _, _) => ts_words(v, r),
        (None, None, _) => "no timestamps on the old connection".to_string(),
        (None, Some(_), None) => "no timestamp option in the SYN".to_string(),
        (None, Some(_), Some(_)) => {
            "timestamp option ignored (server tcp_timestamps=0)".to_string()
        }
    };
    if seq_after || ts_newer {
        let because = if seq_after && ts_newer {
            format!("{} and {}", seq_words(i), ts_part)
        } else if seq_after {
            format!("{} ({})", seq_words(i), ts_part)
        } else {
            format!("{} ({})", ts_part, seq_words(i))
        };
        Prediction {
            answer: Answer::SynAck,
            why: format!("accepted: {because} — {WHERE}"),
        }
    } else {
        Prediction {
            answer: Answer::Ack,
            why: format!(
                "not accepted: {}, {}; TIME_WAIT ACK seq=snd_nxt ack=rcv_nxt — {WHERE}",
                seq_words(i),
                ts_part
            ),
        }
    }
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

/// What reached a TIME_WAIT socket, for naming the branch that decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub flags: Flags,
    pub seq: Seq,
    pub len: u32,
    pub rcv_nxt: Seq,
    pub tsval: Option<TsVal>,
    pub ts_recent: Option<TsVal>,
    pub server_ts_on: bool,
    /// The TIME_WAIT side's `net.ipv4.tcp_rfc1337`.
    pub rfc1337: bool,
}

/// The branch of `tcp_timewait_state_process()` (net/ipv4/tcp_minisocks.c)
/// that any segment takes in a real TIME_WAIT (not the FIN_WAIT2 substate),
/// in words: what the kernel does with it and why.
pub fn timewait_branch(a: &Arrival) -> String {
    const WHERE: &str = "tcp_timewait_state_process()";
    let f = a.flags;
    let d = a.seq - a.rcv_nxt;
    let paws = match (a.ts_recent, a.tsval, a.server_ts_on) {
        (Some(r), Some(v), true) => v < r,
        _ => false,
    };
    let ts_newer =
        matches!((a.ts_recent, a.tsval, a.server_ts_on), (Some(r), Some(v), true) if v.after(r));
    let zero_len = a.len == 0 && !f.syn && !f.fin;
    if !paws && d == 0 && (zero_len || f.rst) {
        return if f.rst && a.rfc1337 {
            format!(
                "RST at rcv_nxt: ignored (net.ipv4.tcp_rfc1337 = 1, RFC 1337), TIME_WAIT stays \
                 and its timer is not re-armed — {WHERE}"
            )
        } else if f.rst {
            format!("RST at rcv_nxt: kills TIME_WAIT (net.ipv4.tcp_rfc1337 = 0) — {WHERE}")
        } else {
            format!(
                "zero-length segment exactly at rcv_nxt: TIME_WAIT's timer is re-armed to 60 s, \
                 ts_recent updated, no answer — {WHERE}"
            )
        };
    }
    if f.syn && !f.rst && !f.ack && !paws && (a.seq.after(a.rcv_nxt) || ts_newer) {
        let because = if a.seq.after(a.rcv_nxt) {
            format!("seq {d:+} after rcv_nxt")
        } else {
            "a tsval newer than ts_recent".to_string()
        };
        let then = if f.fin {
            "TIME_WAIT is killed and the listener drops a SYN that carries FIN \
             (tcp_rcv_state_process(), LISTEN): no answer"
        } else {
            "TIME_WAIT is killed and the listener answers (SYN-ACK)"
        };
        return format!("TCP_TW_SYN: a SYN with {because} reopens the 4-tuple; {then} — {WHERE}");
    }
    let paws_note = if paws {
        "rejected by PAWS (tsval older than ts_recent: TcpExt.PAWSTimewait, PAWSEstab before 6.16); "
    } else {
        ""
    };
    if f.rst {
        return format!("{paws_note}RST not exactly at rcv_nxt (seq {d:+}): ignored — {WHERE}");
    }
    let limited = if f.syn || (a.len == 0 && !f.fin) {
        "rate-limited by net.ipv4.tcp_invalid_ratelimit (the first is never limited)"
    } else {
        "not rate-limited (it carries data or FIN)"
    };
    let rearm = if paws || f.ack {
        "the timer is re-armed to 60 s"
    } else {
        "the timer is not re-armed (no ACK flag)"
    };
    format!(
        "{paws_note}not acceptable in TIME_WAIT (seq {d:+}): the TIME_WAIT ACK seq=snd_nxt \
         ack=rcv_nxt, {limited}; {rearm} — {WHERE}"
    )
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
    fn kernel_rule_is_paws_then_or() {
        let cases = [
            (1, Some(10), Answer::SynAck),
            (1, Some(0), Answer::SynAck),
            (1, Some(-1), Answer::Ack),
            (1, None, Answer::SynAck),
            (0, Some(10), Answer::SynAck),
            (0, Some(0), Answer::Ack),
            (-1000, Some(10), Answer::SynAck),
            (-1000, Some(0), Answer::Ack),
            (-1000, Some(-10), Answer::Ack),
            (-1000, None, Answer::Ack),
        ];
        for (seq, ts, want) in cases {
            let p = kernel(&inputs(seq, ts));
            assert_eq!(p.answer, want, "seq {seq} ts {ts:?}: {}", p.why);
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

    #[test]
    fn server_sysctl_off_ignores_the_option() {
        let mut i = inputs(-1000, Some(-10));
        i.server_ts_on = false;
        let p = kernel(&i);
        assert_eq!(p.answer, Answer::Ack);
        assert!(p.why.contains("ignored"), "{}", p.why);
        i.seq = i.rcv_nxt + 1;
        assert_eq!(
            kernel(&i).answer,
            Answer::SynAck,
            "no PAWS without the option"
        );
    }

    fn arrival(flags: &str, d: i64, ts: Option<i64>) -> Arrival {
        Arrival {
            flags: Flags::from_tcpdump(flags),
            seq: Seq(100) + d,
            len: 0,
            rcv_nxt: Seq(100),
            tsval: ts.map(|o| TsVal(50) + o),
            ts_recent: Some(TsVal(50)),
            server_ts_on: true,
            rfc1337: false,
        }
    }

    #[test]
    fn each_branch_of_the_time_wait_state_machine_is_named() {
        let b = |flags: &str, d: i64, ts: Option<i64>| timewait_branch(&arrival(flags, d, ts));
        assert!(b(".", 0, Some(1)).contains("re-armed to 60 s, ts_recent updated, no answer"));
        assert!(b("R", 0, None).contains("kills TIME_WAIT"));
        let mut rst = arrival("R", 0, None);
        rst.rfc1337 = true;
        assert!(timewait_branch(&rst).contains("ignored (net.ipv4.tcp_rfc1337 = 1"));
        assert!(b("R.", 1, None).contains("RST not exactly at rcv_nxt (seq +1): ignored"));
        assert!(b("S", 1, Some(1)).starts_with("TCP_TW_SYN: a SYN with seq +1 after rcv_nxt"));
        assert!(b("SF", 1, Some(1)).contains("listener drops a SYN that carries FIN"));
        assert!(b("S", -1, Some(-1)).starts_with("rejected by PAWS"));
        assert!(
            b("F.", -1, Some(1))
                .contains("not rate-limited (it carries data or FIN); the timer is re-armed")
        );
        assert!(b("F", 0, Some(1)).contains("the timer is not re-armed (no ACK flag)"));
        assert!(b(".", 1, Some(1)).contains("rate-limited by net.ipv4.tcp_invalid_ratelimit"));
    }

    #[test]
    fn why_names_the_deciding_input() {
        let p = kernel(&inputs(-1000, Some(10)));
        assert!(p.why.starts_with("accepted: tsval"), "{}", p.why);
        assert!(p.why.contains("seq 1000 below rcv_nxt"), "{}", p.why);
    }
}

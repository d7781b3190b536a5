//! The server's side of a case whose event hits its TIME_WAIT (`[second_syn]`,
//! `[segment]`), segment by segment: TIME_WAIT's branches while the TIME_WAIT
//! socket lives, the listener once it is gone (or when the close left none),
//! the rate limit on TIME_WAIT's out-of-window ACKs, the handshake a SYN-ACK
//! opens, and the counters all of it moves. The event kinds say which client
//! segments arrive; this says what the server does with them.

use super::changes::{PAWS_COUNTER, REOPEN_ISN};
use super::close;
use super::timewait::{self, Arrival, Effect, TimeWait};
use super::{Inputs, Model, Prediction, Step, listener};
use crate::release::Release;
use crate::wire::Answer;

/// A follow-up segment of the client (a kernel client's retransmitted SYN,
/// the raw peer's next step) arrives within this long of the answer it
/// follows; `net.ipv4.tcp_invalid_ratelimit` above it holds TIME_WAIT's next
/// out-of-window ACK back, 0 never does, and in between the model cannot tell.
const FOLLOW_UP_MS: u32 = 100;

/// The server side as the client's segments reach it. The `ts_recent` the
/// in-window branch may update is not tracked: no segment that follows one in
/// a case carries a timestamp relative to the new value (the follow-ups are
/// RSTs without one, and SYNs whose tsval is set against the first
/// connection's `ts_recent`, as the raw peer sets it).
pub(crate) struct Flow<'m> {
    model: Model<'m>,
    release: Option<Release>,
    tw: TimeWait,
    ratelimit_ms: u32,
    /// It is still there.
    alive: bool,
    rearmed: bool,
    /// TIME_WAIT sent an out-of-window ACK (`tw_last_oow_ack_time` set).
    oow_acked: bool,
    /// The server's first answer, and whether it was a SYN-ACK to a SYN that
    /// reopened TIME_WAIT (`TCP_TW_SYN`).
    first: Option<(Answer, bool)>,
    syns: u32,
    established: bool,
    out_segs: i64,
    out_rsts: i64,
    passive_opens: i64,
    paws: i64,
    skipped: i64,
    steps: Vec<Step>,
    /// The rest cannot be told: it depends on timing.
    undecided: bool,
    /// The client's segments count in the server's namespace too.
    one_namespace: bool,
    /// The client's segments come on another 4-tuple than the TIME_WAIT's
    /// (a NAT remapped the port): they meet the listener, TIME_WAIT stays.
    elsewhere: bool,
}

impl<'m> Flow<'m> {
    /// The server after the close: in TIME_WAIT or not.
    pub fn new(model: &Model<'m>, i: &Inputs) -> Flow<'m> {
        let (existed, step) = close::left(&i.closing);
        Flow {
            model: *model,
            release: i.release,
            tw: i.time_wait(),
            ratelimit_ms: i.tw.invalid_ratelimit_ms,
            alive: existed,
            rearmed: false,
            oow_acked: false,
            first: None,
            syns: 0,
            established: false,
            out_segs: 0,
            out_rsts: 0,
            passive_opens: 0,
            paws: 0,
            skipped: 0,
            steps: vec![step],
            undecided: false,
            one_namespace: i.one_namespace,
            elsewhere: false,
        }
    }

    /// From now on the client's segments carry another 4-tuple than the
    /// TIME_WAIT's; `step` says why.
    pub fn new_tuple(&mut self, step: Step) {
        self.elsewhere = true;
        self.steps.push(step);
    }

    pub fn established(&self) -> bool {
        self.established
    }

    pub fn undecided(&self) -> bool {
        self.undecided
    }

    /// The rest depends on timing the case does not fix; `step` says why.
    pub fn give_up(&mut self, step: Step) {
        self.undecided = true;
        self.steps.push(step);
    }

    /// Note a step that is not the server's (the client's reaction).
    pub fn note(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// A client segment reaches the server: what the server sends back.
    pub fn arrive(&mut self, a: Arrival) -> Answer {
        if a.flags.is_pure_syn() {
            self.syns += 1;
        }
        let (answer, reopened) = if self.alive && !self.elsewhere {
            self.time_wait(a)
        } else {
            (self.listener(a), false)
        };
        if self.undecided {
            return answer;
        }
        if answer != Answer::None && self.first.is_none() {
            self.first = Some((answer, reopened));
        }
        match answer {
            Answer::None => {}
            Answer::Ack => self.out_segs += 1,
            Answer::Rst => {
                self.out_segs += 1;
                self.out_rsts += 1;
            }
            Answer::SynAck => {
                self.out_segs += 1;
                // The client (kernel or raw peer) ACKs a SYN-ACK to its SYN
                // at once; the listener's child is created then.
                self.established = true;
                self.passive_opens += 1;
            }
        }
        answer
    }

    /// `tcp_timewait_state_process()`, then what its verdict leads to.
    fn time_wait(&mut self, a: Arrival) -> (Answer, bool) {
        let d = timewait::decide(self.model.time_wait, self.tw, a);
        if d.seen.paws_reject {
            self.paws += 1;
        }
        self.steps.push(Step {
            function: timewait::FUNCTION,
            file: timewait::FILE,
            branch: d.branch,
            why: d.why,
        });
        match d.effect {
            Effect::Kill => {
                self.alive = false;
                (Answer::None, false)
            }
            Effect::Keep { rearm } => {
                self.rearmed |= rearm;
                (Answer::None, false)
            }
            Effect::Reopen => {
                self.alive = false;
                (self.listener(a), true)
            }
            Effect::Ack { rearm } => {
                self.rearmed |= rearm;
                (self.oow_ack(&a), false)
            }
        }
    }

    /// `tcp_timewait_check_oow_rate_limit()`: the first out-of-window ACK is
    /// never held back (`tw_last_oow_ack_time` is 0); a later one to a
    /// segment without data or FIN, or to a SYN, is when it comes less than
    /// `net.ipv4.tcp_invalid_ratelimit` after the last.
    fn oow_ack(&mut self, a: &Arrival) -> Answer {
        if !self.oow_acked || !timewait::rate_limitable(a) || self.ratelimit_ms == 0 {
            self.oow_acked = true;
            return Answer::Ack;
        }
        if self.ratelimit_ms <= FOLLOW_UP_MS {
            self.give_up(Step {
                function: "tcp_timewait_check_oow_rate_limit()",
                file: timewait::FILE,
                branch: "rate limit: timing decides",
                why: format!(
                    "whether TIME_WAIT's next ACK is held back depends on how soon the segment \
                     follows the last one (net.ipv4.tcp_invalid_ratelimit = {} ms) — \
                     tcp_timewait_check_oow_rate_limit()",
                    self.ratelimit_ms
                ),
            });
            return Answer::None;
        }
        self.skipped += 1;
        self.steps.push(Step {
            function: "tcp_timewait_check_oow_rate_limit()",
            file: timewait::FILE,
            branch: "rate-limited: no ACK",
            why: format!(
                "that ACK is held back: TIME_WAIT sent its last out-of-window ACK less than \
                 net.ipv4.tcp_invalid_ratelimit = {} ms ago (TcpExt.TCPACKSkippedTimeWait) — \
                 tcp_timewait_check_oow_rate_limit()",
                self.ratelimit_ms
            ),
        });
        Answer::None
    }

    /// The listener gets the segment.
    fn listener(&mut self, a: Arrival) -> Answer {
        let met = listener::receive(a.flags);
        self.steps.push(Step {
            function: listener::FUNCTION,
            file: listener::FILE,
            branch: met.branch,
            why: met.why,
        });
        met.answer
    }

    /// The prediction: what the segments led to.
    pub fn finish(self) -> Prediction {
        let decided = !self.undecided;
        let (answer, reopened) = self.first.unwrap_or((Answer::None, false));
        let isn_from_time_wait = match (answer, reopened) {
            // The SYN-ACK to the SYN that reopened TIME_WAIT.
            (Answer::SynAck, true) => Some(REOPEN_ISN.holds(self.release)),
            // A SYN-ACK of the listener alone: an ordinary secure_tcp_seq() ISN.
            (Answer::SynAck, false) => Some(false),
            _ => None,
        };
        let paws_counter = if PAWS_COUNTER.holds(self.release) {
            "TcpExt.PAWSTimewait"
        } else {
            "TcpExt.PAWSEstab"
        };
        let mut counters = if decided {
            vec![
                ("Tcp.OutSegs", self.out_segs),
                ("Tcp.OutRsts", self.out_rsts),
                ("Tcp.PassiveOpens", self.passive_opens),
                (paws_counter, self.paws),
                ("TcpExt.TCPACKSkippedTimeWait", self.skipped),
            ]
        } else {
            Vec::new()
        };
        if self.one_namespace {
            // The kernel client's SYNs, its RST and its ACK count in the
            // same namespace, and the flow follows the server's side only:
            // what the server alone moves is stated, the rest left open.
            counters.retain(|(name, _)| !matches!(*name, "Tcp.OutSegs" | "Tcp.OutRsts"));
        }
        Prediction {
            answer: Some(answer),
            client_syns: decided.then_some(self.syns),
            established: decided.then_some(self.established),
            isn_from_time_wait,
            counters,
            steps: self.steps,
            ..Prediction::time_wait_left(self.alive, self.rearmed)
        }
    }
}

//! What the model reads about one case: the kernel release, how the side that
//! holds TIME_WAIT closed and its settings (its namespace's sysctls), whether
//! the old connection had timestamps, and what the event carried relative to
//! the TIME_WAIT socket. Built from the case alone ([`Inputs::planned`]: what
//! the harness is told to send) or with what the capture saw
//! ([`Inputs::observed`]: what the event's segment really carried).

use super::close::Closing;
use super::timewait::{Arrival, TimeWait};
use crate::event::Event;
use crate::event::reconnect::PortMode;
use crate::event::restart::Options;
use crate::event::syn::Then;
use crate::evidence::Observation;
use crate::lab::Shape;
use crate::peer::raw::AUTO_SEQ_AHEAD;
use crate::release::Release;
use crate::scenario::{Case, ClientKind, SeqExpr, TsExpr};
use crate::wire::{Flags, Side, TsVal};

/// Where a kernel client's own SYN lands relative to the TIME_WAIT's
/// `rcv_nxt` when its ISN is not forced: after it, since `secure_tcp_seq()`'s
/// clock (about one per 64 ns) has moved on more than the first connection's
/// few bytes. Only the sign is read.
const KERNEL_ISN_AHEAD: i64 = 65_536;

/// Everything the model reads about one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The kernel the case ran on (`None`: a release that does not read as
    /// one; the model then takes the newest rules).
    pub release: Option<Release>,
    /// How the side that closed first closed, and what its namespace says
    /// about TIME_WAIT.
    pub closing: Closing,
    /// The TIME_WAIT side's settings.
    pub tw: TwSettings,
    /// The old connection negotiated timestamps (`tw_ts_recent_stamp` set).
    pub timestamps_negotiated: bool,
    /// The TIME_WAIT's `ts_recent` is 0.
    pub ts_recent_zero: bool,
    /// Server and client share one network namespace (`[topology] kind =
    /// "loopback"`): every MIB counter moves for both sides' segments, so
    /// the server's and the client's counters are one and the same.
    pub one_namespace: bool,
    pub event: EventInputs,
}

/// The sysctls of the side that holds TIME_WAIT, as the case sets them (the
/// kernel's defaults otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwSettings {
    /// `net.ipv4.tcp_timestamps != 0` (default 1).
    pub timestamps: bool,
    /// `net.ipv4.tcp_rfc1337 != 0` (default 0).
    pub rfc1337: bool,
    /// `net.ipv4.tcp_invalid_ratelimit` in ms (default 500).
    pub invalid_ratelimit_ms: u32,
    /// `net.ipv4.tcp_tw_reuse` (default 2: loopback only).
    pub tw_reuse: u32,
    /// `net.ipv4.tcp_tw_reuse_delay` in ms (default 1000; since 6.14).
    pub tw_reuse_delay_ms: u32,
}

/// What the event is, with what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventInputs {
    Syn(SynInputs),
    /// The segment, relative to the TIME_WAIT socket.
    Segment(Arrival),
    Reconnect(ReconnectInputs),
    Restart(RestartInputs),
}

/// `[second_syn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynInputs {
    pub client: ClientKind,
    /// The SYN, relative to the TIME_WAIT socket.
    pub syn: Arrival,
    /// The raw peer's steps after the answer.
    pub then: Vec<Then>,
    /// Behind a masquerading router (`[topology] kind = "nat"`): which of its
    /// clients sends the SYN (`[second_syn] from`; 1 is the machine that made
    /// the first connection).
    pub behind_nat: Option<u8>,
    /// The tsval (relative to `ts_recent`) of the SYN when it goes again:
    /// the raw peer's `then = ["syn"]`, the kernel client's retransmission.
    pub again_tsval: Option<i64>,
}

/// `[reconnect]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectInputs {
    pub port: PortMode,
    /// How long after TIME_WAIT began `connect()` runs, at least.
    pub after_ms: u32,
    /// The 4-tuple is loopback for `tcp_twsk_unique()` (a loopback address,
    /// or bound to `lo`): the case's lab is `[topology] kind = "loopback"`
    /// (127.0.0.1 / ::1); a veth lab's addresses (198.18.0.0/15, 2001:2::/48)
    /// never are.
    pub loopback: bool,
    /// The first connection's port was bound with `bind()` (the harness
    /// binds it unless the reconnect lets `connect()` pick).
    pub first_port_bound: bool,
    /// The connections before the event and the `connect()` fell in one
    /// second of `ktime_get_seconds()`: the harness aligns them when the
    /// second matters (a port `connect()` picks, sooner than a second after),
    /// and a run where they did not is uncertain, never a verdict.
    pub same_second: bool,
}

/// `[listener] restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartInputs {
    /// The first listener's options, which its accepted child and so the
    /// TIME_WAIT inherited.
    pub first: Options,
    /// The new listener's.
    pub new: Options,
}

impl EventInputs {
    /// The event's name, as `event::Event::name()` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            EventInputs::Syn(_) => crate::event::syn::NAME,
            EventInputs::Segment(_) => crate::event::segment::NAME,
            EventInputs::Reconnect(_) => crate::event::reconnect::NAME,
            EventInputs::Restart(_) => crate::event::restart::NAME,
        }
    }
}

impl Inputs {
    /// The case as written: its settings, and for what its event carries
    /// what the harness is told to send (a raw peer's `auto` seq is
    /// `rcv_nxt + 100000` for a SYN and `rcv_nxt` for a segment, its `auto`
    /// tsval newer than `ts_recent`; a kernel client's SYN is after `rcv_nxt`
    /// unless its ISN is forced, and its tsval newer).
    pub fn planned(case: &Case, release: Option<Release>) -> Inputs {
        let side = case.closes_first;
        let negotiated = case.sysctl_on(Side::Server, "net.ipv4.tcp_timestamps")
            && case.sysctl_on(Side::Client, "net.ipv4.tcp_timestamps");
        let number = |key: &str| {
            case.sysctl(side, key)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let small = |key: &str, default: u32| {
            number(key)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(default)
        };
        let tw = TwSettings {
            timestamps: case.sysctl_on(side, "net.ipv4.tcp_timestamps"),
            rfc1337: number("net.ipv4.tcp_rfc1337").is_some_and(|v| v != 0),
            invalid_ratelimit_ms: small("net.ipv4.tcp_invalid_ratelimit", 500),
            tw_reuse: small("net.ipv4.tcp_tw_reuse", 2),
            tw_reuse_delay_ms: small("net.ipv4.tcp_tw_reuse_delay", 1000),
        };
        let closing = Closing {
            side,
            close: case.close,
            max_tw_buckets: number("net.ipv4.tcp_max_tw_buckets"),
            fin_timeout: number("net.ipv4.tcp_fin_timeout").and_then(|v| u32::try_from(v).ok()),
        };
        Inputs {
            release,
            closing,
            tw,
            timestamps_negotiated: negotiated,
            ts_recent_zero: false,
            one_namespace: case.topology == Shape::Loopback,
            event: planned_event(case, negotiated),
        }
    }

    /// The case as it ran on `kernel` (`uname -r`): whether timestamps were
    /// negotiated and what the event's segment carried, read off the capture.
    pub fn observed(case: &Case, obs: &Observation, kernel: &str) -> Inputs {
        let mut i = Inputs::planned(case, Release::parse(kernel));
        let first = &obs.first;
        i.timestamps_negotiated = first.ts_negotiated;
        i.ts_recent_zero = first.ts_recent == Some(TsVal(0));
        if let Some(seg) = obs.event_index.and_then(|k| obs.segments.get(k)) {
            let carried = Arrival {
                flags: seg.flags,
                seq: seg.seq - first.rcv_nxt,
                len: seg.payload_len,
                tsval: match (seg.tsval, first.ts_recent) {
                    (Some(v), Some(r)) if first.ts_negotiated => Some(v - r),
                    _ => None,
                },
            };
            match &mut i.event {
                EventInputs::Syn(e) => e.syn = carried,
                EventInputs::Segment(a) => *a = carried,
                EventInputs::Reconnect(_) | EventInputs::Restart(_) => {}
            }
        }
        i
    }

    /// The TIME_WAIT socket as `tcp_timewait_state_process()` reads it.
    pub(crate) fn time_wait(&self) -> TimeWait {
        TimeWait {
            ts_recent: self.timestamps_negotiated,
            ts_recent_zero: self.ts_recent_zero,
            timestamps: self.tw.timestamps,
            rfc1337: self.tw.rfc1337,
        }
    }
}

/// What the case's event is told to carry.
fn planned_event(case: &Case, negotiated: bool) -> EventInputs {
    // A tsval as the raw peer picks it (peer::raw): `auto` is newer than
    // ts_recent when timestamps were negotiated, none otherwise.
    let tsval = |e: TsExpr, rst: bool| match e {
        TsExpr::Auto if negotiated && !rst => Some(1),
        TsExpr::TsRecent(off) if negotiated => Some(off),
        TsExpr::Auto | TsExpr::TsRecent(_) | TsExpr::Absent => None,
    };
    match &case.event {
        Event::Syn(s) => {
            let raw = case.client_kind == ClientKind::Raw;
            let seq = match s.seq.value {
                SeqExpr::Auto if raw => AUTO_SEQ_AHEAD,
                SeqExpr::Auto => KERNEL_ISN_AHEAD,
                SeqExpr::RcvNxt(off) => off,
            };
            let first = tsval(s.tsval.value, false);
            EventInputs::Syn(SynInputs {
                client: case.client_kind,
                syn: Arrival {
                    flags: Flags::from_tcpdump("S"),
                    seq,
                    len: 0,
                    tsval: first,
                },
                then: s.then.clone(),
                behind_nat: matches!(case.topology, Shape::Nat { .. }).then_some(s.from.value),
                // The raw peer picks the tsval again the same way; the
                // kernel's clock has moved on by the retransmission.
                again_tsval: if raw { first } else { first.map(|v| v + 1) },
            })
        }
        Event::Segment(s) => {
            let flags = Flags::from_tcpdump(&s.flags);
            EventInputs::Segment(Arrival {
                flags,
                seq: match s.seq.value {
                    SeqExpr::Auto => 0,
                    SeqExpr::RcvNxt(off) => off,
                },
                len: s.len,
                // A kernel's RST carries no timestamp, so neither does the
                // raw peer's `auto` one.
                tsval: tsval(s.tsval.value, flags.rst),
            })
        }
        Event::Reconnect(r) => EventInputs::Reconnect(ReconnectInputs {
            port: r.port,
            after_ms: r.after_ms,
            loopback: case.topology == Shape::Loopback,
            first_port_bound: r.port == PortMode::Bind,
            same_second: crate::exec::plan::second_matters(case),
        }),
        Event::Restart(r) => EventInputs::Restart(RestartInputs {
            // No [listener] table: synlab's own listener, with SO_REUSEADDR.
            first: case.listener.unwrap_or(Options::Reuseaddr),
            new: r.options,
        }),
    }
}

//! The evidence of one case: everything the executor and the state trace saw,
//! in the types every later stage reads (the judge, the reports, the pcap).
//! Built once by `exec`, never changed after.

mod first;
mod outcome;

pub use first::{Closing, FirstConnection, handshake_ack};
pub use outcome::{Outcome, analyze};

use crate::observe::conntrack::ConntrackEntry;
use crate::observe::counters::Counters;
use crate::observe::trace::{Owner, Reset, StateChange, TraceError, TraceLog};
use crate::wire::{Frame, Segment, Seq};

/// Everything seen while a case ran: the evidence behind the outcome.
#[derive(Debug, Clone)]
pub struct Observation {
    pub segments: Vec<Segment>,
    pub frames: Vec<Frame>,
    /// The link the segments were captured on, in words.
    pub captured_on: String,
    /// Behind a NAT: the port the client sent the event's SYN from, and the
    /// port the server saw on it.
    pub nat_port: Option<(u16, u16)>,
    /// Behind a NAT: the router's conntrack entries of the connection, read
    /// before and after the event.
    pub conntrack: Vec<ConntrackReading>,
    /// The connection whose TIME_WAIT the event met.
    pub first: FirstConnection,
    /// With `count` > 1, each connection made before the event, in order
    /// (each closed by `closes_first`); empty otherwise.
    pub connections: Vec<ConnectionSeen>,
    /// Who closed first and how: whose TIME_WAIT the event hit.
    pub closing: Closing,
    /// Index in `segments` of the event: the SYN that hit TIME_WAIT, the
    /// `[segment]`, or the reconnect's SYN.
    pub event_index: Option<usize>,
    /// The ISN forced on the kernel client with TCP_REPAIR, if any.
    pub forced_isn: Option<Seq>,
    /// What the second `connect()` returned (kernel client).
    pub connect_result: Result<(), String>,
    /// `[reconnect]`: "ok" or the errno name of the call that failed.
    pub connect: Option<String>,
    /// `[listener] restart`: "ok" or the errno name of the call that failed.
    pub bind: Option<String>,
    /// What the raw peer did after its second SYN, one line per step.
    pub peer_notes: Vec<String>,
    /// The TIME_WAIT socket seen with sock_diag before the event (`ss` line;
    /// empty when the close left none: `linger0`).
    pub time_wait_before: String,
    pub time_wait_after: bool,
    /// TIME_WAIT's timer just before and just after the event (sock_diag).
    pub timer_before: Option<TimerReading>,
    pub timer_after: Option<TimerReading>,
    /// When sock_diag first showed the TIME_WAIT socket (capture clock).
    pub time_wait_seen_ns: Option<u64>,
    /// Counter deltas in the server / client namespace across the second SYN
    /// and what followed it.
    pub server_counters: Counters,
    pub client_counters: Counters,
    /// Every counter name the server namespace's kernel has.
    pub known_counters: Vec<String>,
    /// TCP state changes of this case's own sockets (sock:inet_sock_set_state),
    /// and the resets sent or received (tcp:tcp_send_reset / tcp_receive_reset).
    pub states: Vec<StateChange>,
    pub resets: Vec<Reset>,
    /// Why there is no state trace (tracefs unavailable), when there is none:
    /// the report then relies on the sock_diag snapshots.
    pub trace_unavailable: Option<String>,
    /// sock_diag snapshots: (capture-clock ns, what `ss` showed).
    pub snapshots: Vec<(u64, String)>,
    /// When the observation ended (capture clock); what the trace saw later is
    /// the lab's teardown and is left out.
    pub ended_ns: u64,
}

/// One reading of the router's conntrack table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConntrackReading {
    /// When it was read (capture clock).
    pub at_ns: u64,
    /// `before the event` or `after the event`.
    pub when: &'static str,
    pub entry: ConntrackEntry,
}

/// One connection made before the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSeen {
    pub client_port: u16,
    /// Its closer's TIME_WAIT socket was seen (sock_diag).
    pub time_wait: bool,
}

/// What the state trace saw of the case's own sockets, or why it saw nothing.
pub(crate) struct Traced {
    pub states: Vec<StateChange>,
    pub resets: Vec<Reset>,
    pub unavailable: Option<String>,
}

impl Traced {
    /// The case's own changes and resets up to `ended_ns` (later ones are the
    /// lab's teardown), and the trace's losses as the reason it is incomplete.
    pub fn read(log: Result<TraceLog, TraceError>, ended_ns: u64) -> Traced {
        match log {
            Ok(log) => Traced {
                states: log
                    .own_changes()
                    .filter(|c| c.at_ns <= ended_ns)
                    .cloned()
                    .collect(),
                resets: log
                    .resets
                    .iter()
                    .filter(|r| r.at_ns <= ended_ns)
                    .filter(|r| r.owner == Owner::Own || r.side.is_some())
                    .cloned()
                    .collect(),
                unavailable: (log.lost_events > 0).then(|| {
                    format!(
                        "the trace lost {} events (ring buffer full)",
                        log.lost_events
                    )
                }),
            },
            Err(e) => Traced {
                states: Vec::new(),
                resets: Vec::new(),
                unavailable: Some(e.to_string()),
            },
        }
    }
}

/// How old TIME_WAIT must be when the event hits it for its timer to be
/// judged: a re-armed timer then reads about this much later than one left
/// alone, and the reading is judged by which it is nearer, so the margin
/// (half of it) is past the jiffy granularity of `idiag_expires` (4 ms at
/// HZ=250, 10 ms at HZ=100).
pub const TIMER_AGE: std::time::Duration = std::time::Duration::from_millis(25);

/// One look at a TIME_WAIT socket's timer: when (capture clock) and how many
/// milliseconds it had left (`idiag_expires`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerReading {
    pub at_ns: u64,
    pub left_ms: u32,
}

#[cfg(test)]
pub(crate) use first::tests as first_tests;

#[cfg(test)]
impl Observation {
    /// An observation of `segments` (which must hold a complete first
    /// connection) with nothing else seen, for unit tests of what reads it.
    pub(crate) fn for_tests(segments: Vec<Segment>) -> Observation {
        let first = FirstConnection::from_segments(&segments, Closing::SERVER_FIN)
            .expect("a first connection");
        Observation {
            event_index: first.syn2(&segments),
            segments,
            frames: vec![],
            captured_on: "syn-srv0 in the server namespace".into(),
            nat_port: None,
            conntrack: vec![],
            first,
            connections: vec![],
            closing: Closing::SERVER_FIN,
            forced_isn: None,
            connect_result: Ok(()),
            connect: None,
            bind: None,
            peer_notes: vec![],
            time_wait_before: String::new(),
            time_wait_after: false,
            timer_before: None,
            timer_after: None,
            time_wait_seen_ns: None,
            server_counters: Counters::new(),
            client_counters: Counters::new(),
            known_counters: vec!["TcpExt.PAWSTimewait".into()],
            states: vec![],
            resets: vec![],
            trace_unavailable: None,
            snapshots: vec![],
            ended_ns: u64::MAX,
        }
    }
}

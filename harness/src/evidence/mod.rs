//! The evidence of one case: everything the executor saw, in the types every
//! later stage reads (the judge, the reports, the pcap). Built by `exec`, never
//! changed after.

mod first;

pub use first::{FirstConnection, handshake_ack};

use crate::observe::counters::Counters;
use crate::observe::trace::{Reset, StateChange};
use crate::wire::{Frame, Segment, Seq};

/// Everything seen while a case ran: the evidence behind the outcome.
#[derive(Debug, Clone)]
pub struct Observation {
    pub segments: Vec<Segment>,
    pub frames: Vec<Frame>,
    pub first: FirstConnection,
    /// Index in `segments` of the SYN that hit TIME_WAIT.
    pub syn2_index: Option<usize>,
    /// The ISN forced on the kernel client with TCP_REPAIR, if any.
    pub forced_isn: Option<Seq>,
    /// What the second `connect()` returned (kernel client).
    pub connect_result: Result<(), String>,
    /// What the raw peer did after its second SYN, one line per step.
    pub peer_notes: Vec<String>,
    /// The server namespace's `net.ipv4.tcp_timestamps` != 0 (input to the rules).
    pub server_ts_on: bool,
    /// The TIME_WAIT socket seen with sock_diag before the second SYN (`ss` line).
    pub time_wait_before: String,
    pub time_wait_after: bool,
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

#[cfg(test)]
pub(crate) use first::tests as first_tests;

#[cfg(test)]
impl Observation {
    /// An observation of `segments` (which must hold a complete first
    /// connection) with nothing else seen, for unit tests of what reads it.
    pub(crate) fn for_tests(segments: Vec<Segment>) -> Observation {
        let first = FirstConnection::from_segments(&segments).expect("a first connection");
        Observation {
            syn2_index: first.syn2(&segments),
            segments,
            frames: vec![],
            first,
            forced_isn: None,
            connect_result: Ok(()),
            peer_notes: vec![],
            server_ts_on: true,
            time_wait_before: String::new(),
            time_wait_after: false,
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

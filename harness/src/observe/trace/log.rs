//! What a trace reports: the [`TraceLog`] of [`StateChange`]s and [`Reset`]s,
//! with side, task, context and owner of each, serialised with kernel state names.

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

pub use crate::wire::Side;
use crate::wire::TcpState;

/// Where the kernel was when it changed the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    /// A system call of the thread in `tid` (listen, connect, close...).
    Task,
    /// Packet or timer processing; `tid` is whatever task was interrupted.
    Softirq,
    Hardirq,
    Nmi,
}

/// Whether an event is proved to be the case's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// The socket was used in task context by one of [`TraceSpec::owners`]
    /// during this incarnation.
    ///
    /// [`TraceSpec::owners`]: super::TraceSpec::owners
    Own,
    /// Only the addresses and ports matched: it may be another case's socket
    /// with the same tuple in another namespace (or one never touched by the
    /// owner threads, like a connection reset before accept).
    TupleOnly,
}

/// One TCP state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChange {
    /// CLOCK_REALTIME nanoseconds, the clock of the capture's SO_TIMESTAMPNS.
    pub at_ns: u64,
    /// The socket incarnation, numbered 1, 2, ... in order of first sight in
    /// this trace (the kernel's socket address stays out of reports: KASLR).
    pub sock: u32,
    /// The socket's local end (port 0 before a connect() picked one).
    pub src: SocketAddr,
    /// The socket's remote end (unspecified for a listener).
    pub dst: SocketAddr,
    #[serde(serialize_with = "ser_state")]
    pub old: TcpState,
    #[serde(serialize_with = "ser_state")]
    pub new: TcpState,
    pub side: Option<Side>,
    /// The task the kernel was running (the caller's thread in task context).
    pub tid: i32,
    pub context: Context,
    pub owner: Owner,
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = self.side.map_or("?".to_string(), |s| s.to_string());
        write!(
            f,
            "{} {side} {} > {} {} -> {} ({:?} {}, {:?})",
            self.at_ns,
            self.src,
            self.dst,
            kernel_name(self.old),
            kernel_name(self.new),
            self.context,
            self.tid,
            self.owner
        )
    }
}

/// Who sent or received a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetDirection {
    /// `tcp:tcp_send_reset`: this host sent a RST from `src` to `dst`.
    Sent,
    /// `tcp:tcp_receive_reset`: the socket `src` <- `dst` got a RST.
    Received,
}

/// A RST sent or received, to show in the timeline who reset whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reset {
    pub at_ns: u64,
    pub direction: ResetDirection,
    /// The socket incarnation as in [`StateChange::sock`]; 0 when no full
    /// socket of the timeline sent or got it (a RST for a segment to a closed
    /// port, or one sent by a timewait or request socket).
    pub sock: u32,
    /// The local end: the RST's source when sent.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The socket's state when sent (none without a socket, or when received).
    #[serde(serialize_with = "ser_opt_state")]
    pub state: Option<TcpState>,
    /// `enum sk_rst_reason` name, like `NO_SOCKET` (sent resets, 6.10+).
    pub reason: Option<String>,
    pub side: Option<Side>,
    pub tid: i32,
    pub context: Context,
    pub owner: Owner,
}

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = self.side.map_or("?".to_string(), |s| s.to_string());
        let what = match self.direction {
            ResetDirection::Sent => "sent RST",
            ResetDirection::Received => "received RST",
        };
        write!(
            f,
            "{} {side} {what} {} > {} state={} reason={} ({:?})",
            self.at_ns,
            self.src,
            self.dst,
            self.state.map_or("-", kernel_name),
            self.reason.as_deref().unwrap_or("-"),
            self.owner
        )
    }
}

/// How the trace was set up, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct TraceInfo {
    /// The records' clock: `mono` (perf accepts no wall clock for tracepoints).
    pub clock: String,
    /// Added to the records' time to get CLOCK_REALTIME nanoseconds; measured
    /// when the trace started.
    pub realtime_offset_ns: i64,
    /// The filter the kernel accepted for `sock:inet_sock_set_state`
    /// (`none` when every candidate was refused).
    pub kernel_filter: String,
    /// The host had no tracefs mounted: the event formats were read through a
    /// private mount.
    pub mounted_tracefs: bool,
    /// The CPUs with a perf event (and a ring) each.
    pub cpus: Vec<u32>,
    /// Who releases the perf events once the process is gone: `kernel worker`
    /// (the exit does not wait) or `exit` (the exit waits for the tracepoints'
    /// RCU grace periods; io_uring was unavailable).
    pub released_by: String,
}

/// Everything a trace saw, sorted by time.
#[derive(Debug, Clone, Serialize)]
pub struct TraceLog {
    pub changes: Vec<StateChange>,
    pub resets: Vec<Reset>,
    /// Events the kernel dropped (ring full) or throttled, at least this many;
    /// 0 normally.
    pub lost_events: u64,
    pub info: TraceInfo,
}

impl TraceLog {
    /// The state changes proved to be the case's own.
    pub fn own_changes(&self) -> impl Iterator<Item = &StateChange> {
        self.changes.iter().filter(|c| c.owner == Owner::Own)
    }

    /// The case's own state changes of one side.
    #[cfg(test)]
    pub fn side(&self, side: Side) -> impl Iterator<Item = &StateChange> {
        self.own_changes().filter(move |c| c.side == Some(side))
    }
}

/// The kernel's name of a state (`include/net/tcp_states.h`), as tcpstates and
/// the trace print it.
pub fn kernel_name(state: TcpState) -> &'static str {
    match state {
        TcpState::Established => "TCP_ESTABLISHED",
        TcpState::SynSent => "TCP_SYN_SENT",
        TcpState::SynRecv => "TCP_SYN_RECV",
        TcpState::FinWait1 => "TCP_FIN_WAIT1",
        TcpState::FinWait2 => "TCP_FIN_WAIT2",
        TcpState::TimeWait => "TCP_TIME_WAIT",
        TcpState::Close => "TCP_CLOSE",
        TcpState::CloseWait => "TCP_CLOSE_WAIT",
        TcpState::LastAck => "TCP_LAST_ACK",
        TcpState::Listen => "TCP_LISTEN",
        TcpState::Closing => "TCP_CLOSING",
        TcpState::NewSynRecv => "TCP_NEW_SYN_RECV",
        TcpState::BoundInactive => "TCP_BOUND_INACTIVE",
    }
}

fn ser_state<S: serde::Serializer>(state: &TcpState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kernel_name(*state))
}

fn ser_opt_state<S: serde::Serializer>(state: &Option<TcpState>, s: S) -> Result<S::Ok, S::Error> {
    match state {
        Some(state) => s.serialize_str(kernel_name(*state)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::fixtures::v6;

    use TcpState::*;

    #[test]
    fn state_changes_serialise_with_kernel_names() {
        let c = StateChange {
            at_ns: 1,
            sock: 2,
            src: v6(8888),
            dst: v6(12345),
            old: FinWait2,
            new: Close,
            side: Some(Side::Server),
            tid: 3,
            context: Context::Softirq,
            owner: Owner::TupleOnly,
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["old"], "TCP_FIN_WAIT2");
        assert_eq!(json["new"], "TCP_CLOSE");
        assert_eq!(json["side"], "server");
        assert_eq!(json["context"], "softirq");
        assert_eq!(json["owner"], "tuple-only");
        assert_eq!(json["src"], "[::1]:8888");
    }
}

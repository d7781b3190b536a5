//! What a trace reports: the [`TraceLog`] of [`StateChange`]s and [`Reset`]s,
//! with side, task, context and owner of each, and the kernel's state names.

use std::net::SocketAddr;

use serde::Serialize;

pub use crate::wire::Side;
use crate::wire::TcpState;

/// Where the kernel was when it changed the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A system call of the thread in `tid` (listen, connect, close...).
    Task,
    /// Packet or timer processing; `tid` is whatever task was interrupted.
    Softirq,
    Hardirq,
    Nmi,
}

/// Whether an event is proved to be the case's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub old: TcpState,
    pub new: TcpState,
    pub side: Option<Side>,
    /// The task the kernel was running (the caller's thread in task context).
    pub tid: i32,
    pub context: Context,
    pub owner: Owner,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub state: Option<TcpState>,
    /// `enum sk_rst_reason` name, like `NO_SOCKET` (sent resets, 6.10+).
    pub reason: Option<String>,
    pub side: Option<Side>,
    pub tid: i32,
    pub context: Context,
    pub owner: Owner,
}

/// Everything a trace saw, sorted by time.
#[derive(Debug, Clone)]
pub struct TraceLog {
    pub changes: Vec<StateChange>,
    pub resets: Vec<Reset>,
    /// Events the kernel dropped (ring full) or throttled, at least this many;
    /// 0 normally.
    pub lost_events: u64,
}

impl TraceLog {
    /// The state changes proved to be the case's own.
    pub fn own_changes(&self) -> impl Iterator<Item = &StateChange> {
        self.changes.iter().filter(|c| c.owner == Owner::Own)
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

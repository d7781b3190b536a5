//! The two sides of a case and the kernel's TCP states: names that the lab, the
//! observers, the executor and the reports all use.

use std::fmt;

use serde::Serialize;

/// One end of a case: the server (listens, and by default closes first) or the
/// client (connects from the fixed port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Server,
    Client,
}

impl Side {
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }

    /// The other end.
    pub const fn peer(self) -> Side {
        match self {
            Side::Server => Side::Client,
            Side::Client => Side::Server,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kernel TCP state (`include/net/tcp_states.h`), numbered as the kernel
/// numbers it. `1 << state as u32` is its bit in a states mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    /// A request socket: a SYN was answered, the handshake is not complete.
    /// Only a mask bit in practice: sock_diag reports request sockets as
    /// [`TcpState::SynRecv`] (`inet_req_diag_fill()`), and `ss state
    /// syn-recv` asks for both bits.
    NewSynRecv = 12,
    /// A socket that is bound but neither listening nor connected (kernel
    /// 6.7+, reported only when its bit is asked for).
    BoundInactive = 13,
}

impl TcpState {
    /// Every state, in kernel order.
    pub const ALL: [TcpState; 13] = [
        Self::Established,
        Self::SynSent,
        Self::SynRecv,
        Self::FinWait1,
        Self::FinWait2,
        Self::TimeWait,
        Self::Close,
        Self::CloseWait,
        Self::LastAck,
        Self::Listen,
        Self::Closing,
        Self::NewSynRecv,
        Self::BoundInactive,
    ];

    /// The state's bit in a states mask (`TCPF_*` in the kernel).
    pub const fn mask(self) -> u32 {
        1 << self as u32
    }

    /// The kernel's number for a state, if it is one we know.
    pub fn from_kernel(value: u8) -> Option<TcpState> {
        Self::ALL.into_iter().find(|s| *s as u8 == value)
    }

    /// The name `ss(8)` prints for the state, like `TIME-WAIT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Established => "ESTAB",
            Self::SynSent => "SYN-SENT",
            Self::SynRecv => "SYN-RECV",
            Self::FinWait1 => "FIN-WAIT-1",
            Self::FinWait2 => "FIN-WAIT-2",
            Self::TimeWait => "TIME-WAIT",
            Self::Close => "UNCONN",
            Self::CloseWait => "CLOSE-WAIT",
            Self::LastAck => "LAST-ACK",
            Self::Listen => "LISTEN",
            Self::Closing => "CLOSING",
            Self::NewSynRecv => "NEW-SYN-RECV",
            Self::BoundInactive => "BOUND-INACTIVE",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

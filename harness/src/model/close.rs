//! Whether the close leaves the side that closed first in TIME_WAIT, and for
//! how long: `SO_LINGER {1, 0}` sends an RST instead (`__tcp_close()` ->
//! `tcp_disconnect()`, net/ipv4/tcp.c), `net.ipv4.tcp_max_tw_buckets` can
//! refuse the mini-socket (`tcp_time_wait()` -> `inet_twsk_alloc()`), and
//! otherwise TIME_WAIT lasts `TCP_TIMEWAIT_LEN` whatever `tcp_fin_timeout`
//! says. The same on every kernel the model covers.

use super::Step;
use crate::scenario::Close;
use crate::wire::Side;

/// `TCP_TIMEWAIT_LEN` (include/net/tcp.h): 60 s on every Linux.
pub(crate) const TIME_WAIT_SECONDS: u32 = 60;

/// The rules in words, for the rules text.
pub(crate) const RULES: [&str; 3] = [
    "SO_LINGER {1, 0} then close(): __tcp_close() calls tcp_disconnect(), which sends an RST \
     instead of a FIN; the socket goes straight to CLOSE and leaves no TIME_WAIT.",
    "net.ipv4.tcp_max_tw_buckets (per network namespace) full, 0 included: inet_twsk_alloc() \
     refuses the mini-socket, tcp_time_wait() just closes (TcpExt.TCPTimeWaitOverflow).",
    "Otherwise TIME_WAIT lasts TCP_TIMEWAIT_LEN, 60 s (tcp_time_wait()). \
     net.ipv4.tcp_fin_timeout bounds an orphaned FIN_WAIT2 (tcp_fin_time(); such a socket \
     also lives as a TIME_WAIT mini-socket, tw_substate FIN_WAIT2), never TIME_WAIT's length.",
];

/// The closing side's settings that decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    pub side: Side,
    pub close: Close,
    /// Its namespace's `net.ipv4.tcp_max_tw_buckets`, when the case sets it.
    pub max_tw_buckets: Option<u64>,
    /// Its namespace's `net.ipv4.tcp_fin_timeout`, when the case sets it.
    pub fin_timeout: Option<u32>,
}

/// Whether TIME_WAIT was left, and the step that says why.
pub fn left(c: &Closing) -> (bool, Step) {
    let side = c.side;
    if c.close == Close::Linger0 {
        return (
            false,
            Step {
                function: "__tcp_close() / tcp_disconnect()",
                file: "net/ipv4/tcp.c",
                branch: "SO_LINGER {1, 0}: RST, no TIME_WAIT",
                why: format!(
                    "the {side} closed with SO_LINGER {{1, 0}}: __tcp_close() called \
                     tcp_disconnect(), which sent an RST instead of a FIN, so no TIME_WAIT was \
                     left — tcp_disconnect()"
                ),
            },
        );
    }
    if c.max_tw_buckets == Some(0) {
        // inet_twsk_alloc(): if (refcount_read(&dr->tw_refcount) - 1 >=
        // READ_ONCE(dr->sysctl_max_tw_buckets)) return NULL; -- a lab
        // namespace holds no other TIME_WAIT, so only 0 refuses.
        return (
            false,
            Step {
                function: "tcp_time_wait() / inet_twsk_alloc()",
                file: "net/ipv4/tcp_minisocks.c",
                branch: "tcp_max_tw_buckets reached: no TIME_WAIT",
                why: format!(
                    "net.ipv4.tcp_max_tw_buckets = 0 on the {side}: inet_twsk_alloc() refused \
                     the TIME_WAIT mini-socket and the socket just closed \
                     (TcpExt.TCPTimeWaitOverflow) — tcp_time_wait()"
                ),
            },
        );
    }
    let fin_timeout = c.fin_timeout.map_or(String::new(), |s| {
        format!(
            " (net.ipv4.tcp_fin_timeout = {s} bounds an orphaned FIN_WAIT2, tcp_fin_time(), \
             not TIME_WAIT)"
        )
    });
    (
        true,
        Step {
            function: "tcp_time_wait()",
            file: "net/ipv4/tcp_minisocks.c",
            branch: "TIME_WAIT for TCP_TIMEWAIT_LEN",
            why: format!(
                "the {side} closed first and holds TIME_WAIT for TCP_TIMEWAIT_LEN, \
                 {TIME_WAIT_SECONDS} s{fin_timeout} — tcp_time_wait()"
            ),
        },
    )
}

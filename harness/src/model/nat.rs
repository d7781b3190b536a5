//! The masquerading router between the clients and the server (`[topology]
//! kind = "nat"`): which source port the server sees on a new SYN. The
//! router's conntrack keeps the old connection's entry after the close (in
//! its own TIME_WAIT for `nf_conntrack_tcp_timeout_time_wait`, 120 s, after a
//! FIN close; in CLOSE for `nf_conntrack_tcp_timeout_close`, 10 s, after an
//! RST), and `get_unique_tuple()` (net/netfilter/nf_nat_core.c) keeps a new
//! connection's source port unless the tuple it would make, the router's
//! address and that port towards the server, is the reply tuple of another
//! entry (`nf_nat_used_tuple()`); then `nf_nat_l4proto_unique_tuple()` picks
//! another. The same on every kernel the model covers.

use super::Step;
use crate::scenario::Close;

const FUNCTION: &str = "get_unique_tuple()";
const FILE: &str = "net/netfilter/nf_nat_core.c";

/// The source port the server sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// The client's own.
    Kept,
    /// Another, chosen by the masquerade: the server sees a new 4-tuple.
    Remapped,
    /// It depends on whether conntrack still holds the old entry.
    Timing,
}

impl Port {
    /// As the `nat_port` expectation writes it.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Port::Kept => Some("kept"),
            Port::Remapped => Some("remapped"),
            Port::Timing => None,
        }
    }
}

/// The port a SYN from client `from` gets, when client 1 made the first
/// connection from the same port and closed it with `close`.
pub(crate) fn port(from: u8, close: Close) -> (Port, Step) {
    let (port, branch, why) = if from == 1 {
        (
            Port::Kept,
            "the same machine: the port is kept",
            "client1 sends from the port of its first connection: the router's conntrack entry \
             of that connection is the same flow (a SYN on a closed entry reopens it, \
             nf_conntrack_tcp_packet()), and no other entry holds the router's address with that \
             port towards the server (nf_nat_used_tuple()), so the masquerade keeps the port and \
             the server sees the old 4-tuple"
                .to_owned(),
        )
    } else if close == Close::Linger0 {
        (
            Port::Timing,
            "another machine after an RST: timing decides",
            format!(
                "client{from} sends from the port client1 used, and client1's connection ended \
                 with an RST: conntrack keeps its entry in CLOSE for \
                 nf_conntrack_tcp_timeout_close (10 s), so whether the masquerade must remap the \
                 port depends on how long ago that was"
            ),
        )
    } else {
        (
            Port::Remapped,
            "another machine: the tuple is taken, the port remapped",
            format!(
                "client{from} sends from the port client1 used: the masquerade's first choice, \
                 the router's address with that port towards the server, is the reply tuple of \
                 client1's conntrack entry, which conntrack keeps in its TIME_WAIT for \
                 nf_conntrack_tcp_timeout_time_wait (120 s, longer than the server's 60 s) \
                 (nf_nat_used_tuple()), so nf_nat_l4proto_unique_tuple() gives the SYN another \
                 source port and the server sees a new 4-tuple"
            ),
        )
    };
    (
        port,
        Step {
            function: FUNCTION,
            file: FILE,
            branch,
            why: format!("{why} — {FUNCTION}"),
        },
    )
}

/// The rule in words, for the rules text.
pub(crate) fn rule() -> String {
    format!(
        "Behind a masquerading router the server sees the client's own source port unless the \
         router's conntrack still holds another flow on the tuple the masquerade would make (the \
         router's address and that port towards the server): then \
         nf_nat_l4proto_unique_tuple() picks another port and the SYN is a new 4-tuple for the \
         server, which its TIME_WAIT never sees. The same machine reconnecting from the same \
         port is the same flow and keeps its port; another machine on that port is remapped \
         while conntrack keeps the old entry (TIME_WAIT, 120 s after a FIN close: longer than \
         the server's TIME_WAIT; CLOSE, 10 s after an RST) ({FUNCTION}, nf_nat_used_tuple(), \
         {FILE})."
    )
}

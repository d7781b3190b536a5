//! What a segment meets when no TIME_WAIT holds its 4-tuple (the close left
//! none, or the TIME_WAIT was killed, `TCP_TW_SYN` included): the listening
//! socket on the port, `tcp_rcv_state_process()` in state `TCP_LISTEN`
//! (net/ipv4/tcp_input.c), reached from `tcp_v4_do_rcv()` /
//! `tcp_v6_do_rcv()`. The same on every kernel the model covers.

use crate::wire::{Answer, Flags};

/// The kernel function, with its file.
pub(crate) const FUNCTION: &str = "tcp_rcv_state_process() (TCP_LISTEN)";
pub(crate) const FILE: &str = "net/ipv4/tcp_input.c";

/// The listener's rules in words, for the rules text.
pub(crate) const RULES: &str = "a SYN without ACK, RST or FIN gets a SYN-ACK \
     (tcp_conn_request()) and the client's ACK of it opens the connection (Tcp.PassiveOpens); \
     a SYN that also carries FIN is dropped (\"if (th->fin) goto discard\"); a segment with \
     ACK gets an RST (tcp_v4_do_rcv(): \"goto reset\"); anything else is dropped";

/// What the listener does with one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Met {
    pub answer: Answer,
    /// The branch, in a few words.
    pub branch: &'static str,
    /// What happened, naming the function.
    pub why: String,
}

/// `case TCP_LISTEN:` of `tcp_rcv_state_process()`.
pub fn receive(f: Flags) -> Met {
    let (answer, branch, what) = if f.ack {
        // if (th->ack) return 1;  -> tcp_v4_do_rcv(): goto reset
        (
            Answer::Rst,
            "ACK: reset",
            "a segment with ACK is answered with an RST (tcp_v4_send_reset())",
        )
    } else if f.rst {
        // if (th->rst) { SKB_DR_SET(reason, TCP_RESET); goto discard; }
        (Answer::None, "RST: dropped", "an RST is dropped")
    } else if f.syn && f.fin {
        // if (th->syn) { if (th->fin) { SKB_DR_SET(reason, TCP_FLAGS); goto discard; } ..
        (
            Answer::None,
            "SYN with FIN: dropped",
            "a SYN that carries FIN is dropped: no answer",
        )
    } else if f.syn {
        // .. acceptable = icsk->icsk_af_ops->conn_request(sk, skb) >= 0;
        (
            Answer::SynAck,
            "SYN: SYN-ACK",
            "a SYN gets a SYN-ACK (tcp_conn_request())",
        )
    } else {
        // SKB_DR_SET(reason, TCP_FLAGS); goto discard;
        (
            Answer::None,
            "no SYN: dropped",
            "a segment without SYN or ACK is dropped",
        )
    };
    Met {
        answer,
        branch,
        why: format!("the listener: {what} — {FUNCTION}"),
    }
}

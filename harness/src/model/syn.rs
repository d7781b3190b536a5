//! `[second_syn]`: a SYN from the client's 4-tuple hits the server's
//! TIME_WAIT, and the client reacts to the answer. A kernel client in SYN_SENT
//! answers an unacceptable ACK with an RST and sends its SYN again after
//! `TCP_TIMEOUT_MIN` (`tcp_rcv_synsent_state_process()`, net/ipv4/tcp_input.c,
//! since "tcp: Reduce SYN resend delay if a suspicous ACK is received", 2020:
//! every kernel the model covers); the raw peer does the steps its scenario
//! lists (`then`). The server's side is `flow`.

use super::flow::Flow;
use super::timewait::{self, Arrival};
use super::{Inputs, Model, Prediction, Step, SynInputs, listener, nat};
use crate::event::syn::Then;
use crate::scenario::ClientKind;
use crate::wire::{Answer, Flags};

/// The kernel function of the client's reaction.
const CLIENT: &str = "tcp_rcv_synsent_state_process()";
const CLIENT_FILE: &str = "net/ipv4/tcp_input.c";

pub(super) fn predict(m: &Model<'_>, i: &Inputs, e: &SynInputs) -> Prediction {
    let mut flow = Flow::new(m, i);
    let port = e.behind_nat.map(|from| {
        let (port, step) = nat::port(from, i.closing.close);
        match port {
            nat::Port::Remapped => flow.new_tuple(step),
            // Timing: only after an RST close, which left no TIME_WAIT, so
            // the SYN meets the listener on either port.
            nat::Port::Kept | nat::Port::Timing => flow.note(step),
        }
        port
    });
    let answer = flow.arrive(e.syn);
    match e.client {
        ClientKind::Kernel => kernel_client(&mut flow, e, answer),
        ClientKind::Raw => raw_peer(&mut flow, e, answer),
    }
    let mut p = flow.finish();
    p.nat_port = port.and_then(nat::Port::as_str).map(str::to_owned);
    p
}

/// The kernel client in SYN_SENT.
fn kernel_client(flow: &mut Flow<'_>, e: &SynInputs, answer: Answer) {
    match answer {
        Answer::SynAck | Answer::Rst => return,
        Answer::None => {
            flow.give_up(step(
                "no answer: retransmit on RTO",
                "no answer came, so the client retransmits its SYN on its RTO; how many SYNs \
                 that takes depends on how long the case watches"
                    .to_owned(),
            ));
            return;
        }
        Answer::Ack => {}
    }
    // The TIME_WAIT ACK acknowledges rcv_nxt; the SYN's ISN is rcv_nxt + seq,
    // so snd_una = ISN and snd_nxt = ISN + 1. Acceptable only when
    // after(ack, snd_una) && !after(ack, snd_nxt): ack == ISN + 1.
    if e.syn.seq == -1 {
        flow.give_up(step(
            "ACK of its SYN without SYN: dropped",
            "the ACK's ack is the SYN's seq + 1, so the client takes it for an ACK of its SYN \
             without SYN and drops it (\"if (!th->syn) goto discard_and_undo\"): no RST, the \
             SYN is retransmitted on its RTO"
                .to_owned(),
        ));
        return;
    }
    flow.note(step(
        "unacceptable ACK: RST, SYN again after TCP_TIMEOUT_MIN",
        "the client's SYN_SENT socket finds the ACK unacceptable (its ack is not the SYN's \
         seq + 1): it sends RST seq=<that ack> = rcv_nxt and retransmits its SYN after \
         TCP_TIMEOUT_MIN (\"Previous FIN/ACK or RST/ACK might be ignored\")"
            .to_owned(),
    ));
    // tcp_v4_send_reset() / tcp_v6_send_reset(): no ACK flag, no timestamp.
    flow.arrive(rst_at_rcv_nxt());
    let again = flow.arrive(Arrival {
        tsval: e.again_tsval,
        ..e.syn
    });
    if !flow.established() && !flow.undecided() {
        let what = match again {
            Answer::None => "the retransmitted SYN got no answer",
            _ => "the retransmitted SYN did not get through",
        };
        flow.give_up(step(
            "TIME_WAIT still there: retransmit on RTO",
            format!(
                "{what}, and TIME_WAIT still holds the 4-tuple: the client retransmits on its \
                 RTO from now on (no more fast retry), so how many SYNs it sends depends on how \
                 long the case watches"
            ),
        ));
    }
}

/// The raw peer's steps (`then`), as it does them: each only when it makes
/// sense after the last answer, none once the connection is established.
fn raw_peer(flow: &mut Flow<'_>, e: &SynInputs, mut answer: Answer) {
    for then in &e.then {
        if flow.established() || flow.undecided() {
            return;
        }
        match then {
            // An RST at the ACK's ack, which is rcv_nxt for the TIME_WAIT ACK
            // (and for a listener's RST there is nothing to reset).
            Then::Rst if answer == Answer::Ack => {
                flow.arrive(rst_at_rcv_nxt());
            }
            Then::Rst => {}
            Then::Syn => {
                answer = flow.arrive(Arrival {
                    tsval: e.again_tsval,
                    ..e.syn
                });
            }
        }
    }
}

/// The RST a SYN_SENT client sends to the TIME_WAIT ACK: `seq = <its ack>`,
/// which is rcv_nxt, without ACK flag or timestamp.
fn rst_at_rcv_nxt() -> Arrival {
    Arrival {
        flags: Flags {
            rst: true,
            ..Flags::default()
        },
        seq: 0,
        len: 0,
        tsval: None,
    }
}

fn step(branch: &'static str, why: String) -> Step {
    Step {
        function: CLIENT,
        file: CLIENT_FILE,
        branch,
        why: format!("{why} — {CLIENT}"),
    }
}

/// The rules for this event, in words.
pub(super) fn rules(m: &Model<'_>) -> Vec<String> {
    let mut out = vec![timewait::PAWS_RULE.to_owned()];
    out.extend(
        m.time_wait
            .iter()
            .filter(|b| b.name == timewait::REOPEN || b.name == timewait::ACK)
            .map(|b| format!("{} ({}, {})", b.rule, timewait::FUNCTION, timewait::FILE)),
    );
    out.push(format!(
        "The SYN that reopens TIME_WAIT meets the listener: {} ({}, {}).",
        listener::RULES,
        listener::FUNCTION,
        listener::FILE
    ));
    out.push(format!(
        "A kernel client answers the TIME_WAIT ACK (its ack is not the SYN's seq + 1) with \
         RST seq=rcv_nxt, which kills TIME_WAIT unless tcp_rfc1337 = 1, and sends its SYN \
         again after TCP_TIMEOUT_MIN, not after the 1 s RTO: two SYNs within milliseconds \
         ({CLIENT}, {CLIENT_FILE}). With tcp_rfc1337 = 1 the second SYN's ACK is rate-limited \
         and the client falls back to its RTO."
    ));
    out.push(nat::rule());
    out.push(
        "Over loopback (client and server in one namespace) Tcp.OutSegs and Tcp.OutRsts count \
         the client's segments too: the model states them for two namespaces only."
            .to_owned(),
    );
    out
}

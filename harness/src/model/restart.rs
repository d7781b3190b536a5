//! `[listener] restart`: after the first connection closed, the server closes
//! its listener and binds and listens a new one on the wildcard address. `inet_csk_get_port()` / `inet_csk_bind_conflict()`
//! (net/ipv4/inet_connection_sock.c) check the new socket against every
//! socket in the port's bind bucket, the TIME_WAIT included, whose
//! `SO_REUSEADDR` / `SO_REUSEPORT` are those of the socket it came from
//! (`inet_twsk_alloc()` copies `sk_reuse` and `sk_reuseport`): the accepted
//! child of the first listener, which inherited the listener's. When the
//! client closed first, its TIME_WAIT is on its own port and nothing of the
//! connection is left in the listening port's bucket. Measured on 6.18 by
//! scenarios/restart/reuse.toml and client-closed.toml; the rule reads the
//! same from 5.10 on.

use super::close;
use super::{Inputs, Model, Prediction, RestartInputs, Step};
use crate::event::restart::Options;
use crate::wire::{Answer, Side};

const FUNCTION: &str = "inet_csk_bind_conflict()";
const FILE: &str = "net/ipv4/inet_connection_sock.c";

pub(super) fn predict(_: &Model<'_>, i: &Inputs, e: &RestartInputs) -> Prediction {
    let (existed, close_step) = close::left(&i.closing);
    let (ok, branch, why) = if existed && i.closing.side == Side::Client {
        (
            true,
            "the client's TIME_WAIT: nothing in the port's bind bucket",
            "the TIME_WAIT is the client's, on the client's port; the server's side of the \
             connection closed second (LAST_ACK, then CLOSE) and left nothing in the bind \
             bucket of the listening port, so the new listener's bind() and listen() succeed \
             whatever its options and the first listener's"
                .to_owned(),
        )
    } else if existed {
        conflict(e.first, e.new)
    } else {
        (
            true,
            "no TIME_WAIT: nothing to conflict with",
            "no TIME_WAIT holds the port and the first listener is closed: the new listener's \
             bind() and listen() succeed"
                .to_owned(),
        )
    };
    Prediction {
        // A restart sends no segment.
        answer: Some(Answer::None),
        // Binding a listener does not touch TIME_WAIT.
        time_wait_after: Some(existed),
        bind: Some(if ok { "ok" } else { "EADDRINUSE" }.to_owned()),
        steps: vec![
            close_step,
            Step {
                function: FUNCTION,
                file: FILE,
                branch,
                why: format!("{why} — {FUNCTION}"),
            },
        ],
        ..Prediction::default()
    }
}

/// `inet_bind_conflict(sk = the new listener, sk2 = the TIME_WAIT, relax =
/// true, reuseport_ok = true)`, as `inet_csk_get_port()` calls it at bind()
/// and again at listen():
///
/// ```text
/// if (sk->sk_reuse && sk2->sk_reuse && sk2->sk_state != TCP_LISTEN) {
///         if (!relax || (!reuseport_ok && ..)) return true;   -- never here
/// } else if (!reuseport_ok || !sk->sk_reuseport || !sk2->sk_reuseport ||
///            !reuseport_cb_ok || (sk2->sk_state != TCP_TIME_WAIT && !uid_eq(..))) {
///         return true;
/// }
/// return false;
/// ```
fn conflict(first: Options, new: Options) -> (bool, &'static str, String) {
    let words = |o: Options| match o {
        Options::Plain => "neither SO_REUSEADDR nor SO_REUSEPORT",
        Options::Reuseaddr => "SO_REUSEADDR",
        Options::Reuseport => "SO_REUSEPORT",
        Options::Both => "SO_REUSEADDR and SO_REUSEPORT",
    };
    let had = format!(
        "the TIME_WAIT in the port's bind bucket has the first listener's options ({}), the \
         new listener sets {}",
        words(first),
        words(new)
    );
    if new.reuseaddr() && first.reuseaddr() {
        (
            true,
            "both SO_REUSEADDR: no conflict",
            format!(
                "{had}: both set SO_REUSEADDR and a TIME_WAIT is not listening, so bind() \
                 and listen() succeed"
            ),
        )
    } else if new.reuseport() && first.reuseport() {
        (
            true,
            "both SO_REUSEPORT: no conflict",
            format!(
                "{had}: both set SO_REUSEPORT (a TIME_WAIT needs no same owner), so bind() \
                 and listen() succeed"
            ),
        )
    } else {
        (
            false,
            "conflict: EADDRINUSE",
            format!(
                "{had}: only both SO_REUSEADDR or both SO_REUSEPORT may share the port, so \
                 bind() fails with EADDRINUSE"
            ),
        )
    }
}

/// The rules for this event, in words.
pub(super) fn rules(_: &Model<'_>) -> Vec<String> {
    vec![
        format!(
            "The TIME_WAIT socket stays in the port's bind bucket with the SO_REUSEADDR and \
             SO_REUSEPORT of the socket it came from (inet_twsk_alloc()): for a server, the \
             accepted child of the FIRST listener. So the old process's options matter as \
             much as the new one's ({FUNCTION}, {FILE})."
        ),
        "bind() and listen() of the new listener succeed only when both it and the TIME_WAIT \
         set SO_REUSEADDR, or both set SO_REUSEPORT (for a TIME_WAIT the owner need not match); \
         otherwise EADDRINUSE. SO_REUSEADDR on the restarted server alone is not enough."
            .to_owned(),
        "With no TIME_WAIT (SO_LINGER {1, 0}, tcp_max_tw_buckets) and the old listener closed, \
         nothing conflicts. Nor when the CLIENT closed first: the TIME_WAIT is then on the \
         client's port, and the server's side went through LAST_ACK to CLOSE, leaving nothing \
         in the listening port's bind bucket."
            .to_owned(),
    ]
}

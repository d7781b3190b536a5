//! `[segment]`: one segment of any kind from the raw client reaches the
//! server's TIME_WAIT: every branch of `tcp_timewait_state_process()`, and
//! the listener behind it for a SYN it lets through. The raw peer completes
//! the handshake a SYN-ACK opens, and does nothing else. The server's side is
//! `flow`.

use super::flow::Flow;
use super::timewait::{self, Arrival};
use super::{Inputs, Model, Prediction, listener};

pub(super) fn predict(m: &Model<'_>, i: &Inputs, segment: &Arrival) -> Prediction {
    let mut flow = Flow::new(m, i);
    flow.arrive(*segment);
    flow.finish()
}

/// The rules for this event, in words.
pub(super) fn rules(m: &Model<'_>) -> Vec<String> {
    let mut out = vec![timewait::PAWS_RULE.to_owned()];
    out.extend(
        m.time_wait
            .iter()
            .map(|b| format!("{} ({}, {})", b.rule, timewait::FUNCTION, timewait::FILE)),
    );
    out.push(format!(
        "Once TIME_WAIT is gone (TCP_TW_SYN, or an RST killed it), the listener: {} ({}, {}).",
        listener::RULES,
        listener::FUNCTION,
        listener::FILE
    ));
    out
}

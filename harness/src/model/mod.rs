//! The kernel's rules around TIME_WAIT as an executable model: given what a
//! case set up and what its event carried ([`Inputs`]), what Linux does, step
//! by step, each step naming the kernel function and branch it stands for
//! ([`Prediction`]). One entry per event kind ([`ENTRIES`], the shape of
//! `event/` and `expect::FIELDS`); the kernel's branches live beside them:
//! `timewait` (`tcp_timewait_state_process()`), `listener`, `close`, and the
//! releases where answers changed (`changes`). A prediction is held against
//! what the kernel did ([`Prediction::agreement`]) and the rules are rendered
//! for the README ([`rules_text`]).

mod agree;
mod changes;
mod close;
mod flow;
mod inputs;
mod listener;
mod nat;
mod reconnect;
mod render;
mod restart;
mod segment;
mod syn;
mod timewait;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use agree::{Agreement, Compared};
pub use inputs::Inputs;
pub(crate) use inputs::{EventInputs, ReconnectInputs, RestartInputs, SynInputs};
pub use render::rules_text;

use crate::wire::Answer;

/// One step of the kernel's handling: the function, the branch in it, and
/// what happened in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The kernel function: `tcp_timewait_state_process()`.
    pub function: &'static str,
    /// Where it is: `net/ipv4/tcp_minisocks.c`.
    pub file: &'static str,
    /// The branch in it, in a few words: `TCP_TW_SYN: the SYN reopens the 4-tuple`.
    pub branch: &'static str,
    /// What happened and why, naming the function.
    pub why: String,
}

/// What the model says the case shows, field by field as the expectations
/// name them (`None`: the model makes no claim, because the field does not
/// belong to the event or depends on timing the case does not fix), and the
/// steps that lead there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Prediction {
    pub answer: Option<Answer>,
    pub client_syns: Option<u32>,
    pub established: Option<bool>,
    pub time_wait_after: Option<bool>,
    pub timer_restarted: Option<bool>,
    pub time_wait_seconds: Option<u32>,
    pub connect: Option<String>,
    pub isn_from_time_wait: Option<bool>,
    pub bind: Option<String>,
    /// Behind a NAT: `kept` or `remapped`, the source port the server saw.
    pub nat_port: Option<String>,
    /// MIB counter deltas in the server's namespace the steps decide.
    pub counters: Vec<(&'static str, i64)>,
    /// The same in the client's namespace.
    pub client_counters: Vec<(&'static str, i64)>,
    /// The steps, in order; the first decides the case's fate.
    pub steps: Vec<Step>,
}

impl Prediction {
    /// What an event left of TIME_WAIT: whether it is still there and, when
    /// it is, whether its timer was re-armed (read before and after the
    /// event: only a TIME_WAIT still there has a timer to compare).
    pub(super) fn time_wait_left(alive: bool, rearmed: bool) -> Self {
        Prediction {
            time_wait_after: Some(alive),
            timer_restarted: alive.then_some(rearmed),
            ..Self::default()
        }
    }

    /// The why of the case: every step's sentence, in order.
    pub fn why(&self) -> String {
        self.steps
            .iter()
            .map(|s| s.why.as_str())
            .collect::<Vec<_>>()
            .join("; then ")
    }

    /// The fields the prediction states, as `[expect]` would write them, in
    /// the expectation table's order.
    pub fn claims(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |name, v: Option<String>| {
            if let Some(v) = v {
                out.push((name, v));
            }
        };
        put("answer", self.answer.map(|a| a.as_str().to_owned()));
        put("client_syns", self.client_syns.map(|v| v.to_string()));
        put(
            "time_wait_after",
            self.time_wait_after.map(|v| v.to_string()),
        );
        put("established", self.established.map(|v| v.to_string()));
        put(
            "timer_restarted",
            self.timer_restarted.map(|v| v.to_string()),
        );
        put(
            "time_wait_seconds",
            self.time_wait_seconds.map(|v| v.to_string()),
        );
        put("connect", self.connect.clone());
        put(
            "isn_from_time_wait",
            self.isn_from_time_wait.map(|v| v.to_string()),
        );
        put("bind", self.bind.clone());
        put("nat_port", self.nat_port.clone());
        out
    }
}

/// The kernel's branches the entries consult: the model as it stands, or (in
/// the tests) one with a branch swapped, to show the check can fail.
#[derive(Clone, Copy)]
pub(crate) struct Model<'a> {
    /// `tcp_timewait_state_process()`'s branches, in order.
    pub time_wait: &'a [timewait::Branch],
}

/// The model of the kernel.
pub(crate) const KERNEL: Model<'static> = Model {
    time_wait: &timewait::BRANCHES,
};

/// `tcp_timewait_state_process()`'s branches with one deliberately wrong,
/// for the tests that show a wrong model is caught: an in-window RST kills
/// TIME_WAIT whatever `tcp_rfc1337` says (the folklore's rule).
#[cfg(test)]
pub(crate) fn rfc1337_ignored_swapped() -> Vec<timewait::Branch> {
    let mut wrong = timewait::BRANCHES.to_vec();
    assert_eq!(wrong[1].name, "in-window RST, tcp_rfc1337 = 1: ignored");
    wrong[1].effect = |_| timewait::Effect::Kill;
    wrong
}

/// One event kind: its rules in words (its prediction is the `predict` of
/// the same file, reached through [`predict_with`]).
pub(crate) struct Entry {
    /// The block's title in the rules text.
    pub title: &'static str,
    /// The rules for this event in words.
    pub rules: fn(&Model<'_>) -> Vec<String>,
    /// The kernel changes that alter this event's answers.
    pub changes: &'static [&'static changes::Change],
}

/// THE table: one entry per event kind, in `event::Event`'s order (and
/// `EventInputs`', which [`predict_with`] dispatches on).
pub(crate) static ENTRIES: [Entry; 4] = [
    Entry {
        title: "A SYN from the client's 4-tuple hits the server's TIME_WAIT ([second_syn])",
        rules: syn::rules,
        changes: &[&changes::REOPEN_ISN, &changes::PAWS_COUNTER],
    },
    Entry {
        title: "Any segment hits the server's TIME_WAIT ([segment])",
        rules: segment::rules,
        changes: &[&changes::REOPEN_ISN, &changes::PAWS_COUNTER],
    },
    Entry {
        title: "The client reconnects from its own TIME_WAIT ([reconnect])",
        rules: reconnect::rules,
        changes: &[&changes::REUSE_DELAY],
    },
    Entry {
        title: "The server restarts its listener on the port of a closed connection \
                ([listener] restart)",
        rules: restart::rules,
        changes: &[],
    },
];

/// What the kernel does for `inputs`, by the model.
pub fn predict(inputs: &Inputs) -> Prediction {
    predict_with(&KERNEL, inputs)
}

/// The same with the branches of `model`: each event kind's entry.
pub(crate) fn predict_with(model: &Model<'_>, inputs: &Inputs) -> Prediction {
    let mut p = match &inputs.event {
        EventInputs::Syn(e) => syn::predict(model, inputs, e),
        EventInputs::Segment(e) => segment::predict(model, inputs, e),
        EventInputs::Reconnect(e) => reconnect::predict(model, inputs, e),
        EventInputs::Restart(e) => restart::predict(model, inputs, e),
    };
    // Whatever the event, a TIME_WAIT the close left was armed for
    // TCP_TIMEWAIT_LEN (tcp_time_wait()), which is what its timer reads
    // before the event.
    p.time_wait_seconds = close::left(&inputs.closing)
        .0
        .then_some(close::TIME_WAIT_SECONDS);
    p
}

//! A popular claim held against the kernel: the outcome the scenario's
//! `[folklore]` says the claim predicts, or, for a SYN that hit a server's
//! TIME_WAIT, what the popular "seq AND timestamp" rule predicts (`rules`),
//! compared with what the kernel did.

use serde::Serialize;

use super::verdict::{Check, judge};
use crate::evidence::Outcome;
use crate::expect::Want;
use crate::scenario::{At, Case, Expect};

/// The claim the popular rule makes about a SYN that hits TIME_WAIT.
pub const SEQ_AND_TS: &str = "a SYN reopens a TIME_WAIT 4-tuple only if its seq is above \
     rcv_nxt AND its tsval above ts_recent (seq alone without timestamps)";

/// A claim and where the kernel disagreed with it.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimVerdict {
    pub claim: String,
    /// The kernel did what the claim predicts, in every field it predicts.
    pub holds: bool,
    /// Each predicted field the kernel did otherwise: predicted vs seen.
    pub differs: Vec<Check>,
}

/// The case's claim against the kernel's outcome, if the case has one.
pub fn folklore(
    case: &Case,
    outcome: &Outcome,
    known_counters: &[String],
    release: &str,
) -> Option<ClaimVerdict> {
    let (claim, predicts) = match (&case.folklore, &outcome.folklore_rule) {
        (Some(f), _) => (f.claim.clone(), f.predicts.clone()),
        (None, Some(rule)) => {
            let mut predicts = Expect::default();
            let value = Want::Word(rule.answer.as_str().to_owned());
            let loc = match &case.event {
                crate::event::Event::Syn(syn) => syn.seq.loc.clone(),
                _ => case.expect.get("answer").map(|a| a.loc.clone())?,
            };
            predicts.set("answer", At { value, loc });
            (SEQ_AND_TS.to_string(), predicts)
        }
        (None, None) => return None,
    };
    let mut as_case = case.clone();
    as_case.expect = predicts;
    as_case.kernel_expect.clear();
    let v = judge(&as_case, outcome, known_counters, release);
    let differs: Vec<Check> = v.checks.into_iter().filter(|c| !c.ok).collect();
    Some(ClaimVerdict {
        claim,
        holds: differs.is_empty(),
        differs,
    })
}

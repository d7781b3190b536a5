//! A prediction held against what the kernel did: every field the model
//! states, read off the case's outcome the way the expectations read it (the
//! `seen` of `expect::FIELDS`), and every counter the model states. A field
//! the kernel gave no way to tell is listed, never counted as a
//! disagreement; so is one whose evidence the case did not gather (a
//! field that `needs` a measure no expectation of the case asked for: its
//! reading is incidental, like TIME_WAIT's timer read without letting it
//! age first).

use serde::Serialize;

use super::Prediction;
use crate::evidence::Outcome;
use crate::expect::{self, Measure};

/// One field: what the model said and what the case showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compared {
    /// The expectation's name (`answer`), or `counters.<name>` /
    /// `client_counters.<name>`.
    pub field: String,
    pub predicted: String,
    /// What the case showed, or why it could not be told.
    pub seen: Result<String, String>,
}

impl Compared {
    /// The case showed something else.
    pub fn differs(&self) -> bool {
        self.seen.as_ref().is_ok_and(|s| *s != self.predicted)
    }
}

/// Every field the model stated, compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agreement {
    pub compared: Vec<Compared>,
}

impl Agreement {
    /// No field the case could show differs from the model.
    pub fn agrees(&self) -> bool {
        !self.compared.iter().any(Compared::differs)
    }

    /// The fields where the kernel did something else.
    pub fn differences(&self) -> impl Iterator<Item = &Compared> {
        self.compared.iter().filter(|c| c.differs())
    }

    /// How many fields were compared with a value the case showed.
    pub fn checked(&self) -> usize {
        self.compared.iter().filter(|c| c.seen.is_ok()).count()
    }
}

impl Prediction {
    /// This prediction against what the case showed; `measured` says
    /// whether the case gathered the evidence a field needs.
    pub fn agreement(&self, outcome: &Outcome, measured: impl Fn(Measure) -> bool) -> Agreement {
        self.compare(
            |name| {
                Some(match expect::field(name) {
                    Some((_, f)) if let Some(m) = f.needs.filter(|m| !measured(*m)) => {
                        Err(not_measured(m).to_owned())
                    }
                    Some((_, f)) => (f.seen)(outcome).map_err(str::to_owned),
                    None => Err(format!("no expectation is called {name}")),
                })
            },
            // A counter that did not move is not in the deltas.
            |client, name| {
                let seen = if client {
                    &outcome.client_counters
                } else {
                    &outcome.counters
                };
                Some(seen.get(name).copied().unwrap_or(0))
            },
        )
    }

    /// This prediction against another account of the case: `field` and
    /// `counter` say what it showed for a field or a counter (of the client's
    /// namespace when `client`), `None` when it says nothing about it.
    pub(crate) fn compare(
        &self,
        field: impl Fn(&str) -> Option<Result<String, String>>,
        counter: impl Fn(bool, &str) -> Option<i64>,
    ) -> Agreement {
        let mut compared: Vec<Compared> = self
            .claims()
            .into_iter()
            .filter_map(|(name, predicted)| {
                field(name).map(|seen| Compared {
                    field: name.to_owned(),
                    predicted,
                    seen,
                })
            })
            .collect();
        for (client, prefix, predicted) in [
            (false, "counters", &self.counters),
            (true, "client_counters", &self.client_counters),
        ] {
            compared.extend(predicted.iter().filter_map(|(name, n)| {
                counter(client, name).map(|seen| Compared {
                    field: format!("{prefix}.{name}"),
                    predicted: n.to_string(),
                    seen: Ok(seen.to_string()),
                })
            }));
        }
        Agreement { compared }
    }
}

/// Why a field that needs `m` is not compared when the case did not take it.
fn not_measured(m: Measure) -> &'static str {
    match m {
        Measure::TimerAge => {
            "not measured: no expectation of the case judges the timer, so TIME_WAIT was not let \
             age before the event and a re-armed timer cannot be told from one left alone"
        }
    }
}

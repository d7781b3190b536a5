//! Judge a case: `verdict` compares what the evidence showed
//! (`evidence::Outcome`) with the scenario's expectation for the kernel it ran
//! on; `folklore` holds a popular claim against it.

mod folklore;
mod verdict;

pub use folklore::{ClaimVerdict, folklore};
pub use verdict::{Check, Status, Unchecked, Verdict, judge};

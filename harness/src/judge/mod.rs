//! Judge a case: `outcome` reads what the evidence shows, `verdict` compares it
//! with the scenario's expectation for the kernel it ran on.

mod folklore;
pub(crate) mod outcome;
mod verdict;

pub use folklore::{ClaimVerdict, folklore};
pub use outcome::{Outcome, analyze};
pub use verdict::{Check, Status, Unchecked, Verdict, judge};

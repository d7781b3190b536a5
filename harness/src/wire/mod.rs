//! The vocabulary every stage shares: typed TCP segments (parsed from captured
//! frames and emitted as the raw peer's frames, in one place), wrap-aware
//! sequence and timestamp numbers, the two sides of a case and the kernel's TCP
//! states. Nothing here knows about namespaces, files or reports.

mod answer;
mod family;
pub mod neighbour;
mod segment;
mod seq;
mod state;

pub use answer::Answer;
pub use family::Family;
pub use segment::{Dir, EmitError, Flags, Frame, Segment};
pub use seq::{Seq, TsVal};
pub use state::{Side, TcpState};

#[cfg(test)]
pub(crate) use segment::test_segment;

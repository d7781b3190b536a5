//! A case that could not run to its end, in words: the error and, for a
//! timeout, the segments captured until then as timeline lines. One neutral
//! rendering that the text report, the JSON error row and JUnit/KTAP share.

use crate::error::RunError;
use crate::report::timeline;

/// The error, and for a timeout the segments seen until then.
pub fn render(e: &RunError) -> String {
    match e.segments() {
        Some([]) => format!("{e}\n  (no TCP segment captured)"),
        Some(segs) => format!("{e}; last seen:\n{}", timeline::plain(segs).trim_end()),
        None => e.to_string(),
    }
}

//! The rules as the model states them, in words: one short block per event
//! kind (from `ENTRIES`), after one on whether there is a TIME_WAIT at all,
//! each with the kernels where the answers differ. Generated from the same
//! statics the model's code reads, so the README that shows it cannot drift
//! from the model.

use super::changes::Change;
use super::{ENTRIES, KERNEL, Model, close};

/// The rules text (Markdown: a heading and a list per block).
pub fn rules_text() -> String {
    rules_of(&KERNEL)
}

/// The same for the branches of `model`.
pub(crate) fn rules_of(model: &Model<'_>) -> String {
    let mut out = String::new();
    block(
        &mut out,
        "Whether there is a TIME_WAIT at all",
        close::RULES.iter().map(|r| (*r).to_owned()),
    );
    for e in &ENTRIES {
        let kernels = e.changes.iter().copied().map(kernel_line);
        block(
            &mut out,
            e.title,
            (e.rules)(model).into_iter().chain(kernels),
        );
    }
    out
}

fn block(out: &mut String, title: &str, lines: impl Iterator<Item = String>) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str("### ");
    out.push_str(title);
    out.push_str("\n\n");
    for line in lines {
        out.push_str("- ");
        out.push_str(&line);
        out.push('\n');
    }
}

/// `From Linux 6.16 on, ...; before, ... Commit: ...`
fn kernel_line(c: &Change) -> String {
    format!(
        "From Linux {} on, {}; before, {}. Commit: {}.",
        c.version(),
        c.now,
        c.before,
        c.commit
    )
}

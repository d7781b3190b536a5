//! The README's rules section is what synlab's model states (no root): the
//! text between its `<!-- rules: begin ... -->` and `<!-- rules: end -->`
//! markers is what `synlab rules` prints, so the README and the model cannot
//! drift. Regenerate with `just rules`.

mod support;

use std::process::Command;

use support::{synlab_bin, workspace};

const BEGIN: &str = "<!-- rules: begin";
const END: &str = "<!-- rules: end -->";

#[test]
fn the_readme_rules_section_is_what_the_model_states() {
    let out = Command::new(synlab_bin())
        .arg("rules")
        .output()
        .expect("run synlab rules");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = String::from_utf8(out.stdout).expect("UTF-8");
    // One block per event kind, after the one on whether there is a TIME_WAIT.
    for title in [
        "### Whether there is a TIME_WAIT at all",
        "([second_syn])",
        "([segment])",
        "([reconnect])",
        "([listener] restart)",
    ] {
        assert!(
            rules.contains(title),
            "no {title:?} in synlab rules:\n{rules}"
        );
    }
    let path = workspace().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let begin = readme
        .find(BEGIN)
        .and_then(|at| readme[at..].find('\n').map(|nl| at + nl + 1))
        .unwrap_or_else(|| panic!("{} has no {BEGIN:?} line", path.display()));
    let end = readme[begin..]
        .find(END)
        .map(|at| begin + at)
        .unwrap_or_else(|| panic!("{} has no {END:?} after the begin marker", path.display()));
    let section = &readme[begin..end];
    assert!(
        section.trim() == rules.trim(),
        "{}'s rules section is stale: run `just rules` and commit it\n--- README\n{}\n--- synlab rules\n{}",
        path.display(),
        section.trim(),
        rules.trim()
    );
}

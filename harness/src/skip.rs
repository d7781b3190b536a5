//! Whether a case is for this kernel: a scenario's top-level `kernel = "..."`
//! names the releases it is for; on any other the case is skipped, and the
//! reports say so (a skip is never a pass).

use crate::release::Release;
use crate::scenario::Case;

/// Why `case` is not run on the kernel `release` (`uname -r`), or `None` when
/// it is for it (or says nothing). A release synlab cannot read runs the case.
pub fn skip_reason(case: &Case, release: &str) -> Option<String> {
    let cond = case.kernel.as_ref()?;
    let this = Release::parse(release)?;
    (!cond.value.matches(this)).then(|| {
        format!(
            "the scenario is for kernel {} ({}), this is {release}",
            cond.value, cond.loc
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_case_for_newer_kernels_is_skipped_with_its_condition() {
        let src = "description = \"d\"\nkernel = \">= 6.14\"\n[expect]\nanswer = \"ack\"\n";
        let s = crate::scenario::parse_str(Path::new("/s/timewait/k.toml"), src).expect("parse");
        let case = &s.cases[0];
        let why = skip_reason(case, "6.1.0-40-amd64").expect("skipped on 6.1");
        assert!(
            why.contains(">= 6.14")
                && why.contains("6.1.0-40-amd64")
                && why.contains("k.toml:2:10"),
            "{why}"
        );
        assert_eq!(skip_reason(case, "6.18.4"), None);
    }
}

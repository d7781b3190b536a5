//! Compare what a case showed with what its scenario expects on the kernel it
//! ran on. Every expectation is either checked (and right or wrong) or listed
//! as unchecked with the reason: a check that could not be made is never a
//! pass. A counter this kernel lacks is judged by the name that counted the
//! same event before it existed, when the kernel predates it (`mib`).

use serde::Serialize;

use crate::evidence::Outcome;
use crate::mib;
use crate::release::Release;
use crate::scenario::{Case, Loc};

/// One expectation compared with what was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub field: String,
    #[serde(serialize_with = "ser_loc")]
    pub loc: Loc,
    pub expected: String,
    pub seen: String,
    pub ok: bool,
    /// How it was checked when not as written (a counter judged by its
    /// older name on this kernel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An expectation this kernel gave no way to check, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unchecked {
    pub field: String,
    #[serde(serialize_with = "ser_loc")]
    pub loc: Loc,
    pub expected: String,
    pub why: String,
}

impl Check {
    fn new(field: &str, loc: &Loc, expected: String, seen: String) -> Check {
        Check {
            field: field.to_owned(),
            loc: loc.clone(),
            ok: expected == seen,
            expected,
            seen,
            note: None,
        }
    }
}

fn ser_loc<S: serde::Serializer>(l: &Loc, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&l.to_string())
}

/// The verdict in one word: the one verdict type of the crate.
pub use crate::verdict::Status;

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `status == Pass`.
    pub pass: bool,
    pub status: Status,
    pub checks: Vec<Check>,
    pub unchecked: Vec<Unchecked>,
    /// The counters among `unchecked` (kept for readers of older reports).
    pub unavailable_counters: Vec<String>,
}

/// Compare the case's expectation on kernel `release` (its kernel overrides
/// applied) with the outcome; `known_counters` are the names that kernel prints.
pub fn judge(case: &Case, outcome: &Outcome, known_counters: &[String], release: &str) -> Verdict {
    let version = Release::parse(release);
    let expect = case.expect_on(version);
    let mut checks: Vec<Check> = Vec::new();
    let mut unchecked = Vec::new();
    for (field, want) in expect.fields() {
        let expected = want.value.to_string();
        match (field.seen)(outcome) {
            Ok(seen) => checks.push(Check::new(field.name, &want.loc, expected, seen)),
            Err(why) => unchecked.push(Unchecked {
                field: field.name.to_owned(),
                loc: want.loc.clone(),
                expected,
                why: why.to_owned(),
            }),
        }
    }
    let known = |n: &str| known_counters.iter().any(|k| k == n);
    let all = expect
        .counters
        .iter()
        .map(|c| ("counters", c, &outcome.counters))
        .chain(
            expect
                .client_counters
                .iter()
                .map(|c| ("client_counters", c, &outcome.client_counters)),
        );
    for (table, c, seen_in) in all {
        let (name, want) = &c.value;
        let field = format!("{table}.{name}");
        let (judged_as, note) = if known(name) {
            (name.as_str(), None)
        } else {
            match counter_stand_in(name, version, &known) {
                Ok(older) => (
                    older,
                    Some(format!(
                        "this kernel ({release}) has no {name}: the same event counted as {older} \
                         before {} (judged by that)",
                        mib::lookup(name).map_or_else(String::new, |m| m.releases())
                    )),
                ),
                Err(why) => {
                    unchecked.push(Unchecked {
                        field,
                        loc: c.loc.clone(),
                        expected: want.to_string(),
                        why,
                    });
                    continue;
                }
            }
        };
        let seen = seen_in.get(judged_as).copied().unwrap_or(0);
        let mut check = Check::new(&field, &c.loc, want.to_string(), seen.to_string());
        check.note = note;
        checks.push(check);
    }
    let status = if checks.iter().any(|c| !c.ok) || (checks.is_empty() && unchecked.is_empty()) {
        Status::Fail
    } else if !unchecked.is_empty() {
        Status::Partial
    } else {
        Status::Pass
    };
    Verdict {
        pass: status == Status::Pass,
        status,
        unavailable_counters: unchecked
            .iter()
            .filter_map(|u| {
                u.field
                    .strip_prefix("counters.")
                    .or_else(|| u.field.strip_prefix("client_counters."))
                    .map(str::to_owned)
            })
            .collect(),
        checks,
        unchecked,
    }
}

/// The older name to judge `name` by on a kernel that lacks it, or why there
/// is none.
fn counter_stand_in(
    name: &str,
    version: Option<Release>,
    known: &dyn Fn(&str) -> bool,
) -> Result<&'static str, String> {
    let Some(m) = mib::lookup(name) else {
        return Err(format!("this kernel has no counter {name}"));
    };
    let added = m.releases();
    match (m.before, version) {
        (Some(older), Some(v)) if v < m.first && known(older) => Ok(older),
        (_, Some(v)) if v < m.first => Err(format!(
            "this kernel ({v}) predates {name} ({added}) and has nothing that counted the same event"
        )),
        (_, Some(v)) if !m.printed_by(v) => Err(format!(
            "this kernel ({v}) is past the releases that printed {name} ({added})"
        )),
        _ => Err(format!(
            "this kernel has no counter {name} (printed by {added}); it may be built without it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Observation;
    use crate::evidence::analyze;
    use crate::evidence::first_tests::{first_connection, seg};
    use crate::wire::Dir;
    use std::path::Path;

    fn case(expect: &str) -> Case {
        let src = format!("description = 'judge test'\n[expect]\n{expect}\n");
        crate::scenario::parse_str(Path::new("/s/timewait/judge.toml"), &src)
            .expect("parse")
            .cases
            .remove(0)
    }

    fn outcome_ack() -> Outcome {
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, "S", 100, 0, 10));
        segs.push(seg(Dir::ToClient, ".", 5002, 0, 10));
        let mut obs = Observation::for_tests(segs);
        obs.server_counters.insert("TcpExt.PAWSEstab".into(), 1);
        analyze(&obs, &crate::rules::Settings::default())
    }

    const KNOWN_618: &[&str] = &["TcpExt.PAWSTimewait", "TcpExt.PAWSEstab"];
    const KNOWN_61: &[&str] = &["TcpExt.PAWSEstab"];

    fn known(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_field_is_checked_where_the_file_says_it() {
        let c = case(
            "answer = 'syn-ack'\ntime_wait_after = false\ncounters = { 'TcpExt.PAWSTimewait' = 0 }",
        );
        let v = judge(&c, &outcome_ack(), &known(KNOWN_618), "6.18.44");
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.checks.len(), 3);
        assert_eq!(
            (v.checks[0].field.as_str(), v.checks[0].seen.as_str()),
            ("answer", "ack")
        );
        assert!(!v.checks[0].ok && v.checks[1].ok && v.checks[2].ok);
        assert_eq!(v.checks[0].loc.to_string(), "/s/timewait/judge.toml:3:10");
    }

    #[test]
    fn a_renamed_counter_is_judged_by_its_older_name_on_an_older_kernel() {
        let c = case("answer = 'ack'\ncounters = { 'TcpExt.PAWSTimewait' = 1 }");
        let v = judge(&c, &outcome_ack(), &known(KNOWN_61), "6.1.0-28-amd64");
        assert_eq!(v.status, Status::Pass, "{v:?}");
        let note = v.checks[1].note.as_deref().unwrap_or("");
        assert!(note.contains("counted as TcpExt.PAWSEstab"), "{note}");
        assert!(v.unchecked.is_empty());
    }

    #[test]
    fn a_counter_the_kernel_lacks_is_unchecked_and_the_case_partial() {
        let c = case("answer = 'ack'\ncounters = { 'TcpExt.TCPAOGood' = 0 }");
        let v = judge(&c, &outcome_ack(), &known(KNOWN_61), "6.1.0");
        assert_eq!(v.status, Status::Partial);
        assert!(!v.pass, "a check not made is not a pass");
        assert_eq!(v.unchecked.len(), 1);
        assert!(
            v.unchecked[0]
                .why
                .contains("predates TcpExt.TCPAOGood (6.7 and later)"),
            "{:?}",
            v.unchecked
        );
        assert_eq!(v.unavailable_counters, vec!["TcpExt.TCPAOGood"]);
        // A wrong answer still fails, whatever is unchecked.
        let c = case("answer = 'rst'\ncounters = { 'TcpExt.TCPAOGood' = 0 }");
        assert_eq!(
            judge(&c, &outcome_ack(), &known(KNOWN_61), "6.1.0").status,
            Status::Fail
        );
    }

    #[test]
    fn kernel_overrides_apply_on_the_kernels_they_name() {
        let c = case(
            "answer = 'syn-ack'\n[[expect.when]]\nmatch = { kernel = '< 6.10' }\nanswer = 'ack'",
        );
        assert_eq!(c.kernel_expect.len(), 1);
        assert_eq!(judge(&c, &outcome_ack(), &[], "6.1.0").status, Status::Pass);
        assert_eq!(
            judge(&c, &outcome_ack(), &[], "6.18.44").status,
            Status::Fail
        );
    }

    #[test]
    fn nothing_to_judge_is_not_a_pass() {
        let c = case("established = false");
        let mut c2 = c.clone();
        c2.expect = crate::scenario::Expect::default();
        assert_eq!(judge(&c2, &outcome_ack(), &[], "6.18").status, Status::Fail);
    }
}

//! `synlab run --ktap`: KTAP version 1, as the kernel's selftests print it
//! (Documentation/dev-tools/ktap.rst, tools/testing/selftests/kselftest.h):
//! the version line, the plan `1..N`, then per case its diagnostics (`# ...`)
//! and one result line, `ok N name`, `not ok N name` or `ok N name # SKIP
//! reason`, and kselftest's `# Totals:` line at the end. Names are the cargo
//! trial names (`timewait::ts-off::ipv4`). A partial case is `not ok`: it is
//! not a pass.

use crate::report::record::{Record, Tally};
use crate::verdict::Status;

/// The version line and the plan for `total` cases.
pub fn header(total: usize) -> String {
    format!("KTAP version 1\n1..{total}\n")
}

/// Case number `n` (from 1): diagnostics, then its result line.
pub fn result(n: usize, r: &Record) -> String {
    let mut out = String::new();
    let mut diag = |line: &str| {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    };
    match r.conclusion {
        Status::Pass | Status::Skip => {}
        Status::Fail => {
            diag(&format!("{}: failed ({})", r.trial, r.file));
            for f in &r.failures {
                diag(&format!("  {f}"));
            }
        }
        Status::Partial => {
            diag(&format!(
                "{}: partial: expectations not checked on this kernel ({})",
                r.trial, r.file
            ));
            for u in &r.unchecked {
                diag(&format!("  {u}"));
            }
        }
        Status::Error => {
            diag(&format!("{}: error ({})", r.trial, r.file));
        }
    }
    if let Some(p) = &r.pcap {
        diag(&format!("pcap: {}", p.display()));
    }
    if let Some(d) = &r.details {
        for line in d.lines() {
            diag(line);
        }
    }
    let name = r.trial.replace('#', "_");
    match r.conclusion {
        Status::Pass => out.push_str(&format!("ok {n} {name}\n")),
        Status::Skip => {
            let why = r.message.as_deref().unwrap_or("not run").replace('\n', " ");
            out.push_str(&format!("ok {n} {name} # SKIP {why}\n"));
        }
        _ => out.push_str(&format!("not ok {n} {name}\n")),
    }
    out
}

/// kselftest's closing line; a partial case counts as a failure.
pub fn totals(t: &Tally) -> String {
    format!(
        "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:{}\n",
        t.pass,
        t.fail + t.partial,
        t.skip,
        t.error
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(conclusion: Status) -> Record {
        Record {
            suite: "timewait::x".into(),
            trial: "timewait::x::ipv4".into(),
            case: "x/ipv4".into(),
            file: "scenarios/timewait/x.toml".into(),
            conclusion,
            duration: Duration::from_millis(3),
            failures: vec!["answer: expected ack, seen rst (x.toml:7:10)".into()],
            unchecked: Vec::new(),
            message: Some("kernel >= 6.14: this is 6.1.0".into()),
            pcap: None,
            details: None,
        }
    }

    #[test]
    fn lines_as_kselftest_prints_them() {
        assert_eq!(header(3), "KTAP version 1\n1..3\n");
        assert_eq!(result(1, &record(Status::Pass)), "ok 1 timewait::x::ipv4\n");
        assert_eq!(
            result(2, &record(Status::Skip)),
            "ok 2 timewait::x::ipv4 # SKIP kernel >= 6.14: this is 6.1.0\n"
        );
        let mut fail = record(Status::Fail);
        fail.pcap = Some("synlab-artifacts/x.pcap".into());
        assert_eq!(
            result(3, &fail),
            "# timewait::x::ipv4: failed (scenarios/timewait/x.toml)\n\
             #   answer: expected ack, seen rst (x.toml:7:10)\n\
             # pcap: synlab-artifacts/x.pcap\n\
             not ok 3 timewait::x::ipv4\n"
        );
        let t = Tally {
            pass: 1,
            partial: 1,
            fail: 1,
            error: 0,
            skip: 1,
        };
        assert_eq!(
            totals(&t),
            "# Totals: pass:1 fail:2 xfail:0 xpass:0 skip:1 error:0\n"
        );
    }
}

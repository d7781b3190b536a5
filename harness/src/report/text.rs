//! The human report: header, timeline, outcome, counters, verdict. On a mismatch
//! it names each expectation's file:line:column with expected vs seen.

use std::fmt::Write as _;

use crate::error::RunError;
use crate::judge::ClaimVerdict;
use crate::observe::counters::Counters;
use crate::report::json;
use crate::report::phrase::{self, display_path};
use crate::report::timeline;
use crate::run::CaseRun;
use crate::scenario::Case;

/// TCP counters only (`Tcp.*`, `TcpExt.*`); JSON carries every one.
fn counters_line(c: &Counters) -> String {
    let tcp = phrase::tcp_counters(c);
    if tcp.is_empty() {
        return phrase::NO_TCP_COUNTER.into();
    }
    tcp.into_iter()
        .map(|(k, v)| format!("{k} {v:+}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole human report of one case.
pub fn render(run: &CaseRun) -> String {
    let case = &run.case;
    let obs = &run.obs;
    let o = &run.outcome;
    let f = &obs.first;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== {}  ({})",
        case.trial_name(),
        if case.builtin {
            format!("{}, builtin", case.file.display())
        } else {
            display_path(&case.file)
        }
    );
    let _ = writeln!(
        out,
        "   kernel {}, {} client, {}, server {}, client {}",
        run.kernel,
        case.client_kind.as_str(),
        case.family.as_str(),
        phrase::sysctls(&case.server_sysctl),
        phrase::sysctls(&case.client_sysctl),
    );
    let _ = writeln!(out, "   {}", phrase::time_wait_line(obs));
    if let Some(isn) = obs.forced_isn {
        let _ = writeln!(
            out,
            "   second SYN's ISN forced with TCP_REPAIR: {}",
            phrase::forced_isn(isn, f.rcv_nxt)
        );
    }
    out.push_str(&timeline::annotated(
        &obs.segments,
        f,
        obs.event_index,
        o.answer_index,
        &obs.states,
        &obs.resets,
        &obs.conntrack,
    ));
    if let Some(why) = &obs.trace_unavailable {
        let _ = writeln!(
            out,
            "   states: no state trace ({why}); sock_diag snapshots:"
        );
        for (_, snap) in &obs.snapshots {
            let _ = writeln!(out, "     {snap}");
        }
    }
    let _ = writeln!(
        out,
        "   answer {}, client SYNs {}{}, established {}, TIME_WAIT after {}",
        o.answer.as_str(),
        o.client_syns,
        phrase::retry_gap(o.retry_gap_ms),
        phrase::yes_no(o.established),
        phrase::yes_no(o.time_wait_after),
    );
    for note in &obs.peer_notes {
        let _ = writeln!(out, "   {} {note}", phrase::notes_by(case.client_kind));
    }
    for line in phrase::event_facts(run) {
        let _ = writeln!(out, "   {line}");
    }
    let model = json::kernel_model(run);
    let _ = writeln!(out, "   why: {}", model.why);
    if let Some(f) = &o.folklore_rule {
        let _ = writeln!(
            out,
            "   rules: model predicts {}, folklore predicts {} ({}); the kernel answered {}",
            model.answer.map_or("nothing", |a| a.as_str()),
            f.answer.as_str(),
            f.why,
            o.answer.as_str(),
        );
    }
    if let Some(wrong) = phrase::model_disagrees(&model) {
        let _ = writeln!(out, "   MODEL DISAGREES: {}", phrase::sentence(&wrong));
    }
    if let Err(e) = &obs.connect_result {
        let _ = writeln!(out, "   client: {e}");
    }
    let _ = writeln!(
        out,
        "   counters (server): {}",
        counters_line(&obs.server_counters)
    );
    let _ = writeln!(
        out,
        "   counters (client): {}",
        counters_line(&obs.client_counters)
    );
    for u in &run.verdict.unchecked {
        let _ = writeln!(
            out,
            "   {}: {}",
            u.loc,
            phrase::unchecked(&u.field, &u.expected, &u.why)
        );
    }
    for c in run
        .verdict
        .checks
        .iter()
        .filter_map(|c| c.note.as_ref().map(|n| (c, n)))
    {
        let _ = writeln!(out, "   note: expect.{}: {}", c.0.field, c.1);
    }
    let checked: Vec<String> = run
        .verdict
        .checks
        .iter()
        .map(|c| {
            format!(
                "{}={} {}",
                c.field.trim_start_matches("counters."),
                c.seen,
                if c.ok { "ok" } else { "MISMATCH" }
            )
        })
        .collect();
    let _ = writeln!(out, "   expect: {}", checked.join(", "));
    let _ = writeln!(
        out,
        "{} {} ({:.1} ms)",
        run.verdict.status.as_str().to_uppercase(),
        case.trial_name(),
        run.duration.as_secs_f64() * 1e3
    );
    if !run.verdict.pass {
        for c in run.verdict.checks.iter().filter(|c| !c.ok) {
            let _ = writeln!(
                out,
                "   {}: expect.{}: expected {}, seen {}",
                c.loc, c.field, c.expected, c.seen
            );
        }
        if run.verdict.checks.is_empty() {
            let _ = writeln!(out, "   {}", phrase::NOTHING_TO_JUDGE);
        }
    }
    out
}

/// A case that could not run to its end: the error and, for a timeout, the
/// segments captured until then as timeline lines (the rendering the JSON
/// error row carries too).
pub fn error(e: &RunError) -> String {
    crate::report::error_text::render(e)
}

/// A case not run on this kernel (its scenario's `kernel = "..."`): a header
/// like [`render`]'s and one `SKIP` line with the reason.
pub fn skipped(case: &Case, why: &str) -> String {
    let name = case.trial_name();
    format!(
        "== {name}  ({})\nSKIP {name}: {why} (not run: neither a pass nor a failure)\n",
        display_path(&case.file)
    )
}

/// The closing table of a run: every case whose popular claim the kernel
/// contradicted, grouped by claim, with what the claim predicts and what the
/// kernel did; `tested` is how many cases held a claim at all.
pub fn folklore_table(rows: &[(String, ClaimVerdict)], tested: usize) -> String {
    let wrong: Vec<&(String, ClaimVerdict)> = rows.iter().filter(|(_, v)| !v.holds).collect();
    let mut out = format!(
        "\nfolklore against the kernel: {} of {tested} cases that test a claim contradict it\n",
        wrong.len()
    );
    let w = wrong.iter().map(|(c, _)| c.len()).max().unwrap_or(4).max(4);
    let mut claims: Vec<&str> = Vec::new();
    for (_, v) in &wrong {
        if !claims.contains(&v.claim.as_str()) {
            claims.push(&v.claim);
        }
    }
    for claim in claims {
        let _ = writeln!(out, "claim: {claim}");
        let _ = writeln!(out, "  {:<w$}  {:<28} kernel", "case", "claim predicts");
        for (case, v) in wrong.iter().filter(|(_, v)| v.claim == claim) {
            let predicted: Vec<String> = v
                .differs
                .iter()
                .map(|c| format!("{}={}", c.field, c.expected))
                .collect();
            let seen: Vec<String> = v
                .differs
                .iter()
                .map(|c| format!("{}={}", c.field, c.seen))
                .collect();
            let _ = writeln!(
                out,
                "  {case:<w$}  {:<28} {}",
                predicted.join(" "),
                seen.join(" ")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{case_run, challenge_segments, rich_run};

    /// Each of `want` is a whole line of `text`.
    fn has_lines(text: &str, want: &[&str]) {
        for w in want {
            assert!(text.lines().any(|l| l == *w), "no line {w:?} in\n{text}");
        }
    }

    #[test]
    fn a_skipped_case_says_skip_and_why() {
        let run = case_run(challenge_segments(), "skip");
        let text = skipped(&run.case, "the scenario is for kernels >= 6.14");
        let name = run.case.trial_name();
        has_lines(
            &text,
            &[&format!(
                "SKIP {name}: the scenario is for kernels >= 6.14 (not run: neither a pass nor a failure)"
            )],
        );
        assert!(text.starts_with(&format!("== {name}  (")), "{text}");
    }

    #[test]
    fn key_lines_of_a_passing_case() {
        let text = render(&case_run(challenge_segments(), "plain"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "== timewait::synthetic::default  (/scenarios/timewait/synthetic.toml)",
                "   kernel 6.18.0-test, kernel client, ipv4, server net.ipv4.tcp_timestamps=0, client defaults",
                "   TIME_WAIT on the server: TIME-WAIT 198.18.0.1:8888 198.18.0.2:12345; \
                 rcv_nxt = client ISN+2, ts_recent = none (timestamps not negotiated)",
            ]
        );
        has_lines(
            &text,
            &[
                "      0.071 ms  C > S  F.   seq 1 ack 2 win 64240   \
                 (client FIN: the server's side goes to TIME_WAIT)",
                "      3.843 ms  C > S  S    seq -998 win 64240   \
                 <- new SYN hits TIME_WAIT: seq = rcv_nxt-1000",
                "      3.855 ms  S > C  .    seq 2 ack 2 win 64240   <- the server's answer",
                "   answer ack, client SYNs 2 (retry after 12.798 ms), established yes, \
                 TIME_WAIT after no",
                "   client: sent <RST> & stopped",
                "   rules: model predicts ack, folklore predicts ack \
                 (no timestamps: seq > rcv_nxt: no); the kernel answered ack",
                "   counters (server): Tcp.OutSegs +2, Tcp.PassiveOpens +1",
                "   counters (client): no TCP counter changed",
                "   expect: answer=ack ok, client_syns=2 ok, TcpExt.PAWSTimewait=0 ok",
            ],
        );
        assert_eq!(
            lines.last(),
            Some(&"PASS timewait::synthetic::default (77.0 ms)")
        );
    }

    #[test]
    fn key_lines_of_a_failing_case_with_every_part() {
        let text = render(&rich_run());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..4],
            [
                "== timewait::rich::server.tcp_rfc1337=1  (/scenarios/timewait/rich.toml)",
                "   kernel 6.18.0-test, kernel client, ipv4, \
                 server net.ipv4.tcp_timestamps=1 net.ipv4.tcp_rfc1337=1, client defaults",
                "   TIME_WAIT on the server: TIME-WAIT 198.18.0.1:8888 198.18.0.2:12345; \
                 rcv_nxt = client ISN+2, ts_recent = 3000000001",
                "   second SYN's ISN forced with TCP_REPAIR: 1000000 = rcv_nxt+998998",
            ]
        );
        has_lines(
            &text,
            &[
                // The hand-over to the TIME_WAIT mini-socket is named, not relabelled.
                "      0.052 ms  [server] FIN_WAIT2 -> CLOSE   \
                 (handed to a TIME_WAIT socket: tcp_time_wait())",
                "      0.060 ms  [server] sent a RST in TIME_WAIT (reason NOT_SPECIFIED)",
                "      4.000 ms  C > S  S    seq 90000 win 64240 ts 4 ecr 0   \
                 <- new SYN hits TIME_WAIT: seq = rcv_nxt+89998, tsval = ts_recent+3",
                "   states: no state trace (no tracefs); sock_diag snapshots:",
                "   answer syn-ack, client SYNs 1, established no, TIME_WAIT after yes",
                "   client: connect: Connection refused (os error 111)",
                "   counters (server): Tcp.PassiveOpens +1, TcpExt.PAWSTimewait +3",
                "   counters (client): TcpExt.TCPTimeouts +2",
                "   /scenarios/timewait/rich.toml:11:62: unchecked expect.counters.TcpExt.TCPAOGood = 1: this kernel has no counter TcpExt.TCPAOGood (printed by 6.7 and later); it may be built without it",
                "   expect: answer=syn-ack ok, client_syns=1 ok, time_wait_after=true ok, \
                 TcpExt.PAWSTimewait=3 MISMATCH",
            ],
        );
        let verdict = lines
            .iter()
            .position(|l| l.starts_with("FAIL "))
            .expect("a verdict");
        assert_eq!(
            lines[verdict..],
            [
                "FAIL timewait::rich::server.tcp_rfc1337=1 (77.0 ms)",
                "   /scenarios/timewait/rich.toml:11:38: expect.counters.TcpExt.PAWSTimewait: \
                 expected 0, seen 3",
            ]
        );
    }
}

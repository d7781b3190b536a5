//! The panel beside a case's ladder in the HTML report: the verdict (each check
//! with expected, seen and its file:line:column), the outcome and the TIME_WAIT
//! evidence, why the kernel answered so, and the TCP counters that moved.

use std::fmt::Write as _;

use super::badge;
use crate::observe::counters::Counters;
use crate::report::json;
use crate::report::markup::escape as esc;
use crate::report::phrase;
use crate::rows::KernelModel;
use crate::run::CaseRun;

/// The verdict, outcome, TIME_WAIT evidence and counters beside the ladder.
pub(super) fn sidebar(out: &mut String, run: &CaseRun) {
    let obs = &run.obs;
    let o = &run.outcome;
    let v = &run.verdict;
    let _ = write!(
        out,
        "<h3>Verdict {}</h3>\n<table class=\"checks\">\n<tr><th></th><th>expect.</th><th>expected</th><th>seen</th></tr>\n",
        badge(v.status)
    );
    for c in &v.checks {
        let _ = write!(
            out,
            "<tr class=\"{}\"><td class=\"mark\">{}</td><td class=\"mono\">{}</td>\
             <td class=\"mono val\">{}</td><td class=\"mono val seen\">{}</td></tr>\n\
             <tr class=\"loc\"><td></td><td colspan=\"3\" class=\"mono\">{}</td></tr>\n",
            if c.ok { "ok" } else { "bad" },
            if c.ok { "&#10003;" } else { "&#10007;" },
            esc(&c.field).replacen("counters.", "<span class=\"dim\">counters.</span><wbr>", 1),
            esc(&c.expected),
            esc(&c.seen),
            esc(&c.loc.to_string()),
        );
    }
    out.push_str("</table>\n");
    if v.checks.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"bad\">{}</p>",
            phrase::sentence(phrase::NOTHING_TO_JUDGE)
        );
    }
    for u in &v.unchecked {
        let _ = writeln!(
            out,
            "<p class=\"note bad\"><span class=\"mono\">{}</span>: {}</p>",
            esc(&u.loc.to_string()),
            esc(&phrase::sentence(&phrase::unchecked(
                &u.field,
                &u.expected,
                &u.why
            )))
        );
    }
    for (c, note) in v
        .checks
        .iter()
        .filter_map(|c| c.note.as_ref().map(|n| (c, n)))
    {
        let _ = writeln!(
            out,
            "<p class=\"note\">expect.{}: {}</p>",
            esc(&c.field),
            esc(note)
        );
    }

    out.push_str("<h3>Outcome</h3>\n<dl>\n");
    let mut dd = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    };
    dd(
        "answer",
        format!("<b class=\"mono\">{}</b>", o.answer.as_str()),
    );
    dd(
        "client SYNs",
        format!("{}{}", o.client_syns, phrase::retry_gap(o.retry_gap_ms)),
    );
    dd("established", phrase::yes_no(o.established).into());
    dd("TIME_WAIT after", phrase::yes_no(o.time_wait_after).into());
    if let Err(e) = &obs.connect_result {
        dd("client", format!("<span class=\"bad\">{}</span>", esc(e)));
    }
    for note in &obs.peer_notes {
        dd(
            phrase::notes_by(run.case.client_kind).trim_end_matches(':'),
            esc(note),
        );
    }
    for fact in phrase::event_facts(run) {
        dd("event", esc(&fact));
    }
    for c in &obs.conntrack {
        dd(
            "conntrack",
            format!(
                "<span class=\"mono\">{}</span> ({})",
                esc(&c.entry.to_string()),
                esc(c.when)
            ),
        );
    }
    let f = &obs.first;
    dd(
        "TIME_WAIT before",
        format!(
            "<span class=\"mono\">{}</span>",
            esc(&phrase::time_wait_line(obs))
        ),
    );
    if !obs.closing.rst && obs.closing.closer == crate::wire::Side::Server {
        dd(
            "rcv_nxt",
            phrase::signed("client ISN", f.rcv_nxt - f.client_isn),
        );
    }
    dd("ts_recent", phrase::ts_recent(f.ts_recent));
    if let Some(d) = o.syn2_seq_vs_rcv_nxt {
        dd("new SYN seq", phrase::signed("rcv_nxt", d));
    }
    if let Some(d) = o.syn2_tsval_vs_ts_recent {
        dd("new SYN tsval", phrase::signed("ts_recent", d));
    }
    if let Some(isn) = obs.forced_isn {
        dd(
            "forced ISN",
            format!("{} (TCP_REPAIR)", phrase::forced_isn(isn, f.rcv_nxt)),
        );
    }
    out.push_str("</dl>\n");

    let folklore = o.folklore_rule.as_ref().map(|f| (f, o.answer));
    why_box(out, &json::kernel_model(run), folklore);

    let expected: Vec<&str> = v
        .checks
        .iter()
        .filter_map(|c| c.field.strip_prefix("counters."))
        .collect();
    counter_table(out, "Server TCP counters", &obs.server_counters, &expected);
    counter_table(out, "Client TCP counters", &obs.client_counters, &[]);
}

/// Why the kernel did so, by synlab's model; beside it, for a SYN at a
/// server's TIME_WAIT, what the popular rule predicts (`folklore`, with what
/// the kernel answered: marked bad where they differ); and only where the kernel did otherwise than the
/// model says, which branch the model took and what the kernel did instead.
pub(super) fn why_box(
    out: &mut String,
    model: &KernelModel,
    folklore: Option<(&crate::rules::Prediction, crate::wire::Answer)>,
) {
    let _ = writeln!(
        out,
        "<h3>Why</h3>\n<p class=\"why\">{}</p>",
        esc(&model.why)
    );
    if let Some((f, answered)) = folklore {
        let _ = writeln!(
            out,
            "<p class=\"why\">synlab's model predicts <b class=\"mono\">{}</b>; \
             the popular rule predicts <b class=\"mono {}\">{}</b> ({}).</p>",
            model.answer.map_or("nothing", |a| a.as_str()),
            if f.answer == answered { "ok" } else { "bad" },
            f.answer.as_str(),
            esc(&f.why),
        );
    }
    if let Some(wrong) = phrase::model_disagrees(model) {
        let _ = writeln!(
            out,
            "<p class=\"why bad\">{}</p>",
            esc(&phrase::sentence(&wrong))
        );
    }
}

/// The changed `Tcp.*` / `TcpExt.*` counters (as in the text report); the ones the
/// scenario expects are bold.
fn counter_table(out: &mut String, heading: &str, c: &Counters, expected: &[&str]) {
    let _ = writeln!(out, "<h3>{heading}</h3>");
    let tcp = phrase::tcp_counters(c);
    if tcp.is_empty() {
        let _ = writeln!(out, "<p class=\"dim\">{}</p>", phrase::NO_TCP_COUNTER);
        return;
    }
    out.push_str("<table class=\"counters\">\n");
    for (k, v) in tcp {
        let _ = writeln!(
            out,
            "<tr{}><td class=\"mono\">{}</td><td class=\"mono num\">{v:+}</td></tr>",
            if expected.contains(&k) {
                " class=\"expected\""
            } else {
                ""
            },
            esc(k)
        );
    }
    out.push_str("</table>\n");
}

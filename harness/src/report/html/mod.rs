//! The picture of finished cases: one self-contained HTML page (inline CSS and SVG,
//! no script, no network, no external font) with, per case, a ladder diagram of the
//! captured segments beside the verdict and the TCP counters that moved.
//!
//! The ladder has two lanes (client left, server right); each segment is an arrow
//! angled downwards in capture order (the vertical axis is the order of events, not
//! linear time: gaps range from µs to ms, so a long gap gets a marked break instead).
//! Labels use [`Bases`] exactly as the text timeline does, and the words come
//! from [`phrase`], so both reports agree.
//!
//! This file is the page: header, index, one section per case. The ladder is
//! drawn by [`ladder`], the verdict and counters beside it by [`sidebar`], the
//! look is `style.css`.
//!
//! [`Bases`]: crate::report::timeline::Bases
//! [`phrase`]: crate::report::phrase

mod ladder;
mod sidebar;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::files::{self, FileError};

use crate::report::case_end::CaseEnd;
use crate::report::events::{KernelInfo, ReportError, Reporter, RunEnd, RunInfo};
use crate::report::json::Row;
use crate::report::markup::escape as esc;
use crate::report::phrase::{self, display_path};
use crate::report::record::Record;
use crate::rows::KernelModel;
use crate::run::CaseRun;
use crate::verdict::Status;

/// The page's style sheet, inlined in its `<style>` element.
const CSS: &str = include_str!("style.css");

/// A TCP state change of one side, drawn as a label on its lane between the
/// segments captured before and after `at_ns` (same clock as `Segment::at_ns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneState {
    pub at_ns: u64,
    pub client_side: bool,
    pub state: String,
}

/// The traced state changes of a run, as lane labels (the new state; a hand-over
/// to the TIME_WAIT mini-socket is labelled TIME_WAIT, which is what it becomes).
pub fn lane_states(run: &CaseRun) -> Vec<LaneState> {
    use crate::observe::trace::Side;
    run.obs
        .states
        .iter()
        .filter_map(|c| {
            let client_side = match c.side? {
                Side::Client => true,
                Side::Server => false,
            };
            Some(LaneState {
                at_ns: c.at_ns,
                client_side,
                state: phrase::state_after(c.old, c.new).to_string(),
            })
        })
        .collect()
}

/// Write the page of `runs` (each with its lane states) to `path`, creating
/// its parent directory if needed; the user's file there is replaced, a
/// symlink at `path` is refused (see `files`).
///
/// # Errors
/// A [`FileError`] naming the path when the folder or the file cannot be written.
pub fn write(path: &Path, runs: &[CaseRun], title: &str) -> Result<(), FileError> {
    let lanes: Vec<Vec<LaneState>> = runs.iter().map(lane_states).collect();
    let with: Vec<(&CaseRun, &[LaneState])> = runs
        .iter()
        .zip(&lanes)
        .map(|(r, l)| (r, l.as_slice()))
        .collect();
    files::write_named(path, render(&with, title).as_bytes()).map(drop)
}

/// One case of the page.
enum Entry<'a> {
    /// It ran here: the ladder of its segments, with its lane states.
    Here(&'a CaseRun, &'a [LaneState]),
    /// Its evidence stayed in a guest: what its row said (its record, and
    /// the model's why when the row is a case's).
    Away(&'a Record, Option<&'a KernelModel>),
}

impl Entry<'_> {
    fn status(&self) -> Status {
        match self {
            Entry::Here(r, _) => r.verdict.status,
            Entry::Away(r, _) => r.conclusion,
        }
    }

    fn kernel(&self) -> &str {
        match self {
            Entry::Here(r, _) => &r.kernel,
            Entry::Away(r, _) => &r.kernel,
        }
    }
}

/// The whole page: a header with a summary and an index, then one section per case.
pub fn render(runs: &[(&CaseRun, &[LaneState])], title: &str) -> String {
    let entries: Vec<(Option<&str>, Entry)> = runs
        .iter()
        .map(|(r, l)| (None, Entry::Here(r, l)))
        .collect();
    render_entries(&entries, title)
}

/// The page of `entries`, each with the kernel label it is named with
/// (across kernels) or none.
fn render_entries(entries: &[(Option<&str>, Entry)], title: &str) -> String {
    let mut out = String::with_capacity(16_384 * entries.len().max(1));
    let passed = entries
        .iter()
        .filter(|(_, e)| e.status() == Status::Pass)
        .count();
    let mut kernels: Vec<&str> = entries.iter().map(|(_, e)| e.kernel()).collect();
    kernels.dedup();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"synlab {}\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title)
    );
    let n_all = entries.len();
    let _ = write!(
        out,
        "<header class=\"page\">\n<h1>{}</h1>\n<p class=\"meta\">{} case{}: \
         <span class=\"ok\">{passed} passed</span>, <span class=\"{}\">{} failed</span>\
         {}{} &middot; synlab {}</p>\n",
        esc(title),
        n_all,
        if n_all == 1 { "" } else { "s" },
        if passed == n_all { "ok" } else { "bad" },
        n_all - passed,
        if kernels.is_empty() {
            ""
        } else {
            " &middot; kernel "
        },
        esc(&kernels.join(", ")),
        env!("CARGO_PKG_VERSION"),
    );
    if n_all > 1 {
        out.push_str(
            "<nav><table class=\"index\">\n<tr><th></th><th></th><th>case</th><th>answer</th>\
             <th>client SYNs</th><th>TIME_WAIT after</th><th class=\"num\">time</th></tr>\n",
        );
        for (n, (label, entry)) in entries.iter().enumerate() {
            let (answer, syns, after, ms) = match entry {
                Entry::Here(run, _) => {
                    let o = &run.outcome;
                    (
                        o.answer.as_str().to_owned(),
                        o.client_syns.to_string(),
                        phrase::yes_no(o.time_wait_after),
                        run.duration.as_secs_f64() * 1e3,
                    )
                }
                Entry::Away(r, _) => {
                    let fact = |k: &str| r.facts.get(k).cloned().unwrap_or_default();
                    (
                        r.answer.clone().unwrap_or_default(),
                        fact("client_syns"),
                        phrase::yes_no(fact("time_wait_after") == "true"),
                        r.duration.as_secs_f64() * 1e3,
                    )
                }
            };
            let _ = writeln!(
                out,
                "<tr><td class=\"num dim\">{n}</td><td>{}</td><td><a class=\"mono\" href=\"#case-{n}\">{}</a></td>\
                 <td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
                 <td class=\"num dim\">{ms:.1} ms</td></tr>",
                badge(entry.status()),
                esc(&named(&trial(entry), *label)),
                esc(&answer),
                esc(&syns),
                after,
                n = n + 1,
            );
        }
        out.push_str("</table></nav>\n");
    }
    out.push_str("</header>\n");
    for (n, (label, entry)) in entries.iter().enumerate() {
        match entry {
            Entry::Here(run, states) => {
                // A scenario's description is shown open once; its other cases fold it.
                let first_of_scenario = entries[..n].iter().all(|(_, e)| match e {
                    Entry::Here(r, _) => r.case.file != run.case.file,
                    Entry::Away(..) => true,
                });
                case_section(&mut out, n + 1, run, states, first_of_scenario, *label);
            }
            Entry::Away(r, model) => away_section(&mut out, n + 1, r, *model, *label),
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn trial(e: &Entry) -> String {
    match e {
        Entry::Here(r, _) => r.case.trial_name(),
        Entry::Away(r, _) => r.trial.clone(),
    }
}

/// A case's name, with its kernel across kernels (`... [6.1.0-57-amd64]`).
fn named(name: &str, kernel: Option<&str>) -> String {
    match kernel {
        Some(k) => format!("{name} [{k}]"),
        None => name.to_owned(),
    }
}

/// A case whose evidence stayed in a guest: its verdict, what it showed, why
/// it did not pass, and its segments as timeline lines. Or a case that ended
/// in an error: the error's whole text.
fn away_section(
    out: &mut String,
    n: usize,
    r: &Record,
    model: Option<&KernelModel>,
    label: Option<&str>,
) {
    let error = r.conclusion == Status::Error;
    let _ = write!(
        out,
        "<section class=\"case {}\" id=\"case-{n}\">\n<h2>{} <span class=\"mono\">{}</span></h2>\n\
         <p class=\"facts\"><span class=\"mono\">{}</span> &middot; kernel <b class=\"mono\">{}</b> \
         &middot; {:.1} ms &middot; {}</p>\n",
        r.conclusion.as_str(),
        badge(r.conclusion),
        esc(&named(&r.trial, label)),
        esc(&r.file),
        esc(&r.kernel),
        r.duration.as_secs_f64() * 1e3,
        if error {
            "an error, not a verdict"
        } else {
            "ran in a VM: the segments as the guest's row gives them"
        },
    );
    out.push_str("<div class=\"body\">\n<figure>\n<pre class=\"mono\">");
    for l in &r.timeline {
        out.push_str(&esc(l));
        out.push('\n');
    }
    if let (true, Some(d)) = (error, &r.details) {
        out.push_str(&esc(d));
        out.push('\n');
    }
    out.push_str("</pre>\n</figure>\n<aside>\n<dl>\n");
    for (k, v) in &r.facts {
        let _ = writeln!(out, "<dt>{}</dt><dd class=\"mono\">{}</dd>", esc(k), esc(v));
    }
    out.push_str("</dl>\n");
    if let Some(m) = model {
        sidebar::why_box(out, m, None);
    }
    for line in r.why() {
        let _ = writeln!(out, "<p class=\"mono\">{}</p>", esc(&line));
    }
    if let Some(p) = &r.pcap {
        let _ = writeln!(
            out,
            "<p>pcap: <code>{}</code></p>",
            esc(&p.display().to_string())
        );
    }
    out.push_str("</aside>\n</div>\n</section>\n");
}

/// The PASS / FAIL badge.
fn badge(status: Status) -> &'static str {
    match status {
        Status::Pass => "<span class=\"badge pass\">PASS</span>",
        Status::Partial => "<span class=\"badge partial\">PARTIAL</span>",
        Status::Fail => "<span class=\"badge fail\">FAIL</span>",
        Status::Error => "<span class=\"badge fail\">ERROR</span>",
        Status::Skip => "<span class=\"badge partial\">SKIP</span>",
    }
}

fn sysctls(v: &[(String, String)]) -> String {
    phrase::sysctls_dressed(
        v,
        |kv| format!("<code>{}</code>", esc(kv)),
        |d| format!("<span class=\"dim\">{d}</span>"),
    )
}

fn case_section(
    out: &mut String,
    n: usize,
    run: &CaseRun,
    states: &[LaneState],
    open: bool,
    label: Option<&str>,
) {
    let case = &run.case;
    let _ = write!(
        out,
        "<section class=\"case {}\" id=\"case-{n}\">\n<h2>{} <span class=\"mono\">{}</span></h2>\n",
        run.verdict.status.as_str(),
        badge(run.verdict.status),
        esc(&named(&case.trial_name(), label)),
    );
    let values = esc(&phrase::key_values(&case.values).join(" "));
    let _ = write!(
        out,
        "<p class=\"facts\"><span class=\"mono\">{}</span> &middot; kernel <b class=\"mono\">{}</b> \
         &middot; {} client &middot; {} &middot; {:.1} ms{}</p>\n\
         <p class=\"facts\">server sysctl {} &middot; client sysctl {}</p>\n",
        esc(&if case.builtin {
            case.file_label()
        } else {
            display_path(&case.file)
        }),
        esc(&run.kernel),
        case.client_kind.as_str(),
        case.family.as_str(),
        run.duration.as_secs_f64() * 1e3,
        if values.is_empty() {
            String::new()
        } else {
            format!(" &middot; matrix <span class=\"mono\">{values}</span>")
        },
        sysctls(&case.server_sysctl),
        sysctls(&case.client_sysctl),
    );
    if !case.description.trim().is_empty() || case.kernel_ref.is_some() {
        let _ = write!(
            out,
            "<details class=\"desc\"{}><summary>scenario <span class=\"mono\">{}</span></summary>",
            if open { " open" } else { "" },
            esc(&case.scenario)
        );
        for para in case
            .description
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
        {
            let _ = write!(out, "<p>{}</p>", esc(para.trim()));
        }
        if let Some(r) = &case.kernel_ref {
            let _ = write!(out, "<p class=\"ref\">kernel: <code>{}</code></p>", esc(r));
        }
        out.push_str("</details>\n");
    }
    out.push_str("<div class=\"body\">\n<figure>\n");
    out.push_str(&ladder::ladder(run, states));
    out.push_str(ladder::LEGEND);
    out.push_str("</figure>\n<aside>\n");
    sidebar::sidebar(out, run);
    out.push_str("</aside>\n</div>\n</section>\n");
}

/// `--html FILE`: every case that ran (on every kernel) kept, the page
/// written when the run ends (the user's own file there replaced, never
/// through a link).
pub struct HtmlReporter {
    path: PathBuf,
    title: String,
    across: bool,
    /// Each case that ran, with its kernel's label.
    ran: Vec<(String, CaseEnd)>,
}

impl HtmlReporter {
    pub fn new(path: PathBuf, title: String) -> HtmlReporter {
        HtmlReporter {
            path,
            title,
            across: false,
            ran: Vec::new(),
        }
    }
}

impl Reporter for HtmlReporter {
    fn run_started(&mut self, run: &RunInfo) -> Result<(), ReportError> {
        self.across = run.across_kernels;
        Ok(())
    }

    fn case_finished(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.ran.push((kernel.label.clone(), case.clone()));
        Ok(())
    }

    fn case_skipped(&mut self, _: &KernelInfo, _: &CaseEnd) -> Result<(), ReportError> {
        Ok(())
    }

    /// An error is on the page too, with its text (a case whose pcap could
    /// not be written says what it showed).
    fn case_errored(&mut self, kernel: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.ran.push((kernel.label.clone(), case.clone()));
        Ok(())
    }

    fn run_ended(&mut self, _: &RunEnd) -> Result<(), ReportError> {
        let lanes: Vec<Vec<LaneState>> = self
            .ran
            .iter()
            .map(|(_, c)| c.run.as_deref().map(lane_states).unwrap_or_default())
            .collect();
        let entries: Vec<(Option<&str>, Entry)> = self
            .ran
            .iter()
            .zip(&lanes)
            .map(|((label, c), lanes)| {
                let entry = match (&c.run, &c.row) {
                    (Some(run), _) if c.record.conclusion != Status::Error => {
                        Entry::Here(run, lanes)
                    }
                    (_, Row::Case(row)) => Entry::Away(&c.record, row.rules.kernel.as_ref()),
                    (_, _) => Entry::Away(&c.record, None),
                };
                (self.across.then_some(label.as_str()), entry)
            })
            .collect();
        let page = render_entries(&entries, &self.title);
        files::write_named(&self.path, page.as_bytes())
            .map(drop)
            .map_err(|source| ReportError::Path {
                what: "HTML report",
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::Side;
    use crate::report::fixtures::{case_run, challenge_segments, state_change};
    use crate::wire::TcpState;

    const EVIL: &str = "<script>alert('x')</script> & \"quoted\"";

    #[test]
    fn page_shows_verdict_outcome_and_tcp_counters() {
        let run = case_run(challenge_segments(), "plain");
        let html = render(&[(&run, &[])], "synthetic");
        assert!(html.contains("<span class=\"badge pass\">PASS</span>"));
        assert!(
            html.contains("synthetic.toml:"),
            "check locations are shown"
        );
        assert!(html.contains("Tcp.PassiveOpens"));
        assert!(
            html.contains("<dd>sent &lt;RST&gt; &amp; stopped</dd>"),
            "raw peer notes"
        );
        assert!(html.contains("<h3>Why</h3>"));
        assert!(!html.contains("IpExt.InOctets"), "TCP counters only");
        assert!(html.contains("<style>\n:root { color-scheme: light; }"));
        // Self-contained: no script, no network.
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("url("));
    }

    #[test]
    fn user_text_is_escaped() {
        let run = case_run(challenge_segments(), EVIL);
        let html = render(&[(&run, &[]), (&run, &[])], EVIL);
        assert!(!html.contains("<script"), "a description must stay inert");
        assert!(!html.contains("alert('x')"));
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"
            )
        );
        assert!(html.contains("<title>&lt;script&gt;"));
        assert!(html.contains("tcp_timewait_state_process() &lt;in&gt; minisocks"));
        assert!(
            html.contains("href=\"#case-2\""),
            "an index for several cases"
        );
    }

    #[test]
    fn lane_states_name_the_hand_over_time_wait() {
        let mut run = case_run(challenge_segments(), "states");
        run.obs.states = vec![
            state_change(1, Some(Side::Server), TcpState::FinWait2, TcpState::Close),
            state_change(2, Some(Side::Client), TcpState::Close, TcpState::SynSent),
            state_change(3, None, TcpState::Close, TcpState::Listen),
        ];
        let lanes = lane_states(&run);
        let got: Vec<(bool, &str)> = lanes
            .iter()
            .map(|l| (l.client_side, l.state.as_str()))
            .collect();
        assert_eq!(
            got,
            [(false, "TIME_WAIT"), (true, "SYN_SENT")],
            "no lane for an unknown side"
        );
    }

    #[test]
    fn write_creates_the_directory_and_names_the_path_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let run = case_run(challenge_segments(), "w");
        let path = dir.path().join("sub/report.html");
        write(&path, std::slice::from_ref(&run), "w").unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("<!DOCTYPE html>")
        );
        let bad = path.join("below-a-file.html");
        let e = write(&bad, &[run], "w").unwrap_err();
        assert!(e.to_string().contains("below-a-file.html"), "{e}");
    }
}

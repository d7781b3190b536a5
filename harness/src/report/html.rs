//! The picture of finished cases: one self-contained HTML page (inline CSS and SVG,
//! no script, no network, no external font) with, per case, a ladder diagram of the
//! captured segments beside the verdict and the TCP counters that moved.
//!
//! The ladder has two lanes (client left, server right); each segment is an arrow
//! angled downwards in capture order (the vertical axis is the order of events, not
//! linear time: gaps range from µs to ms, so a long gap gets a marked break instead).
//! Labels use [`Bases`] exactly as the text timeline does, and the words come
//! from [`phrase`], so both reports agree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::evidence::FirstConnection;
use crate::observe::counters::Counters;
use crate::report::phrase::{self, display_path};
use crate::report::timeline::{self, Bases};
use crate::run::CaseRun;
use crate::scenario::Answer;
use crate::wire::{Dir, Segment};

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

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("write the HTML report {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Write the page of `runs` (each with its lane states) to `path`, creating
/// its parent directory if needed.
///
/// # Errors
/// `HtmlError::Write` with the path when the directory or the file cannot be written.
pub fn write(path: &Path, runs: &[CaseRun], title: &str) -> Result<(), HtmlError> {
    let lanes: Vec<Vec<LaneState>> = runs.iter().map(lane_states).collect();
    let with: Vec<(&CaseRun, &[LaneState])> = runs
        .iter()
        .zip(&lanes)
        .map(|(r, l)| (r, l.as_slice()))
        .collect();
    let err = |source| HtmlError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, render(&with, title)).map_err(err)
}

/// The whole page: a header with a summary and an index, then one section per case.
pub fn render(runs: &[(&CaseRun, &[LaneState])], title: &str) -> String {
    let mut out = String::with_capacity(16_384 * runs.len().max(1));
    let passed = runs.iter().filter(|(r, _)| r.verdict.pass).count();
    let mut kernels: Vec<&str> = runs.iter().map(|(r, _)| r.kernel.as_str()).collect();
    kernels.dedup();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"synlab {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title)
    );
    let _ = write!(
        out,
        "<header class=\"page\">\n<h1>{}</h1>\n<p class=\"meta\">{} case{}: \
         <span class=\"ok\">{passed} passed</span>, <span class=\"{}\">{} failed</span>\
         {}{} &middot; synlab {}</p>\n",
        esc(title),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        if passed == runs.len() { "ok" } else { "bad" },
        runs.len() - passed,
        if kernels.is_empty() {
            ""
        } else {
            " &middot; kernel "
        },
        esc(&kernels.join(", ")),
        env!("CARGO_PKG_VERSION"),
    );
    if runs.len() > 1 {
        out.push_str(
            "<nav><table class=\"index\">\n<tr><th></th><th></th><th>case</th><th>answer</th>\
             <th>client SYNs</th><th>TIME_WAIT after</th><th class=\"num\">time</th></tr>\n",
        );
        for (n, (run, _)) in runs.iter().enumerate() {
            let o = &run.outcome;
            let _ = writeln!(
                out,
                "<tr><td class=\"num dim\">{n}</td><td>{}</td><td><a class=\"mono\" href=\"#case-{n}\">{}</a></td>\
                 <td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
                 <td class=\"num dim\">{:.1} ms</td></tr>",
                badge(run.verdict.pass),
                esc(&run.case.trial_name()),
                o.answer.as_str(),
                o.client_syns,
                phrase::yes_no(o.time_wait_after),
                run.duration.as_secs_f64() * 1e3,
                n = n + 1,
            );
        }
        out.push_str("</table></nav>\n");
    }
    out.push_str("</header>\n");
    for (n, (run, states)) in runs.iter().enumerate() {
        // A scenario's description is shown open once; its other cases fold it.
        let first_of_scenario = runs[..n].iter().all(|(r, _)| r.case.file != run.case.file);
        case_section(&mut out, n + 1, run, states, first_of_scenario);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn badge(pass: bool) -> &'static str {
    if pass {
        "<span class=\"badge pass\">PASS</span>"
    } else {
        "<span class=\"badge fail\">FAIL</span>"
    }
}

/// Escape text for HTML and SVG, in element content and in quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn sysctls(v: &[(String, String)]) -> String {
    phrase::sysctls_dressed(
        v,
        |kv| format!("<code>{}</code>", esc(kv)),
        |d| format!("<span class=\"dim\">{d}</span>"),
    )
}

fn case_section(out: &mut String, n: usize, run: &CaseRun, states: &[LaneState], open: bool) {
    let case = &run.case;
    let _ = write!(
        out,
        "<section class=\"case {}\" id=\"case-{n}\">\n<h2>{} <span class=\"mono\">{}</span></h2>\n",
        if run.verdict.pass { "pass" } else { "fail" },
        badge(run.verdict.pass),
        esc(&case.trial_name()),
    );
    let values = esc(&phrase::key_values(&case.values).join(" "));
    let _ = write!(
        out,
        "<p class=\"facts\"><span class=\"mono\">{}</span> &middot; kernel <b class=\"mono\">{}</b> \
         &middot; {} client &middot; {} &middot; {:.1} ms{}</p>\n\
         <p class=\"facts\">server sysctl {} &middot; client sysctl {}</p>\n",
        esc(&display_path(&case.file)),
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
    out.push_str(&ladder(run, states));
    out.push_str(LEGEND);
    out.push_str("</figure>\n<aside>\n");
    sidebar(out, run);
    out.push_str("</aside>\n</div>\n</section>\n");
}

const LEGEND: &str = "<figcaption><span class=\"key syn\">SYN</span> <span class=\"key rst\">RST</span> \
<span class=\"key fin\">FIN</span> <span class=\"key ack\">ACK</span> \
<span class=\"key hit\">SYN that hit TIME_WAIT, and the answer</span> \
<span class=\"dim\">Vertical order is capture order, not a time scale; numbers are relative \
(seq to each side's first ISN, ts to each side's first tsval), absolute ones in the tooltips.</span></figcaption>\n";

/// The verdict, outcome, TIME_WAIT evidence and counters beside the ladder.
fn sidebar(out: &mut String, run: &CaseRun) {
    let obs = &run.obs;
    let o = &run.outcome;
    let v = &run.verdict;
    let _ = write!(
        out,
        "<h3>Verdict {}</h3>\n<table class=\"checks\">\n<tr><th></th><th>expect.</th><th>expected</th><th>seen</th></tr>\n",
        badge(v.pass)
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
    for name in &v.unavailable_counters {
        let code = format!("<code>{}</code>", esc(name));
        let _ = writeln!(
            out,
            "<p class=\"note\">{}</p>",
            phrase::sentence(&phrase::no_counter(&code))
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
        dd("raw peer", esc(note));
    }
    let f = &obs.first;
    dd(
        "TIME_WAIT before",
        format!("<span class=\"mono\">{}</span>", esc(&obs.time_wait_before)),
    );
    dd(
        "rcv_nxt",
        phrase::signed("client ISN", f.rcv_nxt - f.client_isn),
    );
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

    if let (Some(k), Some(f)) = (&o.kernel_rule, &o.folklore_rule) {
        let _ = write!(
            out,
            "<h3>Why</h3>\n<p class=\"why\">{}</p>\n<p class=\"why\">The kernel rule predicts <b class=\"mono\">{}</b>{}; \
             the popular rule predicts <b class=\"mono {}\">{}</b> ({}).</p>\n",
            esc(&k.why),
            k.answer.as_str(),
            if k.answer == o.answer {
                String::new()
            } else {
                format!(
                    " <span class=\"bad\">but the kernel answered {}: synlab's model of the rule is wrong here, please report</span>",
                    o.answer.as_str()
                )
            },
            if f.answer == o.answer { "ok" } else { "bad" },
            f.answer.as_str(),
            esc(&f.why),
        );
    }

    let expected: Vec<&str> = v
        .checks
        .iter()
        .filter_map(|c| c.field.strip_prefix("counters."))
        .collect();
    counter_table(out, "Server TCP counters", &obs.server_counters, &expected);
    counter_table(out, "Client TCP counters", &obs.client_counters, &[]);
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

// ---------------------------------------------------------------------------
// The ladder (SVG).

const WIDTH: f64 = 720.0;
const TIME_X: f64 = 78.0;
const CLIENT_X: f64 = 170.0;
const SERVER_X: f64 = 610.0;
const TOP: f64 = 64.0;
/// Arrow drop from sender to receiver: the angle shows the direction of time.
const DROP: f64 = 16.0;
const ROW: f64 = 44.0;
const ROW_NOTE: f64 = 60.0;
const GAP_ROW: f64 = 26.0;
const STATE_ROW: f64 = 24.0;
/// A gap this long (ms) between two segments gets a marked break.
const GAP_MS: f64 = 1.0;
const CHAR_W: f64 = 7.25;

const C_SYN: &str = "#1565c0";
const C_RST: &str = "#c62828";
const C_FIN: &str = "#8a8a8a";
const C_ACK: &str = "#37474f";
const C_HIT_BG: &str = "#fff3c4";
const C_HIT_EDGE: &str = "#e0b23a";
const C_NOTE: &str = "#6d4c00";

/// One row of the ladder, top to bottom.
#[derive(Debug, Clone, PartialEq)]
enum Row<'a> {
    Seg(usize),
    /// A break for a long gap (ms) between two segments.
    Gap(f64),
    /// State changes, at most one per lane.
    States(Vec<&'a LaneState>),
}

/// Interleave segments, gap breaks and state changes in time order. A state that
/// falls into a long gap goes to the side of the break nearer in time.
fn rows<'a>(segs: &[Segment], states: &'a [LaneState]) -> Vec<Row<'a>> {
    let mut pending: Vec<&LaneState> = states.iter().collect();
    pending.sort_by_key(|s| s.at_ns);
    let mut pending = pending.into_iter().peekable();
    let mut out = Vec::new();
    fn push_state<'a>(out: &mut Vec<Row<'a>>, s: &'a LaneState) {
        if let Some(Row::States(v)) = out.last_mut()
            && v.iter().all(|o| o.client_side != s.client_side)
        {
            v.push(s);
            return;
        }
        out.push(Row::States(vec![s]));
    }
    for (i, s) in segs.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| segs[p].at_ns);
        let gap_ms = prev.map_or(0.0, |p| s.at_ns.saturating_sub(p) as f64 / 1e6);
        if gap_ms >= GAP_MS {
            let prev = prev.unwrap_or(0);
            // States nearer the earlier segment stay before the break.
            while let Some(st) = pending.next_if(|st| {
                st.at_ns < s.at_ns && st.at_ns.saturating_sub(prev) < s.at_ns - st.at_ns
            }) {
                push_state(&mut out, st);
            }
            out.push(Row::Gap(gap_ms));
        }
        while let Some(st) = pending.next_if(|st| st.at_ns < s.at_ns) {
            push_state(&mut out, st);
        }
        out.push(Row::Seg(i));
    }
    for st in pending {
        push_state(&mut out, st);
    }
    out
}

fn row_height(row: &Row, notes: &[Option<Note>]) -> f64 {
    match row {
        Row::Seg(i) if notes[*i].is_some() => ROW_NOTE,
        Row::Seg(_) => ROW,
        Row::Gap(_) => GAP_ROW,
        Row::States(_) => STATE_ROW,
    }
}

/// Why a segment gets a line of explanation under its arrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The client's FIN of the first connection.
    Fin,
    /// The SYN that hit TIME_WAIT.
    Hit,
    /// The server's answer to it.
    Answer,
}

#[derive(Debug, Clone)]
struct Note {
    text: String,
    role: Role,
}

impl Note {
    fn highlight(&self) -> bool {
        self.role != Role::Fin
    }
}

fn notes(run: &CaseRun) -> Vec<Option<Note>> {
    let obs = &run.obs;
    let f = &obs.first;
    let mut notes: Vec<Option<Note>> = vec![None; obs.segments.len()];
    if f.fin_index < notes.len() {
        notes[f.fin_index] = Some(Note {
            text: phrase::CLIENT_FIN.into(),
            role: Role::Fin,
        });
    }
    if let Some(i) = obs.syn2_index.filter(|i| *i < notes.len()) {
        notes[i] = Some(Note {
            text: format!("\u{2460} {}", phrase::new_syn(&obs.segments[i], f)),
            role: Role::Hit,
        });
    }
    if let Some(i) = run.outcome.answer_index.filter(|i| *i < notes.len()) {
        let s = &obs.segments[i];
        let what = match run.outcome.answer {
            Answer::SynAck => "SYN-ACK, TIME_WAIT recycled".to_string(),
            Answer::Ack => format!(
                "the old connection's ACK (seq = {}, ack = {})",
                phrase::offset("snd_nxt", s.seq - f.snd_nxt),
                phrase::offset("rcv_nxt", s.ack - f.rcv_nxt)
            ),
            Answer::Rst => "RST".to_string(),
            Answer::None => "none".to_string(),
        };
        notes[i] = Some(Note {
            text: format!("\u{2461} {}: {what}", phrase::ANSWER),
            role: Role::Answer,
        });
    }
    notes
}

fn color(s: &Segment) -> (&'static str, &'static str) {
    if s.flags.rst {
        (C_RST, "rst")
    } else if s.flags.syn {
        (C_SYN, "syn")
    } else if s.flags.fin {
        (C_FIN, "fin")
    } else {
        (C_ACK, "ack")
    }
}

/// The label above an arrow: tcpdump flags, then the relative numbers of
/// `timeline::line` (same `Bases`, same words).
fn label_parts(b: &Bases, s: &Segment) -> (String, String) {
    (s.flags.tcpdump(), timeline::numbers(b, s))
}

fn tooltip(b: &Bases, s: &Segment) -> String {
    let mut t = format!(
        "{:.3} ms  {} -> {}  {}  seq {}",
        b.ms(s),
        s.src,
        s.dst,
        s.flags.tcpdump(),
        s.seq
    );
    if s.flags.ack {
        let _ = write!(t, " ack {}", s.ack);
    }
    let _ = write!(t, " win {}", s.win);
    if let (Some(v), e) = (s.tsval, s.tsecr) {
        let _ = write!(t, " tsval {v} tsecr {}", e.unwrap_or_default());
    }
    if s.payload_len > 0 {
        let _ = write!(t, " len {}", s.payload_len);
    }
    t.push_str(" (absolute)");
    t
}

/// `<text>` that never overflows `max` pixels: long text is squeezed to fit.
fn fit(text: &str, max: f64) -> String {
    let w = text.chars().count() as f64 * CHAR_W * 0.92;
    if w > max {
        format!(" textLength=\"{max:.0}\" lengthAdjust=\"spacingAndGlyphs\"")
    } else {
        String::new()
    }
}

fn endpoints(segs: &[Segment]) -> (String, String) {
    segs.first().map_or((String::new(), String::new()), |s| {
        let (c, srv) = match s.dir {
            Dir::ToServer => (s.src, s.dst),
            Dir::ToClient => (s.dst, s.src),
        };
        (c.to_string(), srv.to_string())
    })
}

/// The server's ACK of the client's FIN: from there its side is in TIME_WAIT.
fn time_wait_start(segs: &[Segment], f: &FirstConnection) -> Option<usize> {
    segs.iter()
        .enumerate()
        .skip(f.fin_index + 1)
        .find(|(_, s)| s.dir == Dir::ToClient && s.flags.ack && s.ack == f.rcv_nxt)
        .map(|(i, _)| i)
}

fn ladder(run: &CaseRun, states: &[LaneState]) -> String {
    let segs = &run.obs.segments;
    let b = Bases::from_segments(segs);
    let notes = notes(run);
    let rows = rows(segs, states);
    let mut tops = Vec::with_capacity(rows.len());
    let mut y = TOP;
    for r in &rows {
        tops.push(y);
        y += row_height(r, &notes);
    }
    let bottom = y + 8.0;
    let height = bottom + 14.0;
    // y where segment i leaves its sender.
    let mut seg_y = vec![0.0; segs.len()];
    for (r, top) in rows.iter().zip(&tops) {
        if let Row::Seg(i) = r {
            seg_y[*i] = top + 22.0;
        }
    }

    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg class=\"ladder\" viewBox=\"0 0 {WIDTH:.0} {height:.0}\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"ladder diagram of {}\" font-family=\"{MONO}\" font-size=\"12\">",
        esc(&run.case.trial_name())
    );
    let _ = writeln!(
        o,
        "<title>{}: {} segments</title>",
        esc(&run.case.trial_name()),
        segs.len()
    );

    // Highlight bands behind the rows that matter.
    for (r, top) in rows.iter().zip(&tops) {
        if let Row::Seg(i) = r
            && notes[*i].as_ref().is_some_and(Note::highlight)
        {
            let _ = writeln!(
                o,
                "<rect class=\"band\" x=\"{:.0}\" y=\"{:.1}\" width=\"{:.0}\" height=\"{:.1}\" rx=\"5\" \
                 fill=\"{C_HIT_BG}\" stroke=\"{C_HIT_EDGE}\" stroke-width=\"1\"/>",
                CLIENT_X - 50.0,
                top + 1.0,
                SERVER_X - CLIENT_X + 100.0,
                ROW_NOTE - 2.0
            );
        }
    }

    // Lanes: solid, dashed across the breaks.
    for x in [CLIENT_X, SERVER_X] {
        let mut from = 50.0;
        for (r, top) in rows.iter().zip(&tops) {
            if let Row::Gap(_) = r {
                let _ = writeln!(
                    o,
                    "<line x1=\"{x}\" y1=\"{from:.1}\" x2=\"{x}\" y2=\"{top:.1}\" stroke=\"#444\" stroke-width=\"2\"/>\
                     <line x1=\"{x}\" y1=\"{top:.1}\" x2=\"{x}\" y2=\"{:.1}\" stroke=\"#999\" stroke-width=\"2\" stroke-dasharray=\"3 4\"/>",
                    top + GAP_ROW
                );
                from = top + GAP_ROW;
            }
        }
        let _ = writeln!(
            o,
            "<line x1=\"{x}\" y1=\"{from:.1}\" x2=\"{x}\" y2=\"{bottom:.1}\" stroke=\"#444\" stroke-width=\"2\"/>"
        );
    }

    // TIME_WAIT on the server lane, as far as the evidence shows it: from the ACK
    // of the client's FIN to the new SYN, or to the end when sock_diag still saw
    // it afterwards. Real state changes, when given, replace this.
    if states.is_empty()
        && let Some(start) = time_wait_start(segs, &run.obs.first)
    {
        let y0 = seg_y[start];
        let (y1, after) = match run.obs.syn2_index {
            Some(i) if !run.obs.time_wait_after => (seg_y[i] + DROP, ""),
            _ => (bottom, "; still there at the end"),
        };
        let _ = writeln!(
            o,
            "<g class=\"tw\"><title>TIME_WAIT: the server ACKed the client's FIN; sock_diag saw {}{after}</title>\
             <rect x=\"{:.0}\" y=\"{y0:.1}\" width=\"8\" height=\"{:.1}\" rx=\"2\" fill=\"#f2c66d\" stroke=\"#b8860b\" stroke-width=\"0.8\"/>\
             <text x=\"{:.0}\" y=\"{:.1}\" font-size=\"10.5\" fill=\"{C_NOTE}\">TIME_WAIT</text></g>",
            esc(&run.obs.time_wait_before),
            SERVER_X - 4.0,
            (y1 - y0).max(4.0),
            SERVER_X + 9.0,
            (y0 + y1) / 2.0 + 4.0,
        );
    }

    // Lane heads.
    let (caddr, saddr) = endpoints(segs);
    for (x, who, addr) in [(CLIENT_X, "client", caddr), (SERVER_X, "server", saddr)] {
        let _ = writeln!(
            o,
            "<g class=\"lane-head\"><rect x=\"{:.0}\" y=\"6\" width=\"170\" height=\"44\" rx=\"6\" fill=\"#f4f6f8\" stroke=\"#444\" stroke-width=\"1.2\"/>\
             <text x=\"{x}\" y=\"24\" text-anchor=\"middle\" font-family=\"{SANS}\" font-size=\"13\" font-weight=\"600\" fill=\"#111\">{who}</text>\
             <text x=\"{x}\" y=\"41\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\"{}>{}</text></g>",
            x - 85.0,
            fit(&addr, 160.0),
            esc(&addr)
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{TIME_X}\" y=\"44\" text-anchor=\"end\" font-size=\"10.5\" fill=\"#777\">time</text>"
    );

    for (r, top) in rows.iter().zip(&tops) {
        match r {
            Row::Seg(i) => arrow(&mut o, &b, *i, &segs[*i], seg_y[*i], notes[*i].as_ref()),
            Row::Gap(ms) => {
                let _ = writeln!(
                    o,
                    "<g class=\"gap\"><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" \
                     font-style=\"italic\" fill=\"#777\">\u{22ef} {ms:.3} ms later \u{22ef}</text></g>",
                    (CLIENT_X + SERVER_X) / 2.0,
                    top + GAP_ROW / 2.0 + 4.0
                );
            }
            Row::States(v) => {
                for st in v {
                    let x = if st.client_side { CLIENT_X } else { SERVER_X };
                    let w = st.state.chars().count() as f64 * 6.4 + 14.0;
                    let _ = writeln!(
                        o,
                        "<g class=\"state\"><title>{} {} at {:.3} ms</title>\
                         <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"17\" rx=\"8.5\" fill=\"#fff\" stroke=\"#5c6bc0\" stroke-width=\"1.2\"/>\
                         <text x=\"{x}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10.5\" fill=\"#283593\">{}</text></g>",
                        if st.client_side { "client" } else { "server" },
                        esc(&st.state),
                        b.ms_since(st.at_ns),
                        x - w / 2.0,
                        top + 3.5,
                        top + 15.5,
                        esc(&st.state)
                    );
                }
            }
        }
    }
    if segs.is_empty() {
        let _ = writeln!(
            o,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#c62828\">no TCP segment captured</text>",
            (CLIENT_X + SERVER_X) / 2.0,
            TOP + 20.0
        );
    }
    o.push_str("</svg>\n");
    o
}

fn arrow(o: &mut String, b: &Bases, i: usize, s: &Segment, y: f64, note: Option<&Note>) {
    let (col, kind) = color(s);
    let (x1, x2) = match s.dir {
        Dir::ToServer => (CLIENT_X, SERVER_X),
        Dir::ToClient => (SERVER_X, CLIENT_X),
    };
    let (y1, y2) = (y, y + DROP);
    let hit = note.is_some_and(Note::highlight);
    let width = if hit { 2.6 } else { 1.6 };
    // Unit direction and normal for the head.
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len = (dx * dx + dy * dy).sqrt();
    let (ux, uy) = (dx / len, dy / len);
    let (nx, ny) = (-uy, ux);
    let head = if hit { 12.0 } else { 10.0 };
    let half = if hit { 5.0 } else { 4.2 };
    let (bx, by) = (x2 - ux * head, y2 - uy * head);
    let class = match note.map(|n| n.role) {
        Some(Role::Hit) => format!("seg {kind} hit"),
        Some(Role::Answer) => format!("seg {kind} answer"),
        _ => format!("seg {kind}"),
    };
    let (flags, rest) = label_parts(b, s);
    let mid = (CLIENT_X + SERVER_X) / 2.0;
    let _ = write!(
        o,
        "<g class=\"{class}\" data-i=\"{i}\"><title>{}</title>\
         <line x1=\"{x1}\" y1=\"{y1:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{col}\" stroke-width=\"{width}\"/>\
         <polygon points=\"{x2:.1},{y2:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{col}\"/>\
         <text class=\"label\" x=\"{mid}\" y=\"{:.1}\" text-anchor=\"middle\"{}>\
         <tspan font-weight=\"700\" fill=\"{col}\">{}</tspan><tspan fill=\"#1a1a1a\"> {}</tspan></text>\
         <text class=\"t\" x=\"{TIME_X}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">{:.3} ms</text>",
        esc(&tooltip(b, s)),
        bx + ux,
        by + uy,
        bx + nx * half,
        by + ny * half,
        bx - nx * half,
        by - ny * half,
        y1 - 6.0,
        fit(&format!("{flags} {rest}"), SERVER_X - CLIENT_X - 20.0),
        esc(&flags),
        esc(&rest),
        y1 + 4.0,
        b.ms(s),
    );
    if let Some(n) = note {
        let _ = write!(
            o,
            "<text class=\"note\" x=\"{mid}\" y=\"{:.1}\" text-anchor=\"middle\" font-family=\"{SANS}\" \
             font-size=\"11.5\" font-style=\"italic\" fill=\"{}\"{}>{}</text>",
            y2 + 17.0,
            if n.highlight() { C_NOTE } else { "#666" },
            fit(&n.text, SERVER_X - CLIENT_X + 80.0),
            esc(&n.text)
        );
    }
    o.push_str("</g>\n");
}

const MONO: &str = "ui-monospace, &#39;DejaVu Sans Mono&#39;, Menlo, Consolas, &#39;Liberation Mono&#39;, monospace";
const SANS: &str = "system-ui, -apple-system, &#39;Segoe UI&#39;, &#39;DejaVu Sans&#39;, Roboto, Helvetica, Arial, sans-serif";

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; padding: 20px 24px 40px; max-width: 1240px; background: #fff; color: #1d1f21;
  font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Roboto, Helvetica, Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
code, .mono, svg { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace; }
code, .mono { font-size: 12.5px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 6px; display: flex; align-items: center; gap: 10px; }
h3 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #555; margin: 16px 0 6px;
  display: flex; align-items: center; gap: 8px; }
aside h3:first-child { margin-top: 0; }
header.page { border-bottom: 2px solid #1d1f21; padding-bottom: 10px; margin-bottom: 18px; }
.meta { margin: 0; color: #444; }
nav { margin-top: 10px; }
table.index { width: auto; }
table.index td { padding: 2px 10px 2px 0; vertical-align: middle; }
table.index th { padding: 2px 10px 2px 0; }
table.index .badge { font-size: 10.5px; padding: 3px 6px; }
nav a { color: inherit; text-decoration: none; }
nav a:hover { text-decoration: underline; }
td.num, th.num { text-align: right; }
.dim { color: #777; }
.ok { color: #1b6e20; }
.bad { color: #b71c1c; }
.note { color: #6d4c00; background: #fff8e1; padding: 4px 8px; border-radius: 4px; }
.badge { display: inline-block; font: 700 12px/1 system-ui, sans-serif; letter-spacing: .05em; padding: 4px 8px;
  border-radius: 4px; color: #fff; vertical-align: middle; }
.badge.pass { background: #2e7d32; }
.badge.fail { background: #c62828; }
section.case { border: 1px solid #d0d4d9; border-left: 6px solid #2e7d32; border-radius: 8px;
  padding: 14px 18px 16px; margin: 0 0 22px; break-inside: avoid; page-break-inside: avoid; }
section.case.fail { border-left-color: #c62828; }
.facts { margin: 2px 0; color: #333; }
.desc { margin: 8px 0 0; max-width: 1000px; color: #222; }
.desc summary { color: #555; font-size: 12.5px; cursor: pointer; margin-bottom: 2px; }
.desc p { margin: 0 0 6px; }
.ref { margin: 2px 0 0; color: #555; }
.why { margin: 0 0 6px; }
.body { display: grid; grid-template-columns: 720px minmax(0, 1fr); gap: 22px; margin-top: 12px; align-items: start; }
figure { margin: 0; }
svg.ladder { display: block; width: 100%; max-width: 720px; height: auto; }
figcaption { font-size: 12px; color: #555; margin-top: 6px; line-height: 1.7; }
.key { display: inline-block; padding: 0 6px; border-radius: 3px; font: 700 11.5px/1.6 ui-monospace, 'DejaVu Sans Mono', monospace; }
.key.syn { color: #1565c0; border: 1.5px solid #1565c0; }
.key.rst { color: #c62828; border: 1.5px solid #c62828; }
.key.fin { color: #757575; border: 1.5px solid #8a8a8a; }
.key.ack { color: #37474f; border: 1.5px solid #37474f; }
.key.hit { color: #6d4c00; background: #fff3c4; border: 1px solid #e0b23a; font-weight: 400; font-family: inherit; }
aside { font-size: 13px; min-width: 0; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; color: #555; font-size: 12px; border-bottom: 1px solid #ccc; padding: 2px 6px; }
td { padding: 2px 6px; vertical-align: top; overflow-wrap: anywhere; }
table.checks tr.ok td.mark { color: #2e7d32; font-weight: 700; }
table.checks tr.bad td { background: #fdecea; }
table.checks tr.bad td.mark, table.checks tr.bad td.seen { color: #b71c1c; font-weight: 700; }
table.checks tr.loc td { font-size: 11px; color: #777; padding-top: 0; padding-bottom: 5px; border-bottom: 1px solid #eee; }
table.checks td.val { white-space: nowrap; }
table.counters td.num { text-align: right; width: 4em; }
table.counters tr:nth-child(odd) td { background: #f6f7f8; }
table.counters tr.expected td { font-weight: 700; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 1px 12px; margin: 0; }
dt { color: #555; }
dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 1120px) { .body { grid-template-columns: minmax(0, 1fr); } }
@media print {
  body { max-width: none; padding: 0; font-size: 12px; }
  .body { grid-template-columns: minmax(0, 1fr); }
  section.case { break-inside: avoid; page-break-inside: avoid; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Observation;
    use crate::judge;
    use crate::observe::counters::Counters;
    use crate::scenario;
    use std::time::Duration;

    const EVIL: &str = "<script>alert('x')</script> & \"quoted\"";

    fn seg(
        dir: Dir,
        flags: &str,
        seq: u32,
        ack: u32,
        at_us: u64,
        ts: Option<(u32, u32)>,
    ) -> Segment {
        let at_ns = 1_700_000_000_000_000_000 + at_us * 1_000;
        crate::wire::test_segment(dir, flags, seq, ack, at_ns, ts)
    }

    /// seq-below with timestamps off: challenge ACK, RST, retried SYN. Client ISN
    /// near the 2^32 wrap; the new SYN is 1000 below rcv_nxt.
    fn challenge_segments() -> Vec<Segment> {
        use Dir::*;
        let (c, s) = (u32::MAX - 1, 5000);
        let below = 0u32.wrapping_sub(1000);
        vec![
            seg(ToServer, "S", c, 0, 0, None),
            seg(ToClient, "S.", s, c.wrapping_add(1), 7, None),
            seg(ToServer, ".", c.wrapping_add(1), s + 1, 14, None),
            seg(ToClient, "F.", s + 1, c.wrapping_add(1), 46, None),
            seg(ToServer, "F.", c.wrapping_add(1), s + 2, 71, None),
            seg(ToClient, ".", s + 2, c.wrapping_add(2), 76, None),
            seg(ToServer, "S", below, 0, 3843, None),
            seg(ToClient, ".", s + 2, 0, 3855, None),
            seg(ToServer, "R", s + 2, 0, 3860, None),
            seg(ToServer, "S", below, 0, 16641, None),
            seg(ToClient, "S.", 70_000, below.wrapping_add(1), 16664, None),
            seg(ToServer, ".", below.wrapping_add(1), 70_001, 16707, None),
        ]
    }

    fn case_run(segments: Vec<Segment>, description: &str) -> CaseRun {
        let src = format!(
            "description = '''{description}'''\nkernel_ref = \"tcp_timewait_state_process() <in> minisocks\"\n\
             [connection]\nport = 8888\nclient_port = 12345\n\
             [expect]\nanswer = \"ack\"\nclient_syns = 2\ncounters = {{ \"TcpExt.PAWSTimewait\" = 0 }}\n"
        );
        let scenario = scenario::parse_str(Path::new("/scenarios/timewait/synthetic.toml"), &src)
            .expect("parse");
        let case = scenario.cases[0].clone();
        let mut server_counters = Counters::new();
        server_counters.insert("Tcp.PassiveOpens".into(), 1);
        server_counters.insert("IpExt.InOctets".into(), 400);
        let obs = Observation {
            peer_notes: vec!["sent <RST> & stopped".into()],
            server_ts_on: false,
            time_wait_before: "TIME-WAIT 198.18.0.1:8888 198.18.0.2:12345".into(),
            server_counters,
            ..Observation::for_tests(segments)
        };
        let outcome = judge::analyze(&obs);
        let verdict = judge::judge(&case.expect, &outcome, &obs.known_counters);
        CaseRun {
            case,
            kernel: "6.18.0-test".into(),
            obs,
            outcome,
            verdict,
            duration: Duration::from_millis(77),
            kept: None,
        }
    }

    /// The `<g class="seg ...">` element of segment i.
    fn seg_group(html: &str, i: usize) -> &str {
        let start = html
            .find(&format!("data-i=\"{i}\">"))
            .unwrap_or_else(|| panic!("no arrow for segment {i}"));
        let end = start + html[start..].find("</g>").expect("closed group");
        &html[start..end]
    }

    #[test]
    fn one_arrow_per_segment_with_relative_labels() {
        let run = case_run(challenge_segments(), "plain");
        let html = render(&[(&run, &[])], "synthetic");
        assert_eq!(html.matches("<g class=\"seg ").count(), 12);
        assert!(run.verdict.pass, "{:?}", run.verdict);
        let b = Bases::from_segments(&run.obs.segments);
        for (i, s) in run.obs.segments.iter().enumerate() {
            let (flags, rest) = label_parts(&b, s);
            let g = seg_group(&html, i);
            assert!(g.contains(&format!(">{}</tspan>", esc(&flags))), "{g}");
            assert!(g.contains(&format!("> {rest}</tspan>")), "{g}");
        }
        // The new SYN: 1000 below rcv_nxt = client ISN + 2, so seq -998 (relative),
        // never the absolute 4294966296 in its label.
        let syn2 = seg_group(&html, 6);
        assert!(syn2.contains("> seq -998 win 64240</tspan>"), "{syn2}");
        assert!(syn2.starts_with("data-i=\"6\"><title>"));
        let label = &syn2[syn2.find("class=\"label\"").unwrap()..];
        assert!(!label.contains("4294966296"), "{label}");
        assert!(syn2.contains("seq = rcv_nxt-1000"));
        // The retried SYN-ACK: server seq relative to the server's first ISN.
        assert!(seg_group(&html, 10).contains("> seq 65000 ack -997 win 64240</tspan>"));
        // Time in ms at each arrow.
        assert!(seg_group(&html, 9).contains(">16.641 ms</text>"));
    }

    #[test]
    fn hit_answer_colours_gaps_and_verdict() {
        let run = case_run(challenge_segments(), "plain");
        let html = render(&[(&run, &[])], "synthetic");
        assert_eq!(html.matches("class=\"seg syn hit\"").count(), 1);
        assert_eq!(html.matches("class=\"seg ack answer\"").count(), 1);
        assert!(html.contains("class=\"seg syn hit\" data-i=\"6\""));
        assert!(html.contains("class=\"seg ack answer\" data-i=\"7\""));
        assert!(
            seg_group(&html, 7).contains("old connection&#39;s ACK (seq = snd_nxt, ack = rcv_nxt)")
        );
        assert!(seg_group(&html, 8).contains(&format!("stroke=\"{C_RST}\"")));
        assert!(seg_group(&html, 0).contains(&format!("stroke=\"{C_SYN}\"")));
        assert!(seg_group(&html, 3).contains(&format!("stroke=\"{C_FIN}\"")));
        // Two long gaps (3.8 ms, 12.8 ms) get a break.
        assert_eq!(html.matches("<g class=\"gap\">").count(), 2);
        assert!(html.contains("12.781 ms later"));
        assert_eq!(html.matches("<g class=\"tw\">").count(), 1);
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
    fn timestamps_are_relative_like_the_text_report() {
        use Dir::*;
        let (c, s) = (1000, 900_000);
        let segs = vec![
            seg(ToServer, "S", c, 0, 0, Some((3_000_000_000, 0))),
            seg(ToClient, "S.", s, c + 1, 10, Some((7, 3_000_000_000))),
            seg(ToServer, ".", c + 1, s + 1, 20, Some((3_000_000_000, 7))),
            seg(ToClient, "F.", s + 1, c + 1, 30, Some((8, 3_000_000_000))),
            seg(ToServer, "F.", c + 1, s + 2, 40, Some((3_000_000_001, 8))),
            seg(ToClient, ".", s + 2, c + 2, 50, Some((8, 3_000_000_001))),
            seg(ToServer, "S", c + 90_000, 0, 4000, Some((3_000_000_004, 0))),
            seg(
                ToClient,
                "S.",
                5,
                c + 90_001,
                4010,
                Some((11, 3_000_000_004)),
            ),
        ];
        let run = case_run(segs, "ts");
        let html = render(&[(&run, &[])], "ts");
        assert!(
            html.contains("<span class=\"badge fail\">FAIL</span>"),
            "expected ack, saw syn-ack"
        );
        assert!(html.contains("<tr class=\"bad\">"));
        assert!(
            seg_group(&html, 7).contains("> seq -899995 ack 90001 win 64240 ts 4 ecr 4</tspan>")
        );
        assert!(seg_group(&html, 6).contains("tsval = ts_recent+3"));
        // The text timeline prints the same numbers.
        let text = timeline::plain(&run.obs.segments);
        assert!(
            text.contains("seq -899995 ack 90001 win 64240 ts 4 ecr 4"),
            "{text}"
        );
    }

    #[test]
    fn lane_states_sit_between_the_segments_around_them() {
        let segs = challenge_segments();
        let t0 = segs[0].at_ns;
        let states = vec![
            // Right after the server's ACK of the client FIN (76 µs): before the break.
            LaneState {
                at_ns: t0 + 80_000,
                client_side: false,
                state: "TIME_WAIT".into(),
            },
            // Between the RST (3860 µs) and the retried SYN (16641 µs), nearer the SYN.
            LaneState {
                at_ns: t0 + 16_600_000,
                client_side: true,
                state: "SYN_SENT".into(),
            },
            LaneState {
                at_ns: t0 + 16_600_000,
                client_side: false,
                state: "<LISTEN>".into(),
            },
            LaneState {
                at_ns: t0 + 99_000_000,
                client_side: true,
                state: "ESTABLISHED".into(),
            },
        ];
        let r = rows(&segs, &states);
        let pos = |want: &str| {
            r.iter()
                .position(|row| matches!(row, Row::States(v) if v.iter().any(|s| s.state == want)))
                .unwrap()
        };
        let seg_pos = |i: usize| r.iter().position(|row| *row == Row::Seg(i)).unwrap();
        assert!(seg_pos(5) < pos("TIME_WAIT") && pos("TIME_WAIT") < seg_pos(6));
        assert!(matches!(r[pos("TIME_WAIT") + 1], Row::Gap(_)), "{r:?}");
        assert_eq!(pos("SYN_SENT"), pos("<LISTEN>"), "one row, two lanes");
        assert!(matches!(r[pos("SYN_SENT") - 1], Row::Gap(_)), "{r:?}");
        assert_eq!(pos("SYN_SENT") + 1, seg_pos(9));
        assert_eq!(pos("ESTABLISHED"), r.len() - 1);

        let run = case_run(segs, "states");
        let html = render(&[(&run, &states)], "states");
        assert_eq!(html.matches("<g class=\"state\">").count(), 4);
        assert!(html.contains(">&lt;LISTEN&gt;</text>"));
        assert_eq!(
            html.matches("<g class=\"tw\">").count(),
            0,
            "real states replace the inferred TIME_WAIT"
        );
        // Drawn between the arrows around it.
        let y_of = |needle: &str, attr: &str| -> f64 {
            let at = html.find(needle).unwrap();
            let s = &html[at..];
            let a = s.find(attr).unwrap() + attr.len();
            s[a..a + s[a..].find('"').unwrap()].parse().unwrap()
        };
        let state_y = {
            let at = html.find("client SYN_SENT").unwrap();
            let s = &html[at..];
            let a = s.find(" y=\"").unwrap() + 4;
            s[a..a + s[a..].find('"').unwrap()].parse::<f64>().unwrap()
        };
        let rst_y = y_of("data-i=\"8\"", "y1=\"");
        let syn_y = y_of("data-i=\"9\"", "y1=\"");
        assert!(
            rst_y < state_y && state_y < syn_y,
            "{rst_y} < {state_y} < {syn_y}"
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

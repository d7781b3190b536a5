//! The ladder diagram of one case in the HTML report, as inline SVG: a lane per
//! side, an arrow per captured segment angled down in capture order, a marked
//! break for a long gap, the lane states, the notes on the client's FIN, the SYN
//! that hit TIME_WAIT and the answer; geometry and colours are the constants below.

use std::fmt::Write as _;

use super::LaneState;
use crate::evidence::FirstConnection;
use crate::report::markup::escape as esc;
use crate::report::phrase;
use crate::report::timeline::{self, Bases};
use crate::run::CaseRun;
use crate::wire::Answer;
use crate::wire::{Dir, Segment};

// Geometry, in SVG pixels. Across: the time column's right edge, then the lanes.
const WIDTH: f64 = 720.0;
const TIME_X: f64 = 78.0;
const CLIENT_X: f64 = 170.0;
const SERVER_X: f64 = 610.0;
/// Where the first row starts, below the lane heads.
const TOP: f64 = 64.0;
/// Arrow drop from sender to receiver: the angle shows the direction of time.
const DROP: f64 = 16.0;
/// A gap this long (ms) between two segments gets a marked break.
const GAP_MS: f64 = 1.0;
/// The width of a monospace character at 12 px, to squeeze a long label.
const CHAR_W: f64 = 7.25;

/// The height of each kind of [`Row`] (SVG pixels).
struct RowHeights {
    /// A segment: its label, then its arrow.
    seg: f64,
    /// A segment with a note under its arrow (a highlight band fills it).
    seg_note: f64,
    /// A marked break for a long gap.
    gap: f64,
    /// Lane states.
    states: f64,
}

const ROW: RowHeights = RowHeights {
    seg: 44.0,
    seg_note: 60.0,
    gap: 26.0,
    states: 24.0,
};

const C_SYN: &str = "#1565c0";
const C_RST: &str = "#c62828";
const C_FIN: &str = "#8a8a8a";
const C_ACK: &str = "#37474f";
const C_HIT_BG: &str = "#fff3c4";
const C_HIT_EDGE: &str = "#e0b23a";
const C_NOTE: &str = "#6d4c00";

const MONO: &str = "ui-monospace, &#39;DejaVu Sans Mono&#39;, Menlo, Consolas, &#39;Liberation Mono&#39;, monospace";
const SANS: &str = "system-ui, -apple-system, &#39;Segoe UI&#39;, &#39;DejaVu Sans&#39;, Roboto, Helvetica, Arial, sans-serif";

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
        Row::Seg(i) if notes[*i].is_some() => ROW.seg_note,
        Row::Seg(_) => ROW.seg,
        Row::Gap(_) => ROW.gap,
        Row::States(_) => ROW.states,
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
    if let Some(i) = obs.event_index.filter(|i| *i < notes.len()) {
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

/// The `<svg>` ladder of one case, with its lane states.
pub(super) fn ladder(run: &CaseRun, states: &[LaneState]) -> String {
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
                ROW.seg_note - 2.0
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
                    top + ROW.gap
                );
                from = top + ROW.gap;
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
        let (y1, after) = match run.obs.event_index {
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
                    top + ROW.gap / 2.0 + 4.0
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

/// The key under the ladder.
pub(super) const LEGEND: &str = "<figcaption><span class=\"key syn\">SYN</span> <span class=\"key rst\">RST</span> \
<span class=\"key fin\">FIN</span> <span class=\"key ack\">ACK</span> \
<span class=\"key hit\">SYN that hit TIME_WAIT, and the answer</span> \
<span class=\"dim\">Vertical order is capture order, not a time scale; numbers are relative \
(seq to each side's first ISN, ts to each side's first tsval), absolute ones in the tooltips.</span></figcaption>\n";

#[cfg(test)]
mod tests;

//! Tests of the ladder: arrows and labels, colours, gaps, lane states.

use super::*;
use crate::report::fixtures::{case_run, challenge_segments, timestamp_segments};
use crate::report::html::render;

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
fn hit_answer_colours_and_gaps() {
    let run = case_run(challenge_segments(), "plain");
    let html = render(&[(&run, &[])], "synthetic");
    assert_eq!(html.matches("class=\"seg syn hit\"").count(), 1);
    assert_eq!(html.matches("class=\"seg ack answer\"").count(), 1);
    assert!(html.contains("class=\"seg syn hit\" data-i=\"6\""));
    assert!(html.contains("class=\"seg ack answer\" data-i=\"7\""));
    assert!(
        seg_group(&html, 7).contains("old connection&#39;s ACK (seq = snd_nxt, ack = rcv_nxt)")
    );
    assert!(
        seg_group(&html, 4).contains(">client FIN: the server&#39;s side goes to TIME_WAIT</text>")
    );
    assert!(seg_group(&html, 8).contains(&format!("stroke=\"{C_RST}\"")));
    assert!(seg_group(&html, 0).contains(&format!("stroke=\"{C_SYN}\"")));
    assert!(seg_group(&html, 3).contains(&format!("stroke=\"{C_FIN}\"")));
    // Two long gaps (3.8 ms, 12.8 ms) get a break.
    assert_eq!(html.matches("<g class=\"gap\">").count(), 2);
    assert!(html.contains("12.781 ms later"));
    assert_eq!(html.matches("<g class=\"tw\">").count(), 1);
}

#[test]
fn timestamps_are_relative_like_the_text_report() {
    let run = case_run(timestamp_segments(), "ts");
    let html = render(&[(&run, &[])], "ts");
    assert!(
        html.contains("<span class=\"badge fail\">FAIL</span>"),
        "expected ack, saw syn-ack"
    );
    assert!(html.contains("<tr class=\"bad\">"));
    assert!(seg_group(&html, 7).contains("> seq -899995 ack 90001 win 64240 ts 4 ecr 4</tspan>"));
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

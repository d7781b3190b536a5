//! tcpdump-like lines with relative numbers: client seqs relative to the client's
//! first ISN, server seqs to the server's first ISN, acks to the other side's ISN,
//! timestamps to the first tsval each side sent. Absolute numbers go to JSON.

use std::fmt::Write as _;

use crate::evidence::{ConntrackReading, FirstConnection};
use crate::observe::trace::{self, Reset, ResetDirection, StateChange};
use crate::report::phrase::{self, state_name};
use crate::wire::{Dir, Segment, Seq, TsVal};

/// The bases that relative numbers are counted from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bases {
    pub client_isn: Seq,
    pub server_isn: Seq,
    pub client_ts: Option<TsVal>,
    pub server_ts: Option<TsVal>,
    pub t0_ns: u64,
}

impl Bases {
    /// Bases from the first SYN and SYN-ACK seen (or zeros when there are none).
    pub fn from_segments(segs: &[Segment]) -> Bases {
        let c = segs.iter().find(|s| s.dir == Dir::ToServer && s.flags.syn);
        let s = segs.iter().find(|s| s.dir == Dir::ToClient && s.flags.syn);
        Bases {
            client_isn: c.map_or(Seq(0), |s| s.seq),
            server_isn: s.map_or(Seq(0), |s| s.seq),
            client_ts: c.and_then(|s| s.tsval),
            server_ts: s.and_then(|s| s.tsval),
            t0_ns: segs.first().map_or(0, |s| s.at_ns),
        }
    }

    pub fn seq(&self, s: &Segment) -> i64 {
        match s.dir {
            Dir::ToServer => s.seq - self.client_isn,
            Dir::ToClient => s.seq - self.server_isn,
        }
    }

    pub fn ack(&self, s: &Segment) -> i64 {
        match s.dir {
            Dir::ToServer => s.ack - self.server_isn,
            Dir::ToClient => s.ack - self.client_isn,
        }
    }

    /// tsval relative to the sender's first tsval, tsecr to the peer's.
    pub fn ts(&self, s: &Segment) -> Option<(i64, i64)> {
        let (own, peer) = match s.dir {
            Dir::ToServer => (self.client_ts, self.server_ts),
            Dir::ToClient => (self.server_ts, self.client_ts),
        };
        let v = s.tsval?;
        let e = s.tsecr.unwrap_or_default();
        let rv = own.map_or(i64::from(v.0), |b| v - b);
        let re = match (e, peer) {
            (TsVal(0), _) => 0,
            (e, Some(b)) => e - b,
            (e, None) => i64::from(e.0),
        };
        Some((rv, re))
    }

    /// A segment's time in ms since the first segment.
    pub fn ms(&self, s: &Segment) -> f64 {
        self.ms_since(s.at_ns)
    }

    /// Ms from the first segment to `at_ns` (same clock), 0 for earlier times.
    pub fn ms_since(&self, at_ns: u64) -> f64 {
        at_ns.saturating_sub(self.t0_ns) as f64 / 1e6
    }

    /// Ms from the first segment to `at_ns`, negative for earlier times (a
    /// listener's state change comes before any segment).
    pub fn ms_signed(&self, at_ns: u64) -> f64 {
        (at_ns as i128 - self.t0_ns as i128) as f64 / 1e6
    }
}

/// A segment's numbers, relative: `seq 1 ack 2 win 64240 ts 1 ecr 1 len 5`
/// (ack only with the ACK flag, ts only with the option, len only with data).
pub fn numbers(b: &Bases, s: &Segment) -> String {
    let mut out = format!("seq {}", b.seq(s));
    if s.flags.ack {
        let _ = write!(out, " ack {}", b.ack(s));
    }
    let _ = write!(out, " win {}", s.win);
    if let Some((v, e)) = b.ts(s) {
        let _ = write!(out, " ts {v} ecr {e}");
    }
    if s.payload_len > 0 {
        let _ = write!(out, " len {}", s.payload_len);
    }
    out
}

/// One segment as a tcpdump-like line (no trailing newline).
pub fn line(b: &Bases, s: &Segment) -> String {
    format!(
        "{:>9.3} ms  {}  {:<4} {}",
        b.ms(s),
        s.dir.arrow(),
        s.flags.tcpdump(),
        numbers(b, s)
    )
}

/// Lines for segments when nothing else is known (timeouts).
pub fn plain(segs: &[Segment]) -> String {
    let b = Bases::from_segments(segs);
    segs.iter()
        .map(|s| format!("  {}\n", line(&b, s)))
        .collect()
}

fn side_name(side: Option<trace::Side>) -> &'static str {
    match side {
        Some(trace::Side::Server) => "server",
        Some(trace::Side::Client) => "client",
        None => "?",
    }
}

/// A state change as a timeline line (like `tcpstates`).
pub fn state_line(b: &Bases, c: &StateChange) -> String {
    let ms = b.ms_signed(c.at_ns);
    let note = if phrase::enters_time_wait(c.old, c.new) {
        "   (handed to a TIME_WAIT socket: tcp_time_wait())"
    } else {
        ""
    };
    format!(
        "{ms:>9.3} ms  [{}] {} -> {}{note}",
        side_name(c.side),
        state_name(c.old),
        state_name(c.new)
    )
}

/// A reset sent or received, as a timeline line.
pub fn reset_line(b: &Bases, r: &Reset) -> String {
    let ms = b.ms_signed(r.at_ns);
    let what = match r.direction {
        ResetDirection::Sent => "sent a RST",
        ResetDirection::Received => "received a RST",
    };
    let mut l = format!("{ms:>9.3} ms  [{}] {what}", side_name(r.side));
    if let Some(state) = r.state {
        let _ = write!(l, " in {}", state_name(state));
    }
    if let Some(reason) = &r.reason {
        let _ = write!(l, " (reason {reason})");
    }
    l
}

/// A router's conntrack entry as a timeline line.
pub fn conntrack_line(b: &Bases, c: &ConntrackReading) -> String {
    let ms = b.ms_signed(c.at_ns);
    format!("{ms:>9.3} ms  [router] conntrack: {} ({})", c.entry, c.when)
}

/// Lines with the SYN that hit TIME_WAIT and the server's answer marked, and the
/// traced state changes, resets and the router's conntrack entries merged in
/// by time.
pub fn annotated(
    segs: &[Segment],
    first: &FirstConnection,
    syn2: Option<usize>,
    answer: Option<usize>,
    states: &[StateChange],
    resets: &[Reset],
    conntrack: &[ConntrackReading],
) -> String {
    let b = Bases::from_segments(segs);
    let mut events: Vec<(u64, String)> = states
        .iter()
        .map(|c| (c.at_ns, state_line(&b, c)))
        .chain(resets.iter().map(|r| (r.at_ns, reset_line(&b, r))))
        .chain(conntrack.iter().map(|c| (c.at_ns, conntrack_line(&b, c))))
        .collect();
    events.sort_by_key(|(at, _)| *at);
    let mut events = events.into_iter().peekable();
    let mut out = String::new();
    for (i, s) in segs.iter().enumerate() {
        while let Some((_, l)) = events.next_if(|(at, _)| *at < s.at_ns) {
            let _ = writeln!(out, "  {l}");
        }
        let mut l = line(&b, s);
        if Some(i) == syn2 {
            let _ = write!(l, "   <- {}", phrase::new_syn(s, first));
        } else if Some(i) == answer {
            let _ = write!(l, "   <- {}", phrase::ANSWER);
        } else if i == first.fin_index {
            let _ = write!(l, "   ({})", phrase::CLIENT_FIN);
        }
        let _ = writeln!(out, "  {l}");
    }
    for (_, l) in events {
        let _ = writeln!(out, "  {l}");
    }
    out
}

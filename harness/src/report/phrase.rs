//! The words the text and the HTML reports share, each defined once so that the
//! two reports say the same thing the same way: sysctl lists, offsets from the
//! TIME_WAIT socket's `rcv_nxt` / `snd_nxt` / `ts_recent`, state names and the
//! hand-over to TIME_WAIT, the notes on the segments that matter, paths, and
//! what synlab's model of the kernel says where the kernel did otherwise.

use std::fmt::Write as _;
use std::path::Path;

use crate::evidence::FirstConnection;
use crate::evidence::Observation;
use crate::expect::{FIELDS, Measure};
use crate::observe::counters::Counters;
use crate::observe::trace;
use crate::rows::{KernelModel, ModelSummary};
use crate::run::CaseRun;
use crate::scenario::ClientKind;
use crate::wire::Side;
use crate::wire::TcpState;
use crate::wire::{Segment, Seq, TsVal};

/// The note on the client's FIN of the first connection.
pub const CLIENT_FIN: &str = "client FIN: the server's side goes to TIME_WAIT";
/// The note on the server's answer to the SYN that hit TIME_WAIT.
pub const ANSWER: &str = "the server's answer";
/// What a counter list says when no `Tcp.*` / `TcpExt.*` counter moved.
pub const NO_TCP_COUNTER: &str = "no TCP counter changed";
/// What a case with no check left says (it fails).
pub const NOTHING_TO_JUDGE: &str = "nothing left to judge on this kernel";

/// A state name without the kernel's `TCP_` prefix (`FIN_WAIT1`).
pub fn state_name(s: TcpState) -> &'static str {
    let n = trace::kernel_name(s);
    n.strip_prefix("TCP_").unwrap_or(n)
}

/// The change that hands a closing socket to a TIME_WAIT mini-socket. The kernel
/// never traces `-> TIME_WAIT` for the full socket: tcp_time_wait() creates the
/// mini-socket and the full one goes FIN_WAIT1/FIN_WAIT2/CLOSING -> CLOSE.
pub fn enters_time_wait(old: TcpState, new: TcpState) -> bool {
    matches!(
        (old, new),
        (
            TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing,
            TcpState::Close
        )
    )
}

/// The state a side is in after a change: the new state, or TIME_WAIT for the
/// hand-over to the mini-socket ([`enters_time_wait`]), which is what it becomes.
pub fn state_after(old: TcpState, new: TcpState) -> &'static str {
    if enters_time_wait(old, new) {
        state_name(TcpState::TimeWait)
    } else {
        state_name(new)
    }
}

/// `name+3`, `name-1000`, `name+0`: always signed.
pub fn signed(name: &str, d: i64) -> String {
    format!("{name}{d:+}")
}

/// `name`, `name+3` or `name-1000`: the bare name for no offset.
pub fn offset(name: &str, d: i64) -> String {
    if d == 0 {
        name.to_string()
    } else {
        signed(name, d)
    }
}

/// The note on the SYN that hit TIME_WAIT: `new SYN hits TIME_WAIT: seq =
/// rcv_nxt-1000, tsval = ts_recent+3` (the tsval part when both sides have one).
pub fn new_syn(s: &Segment, first: &FirstConnection) -> String {
    let mut text = format!(
        "new SYN hits TIME_WAIT: seq = {}",
        signed("rcv_nxt", s.seq - first.rcv_nxt)
    );
    if let (Some(v), Some(r)) = (s.tsval, first.ts_recent) {
        let _ = write!(text, ", tsval = {}", signed("ts_recent", v - r));
    }
    text
}

/// An ISN forced with TCP_REPAIR: `1000000 = rcv_nxt+998998`.
pub fn forced_isn(isn: Seq, rcv_nxt: Seq) -> String {
    format!("{isn} = {}", signed("rcv_nxt", isn - rcv_nxt))
}

/// The TIME_WAIT socket's `ts_recent`, or why there is none.
pub fn ts_recent(t: Option<TsVal>) -> String {
    t.map_or("none (timestamps not negotiated)".into(), |t| t.to_string())
}

/// ` (retry after 12.781 ms)` after the client's SYN count, when it retried.
pub fn retry_gap(gap_ms: Option<f64>) -> String {
    gap_ms.map_or(String::new(), |g| format!(" (retry after {g:.3} ms)"))
}

pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `k=v` for each pair, in order.
pub fn key_values(v: &[(String, String)]) -> Vec<String> {
    v.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A side's sysctls: `k=v k=v`, or `defaults` when the scenario sets none.
pub fn sysctls(v: &[(String, String)]) -> String {
    sysctls_dressed(v, str::to_string, str::to_string)
}

/// [`sysctls`] with each setting and the word `defaults` dressed by the caller
/// (the HTML report wraps them in markup).
pub fn sysctls_dressed(
    v: &[(String, String)],
    setting: impl Fn(&str) -> String,
    defaults: impl FnOnce(&str) -> String,
) -> String {
    if v.is_empty() {
        return defaults("defaults");
    }
    key_values(v)
        .iter()
        .map(|kv| setting(kv))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The changed `Tcp.*` / `TcpExt.*` counters, in name order; the reports show
/// these only, JSON carries every one.
pub fn tcp_counters(c: &Counters) -> Vec<(&str, i64)> {
    c.iter()
        .filter(|(k, _)| k.starts_with("Tcp.") || k.starts_with("TcpExt."))
        .map(|(k, v)| (k.as_str(), *v))
        .collect()
}

/// An expectation this kernel gave no way to check: not a pass.
pub fn unchecked(field: &str, expected: &str, why: &str) -> String {
    format!("unchecked expect.{field} = {expected}: {why}")
}

/// What the first connection left: the TIME_WAIT socket with its `rcv_nxt`
/// and `ts_recent`, or that a `linger0` close left none.
pub fn time_wait_line(obs: &Observation) -> String {
    let f = &obs.first;
    let side = obs.closing.closer;
    if obs.closing.rst {
        return format!(
            "no TIME_WAIT: the {side} closed first with an RST (SO_LINGER {{1, 0}}); \
             {}",
            obs.time_wait_before
        )
        .trim_end_matches("; ")
        .to_string();
    }
    let (peer_isn, peer) = match side {
        Side::Server => (f.client_isn, "client"),
        Side::Client => (f.server_isn, "server"),
    };
    format!(
        "TIME_WAIT on the {side}: {}; rcv_nxt = {peer} ISN+{}, ts_recent = {}",
        obs.time_wait_before,
        f.rcv_nxt - peer_isn,
        ts_recent(f.ts_recent),
    )
}

/// Who wrote the notes of a case: the raw peer, or the kernel client.
pub fn notes_by(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Raw => "raw peer:",
        ClientKind::Kernel => "client:",
    }
}

/// The facts of the issue-12 events, one line each: the timer, what
/// `connect()` returned, and where the reopened connection started.
pub fn event_facts(run: &CaseRun) -> Vec<String> {
    let (obs, o) = (&run.obs, &run.outcome);
    let mut out = Vec::new();
    if let (Some(b), Some(a)) = (obs.timer_before, obs.timer_after) {
        // What the expectations read off the timer, as the table reads it.
        let read: Vec<String> = FIELDS
            .iter()
            .filter(|f| f.needs == Some(Measure::TimerAge))
            .map(|f| match (f.seen)(o) {
                Ok(v) => format!("{} = {v}", f.name),
                Err(why) => format!("{}: cannot tell ({why})", f.name),
            })
            .collect();
        out.push(format!(
            "TIME_WAIT timer: {} ms left before the event, {} ms after: {}",
            b.left_ms,
            a.left_ms,
            read.join(", ")
        ));
    }
    if let Some(c) = &o.connect {
        out.push(format!("connect(): {c}"));
    }
    if let Some(d) = o.reopen_isn_vs_snd_nxt {
        out.push(format!(
            "reopened connection's ISN = snd_nxt{d:+} ({} the TIME_WAIT's snd_nxt + 65537)",
            if o.isn_from_time_wait() == Some(true) {
                "is"
            } else {
                "is not"
            }
        ));
    }
    out
}

/// The branches the model took, in order: `tcp_time_wait(): FIN: TIME_WAIT
/// for 60 s, then tcp_timewait_state_process(): ...`.
pub fn model_branches(m: &KernelModel) -> String {
    m.steps
        .iter()
        .map(|s| format!("{}: {}", s.function, s.branch))
        .collect::<Vec<_>>()
        .join(", then ")
}

/// The "please report" sentence, only where the kernel did otherwise than
/// synlab's model says: the branches the model took and, field by field,
/// what it says and what the kernel did instead. `None` where they agree.
pub fn model_disagrees(m: &KernelModel) -> Option<String> {
    if m.differs.is_empty() {
        return None;
    }
    let fields = m
        .differs
        .iter()
        .map(|d| {
            format!(
                "{} = {}, but the kernel showed {}",
                d.field, d.predicted, d.seen
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(format!(
        "the kernel did otherwise than synlab's model of it: the model took {} and says \
         {fields}. synlab's model is wrong here: please report it, with this case's JSON row \
         and pcap",
        model_branches(m)
    ))
}

/// The model against one kernel's cases: `model vs kernel: N of M cases
/// agree`, then each field of each other case (case, field, what the model
/// says, what the kernel did), one line each.
pub fn model_summary(m: &ModelSummary) -> String {
    let mut out = format!("model vs kernel: {} of {} cases agree\n", m.agree, m.cases);
    let w = m.differ.iter().map(|d| d.case.len()).max().unwrap_or(0);
    for d in &m.differ {
        let _ = writeln!(
            out,
            "  {:<w$}  {}: model {}, kernel {}",
            d.case, d.field, d.predicted, d.seen
        );
    }
    out
}

/// A phrase as a sentence: capital first letter, full stop.
pub fn sentence(phrase: &str) -> String {
    let mut chars = phrase.chars();
    chars.next().map_or(String::new(), |c| {
        format!("{}{}.", c.to_uppercase(), chars.as_str())
    })
}

/// A path relative to the current directory when it lies below it.
pub fn display_path(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_signed_and_bare_at_zero() {
        assert_eq!(signed("rcv_nxt", -1000), "rcv_nxt-1000");
        assert_eq!(signed("ts_recent", 0), "ts_recent+0");
        assert_eq!(offset("snd_nxt", 0), "snd_nxt");
        assert_eq!(offset("rcv_nxt", 3), "rcv_nxt+3");
        assert_eq!(
            forced_isn(Seq(1_000_000), Seq(1002)),
            "1000000 = rcv_nxt+998998"
        );
    }

    #[test]
    fn the_hand_over_to_time_wait_is_named_time_wait() {
        use TcpState as S;
        for old in [S::FinWait1, S::FinWait2, S::Closing] {
            assert!(enters_time_wait(old, S::Close));
            assert_eq!(state_after(old, S::Close), "TIME_WAIT");
        }
        assert!(!enters_time_wait(S::LastAck, S::Close));
        assert_eq!(state_after(S::LastAck, S::Close), "CLOSE");
        assert_eq!(state_after(S::Close, S::SynSent), "SYN_SENT");
    }

    #[test]
    fn sysctls_read_defaults_or_settings() {
        assert_eq!(sysctls(&[]), "defaults");
        let v = [
            ("a.b".to_string(), "1".to_string()),
            ("c".into(), "0".into()),
        ];
        assert_eq!(sysctls(&v), "a.b=1 c=0");
        assert_eq!(
            sysctls_dressed(&v, |s| format!("<{s}>"), |d| format!("({d})")),
            "<a.b=1> <c=0>"
        );
        assert_eq!(
            sysctls_dressed(&[], |s| s.into(), |d| format!("({d})")),
            "(defaults)"
        );
    }

    #[test]
    fn small_phrases() {
        assert_eq!(ts_recent(None), "none (timestamps not negotiated)");
        assert_eq!(ts_recent(Some(TsVal(7))), "7");
        assert_eq!(retry_gap(Some(12.781)), " (retry after 12.781 ms)");
        assert_eq!(retry_gap(None), "");
        assert_eq!(
            sentence(NOTHING_TO_JUDGE),
            "Nothing left to judge on this kernel."
        );
        assert_eq!(sentence(""), "");
        let mut c = Counters::new();
        c.insert("IpExt.InOctets".into(), 4);
        c.insert("TcpExt.PAWSTimewait".into(), -1);
        c.insert("Tcp.PassiveOpens".into(), 1);
        assert_eq!(
            tcp_counters(&c),
            [("Tcp.PassiveOpens", 1), ("TcpExt.PAWSTimewait", -1)]
        );
    }
}

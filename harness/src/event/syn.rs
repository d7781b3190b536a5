//! `[second_syn]`: a SYN from the client's 4-tuple hits the server's
//! TIME_WAIT (the seed experiment). Its seq and tsval are written relative to
//! the TIME_WAIT socket; a raw client can add follow-ups (`then`), as a
//! SYN_SENT kernel would. Decided by `tcp_timewait_state_process()`
//! (net/ipv4/tcp_minisocks.c).

use serde::Deserialize;
use serde_spanned::Spanned;

use super::Around;
use crate::loc::{At, Loc};
use crate::read::check::Checker;
use crate::read::expr::{SeqExpr, TsExpr, seq_value, ts_value};
use crate::read::raw::{Scalar, Value};
use crate::read::setting::{Axis, Sel, Setting};

pub const NAME: &str = "syn";

/// The table as the file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    pub seq: Option<Spanned<Value>>,
    pub tsval: Option<Spanned<Value>>,
    pub then: Option<Spanned<Vec<Spanned<String>>>>,
    pub from: Option<Spanned<Value>>,
}

/// The SYN of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syn {
    /// Relative to the TIME_WAIT socket's `rcv_nxt`; `auto`: what the client picks.
    pub seq: At<SeqExpr>,
    /// Relative to its `ts_recent` (raw client only).
    pub tsval: At<TsExpr>,
    /// The raw peer's steps after the answer (empty: it only observes).
    pub then: Vec<Then>,
    /// Which client sends it, behind a NAT (1: the one that made the first
    /// connection, the same machine again; 2..: another machine).
    pub from: At<u8>,
}

/// What the raw peer does after the server answered the SYN that hit
/// TIME_WAIT (`then = ["rst", "syn"]`): what a SYN_SENT kernel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// `RST seq=<the ACK's ack>` after an unacceptable ACK
    /// (tcp_rcv_synsent_state_process()).
    Rst,
    /// The same SYN again (a newer tsval when it was `auto`).
    Syn,
}

impl Then {
    pub fn as_str(self) -> &'static str {
        match self {
            Then::Rst => "rst",
            Then::Syn => "syn",
        }
    }
}

/// The checked table: its settings.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    seq: Setting<SeqExpr>,
    tsval: Setting<TsExpr>,
    then: Vec<Then>,
    from: Setting<u8>,
}

/// Read `[second_syn]` (absent: a SYN at `auto`, as the seed experiment).
pub(crate) fn read(
    cx: &mut Checker<'_>,
    raw: Option<Spanned<Raw>>,
    file: &Loc,
    raw_client: bool,
) -> Spec {
    let (seq, tsval, then, from, loc) = match raw {
        Some(s) => {
            let loc = cx.loc(&s.span());
            let s = s.into_inner();
            (s.seq, s.tsval, s.then, s.from, loc)
        }
        None => (None, None, None, None, file.clone()),
    };
    let from = cx.setting_or(
        from,
        "second_syn.from",
        "from",
        from_value,
        (1, "client1"),
        &loc,
    );
    let then = read_then(cx, then, raw_client);
    let seq = cx.setting_or(
        seq,
        "second_syn.seq",
        "seq",
        seq_value,
        (SeqExpr::Auto, "auto"),
        &loc,
    );
    let tsval = cx.setting_or(
        tsval,
        "second_syn.tsval",
        "tsval",
        ts_value,
        (TsExpr::Auto, "auto"),
        &loc,
    );
    refuse_kernel_tsval(cx, &tsval, raw_client);
    Spec {
        seq,
        tsval,
        then,
        from,
    }
}

/// A kernel client's tsval is the kernel's: it cannot be chosen.
pub(crate) fn refuse_kernel_tsval(cx: &mut Checker<'_>, tsval: &Setting<TsExpr>, raw_client: bool) {
    if raw_client {
        return;
    }
    for choice in tsval.choices.iter().filter(|c| c.value != TsExpr::Auto) {
        cx.error_at(
            choice.loc.clone(),
            &tsval.field,
            "a kernel client's tsval cannot be chosen; use kind = \"raw\" in [client]",
        );
    }
}

/// `then`: the raw peer's steps after the answer.
fn read_then(
    cx: &mut Checker<'_>,
    raw: Option<Spanned<Vec<Spanned<String>>>>,
    raw_client: bool,
) -> Vec<Then> {
    let Some(list) = raw else {
        return Vec::new();
    };
    if !raw_client {
        cx.error(
            &list.span(),
            "second_syn.then",
            "a kernel client answers by itself (RST, retry); steps are for kind = \"raw\" in [client]",
        );
        return Vec::new();
    }
    let span = list.span();
    let mut steps = Vec::new();
    for item in list.into_inner() {
        match item.get_ref().as_str() {
            "rst" => steps.push(Then::Rst),
            "syn" => steps.push(Then::Syn),
            other => cx.error(
                &item.span(),
                "second_syn.then",
                format!("unknown step {other:?}, expected \"rst\" or \"syn\""),
            ),
        }
    }
    if steps.len() > 8 {
        cx.error(&span, "second_syn.then", "more than 8 steps");
    }
    steps
}

impl Spec {
    pub fn axes(&self) -> Vec<Axis<'_>> {
        [
            Axis::of(&self.seq),
            Axis::of(&self.tsval),
            Axis::of(&self.from),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn build(&self, sel: &Sel<'_>) -> Syn {
        Syn {
            seq: self.seq.pick(sel).at(),
            tsval: self.tsval.pick(sel).at(),
            then: self.then.clone(),
            from: self.from.pick(sel).at(),
        }
    }
}

impl Syn {
    pub(crate) fn refuse(&self, case: &Around<'_>) -> Option<super::Refusal> {
        let from = self.from.value;
        let why = if from > 1 && case.nat_clients < from {
            Some(format!(
                "client{from} sends the SYN, but the lab has {} client(s): [topology] kind = \"nat\", clients = {from} or more",
                case.nat_clients
            ))
        } else if from > 1 && case.raw_client {
            Some("another machine behind the NAT is a kernel client: kind = \"kernel\"".to_owned())
        } else if from > 1 && case.client_timestamps == Some(1) {
            Some(
                "with net.ipv4.tcp_timestamps = 1 each client's timestamps carry a random \
                 offset per address pair, so whether client2's tsval is newer than ts_recent \
                 would be chance: set the clients' tcp_timestamps to 0 or 2"
                    .to_owned(),
            )
        } else {
            None
        };
        if let Some(why) = why {
            return Some((self.from.loc.clone(), "second_syn.from".to_owned(), why));
        }
        refuse_ts_recent(&self.tsval, "second_syn.tsval", case)
    }
}

/// `from`: `"client1"` .. `"client4"`.
fn from_value(v: &Scalar) -> Result<(u8, String), String> {
    v.one_of(&[
        ("client1", 1),
        ("client2", 2),
        ("client3", 3),
        ("client4", 4),
    ])
}

/// A tsval relative to `ts_recent` needs timestamps on both sides.
pub(crate) fn refuse_ts_recent(
    tsval: &At<TsExpr>,
    field: &str,
    case: &Around<'_>,
) -> Option<super::Refusal> {
    let side = case.timestamps_off?;
    matches!(tsval.value, TsExpr::TsRecent(_)).then(|| {
        (
            tsval.loc.clone(),
            field.to_owned(),
            format!(
                "a tsval relative to ts_recent needs timestamps negotiated, but \
                 net.ipv4.tcp_timestamps = 0 on the {side}"
            ),
        )
    })
}

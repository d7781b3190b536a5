//! `[segment]`: one segment of any kind (FIN, ACK, data, RST, SYN-ACK,
//! SYN-FIN, in or out of window) from the raw client to the server's
//! TIME_WAIT: the branches of `tcp_timewait_state_process()`
//! (net/ipv4/tcp_minisocks.c) one by one.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::Around;
use super::syn::{refuse_kernel_tsval, refuse_ts_recent};
use crate::loc::At;
use crate::read::check::Checker;
use crate::read::expr::{self, SeqExpr, TsExpr, compact, seq_value, ts_value};
use crate::read::raw::{Scalar, Value};
use crate::read::setting::{Axis, Sel, Setting};
use crate::wire::Flags;

pub const NAME: &str = "segment";

/// The table as the file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    pub flags: Option<Spanned<Value>>,
    pub seq: Option<Spanned<Value>>,
    pub ack: Option<Spanned<Value>>,
    pub tsval: Option<Spanned<Value>>,
    pub len: Option<Spanned<Value>>,
}

/// The segment of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// tcpdump letters: `S`, `S.`, `SF`, `.`, `F`, `F.`, `R`, `R.`, `P.`.
    pub flags: String,
    /// Relative to the TIME_WAIT socket's `rcv_nxt`.
    pub seq: At<SeqExpr>,
    /// An offset from the TIME_WAIT socket's `snd_nxt` (used with an ACK flag).
    pub ack: At<i64>,
    /// `ack` was written (not the default).
    pub ack_given: bool,
    pub tsval: At<TsExpr>,
    /// Payload bytes.
    pub len: u32,
}

/// The checked table: its settings.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    flags: Setting<String>,
    seq: Setting<SeqExpr>,
    ack: Setting<i64>,
    ack_given: bool,
    tsval: Setting<TsExpr>,
    len: Setting<u32>,
}

/// Read `[segment]`.
pub(crate) fn read(cx: &mut Checker<'_>, raw: Spanned<Raw>, raw_client: bool) -> Spec {
    let span = raw.span();
    let loc = cx.loc(&span);
    let raw = raw.into_inner();
    if raw.flags.is_none() {
        cx.error(
            &span,
            "segment.flags",
            "is required: the segment's flags in tcpdump letters (\"F.\", \"R\", \"S\", ...)",
        );
    }
    let ack_given = raw.ack.is_some();
    let flags = cx.setting_or(
        raw.flags,
        "segment.flags",
        "flags",
        flags_value,
        (".".to_owned(), "."),
        &loc,
    );
    let ack = cx.setting_or(
        raw.ack,
        "segment.ack",
        "ack",
        ack_value,
        (0, "snd_nxt"),
        &loc,
    );
    let len = cx.setting_or(raw.len, "segment.len", "len", len_value, (0, "0"), &loc);
    let seq = cx.setting_or(
        raw.seq,
        "segment.seq",
        "seq",
        seq_value,
        (SeqExpr::RcvNxt(0), "rcv_nxt"),
        &loc,
    );
    let tsval = cx.setting_or(
        raw.tsval,
        "segment.tsval",
        "tsval",
        ts_value,
        (TsExpr::Auto, "auto"),
        &loc,
    );
    refuse_kernel_tsval(cx, &tsval, raw_client);
    Spec {
        flags,
        seq,
        ack,
        ack_given,
        tsval,
        len,
    }
}

impl Spec {
    pub fn axes(&self) -> Vec<Axis<'_>> {
        [
            Axis::of(&self.seq),
            Axis::of(&self.tsval),
            Axis::of(&self.flags),
            Axis::of(&self.ack),
            Axis::of(&self.len),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn build(&self, sel: &Sel<'_>) -> Segment {
        Segment {
            flags: self.flags.pick(sel).value.clone(),
            seq: self.seq.pick(sel).at(),
            ack: self.ack.pick(sel).at(),
            ack_given: self.ack_given,
            tsval: self.tsval.pick(sel).at(),
            len: self.len.pick(sel).value,
        }
    }
}

impl Segment {
    pub(crate) fn refuse(&self, case: &Around<'_>) -> Option<super::Refusal> {
        if self.ack_given && !self.flags.contains('.') {
            return Some((
                self.ack.loc.clone(),
                "segment.ack".to_owned(),
                format!(
                    "flags {:?} have no ACK: the segment carries no ack number",
                    self.flags
                ),
            ));
        }
        refuse_ts_recent(&self.tsval, "segment.tsval", case)
    }
}

/// tcpdump's letters for a segment's flags: S, F, R, P and `.` for ACK, each
/// at most once; shown in tcpdump's order (`SF.`).
pub(crate) fn flags_value(v: &Scalar) -> Result<(String, String), String> {
    let Scalar::Str(s) = v else {
        return Err(format!(
            "expected tcpdump flag letters such as \"F.\", found {}",
            v.kind()
        ));
    };
    let bad = s.chars().find(|c| !"SFRP.".contains(*c));
    let twice = s.chars().find(|c| s.matches(*c).count() > 1);
    if s.is_empty() || bad.is_some() || twice.is_some() {
        return Err(format!(
            "{s:?}: expected tcpdump flag letters, each once: S (SYN), F (FIN), R (RST), P (PSH) \
             and . (ACK), as in \"S\", \"S.\", \"SF\", \".\", \"F.\", \"R\", \"P.\""
        ));
    }
    let text = Flags::from_tcpdump(s).tcpdump();
    Ok((text.clone(), text))
}

fn ack_value(v: &Scalar) -> Result<(i64, String), String> {
    match v {
        Scalar::Str(s) => expr::parse_ack(s)
            .map(|e| (e, compact(s)))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a string such as \"snd_nxt\" (one of {}), found {}",
            expr::ACK_FORMS,
            other.kind()
        )),
    }
}

/// `len`: payload bytes, within one Ethernet frame.
fn len_value(v: &Scalar) -> Result<(u32, String), String> {
    v.int_in(0..=1400)
}

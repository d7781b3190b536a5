//! What one trace collected, and the [`TraceLog`] it makes: sorted by time,
//! attributed to the owner threads, on CLOCK_REALTIME.

use super::decode::{Kind, Record};
use super::log::{Reset, StateChange, TraceInfo, TraceLog};
use super::owner::{attribute, incarnations};
use super::spec::TraceSpec;

/// The records a trace kept so far, and whether a page said events were missed.
#[derive(Default)]
pub(super) struct Collected {
    pub(super) records: Vec<Record>,
    pub(super) missed_pages: bool,
}

/// The log of `collected` (records that matched `spec`), attributed to
/// `spec.owners`, on CLOCK_REALTIME.
pub(super) fn assemble(
    collected: &Collected,
    spec: &TraceSpec,
    info: &TraceInfo,
    lost: u64,
) -> TraceLog {
    let mut records = collected.records.clone();
    records.sort_by_key(|r| r.ts);
    let owners = attribute(&records, &spec.owners);
    let socks = incarnations(&records);
    let offset = i128::from(info.realtime_offset_ns);
    let mut changes = Vec::new();
    let mut resets = Vec::new();
    for ((r, owner), sock) in records.into_iter().zip(owners).zip(socks) {
        let at_ns = u64::try_from((i128::from(r.ts) + offset).max(0)).unwrap_or(u64::MAX);
        let side = spec.side(r.src, r.dst);
        match r.kind {
            Kind::State { old, new } => changes.push(StateChange {
                at_ns,
                sock,
                src: r.src,
                dst: r.dst,
                old,
                new,
                side,
                tid: r.tid,
                context: r.context,
                owner,
            }),
            Kind::Reset {
                direction,
                state,
                reason,
            } => resets.push(Reset {
                at_ns,
                direction,
                sock,
                src: r.src,
                dst: r.dst,
                state,
                reason,
                side,
                tid: r.tid,
                context: r.context,
                owner,
            }),
        }
    }
    // A page flagged "events missed" with no count in the stats still
    // means something was lost.
    let lost = lost.max(u64::from(collected.missed_pages));
    TraceLog {
        changes,
        resets,
        lost_events: lost,
        info: info.clone(),
    }
}

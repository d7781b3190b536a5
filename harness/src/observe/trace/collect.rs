//! The [`TraceLog`] that one case's records make: sorted by time, attributed to
//! the owner threads, on CLOCK_REALTIME.

use super::decode::{Kind, Record};
use super::log::{Reset, StateChange, TraceInfo, TraceLog};
use super::owner::{attribute, incarnations};
use super::spec::TraceSpec;

/// The log of `records` (those that matched `spec`), attributed to
/// `spec.owners`, on CLOCK_REALTIME; `lost`: what the kernel lost meanwhile.
pub(super) fn assemble(
    records: &[Record],
    spec: &TraceSpec,
    info: &TraceInfo,
    lost: u64,
) -> TraceLog {
    let mut records = records.to_vec();
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
    TraceLog {
        changes,
        resets,
        lost_events: lost,
        info: info.clone(),
    }
}

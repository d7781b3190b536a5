//! [`SharedTrace`]: a case's subscription to the process's shared tracer, and
//! the log of exactly that case's addresses, ports and time: sorted, attributed
//! to the owner threads, on CLOCK_REALTIME.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::clock::realtime_offset_ns;
use super::decode::{Kind, Record};
use super::error::TraceError;
use super::hub::{Hub, lock, shared_hub};
use super::log::{Reset, StateChange, TraceLog};
use super::owner::{attribute, incarnations};
use super::spec::TraceSpec;

/// A case's state trace on the process's shared perf events, which are opened
/// on first use (or ahead of it: [`prepare_shared`]) and live as long as the
/// process. The kernel filter only needs the lab's addresses, which every case
/// shares (`scope`); each subscriber keeps the records of its own addresses
/// and ports from the moment it subscribed, and attributes them to its own
/// owner threads, so parallel cases get the very same records and stamps.
///
/// [`prepare_shared`]: super::prepare_shared
pub struct SharedTrace {
    pub(super) hub: Arc<Mutex<Hub>>,
    pub(super) id: u64,
    spec: TraceSpec,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC when the case subscribed.
    pub(super) realtime_offset_ns: i64,
}

impl SharedTrace {
    /// Subscribes `spec` to the shared tracer for `scope` (opened now, or
    /// waited for if [`prepare_shared`] is opening it). Every address of `spec`
    /// must be in `scope`, the addresses the kernel filter lets through. Call
    /// it once the case's namespace threads exist (their tids go into
    /// [`TraceSpec::owners`]) and before the case makes its sockets.
    ///
    /// [`prepare_shared`]: super::prepare_shared
    pub fn start(scope: &[IpAddr], spec: TraceSpec) -> Result<SharedTrace, TraceError> {
        if spec.addrs.is_empty() || spec.addrs.iter().any(|a| !scope.contains(a)) {
            return Err(TraceError::Unavailable {
                why: format!(
                    "the shared trace's kernel filter covers {scope:?}, not all of {:?}",
                    spec.addrs
                ),
            });
        }
        let hub = shared_hub(scope)?;
        let id = lock(&hub).subscribe(spec.clone())?;
        Ok(SharedTrace {
            hub,
            id,
            spec,
            realtime_offset_ns: realtime_offset_ns(),
        })
    }

    /// Reads the rest and unsubscribes; the events stay for the next case.
    /// Call it after the case's namespaces are gone, so the last changes
    /// (sockets closed as the owner threads exit) are in the log.
    pub fn stop(self) -> Result<TraceLog, TraceError> {
        let mut hub = lock(&self.hub);
        hub.drain()?;
        let sub = hub.subs.remove(&self.id).ok_or_else(gone)?;
        let lost = hub.lost_since(&sub);
        drop(hub);
        Ok(self.log_of(&sub.records, lost))
    }

    /// Records of this subscriber as a log; `lost`: since it subscribed.
    pub(super) fn log_of(&self, records: &[Record], lost: u64) -> TraceLog {
        assemble(records, &self.spec, self.realtime_offset_ns, lost)
    }
}

impl Drop for SharedTrace {
    fn drop(&mut self) {
        lock(&self.hub).subs.remove(&self.id);
    }
}

pub(super) fn gone() -> TraceError {
    TraceError::Unavailable {
        why: "the case's subscription to the shared trace is gone".into(),
    }
}

/// The log of `records` (those that matched `spec`), attributed to
/// `spec.owners`, on CLOCK_REALTIME; `lost`: what the kernel lost meanwhile.
fn assemble(records: &[Record], spec: &TraceSpec, realtime_offset_ns: i64, lost: u64) -> TraceLog {
    let mut records = records.to_vec();
    records.sort_by_key(|r| r.ts);
    let socks = incarnations(&records);
    let owners = attribute(&records, &socks, &spec.owners);
    let offset = i128::from(realtime_offset_ns);
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
    }
}

//! [`SharedTrace`]: a case's subscription to the process's shared tracer, with
//! the log of exactly that case's addresses, ports and time.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::clock::{realtime_offset_ns, record_clock_now};
use super::collect::assemble;
use super::error::TraceError;
use super::hub::{Hub, Sub, shared_hub};
use super::log::{TraceInfo, TraceLog};
use super::spec::TraceSpec;

/// A case's state trace on the process's shared perf events.
///
/// Why one set of events serves every case of the process: the kernel filter
/// only needs the lab's addresses, which every case shares (`scope`), and the
/// rest is done in userspace per case: each subscriber keeps the records that
/// match its addresses and ports, from the moment it subscribed, and
/// attributes them to its own owner threads ([`Owner::Own`] /
/// [`Owner::TupleOnly`]). Parallel cases get the very same records, with the
/// same stamps, and the host pays one filter check per TCP state change.
///
/// The events are opened on first use (or ahead of it: [`prepare_shared`])
/// and live as long as the process; they need no clean-up (see `release.rs`).
///
/// [`Owner::Own`]: super::Owner::Own
/// [`Owner::TupleOnly`]: super::Owner::TupleOnly
/// [`prepare_shared`]: super::prepare_shared
pub struct SharedTrace {
    hub: Arc<Hub>,
    id: u64,
    spec: TraceSpec,
    info: TraceInfo,
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
        let mut state = hub.lock();
        // Older records go to the running cases now, and the lost count is
        // current: losses before this point are not this case's.
        state.drain()?;
        let id = state.next;
        state.next += 1;
        let lost_before = state.lost_events();
        state.subs.insert(
            id,
            Sub {
                spec: spec.clone(),
                from_ts: record_clock_now(),
                lost_before,
                records: Vec::new(),
            },
        );
        drop(state);
        let info = TraceInfo {
            realtime_offset_ns: realtime_offset_ns(),
            ..hub.info.clone()
        };
        Ok(SharedTrace {
            hub,
            id,
            spec,
            info,
        })
    }

    /// How the trace was set up.
    pub fn info(&self) -> &TraceInfo {
        &self.info
    }

    /// Everything so far. Ownership is final only after [`SharedTrace::stop`]:
    /// a server's child socket becomes [`Owner::Own`] when the server closes it.
    ///
    /// [`Owner::Own`]: super::Owner::Own
    #[cfg(test)]
    pub fn snapshot(&self) -> Result<TraceLog, TraceError> {
        let mut state = self.hub.lock();
        state.drain()?;
        let lost = state.lost_events();
        let sub = state.subs.get(&self.id).ok_or_else(gone)?;
        Ok(self.log_of(sub, lost))
    }

    /// Reads the rest and unsubscribes; the events stay for the next case.
    /// Call it after the case's namespaces are gone, so the last changes
    /// (sockets closed as the owner threads exit) are in the log.
    pub fn stop(self) -> Result<TraceLog, TraceError> {
        let mut state = self.hub.lock();
        state.drain()?;
        let lost = state.lost_events();
        let sub = state.subs.remove(&self.id).ok_or_else(gone)?;
        drop(state);
        Ok(self.log_of(&sub, lost))
    }

    /// The subscriber's records as a log, with the events the kernel lost
    /// since it subscribed.
    fn log_of(&self, sub: &Sub, lost: u64) -> TraceLog {
        let lost = lost.saturating_sub(sub.lost_before);
        assemble(&sub.records, &self.spec, &self.info, lost)
    }
}

impl Drop for SharedTrace {
    fn drop(&mut self) {
        self.hub.lock().subs.remove(&self.id);
    }
}

impl fmt::Debug for SharedTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTrace")
            .field("info", self.info())
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

fn gone() -> TraceError {
    TraceError::Unavailable {
        why: "the case's subscription to the shared trace is gone".into(),
    }
}

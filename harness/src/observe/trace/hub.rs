//! The process-wide tracer behind [`SharedTrace`]: opened once per scope (the
//! lab's addresses), its records handed to each subscribing case. It lives as
//! long as the process and needs no clean-up: its perf events and rings die
//! with it.
//!
//! [`SharedTrace`]: super::SharedTrace

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::clock::record_clock_now;
use super::decode::Record;
use super::error::TraceError;
use super::spec::TraceSpec;
use super::tracer::Tracer;

/// Starts opening the shared tracer for `scope` on a background thread, if it
/// does not exist yet, so it is ready by the time [`SharedTrace::start`] needs
/// it (the lab is built meanwhile).
///
/// [`SharedTrace::start`]: super::SharedTrace::start
pub fn prepare_shared(scope: &[IpAddr]) {
    let cell = hub_cell(scope);
    if cell.get().is_some() {
        return;
    }
    let scope = scope.to_vec();
    let spawned = std::thread::Builder::new()
        .name("synlab-trace".into())
        .spawn(move || {
            let _ = init_hub(&cell, &scope);
        });
    // Without the thread, SharedTrace::start opens it itself.
    drop(spawned);
}

/// One shared tracer and its subscribers.
pub(super) struct Hub {
    tracer: Tracer,
    next: u64,
    pub(super) subs: HashMap<u64, Sub>,
}

pub(super) struct Sub {
    spec: TraceSpec,
    /// Records older than this (record clock) are not this subscriber's.
    from_ts: u64,
    /// The tracer's lost-event count when it subscribed.
    lost_before: u64,
    pub(super) records: Vec<Record>,
}

impl Hub {
    /// Subscribes `spec` from now on. Older records go to the running cases
    /// first, and the lost count is current: earlier losses are not its own.
    pub(super) fn subscribe(&mut self, spec: TraceSpec) -> Result<u64, TraceError> {
        self.drain()?;
        let id = self.next;
        self.next += 1;
        let sub = Sub {
            spec,
            from_ts: record_clock_now(),
            lost_before: self.tracer.lost_events(),
            records: Vec::new(),
        };
        self.subs.insert(id, sub);
        Ok(id)
    }

    /// Reads the rings and gives each record to every subscriber whose spec it
    /// matches and whose window it falls in; the rest is dropped.
    pub(super) fn drain(&mut self) -> Result<(), TraceError> {
        let subs = &mut self.subs;
        self.tracer.drain(|record| {
            for sub in subs.values_mut() {
                if record.ts >= sub.from_ts && sub.spec.matches(record.src, record.dst) {
                    sub.records.push(record.clone());
                }
            }
        })
    }

    /// Events the kernel dropped or throttled since `sub` subscribed.
    pub(super) fn lost_since(&self, sub: &Sub) -> u64 {
        self.tracer.lost_events().saturating_sub(sub.lost_before)
    }
}

/// The hub, locked. Its state stays consistent even if a reader panicked:
/// records are only ever appended whole.
pub(super) fn lock(hub: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(|e| e.into_inner())
}

type HubCell = Arc<OnceLock<Result<Arc<Mutex<Hub>>, String>>>;

/// The shared hubs by scope (normally one: the lab's addresses).
static HUBS: Mutex<Vec<(Vec<IpAddr>, HubCell)>> = Mutex::new(Vec::new());

fn hub_cell(scope: &[IpAddr]) -> HubCell {
    let mut hubs = HUBS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, cell)) = hubs.iter().find(|(s, _)| s.as_slice() == scope) {
        return Arc::clone(cell);
    }
    let cell = HubCell::default();
    hubs.push((scope.to_vec(), Arc::clone(&cell)));
    cell
}

/// Opens the hub once; a failure is kept (as its message) so that later cases
/// do not try again, and reported to each of them.
fn init_hub(cell: &HubCell, scope: &[IpAddr]) -> Result<Arc<Mutex<Hub>>, TraceError> {
    let open = || {
        let tracer = Tracer::open(&TraceSpec::new(scope.iter().copied()))?;
        let (next, subs) = (0, HashMap::new());
        Ok::<_, TraceError>(Arc::new(Mutex::new(Hub { tracer, next, subs })))
    };
    cell.get_or_init(|| open().map_err(|e| e.to_string()))
        .clone()
        .map_err(|why| TraceError::Unavailable { why })
}

pub(super) fn shared_hub(scope: &[IpAddr]) -> Result<Arc<Mutex<Hub>>, TraceError> {
    init_hub(&hub_cell(scope), scope)
}

//! The process-wide tracer behind [`SharedTrace`]: opened once per scope (the
//! lab's addresses), its records handed to each subscribing case. It lives as
//! long as the process and needs no clean-up: its perf events and rings die
//! with it.
//!
//! [`SharedTrace`]: super::SharedTrace

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::decode::Record;
use super::error::TraceError;
use super::log::TraceInfo;
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
    /// How the tracer was set up (each subscriber measures its own clock offset).
    pub(super) info: TraceInfo,
    state: Mutex<HubState>,
}

pub(super) struct HubState {
    tracer: Tracer,
    pub(super) next: u64,
    pub(super) subs: HashMap<u64, Sub>,
}

pub(super) struct Sub {
    pub(super) spec: TraceSpec,
    /// Records older than this (record clock) are not this subscriber's.
    pub(super) from_ts: u64,
    /// The tracer's lost-event count when it subscribed.
    pub(super) lost_before: u64,
    pub(super) records: Vec<Record>,
}

impl Hub {
    fn open(scope: &[IpAddr]) -> Result<Hub, TraceError> {
        let tracer = Tracer::open(&TraceSpec::new(scope.iter().copied()))?;
        Ok(Hub {
            info: tracer.info.clone(),
            state: Mutex::new(HubState {
                tracer,
                next: 0,
                subs: HashMap::new(),
            }),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, HubState> {
        // The state stays consistent even if a reader panicked: records are
        // only ever appended whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HubState {
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

    /// Records the kernel dropped or throttled so far, in what was read.
    pub(super) fn lost_events(&self) -> u64 {
        self.tracer.lost_events()
    }
}

type HubCell = Arc<OnceLock<Result<Arc<Hub>, String>>>;

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
fn init_hub(cell: &HubCell, scope: &[IpAddr]) -> Result<Arc<Hub>, TraceError> {
    cell.get_or_init(|| Hub::open(scope).map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(|why| TraceError::Unavailable { why })
}

pub(super) fn shared_hub(scope: &[IpAddr]) -> Result<Arc<Hub>, TraceError> {
    init_hub(&hub_cell(scope), scope)
}

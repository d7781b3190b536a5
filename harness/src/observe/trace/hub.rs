//! The process-wide shared instance behind [`SharedTrace`]: made once per scope,
//! its records handed to each subscriber, removed at exit.
//!
//! [`SharedTrace`]: super::SharedTrace

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::collect::Collected;
use super::error::TraceError;
use super::instance::{Instance, next_instance_name, remove_stale_instances_in};
use super::reaper::start_reaper;
use super::spec::TraceSpec;
use super::tracefs::tracefs_root;
use super::tracer::Tracer;

/// Starts making the shared instance for `scope` on a background thread, if
/// it does not exist yet, so it is ready by the time [`SharedTrace::start`]
/// needs it (the lab is built meanwhile). The instance is registered for
/// removal at exit before it is made, so an exit while it is being made leaves
/// nothing behind.
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
    // Without the thread, SharedTrace::start makes it itself.
    drop(spawned);
}

/// Removes the shared instances now (they are made again when needed). The
/// exit handler does the same; this is for callers that want the time spent
/// before they measure something else.
pub fn shutdown_shared() {
    let slots = std::mem::take(&mut *HUBS.lock().unwrap_or_else(|e| e.into_inner()));
    // A hub is removed when its last subscriber is gone (Hub's Drop).
    drop(slots);
}

/// One shared instance and its subscribers.
pub(super) struct Hub {
    pub(super) tracer: Tracer,
    state: Mutex<HubState>,
}

#[derive(Default)]
pub(super) struct HubState {
    pub(super) next: u64,
    pub(super) subs: HashMap<u64, Sub>,
}

pub(super) struct Sub {
    pub(super) spec: TraceSpec,
    /// Records older than this (ring-buffer clock) are not this subscriber's.
    pub(super) from_ts: u64,
    /// The instance's lost-event count when it subscribed.
    pub(super) lost_before: u64,
    pub(super) collected: Collected,
}

impl Hub {
    fn create(scope: &[IpAddr]) -> Result<Hub, TraceError> {
        let (root, private) = tracefs_root()?;
        let _ = remove_stale_instances_in(&root);
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain extern "C" function with no arguments.
            unsafe { libc::atexit(remove_shared_at_exit) };
        });
        let instance = {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            if live.exiting {
                return Err(TraceError::Unavailable {
                    why: "the process is exiting".into(),
                });
            }
            let name = next_instance_name();
            // The exit handler covers a normal exit; the reaper covers a kill. It
            // starts before the instance exists, so no kill can fall between the
            // two: a reaper that finds nothing to remove just exits.
            start_reaper(&name, private).map_err(|e| TraceError::Unavailable {
                why: format!(
                    "cannot start the process that removes the instance after a kill: {e}"
                ),
            })?;
            let instance = Instance::create(&root.join("instances"), &name)?;
            live.paths.push(instance.path.clone());
            instance
        };
        let path = instance.path.clone();
        let filter = TraceSpec::new(scope.iter().copied());
        match Tracer::setup(instance, &filter) {
            Ok(tracer) => Ok(Hub {
                tracer,
                state: Mutex::new(HubState::default()),
            }),
            Err(e) => {
                // The instance is gone with the failed set-up (Instance's Drop).
                unregister_live(&path);
                Err(e)
            }
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the ring buffers and gives each record to every subscriber whose
    /// spec it matches and whose window it falls in; the rest is dropped.
    pub(super) fn drain(&self, state: &mut HubState) -> Result<(), TraceError> {
        let subs = &mut state.subs;
        let missed = self.tracer.drain(|record| {
            for sub in subs.values_mut() {
                if record.ts >= sub.from_ts && sub.spec.matches(record.src, record.dst) {
                    sub.collected.records.push(record.clone());
                }
            }
        })?;
        if missed {
            for sub in subs.values_mut() {
                sub.collected.missed_pages = true;
            }
        }
        Ok(())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        if live.exiting {
            // The exit handler has removed it (or is about to).
            self.tracer.instance.removed = true;
            return;
        }
        // A failure is printed by Instance's Drop, which retries once more.
        let _ = self.tracer.instance.remove();
        let path = &self.tracer.instance.path;
        live.paths.retain(|p| p != path);
    }
}

type HubCell = Arc<OnceLock<Result<Arc<Hub>, String>>>;

/// The shared hubs by scope (normally one: the lab's addresses).
static HUBS: Mutex<Vec<(Vec<IpAddr>, HubCell)>> = Mutex::new(Vec::new());

/// The instance paths of live hubs, for the exit handler; once it has run,
/// `exiting` refuses new ones.
struct Live {
    exiting: bool,
    paths: Vec<PathBuf>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    exiting: false,
    paths: Vec::new(),
});
static AT_EXIT: std::sync::Once = std::sync::Once::new();

fn hub_cell(scope: &[IpAddr]) -> HubCell {
    let mut hubs = HUBS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, cell)) = hubs.iter().find(|(s, _)| s.as_slice() == scope) {
        return Arc::clone(cell);
    }
    let cell = HubCell::default();
    hubs.push((scope.to_vec(), Arc::clone(&cell)));
    cell
}

/// Makes the hub once; a failure is kept (as its message) so that later cases
/// do not try again, and reported to each of them.
fn init_hub(cell: &HubCell, scope: &[IpAddr]) -> Result<Arc<Hub>, TraceError> {
    cell.get_or_init(|| Hub::create(scope).map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(|why| TraceError::Unavailable { why })
}

pub(super) fn shared_hub(scope: &[IpAddr]) -> Result<Arc<Hub>, TraceError> {
    init_hub(&hub_cell(scope), scope)
}

fn unregister_live(path: &Path) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.paths.retain(|p| p != path);
}

/// The exit handler: removes every shared instance of the process.
///
/// Equivalent to: `rmdir /sys/kernel/tracing/instances/synlab-<pid>-*` at exit.
extern "C" fn remove_shared_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.exiting = true;
        for path in std::mem::take(&mut live.paths) {
            let mut instance = Instance {
                path,
                removed: false,
            };
            if let Err(e) = instance.remove() {
                eprintln!("synlab: tracefs instance left behind: {e}");
            }
            instance.removed = true;
        }
    });
}

//! [`SharedTrace`]: a case's subscription to the process's shared instance, with
//! the log that a private instance would have given it.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::collect::{Collected, assemble};
use super::error::TraceError;
use super::hub::{Hub, Sub, shared_hub};
use super::log::{TraceInfo, TraceLog};
use super::spec::TraceSpec;

/// A state trace on the process's shared instance: the same log as a
/// [`StateTrace`] of `spec`, without making and removing an instance per case.
///
/// Why one instance serves every case of the process: the kernel filter only
/// needs the lab's addresses, which every case shares (`scope`), and the rest
/// is already done in userspace per case: each subscriber keeps the records
/// that match its addresses and ports, from the moment it subscribed, and
/// attributes them to its own owner threads ([`Owner::Own`] /
/// [`Owner::TupleOnly`]), exactly as a private instance would. One instance
/// also means one filter check per TCP state change on the host instead of
/// one per running case.
///
/// The instance is made on first use (or ahead of it: [`prepare_shared`]) and
/// lives until [`shutdown_shared`] or the process exits: an exit handler
/// (`atexit`, which runs when `main` returns or `std::process::exit` is called)
/// removes it. A process killed by a signal cannot; the next start removes
/// what it left ([`remove_stale_instances`]).
///
/// [`StateTrace`]: super::StateTrace
/// [`Owner::Own`]: super::Owner::Own
/// [`Owner::TupleOnly`]: super::Owner::TupleOnly
/// [`prepare_shared`]: super::prepare_shared
/// [`shutdown_shared`]: super::shutdown_shared
/// [`remove_stale_instances`]: super::remove_stale_instances
pub struct SharedTrace {
    hub: Arc<Hub>,
    id: u64,
    spec: TraceSpec,
}

impl SharedTrace {
    /// Subscribes `spec` to the shared instance for `scope` (made now, or
    /// waited for if [`prepare_shared`] is making it). Every address of `spec`
    /// must be in `scope`, the addresses the instance's kernel filter lets
    /// through. Call it before the case makes its sockets.
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
        let id = state.next;
        state.next += 1;
        state.subs.insert(
            id,
            Sub {
                spec: spec.clone(),
                from_ts: hub.tracer.now(),
                lost_before: hub.tracer.lost_events(),
                collected: Collected::default(),
            },
        );
        drop(state);
        Ok(SharedTrace { hub, id, spec })
    }

    /// How the shared instance was set up.
    pub fn info(&self) -> &TraceInfo {
        &self.hub.tracer.info
    }

    /// Everything so far (see [`StateTrace::snapshot`]).
    ///
    /// [`StateTrace::snapshot`]: super::StateTrace::snapshot
    pub fn snapshot(&self) -> Result<TraceLog, TraceError> {
        let mut state = self.hub.lock();
        self.hub.drain(&mut state)?;
        let sub = state.subs.get(&self.id).ok_or_else(gone)?;
        Ok(self.log_of(sub))
    }

    /// Reads the rest and unsubscribes; the instance stays for the next case.
    pub fn stop(self) -> Result<TraceLog, TraceError> {
        let mut state = self.hub.lock();
        self.hub.drain(&mut state)?;
        let sub = state.subs.remove(&self.id).ok_or_else(gone)?;
        drop(state);
        Ok(self.log_of(&sub))
    }

    /// The subscriber's records as a log, with the events the instance lost
    /// since it subscribed.
    fn log_of(&self, sub: &Sub) -> TraceLog {
        let lost = self
            .hub
            .tracer
            .lost_events()
            .saturating_sub(sub.lost_before);
        assemble(&sub.collected, &self.spec, &self.hub.tracer.info, lost)
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
        why: "the shared trace was shut down while the case ran".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::{Arc, Barrier, Mutex};

    use super::*;
    use crate::observe::trace::testnet::*;
    use crate::observe::trace::{Owner, shutdown_shared};

    /// The shared-instance tests run one at a time: `shutdown_shared` removes
    /// every shared instance of the process.
    static SHARED: Mutex<()> = Mutex::new(());

    fn one_shared_test() -> std::sync::MutexGuard<'static, ()> {
        SHARED.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn shared_trace_gives_parallel_cases_the_same_events_with_one_stamp() {
        require_root();
        let _one = one_shared_test();
        // Its own scope: its own shared instance, whatever other tests do.
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 41));
        let barrier = Arc::new(Barrier::new(2));
        let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
        let a = std::thread::spawn(move || {
            in_netns(move || server_closes_first(ip, 40041, 40042, Some(b1), true))
        });
        let b = std::thread::spawn(move || {
            in_netns(move || server_closes_first(ip, 40041, 40042, Some(b2), true))
        });
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        for run in [&a, &b] {
            assert_close_first_sequences(run);
            assert!(
                run.log.info.kernel_filter.contains("saddr == 0x")
                    && !run.log.info.kernel_filter.contains("sport"),
                "the shared filter is by address only: {}",
                run.log.info.kernel_filter
            );
        }
        assert_eq!(a.log.info.instance, b.log.info.instance, "one instance");
        // Each saw the other's sockets as tuple-only, as the very same records.
        let own = |log: &TraceLog| log.own_changes().cloned().collect::<Vec<_>>();
        let others = |log: &TraceLog| {
            log.changes
                .iter()
                .filter(|c| c.owner == Owner::TupleOnly)
                .map(|c| (c.at_ns, c.side, c.old, c.new))
                .collect::<Vec<_>>()
        };
        let same = |log: &TraceLog| {
            own(log)
                .iter()
                .map(|c| (c.at_ns, c.side, c.old, c.new))
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&a.log), same(&b.log), "a's tuple-only are b's own");
        assert_eq!(others(&b.log), same(&a.log), "b's tuple-only are a's own");
    }

    #[test]
    fn shared_trace_sees_nothing_from_before_it_started() {
        require_root();
        let _one = one_shared_test();
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 42));
        in_netns(move || {
            // An earlier "case" on the same instance, same tuple, same thread.
            let first = server_closes_first(ip, 40051, 40052, None, true);
            assert_close_first_sequences(&first);
            let spec = TraceSpec::new([ip]).ports([40051, 40052]).owner(gettid());
            let later = SharedTrace::start(&[ip], spec).expect("subscribe again");
            let log = later.stop().expect("stop");
            assert!(log.changes.is_empty(), "seen:\n{}", lines(&log));
        });
    }

    #[test]
    fn shared_trace_refuses_addresses_outside_its_scope() {
        let spec = TraceSpec::new([IpAddr::V4(Ipv4Addr::new(127, 0, 0, 43))]);
        let err = SharedTrace::start(&[LOCALHOST4], spec).expect_err("outside the scope");
        assert!(err.is_unavailable(), "{err}");
        let err = SharedTrace::start(&[LOCALHOST4], TraceSpec::default()).expect_err("any address");
        assert!(err.is_unavailable(), "{err}");
    }

    #[test]
    fn shutdown_shared_removes_the_instance_and_the_next_start_makes_one() {
        require_root();
        let _one = one_shared_test();
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 44));
        let first = SharedTrace::start(&[ip], TraceSpec::new([ip])).expect("start");
        let instance = first.info().instance.clone();
        assert!(instance.is_dir());
        first.stop().expect("stop");
        assert!(
            instance.is_dir(),
            "the shared instance outlives its subscribers"
        );
        shutdown_shared();
        assert!(
            !instance.exists(),
            "{} is left after shutdown_shared()",
            instance.display()
        );
        let again = SharedTrace::start(&[ip], TraceSpec::new([ip])).expect("start again");
        let made = again.info().instance.clone();
        assert_ne!(made, instance);
        assert!(made.is_dir());
        drop(again);
        shutdown_shared();
        assert!(!made.exists());
    }
}

//! [`StateTrace`]: a trace on a private tracefs instance of its own, made at
//! start and removed at stop or drop.

use std::fmt;
use std::sync::Mutex;

use super::collect::{Collected, assemble};
use super::error::TraceError;
use super::instance::{Instance, next_instance_name, remove_stale_instances_in};
use super::log::{StateChange, TraceInfo, TraceLog};
use super::reaper::start_reaper;
use super::spec::TraceSpec;
use super::tracefs::tracefs_root;
use super::tracer::Tracer;

/// A running state trace: a private tracefs instance with the events enabled.
/// Dropping it disables the events and removes the instance (the guard).
///
/// Use: start it once the namespace threads exist (their tids go into
/// [`TraceSpec::owners`]) and before any socket is made; stop it after the
/// namespaces are gone, so the last changes (sockets closed as the owner
/// threads exit) are in the log and every child socket is proved own.
///
/// Making and removing an instance costs the kernel several RCU grace periods
/// (about 40 ms each way here): a process that traces many cases uses
/// [`SharedTrace`] instead, which pays that once.
///
/// [`SharedTrace`]: super::SharedTrace
pub struct StateTrace {
    tracer: Tracer,
    spec: TraceSpec,
    collected: Mutex<Collected>,
}

impl StateTrace {
    /// Makes a private instance, filters it to `spec`, and enables
    /// `sock:inet_sock_set_state` (and the reset events when present).
    /// Call it before the case makes its sockets.
    ///
    /// Equivalent to: `mkdir /sys/kernel/tracing/instances/synlab-<pid>-<n>`,
    /// `echo tai > trace_clock`, `echo FILTER > events/sock/inet_sock_set_state/filter`,
    /// `echo 1 > events/sock/inet_sock_set_state/enable`
    pub fn start(spec: TraceSpec) -> Result<StateTrace, TraceError> {
        let (root, private) = tracefs_root()?;
        // Best effort: a failure to clean up others' leftovers must not stop us.
        let _ = remove_stale_instances_in(&root);
        let name = next_instance_name();
        // Drop removes the instance; the reaper does it when the process is killed.
        start_reaper(&name, private).map_err(|e| TraceError::Unavailable {
            why: format!("cannot start the process that removes the instance after a kill: {e}"),
        })?;
        let instance = Instance::create(&root.join("instances"), &name)?;
        let tracer = Tracer::setup(instance, &spec)?;
        Ok(StateTrace {
            tracer,
            spec,
            collected: Mutex::new(Collected::default()),
        })
    }

    /// How the trace was set up.
    pub fn info(&self) -> &TraceInfo {
        &self.tracer.info
    }

    /// The state changes so far. Ownership is final only after [`StateTrace::stop`]:
    /// a server's child socket becomes [`Owner::Own`] when the server closes it.
    ///
    /// [`Owner::Own`]: super::Owner::Own
    pub fn events(&self) -> Result<Vec<StateChange>, TraceError> {
        Ok(self.snapshot()?.changes)
    }

    /// Everything so far (reads the kernel's buffer, which it consumes).
    pub fn snapshot(&self) -> Result<TraceLog, TraceError> {
        let mut collected = self.lock();
        self.drain(&mut collected)?;
        let lost = self.tracer.lost_events();
        Ok(assemble(&collected, &self.spec, &self.tracer.info, lost))
    }

    /// Disables the events, reads the rest, removes the instance.
    pub fn stop(mut self) -> Result<TraceLog, TraceError> {
        self.tracer.instance.write("events/enable", "0")?;
        let mut collected = std::mem::take(&mut *self.lock());
        self.drain(&mut collected)?;
        let lost = self.tracer.lost_events();
        self.tracer.instance.remove()?;
        Ok(assemble(&collected, &self.spec, &self.tracer.info, lost))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Collected> {
        // The data stays consistent even if a reader panicked: records are
        // only ever appended whole.
        self.collected.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn drain(&self, collected: &mut Collected) -> Result<(), TraceError> {
        let spec = &self.spec;
        let records = &mut collected.records;
        let missed = self.tracer.drain(|record| {
            if spec.matches(record.src, record.dst) {
                records.push(record);
            }
        })?;
        collected.missed_pages |= missed;
        Ok(())
    }
}

impl fmt::Debug for StateTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateTrace")
            .field("info", &self.tracer.info)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    //! Most of these run real connections in private network namespaces
    //! (`testnet`): they need root and fail with a clear message without it.

    use std::io;
    use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
    use std::sync::{Arc, Barrier};

    use super::*;
    use crate::observe::diag::TcpState::*;
    use crate::observe::trace::testnet::*;
    use crate::observe::trace::{Owner, ResetDirection, Side};

    #[test]
    fn a_trace_can_move_between_threads_and_be_shared() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<StateTrace>();
        send_sync::<TraceLog>();
        send_sync::<TraceError>();
    }

    #[test]
    fn server_close_first_shows_fin_wait_on_the_server_and_last_ack_on_the_client() {
        require_root();
        let run = in_netns(|| server_closes_first(LOCALHOST4, 40001, 40002, None, false));
        assert_close_first_sequences(&run);
        assert!(
            run.log.info.kernel_filter.contains("saddr == 0x"),
            "{}",
            run.log.info.kernel_filter
        );
    }

    #[test]
    fn ipv6_server_close_first_is_traced_by_family_and_ports() {
        require_root();
        let run = in_netns(|| {
            server_closes_first(IpAddr::V6(Ipv6Addr::LOCALHOST), 40031, 40032, None, false)
        });
        assert_close_first_sequences(&run);
        let filter = &run.log.info.kernel_filter;
        assert!(
            filter.contains("family == 10") && !filter.contains("saddr"),
            "{filter}"
        );
        assert!(run.log.changes.iter().all(|c| c.src.is_ipv6()));
    }

    #[test]
    fn parallel_cases_with_the_same_tuple_each_own_only_their_sockets() {
        require_root();
        let barrier = Arc::new(Barrier::new(2));
        let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
        let a = std::thread::spawn(move || {
            in_netns(move || server_closes_first(LOCALHOST4, 40011, 40012, Some(b1), false))
        });
        let b = std::thread::spawn(move || {
            in_netns(move || server_closes_first(LOCALHOST4, 40011, 40012, Some(b2), false))
        });
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        for run in [&a, &b] {
            assert_close_first_sequences(run);
        }
        // Each trace saw the other case's events too, as tuple-only, and
        // exactly those. Each instance stamps an event when it writes it, so
        // the same event differs by the cost of writing it elsewhere first.
        let own = |log: &TraceLog| log.own_changes().cloned().collect::<Vec<_>>();
        let others = |log: &TraceLog| {
            log.changes
                .iter()
                .filter(|c| c.owner == Owner::TupleOnly)
                .cloned()
                .collect::<Vec<_>>()
        };
        for (name, seen, theirs) in [
            ("a", others(&a.log), own(&b.log)),
            ("b", others(&b.log), own(&a.log)),
        ] {
            let key = |c: &StateChange| (c.side, c.old, c.new);
            assert_eq!(
                seen.iter().map(key).collect::<Vec<_>>(),
                theirs.iter().map(key).collect::<Vec<_>>(),
                "{name}'s tuple-only events are the other case's own"
            );
            let skew = seen
                .iter()
                .zip(&theirs)
                .map(|(x, y)| x.at_ns.abs_diff(y.at_ns))
                .max();
            assert!(
                skew < Some(50_000),
                "{name}: the same event {skew:?} ns apart"
            );
        }
    }

    #[test]
    fn connect_to_a_closed_port_traces_both_resets() {
        require_root();
        let log = in_netns(|| {
            let server = SocketAddr::from(([127, 0, 0, 1], 40021));
            let spec = TraceSpec::new([server.ip()])
                .ports([40021])
                .server(server)
                .owner(gettid());
            let trace = AnyTrace::start(false, &[], spec);
            let refused = TcpStream::connect(server).expect_err("nothing listens");
            assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
            wait_for(&trace, "the client to close", |log| {
                saw(log, Side::Client, SynSent, Close)
            });
            trace.stop().expect("stop")
        });
        assert_eq!(
            sequences(&log, Side::Client),
            vec![vec![(Close, SynSent), (SynSent, Close)]]
        );
        assert!(log.info.resets, "reset events are traced on this kernel");
        assert_eq!(log.resets.len(), 2, "resets:\n{}", lines(&log));
        let (sent, received) = (&log.resets[0], &log.resets[1]);
        assert_eq!(sent.direction, ResetDirection::Sent);
        assert_eq!(sent.side, Some(Side::Server));
        assert_eq!(sent.sock, 0);
        assert_eq!(sent.owner, Owner::TupleOnly, "no socket: cannot be proved");
        if let Some(reason) = &sent.reason {
            assert_eq!(reason, "NO_SOCKET");
        }
        assert_eq!(received.direction, ResetDirection::Received);
        assert_eq!(received.side, Some(Side::Client));
        assert_eq!(received.owner, Owner::Own);
        assert!(sent.at_ns <= received.at_ns);
    }

    #[test]
    fn drop_removes_the_instance() {
        require_root();
        let trace = StateTrace::start(TraceSpec::new(["198.18.0.1".parse().unwrap()]))
            .expect("start the state trace");
        let instance = trace.info().instance.clone();
        assert!(instance.is_dir());
        drop(trace);
        assert!(
            !instance.exists(),
            "{} is left after drop",
            instance.display()
        );
    }
}

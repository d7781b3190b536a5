//! Leaves the release of the perf events to a kernel worker, so that the
//! process exits without waiting for it.
//!
//! Why: when the last perf event of a tracepoint goes away,
//! `perf_trace_event_unreg()` calls `tracepoint_synchronize_unregister()`, RCU
//! grace periods that took 30-50 ms per tracepoint here (6.18, 2 CPUs), one
//! tracepoint after the other under `event_mutex`. Closed by the exiting
//! process (its fds and mappings are released in `do_exit()`, before its parent
//! is told), three tracepoints made every exit some 130 ms longer.
//!
//! How: the events are registered as fixed files of an io_uring (no request is
//! ever submitted) and this process closes its own descriptors. At exit only the
//! ring's descriptor is closed here; the ring's teardown, `io_ring_exit_work()`,
//! runs on a kernel worker, and its `fput()` of the events, from a kernel
//! thread, goes to the delayed-fput worker. The exit took 0.05 ms with the
//! events handed over, the same as without events (a C program; `costs.rs`
//! measures the same with a test process: 103 ms with the events open, 1-5 ms
//! handed over). The events still die with
//! the process, also on SIGKILL: nothing of ours outlives it but the kernel's
//! own cleanup.
//!
//! The kernel still pays the grace periods, on its worker, holding
//! `event_mutex` for each: for some 100 ms after the exit, a process that
//! opens these events or reads a tracefs `format` file waits for it. Measured
//! with processes that open the events one after the other: one that starts
//! within a few ms of the previous exit finds the tracepoints still registered
//! (its open took 0.2 ms, and the old events' release is then not the last, so
//! it has no grace period to wait for); one that starts 30-120 ms after it
//! waited up to 100 ms in `perf_event_open`; one 200 ms later paid nothing.
//! Back-to-back one-case `synlab run`s met it in about 1 run of 5.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::io_uring::{IoringRegisterOp, io_uring_params, io_uring_register, io_uring_setup};

/// Registers `events` as fixed files of a new io_uring and returns the ring,
/// which now holds a reference to each; the caller may close its descriptors.
/// Fails where io_uring is unavailable (`kernel.io_uring_disabled`, seccomp,
/// Linux < 5.1); the caller then keeps the events open and the exit waits.
///
/// Equivalent to: `io_uring_setup(1, {})`,
/// `io_uring_register(ring, IORING_REGISTER_FILES, events, n)`
pub(super) fn hand_over<'a>(
    events: impl IntoIterator<Item = BorrowedFd<'a>>,
) -> io::Result<OwnedFd> {
    let fds: Vec<RawFd> = events.into_iter().map(|e| e.as_raw_fd()).collect();
    let mut params = io_uring_params::default();
    // SAFETY: no flags are set, so no field of `params` names a descriptor.
    let ring = unsafe { io_uring_setup(1, &mut params) }?;
    let n = u32::try_from(fds.len()).map_err(io::Error::other)?;
    // SAFETY: IORING_REGISTER_FILES reads `n` descriptors from `fds`, which
    // lives across the call; each is an open perf event.
    unsafe {
        io_uring_register(
            &ring,
            IoringRegisterOp::RegisterFiles,
            fds.as_ptr().cast::<c_void>(),
            n,
        )
    }?;
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd};

    use super::*;
    use crate::observe::trace::clock::RECORD_CLOCK;
    use crate::observe::trace::decode::Decoder;
    use crate::observe::trace::perf::open_tracepoint;
    use crate::observe::trace::testnet::require_root;

    #[test]
    fn the_ring_holds_the_events_after_we_close_them() {
        require_root();
        let (decoder, _) = Decoder::load().expect("the event formats");
        let id = decoder.state.id.map(u64::from).expect("an id");
        let event = open_tracepoint(id, 0, RECORD_CLOCK).expect("perf_event_open");
        let ring = hand_over([event.as_fd()]).expect("io_uring");
        drop(event);
        // The event's descriptor is closed now; the ring still lists it.
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", ring.as_raw_fd()))
            .expect("the ring's fdinfo");
        assert!(
            info.contains("UserFiles:\t1\n") && info.contains("anon_inode:[perf_event]"),
            "{info}"
        );
    }
}

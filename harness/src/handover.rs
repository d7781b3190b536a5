//! Closes file descriptors whose last close is slow on a kernel worker, so
//! neither a case nor the process exit waits for it. Two kinds are slow here:
//! perf events (the last event of a tracepoint waits for RCU grace periods in
//! `perf_trace_event_unreg()`, 30-50 ms per tracepoint on 6.18 with 2 CPUs) and
//! AF_PACKET sockets (`packet_release()` waits in `synchronize_net()`, 5-15 ms).
//! Closed by an exiting process, they make its exit that much longer: its
//! descriptors are released in `do_exit()`, before its parent is told.
//!
//! How: the descriptors are registered as fixed files of an io_uring (no
//! request is ever submitted) and this process closes its own. When the ring's
//! descriptor is closed (at once, or at exit), its teardown,
//! `io_ring_exit_work()`, runs on a kernel worker, and its `fput()` of the
//! files, from a kernel thread, goes to the delayed-fput worker. An exit took
//! 0.05 ms with perf events handed over, the same as without any (a C program;
//! a test process measured 103 ms with the events open, 1-5 ms handed over;
//! `synlab bench`'s one-case process row is the whole-process view). Everything still dies with the process,
//! also on SIGKILL: nothing of ours outlives it but the kernel's own cleanup.
//!
//! The kernel still pays the grace periods, on its worker. For perf events it
//! holds `event_mutex` meanwhile: for some 100 ms after the exit, a process that
//! opens these events or reads a tracefs `format` file waits for it (measured:
//! one that starts 30-120 ms after the previous exit waited up to 100 ms; one
//! within a few ms or 200 ms later paid nothing).

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::io_uring::{IoringRegisterOp, io_uring_params, io_uring_register, io_uring_setup};

/// Registers `events` as fixed files of a new io_uring and returns the ring,
/// which now holds a reference to each; the caller may close its descriptors.
/// Fails where io_uring is unavailable (`kernel.io_uring_disabled`, seccomp,
/// Linux < 5.1); the caller then keeps the descriptors and pays the close.
///
/// Equivalent to: `io_uring_setup(1, {})`,
/// `io_uring_register(ring, IORING_REGISTER_FILES, events, n)`
pub(crate) fn hand_over<'a>(
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

/// Closes `fd` on a kernel worker (see the module doc); where io_uring is
/// unavailable, on a short-lived thread of ours instead, so at least the
/// caller does not wait.
pub(crate) fn close_in_kernel(fd: OwnedFd) {
    match hand_over([fd.as_fd()]) {
        Ok(ring) => {
            drop(fd);
            drop(ring);
        }
        // When no thread can be started, `spawn` drops the closure, and the
        // descriptor with it, right here.
        Err(_) => {
            let _ = std::thread::Builder::new()
                .name("synlab-close".into())
                .spawn(move || drop(fd));
        }
    }
}

/// An owned descriptor that is closed on a kernel worker when dropped
/// ([`close_in_kernel`]).
#[derive(Debug)]
pub(crate) struct ClosedInKernel(Option<OwnedFd>);

impl ClosedInKernel {
    pub fn new(fd: OwnedFd) -> ClosedInKernel {
        ClosedInKernel(Some(fd))
    }
}

impl AsFd for ClosedInKernel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // `Some` from `new` until `drop` takes it.
        self.0.as_ref().map_or_else(
            || unreachable!("a ClosedInKernel holds its descriptor until dropped"),
            AsFd::as_fd,
        )
    }
}

impl AsRawFd for ClosedInKernel {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl Drop for ClosedInKernel {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            close_in_kernel(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_ring_holds_a_descriptor_after_we_close_ours() {
        let (r, w) = nix::unistd::pipe().expect("a pipe");
        let ring = hand_over([w.as_fd()]).expect("io_uring");
        drop(w);
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", ring.as_raw_fd()))
            .expect("the ring's fdinfo");
        assert!(
            info.contains("UserFiles:\t1\n") && info.contains("pipe:"),
            "{info}"
        );
        drop((r, ring));
    }

    #[test]
    fn a_descriptor_closed_in_the_kernel_is_closed_soon_after() {
        let (r, w) = nix::unistd::pipe().expect("a pipe");
        close_in_kernel(w);
        // The reader sees end-of-file once the kernel worker has released the
        // write end: read until then, with a deadline.
        let mut reader = std::fs::File::from(r);
        nix::fcntl::fcntl(
            &reader,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .expect("non-blocking");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 1];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => panic!("nothing was written"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "the write end was still open 5 s after close_in_kernel"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

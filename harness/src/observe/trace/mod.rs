//! The TCP state timeline of one case, from the kernel's `sock:inet_sock_set_state`
//! trace event (what `tcpstates` uses), plus `tcp:tcp_send_reset` and
//! `tcp:tcp_receive_reset`, recorded with `perf_event_open(2)`: which states
//! each side's sockets went through, and when, on the capture's clock.
//!
//! Design, with the evidence from Linux 6.18 on this 2-CPU machine:
//! - **Nothing on the host to undo**: the events are perf events on every
//!   online CPU, each CPU's events writing into one mmap'd ring (`tracer.rs`);
//!   descriptors and mappings die with the process, SIGKILL included. tracefs is
//!   only read, for the events' ids and field offsets (`tracefs.rs`).
//! - **Costs**: opening the 3 events on 2 CPUs took 0.7-0.9 ms; closing the
//!   last perf event of a tracepoint waits 30-52 ms in
//!   `tracepoint_synchronize_unregister()`, so the kernel releases them
//!   (`handover.rs`). `synlab bench` shows it as a whole process.
//! - **One set of events per process** ([`SharedTrace`]), filtered in the kernel
//!   by the lab's addresses (`filter.rs`); each case subscribes with its own
//!   [`TraceSpec`]. The event carries no namespace: a socket is the case's own
//!   when one of its events ran in task context on one of the case's namespace
//!   threads (`owner.rs`).
//! - **TIME_WAIT is not an event**: `tcp_time_wait()` hands the connection to a
//!   timewait mini-socket and the full socket goes `FIN_WAIT2 -> CLOSE`;
//!   sock_diag (`observe::diag`) shows the TIME_WAIT socket.
//! - **CPUs** that come online after the events were opened are not traced.
//!
//! Tests that need internals (root for most) are in the test-only folder
//! `tests/`; what a case's trace shows end to end, through `synlab run`, in
//! the workspace's `tests/trace.rs`.

mod clock;
mod decode;
mod error;
mod filter;
mod format;
mod hub;
mod log;
mod owner;
mod perf;
mod record;
mod ring;
mod shared;
mod spec;
mod tracefs;
mod tracer;

#[cfg(test)]
mod tests;

pub use error::TraceError;
pub use hub::prepare_shared;
#[cfg(test)]
pub use log::Context;
pub use log::{Owner, Reset, ResetDirection, Side, StateChange, TraceLog, kernel_name};
pub use shared::SharedTrace;
pub use spec::TraceSpec;

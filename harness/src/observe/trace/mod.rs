//! The TCP state timeline of one case, from the kernel's `sock:inet_sock_set_state`
//! trace event (what `tcpstates` uses), plus `tcp:tcp_send_reset` and
//! `tcp:tcp_receive_reset`, read through a private tracefs instance that is
//! removed afterwards. It proves which states each side's sockets went through,
//! and when, on the same clock as the capture (CLOCK_REALTIME, nanoseconds).
//!
//! Design, with the evidence from Linux 6.18 (the machine this was written on):
//! - **Private instances**: `instances/synlab-<pid>-<n>` (mkdir creates a ring
//!   buffer with its own events, filters and clock; rmdir removes it).
//!   [`remove_stale_instances`] removes those of dead processes (SIGKILL skips
//!   `Drop`); making an instance calls it first.
//! - **One instance per process for the cases** ([`SharedTrace`]): making an
//!   instance costs about 40 ms here and removing it another 40 ms, nearly all
//!   of it RCU grace periods (`trace_clock` resets the buffers with
//!   `synchronize_rcu()`, resizing and `rmdir` wait for more), several times
//!   the cost of a whole case. The cases of a process share one instance,
//!   filtered in the kernel by the lab's addresses only; each case subscribes
//!   with its own [`TraceSpec`] and gets exactly what a private instance would
//!   have given it (its addresses and ports, from its start on, attributed to
//!   its own threads). The instance is made while the first case builds its
//!   lab and removed when the process exits (an `atexit` handler), or earlier
//!   by [`shutdown_shared`]. [`StateTrace`] keeps a private instance per trace.
//! - **Binary reading**: the instance's `per_cpu/cpuN/trace_pipe_raw` ring-buffer
//!   pages are decoded with the offsets of each event's `format` file. The text
//!   `trace_pipe` prints microseconds only (`trace_print_context()`: `%5lu.%06lu`),
//!   has no `skaddr` for this event, and with the `fields` option prints
//!   `saddr_v6=<INVALID-SIZE>`; the pages carry nanoseconds, `skaddr`, the IPv6
//!   addresses, and the task and irq context of every event.
//! - **Clock `tai`** (the kernel offers `local global counter uptime perf mono
//!   mono_raw boot tai x86-tsc`, no realtime): CLOCK_TAI is CLOCK_REALTIME plus a
//!   whole number of seconds (the kernel's TAI offset, 0 unless NTP set it), so
//!   `at_ns = tai - offset` is exact and follows steps of the wall clock like the
//!   capture's SO_TIMESTAMPNS stamps do. Kernels without `tai` get `mono` plus
//!   (REALTIME - MONOTONIC) measured at start, and [`TraceInfo::clock`] says so.
//! - **Kernel filter**: `__u8 saddr[4]` is compared as a host-order `u32`
//!   (`saddr == 0x010012c6` is 198.18.0.1 on x86; 198.18.0.1 as text is refused),
//!   `__u8 saddr_v6[16]` cannot be compared at all (`saddr_v6 == 0` and
//!   `saddr_v6 != 0` both silently drop every event), so IPv4 is filtered by
//!   address in the kernel, IPv6 by family and ports, and every event is checked
//!   again in userspace against the addresses and ports.
//! - **Attribution**: parallel cases use the same addresses and ports in
//!   different namespaces, and the event carries no namespace, so the tuple
//!   cannot tell cases apart. Every socket is created, connected, accepted and
//!   closed by the case's own namespace threads, in task context; the kernel
//!   records that thread's id and the context with each event. A socket
//!   incarnation (one `skaddr` from `CLOSE -> x` or `LISTEN -> SYN_RECV` to
//!   `x -> CLOSE`) is the case's own ([`Owner::Own`]) when one of its events ran
//!   in task context on a thread given in [`TraceSpec::owners`]; the other
//!   events that match the tuple are kept as [`Owner::TupleOnly`].
//! - **Each instance stamps an event when it writes it**: with parallel private
//!   traces the same kernel event lands in every matching instance, and its
//!   times differ by the cost of the writes before (0.2-0.8 us here); on the
//!   shared instance it is one record with one stamp. Every instance also costs
//!   each TCP state change on the host one filter check.
//! - **TIME_WAIT is not an event**: `tcp_time_wait()` hands the connection to a
//!   timewait mini-socket and `tcp_done()` moves the full socket to CLOSE, so the
//!   server's close-first sequence ends `FIN_WAIT2 -> CLOSE` (checked by the
//!   tests in `testnet.rs`); sock_diag (`observe::diag`) shows the TIME_WAIT socket.
//! - **tracefs is never mounted on the host**: when `/sys/kernel/tracing` has no
//!   tracefs, a thread mounts one in a private mount namespace that dies with
//!   the process (`tracefs::private_tracefs`); [`TraceInfo::mounted_tracefs`] records it.

/// Where tracefs is mounted (or mounted privately by `tracefs`).
const TRACEFS: &str = "/sys/kernel/tracing";

mod clock;
mod collect;
mod decode;
mod error;
mod filter;
mod format;
mod hub;
mod instance;
mod log;
mod owner;
mod reaper;
mod ring;
mod shared;
mod spec;
mod state_trace;
mod tracefs;
mod tracer;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod testnet;

pub use error::TraceError;
pub use hub::{prepare_shared, shutdown_shared};
pub use instance::remove_stale_instances;
pub use log::{
    Context, Owner, Reset, ResetDirection, Side, StateChange, TraceInfo, TraceLog, kernel_name,
};
pub use shared::SharedTrace;
pub use spec::TraceSpec;
pub use state_trace::StateTrace;

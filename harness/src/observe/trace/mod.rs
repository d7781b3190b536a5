//! The TCP state timeline of one case, from the kernel's `sock:inet_sock_set_state`
//! trace event (what `tcpstates` uses), plus `tcp:tcp_send_reset` and
//! `tcp:tcp_receive_reset`, recorded with `perf_event_open(2)`. It proves which
//! states each side's sockets went through, and when, on the same clock as the
//! capture (CLOCK_REALTIME, nanoseconds).
//!
//! Design, with the evidence from Linux 6.18 on this 2-CPU machine:
//! - **perf events, nothing on the host to undo**: each tracepoint is opened
//!   as a perf event on every online CPU (`PERF_TYPE_TRACEPOINT`, config = the
//!   id from its tracefs `format` file, pid -1, `PERF_SAMPLE_TID | TIME | RAW`);
//!   the reset events of a CPU write into its state event's ring
//!   (`PERF_EVENT_IOC_SET_OUTPUT`), one mmap'd ring per CPU, mapped writable so
//!   the kernel never overwrites what was not read. Descriptors and mappings
//!   die with the process, SIGKILL included: no tracefs instance, no reaper,
//!   no exit handler, nothing stale for the next run to clean.
//! - **Costs**: opening the 3 events on 2 CPUs took 0.7-0.9 ms when no one
//!   else traced these tracepoints (0.2 ms when they were registered already),
//!   mapping and redirecting 0.03 ms, filters 0.01-0.02 ms, enabling 0.06-0.09
//!   ms. Closing is cheap except for the last perf event of a tracepoint:
//!   `perf_trace_event_unreg()` then waits in `tracepoint_synchronize_unregister()`,
//!   30-52 ms per tracepoint, one after the other under `event_mutex`. A
//!   process exiting with the events open took 103-133 ms longer to exit, so
//!   the events are handed to the kernel for their release (`handover.rs`).
//!   `synlab bench` shows it as a whole process: its one-case `synlab run`
//!   row, and the row that starts 50 ms after another synlab exited.
//! - **One set of events per process** ([`SharedTrace`]): the cases of a
//!   process share the events, filtered in the kernel by the lab's addresses
//!   only; each case subscribes with its own [`TraceSpec`] and gets exactly its
//!   addresses and ports, from its start on, attributed to its own threads,
//!   with the same records and stamps that a parallel case sees.
//! - **Clock**: perf refuses `CLOCK_REALTIME` and `CLOCK_TAI` for tracepoints
//!   (EINVAL: `perf_event_set_clock()` takes only NMI-safe clocks for a PMU
//!   without `PERF_PMU_CAP_NO_NMI`), so the records carry CLOCK_MONOTONIC and
//!   each case adds REALTIME - MONOTONIC measured when it subscribed
//!   ([`TraceInfo::realtime_offset_ns`]); a step of the wall clock during a
//!   case would shift its trace against the capture.
//! - **Kernel filter** (`PERF_EVENT_IOC_SET_FILTER`, ftrace filter syntax):
//!   `__u8 saddr[4]` is compared as a host-order `u32` (`saddr == 0x010012c6`
//!   is 198.18.0.1 on x86; 198.18.0.1 as text is refused), `__u8 saddr_v6[16]`
//!   cannot be compared at all (`saddr_v6 == 0` and `saddr_v6 != 0` both
//!   silently drop every event), so IPv4 is filtered by address in the kernel,
//!   IPv6 by family, and every event is checked again in userspace against the
//!   case's addresses and ports. `tcp_send_reset` has only sockaddr fields: it
//!   is not filtered in the kernel.
//! - **Losses**: a ring found full when read counts as a loss at once (the
//!   kernel's `PERF_RECORD_LOST` comes only with the next record, maybe in
//!   another case's time); a throttle record counts too. 256 KiB per CPU is
//!   read at every case's start and stop.
//! - **Attribution**: parallel cases use the same addresses and ports in
//!   different namespaces, and the event carries no namespace, so the tuple
//!   cannot tell cases apart. Every socket is created, connected, accepted and
//!   closed by the case's own namespace threads, in task context; perf records
//!   that thread's id (`PERF_SAMPLE_TID`, in our pid namespace) and the event
//!   records the context (`common_flags`). A socket incarnation (one `skaddr`
//!   from `CLOSE -> x` or `LISTEN -> SYN_RECV` to `x -> CLOSE`) is the case's
//!   own ([`Owner::Own`]) when one of its events ran in task context on a thread
//!   given in [`TraceSpec::owners`]; the other events that match the tuple are
//!   kept as [`Owner::TupleOnly`].
//! - **TIME_WAIT is not an event**: `tcp_time_wait()` hands the connection to a
//!   timewait mini-socket and `tcp_done()` moves the full socket to CLOSE, so the
//!   server's close-first sequence ends `FIN_WAIT2 -> CLOSE` (checked by the
//!   tests in `nettests.rs`); sock_diag (`observe::diag`) shows the TIME_WAIT socket.
//! - **tracefs is only read, and never mounted on the host**: the event ids
//!   and field offsets come from the `format` files; when `/sys/kernel/tracing`
//!   has no tracefs, a short-lived thread mounts one in a private mount
//!   namespace, reads them and exits ([`TraceInfo::mounted_tracefs`]).
//! - **CPUs** that come online after the events were opened are not traced.

mod clock;
mod collect;
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
mod fixtures;
#[cfg(test)]
mod nettests;
#[cfg(test)]
mod testnet;

pub use error::TraceError;
pub use hub::prepare_shared;
#[cfg(test)]
pub use log::Context;
pub use log::{Owner, Reset, ResetDirection, Side, StateChange, TraceLog, kernel_name};
pub use shared::SharedTrace;
pub use spec::TraceSpec;

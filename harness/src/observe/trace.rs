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
//!   tests below); sock_diag (`observe::diag`) shows the TIME_WAIT socket.
//! - **tracefs is never mounted on the host**: when `/sys/kernel/tracing` has no
//!   tracefs, a thread mounts one in a private mount namespace that dies with
//!   the process ([`private_tracefs`]); [`TraceInfo::mounted_tracefs`] records it.

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::diag::TcpState;

/// Where tracefs lives on current systems.
const TRACEFS: &str = "/sys/kernel/tracing";
/// `f_type` of a tracefs mount (`include/uapi/linux/magic.h`).
const TRACEFS_MAGIC: i64 = 0x7472_6163;
/// Instance names are `synlab-<pid>-<n>`.
const INSTANCE_PREFIX: &str = "synlab-";
/// Per-CPU ring buffer of our instance. mkdir allocates the kernel default
/// (1.4 MB per CPU here); a case makes a few dozen 72-byte events after the
/// kernel filter, so this is plenty, and 16 parallel cases on 64 CPUs stay small.
const BUFFER_KB_PER_CPU: u32 = 128;
/// How long Drop retries `rmdir` while the kernel reports EBUSY (a reader of
/// the instance still open somewhere).
const RMDIR_RETRY: Duration = Duration::from_secs(1);

/// Ring-buffer event types (`include/linux/ring_buffer.h`); 1..=28 are data
/// events whose length is `type_len * 4`.
const RB_TYPE_PADDING: u32 = 29;
const RB_TYPE_TIME_EXTEND: u32 = 30;
const RB_TYPE_TIME_STAMP: u32 = 31;
/// Bits of a time delta in the event header; extends carry the upper bits.
const TS_SHIFT: u32 = 27;
/// The absolute time stamp keeps 59 bits; the top 5 come from the page.
const TS_MSB: u64 = 0xf8 << 56;
/// Flags in a page's `commit` word (`kernel/trace/ring_buffer.c`).
const RB_MISSED_EVENTS: u64 = 1 << 31;
const RB_MISSED_MASK: u64 = 3 << 30;

/// `common_flags` bits (`enum trace_flag_type`, include/linux/trace_events.h).
const TRACE_FLAG_HARDIRQ: u8 = 0x08;
const TRACE_FLAG_SOFTIRQ: u8 = 0x10;
const TRACE_FLAG_NMI: u8 = 0x40;

/// Instances made by this process get `n` from here.
static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(0);
/// Set once this process has mounted tracefs.
static MOUNTED_BY_US: AtomicBool = AtomicBool::new(false);
/// Serialises the look-then-mount of tracefs inside this process.
static MOUNT_LOCK: Mutex<()> = Mutex::new(());

/// Why a state trace could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The kernel or the privileges do not allow a trace; the caller falls back
    /// to sock_diag snapshots and says so, quoting `why`.
    #[error("state trace unavailable: {why}")]
    Unavailable {
        /// One sentence a person can act on.
        why: String,
    },
    /// A tracefs operation failed after the instance was made.
    #[error("{op}: {source}")]
    Io {
        /// What was done, like `write tai to .../trace_clock`.
        op: String,
        source: io::Error,
    },
    /// A tracefs `format` file that this module cannot read.
    #[error("{path}: unexpected format: {what}")]
    Format { path: PathBuf, what: String },
    /// A ring-buffer page that does not decode.
    #[error("{path}: malformed ring-buffer page: {what}")]
    Page { path: PathBuf, what: String },
}

impl TraceError {
    /// True when the environment cannot trace at all (as opposed to a failure
    /// part-way), so the caller should fall back to sock_diag.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, TraceError::Unavailable { .. })
    }
}

fn io_err(op: impl Into<String>) -> impl FnOnce(io::Error) -> TraceError {
    move |source| TraceError::Io {
        op: op.into(),
        source,
    }
}

/// What to trace and how to tell the case's own sockets from others.
#[derive(Debug, Clone, Default)]
pub struct TraceSpec {
    /// The case's addresses: an event is kept when its source or destination
    /// address is one of them (empty: any address).
    pub addrs: Vec<IpAddr>,
    /// The case's ports (server and client). When not empty, an event is kept
    /// only when its source or destination port is one of them; needed to keep
    /// out the host's IPv6 traffic, which the kernel cannot filter by address.
    pub ports: Vec<u16>,
    /// The server's listening address: names the side of each event.
    pub server: Option<SocketAddr>,
    /// Thread ids (gettid) of the threads that make and close the case's
    /// sockets, like `NsThread::tid()` of the server and client namespaces.
    /// Empty: nothing can be proved to be the case's own.
    pub owners: Vec<libc::pid_t>,
}

impl TraceSpec {
    /// A spec that keeps events to or from `addrs`.
    pub fn new(addrs: impl IntoIterator<Item = IpAddr>) -> TraceSpec {
        TraceSpec {
            addrs: addrs.into_iter().collect(),
            ..TraceSpec::default()
        }
    }

    /// Keep only events with one of these ports on either end.
    pub fn ports(mut self, ports: impl IntoIterator<Item = u16>) -> TraceSpec {
        self.ports.extend(ports);
        self
    }

    /// The server's listening address, to name each event's side.
    pub fn server(mut self, addr: SocketAddr) -> TraceSpec {
        self.server = Some(addr);
        self
    }

    /// A thread that owns sockets of the case (see [`TraceSpec::owners`]).
    pub fn owner(mut self, tid: libc::pid_t) -> TraceSpec {
        self.owners.push(tid);
        self
    }

    fn matches(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        let addr_ok = self.addrs.is_empty()
            || self.addrs.contains(&src.ip())
            || self.addrs.contains(&dst.ip());
        let port_ok = self.ports.is_empty()
            || self.ports.contains(&src.port())
            || self.ports.contains(&dst.port());
        addr_ok && port_ok
    }

    fn side(&self, src: SocketAddr, dst: SocketAddr) -> Option<Side> {
        let server = self.server?;
        if src == server {
            Some(Side::Server)
        } else if dst == server {
            Some(Side::Client)
        } else {
            None
        }
    }
}

/// Which end of the case an event belongs to, by the server's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Server,
    Client,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Server => "server",
            Side::Client => "client",
        })
    }
}

/// Where the kernel was when it changed the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    /// A system call of the thread in `tid` (listen, connect, close...).
    Task,
    /// Packet or timer processing; `tid` is whatever task was interrupted.
    Softirq,
    Hardirq,
    Nmi,
}

impl Context {
    fn from_flags(flags: u8) -> Context {
        if flags & TRACE_FLAG_NMI != 0 {
            Context::Nmi
        } else if flags & TRACE_FLAG_HARDIRQ != 0 {
            Context::Hardirq
        } else if flags & TRACE_FLAG_SOFTIRQ != 0 {
            Context::Softirq
        } else {
            Context::Task
        }
    }
}

/// Whether an event is proved to be the case's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// The socket was used in task context by one of [`TraceSpec::owners`]
    /// during this incarnation.
    Own,
    /// Only the addresses and ports matched: it may be another case's socket
    /// with the same tuple in another namespace (or one never touched by the
    /// owner threads, like a connection reset before accept).
    TupleOnly,
}

/// One TCP state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChange {
    /// CLOCK_REALTIME nanoseconds, the clock of the capture's SO_TIMESTAMPNS.
    pub at_ns: u64,
    /// The socket incarnation, numbered 1, 2, ... in order of first sight in
    /// this trace (the kernel's socket address stays out of reports: KASLR).
    pub sock: u32,
    /// The socket's local end (port 0 before a connect() picked one).
    pub src: SocketAddr,
    /// The socket's remote end (unspecified for a listener).
    pub dst: SocketAddr,
    #[serde(serialize_with = "ser_state")]
    pub old: TcpState,
    #[serde(serialize_with = "ser_state")]
    pub new: TcpState,
    pub side: Option<Side>,
    /// The task the kernel was running (the caller's thread in task context).
    pub tid: i32,
    pub context: Context,
    pub owner: Owner,
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = self.side.map_or("?".to_string(), |s| s.to_string());
        write!(
            f,
            "{} {side} {} > {} {} -> {} ({:?} {}, {:?})",
            self.at_ns,
            self.src,
            self.dst,
            kernel_name(self.old),
            kernel_name(self.new),
            self.context,
            self.tid,
            self.owner
        )
    }
}

/// Who sent or received a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetDirection {
    /// `tcp:tcp_send_reset`: this host sent a RST from `src` to `dst`.
    Sent,
    /// `tcp:tcp_receive_reset`: the socket `src` <- `dst` got a RST.
    Received,
}

/// A RST sent or received, to show in the timeline who reset whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reset {
    pub at_ns: u64,
    pub direction: ResetDirection,
    /// The socket incarnation as in [`StateChange::sock`]; 0 when no full
    /// socket of the timeline sent or got it (a RST for a segment to a closed
    /// port, or one sent by a timewait or request socket).
    pub sock: u32,
    /// The local end: the RST's source when sent.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The socket's state when sent (none without a socket, or when received).
    #[serde(serialize_with = "ser_opt_state")]
    pub state: Option<TcpState>,
    /// `enum sk_rst_reason` name, like `NO_SOCKET` (sent resets, 6.10+).
    pub reason: Option<String>,
    pub side: Option<Side>,
    pub tid: i32,
    pub context: Context,
    pub owner: Owner,
}

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = self.side.map_or("?".to_string(), |s| s.to_string());
        let what = match self.direction {
            ResetDirection::Sent => "sent RST",
            ResetDirection::Received => "received RST",
        };
        write!(
            f,
            "{} {side} {what} {} > {} state={} reason={} ({:?})",
            self.at_ns,
            self.src,
            self.dst,
            self.state.map_or("-", kernel_name),
            self.reason.as_deref().unwrap_or("-"),
            self.owner
        )
    }
}

/// How the trace was set up, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct TraceInfo {
    /// The instance directory (removed when the trace ends).
    pub instance: PathBuf,
    /// The ring buffer's clock: `tai` (exact) or `mono` (offset measured).
    pub clock: String,
    /// Added to the ring buffer's time to get CLOCK_REALTIME nanoseconds.
    pub realtime_offset_ns: i64,
    /// The filter the kernel accepted for `sock:inet_sock_set_state`
    /// (`none` when every candidate was refused).
    pub kernel_filter: String,
    /// Whether `tcp:tcp_send_reset` and `tcp:tcp_receive_reset` are traced.
    pub resets: bool,
    /// The host had no tracefs mounted: this process uses its private mount.
    pub mounted_tracefs: bool,
}

/// Everything a trace saw, sorted by time.
#[derive(Debug, Clone, Serialize)]
pub struct TraceLog {
    pub changes: Vec<StateChange>,
    pub resets: Vec<Reset>,
    /// Events the kernel dropped or overwrote (buffer full); 0 normally.
    pub lost_events: u64,
    pub info: TraceInfo,
}

impl TraceLog {
    /// The state changes proved to be the case's own.
    pub fn own_changes(&self) -> impl Iterator<Item = &StateChange> {
        self.changes.iter().filter(|c| c.owner == Owner::Own)
    }

    /// The case's own state changes of one side.
    pub fn side(&self, side: Side) -> impl Iterator<Item = &StateChange> {
        self.own_changes().filter(move |c| c.side == Some(side))
    }
}

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
pub struct StateTrace {
    tracer: Tracer,
    spec: TraceSpec,
    collected: Mutex<Collected>,
}

#[derive(Default)]
struct Collected {
    records: Vec<Record>,
    missed_pages: bool,
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
        let (root, _) = tracefs_root()?;
        // Best effort: a failure to clean up others' leftovers must not stop us.
        let _ = remove_stale_instances_in(&root);
        let instance = Instance::create(&root.join("instances"), &next_instance_name())?;
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

fn next_instance_name() -> String {
    format!(
        "{INSTANCE_PREFIX}{}-{}",
        std::process::id(),
        NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// An instance set up and enabled: what [`StateTrace`] and the shared hub
/// behind [`SharedTrace`] own.
struct Tracer {
    instance: Instance,
    info: TraceInfo,
    decoder: Decoder,
    page_size: usize,
    cpus: Vec<PathBuf>,
    /// The ring buffer's clock (CLOCK_TAI or CLOCK_MONOTONIC).
    clock: libc::clockid_t,
}

impl Tracer {
    /// Sets up a fresh `instance` with the kernel filter of `filter` and
    /// enables the events.
    fn setup(instance: Instance, filter: &TraceSpec) -> Result<Tracer, TraceError> {
        let state_dir = instance.path.join("events/sock/inet_sock_set_state");
        if !state_dir.join("format").exists() {
            return Err(TraceError::Unavailable {
                why: "this kernel has no sock:inet_sock_set_state trace event (Linux 4.16+)".into(),
            });
        }
        let decoder = Decoder::load(&instance.path)?;

        instance.write("buffer_size_kb", &BUFFER_KB_PER_CPU.to_string())?;
        // Keep the beginning of the story when the buffer fills; losses are counted.
        instance.write("options/overwrite", "0")?;
        let (clock, realtime_offset_ns) = set_clock(&instance)?;

        let kernel_filter = set_filter(&instance, "sock/inet_sock_set_state", filter, true)?;
        instance.write("events/sock/inet_sock_set_state/enable", "1")?;
        let mut resets = decoder.send_reset.is_some() && decoder.receive_reset.is_some();
        if resets {
            // tcp_send_reset's addresses are sockaddrs (no filterable field):
            // unfiltered, kept by the userspace check.
            set_filter(&instance, "tcp/tcp_receive_reset", filter, false)?;
            resets = instance
                .write("events/tcp/tcp_send_reset/enable", "1")
                .is_ok()
                && instance
                    .write("events/tcp/tcp_receive_reset/enable", "1")
                    .is_ok();
        }
        instance.write("tracing_on", "1")?;

        let page_size = page_size(&instance.path);
        let cpus = cpu_dirs(&instance.path)?;
        let info = TraceInfo {
            instance: instance.path.clone(),
            clock: clock.to_string(),
            realtime_offset_ns,
            kernel_filter,
            resets,
            mounted_tracefs: MOUNTED_BY_US.load(Ordering::Relaxed),
        };
        Ok(Tracer {
            instance,
            info,
            decoder,
            page_size,
            cpus,
            clock: if clock == "tai" {
                libc::CLOCK_TAI
            } else {
                libc::CLOCK_MONOTONIC
            },
        })
    }

    /// The ring buffer's clock now, in its own nanoseconds (what `Record::ts` holds).
    fn now(&self) -> u64 {
        u64::try_from(clock_ns(self.clock)).unwrap_or(0)
    }

    /// Reads every CPU's `trace_pipe_raw` until it has no more pages, handing
    /// each decoded record to `sink`; returns whether a page said that events
    /// were missed.
    fn drain(&self, mut sink: impl FnMut(Record)) -> Result<bool, TraceError> {
        let mut page = vec![0u8; self.page_size];
        let mut missed = false;
        for dir in &self.cpus {
            let path = dir.join("trace_pipe_raw");
            let mut file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .map_err(io_err(format!("open {}", path.display())))?;
            loop {
                let n = match file.read(&mut page) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
                };
                let parsed = parse_page(&page[..n], &self.decoder.page).map_err(|what| {
                    TraceError::Page {
                        path: path.clone(),
                        what,
                    }
                })?;
                missed |= parsed.missed;
                for raw in parsed.records {
                    if let Some(record) = self.decoder.decode(raw.ts, raw.data) {
                        sink(record);
                    }
                }
            }
        }
        Ok(missed)
    }

    /// Events the kernel could not store (per_cpu/cpuN/stats).
    fn lost_events(&self) -> u64 {
        self.cpus
            .iter()
            .filter_map(|dir| read_tracefs(&dir.join("stats")).ok())
            .map(|text| lost_in_stats(&text))
            .sum()
    }
}

/// The log of `collected` (records that matched `spec`), attributed to
/// `spec.owners`, on CLOCK_REALTIME.
fn assemble(collected: &Collected, spec: &TraceSpec, info: &TraceInfo, lost: u64) -> TraceLog {
    let mut records = collected.records.clone();
    records.sort_by_key(|r| r.ts);
    let owners = attribute(&records, &spec.owners);
    let socks = incarnations(&records);
    let offset = i128::from(info.realtime_offset_ns);
    let mut changes = Vec::new();
    let mut resets = Vec::new();
    for ((r, owner), sock) in records.into_iter().zip(owners).zip(socks) {
        let at_ns = u64::try_from((i128::from(r.ts) + offset).max(0)).unwrap_or(u64::MAX);
        let side = spec.side(r.src, r.dst);
        match r.kind {
            Kind::State { old, new } => changes.push(StateChange {
                at_ns,
                sock,
                src: r.src,
                dst: r.dst,
                old,
                new,
                side,
                tid: r.tid,
                context: r.context,
                owner,
            }),
            Kind::Reset {
                direction,
                state,
                reason,
            } => resets.push(Reset {
                at_ns,
                direction,
                sock,
                src: r.src,
                dst: r.dst,
                state,
                reason,
                side,
                tid: r.tid,
                context: r.context,
                owner,
            }),
        }
    }
    // A page flagged "events missed" with no count in the stats still
    // means something was lost.
    let lost = lost.max(u64::from(collected.missed_pages));
    TraceLog {
        changes,
        resets,
        lost_events: lost,
        info: info.clone(),
    }
}

// ---- One instance for the whole process ----------------------------------

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
    pub fn snapshot(&self) -> Result<TraceLog, TraceError> {
        let mut state = self.hub.lock();
        self.hub.drain(&mut state)?;
        let sub = state.subs.get(&self.id).ok_or_else(gone)?;
        let lost = self
            .hub
            .tracer
            .lost_events()
            .saturating_sub(sub.lost_before);
        Ok(assemble(
            &sub.collected,
            &self.spec,
            &self.hub.tracer.info,
            lost,
        ))
    }

    /// Reads the rest and unsubscribes; the instance stays for the next case.
    pub fn stop(self) -> Result<TraceLog, TraceError> {
        let mut state = self.hub.lock();
        self.hub.drain(&mut state)?;
        let sub = state.subs.remove(&self.id).ok_or_else(gone)?;
        drop(state);
        let lost = self
            .hub
            .tracer
            .lost_events()
            .saturating_sub(sub.lost_before);
        Ok(assemble(
            &sub.collected,
            &self.spec,
            &self.hub.tracer.info,
            lost,
        ))
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

/// Starts making the shared instance for `scope` on a background thread, if
/// it does not exist yet, so it is ready by the time [`SharedTrace::start`]
/// needs it (the lab is built meanwhile). The instance is registered for
/// removal at exit before it is made, so an exit while it is being made leaves
/// nothing behind.
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
struct Hub {
    tracer: Tracer,
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    next: u64,
    subs: HashMap<u64, Sub>,
}

struct Sub {
    spec: TraceSpec,
    /// Records older than this (ring-buffer clock) are not this subscriber's.
    from_ts: u64,
    /// The instance's lost-event count when it subscribed.
    lost_before: u64,
    collected: Collected,
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
            let instance = Instance::create(&root.join("instances"), &name)?;
            live.paths.push(instance.path.clone());
            // The exit handler covers a normal exit; the reaper covers a kill.
            if let Err(e) = start_reaper(&name, private) {
                drop(live);
                unregister_live(&instance.path);
                drop(instance);
                return Err(TraceError::Unavailable {
                    why: format!(
                        "cannot start the process that removes the instance after a kill: {e}"
                    ),
                });
            }
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the ring buffers and gives each record to every subscriber whose
    /// spec it matches and whose window it falls in; the rest is dropped.
    fn drain(&self, state: &mut HubState) -> Result<(), TraceError> {
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

fn shared_hub(scope: &[IpAddr]) -> Result<Arc<Hub>, TraceError> {
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

impl fmt::Debug for StateTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateTrace")
            .field("info", &self.tracer.info)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// Removes the `synlab-<pid>-*` instances whose process is gone (a SIGKILLed
/// run cannot run `Drop`). Returns the names removed. Uses the private tracefs
/// mount when the host has none.
///
/// Equivalent to: `rmdir /sys/kernel/tracing/instances/synlab-<dead pid>-*`
pub fn remove_stale_instances() -> Result<Vec<String>, TraceError> {
    let (root, _) = tracefs_root()?;
    remove_stale_instances_in(&root)
}

fn remove_stale_instances_in(root: &Path) -> Result<Vec<String>, TraceError> {
    let dir = root.join("instances");
    let entries = fs::read_dir(&dir).map_err(io_err(format!("list {}", dir.display())))?;
    let mut removed = Vec::new();
    let mut first_error = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = instance_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        let mut stale = Instance {
            path: entry.path(),
            removed: false,
        };
        match stale.remove() {
            Ok(()) => removed.push(name),
            Err(e) => {
                stale.removed = true; // reported here; Drop need not retry
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// The pid in an instance name `synlab-<pid>-<n>`.
fn instance_pid(name: &str) -> Option<libc::pid_t> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok().filter(|p| *p > 0)
}

fn pid_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A tracefs instance directory; `Drop` disables it and removes it.
struct Instance {
    path: PathBuf,
    removed: bool,
}

impl Instance {
    /// Equivalent to: `mkdir /sys/kernel/tracing/instances/NAME`
    fn create(instances: &Path, name: &str) -> Result<Instance, TraceError> {
        let path = instances.join(name);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Left by an earlier process with our pid: not ours to keep.
                Instance {
                    path: path.clone(),
                    removed: false,
                }
                .remove()?;
                fs::create_dir(&path).map_err(io_err(format!("mkdir {}", path.display())))?;
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                return Err(TraceError::Unavailable {
                    why: format!(
                        "cannot create the tracefs instance {}: {e} (needs root; a \
                         kernel in lockdown mode refuses tracefs)",
                        path.display()
                    ),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TraceError::Unavailable {
                    why: format!(
                        "{} does not exist: kernel without tracefs instances",
                        instances.display()
                    ),
                });
            }
            Err(e) => return Err(io_err(format!("mkdir {}", path.display()))(e)),
        }
        Ok(Instance {
            path,
            removed: false,
        })
    }

    /// Equivalent to: `echo VALUE > INSTANCE/REL`
    fn write(&self, rel: &str, value: &str) -> Result<(), TraceError> {
        let path = self.path.join(rel);
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(io_err(format!("write {value:?} to {}", path.display())))
    }

    /// Disables tracing and every event, then removes the directory, retrying
    /// while the kernel says EBUSY (a reader still open).
    ///
    /// Equivalent to: `echo 0 > tracing_on; echo 0 > events/enable; rmdir INSTANCE`
    fn remove(&mut self) -> Result<(), TraceError> {
        if self.removed {
            return Ok(());
        }
        let _ = self.write("tracing_on", "0");
        let _ = self.write("events/enable", "0");
        let deadline = Instant::now() + RMDIR_RETRY;
        loop {
            match fs::remove_dir(&self.path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(io_err(format!("rmdir {}", self.path.display()))(e)),
            }
        }
        self.removed = true;
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            // Nowhere to return it; a left instance must not go unnoticed.
            eprintln!("synlab: tracefs instance left behind: {e}");
        }
    }
}

/// The tracefs root: `/sys/kernel/tracing` when tracefs is mounted there, else
/// a private mount of it that the host never sees (see [`private_tracefs`]).
/// Returns whether the private mount is used.
///
/// Equivalent to: `mountpoint -q /sys/kernel/tracing`, else
/// `unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing; ...'`
fn tracefs_root() -> Result<(PathBuf, bool), TraceError> {
    let root = Path::new(TRACEFS);
    let _guard = MOUNT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    match is_tracefs(root) {
        Ok(true) => Ok((root.to_path_buf(), false)),
        Ok(false) => {
            let private = private_tracefs()?;
            MOUNTED_BY_US.store(true, Ordering::Relaxed);
            Ok((private, true))
        }
        Err(e) => Err(TraceError::Unavailable {
            why: format!("{TRACEFS}: {e} (is sysfs mounted? tracefs needs Linux 4.1+)"),
        }),
    }
}

/// The private tracefs mount, made once per process.
static PRIVATE_ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// When the host has no tracefs mounted, mount one where only this process sees
/// it: a thread unshares its mount namespace (CLONE_NEWNS | CLONE_FS, allowed in
/// a multithreaded process), makes every mount private so nothing propagates to
/// the host, mounts tracefs at /sys/kernel/tracing and then only parks. Every
/// other thread reaches it through `/proc/<pid>/task/<tid>/root/sys/kernel/tracing`.
/// The mount namespace, and the mount, die with the process: no mount is ever
/// left behind, also after SIGKILL.
fn private_tracefs() -> Result<PathBuf, TraceError> {
    PRIVATE_ROOT
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Result<libc::pid_t, String>>();
            let spawned = std::thread::Builder::new()
                .name("synlab-tracefs".into())
                .spawn(move || {
                    let fail = |what: &str| {
                        let e = io::Error::last_os_error();
                        let hint = match e.raw_os_error() {
                            Some(libc::EPERM) => " (needs CAP_SYS_ADMIN: run as root)",
                            Some(libc::ENODEV) => {
                                " (the kernel has no tracefs: CONFIG_TRACING is off)"
                            }
                            _ => "",
                        };
                        format!("tracefs is not mounted at {TRACEFS}; {what}: {e}{hint}")
                    };
                    // SAFETY: changes only this thread's mount namespace and fs info.
                    if unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) } != 0 {
                        let _ = tx.send(Err(fail("unshare(CLONE_NEWNS) for a private mount")));
                        return;
                    }
                    // SAFETY: NUL-terminated strings; null data and source are allowed.
                    if unsafe {
                        libc::mount(
                            std::ptr::null(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        )
                    } != 0
                    {
                        let _ = tx.send(Err(fail("make the private mount tree private")));
                        return;
                    }
                    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                    // SAFETY: as above.
                    if unsafe {
                        libc::mount(
                            c"nodev".as_ptr(),
                            c"/sys/kernel/tracing".as_ptr(),
                            c"tracefs".as_ptr(),
                            flags,
                            std::ptr::null(),
                        )
                    } != 0
                    {
                        let _ = tx.send(Err(fail("mount tracefs privately")));
                        return;
                    }
                    let (fork_tx, fork_rx) = std::sync::mpsc::channel::<ForkRequest>();
                    *PRIVATE_FORKER.lock().unwrap_or_else(|e| e.into_inner()) = Some(fork_tx);
                    // SAFETY: gettid has no preconditions.
                    let _ = tx.send(Ok(unsafe { libc::gettid() }));
                    // Serve reaper forks, so a reaper lives in this mount namespace
                    // and sees the private tracefs; otherwise only hold the mount.
                    while let Ok((path, reply)) = fork_rx.recv() {
                        let _ = reply.send(fork_reaper(&path));
                    }
                    loop {
                        std::thread::park();
                    }
                });
            if let Err(e) = spawned {
                return Err(format!("start the tracefs thread: {e}"));
            }
            let tid = rx
                .recv()
                .map_err(|_| "the tracefs thread stopped".to_string())??;
            Ok(PathBuf::from(format!(
                "/proc/{}/task/{tid}/root{TRACEFS}",
                std::process::id()
            )))
        })
        .clone()
        .map_err(|why| TraceError::Unavailable { why })
}

/// A request to the private tracefs thread: fork a reaper for this instance path.
type ForkRequest = (CString, std::sync::mpsc::Sender<io::Result<()>>);

/// The private tracefs thread's fork requests (set when that thread runs).
static PRIVATE_FORKER: Mutex<Option<std::sync::mpsc::Sender<ForkRequest>>> = Mutex::new(None);

/// Start a reaper for the instance `name`: a process that removes it once this
/// process is gone, however it ends (SIGKILL included). Forked from the private
/// tracefs thread when there is one, so it sees the same tracefs.
///
/// Equivalent to: `( while kill -0 $$; do sleep 1; done; rmdir instances/NAME ) &`,
/// but woken by the kernel closing a pipe instead of polling.
fn start_reaper(name: &str, private: bool) -> io::Result<()> {
    let path = CString::new(format!("{TRACEFS}/instances/{name}"))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if !private {
        return fork_reaper(&path);
    }
    let sender = PRIVATE_FORKER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| io::Error::other("the private tracefs thread is not running"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    sender
        .send((path, tx))
        .map_err(|_| io::Error::other("the private tracefs thread stopped"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the private tracefs thread stopped"))?
}

/// Fork the reaper. The child keeps only the read end of a pipe whose write end
/// only this process holds (close-on-exec, never closed): when this process is
/// gone the read sees end-of-file, and the child removes the instance (retrying
/// briefly while the kernel still holds it) and exits. It leaves its session and
/// ignores the terminal's signals, so a Ctrl-C to the group cannot stop it before
/// it has cleaned up; it closes every other inherited fd, so it keeps no
/// namespace, socket or pipe of ours alive.
fn fork_reaper(path: &CString) -> io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (r, w) = (fds[0], fds[1]);
    // SAFETY: the child calls only async-signal-safe functions (close_range,
    // setsid, sigaction via signal, read, rmdir, usleep, _exit) on memory that
    // was ready before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: closing our own fresh descriptors.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        return Err(e);
    }
    if pid == 0 {
        // SAFETY: see above; every pointer is to memory owned before the fork.
        unsafe {
            if r > 0 {
                libc::syscall(libc::SYS_close_range, 0u32, (r - 1) as u32, 0u32);
            }
            libc::syscall(libc::SYS_close_range, (r + 1) as u32, u32::MAX, 0u32);
            libc::setsid();
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            let mut byte = 0u8;
            loop {
                let n = libc::read(r, (&mut byte as *mut u8).cast(), 1);
                if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                    break;
                }
            }
            for _ in 0..200 {
                if libc::rmdir(path.as_ptr()) == 0 || *libc::__errno_location() == libc::ENOENT {
                    break;
                }
                libc::usleep(10_000);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: the read end is the child's now; the write end stays open (and is
    // never closed) for as long as this process lives.
    unsafe { libc::close(r) };
    Ok(())
}

fn is_tracefs(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statfs fills the zeroed struct; c is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64 == TRACEFS_MAGIC)
}

/// Sets the instance's clock to `tai` (exact) or `mono` (offset measured), and
/// returns its name and the offset to CLOCK_REALTIME.
///
/// Equivalent to: `echo tai > trace_clock`
fn set_clock(instance: &Instance) -> Result<(&'static str, i64), TraceError> {
    let path = instance.path.join("trace_clock");
    let offered = read_tracefs(&path).map_err(io_err(format!("read {}", path.display())))?;
    let has = |name: &str| {
        offered
            .split_whitespace()
            .any(|c| c.trim_matches(|ch| ch == '[' || ch == ']') == name)
    };
    if has("tai") {
        instance.write("trace_clock", "tai")?;
        // CLOCK_TAI - CLOCK_REALTIME is the kernel's TAI offset, a whole number
        // of seconds; the two reads are microseconds apart, so rounding is exact.
        let diff = clock_ns(libc::CLOCK_TAI) - clock_ns(libc::CLOCK_REALTIME);
        let secs = (diff + 500_000_000).div_euclid(1_000_000_000);
        return Ok(("tai", i64::try_from(-secs * 1_000_000_000).unwrap_or(0)));
    }
    if has("mono") {
        instance.write("trace_clock", "mono")?;
        let before = clock_ns(libc::CLOCK_REALTIME);
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let after = clock_ns(libc::CLOCK_REALTIME);
        let offset = (before + after) / 2 - mono;
        return Ok(("mono", i64::try_from(offset).unwrap_or(0)));
    }
    Err(TraceError::Unavailable {
        why: format!(
            "the kernel offers neither the tai nor the mono trace clock: {}",
            offered.trim()
        ),
    })
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; the clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Writes the first filter the kernel accepts for `event` (`sock/...`), from
/// the most to the least specific, and returns it (`none` when all were
/// refused: the userspace check still applies).
///
/// Equivalent to: `echo FILTER > events/EVENT/filter`
fn set_filter(
    instance: &Instance,
    event: &str,
    spec: &TraceSpec,
    has_protocol: bool,
) -> Result<String, TraceError> {
    let rel = format!("events/{event}/filter");
    for candidate in filter_candidates(spec, has_protocol) {
        match instance.write(&rel, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(TraceError::Io { source, .. })
                if matches!(source.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok("none".into())
}

/// Kernel filters for `spec`, most specific first.
fn filter_candidates(spec: &TraceSpec, has_protocol: bool) -> Vec<String> {
    let v4: Vec<String> = spec
        .addrs
        .iter()
        .filter_map(|a| match a {
            // `__u8 saddr[4]` is compared as a host-order u32.
            IpAddr::V4(v4) => Some(format!("0x{:08x}", u32::from_ne_bytes(v4.octets()))),
            IpAddr::V6(_) => None,
        })
        .collect();
    let has_v6 = spec.addrs.iter().any(IpAddr::is_ipv6);
    let or = |terms: Vec<String>| format!("({})", terms.join(" || "));
    let ports = (!spec.ports.is_empty()).then(|| {
        or(spec
            .ports
            .iter()
            .flat_map(|p| [format!("sport == {p}"), format!("dport == {p}")])
            .collect())
    });
    let addrs4 = (!v4.is_empty()).then(|| {
        or(v4
            .iter()
            .flat_map(|a| [format!("saddr == {a}"), format!("daddr == {a}")])
            .collect())
    });
    let families = match (&addrs4, has_v6) {
        (Some(a), true) => Some(format!("((family == 2 && {a}) || family == 10)")),
        (Some(a), false) => Some(format!("family == 2 && {a}")),
        (None, true) => Some("family == 10".to_string()),
        (None, false) => None,
    };
    let proto = has_protocol.then(|| "protocol == 6".to_string());
    let join = |parts: Vec<Option<String>>| {
        let parts: Vec<String> = parts.into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" && "))
    };
    let mut out = Vec::new();
    for candidate in [
        join(vec![proto.clone(), families, ports.clone()]),
        join(vec![proto.clone(), ports]),
        join(vec![proto]),
    ]
    .into_iter()
    .flatten()
    {
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

/// The ring-buffer sub-buffer size: one `read` of `trace_pipe_raw` returns one.
fn page_size(instance: &Path) -> usize {
    let kb = read_tracefs(&instance.join("buffer_subbuf_size_kb"))
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    // SAFETY: sysconf has no preconditions.
    let sys = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    kb.map_or(sys, |kb| (kb * 1024).max(sys))
}

fn cpu_dirs(instance: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let dir = instance.join("per_cpu");
    let mut cpus: Vec<(usize, PathBuf)> = fs::read_dir(&dir)
        .map_err(io_err(format!("list {}", dir.display())))?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    cpus.sort();
    Ok(cpus.into_iter().map(|(_, p)| p).collect())
}

/// Reads a tracefs text file with one large buffer: some (like
/// `events/header_page`) answer a second, continuing read with EOF, so the
/// small first read of `fs::read_to_string` would cut them after 32 bytes.
fn read_tracefs(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `overrun` + `dropped events` of a per_cpu `stats` file.
fn lost_in_stats(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| matches!(k.trim(), "overrun" | "dropped events"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// The kernel's name of a state (`include/net/tcp_states.h`), as tcpstates and
/// the trace print it.
pub fn kernel_name(state: TcpState) -> &'static str {
    match state {
        TcpState::Established => "TCP_ESTABLISHED",
        TcpState::SynSent => "TCP_SYN_SENT",
        TcpState::SynRecv => "TCP_SYN_RECV",
        TcpState::FinWait1 => "TCP_FIN_WAIT1",
        TcpState::FinWait2 => "TCP_FIN_WAIT2",
        TcpState::TimeWait => "TCP_TIME_WAIT",
        TcpState::Close => "TCP_CLOSE",
        TcpState::CloseWait => "TCP_CLOSE_WAIT",
        TcpState::LastAck => "TCP_LAST_ACK",
        TcpState::Listen => "TCP_LISTEN",
        TcpState::Closing => "TCP_CLOSING",
        TcpState::NewSynRecv => "TCP_NEW_SYN_RECV",
        TcpState::BoundInactive => "TCP_BOUND_INACTIVE",
    }
}

fn ser_state<S: serde::Serializer>(state: &TcpState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kernel_name(*state))
}

fn ser_opt_state<S: serde::Serializer>(state: &Option<TcpState>, s: S) -> Result<S::Ok, S::Error> {
    match state {
        Some(state) => s.serialize_str(kernel_name(*state)),
        None => s.serialize_none(),
    }
}

// ---------------------------------------------------------------------------
// Event formats (events/<system>/<event>/format, events/header_page)

/// One field of an event's `format` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    offset: usize,
    size: usize,
}

/// An event's `format` file: its id, its fields, and the symbol table of
/// `__print_symbolic(REC->reason, ...)` when it has one.
#[derive(Debug, Clone, Default)]
struct EventFormat {
    id: Option<u16>,
    fields: HashMap<String, Field>,
    reasons: HashMap<u32, String>,
}

impl EventFormat {
    fn field(&self, name: &str) -> Option<Field> {
        self.fields.get(name).copied()
    }
}

/// Parses a tracefs `format` file (also `events/header_page`).
fn parse_format(text: &str) -> Result<EventFormat, String> {
    let mut format = EventFormat::default();
    for line in text.lines() {
        let line = line.trim();
        if let Some(id) = line.strip_prefix("ID:") {
            format.id = Some(
                id.trim()
                    .parse()
                    .map_err(|_| format!("bad ID line {line:?}"))?,
            );
        } else if let Some(decl) = line.strip_prefix("field:") {
            let mut parts = decl.split(';');
            let declaration = parts.next().unwrap_or_default();
            let name = declaration
                .split_whitespace()
                .last()
                .map(|n| n.trim_start_matches('*'))
                .map(|n| n.split('[').next().unwrap_or(n))
                .ok_or_else(|| format!("field without a name: {line:?}"))?;
            let mut offset = None;
            let mut size = None;
            for part in parts {
                if let Some((k, v)) = part.trim().split_once(':') {
                    match k {
                        "offset" => offset = v.parse().ok(),
                        "size" => size = v.parse().ok(),
                        _ => {}
                    }
                }
            }
            let (Some(offset), Some(size)) = (offset, size) else {
                return Err(format!("field without offset or size: {line:?}"));
            };
            format
                .fields
                .insert(name.to_string(), Field { offset, size });
        } else if let Some(fmt) = line.strip_prefix("print fmt:") {
            format.reasons = parse_symbols(fmt, "__print_symbolic(REC->reason,");
        }
    }
    Ok(format)
}

/// The `{ N, "NAME" }` pairs after `prefix` in a print fmt.
fn parse_symbols(fmt: &str, prefix: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    let Some(start) = fmt.find(prefix) else {
        return out;
    };
    let mut rest = &fmt[start + prefix.len()..];
    loop {
        rest = rest.trim_start_matches([' ', ',', '\t']);
        let Some(body) = rest.strip_prefix('{') else {
            break;
        };
        let Some(close) = body.find('}') else { break };
        if let Some((num, name)) = body[..close].split_once(',')
            && let Ok(n) = num.trim().parse::<u32>()
        {
            out.insert(n, name.trim().trim_matches('"').to_string());
        }
        rest = &body[close + 1..];
    }
    out
}

/// Where a ring-buffer page keeps its time stamp, commit word and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageLayout {
    timestamp: Field,
    commit: Field,
    data: usize,
}

impl PageLayout {
    fn from_format(f: &EventFormat) -> Result<PageLayout, String> {
        let get = |n: &str| f.field(n).ok_or_else(|| format!("header_page has no {n}"));
        Ok(PageLayout {
            timestamp: get("timestamp")?,
            commit: get("commit")?,
            data: get("data")?.offset,
        })
    }
}

/// One data event of a page: its ring-buffer time and its bytes (starting
/// with `common_type`).
#[derive(Debug, PartialEq, Eq)]
struct RawEvent<'a> {
    ts: u64,
    data: &'a [u8],
}

#[derive(Debug)]
struct ParsedPage<'a> {
    records: Vec<RawEvent<'a>>,
    /// The kernel lost events before this page (buffer full).
    missed: bool,
}

/// Decodes one page read from `trace_pipe_raw` (format: `events/header_page`,
/// `events/header_event`; reader: `rb_update_read_stamp()` in
/// kernel/trace/ring_buffer.c).
fn parse_page<'a>(page: &'a [u8], layout: &PageLayout) -> Result<ParsedPage<'a>, String> {
    let mut ts = read_uint(page, layout.timestamp).ok_or("page shorter than its header")?;
    let commit = read_uint(page, layout.commit).ok_or("page shorter than its header")?;
    let missed = commit & RB_MISSED_EVENTS != 0;
    let len = usize::try_from(commit & !RB_MISSED_MASK & 0xffff_ffff).map_err(|e| e.to_string())?;
    let end = layout.data + len;
    if end > page.len() {
        return Err(format!(
            "commit {len} runs past the page ({} bytes)",
            page.len()
        ));
    }
    let mut records = Vec::new();
    let mut off = layout.data;
    while off + 4 <= end {
        let word = u32_at(page, off).ok_or("truncated event header")?;
        let type_len = word & 0x1f;
        let delta = u64::from(word >> 5);
        let array0 = || u32_at(page, off + 4).ok_or(format!("truncated event at {off}"));
        match type_len {
            0 => {
                // Length in array[0] (it counts itself), data from array[1].
                let total = array0()? as usize;
                if total < 4 {
                    return Err(format!("event at {off} has length {total}"));
                }
                ts += delta;
                let data = page
                    .get(off + 8..off + 4 + total)
                    .ok_or(format!("event at {off} runs past the page"))?;
                records.push(RawEvent { ts, data });
                off += 4 + total;
            }
            1..=28 => {
                ts += delta;
                let n = type_len as usize * 4;
                let data = page
                    .get(off + 4..off + 4 + n)
                    .ok_or(format!("event at {off} runs past the page"))?;
                records.push(RawEvent { ts, data });
                off += 4 + n;
            }
            RB_TYPE_PADDING => {
                if delta == 0 {
                    break; // the rest of the page is empty
                }
                // A discarded event: skip it; its delta does not count.
                off += 4 + array0()? as usize;
            }
            RB_TYPE_TIME_EXTEND => {
                ts += (u64::from(array0()?) << TS_SHIFT) + delta;
                off += 8;
            }
            RB_TYPE_TIME_STAMP => {
                let mut abs = (u64::from(array0()?) << TS_SHIFT) + delta;
                // rb_fix_abs_ts(): the top 5 bits come from the previous stamp.
                if ts & TS_MSB != 0 {
                    abs |= ts & TS_MSB;
                    if abs < ts {
                        abs += 1 << 59;
                    }
                }
                ts = abs;
                off += 8;
            }
            _ => unreachable!("type_len has 5 bits"),
        }
    }
    Ok(ParsedPage { records, missed })
}

fn read_uint(buf: &[u8], f: Field) -> Option<u64> {
    let b = buf.get(f.offset..f.offset + f.size)?;
    Some(match f.size {
        1 => u64::from(b[0]),
        2 => u64::from(u16::from_ne_bytes(b.try_into().ok()?)),
        4 => u64::from(u32::from_ne_bytes(b.try_into().ok()?)),
        8 => u64::from_ne_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(off..off + 4)?.try_into().ok()?))
}

// ---------------------------------------------------------------------------
// Decoding events

/// A decoded event before attribution.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    ts: u64,
    skaddr: u64,
    tid: i32,
    context: Context,
    src: SocketAddr,
    dst: SocketAddr,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    State {
        old: TcpState,
        new: TcpState,
    },
    Reset {
        direction: ResetDirection,
        state: Option<TcpState>,
        reason: Option<String>,
    },
}

/// The formats needed to decode pages of one instance.
#[derive(Debug, Clone)]
struct Decoder {
    page: PageLayout,
    state: EventFormat,
    send_reset: Option<EventFormat>,
    receive_reset: Option<EventFormat>,
}

impl Decoder {
    fn load(instance: &Path) -> Result<Decoder, TraceError> {
        let read = |rel: &str| -> Result<EventFormat, TraceError> {
            let path = instance.join(rel);
            let text = read_tracefs(&path).map_err(io_err(format!("read {}", path.display())))?;
            parse_format(&text).map_err(|what| TraceError::Format { path, what })
        };
        let header = read("events/header_page")?;
        let page = PageLayout::from_format(&header).map_err(|what| TraceError::Format {
            path: instance.join("events/header_page"),
            what,
        })?;
        let optional = |rel: &str| instance.join(rel).exists().then(|| read(rel)).transpose();
        Ok(Decoder {
            page,
            state: read("events/sock/inet_sock_set_state/format")?,
            send_reset: optional("events/tcp/tcp_send_reset/format")?,
            receive_reset: optional("events/tcp/tcp_receive_reset/format")?,
        })
    }

    /// Decodes one event; None for events of other types, other protocols,
    /// or states this module does not know.
    fn decode(&self, ts: u64, data: &[u8]) -> Option<Record> {
        let common = |f: &EventFormat, name: &str| f.field(name).and_then(|x| read_uint(data, x));
        let id = common(&self.state, "common_type")? as u16;
        let (format, which) = if Some(id) == self.state.id {
            (&self.state, 0)
        } else if let Some(f) = self.send_reset.as_ref().filter(|f| f.id == Some(id)) {
            (f, 1)
        } else if let Some(f) = self.receive_reset.as_ref().filter(|f| f.id == Some(id)) {
            (f, 2)
        } else {
            return None;
        };
        let tid = common(format, "common_pid")? as u32 as i32;
        let flags = common(format, "common_flags")? as u8;
        let skaddr = common(format, "skaddr").unwrap_or(0);
        let (src, dst) = endpoints(format, data)?;
        let state_of = |name: &str| {
            let v = common(format, name)? as u32 as i32;
            TcpState::from_kernel(u8::try_from(v).ok()?)
        };
        let kind = match which {
            0 => {
                if common(format, "protocol") != Some(u64::from(libc::IPPROTO_TCP as u16)) {
                    return None;
                }
                Kind::State {
                    old: state_of("oldstate")?,
                    new: state_of("newstate")?,
                }
            }
            1 => Kind::Reset {
                direction: ResetDirection::Sent,
                // 0 means "no socket" (the format prints UNKNOWN).
                state: state_of("state"),
                reason: common(format, "reason").map(|r| {
                    let r = r as u32;
                    format
                        .reasons
                        .get(&r)
                        .cloned()
                        .unwrap_or_else(|| r.to_string())
                }),
            },
            _ => Kind::Reset {
                direction: ResetDirection::Received,
                state: None,
                reason: None,
            },
        };
        Some(Record {
            ts,
            skaddr,
            tid,
            context: Context::from_flags(flags),
            src,
            dst,
            kind,
        })
    }
}

/// The local and remote ends of an event: either `sport`/`dport` with
/// `saddr`/`daddr` (4 bytes) and `saddr_v6`/`daddr_v6`, or `saddr`/`daddr`
/// holding a `struct sockaddr_in6`-sized sockaddr (tcp_send_reset).
fn endpoints(f: &EventFormat, data: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let bytes = |name: &str| {
        let x = f.field(name)?;
        data.get(x.offset..x.offset + x.size)
    };
    let (saddr, daddr) = (bytes("saddr")?, bytes("daddr")?);
    if saddr.len() >= 24 {
        return Some((sockaddr(saddr)?, sockaddr(daddr)?));
    }
    let port = |name: &str| {
        f.field(name)
            .and_then(|x| read_uint(data, x))
            .map(|p| p as u16)
    };
    let (sport, dport) = (port("sport")?, port("dport")?);
    let v6 = match f.field("family").and_then(|x| read_uint(data, x)) {
        Some(fam) => fam == libc::AF_INET6 as u64,
        None => saddr.iter().all(|b| *b == 0) && daddr.iter().all(|b| *b == 0),
    };
    let ip = |four: &[u8], name6: &str| -> Option<IpAddr> {
        if v6 {
            let b: [u8; 16] = bytes(name6)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            let b: [u8; 4] = four.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
    };
    Some((
        SocketAddr::new(ip(saddr, "saddr_v6")?, sport),
        SocketAddr::new(ip(daddr, "daddr_v6")?, dport),
    ))
}

/// A `sockaddr_in` or `sockaddr_in6` as the kernel stores it (family in host
/// order, port and address in network order).
fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    let ip = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(4..8)?).ok()?)),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Numbers the socket incarnations of records sorted by time: 1, 2, ... in
/// order of first sight, 0 for a record without a known full socket.
///
/// An incarnation of a socket starts at `CLOSE -> x` (a new or reused socket)
/// or `LISTEN -> SYN_RECV` (a listener's child, cloned in softirq) and lasts
/// until the next start for the same `skaddr`: memory freed after `x -> CLOSE`
/// can come back as another case's socket, and that one starts with one of the
/// two. A reset belongs to the incarnation current at its time.
fn incarnations(records: &[Record]) -> Vec<u32> {
    let mut current: HashMap<u64, u32> = HashMap::new();
    let mut next = 0u32;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let id = match &r.kind {
            _ if r.skaddr == 0 => 0,
            Kind::State { old, new } => {
                let starts = *old == TcpState::Close
                    || (*old == TcpState::Listen && *new == TcpState::SynRecv);
                match current.get(&r.skaddr) {
                    Some(&id) if !starts => id,
                    _ => {
                        next += 1;
                        current.insert(r.skaddr, next);
                        next
                    }
                }
            }
            Kind::Reset { .. } => current.get(&r.skaddr).copied().unwrap_or(0),
        };
        out.push(id);
    }
    out
}

/// Marks each record (sorted by time) [`Owner::Own`] or [`Owner::TupleOnly`]:
/// an incarnation (see [`incarnations`]) is owned when one of its events ran
/// in task context on an owner thread.
fn attribute(records: &[Record], owners: &[libc::pid_t]) -> Vec<Owner> {
    let ids = incarnations(records);
    let owned: std::collections::HashSet<u32> = records
        .iter()
        .zip(&ids)
        .filter(|(r, id)| **id != 0 && r.context == Context::Task && owners.contains(&r.tid))
        .map(|(_, id)| *id)
        .collect();
    ids.iter()
        .map(|id| {
            if owned.contains(id) {
                Owner::Own
            } else {
                Owner::TupleOnly
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Unit tests decode real pages and format files captured on Linux 6.18
    //! (no privilege needed); the tests marked "root" run real connections in
    //! a private network namespace and fail with a clear message without root.

    use std::io::Read as _;
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Barrier};

    use super::*;
    use crate::lab::netlink;
    use crate::observe::diag;

    use TcpState::*;

    // ---- fixtures, captured with `cat` from an instance on Linux 6.18 ----

    const HEADER_PAGE: &str = r#"	field: u64 timestamp;	offset:0;	size:8;	signed:0;
	field: local_t commit;	offset:8;	size:8;	signed:1;
	field: int overwrite;	offset:8;	size:1;	signed:1;
	field: char data;	offset:16;	size:4080;	signed:0;
"#;
    const STATE_FORMAT: &str = r#"name: inet_sock_set_state
ID: 2287
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skaddr;	offset:8;	size:8;	signed:0;
	field:int oldstate;	offset:16;	size:4;	signed:1;
	field:int newstate;	offset:20;	size:4;	signed:1;
	field:__u16 sport;	offset:24;	size:2;	signed:0;
	field:__u16 dport;	offset:26;	size:2;	signed:0;
	field:__u16 family;	offset:28;	size:2;	signed:0;
	field:__u16 protocol;	offset:30;	size:2;	signed:0;
	field:__u8 saddr[4];	offset:32;	size:4;	signed:0;
	field:__u8 daddr[4];	offset:36;	size:4;	signed:0;
	field:__u8 saddr_v6[16];	offset:40;	size:16;	signed:0;
	field:__u8 daddr_v6[16];	offset:56;	size:16;	signed:0;

print fmt: "family=%s protocol=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c daddrv6=%pI6c oldstate=%s newstate=%s", __print_symbolic(REC->family, { 2, "AF_INET" }, { 10, "AF_INET6" }), __print_symbolic(REC->protocol, { 6, "IPPROTO_TCP" }, { 132, "IPPROTO_SCTP" }, { 262, "IPPROTO_MPTCP" }), REC->sport, REC->dport, REC->saddr, REC->daddr, REC->saddr_v6, REC->daddr_v6, __print_symbolic(REC->oldstate, { 1, "TCP_ESTABLISHED" }, { 2, "TCP_SYN_SENT" }, { 3, "TCP_SYN_RECV" }, { 4, "TCP_FIN_WAIT1" }, { 5, "TCP_FIN_WAIT2" }, { 6, "TCP_TIME_WAIT" }, { 7, "TCP_CLOSE" }, { 8, "TCP_CLOSE_WAIT" }, { 9, "TCP_LAST_ACK" }, { 10, "TCP_LISTEN" }, { 11, "TCP_CLOSING" }, { 12, "TCP_NEW_SYN_RECV" }), __print_symbolic(REC->newstate, { 1, "TCP_ESTABLISHED" }, { 2, "TCP_SYN_SENT" }, { 3, "TCP_SYN_RECV" }, { 4, "TCP_FIN_WAIT1" }, { 5, "TCP_FIN_WAIT2" }, { 6, "TCP_TIME_WAIT" }, { 7, "TCP_CLOSE" }, { 8, "TCP_CLOSE_WAIT" }, { 9, "TCP_LAST_ACK" }, { 10, "TCP_LISTEN" }, { 11, "TCP_CLOSING" }, { 12, "TCP_NEW_SYN_RECV" })
"#;
    const SEND_RESET_FORMAT: &str = r#"name: tcp_send_reset
ID: 2280
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skbaddr;	offset:8;	size:8;	signed:0;
	field:const void * skaddr;	offset:16;	size:8;	signed:0;
	field:int state;	offset:24;	size:4;	signed:1;
	field:enum sk_rst_reason reason;	offset:28;	size:4;	signed:0;
	field:__u8 saddr[28];	offset:32;	size:28;	signed:0;
	field:__u8 daddr[28];	offset:60;	size:28;	signed:0;

print fmt: "skbaddr=%p skaddr=%p src=%pISpc dest=%pISpc state=%s reason=%s", REC->skbaddr, REC->skaddr, REC->saddr, REC->daddr, REC->state ? __print_symbolic(REC->state, { TCP_ESTABLISHED, "TCP_ESTABLISHED" }, { TCP_SYN_SENT, "TCP_SYN_SENT" }, { TCP_SYN_RECV, "TCP_SYN_RECV" }, { TCP_FIN_WAIT1, "TCP_FIN_WAIT1" }, { TCP_FIN_WAIT2, "TCP_FIN_WAIT2" }, { TCP_TIME_WAIT, "TCP_TIME_WAIT" }, { TCP_CLOSE, "TCP_CLOSE" }, { TCP_CLOSE_WAIT, "TCP_CLOSE_WAIT" }, { TCP_LAST_ACK, "TCP_LAST_ACK" }, { TCP_LISTEN, "TCP_LISTEN" }, { TCP_CLOSING, "TCP_CLOSING" }, { TCP_NEW_SYN_RECV, "TCP_NEW_SYN_RECV" }) : "UNKNOWN", __print_symbolic(REC->reason, { 0, "NOT_SPECIFIED" }, { 1, "NO_SOCKET" }, { 2, "TCP_INVALID_ACK_SEQUENCE" }, { 3, "TCP_RFC7323_PAWS" }, { 4, "TCP_TOO_OLD_ACK" }, { 5, "TCP_ACK_UNSENT_DATA" }, { 6, "TCP_FLAGS" }, { 7, "TCP_OLD_ACK" }, { 8, "TCP_ABORT_ON_DATA" }, { 9, "TCP_TIMEWAIT_SOCKET" }, { 10, "INVALID_SYN" }, { 11, "TCP_ABORT_ON_CLOSE" }, { 12, "TCP_ABORT_ON_LINGER" }, { 13, "TCP_ABORT_ON_MEMORY" }, { 14, "TCP_STATE" }, { 15, "TCP_KEEPALIVE_TIMEOUT" }, { 16, "TCP_DISCONNECT_WITH_DATA" }, { 17, "MPTCP_RST_EUNSPEC" }, { 18, "MPTCP_RST_EMPTCP" }, { 19, "MPTCP_RST_ERESOURCE" }, { 20, "MPTCP_RST_EPROHIBIT" }, { 21, "MPTCP_RST_EWQ2BIG" }, { 22, "MPTCP_RST_EBADPERF" }, { 23, "MPTCP_RST_EMIDDLEBOX" }, { 24, "ERROR" }, { 25, "MAX" })
"#;
    const RECEIVE_RESET_FORMAT: &str = r#"name: tcp_receive_reset
ID: 2279
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skaddr;	offset:8;	size:8;	signed:0;
	field:__u16 sport;	offset:16;	size:2;	signed:0;
	field:__u16 dport;	offset:18;	size:2;	signed:0;
	field:__u16 family;	offset:20;	size:2;	signed:0;
	field:__u8 saddr[4];	offset:22;	size:4;	signed:0;
	field:__u8 daddr[4];	offset:26;	size:4;	signed:0;
	field:__u8 saddr_v6[16];	offset:30;	size:16;	signed:0;
	field:__u8 daddr_v6[16];	offset:46;	size:16;	signed:0;
	field:__u64 sock_cookie;	offset:64;	size:8;	signed:0;

print fmt: "family=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c daddrv6=%pI6c sock_cookie=%llx", __print_symbolic(REC->family, { 2, "AF_INET" }, { 10, "AF_INET6" }), REC->sport, REC->dport, REC->saddr, REC->daddr, REC->saddr_v6, REC->daddr_v6, REC->sock_cookie
"#;

    /// One page of per_cpu/cpu1/trace_pipe_raw (commit 0x4d0): python in
    /// `unshare -n` (pid 7181) on ::1, listener :8888, client :12345, the
    /// server closes first; then a connect to the closed port 12346.
    const PAGE_HEX: &[&str] = &[
        "c6251e0afbaceb18d00400000000000012000000ef0800000d1c0000c03016088188ffff070000000a000000b8220000",
        "0a0006007f00000600000000000000000000000000000000000000010000000000000000000000000000000072040b00",
        "ef0800000d1c0000404416088188ffff07000000020000003930b8220a0006007f000006000000000000000000000000",
        "000000000000000100000000000000000000000000000001d2571200ef0800000d1c0000404416088188ffff02000000",
        "010000003930b8220a0006007f0000060000000000000000000000000000000000000001000000000000000000000000",
        "00000001523f0300ef0810020d1c0000c00916088188ffff0a00000003000000b82239300a0006007f0000067f000006",
        "000000000000000000000000000000010000000000000000000000000000000172e90100ef0810020d1c0000c0091608",
        "8188ffff0300000001000000b82239300a0006007f0000067f0000060000000000000000000000000000000100000000",
        "000000000000000000000001f2ea1500ef0800000d1c0000c00916088188ffff0100000004000000b82239300a000600",
        "7f0000067f0000060000000000000000000000000000000100000000000000000000000000000001d2ac0200ef081002",
        "0d1c0000404416088188ffff01000000080000003930b8220a0006007f00000600000000000000000000000000000000",
        "000000010000000000000000000000000000000152b7d80bef081001711c0000c00916088188ffff0400000005000000",
        "b82239300a0006007f0000067f0000060000000000000000000000000000000100000000000000000000000000000001",
        "72510200ef081001711c0000c00916088188ffff0500000007000000b82239300a0006007f0000067f00000600000000",
        "0000000000000000000000010000000000000000000000000000000112da5958ef0800000d1c0000404416088188ffff",
        "08000000090000003930b8220a0006007f00000600000000000000000000000000000000000000010000000000000000",
        "0000000000000001d2e01300ef0800000d1c0000404416088188ffff09000000070000003930b8220a0006007f000006",
        "00000000000000000000000000000000000000010000000000000000000000000000000132478060ef0800000d1c0000",
        "404416088188ffff070000000200000000003a300a000600000000000000000000000000000000000000000000000001",
        "0000000000000000000000000000000196a10c00e80810010d1c0000e05cb1228188ffff000000000000000000000000",
        "010000000a00303a0000000000000000000000000000000000000001000000000a0087b8000000000000000000000000",
        "000000000000000100000000d2320500e70800000d1c0000404416088188ffffb8873a300a0000000000000000000000",
        "00000000000000000000000000010000000000000000000000000000000100000a0200000000000032840100ef080000",
        "0d1c0000404416088188ffff0200000007000000b8873a300a0006000000000000000000000000000000000000000000",
        "0000000100000000000000000000000000000001123d6e05ef0800000d1c0000c03016088188ffff0a00000007000000",
        "b82200000a0006007f000006000000000000000000000000000000000000000100000000000000000000000000000000",
    ];

    fn page_bytes() -> Vec<u8> {
        let hex: String = PAGE_HEX.concat();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("fixture is hex"))
            .collect()
    }

    fn decoder() -> Decoder {
        let page = PageLayout::from_format(&parse_format(HEADER_PAGE).unwrap()).unwrap();
        Decoder {
            page,
            state: parse_format(STATE_FORMAT).unwrap(),
            send_reset: Some(parse_format(SEND_RESET_FORMAT).unwrap()),
            receive_reset: Some(parse_format(RECEIVE_RESET_FORMAT).unwrap()),
        }
    }

    fn decoded_fixture() -> Vec<Record> {
        let d = decoder();
        let bytes = page_bytes();
        let page = parse_page(&bytes, &d.page).expect("the fixture page parses");
        assert!(!page.missed);
        page.records
            .iter()
            .map(|r| d.decode(r.ts, r.data).expect("every fixture event decodes"))
            .collect()
    }

    fn v6(port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
    }

    fn any6() -> SocketAddr {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    }

    #[test]
    fn a_trace_can_move_between_threads_and_be_shared() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<StateTrace>();
        send_sync::<TraceLog>();
        send_sync::<TraceError>();
    }

    #[test]
    fn format_file_gives_offsets_of_every_field() {
        let f = parse_format(STATE_FORMAT).unwrap();
        assert_eq!(f.id, Some(2287));
        assert_eq!(f.field("common_pid"), Some(Field { offset: 4, size: 4 }));
        assert_eq!(f.field("skaddr"), Some(Field { offset: 8, size: 8 }));
        assert_eq!(
            f.field("saddr"),
            Some(Field {
                offset: 32,
                size: 4
            })
        );
        assert_eq!(
            f.field("saddr_v6"),
            Some(Field {
                offset: 40,
                size: 16
            })
        );
        assert_eq!(
            f.field("daddr_v6"),
            Some(Field {
                offset: 56,
                size: 16
            })
        );
        let header = PageLayout::from_format(&parse_format(HEADER_PAGE).unwrap()).unwrap();
        assert_eq!(header.timestamp, Field { offset: 0, size: 8 });
        assert_eq!(header.commit, Field { offset: 8, size: 8 });
        assert_eq!(header.data, 16);
    }

    #[test]
    fn send_reset_reasons_come_from_the_print_fmt() {
        let f = parse_format(SEND_RESET_FORMAT).unwrap();
        assert_eq!(f.id, Some(2280));
        assert_eq!(f.reasons.get(&1).map(String::as_str), Some("NO_SOCKET"));
        assert_eq!(
            f.reasons.get(&11).map(String::as_str),
            Some("TCP_ABORT_ON_CLOSE")
        );
        assert_eq!(f.reasons.get(&25).map(String::as_str), Some("MAX"));
        assert_eq!(
            f.field("saddr"),
            Some(Field {
                offset: 32,
                size: 28
            })
        );
    }

    #[test]
    fn real_page_decodes_to_the_tcpstates_timeline() {
        let records = decoded_fixture();
        let states: Vec<(
            u64,
            SocketAddr,
            SocketAddr,
            TcpState,
            TcpState,
            Context,
            i32,
        )> = records
            .iter()
            .filter_map(|r| match r.kind {
                Kind::State { old, new } => {
                    Some((r.skaddr, r.src, r.dst, old, new, r.context, r.tid))
                }
                Kind::Reset { .. } => None,
            })
            .map(|(k, s, d, o, n, c, t)| (k & 0xffff, s, d, o, n, c, t))
            .collect();
        let (l, srv, cli) = (0x30c0, 0x09c0, 0x4440);
        let (task, soft) = (Context::Task, Context::Softirq);
        let expected = vec![
            (l, v6(8888), any6(), Close, Listen, task, 7181),
            (cli, v6(12345), v6(8888), Close, SynSent, task, 7181),
            (cli, v6(12345), v6(8888), SynSent, Established, task, 7181),
            (srv, v6(8888), v6(12345), Listen, SynRecv, soft, 7181),
            (srv, v6(8888), v6(12345), SynRecv, Established, soft, 7181),
            (srv, v6(8888), v6(12345), Established, FinWait1, task, 7181),
            (cli, v6(12345), v6(8888), Established, CloseWait, soft, 7181),
            // The FIN's ACK and the client's FIN arrive in softirq while
            // another task (7281) runs: its tid proves nothing.
            (srv, v6(8888), v6(12345), FinWait1, FinWait2, soft, 7281),
            (srv, v6(8888), v6(12345), FinWait2, Close, soft, 7281),
            (cli, v6(12345), v6(8888), CloseWait, LastAck, task, 7181),
            (cli, v6(12345), v6(8888), LastAck, Close, task, 7181),
            // The same memory as a new socket, connecting to a closed port
            // (no local port yet when SYN_SENT is entered).
            (cli, v6(0), v6(12346), Close, SynSent, task, 7181),
            (cli, v6(34744), v6(12346), SynSent, Close, task, 7181),
            (l, v6(8888), any6(), Listen, Close, task, 7181),
        ];
        assert_eq!(states, expected);

        let resets: Vec<&Record> = records
            .iter()
            .filter(|r| matches!(r.kind, Kind::Reset { .. }))
            .collect();
        assert_eq!(resets.len(), 2);
        assert_eq!(resets[0].skaddr, 0, "a RST for a closed port has no socket");
        assert_eq!((resets[0].src, resets[0].dst), (v6(12346), v6(34744)));
        assert_eq!(
            resets[0].kind,
            Kind::Reset {
                direction: ResetDirection::Sent,
                state: None,
                reason: Some("NO_SOCKET".into())
            }
        );
        assert_eq!((resets[1].src, resets[1].dst), (v6(34744), v6(12346)));
        assert!(matches!(
            resets[1].kind,
            Kind::Reset {
                direction: ResetDirection::Received,
                ..
            }
        ));
    }

    #[test]
    fn real_page_keeps_nanoseconds_and_orders_the_events() {
        let bytes = page_bytes();
        let page = parse_page(&bytes, &decoder().page).unwrap();
        assert_eq!(page.records.len(), 16);
        // The page stamp is the first event's time (CLOCK_TAI, ns); the text
        // trace would print 1795719070.643791.
        assert_eq!(page.records[0].ts, 1_795_719_070_643_791_302);
        assert_eq!(page.records[15].ts, 1_795_719_070_749_971_368);
        assert!(page.records.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn ownership_follows_the_owner_threads_task_context_only() {
        let records = decoded_fixture();
        let own = attribute(&records, &[7181]);
        let tuple_only: Vec<&Record> = records
            .iter()
            .zip(&own)
            .filter(|(_, o)| **o == Owner::TupleOnly)
            .map(|(r, _)| r)
            .collect();
        // Everything but the RST that had no socket is the owner's.
        assert_eq!(tuple_only.len(), 1);
        assert_eq!(tuple_only[0].skaddr, 0);

        // The softirq events ran "as" 7281, but that proves nothing.
        assert!(
            attribute(&records, &[7281])
                .iter()
                .all(|o| *o == Owner::TupleOnly)
        );
        assert!(
            attribute(&records, &[])
                .iter()
                .all(|o| *o == Owner::TupleOnly)
        );
    }

    #[test]
    fn incarnations_are_numbered_and_reused_memory_gets_a_new_number() {
        let records = decoded_fixture();
        // listener 1, client 2, server child 3; the refused connect's socket
        // reuses the client's memory: 4. The RST for the closed port had no
        // socket (0); the one received belongs to socket 4.
        assert_eq!(
            incarnations(&records),
            vec![1, 2, 2, 3, 3, 3, 2, 3, 3, 2, 2, 4, 0, 4, 4, 1]
        );
    }

    fn rec(
        ts: u64,
        skaddr: u64,
        tid: i32,
        context: Context,
        old: TcpState,
        new: TcpState,
    ) -> Record {
        Record {
            ts,
            skaddr,
            tid,
            context,
            src: v6(1),
            dst: v6(2),
            kind: Kind::State { old, new },
        }
    }

    #[test]
    fn reused_socket_memory_starts_a_new_incarnation() {
        let task = Context::Task;
        let soft = Context::Softirq;
        let records = vec![
            // Ours: a child socket accepted and closed by thread 10.
            rec(1, 0xa, 99, soft, Listen, SynRecv),
            rec(2, 0xa, 99, soft, SynRecv, Established),
            rec(3, 0xa, 10, task, Established, FinWait1),
            rec(4, 0xa, 99, soft, FinWait1, FinWait2),
            rec(5, 0xa, 99, soft, FinWait2, Close),
            // Another case's socket at the same address, same tuple.
            rec(6, 0xa, 20, task, Close, SynSent),
            rec(7, 0xa, 10, soft, SynSent, Established),
            // And another case's child that no owner ever touches.
            rec(8, 0xa, 10, soft, Listen, SynRecv),
        ];
        let owners = attribute(&records, &[10]);
        use Owner::*;
        assert_eq!(
            owners,
            vec![Own, Own, Own, Own, Own, TupleOnly, TupleOnly, TupleOnly]
        );
    }

    /// Builds a page: 16-byte header (time stamp, commit) and `body`.
    fn page(ts: u64, commit_flags: u64, body: &[u32]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&ts.to_ne_bytes());
        p.extend_from_slice(&((body.len() as u64 * 4) | commit_flags).to_ne_bytes());
        for w in body {
            p.extend_from_slice(&w.to_ne_bytes());
        }
        p.resize(4096, 0);
        p
    }

    fn header(type_len: u32, delta: u32) -> u32 {
        type_len | (delta << 5)
    }

    #[test]
    fn page_decoding_follows_extends_absolute_stamps_and_discards() {
        let layout = PageLayout {
            timestamp: Field { offset: 0, size: 8 },
            commit: Field { offset: 8, size: 8 },
            data: 16,
        };
        let base: u64 = 1_795_719_070_000_000_000; // has the top 5 bits set
        let abs = base + (1 << 28) + 1000;
        #[rustfmt::skip]
        let body = [
            header(1, 5), 0xaaaa,                 // data, 4 bytes, +5
            header(RB_TYPE_TIME_EXTEND, 7), 2,    // +(2 << 27) + 7
            header(2, 0), 0xbbbb, 0xcccc,         // data, 8 bytes
            header(RB_TYPE_PADDING, 1), 12, 0, 0, // a discarded event (16 bytes): skipped
            header(0, 3), 12, 0xdddd, 0xeeee,     // long form: length 12 counts itself
            // absolute: the low 59 bits of `abs`; the top 5 come from the page
            header(RB_TYPE_TIME_STAMP, (abs & ((1 << 27) - 1)) as u32),
            ((abs & !TS_MSB) >> 27) as u32,
            header(1, 1), 0xffff,
            header(RB_TYPE_PADDING, 0),           // end of page
            header(1, 1), 0x1111,                 // never read
        ];
        let p = page(base, RB_MISSED_EVENTS, &body);
        let parsed = parse_page(&p, &layout).unwrap();
        assert!(parsed.missed);
        let got: Vec<(u64, Vec<u8>)> = parsed
            .records
            .iter()
            .map(|r| (r.ts - base, r.data.to_vec()))
            .collect();
        let after_extend = 5 + (2 << 27) + 7;
        assert_eq!(
            got,
            vec![
                (5, 0xaaaa_u32.to_ne_bytes().to_vec()),
                (
                    after_extend,
                    [0xbbbb_u32.to_ne_bytes(), 0xcccc_u32.to_ne_bytes()].concat()
                ),
                (
                    after_extend + 3,
                    [0xdddd_u32.to_ne_bytes(), 0xeeee_u32.to_ne_bytes()].concat()
                ),
                ((1 << 28) + 1001, 0xffff_u32.to_ne_bytes().to_vec()),
            ]
        );
    }

    #[test]
    fn page_with_a_bad_commit_is_an_error() {
        let layout = PageLayout::from_format(&parse_format(HEADER_PAGE).unwrap()).unwrap();
        let mut p = page(0, 0, &[header(1, 0), 0]);
        p[8..16].copy_from_slice(&9000u64.to_ne_bytes());
        assert!(parse_page(&p, &layout).is_err());
        assert!(parse_page(&p[..10], &layout).is_err());
    }

    #[test]
    fn kernel_filter_uses_host_order_ipv4_and_ports_for_ipv6() {
        let v4 = TraceSpec::new(["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()])
            .ports([8888, 12345]);
        let c = filter_candidates(&v4, true);
        let a = format!("0x{:08x}", u32::from_ne_bytes([198, 18, 0, 1]));
        let b = format!("0x{:08x}", u32::from_ne_bytes([198, 18, 0, 2]));
        assert_eq!(
            c[0],
            format!(
                "protocol == 6 && family == 2 && (saddr == {a} || daddr == {a} || saddr == {b} || \
                 daddr == {b}) && (sport == 8888 || dport == 8888 || sport == 12345 || dport == 12345)"
            )
        );
        assert_eq!(
            c[1],
            "protocol == 6 && (sport == 8888 || dport == 8888 || sport == 12345 || dport == 12345)"
        );
        assert_eq!(c[2], "protocol == 6");
        if cfg!(target_endian = "little") {
            assert_eq!(a, "0x010012c6");
        }

        let v6 = TraceSpec::new(["2001:2::1".parse().unwrap()]).ports([8888]);
        assert_eq!(
            filter_candidates(&v6, false),
            vec![
                "family == 10 && (sport == 8888 || dport == 8888)",
                "(sport == 8888 || dport == 8888)"
            ]
        );
        let both = TraceSpec::new(["2001:2::1".parse().unwrap(), "198.18.0.1".parse().unwrap()]);
        assert_eq!(
            filter_candidates(&both, true)[0],
            format!(
                "protocol == 6 && ((family == 2 && (saddr == {a} || daddr == {a})) || family == 10)"
            )
        );
    }

    #[test]
    fn spec_keeps_its_tuple_and_names_sides() {
        let server: SocketAddr = "198.18.0.1:8888".parse().unwrap();
        let client: SocketAddr = "198.18.0.2:12345".parse().unwrap();
        let other: SocketAddr = "10.0.0.1:8888".parse().unwrap();
        let spec = TraceSpec::new([server.ip(), client.ip()])
            .ports([8888, 12345])
            .server(server);
        assert!(spec.matches(server, client));
        assert!(spec.matches("198.18.0.2:0".parse().unwrap(), server)); // SYN_SENT, no port yet
        assert!(!spec.matches(other, "10.0.0.2:1".parse().unwrap()));
        assert!(!spec.matches(
            "198.18.0.1:22".parse().unwrap(),
            "198.18.0.2:5000".parse().unwrap()
        ));
        assert_eq!(spec.side(server, client), Some(Side::Server));
        assert_eq!(spec.side(client, server), Some(Side::Client));
        assert_eq!(spec.side(other, client), None);
    }

    #[test]
    fn instance_names_and_stats_parse() {
        assert_eq!(instance_pid("synlab-1234-0"), Some(1234));
        assert_eq!(instance_pid("synlab-1234-x"), None);
        assert_eq!(instance_pid("synlab-x-1"), None);
        assert_eq!(instance_pid("other-1234-0"), None);
        let stats = "entries: 0\noverrun: 2\ncommit overrun: 0\nbytes: 0\n\
                     oldest event ts: 1795718368.199833\ndropped events: 3\nread events: 16\n";
        assert_eq!(lost_in_stats(stats), 5);
    }

    #[test]
    fn state_changes_serialise_with_kernel_names() {
        let c = StateChange {
            at_ns: 1,
            sock: 2,
            src: v6(8888),
            dst: v6(12345),
            old: FinWait2,
            new: Close,
            side: Some(Side::Server),
            tid: 3,
            context: Context::Softirq,
            owner: Owner::TupleOnly,
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["old"], "TCP_FIN_WAIT2");
        assert_eq!(json["new"], "TCP_CLOSE");
        assert_eq!(json["side"], "server");
        assert_eq!(json["context"], "softirq");
        assert_eq!(json["owner"], "tuple-only");
        assert_eq!(json["src"], "[::1]:8888");
    }

    // ---- root: real connections in private network namespaces ----

    fn require_root() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            panic!("this test needs root (tracefs, unshare(CLONE_NEWNET)): run `sudo cargo test`");
        }
    }

    const LOCALHOST4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn family_af(ip: IpAddr) -> libc::c_int {
        if ip.is_ipv6() {
            libc::AF_INET6
        } else {
            libc::AF_INET
        }
    }

    fn realtime() -> u64 {
        u64::try_from(clock_ns(libc::CLOCK_REALTIME)).unwrap()
    }

    fn gettid() -> libc::pid_t {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// Runs `f` on a new thread in a new network namespace with lo up.
    fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            // SAFETY: unshare only changes this thread's namespace membership.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                panic!("unshare(CLONE_NEWNET): {}", io::Error::last_os_error());
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async {
                let h = netlink::connect().await?;
                netlink::set_lo_up(&h).await
            })
            .expect("ip link set lo up");
            drop(rt);
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Polls the trace until `done` holds, for at most 5 s.
    fn wait_for(trace: &AnyTrace, what: &str, done: impl Fn(&TraceLog) -> bool) -> TraceLog {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = trace.snapshot().expect("read the trace");
            if done(&log) {
                return log;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after 5 s waiting for {what}; seen:\n{}",
                    lines(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn lines(log: &TraceLog) -> String {
        let mut out: Vec<String> = log.changes.iter().map(|c| c.to_string()).collect();
        out.extend(log.resets.iter().map(|r| r.to_string()));
        out.join("\n")
    }

    fn saw(log: &TraceLog, side: Side, old: TcpState, new: TcpState) -> bool {
        log.side(side).any(|c| c.old == old && c.new == new)
    }

    /// The own state changes of `side`, one list of (old, new) per socket
    /// incarnation, in time order.
    fn sequences(log: &TraceLog, side: Side) -> Vec<Vec<(TcpState, TcpState)>> {
        let mut order: Vec<u32> = Vec::new();
        let mut by_sock: HashMap<u32, Vec<(TcpState, TcpState)>> = HashMap::new();
        for c in log.side(side) {
            if !order.contains(&c.sock) {
                order.push(c.sock);
            }
            by_sock.entry(c.sock).or_default().push((c.old, c.new));
        }
        order
            .iter()
            .map(|s| by_sock.remove(s).unwrap_or_default())
            .collect()
    }

    /// A private or a shared trace, for tests that run both.
    enum AnyTrace {
        Private(Box<StateTrace>),
        Shared(SharedTrace),
    }

    impl AnyTrace {
        fn start(shared: bool, scope: &[IpAddr], spec: TraceSpec) -> AnyTrace {
            if shared {
                AnyTrace::Shared(SharedTrace::start(scope, spec).expect("start the shared trace"))
            } else {
                AnyTrace::Private(Box::new(
                    StateTrace::start(spec).expect("start the state trace"),
                ))
            }
        }

        fn info(&self) -> &TraceInfo {
            match self {
                AnyTrace::Private(t) => t.info(),
                AnyTrace::Shared(t) => t.info(),
            }
        }

        fn snapshot(&self) -> Result<TraceLog, TraceError> {
            match self {
                AnyTrace::Private(t) => t.snapshot(),
                AnyTrace::Shared(t) => t.snapshot(),
            }
        }

        fn stop(self) -> Result<TraceLog, TraceError> {
            match self {
                AnyTrace::Private(t) => t.stop(),
                AnyTrace::Shared(t) => t.stop(),
            }
        }
    }

    struct CloseFirst {
        log: TraceLog,
        listen_window: (u64, u64),
        connect_window: (u64, u64),
        time_wait: Vec<diag::TcpSock>,
    }

    /// In the calling thread's namespace: a listener on 127.0.0.1:`port`, a
    /// client bound to :`cport`; the server closes first, then the client.
    /// `sync` lines up parallel runs: after their traces start, and before
    /// they stop. `shared`: on the process's shared instance for `[ip]`.
    fn server_closes_first(
        ip: IpAddr,
        port: u16,
        cport: u16,
        sync: Option<Arc<Barrier>>,
        shared: bool,
    ) -> CloseFirst {
        let server = SocketAddr::new(ip, port);
        let client = SocketAddr::new(ip, cport);
        let spec = TraceSpec::new([server.ip()])
            .ports([port, cport])
            .server(server)
            .owner(gettid());
        let trace = AnyTrace::start(shared, &[ip], spec);
        assert_eq!(trace.info().clock, "tai");
        if let Some(b) = &sync {
            b.wait();
        }

        let t0 = realtime();
        let listener = TcpListener::bind(server).expect("listen");
        let t1 = realtime();
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(server),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        sock.set_reuse_address(true).unwrap();
        sock.bind(&client.into()).expect("bind the client");
        let t2 = realtime();
        sock.connect(&server.into()).expect("connect");
        let t3 = realtime();
        let (accepted, _) = listener.accept().expect("accept");
        drop(accepted); // the server closes first: FIN_WAIT1
        let mut stream: TcpStream = sock.into();
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).expect("read the FIN"), 0); // CLOSE_WAIT
        drop(stream); // LAST_ACK

        wait_for(&trace, "both sides to close", |log| {
            saw(log, Side::Client, LastAck, Close) && saw(log, Side::Server, FinWait2, Close)
        });
        let time_wait = diag::find(family_af(ip), TimeWait.mask(), port, cport).expect("sock_diag");
        drop(listener);
        wait_for(&trace, "the listener to close", |log| {
            saw(log, Side::Server, Listen, Close)
        });
        if let Some(b) = &sync {
            b.wait();
        }
        let instance = trace.info().instance.clone();
        let log = trace.stop().expect("stop the state trace");
        assert_eq!(
            instance.exists(),
            shared,
            "{}: a private instance goes with stop(), the shared one stays",
            instance.display()
        );
        CloseFirst {
            log,
            listen_window: (t0, t1),
            connect_window: (t2, t3),
            time_wait,
        }
    }

    fn assert_close_first_sequences(run: &CloseFirst) {
        let log = &run.log;
        assert_eq!(
            sequences(log, Side::Server),
            vec![
                vec![(Close, Listen)],
                vec![
                    (Listen, SynRecv),
                    (SynRecv, Established),
                    (Established, FinWait1),
                    (FinWait1, FinWait2),
                    // tcp_time_wait(): the timewait socket takes over, the
                    // full socket is done. No event says TIME_WAIT.
                    (FinWait2, Close),
                ],
            ]
            .into_iter()
            .map(|mut v| {
                if v == vec![(Close, Listen)] {
                    v.push((Listen, Close));
                }
                v
            })
            .collect::<Vec<_>>(),
            "server sequences; trace:\n{}",
            lines(log)
        );
        assert_eq!(
            sequences(log, Side::Client),
            vec![vec![
                (Close, SynSent),
                (SynSent, Established),
                (Established, CloseWait),
                (CloseWait, LastAck),
                (LastAck, Close),
            ]],
            "client sequences; trace:\n{}",
            lines(log)
        );
        // sock_diag agrees that the server's side sits in TIME_WAIT.
        assert_eq!(run.time_wait.len(), 1, "server TIME_WAIT via sock_diag");
        assert_eq!(log.lost_events, 0);

        // The clock: a state change made by a system call lies between the
        // CLOCK_REALTIME reads around that call.
        let at = |side, old, new| {
            log.side(side)
                .find(|c| c.old == old && c.new == new)
                .map(|c| c.at_ns)
                .unwrap()
        };
        let listen = at(Side::Server, Close, Listen);
        let syn_sent = at(Side::Client, Close, SynSent);
        assert!(
            run.listen_window.0 <= listen && listen <= run.listen_window.1,
            "LISTEN at {listen} outside listen() {:?}",
            run.listen_window
        );
        assert!(
            run.connect_window.0 <= syn_sent && syn_sent <= run.connect_window.1,
            "SYN_SENT at {syn_sent} outside connect() {:?}",
            run.connect_window
        );
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

    #[test]
    fn stale_instances_of_dead_processes_are_removed_and_live_ones_kept() {
        require_root();
        let (root, _) = tracefs_root().expect("tracefs");
        let pid_max: libc::pid_t = fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32768);
        let dead = (2..pid_max)
            .rev()
            .find(|p| !pid_alive(*p))
            .expect("a free pid");
        let stale_name = format!("synlab-{dead}-0");
        let live_name = format!("synlab-{}-999999", std::process::id());
        let stale = root.join("instances").join(&stale_name);
        let live = root.join("instances").join(&live_name);
        fs::create_dir(&stale).expect("mkdir a stale instance");
        fs::create_dir(&live).expect("mkdir a live instance");
        let removed = remove_stale_instances().expect("remove stale instances");
        let live_kept = live.exists();
        let _ = fs::remove_dir(&live);
        assert!(removed.contains(&stale_name), "removed: {removed:?}");
        assert!(!stale.exists());
        assert!(live_kept, "an instance of a live process was removed");
    }
}

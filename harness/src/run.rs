//! Run one case end to end: build the lab, start the capture, play the seed
//! experiment (connect, server closes first, reconnect from the same port while
//! the server holds TIME_WAIT), observe, tear down. Every wait has a deadline.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::time::{Instant as TokioInstant, timeout_at};

use crate::judge::{self, FirstConnection, Outcome, Verdict};
use crate::lab::{Addrs, DropLater, KeepNames, Lab, LabError, LabSpec, netlink};
use crate::observe::capture::{Capture, CaptureError, Frame};
use crate::observe::counters::{self, Counters};
use crate::observe::diag::{self, DiagError, TcpState};
use crate::observe::trace::{self, Reset, SharedTrace, StateChange, TraceError, TraceSpec};
use crate::peer::kernel;
use crate::peer::raw::{self, RawError, RawPeer};
use crate::report::timeline;
use crate::scenario::{Case, ClientKind, Family, SeqExpr};
use crate::wire::{self, Dir, Segment};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("sock_diag in the {side} namespace: {source}")]
    Diag {
        side: &'static str,
        source: DiagError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("timed out after {after_ms} ms waiting for {what}; last seen:\n{last_seen}")]
    Timeout {
        what: String,
        after_ms: u128,
        last_seen: String,
    },
    #[error(transparent)]
    Raw(RawError),
}

impl RunError {
    /// Errors that are about the environment (privilege), not about the case.
    pub fn is_privilege(&self) -> bool {
        matches!(self, RunError::Lab(LabError::NoPrivilege))
    }
}

/// Everything seen while a case ran: the evidence behind the outcome.
#[derive(Debug, Clone)]
pub struct Observation {
    pub segments: Vec<Segment>,
    pub frames: Vec<Frame>,
    pub first: FirstConnection,
    /// Index in `segments` of the SYN that hit TIME_WAIT.
    pub syn2_index: Option<usize>,
    /// The ISN forced on the kernel client with TCP_REPAIR, if any.
    pub forced_isn: Option<u32>,
    /// What the second `connect()` returned (kernel client).
    pub connect_result: Result<(), String>,
    /// What the raw peer did after its second SYN, one line per step.
    pub peer_notes: Vec<String>,
    /// The server namespace's `net.ipv4.tcp_timestamps` != 0 (input to the rules).
    pub server_ts_on: bool,
    /// The TIME_WAIT socket seen with sock_diag before the second SYN (`ss` line).
    pub time_wait_before: String,
    pub time_wait_after: bool,
    /// Counter deltas in the server / client namespace across the second SYN
    /// and what followed it.
    pub server_counters: Counters,
    pub client_counters: Counters,
    /// Every counter name the server namespace's kernel has.
    pub known_counters: Vec<String>,
    /// TCP state changes of this case's own sockets (sock:inet_sock_set_state),
    /// and the resets sent or received (tcp:tcp_send_reset / tcp_receive_reset).
    pub states: Vec<StateChange>,
    pub resets: Vec<Reset>,
    /// Why there is no state trace (tracefs unavailable), when there is none:
    /// the report then relies on the sock_diag snapshots.
    pub trace_unavailable: Option<String>,
    /// sock_diag snapshots: (capture-clock ns, what `ss` showed).
    pub snapshots: Vec<(u64, String)>,
    /// When the observation ended (capture clock); what the trace saw later is
    /// the lab's teardown and is left out.
    pub ended_ns: u64,
}

#[cfg(test)]
impl Observation {
    /// An observation of `segments` (which must hold a complete first
    /// connection) with nothing else seen, for unit tests of what reads it.
    pub(crate) fn for_tests(segments: Vec<Segment>) -> Observation {
        let first = FirstConnection::from_segments(&segments).expect("a first connection");
        Observation {
            syn2_index: judge::find_syn2(&segments, first.fin_index),
            segments,
            frames: vec![],
            first,
            forced_isn: None,
            connect_result: Ok(()),
            peer_notes: vec![],
            server_ts_on: true,
            time_wait_before: String::new(),
            time_wait_after: false,
            server_counters: Counters::new(),
            client_counters: Counters::new(),
            known_counters: vec!["TcpExt.PAWSTimewait".into()],
            states: vec![],
            resets: vec![],
            trace_unavailable: None,
            snapshots: vec![],
            ended_ns: u64::MAX,
        }
    }
}

/// A finished case: evidence, outcome and verdict.
#[derive(Debug, Clone)]
pub struct CaseRun {
    pub case: Case,
    pub kernel: String,
    pub obs: Observation,
    pub outcome: Outcome,
    pub verdict: Verdict,
    pub duration: Duration,
    /// The named namespaces left for inspection (`--keep`).
    pub kept: Option<KeepNames>,
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// How to run a case.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep the namespaces (named, under /run/netns) for inspection.
    pub keep: bool,
}

/// Run one case on a fresh current-thread runtime (for callers that are not async).
pub fn run_case_blocking(case: &Case) -> Result<CaseRun, RunError> {
    run_case_blocking_with(case, &RunOptions::default())
}

/// `run_case_blocking` with options.
pub fn run_case_blocking_with(case: &Case, opts: &RunOptions) -> Result<CaseRun, RunError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            what: "build a tokio runtime".into(),
            source,
        })?;
    rt.block_on(run_case_with(case, opts))
}

/// Run one case against the real kernel.
pub async fn run_case(case: &Case) -> Result<CaseRun, RunError> {
    run_case_with(case, &RunOptions::default()).await
}

/// Run one case against the real kernel, with options.
pub async fn run_case_with(case: &Case, opts: &RunOptions) -> Result<CaseRun, RunError> {
    let started = Instant::now();
    let deadline = TokioInstant::now() + case.timeout;
    // The state trace's instance is shared by every case of the process; the
    // first case has it made while its lab is built.
    let scope = trace_scope();
    trace::prepare_shared(&scope);
    let lab = Lab::build(
        &LabSpec {
            family: case.family,
            server_sysctl: case.server_sysctl.clone(),
            client_sysctl: case.client_sysctl.clone(),
            raw_client: case.client_kind == ClientKind::Raw,
            keep: opts.keep.then(|| KeepNames::for_case(&case.name)),
        },
        case.timeout,
    )
    .await?;
    let server_addr = SocketAddr::new(lab.addrs.server, case.port);
    let spec = TraceSpec::new([lab.addrs.server, lab.addrs.client])
        .ports([case.port, case.client_port])
        .server(server_addr)
        .owner(lab.server.tid())
        .owner(lab.client.tid());
    // Waits for the instance when the first case gets here before it is made.
    let trace = tokio::task::spawn_blocking(move || SharedTrace::start(&scope, spec))
        .await
        .unwrap_or_else(|e| {
            Err(TraceError::Unavailable {
                why: format!("starting the state trace failed: {e}"),
            })
        });
    let obs = observe(case, &lab, deadline).await;
    // Sockets close on their own threads as the lab goes: stop the trace after.
    drop(lab);
    let mut obs = obs?;
    match trace.and_then(SharedTrace::stop) {
        Ok(log) => {
            let end = obs.ended_ns;
            obs.states = log
                .own_changes()
                .filter(|c| c.at_ns <= end)
                .cloned()
                .collect();
            obs.resets = log
                .resets
                .iter()
                .filter(|r| r.at_ns <= end)
                .filter(|r| r.owner == trace::Owner::Own || r.side.is_some())
                .cloned()
                .collect();
            if log.lost_events > 0 {
                obs.trace_unavailable = Some(format!(
                    "the trace lost {} events (ring buffer full)",
                    log.lost_events
                ));
            }
        }
        Err(e) => obs.trace_unavailable = Some(e.to_string()),
    }
    let outcome = judge::analyze(&obs);
    let verdict = judge::judge(&case.expect, &outcome, &obs.known_counters);
    Ok(CaseRun {
        case: case.clone(),
        kernel: kernel_release(),
        obs,
        outcome,
        verdict,
        duration: started.elapsed(),
        kept: opts.keep.then(|| KeepNames::for_case(&case.name)),
    })
}

/// How long after the client's FIN (capture stamp) a kernel client's second SYN
/// may go: the TCP timestamp clock has ticked past the FIN's by then.
const FIN_TICK: Duration = Duration::from_millis(2);
/// The most the run waits for the raw peer's last frames to be captured.
const SETTLE_LIMIT: Duration = Duration::from_secs(1);

/// Every address a lab uses, in either family: what the shared state trace's
/// kernel filter lets through.
fn trace_scope() -> Vec<IpAddr> {
    [Family::V4, Family::V6]
        .into_iter()
        .flat_map(|f| {
            let a = Addrs::for_family(f);
            [a.server, a.client]
        })
        .collect()
}

fn family_af(family: Family) -> libc::c_int {
    match family {
        Family::V4 => libc::AF_INET,
        Family::V6 => libc::AF_INET6,
    }
}

fn timeout_err(case: &Case, what: &str, segments: &[Segment]) -> RunError {
    RunError::Timeout {
        what: what.to_string(),
        after_ms: case.timeout.as_millis(),
        last_seen: if segments.is_empty() {
            "  (no TCP segment captured)".to_string()
        } else {
            timeline::plain(segments)
        },
    }
}

fn raw_err(case: &Case, e: RawError) -> RunError {
    match e {
        RawError::Timeout { what, seen } => timeout_err(case, &what, &seen),
        other => RunError::Raw(other),
    }
}

/// Does the client side offer TCP timestamps (its `net.ipv4.tcp_timestamps`,
/// default 1)?
fn client_offers_ts(case: &Case) -> bool {
    case.sysctl(false, "net.ipv4.tcp_timestamps")
        .is_none_or(|v| v.trim() != "0")
}

fn read_counters(side: &str, r: std::io::Result<Counters>) -> Result<Counters, RunError> {
    r.map_err(|source| RunError::Io {
        what: format!("read the {side} namespace's MIB counters"),
        source,
    })
}

/// The experiment, for either kind of client: first connection, TIME_WAIT, the
/// second SYN, and the evidence of what followed.
async fn observe(case: &Case, lab: &Lab, deadline: TokioInstant) -> Result<Observation, RunError> {
    let server_addr = SocketAddr::new(lab.addrs.server, case.port);
    let client_addr = SocketAddr::new(lab.addrs.client, case.client_port);
    let af = family_af(case.family);
    let (port, client_port) = (case.port, case.client_port);
    let raw = case.client_kind == ClientKind::Raw;

    let ifindex = lab.server_ifindex;
    let capture = lab
        .server
        .run(move || async move { Capture::start(ifindex) })
        .await??;

    lab.server
        .run(move || async move {
            let listener = kernel::listen(server_addr)?;
            tokio::task::spawn_local(kernel::serve_close_first(listener));
            Ok::<_, std::io::Error>(())
        })
        .await?
        .map_err(|source| RunError::Io {
            what: format!("server: listen on {server_addr}"),
            source,
        })?;

    // The raw peer lives on the client namespace's thread.
    // Frames the client veth sent before the capture started (none expected).
    let mut uncaptured_before = 0;
    let peer = if raw {
        let ep = raw::Endpoints {
            ifindex: lab.client_ifindex,
            client_mac: lab.client_mac,
            server_mac: lab.server_mac,
            client: client_addr,
            server: server_addr,
            offer_ts: client_offers_ts(case),
        };
        // With it, what the client veth has sent so far (the client kernel sends
        // nothing: no address, IPv6 off), to tell later when all the peer wrote
        // has been captured.
        let index = lab.client_ifindex;
        let (opened, sent_before) = lab
            .client
            .run(move || async move {
                let sent = match netlink::connect().await {
                    Ok(h) => netlink::tx_packets(&h, index).await,
                    Err(e) => Err(e),
                };
                (RawPeer::open(ep), sent)
            })
            .await?;
        let sent_before = sent_before.map_err(|source| LabError::Link {
            side: "client",
            source,
        })?;
        uncaptured_before = sent_before.saturating_sub(capture.incoming());
        // Its socket is closed off this thread when the case is done.
        Some(DropLater::new(Arc::new(opened.map_err(RunError::Raw)?)))
    } else {
        None
    };

    // The first connection: the server accepts and closes at once.
    if let Some(peer) = &peer {
        let (p, c) = (Arc::clone(peer), capture.clone());
        lab.client
            .run(move || async move { raw::first_connection(&p, &c, deadline).await })
            .await?
            .map_err(|e| raw_err(case, e))?;
    } else {
        let finished = lab
            .client
            .run(move || async move {
                match timeout_at(deadline, kernel::first_connection(client_addr, server_addr)).await
                {
                    Ok(r) => r.map(|()| true),
                    Err(_) => Ok(false),
                }
            })
            .await?
            .map_err(|source| RunError::Io {
                what: format!("client: first connection {client_addr} -> {server_addr}"),
                source,
            })?;
        if !finished {
            return Err(timeout_err(
                case,
                "the first connection to close",
                &capture.segments(),
            ));
        }
    }

    // The server has ACKed the client's FIN: its side is in TIME_WAIT now.
    let first = capture
        .wait_for(deadline, FirstConnection::from_segments)
        .await
        .map_err(|segs| timeout_err(case, "the first connection's FIN exchange", &segs))?;
    let fin_at_ns = capture
        .segments()
        .get(first.fin_index)
        .map_or_else(now_ns, |s| s.at_ns);

    let mut snapshots = Vec::new();
    let time_wait_before = wait_diag(
        lab,
        deadline,
        case,
        &capture,
        move || {
            let tw = diag::find(af, TcpState::TimeWait.mask(), port, client_port)?;
            Ok(tw.first().map(|s| s.to_string()))
        },
        "server",
        "the server's TIME_WAIT socket (ss -tan state time-wait)",
    )
    .await?;
    snapshots.push((
        now_ns(),
        format!("server: {time_wait_before} (sock_diag, before the second SYN)"),
    ));
    if !raw {
        wait_diag(
            lab,
            deadline,
            case,
            &capture,
            move || {
                let left = diag::find(af, diag::ALL_STATES, client_port, port)?;
                Ok(left.is_empty().then_some(()))
            },
            "client",
            "the client's first socket to be gone",
        )
        .await?;
        // The kernel's TCP timestamp clock ticks in milliseconds: let it tick past
        // the client's FIN, so a kernel SYN's tsval is newer than ts_recent and the
        // outcome never depends on which millisecond the SYN falls in. Counted
        // from the FIN's capture stamp (taken after it was sent), not from when
        // we saw it, so the waits above count towards it.
        let since_fin = Duration::from_nanos(now_ns().saturating_sub(fin_at_ns));
        if let Some(left) = FIN_TICK.checked_sub(since_fin) {
            tokio::time::sleep(left).await;
        }
    }

    let server_before = read_counters(
        "server",
        lab.server.run(|| async { counters::read() }).await?,
    )?;
    let client_before = read_counters(
        "client",
        lab.client.run(|| async { counters::read() }).await?,
    )?;

    let mut forced_isn = None;
    let mut peer_notes = Vec::new();
    let connect_result = if let Some(peer) = &peer {
        let (p, c) = (Arc::clone(peer), capture.clone());
        let (rcv_nxt, ts_recent, negotiated) =
            (first.rcv_nxt, first.ts_recent, first.ts_negotiated);
        let (seq, tsval, steps) = (case.seq.value, case.tsval.value, case.then.clone());
        let played = lab
            .client
            .run(move || async move {
                raw::second_syn(
                    &p, &c, rcv_nxt, ts_recent, negotiated, seq, tsval, &steps, deadline,
                )
                .await
            })
            .await?
            .map_err(|e| raw_err(case, e))?;
        peer_notes = played.notes;
        Ok(())
    } else {
        forced_isn = match case.seq.value {
            SeqExpr::Auto => None,
            SeqExpr::RcvNxt(off) => Some(wire::add(first.rcv_nxt, off)),
        };
        let isn = forced_isn;
        let (tx, rx) = oneshot::channel();
        lab.client.spawn_task(move || async move {
            match timeout_at(deadline, kernel::connect(client_addr, server_addr, isn)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send(Ok(()));
                    // Hold the connection until the namespace goes.
                    std::future::pending::<()>().await;
                    drop(stream);
                }
                Ok(Err(e)) => {
                    let _ = tx.send(Err(format!("connect() failed: {e}")));
                }
                Err(_) => {
                    let _ = tx.send(Err(
                        "connect() had not finished at the case deadline".to_string()
                    ));
                }
            }
        })?;
        rx.await
            .unwrap_or_else(|_| Err("the client task stopped".to_string()))
    };

    // Wait for the evidence: the handshake's last ACK when connect() succeeded,
    // otherwise the server's first answer (or the deadline). The raw peer has
    // already waited for every answer it needed.
    if !raw {
        let fin_index = first.fin_index;
        let established = connect_result.is_ok();
        let _ = capture
            .wait_for(deadline, |segs| {
                let syn2 = judge::find_syn2(segs, fin_index)?;
                if established {
                    judge::handshake_ack(segs, syn2).map(|_| ())
                } else {
                    segs[syn2..]
                        .iter()
                        .any(|s| s.dir == Dir::ToClient)
                        .then_some(())
                }
            })
            .await;
    } else {
        // The peer's last frame (the ACK of a SYN-ACK) is not waited for by the
        // peer itself: look once everything the client veth sent was captured.
        // Best effort within a second: a shortfall can only mean a lost frame,
        // which the evidence then shows.
        let index = lab.client_ifindex;
        let sent = lab
            .client
            .run(move || async move {
                let h = netlink::connect().await?;
                netlink::tx_packets(&h, index).await
            })
            .await?
            .map_err(|source| LabError::Link {
                side: "client",
                source,
            })?;
        let until = deadline.min(TokioInstant::now() + SETTLE_LIMIT);
        let _ = capture
            .wait_incoming(until, sent.saturating_sub(uncaptured_before))
            .await;
    }

    let time_wait_after = lab
        .server
        .run(move || async move {
            diag::find(af, TcpState::TimeWait.mask(), port, client_port).map(|v| !v.is_empty())
        })
        .await?
        .map_err(|source| RunError::Diag {
            side: "server",
            source,
        })?;
    let server_after = read_counters(
        "server",
        lab.server.run(|| async { counters::read() }).await?,
    )?;
    let client_after = read_counters(
        "client",
        lab.client.run(|| async { counters::read() }).await?,
    )?;

    let segments = capture.segments();
    Ok(Observation {
        syn2_index: judge::find_syn2(&segments, first.fin_index),
        frames: capture.frames(),
        segments,
        first,
        forced_isn,
        connect_result,
        peer_notes,
        server_ts_on: case
            .sysctl(true, "net.ipv4.tcp_timestamps")
            .is_none_or(|v| v.trim() != "0"),
        time_wait_before,
        time_wait_after,
        server_counters: counters::delta(&server_before, &server_after),
        client_counters: counters::delta(&client_before, &client_after),
        known_counters: server_after.keys().cloned().collect(),
        states: Vec::new(),
        resets: Vec::new(),
        trace_unavailable: None,
        snapshots,
        ended_ns: now_ns(),
    })
}

/// CLOCK_REALTIME in ns, the capture's clock (SO_TIMESTAMPNS).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Poll a sock_diag query on one side until it yields `Some`, or the deadline.
///
/// Equivalent to: `ip netns exec <ns> ss -tan ...` in a loop.
async fn wait_diag<T: Send + 'static>(
    lab: &Lab,
    deadline: TokioInstant,
    case: &Case,
    capture: &Capture,
    query: impl Fn() -> Result<Option<T>, DiagError> + Send + Clone + 'static,
    side: &'static str,
    what: &str,
) -> Result<T, RunError> {
    let ns = if side == "server" {
        &lab.server
    } else {
        &lab.client
    };
    loop {
        let q = query.clone();
        let seen = ns
            .run(move || async move { q() })
            .await?
            .map_err(|source| RunError::Diag { side, source })?;
        if let Some(v) = seen {
            return Ok(v);
        }
        if TokioInstant::now() >= deadline {
            return Err(timeout_err(case, what, &capture.segments()));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

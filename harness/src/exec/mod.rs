//! The step executor: runs a case's steps (`plan`) in order over the lab's two
//! sides and gathers the evidence into an [`Observation`]. Every wait has the
//! case's deadline; a wait that reaches it ends the case with what was seen.

pub(crate) mod plan;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::RunError;
use crate::event::{Event, Mark};
use crate::evidence::{
    Closing, ConnectionSeen, ConntrackReading, FirstConnection, Observation, TimerReading, Traced,
};
use crate::lab::{Lab, Role};
use crate::observe::capture::{Capture, now_ns};
use crate::observe::conntrack::{self, Tuple};
use crate::observe::counters::{self, Counters};
use crate::observe::diag::{self, TcpSock};
use crate::observe::trace::{SharedTrace, TraceError};
use crate::peer::{Client, Ends, Played, Server};
use crate::scenario::{Case, Close};
use crate::wire::{Side, TcpState};

use plan::{Step, plan};

/// Run `case` in `lab` until its deadline: every step of its plan, then the
/// evidence, built once: what the steps saw, then (once the lab is gone) what
/// the state trace saw. The judge is the caller's.
pub(crate) async fn execute(
    case: &Case,
    lab: Lab,
    trace: Result<SharedTrace, TraceError>,
    deadline: Instant,
) -> Result<Observation, RunError> {
    let (ns, name) = lab.topology.capture;
    let ifindex = lab.ifindex(ns, name).ok_or_else(|| RunError::Unsupported {
        what: format!("a capture on {name}, which the lab did not make"),
    })?;
    let server = SocketAddr::new(lab.addr(Role::Server), case.port);
    let outgoing_only = lab.topology.capture_sees_both_copies();
    let capture = lab
        .thread(ns)
        .run(move || async move { Capture::start(ifindex, server, outgoing_only) })
        .await??;
    // More links, for the pcap only (the clients' side of a NAT).
    let mut more = Vec::new();
    for &(ns, name) in &lab.topology.also_capture {
        let Some(ifindex) = lab.ifindex(ns, name) else {
            continue;
        };
        let c = lab
            .thread(ns)
            .run(move || async move { Capture::start(ifindex, server, false) })
            .await??;
        more.push(c);
    }
    let ends = Ends {
        case,
        capture,
        deadline,
        timeout: case.timeout,
        server,
        client: Cell::new(SocketAddr::new(
            lab.addr(Role::Client),
            case.client_port.fixed().unwrap_or(0),
        )),
        lab,
    };
    let mut run = Run {
        more_captures: more,
        conntrack: Vec::new(),
        client: Client::open(case, &ends).await?,
        server: None,
        ends,
        closing: Closing {
            closer: case.closes_first,
            rst: case.close == Close::Linger0,
        },
        first: None,
        met: None,
        aligned_second: None,
        connections: Vec::new(),
        played: None,
        time_wait_before: String::new(),
        time_wait_seen_ns: None,
        snapshots: Vec::new(),
        before: None,
        timer_before: None,
        time_wait_after: false,
        timer_after: None,
        after: None,
    };
    for step in plan(case) {
        run.step(step).await?;
    }
    run.finish(case, trace)
}

/// How much of a second must be left when the connections start for them
/// and a reconnect right after them to fall in it (several connections under
/// emulation take a few hundred ms).
const SECOND_MARGIN: Duration = Duration::from_millis(600);

/// How long until the next whole second of `ktime_get_seconds()`.
fn time_to_next_second() -> Option<Duration> {
    let now = kernel_seconds_clock()?;
    let ns = u64::try_from(now.tv_nsec()).ok()?;
    Some(Duration::from_nanos(1_000_000_000u64.saturating_sub(ns)))
}

/// The whole seconds of `ktime_get_seconds()`.
fn monotonic_second() -> Option<i64> {
    kernel_seconds_clock().map(|t| t.tv_sec())
}

/// CLOCK_MONOTONIC_COARSE: the timekeeper's monotonic time as of its last
/// update (the tick), whose seconds are `ktime_get_seconds()`'s
/// (`tk->ktime_sec`). CLOCK_MONOTONIC runs ahead of it by up to a tick, more
/// under emulation, so a second read there can be one the kernel has not
/// reached yet.
fn kernel_seconds_clock() -> Option<nix::sys::time::TimeSpec> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC_COARSE).ok()
}

/// The executor's state between steps: what each step left for the next and
/// for the evidence.
struct Run<'a> {
    ends: Ends<'a>,
    /// Captures of more links (the clients' side of a NAT), for the pcap.
    more_captures: Vec<Capture>,
    /// The router's conntrack entry of the connection, before and after the
    /// event (behind a NAT).
    conntrack: Vec<ConntrackReading>,
    client: Client,
    server: Option<Server>,
    closing: Closing,
    first: Option<FirstConnection>,
    /// The client of the connection the event meets, as the server sees it.
    met: Option<SocketAddr>,
    /// The second of the kernel's clock the connections were aligned to.
    aligned_second: Option<i64>,
    /// Every connection made before the event, in order (`count`), and
    /// whether its closer's TIME_WAIT was seen.
    connections: Vec<(FirstConnection, bool)>,
    played: Option<Played>,
    time_wait_before: String,
    time_wait_seen_ns: Option<u64>,
    snapshots: Vec<(u64, String)>,
    /// Server and client counters before and after the event.
    before: Option<(Counters, Counters)>,
    timer_before: Option<TimerReading>,
    time_wait_after: bool,
    timer_after: Option<TimerReading>,
    after: Option<(Counters, Counters)>,
}

impl Run<'_> {
    async fn step(&mut self, step: Step) -> Result<(), RunError> {
        let ends = &self.ends;
        match step {
            Step::Listen(mode) => {
                self.server = Some(Server::listen(ends, mode).await?);
            }
            Step::AlignToSecond => {
                // The connections and the reconnect in one second of the
                // kernel's clock (ktime_get_seconds()). Again until the
                // second has ticked over: the coarse clock moves at the tick.
                while let Some(left) = time_to_next_second()
                    && left < SECOND_MARGIN
                {
                    crate::slots::idle(left + Duration::from_millis(1)).await;
                }
                self.aligned_second = monotonic_second();
            }
            Step::FirstConnection => {
                let start = ends.capture.segments().len();
                self.client.first_connection(ends).await?;
                let closing = self.closing;
                let first = ends
                    .capture
                    .wait_for(ends.deadline, |segs| {
                        FirstConnection::from_segments_after(segs, start, closing)
                    })
                    .await
                    .map_err(|seen| {
                        let what = if closing.rst {
                            "the first connection's RST"
                        } else {
                            "the first connection's FIN exchange"
                        };
                        ends.timeout(what, seen)
                    })?;
                // A port connect() picked is learnt from the capture.
                if ends.case.client_port.fixed().is_none() {
                    let client = ends.client();
                    ends.client
                        .set(SocketAddr::new(client.ip(), first.client_port()));
                }
                self.connections.push((first.clone(), false));
                self.met = Some(first.client);
                self.first = Some(first);
            }
            Step::AwaitTimeWait(side) => {
                let tw = self.poll_socket(side, |found| {
                    found.filter(|s| s.state == TcpState::TimeWait).cloned()
                });
                let tw = tw.await?.ok_or_else(|| {
                    ends.timeout(
                        &format!("the {side}'s TIME_WAIT socket (ss -tan state time-wait)"),
                        ends.capture.segments(),
                    )
                })?;
                let at = now_ns();
                self.snapshots
                    .push((at, format!("{side}: {tw} (sock_diag, before the event)")));
                self.time_wait_before = tw.to_string();
                self.time_wait_seen_ns = Some(at);
                if let Some(last) = self.connections.last_mut() {
                    last.1 = true;
                }
            }
            Step::AwaitGone(side) => {
                let gone = self.poll_socket(side, |found| found.is_none().then_some(()));
                gone.await?.ok_or_else(|| {
                    ends.timeout(
                        &format!(
                            "the {side}'s socket to be gone (an RST close, or no TIME_WAIT bucket)"
                        ),
                        ends.capture.segments(),
                    )
                })?;
                self.snapshots.push((
                    now_ns(),
                    format!(
                        "{side}: no socket of the connection left (sock_diag, before the event)"
                    ),
                ));
            }
            Step::ClientReady => {
                let first = self.first()?;
                self.client.ready(&self.ends, &first).await?;
            }
            Step::AgeTimeWait(age) => {
                let first = self.first()?;
                let began = ends
                    .capture
                    .segments()
                    .get(first.closed_index)
                    .map_or_else(now_ns, |s| s.at_ns);
                let old = Duration::from_nanos(now_ns().saturating_sub(began));
                if let Some(left) = age.checked_sub(old) {
                    tokio::time::sleep(left).await;
                }
            }
            Step::Before => {
                self.timer_before = self.timer().await?;
                self.before = Some(self.counters().await?);
                self.read_conntrack("before the event").await?;
            }
            Step::Event => {
                let first = self.first()?;
                let ends = &self.ends;
                let played = match &ends.case.event {
                    Event::Syn(syn) => self.client.syn(ends, &first, syn).await?,
                    Event::Segment(seg) => self.client.segment(ends, &first, seg).await?,
                    Event::Reconnect(event) => {
                        let seen = self.time_wait_seen_ns.unwrap_or_else(now_ns);
                        let played = self.client.reconnect(ends, event, seen).await?;
                        // Aligned to a second: the answer is only certain
                        // when the connect() fell in the same second.
                        if let Some(second) = self.aligned_second
                            && monotonic_second() != Some(second)
                        {
                            return Err(RunError::Uncertain {
                                why: format!(
                                    "the connections before the event and the connect() \
                                     {} ms after the TIME_WAIT appeared fell in two seconds \
                                     of the kernel's clock: before 6.14 tcp_twsk_unique() \
                                     compares whole seconds, so the answer is chance (the \
                                     machine was too slow for the margin of {} ms)",
                                    event.after_ms,
                                    SECOND_MARGIN.as_millis()
                                ),
                            });
                        }
                        played
                    }
                    Event::Restart(event) => match self.server.as_mut() {
                        Some(server) => server.restart(ends, event).await?,
                        None => {
                            return Err(ends.timeout(
                                "the listener to restart (no step made it)",
                                ends.capture.segments(),
                            ));
                        }
                    },
                };
                self.played = Some(played);
            }
            Step::Settle => {
                let first = self.first()?;
                let played = self.played.clone().unwrap_or_default();
                self.client.settle(&self.ends, &first, &played).await?;
            }
            Step::Observe => {
                // A reconnect may have met another of several TIME_WAITs
                // than the last one: its SYN's port says which.
                if let Ok(first) = self.first() {
                    let segs = ends.capture.segments();
                    if let Some(i) = first.syn2(&segs)
                        && self
                            .connections
                            .iter()
                            .any(|(c, _)| c.client_port() == segs[i].src.port())
                    {
                        let client = ends.client();
                        ends.client
                            .set(SocketAddr::new(client.ip(), segs[i].src.port()));
                    }
                }
                self.timer_after = self.timer().await?;
                self.read_conntrack("after the event").await?;
                let side = self.closing.closer;
                self.time_wait_after = self
                    .socket_now(side)
                    .await?
                    .is_some_and(|s| s.state == TcpState::TimeWait);
                self.after = Some(self.counters().await?);
            }
        }
        Ok(())
    }

    /// The first connection, once its step has run.
    fn first(&self) -> Result<FirstConnection, RunError> {
        self.first.clone().ok_or_else(|| {
            self.ends.timeout(
                "the first connection (no step made it)",
                self.ends.capture.segments(),
            )
        })
    }

    /// Poll `side`'s socket of the case's connection until `found` picks
    /// something, or the deadline.
    async fn poll_socket<T: Send + 'static>(
        &self,
        side: Side,
        found: impl Fn(Option<&TcpSock>) -> Option<T> + Send + Clone + 'static,
    ) -> Result<Option<T>, RunError> {
        let (local, remote) = self.tuple(side);
        self.ends
            .lab
            .ns(side)
            .poll(self.ends.deadline, move || {
                let sock = diag::lookup(local, remote)?;
                Ok(found(sock.as_ref()))
            })
            .await?
            .map_err(|source| RunError::Diag { side, source })
    }

    /// `side`'s socket of the case's connection now, if it has one.
    async fn socket_now(&self, side: Side) -> Result<Option<TcpSock>, RunError> {
        let (local, remote) = self.tuple(side);
        self.ends
            .lab
            .ns(side)
            .run(move || async move { diag::lookup(local, remote) })
            .await?
            .map_err(|source| RunError::Diag { side, source })
    }

    /// The TIME_WAIT side's timer now, when it has a TIME_WAIT socket.
    async fn timer(&self) -> Result<Option<TimerReading>, RunError> {
        if self.closing.rst {
            return Ok(None);
        }
        // The kernel read the timer somewhere between these two stamps.
        let asked = now_ns();
        let sock = self.socket_now(self.closing.closer).await?;
        let at_ns = asked + (now_ns().saturating_sub(asked)) / 2;
        Ok(sock
            .filter(|s| s.state == TcpState::TimeWait)
            .and_then(|s| s.timewait_ms)
            .map(|left_ms| TimerReading { at_ns, left_ms }))
    }

    /// The (local, remote) ends of the case's connection as `side` sees it.
    fn tuple(&self, side: Side) -> (SocketAddr, SocketAddr) {
        let s = self.ends.server;
        match side {
            // The peer as the server saw it (behind a NAT: the router's
            // address and the port it gave).
            Side::Server => (s, self.met.unwrap_or_else(|| self.ends.client())),
            Side::Client => (self.ends.client(), s),
        }
    }

    /// Behind a NAT: the router's conntrack entries of the event's 4-tuple
    /// as each client sends it (the first connection's, and another
    /// machine's on the same port), noted in the timeline.
    ///
    /// Equivalent to: `ip netns exec ROUTER conntrack -G -p tcp -s C -d S
    /// --sport P --dport 8888`.
    async fn read_conntrack(&mut self, when: &'static str) -> Result<(), RunError> {
        let ends = &self.ends;
        let Some(router) = ends.lab.topology.ns_of(Role::Router) else {
            return Ok(());
        };
        let port = ends.client().port();
        let from: Vec<SocketAddr> = ends
            .lab
            .topology
            .addrs
            .iter()
            .filter(|(r, _)| matches!(r, Role::Client | Role::ClientN(_)))
            .map(|(_, a)| SocketAddr::new(*a, port))
            .collect();
        let server = ends.server;
        let found = ends
            .lab
            .thread(router)
            .run(move || async move {
                let mut out = Vec::new();
                for src in from {
                    if let Some(e) = conntrack::lookup_tcp(&Tuple { src, dst: server })? {
                        out.push(e);
                    }
                }
                Ok::<_, conntrack::ConntrackError>(out)
            })
            .await?
            .map_err(|source| RunError::Conntrack { source })?;
        let at = now_ns();
        for entry in found {
            self.snapshots
                .push((at, format!("router: conntrack {entry} ({when})")));
            self.conntrack.push(ConntrackReading {
                at_ns: at,
                when,
                entry,
            });
        }
        Ok(())
    }

    /// Server and client counters now.
    async fn counters(&self) -> Result<(Counters, Counters), RunError> {
        let read = |side: Side| async move {
            self.ends
                .lab
                .ns(side)
                .run(|| async { counters::read() })
                .await?
                .map_err(|source| RunError::Io {
                    what: format!("read the {side} namespace's MIB counters"),
                    source,
                })
        };
        Ok((read(Side::Server).await?, read(Side::Client).await?))
    }

    /// The evidence, once every step has run. The lab goes first (its
    /// sockets close on their own threads), then the trace is read: a socket
    /// of the case whose only event on a namespace thread is its close is
    /// proved the case's own that way; what it saw after the observation
    /// ended is left out.
    fn finish(
        self,
        case: &Case,
        trace: Result<SharedTrace, TraceError>,
    ) -> Result<Observation, RunError> {
        let last = self.first()?;
        let Run {
            ends,
            more_captures,
            conntrack,
            connections,
            client,
            server,
            closing,
            played,
            time_wait_before,
            time_wait_seen_ns,
            snapshots,
            before,
            timer_before,
            time_wait_after,
            timer_after,
            after,
            ..
        } = self;
        let segments = ends.capture.segments();
        let mut frames = ends.capture.frames();
        for c in &more_captures {
            frames.extend(c.frames());
        }
        frames.sort_by_key(|f| f.at_ns);
        // Behind a NAT: the port the client sent the event from, and the one
        // the server saw.
        let nat_port = match (ends.lab.topology.masquerade, case.event.mark()) {
            (Some(_), Mark::Syn) => last
                .syn2(&segments)
                .map(|i| (ends.client().port(), segments[i].src.port())),
            _ => None,
        };
        let captured_on = ends.lab.topology.capture_label();
        let ended_ns = now_ns();
        drop((client, server, ends, more_captures));
        let traced = Traced::read(trace.and_then(SharedTrace::stop), ended_ns);
        let (server_before, client_before) = before.unwrap_or_default();
        let (server_after, client_after) = after.unwrap_or_default();
        let played = played.unwrap_or_default();
        let event_index = match case.event.mark() {
            Mark::Segment => last.event_segment(&segments),
            Mark::Syn => last.syn2(&segments),
            Mark::Nothing => None,
        };
        // The connection the event met: the one of its port (a reconnect may
        // take over any of several TIME_WAITs), else the last one.
        let event_port = event_index.map(|i| segments[i].src.port());
        let first = connections
            .iter()
            .rev()
            .map(|(c, _)| c)
            .find(|c| Some(c.client_port()) == event_port)
            .cloned()
            .unwrap_or(last);
        let connections = if connections.len() > 1 {
            connections
                .iter()
                .map(|(c, time_wait)| ConnectionSeen {
                    client_port: c.client_port(),
                    time_wait: *time_wait,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Observation {
            event_index,
            frames,
            segments,
            captured_on,
            nat_port,
            conntrack,
            first,
            connections,
            closing,
            forced_isn: played.forced_isn,
            connect_result: played.connect,
            connect: played.errno,
            bind: played.bind,
            peer_notes: played.notes,
            time_wait_before,
            time_wait_after,
            timer_before,
            timer_after,
            time_wait_seen_ns,
            server_counters: counters::delta(&server_before, &server_after),
            client_counters: counters::delta(&client_before, &client_after),
            known_counters: server_after.keys().cloned().collect(),
            states: traced.states,
            resets: traced.resets,
            trace_unavailable: traced.unavailable,
            snapshots,
            ended_ns,
        })
    }
}

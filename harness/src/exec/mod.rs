//! The step executor: runs a case's steps (`plan`) in order over the lab's two
//! sides and gathers the evidence into an [`Observation`]. Every wait has the
//! case's deadline; a wait that reaches it ends the case with what was seen.

mod plan;

use std::net::SocketAddr;

use tokio::time::Instant;

use crate::error::RunError;
use crate::evidence::{FirstConnection, Observation};
use crate::lab::Lab;
use crate::observe::capture::{Capture, now_ns};
use crate::observe::counters::{self, Counters};
use crate::observe::diag;
use crate::peer::{Client, Ends, Played, kernel};
use crate::scenario::Case;
use crate::wire::Side;
use crate::wire::TcpState;

use plan::{Event, Step, plan};

/// Run `case` in `lab` until its deadline: every step of its plan, then the
/// evidence. Trace and judge are the caller's.
pub(crate) async fn execute(
    case: &Case,
    lab: &Lab,
    deadline: Instant,
) -> Result<Observation, RunError> {
    let ifindex = lab.server_ifindex;
    let capture = lab
        .server
        .run(move || async move { Capture::start(ifindex) })
        .await??;
    let ends = Ends {
        lab,
        capture: &capture,
        deadline,
        timeout: case.timeout,
        server: SocketAddr::new(lab.addrs.server, case.port),
        client: SocketAddr::new(lab.addrs.client, case.client_port),
    };
    let mut run = Run {
        client: Client::open(case, &ends).await?,
        ends,
        first: None,
        played: None,
        time_wait_before: String::new(),
        snapshots: Vec::new(),
        before: None,
        time_wait_after: false,
        after: None,
    };
    for step in plan(case) {
        run.step(step).await?;
    }
    run.finish(case)
}

/// The executor's state between steps: what each step left for the next and
/// for the evidence.
struct Run<'a> {
    ends: Ends<'a>,
    client: Client,
    first: Option<FirstConnection>,
    played: Option<Played>,
    time_wait_before: String,
    snapshots: Vec<(u64, String)>,
    /// Server and client counters before and after the event.
    before: Option<(Counters, Counters)>,
    time_wait_after: bool,
    after: Option<(Counters, Counters)>,
}

impl Run<'_> {
    async fn step(&mut self, step: Step) -> Result<(), RunError> {
        let ends = &self.ends;
        match step {
            Step::Listen => {
                let addr = ends.server;
                ends.lab
                    .server
                    .run(move || async move {
                        let listener = kernel::listen(addr)?;
                        tokio::task::spawn_local(kernel::serve_close_first(listener));
                        Ok::<_, std::io::Error>(())
                    })
                    .await?
                    .map_err(|source| RunError::Io {
                        what: format!("server: listen on {addr}"),
                        source,
                    })?;
            }
            Step::FirstConnection => {
                self.client.first_connection(ends).await?;
                // The server has ACKed the client's FIN: its side is in TIME_WAIT now.
                let first = ends
                    .capture
                    .wait_for(ends.deadline, FirstConnection::from_segments)
                    .await
                    .map_err(|seen| ends.timeout("the first connection's FIN exchange", seen))?;
                self.first = Some(first);
            }
            Step::AwaitTimeWait => {
                let tw = self.time_wait(Side::Server).await?.ok_or_else(|| {
                    ends.timeout(
                        "the server's TIME_WAIT socket (ss -tan state time-wait)",
                        ends.capture.segments(),
                    )
                })?;
                self.snapshots.push((
                    now_ns(),
                    format!("server: {tw} (sock_diag, before the second SYN)"),
                ));
                self.time_wait_before = tw;
            }
            Step::ClientReady => {
                let first = self.first()?;
                self.client.ready(&self.ends, &first).await?;
            }
            Step::CountersBefore => self.before = Some(self.counters().await?),
            Step::Event(Event::Syn(syn)) => {
                let first = self.first()?;
                self.played = Some(self.client.syn(&self.ends, &first, &syn).await?);
            }
            Step::Settle => {
                let first = self.first()?;
                let played = self.played.clone().unwrap_or_default();
                self.client.settle(&self.ends, &first, &played).await?;
            }
            Step::Observe => {
                self.time_wait_after = self.time_wait_now(Side::Server).await?.is_some();
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

    /// Wait for the case's TIME_WAIT socket on `side` (`ss` line), or the deadline.
    async fn time_wait(&self, side: Side) -> Result<Option<String>, RunError> {
        let (af, local, remote) = self.tuple(side);
        self.ends
            .lab
            .ns(side)
            .poll(self.ends.deadline, move || {
                let tw = diag::find(af, TcpState::TimeWait.mask(), local, remote)?;
                Ok(tw.first().map(ToString::to_string))
            })
            .await?
            .map_err(|source| RunError::Diag { side, source })
    }

    /// The case's TIME_WAIT socket on `side` now, if there is one.
    async fn time_wait_now(&self, side: Side) -> Result<Option<String>, RunError> {
        let (af, local, remote) = self.tuple(side);
        self.ends
            .lab
            .ns(side)
            .run(move || async move {
                let tw = diag::find(af, TcpState::TimeWait.mask(), local, remote)?;
                Ok(tw.first().map(ToString::to_string))
            })
            .await?
            .map_err(|source| RunError::Diag { side, source })
    }

    /// Address family and the (local, remote) ports of the case's connection
    /// as `side` sees it.
    fn tuple(&self, side: Side) -> (libc::c_int, u16, u16) {
        let (s, c) = (self.ends.server.port(), self.ends.client.port());
        let af = diag::family_of(self.ends.server.ip());
        match side {
            Side::Server => (af, s, c),
            Side::Client => (af, c, s),
        }
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

    /// The evidence, once every step has run.
    fn finish(self, case: &Case) -> Result<Observation, RunError> {
        let first = self.first()?;
        let segments = self.ends.capture.segments();
        let (server_before, client_before) = self.before.unwrap_or_default();
        let (server_after, client_after) = self.after.unwrap_or_default();
        let played = self.played.unwrap_or_default();
        Ok(Observation {
            syn2_index: first.syn2(&segments),
            frames: self.ends.capture.frames(),
            segments,
            first,
            forced_isn: played.forced_isn,
            connect_result: played.connect,
            peer_notes: played.notes,
            server_ts_on: case.sysctl_on(Side::Server, "net.ipv4.tcp_timestamps"),
            time_wait_before: self.time_wait_before,
            time_wait_after: self.time_wait_after,
            server_counters: counters::delta(&server_before, &server_after),
            client_counters: counters::delta(&client_before, &client_after),
            known_counters: server_after.keys().cloned().collect(),
            states: Vec::new(),
            resets: Vec::new(),
            trace_unavailable: None,
            snapshots: self.snapshots,
            ended_ns: now_ns(),
        })
    }
}

//! The two ends of a case. The server is a kernel socket (it accepts, and closes
//! first); the client is one of two implementations of the same steps: a kernel
//! socket with a fixed source port (`kernel`), or the raw scripted peer that
//! writes frames itself (`raw`). The executor calls [`Client`]'s methods and
//! never asks which one it has.

mod client_kernel;
mod client_raw;
pub mod kernel;
pub mod raw;
mod server;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::RunError;
use crate::event::reconnect::Reconnect;
use crate::event::segment;
use crate::event::syn::Syn;
use crate::evidence::FirstConnection;
use crate::lab::{Lab, NsThread, Role};
use crate::observe::capture::Capture;
use crate::scenario::{Case, ClientKind};
use crate::wire::{Segment, Seq};

pub(crate) use client_kernel::KernelClient;
pub(crate) use client_raw::RawClient;
pub(crate) use server::Server;

/// What every step works with: the lab (owned: it goes when the evidence is
/// complete), the capture, the case's deadline and the addresses of both ends.
pub(crate) struct Ends<'a> {
    pub case: &'a Case,
    pub lab: Lab,
    pub capture: Capture,
    pub deadline: Instant,
    /// The case's whole time budget, for timeout messages.
    pub timeout: Duration,
    pub server: SocketAddr,
    /// The client's socket address: its port is the one the last connection
    /// used (`connect()` picks it when the port is ephemeral).
    pub client: Cell<SocketAddr>,
}

impl Ends<'_> {
    /// The client's socket address now.
    pub fn client(&self) -> SocketAddr {
        self.client.get()
    }

    /// The server's namespace thread.
    pub fn server_ns(&self) -> &NsThread {
        self.lab.ns(Role::Server)
    }

    /// The client's namespace thread.
    pub fn client_ns(&self) -> &NsThread {
        self.lab.ns(Role::Client)
    }

    /// The error for a wait that reached the deadline, with what was captured.
    pub fn timeout(&self, what: &str, seen: Vec<Segment>) -> RunError {
        RunError::Timeout {
            what: what.to_string(),
            after_ms: self.timeout.as_millis(),
            seen,
        }
    }
}

/// What the client did in the event step, as far as it is not on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Played {
    /// The ISN forced on a kernel client's SYN (TCP_REPAIR).
    pub forced_isn: Option<Seq>,
    /// What `connect()` returned (a raw peer has none: `Ok`).
    pub connect: Result<(), String>,
    /// `[reconnect]`: "ok" or the errno name `bind()`/`connect()` returned.
    pub errno: Option<String>,
    /// `[listener] restart`: "ok" or the errno name of the new listener's
    /// `bind()` or `listen()`.
    pub bind: Option<String>,
    /// One line per step the client took (a raw peer's follow-ups, a failed call).
    pub notes: Vec<String>,
}

impl Default for Played {
    fn default() -> Played {
        Played {
            forced_isn: None,
            connect: Ok(()),
            errno: None,
            bind: None,
            notes: Vec::new(),
        }
    }
}

/// The client end of a case.
pub(crate) enum Client {
    Kernel(KernelClient),
    Raw(RawClient),
}

impl Client {
    /// Prepare the client for `case` (the raw peer opens its socket now).
    pub async fn open(case: &Case, ends: &Ends<'_>) -> Result<Client, RunError> {
        Ok(match case.client_kind {
            ClientKind::Kernel => Client::Kernel(KernelClient::new()),
            ClientKind::Raw => Client::Raw(RawClient::open(case, ends).await?),
        })
    }

    /// The first connection, which the server closes first; returns once the
    /// client has sent its own FIN.
    pub async fn first_connection(&mut self, ends: &Ends<'_>) -> Result<(), RunError> {
        match self {
            Client::Kernel(c) => c.first_connection(ends).await,
            Client::Raw(c) => c.first_connection(ends).await,
        }
    }

    /// Get ready for the event once the server holds TIME_WAIT (a kernel client
    /// waits for its first socket to be gone and its timestamp clock to tick).
    pub async fn ready(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
    ) -> Result<(), RunError> {
        match self {
            Client::Kernel(c) => c.ready(ends, first).await,
            Client::Raw(_) => Ok(()),
        }
    }

    /// Send the SYN that hits TIME_WAIT, and what follows it.
    pub async fn syn(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
        syn: &Syn,
    ) -> Result<Played, RunError> {
        match self {
            Client::Kernel(c) => c.syn(ends, first, syn).await,
            Client::Raw(c) => c.syn(ends, first, syn).await,
        }
    }

    /// Write the `[segment]` under test (raw client only: the scenario check
    /// refuses it for a kernel client).
    pub async fn segment(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
        tx: &segment::Segment,
    ) -> Result<Played, RunError> {
        match self {
            Client::Raw(c) => c.segment(ends, first, tx).await,
            Client::Kernel(_) => Err(RunError::Unsupported {
                what: "a [segment] from a kernel client".into(),
            }),
        }
    }

    /// Connect again while the client holds TIME_WAIT (kernel client only:
    /// the scenario check refuses it for a raw one).
    pub async fn reconnect(
        &mut self,
        ends: &Ends<'_>,
        event: &Reconnect,
        seen_ns: u64,
    ) -> Result<Played, RunError> {
        match self {
            Client::Kernel(c) => c.reconnect(ends, event, seen_ns).await,
            Client::Raw(_) => Err(RunError::Unsupported {
                what: "[reconnect] from a raw client".into(),
            }),
        }
    }

    /// Wait until the evidence of the event is captured: the handshake's last
    /// ACK, or the server's answer, or (raw peer) every frame it wrote.
    pub async fn settle(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
        played: &Played,
    ) -> Result<(), RunError> {
        match self {
            Client::Kernel(c) => c.settle(ends, first, played).await,
            Client::Raw(c) => c.settle(ends).await,
        }
    }
}

//! The raw client: the scripted peer of `raw.rs` driven through the client
//! steps. It lives on the client namespace's thread; its socket is closed on a
//! kernel worker when the case is done (AF_PACKET close waits for RCU).

use std::sync::Arc;

use super::raw::{self, Endpoints, RawPeer, TimeWait};
use super::{Ends, Played};
use crate::error::RunError;
use crate::event::segment::Segment;
use crate::event::syn::Syn;
use crate::evidence::FirstConnection;
use crate::lab::Role;
use crate::scenario::Case;
use crate::wire::Side;

pub(crate) struct RawClient {
    peer: Arc<RawPeer>,
}

/// The raw peer's error as the run's: a timeout keeps what was captured.
fn run_error(ends: &Ends<'_>, e: raw::RawError) -> RunError {
    match e {
        raw::RawError::Timeout { what, seen } => ends.timeout(&what, seen),
        raw::RawError::Io { op, source } => RunError::RawIo { op, source },
        raw::RawError::Build(e) => RunError::RawFrame(e),
    }
}

/// What the peer needs of the TIME_WAIT socket.
fn time_wait(first: &FirstConnection) -> TimeWait {
    TimeWait {
        rcv_nxt: first.rcv_nxt,
        snd_nxt: first.snd_nxt,
        ts_recent: first.ts_recent,
        own_ts: first.own_ts,
        ts_negotiated: first.ts_negotiated,
    }
}

impl RawClient {
    /// Open the peer's socket on the client namespace's thread.
    pub async fn open(case: &Case, ends: &Ends<'_>) -> Result<RawClient, RunError> {
        // The raw peer writes on the client's link end, to the end across it.
        let topology = &ends.lab.topology;
        let end = topology.end_of(Role::Client);
        let peer = end.and_then(|e| topology.peer_of(e));
        let (Some(end), Some(peer)) = (end, peer) else {
            return Err(RunError::Unsupported {
                what: "a raw client without a link of its own".into(),
            });
        };
        let ifindex = ends
            .lab
            .ifindex(end.ns, end.name)
            .ok_or(RunError::Unsupported {
                what: format!("the raw client's interface {} was not made", end.name),
            })?;
        let ep = Endpoints {
            ifindex,
            client_mac: end.mac,
            server_mac: peer.mac,
            client: ends.client(),
            server: ends.server,
            offer_ts: case.sysctl_on(Side::Client, "net.ipv4.tcp_timestamps"),
            routed: topology.masquerade.is_some(),
        };
        let opened = ends
            .client_ns()
            .run(move || async move { RawPeer::open(ep) })
            .await?;
        Ok(RawClient {
            peer: Arc::new(opened.map_err(|e| run_error(ends, e))?),
        })
    }

    pub async fn first_connection(&mut self, ends: &Ends<'_>) -> Result<(), RunError> {
        let (p, c, deadline) = (Arc::clone(&self.peer), ends.capture.clone(), ends.deadline);
        ends.client_ns()
            .run(move || async move { raw::first_connection(&p, &c, deadline).await })
            .await?
            .map_err(|e| run_error(ends, e))
    }

    pub async fn syn(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
        syn: &Syn,
    ) -> Result<Played, RunError> {
        let (p, c, deadline) = (Arc::clone(&self.peer), ends.capture.clone(), ends.deadline);
        let tw = time_wait(first);
        let (exprs, steps) = ((syn.seq.value, syn.tsval.value), syn.then.clone());
        let notes = ends
            .client_ns()
            .run(move || async move { raw::second_syn(&p, &c, tw, exprs, &steps, deadline).await })
            .await?
            .map_err(|e| run_error(ends, e))?;
        Ok(Played {
            notes,
            ..Played::default()
        })
    }

    pub async fn segment(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
        tx: &Segment,
    ) -> Result<Played, RunError> {
        let (p, c, deadline) = (Arc::clone(&self.peer), ends.capture.clone(), ends.deadline);
        let (tw, tx) = (time_wait(first), tx.clone());
        let notes = ends
            .client_ns()
            .run(move || async move { raw::segment(&p, &c, tw, &tx, deadline).await })
            .await?
            .map_err(|e| run_error(ends, e))?;
        Ok(Played {
            notes,
            ..Played::default()
        })
    }

    /// The peer's last frame (the ACK of a SYN-ACK) is not waited for by the
    /// peer itself: a fence makes sure it, and any answer, is captured.
    pub async fn settle(&mut self, ends: &Ends<'_>) -> Result<(), RunError> {
        let (p, c, deadline) = (Arc::clone(&self.peer), ends.capture.clone(), ends.deadline);
        ends.client_ns()
            .run(move || async move { raw::fence(&p, &c, deadline).await })
            .await?
            .map_err(|e| run_error(ends, e))
    }
}

//! The raw client: the scripted peer of `raw.rs` driven through the client
//! steps. It lives on the client namespace's thread; its socket is closed on a
//! kernel worker when the case is done (AF_PACKET close waits for RCU).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::raw::{self, Endpoints, RawPeer, TimeWait};
use super::{Ends, Played, Syn};
use crate::error::RunError;
use crate::evidence::FirstConnection;
use crate::lab::{CLIENT_MAC, LabError, SERVER_MAC, netlink};
use crate::scenario::Case;
use crate::wire::Side;

/// The most the run waits for the raw peer's last frames to be captured.
const SETTLE_LIMIT: Duration = Duration::from_secs(1);

pub(crate) struct RawClient {
    peer: Arc<RawPeer>,
    /// Frames the client veth sent before the capture started (none expected).
    uncaptured_before: u64,
}

/// The raw peer's error as the run's: a timeout keeps what was captured.
fn run_error(ends: &Ends<'_>, e: raw::RawError) -> RunError {
    match e {
        raw::RawError::Timeout { what, seen } => ends.timeout(&what, seen),
        other => RunError::Raw(other),
    }
}

impl RawClient {
    /// Open the peer's socket on the client namespace's thread and note what
    /// the client veth has sent so far (the client kernel sends nothing: no
    /// address, IPv6 off), to tell later when all the peer wrote was captured.
    pub async fn open(case: &Case, ends: &Ends<'_>) -> Result<RawClient, RunError> {
        let ep = Endpoints {
            ifindex: ends.lab.client_ifindex,
            client_mac: CLIENT_MAC,
            server_mac: SERVER_MAC,
            client: ends.client,
            server: ends.server,
            offer_ts: case.sysctl_on(Side::Client, "net.ipv4.tcp_timestamps"),
        };
        let index = ends.lab.client_ifindex;
        let (opened, sent_before) = ends
            .lab
            .client
            .run(move || async move { (RawPeer::open(ep), tx_packets(index).await) })
            .await?;
        let sent_before = sent_before?;
        Ok(RawClient {
            uncaptured_before: sent_before.saturating_sub(ends.capture.incoming()),
            peer: Arc::new(opened.map_err(RunError::Raw)?),
        })
    }

    pub async fn first_connection(&mut self, ends: &Ends<'_>) -> Result<(), RunError> {
        let (p, c, deadline) = (Arc::clone(&self.peer), ends.capture.clone(), ends.deadline);
        ends.lab
            .client
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
        let tw = TimeWait {
            rcv_nxt: first.rcv_nxt,
            ts_recent: first.ts_recent,
            ts_negotiated: first.ts_negotiated,
        };
        let (exprs, steps) = ((syn.seq, syn.tsval), syn.then.clone());
        let notes = ends
            .lab
            .client
            .run(move || async move { raw::second_syn(&p, &c, tw, exprs, &steps, deadline).await })
            .await?
            .map_err(|e| run_error(ends, e))?;
        Ok(Played {
            forced_isn: None,
            connect: Ok(()),
            notes,
        })
    }

    /// The peer's last frame (the ACK of a SYN-ACK) is not waited for by the
    /// peer itself: look once everything the client veth sent was captured.
    /// Best effort within a second: a shortfall can only mean a lost frame,
    /// which the evidence then shows.
    pub async fn settle(&mut self, ends: &Ends<'_>) -> Result<(), RunError> {
        let index = ends.lab.client_ifindex;
        let sent = ends
            .lab
            .client
            .run(move || async move { tx_packets(index).await })
            .await??;
        let until = ends.deadline.min(Instant::now() + SETTLE_LIMIT);
        let _ = ends
            .capture
            .wait_incoming(until, sent.saturating_sub(self.uncaptured_before))
            .await;
        Ok(())
    }
}

/// Frames the client's veth end has sent (on the client namespace's thread).
///
/// Equivalent to: `ip -s link show dev syn-cli0` (TX packets).
async fn tx_packets(index: u32) -> Result<u64, LabError> {
    let wrap = |source| LabError::Link {
        side: Side::Client,
        source,
    };
    let h = netlink::connect().await.map_err(wrap)?;
    netlink::tx_packets(&h, index).await.map_err(wrap)
}

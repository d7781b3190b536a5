//! The kernel client: a real socket in the client namespace, bound to the fixed
//! source port with SO_REUSEADDR (`nc -p`) or given one by `connect()`, its ISN
//! forced with TCP_REPAIR when the scenario states the SYN's seq. It closes
//! first when the scenario says so, and then holds the TIME_WAIT itself.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::timeout_at;

use super::{Ends, Played, kernel};
use crate::error::RunError;
use crate::event::Event;
use crate::event::reconnect::{PortMode, Reconnect};
use crate::event::syn::Syn;
use crate::evidence::{FirstConnection, handshake_ack};
use crate::lab::Role;
use crate::observe::capture::now_ns;
use crate::observe::diag;
use crate::scenario::{Close, SeqExpr};
use crate::wire::{Dir, Side};

/// How long after the client's FIN (capture stamp) a kernel client's second SYN
/// may go: the TCP timestamp clock has ticked past the FIN's by then.
const FIN_TICK: Duration = Duration::from_millis(2);

pub(crate) struct KernelClient;

impl KernelClient {
    pub fn new() -> KernelClient {
        KernelClient
    }

    /// Bound to a fixed `client_port`, unless the reconnect is to get an
    /// ephemeral port: then the first connection gets its port from
    /// `connect()` too.
    fn bind(ends: &Ends<'_>) -> bool {
        let ephemeral_reconnect = matches!(
            ends.case.event,
            Event::Reconnect(Reconnect {
                port: PortMode::Ephemeral,
                ..
            })
        );
        ends.case.client_port.fixed().is_some() && !ephemeral_reconnect
    }

    pub async fn first_connection(&mut self, ends: &Ends<'_>) -> Result<(), RunError> {
        let (local, remote, deadline) = (ends.client(), ends.server, ends.deadline);
        let bind = Self::bind(ends);
        let client_first =
            (ends.case.closes_first == Side::Client).then_some(ends.case.close == Close::Linger0);
        let finished = ends
            .client_ns()
            .run(move || async move {
                let first = kernel::first_connection(local, remote, bind, client_first);
                match timeout_at(deadline, first).await {
                    Ok(r) => r.map(|()| true),
                    Err(_) => Ok(false),
                }
            })
            .await?
            .map_err(|source| RunError::Io {
                what: format!("client: first connection {local} -> {remote}"),
                source,
            })?;
        if finished {
            Ok(())
        } else {
            Err(ends.timeout("the first connection to close", ends.capture.segments()))
        }
    }

    /// When the server closed first: wait until the first socket is gone from
    /// the client namespace, then let the kernel's TCP timestamp clock
    /// (milliseconds) tick past the client's FIN, so the SYN's tsval is newer
    /// than ts_recent and the outcome never depends on which millisecond the
    /// SYN falls in. Counted from the FIN's capture stamp (taken after it was
    /// sent), so the wait for the socket counts towards it.
    pub async fn ready(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
    ) -> Result<(), RunError> {
        if ends.case.closes_first == Side::Client {
            return Ok(());
        }
        let (local, remote) = (ends.client(), ends.server);
        let gone = ends
            .client_ns()
            .poll(ends.deadline, move || {
                Ok(diag::lookup(local, remote)?.is_none().then_some(()))
            })
            .await?
            .map_err(|source| RunError::Diag {
                side: Side::Client,
                source,
            })?;
        if gone.is_none() {
            return Err(ends.timeout(
                "the client's first socket to be gone",
                ends.capture.segments(),
            ));
        }
        let fin_at_ns = ends
            .capture
            .segments()
            .get(first.fin_index)
            .map_or_else(now_ns, |s| s.at_ns);
        let since_fin = Duration::from_nanos(now_ns().saturating_sub(fin_at_ns));
        if let Some(left) = FIN_TICK.checked_sub(since_fin) {
            tokio::time::sleep(left).await;
        }
        Ok(())
    }

    /// `connect()` again from the same port; the connection, if it opens, is
    /// held until the namespace goes.
    pub async fn syn(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
        syn: &Syn,
    ) -> Result<Played, RunError> {
        let forced_isn = match syn.seq.value {
            SeqExpr::Auto => None,
            SeqExpr::RcvNxt(off) => Some(first.rcv_nxt + off),
        };
        // Behind a NAT the SYN may come from another machine, bound to the
        // same port (`second_syn.from`).
        let from = match syn.from.value {
            1 => Role::Client,
            n => Role::ClientN(n),
        };
        let mut played = self.connect(ends, from, true, forced_isn).await?;
        played.forced_isn = forced_isn;
        Ok(played)
    }

    /// A new socket to the server while the client holds TIME_WAIT: bound to
    /// `client_port` (`nc -p`) or with the port `connect()` picks, `after_ms`
    /// after the TIME_WAIT appeared (`seen_ns`, capture clock).
    pub async fn reconnect(
        &mut self,
        ends: &Ends<'_>,
        event: &Reconnect,
        seen_ns: u64,
    ) -> Result<Played, RunError> {
        let Reconnect { port, after_ms } = *event;
        let since = Duration::from_nanos(now_ns().saturating_sub(seen_ns));
        if let Some(left) = Duration::from_millis(u64::from(after_ms)).checked_sub(since) {
            if tokio::time::Instant::now() + left > ends.deadline {
                tokio::time::sleep_until(ends.deadline).await;
                return Err(ends.timeout(
                    &format!(
                        "the reconnect, after_ms = {after_ms} after the client's TIME_WAIT \
                         appeared (past the case's deadline)"
                    ),
                    ends.capture.segments(),
                ));
            }
            crate::slots::idle(left).await;
        }
        let played = self
            .connect(ends, Role::Client, port == PortMode::Bind, None)
            .await?;
        if played.errno.is_none() {
            // What connect() returns is what the case measures: one still
            // waiting (its SYNs unanswered) has said nothing yet.
            return Err(ends.timeout(
                "connect() of the reconnect to return (the segments show how far the \
                 handshake got)",
                ends.capture.segments(),
            ));
        }
        Ok(played)
    }

    /// Connect on the thread of `from`'s namespace, from its address and the
    /// client's port; the stream, if any, is held there.
    async fn connect(
        &mut self,
        ends: &Ends<'_>,
        from: Role,
        bind: bool,
        isn: Option<crate::wire::Seq>,
    ) -> Result<Played, RunError> {
        let local = SocketAddr::new(ends.lab.addr(from), ends.client().port());
        let (remote, deadline) = (ends.server, ends.deadline);
        let (tx, rx) = oneshot::channel();
        ends.lab.ns(from).spawn_task(move || async move {
            match timeout_at(deadline, kernel::connect_from(local, remote, bind, isn)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send(Ok(()));
                    std::future::pending::<()>().await;
                    drop(stream);
                }
                Ok(Err((call, e))) => {
                    let _ = tx.send(Err((call, Some(kernel::errno_name(&e)), e.to_string())));
                }
                // Still waiting at the deadline: no errno, since the kernel
                // returned none (ETIMEDOUT would come minutes later).
                Err(_) => {
                    let _ = tx.send(Err(("connect", None, "had not returned".to_string())));
                }
            }
        })?;
        // A task that ended without a word is synlab's failure, not the
        // kernel's answer: an error of the case, never a connect() result.
        let result = rx.await.map_err(|_| RunError::Io {
            what: "the kernel client's connect() task".into(),
            source: std::io::Error::other("it ended without saying what connect() returned"),
        })?;
        Ok(played(result))
    }

    /// The handshake's last ACK when `connect()` succeeded, otherwise the
    /// server's first answer (none comes when no SYN went out); at most until
    /// the deadline (the evidence then shows what is missing).
    pub async fn settle(
        &mut self,
        ends: &Ends<'_>,
        first: &FirstConnection,
        played: &Played,
    ) -> Result<(), RunError> {
        let established = played.connect.is_ok();
        let sent_syn = established || ends.capture.segments().len() > first.closed_index + 1;
        if !sent_syn {
            return Ok(());
        }
        let _ = ends
            .capture
            .wait_for(ends.deadline, |segs| {
                let syn2 = first.syn2(segs)?;
                if established {
                    handshake_ack(segs, syn2).map(|_| ())
                } else {
                    segs[syn2..]
                        .iter()
                        .any(|s| s.dir == Dir::ToClient)
                        .then_some(())
                }
            })
            .await;
        Ok(())
    }
}

/// What the event's `connect()` came to: returned (`ok` or its errno), or
/// still waiting at the case's deadline (no errno: the kernel returned none).
type Connected = Result<(), (&'static str, Option<String>, String)>;

/// The [`Played`] of a `connect()` that came to `result`.
fn played(result: Connected) -> Played {
    match result {
        Ok(()) => Played {
            connect: Ok(()),
            errno: Some("ok".to_string()),
            ..Played::default()
        },
        Err((call, Some(errno), text)) => Played {
            connect: Err(format!("{call}() failed: {text}")),
            errno: Some(errno.clone()),
            notes: vec![format!("{call}(): {errno} ({text})")],
            ..Played::default()
        },
        Err((call, None, text)) => Played {
            connect: Err(format!("{call}() {text} at the case's deadline")),
            errno: None,
            notes: vec![format!("{call}(): {text} at the case's deadline")],
            ..Played::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_still_waiting_at_the_deadline_has_no_errno() {
        let waiting = played(Err(("connect", None, "had not returned".into())));
        assert_eq!(waiting.errno, None, "the kernel returned nothing yet");
        assert_eq!(
            waiting.connect,
            Err("connect() had not returned at the case's deadline".into())
        );
        let refused = played(Err((
            "connect",
            Some("ECONNREFUSED".into()),
            "Connection refused (os error 111)".into(),
        )));
        assert_eq!(refused.errno.as_deref(), Some("ECONNREFUSED"));
        assert_eq!(played(Ok(())).errno.as_deref(), Some("ok"));
    }
}

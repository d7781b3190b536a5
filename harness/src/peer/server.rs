//! The server end: a kernel listener in the server namespace that treats the
//! first connection as the case says and holds the others. With a
//! `[listener]` table it is bound to the wildcard address with the table's
//! options, like most servers; without one, to the server's address with
//! `SO_REUSEADDR`. A listener restart (`[listener] restart`) closes it and
//! binds and listens a new one, as a restarted daemon does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::sync::oneshot;

use super::kernel::{self, ServerClose};
use super::{Ends, Played};
use crate::error::RunError;
use crate::event::restart::{Options, Restart};

/// The running listener, and how to stop it.
pub(crate) struct Server {
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl Server {
    /// Listen as the case says and serve in the background.
    pub async fn listen(ends: &Ends<'_>, mode: ServerClose) -> Result<Server, RunError> {
        let (addr, options) = match ends.case.listener {
            Some(options) => (wildcard(ends.server), options),
            None => (ends.server, Options::Reuseaddr),
        };
        let (tx, rx) = oneshot::channel();
        let count = ends.case.count;
        ends.server_ns()
            .run(move || async move {
                let listener = kernel::listen(addr, options.reuseaddr(), options.reuseport())?;
                tokio::task::spawn_local(kernel::serve(listener, mode, count, rx));
                Ok::<_, (&str, std::io::Error)>(())
            })
            .await?
            .map_err(|(call, source)| RunError::Io {
                what: format!("server: {call}() for the listener on {addr}"),
                source,
            })?;
        Ok(Server { stop: Some(tx) })
    }

    /// Close the listener, then bind and listen a new one on the wildcard
    /// address with the restart's options: what `bind()` or `listen()`
    /// returned is the event's result. A new listener that works serves on.
    pub async fn restart(&mut self, ends: &Ends<'_>, event: &Restart) -> Result<Played, RunError> {
        if let Some(stop) = self.stop.take() {
            let (done_tx, done_rx) = oneshot::channel();
            if stop.send(done_tx).is_ok() {
                // The listener is closed once the server's task says so.
                let _ = tokio::time::timeout_at(ends.deadline, done_rx).await;
            }
        }
        let addr = wildcard(ends.server);
        let options = event.options;
        let result = ends
            .server_ns()
            .run(move || async move {
                let listener = kernel::listen(addr, options.reuseaddr(), options.reuseport())?;
                let (_keep, rx) = oneshot::channel();
                tokio::task::spawn_local(async move {
                    let _keep = _keep;
                    kernel::serve(listener, ServerClose::AfterPeer, 0, rx).await;
                });
                Ok::<_, (&str, std::io::Error)>(())
            })
            .await?;
        Ok(match result {
            Ok(()) => Played {
                bind: Some("ok".to_owned()),
                notes: vec![format!(
                    "server: listener closed, a new one ({}) bound and listening on {addr}",
                    options.as_str()
                )],
                ..Played::default()
            },
            Err((call, e)) => {
                let errno = kernel::errno_name(&e);
                Played {
                    notes: vec![format!(
                        "server: listener closed; the new one ({}) on {addr}: {call}(): {errno} ({e})",
                        options.as_str()
                    )],
                    bind: Some(errno),
                    ..Played::default()
                }
            }
        })
    }
}

/// The wildcard address of `addr`'s family, on its port.
fn wildcard(addr: SocketAddr) -> SocketAddr {
    let any = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(any, addr.port())
}

//! Real kernel sockets. Every function here runs on a namespace thread, so the
//! sockets it makes belong to that namespace.

use std::io;
use std::net::SocketAddr;

use nix::sys::socket::setsockopt;
use nix::sys::socket::sockopt::TcpRepair;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::wire::Seq;

/// `TCP_REPAIR_OFF_NO_WP` from include/uapi/linux/tcp.h: leave repair mode
/// without sending a window probe.
const TCP_REPAIR_OFF_NO_WP: u32 = -1i32 as u32;
/// `TCP_SEND_QUEUE` for `TCP_REPAIR_QUEUE`.
const TCP_SEND_QUEUE: i32 = 2;

/// Listen on `addr` with `SO_REUSEADDR` and `SO_REUSEPORT` as asked; an
/// error names the call that failed (`bind`, `listen`).
///
/// Equivalent to: `nc -l <port>` in the server namespace (`nc` sets
/// `SO_REUSEADDR`).
pub fn listen(
    addr: SocketAddr,
    reuseaddr: bool,
    reuseport: bool,
) -> Result<TcpListener, (&'static str, io::Error)> {
    let sock = new_socket(addr).map_err(|e| ("socket", e))?;
    sock.set_reuse_address(reuseaddr)
        .map_err(|e| ("setsockopt", e))?;
    sock.set_reuse_port(reuseport)
        .map_err(|e| ("setsockopt", e))?;
    sock.bind(&addr.into()).map_err(|e| ("bind", e))?;
    sock.listen(16).map_err(|e| ("listen", e))?;
    TcpListener::from_std(std::net::TcpListener::from(sock)).map_err(|e| ("listen", e))
}

/// How the server treats the connections before the event; later connections
/// are accepted and held open until the namespace goes, so they add no
/// TIME_WAIT of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerClose {
    /// Close it at once (the server closes first): a FIN, or with `linger0`
    /// an RST (`SO_LINGER {1, 0}`, `tcp_disconnect()`).
    First { linger0: bool },
    /// Read until the client's FIN (or RST), then close: the client closes first.
    AfterPeer,
}

/// The server: the first `count` connections as `mode` says, the others
/// held; when `stop` brings a sender, the listener is closed (the held
/// connections stay) and the sender told so.
pub async fn serve(
    listener: TcpListener,
    mode: ServerClose,
    count: u32,
    stop: tokio::sync::oneshot::Receiver<tokio::sync::oneshot::Sender<()>>,
) {
    let mut held = Vec::new();
    let mut left = count;
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => break,
            },
            done = &mut stop => {
                drop(listener);
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                std::future::pending::<()>().await;
                return;
            }
        };
        if left > 0 {
            left -= 1;
            match mode {
                ServerClose::First { linger0 } => {
                    if linger0 {
                        // Best effort: without it the close is a FIN, which the
                        // evidence then shows.
                        let _ = set_linger0(&stream);
                    }
                    drop(stream);
                }
                ServerClose::AfterPeer => {
                    tokio::task::spawn_local(read_to_end_then_close(stream));
                }
            }
        } else {
            held.push(stream);
        }
    }
}

/// Read until the peer's FIN or RST, then close.
async fn read_to_end_then_close(mut stream: TcpStream) {
    let mut buf = [0u8; 512];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// `SO_LINGER {1, 0}`: the next close sends an RST and leaves no TIME_WAIT.
fn set_linger0(stream: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(stream).set_linger(Some(std::time::Duration::ZERO))
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// `TCP_REPAIR_QUEUE` and `TCP_QUEUE_SEQ`, which nix does not name: the same
/// safe `setsockopt` through nix's own macro.
#[derive(Debug, Clone, Copy)]
struct TcpRepairQueue;
nix::setsockopt_impl!(
    TcpRepairQueue,
    libc::IPPROTO_TCP,
    libc::TCP_REPAIR_QUEUE,
    i32,
    nix::sys::socket::sockopt::SetStruct<'_, i32>
);
#[derive(Debug, Clone, Copy)]
struct TcpQueueSeq;
nix::setsockopt_impl!(
    TcpQueueSeq,
    libc::IPPROTO_TCP,
    libc::TCP_QUEUE_SEQ,
    u32,
    nix::sys::socket::sockopt::SetStruct<'_, u32>
);

/// Force the ISN of an unconnected socket: TCP_REPAIR on, select the send queue,
/// set its sequence, repair off (no window probe). The next `connect()` sends its
/// SYN with `seq = isn` (tcp_v4_connect() keeps a non-zero write_seq). Needs
/// CAP_NET_ADMIN.
fn force_isn(sock: &Socket, isn: Seq) -> io::Result<()> {
    let step = |what: &str, r: io::Result<()>| {
        r.map_err(|e| io::Error::new(e.kind(), format!("forcing the ISN ({what}): {e}")))
    };
    let set = |r: nix::Result<()>| r.map_err(io::Error::from);
    step("TCP_REPAIR on", set(setsockopt(sock, TcpRepair, &1)))?;
    step(
        "TCP_REPAIR_QUEUE",
        set(setsockopt(sock, TcpRepairQueue, &TCP_SEND_QUEUE)),
    )?;
    step("TCP_QUEUE_SEQ", set(setsockopt(sock, TcpQueueSeq, &isn.0)))?;
    step(
        "TCP_REPAIR off",
        set(setsockopt(sock, TcpRepair, &TCP_REPAIR_OFF_NO_WP)),
    )
}

/// Connect from `local`: bound to its port with SO_REUSEADDR (`bind`), or
/// from a port `connect()` picks (only the address family of `local` is used),
/// optionally with a forced ISN. An error names the call that failed.
///
/// Equivalent to: `nc -p <client_port> <server> <port>` (bound), `nc <server>
/// <port>` (ephemeral).
pub async fn connect_from(
    local: SocketAddr,
    remote: SocketAddr,
    bind: bool,
    isn: Option<Seq>,
) -> Result<TcpStream, (&'static str, io::Error)> {
    let sock = new_socket(local).map_err(|e| ("socket", e))?;
    if bind {
        sock.set_reuse_address(true)
            .map_err(|e| ("setsockopt(SO_REUSEADDR)", e))?;
        sock.bind(&local.into()).map_err(|e| ("bind", e))?;
    }
    if let Some(isn) = isn {
        force_isn(&sock, isn).map_err(|e| ("TCP_REPAIR", e))?;
    }
    let sock = TcpSocket::from_std_stream(std::net::TcpStream::from(sock));
    sock.connect(remote).await.map_err(|e| ("connect", e))
}

/// The client side of the first connection. When the server closes first:
/// read until its FIN (or RST), then close. When the client does: close at
/// once, with a FIN or (`linger0`) an RST.
pub async fn first_connection(
    local: SocketAddr,
    remote: SocketAddr,
    bind: bool,
    client_first: Option<bool>,
) -> io::Result<()> {
    let mut stream = match connect_from(local, remote, bind, None).await {
        Ok(stream) => stream,
        // The server closing first with an RST (linger0) can reset the
        // connection before connect() has reported it established; the
        // capture holds the handshake and the RST.
        Err(("connect", e))
            if client_first.is_none() && e.kind() == io::ErrorKind::ConnectionReset =>
        {
            return Ok(());
        }
        Err((call, e)) => return Err(io::Error::new(e.kind(), format!("{call}: {e}"))),
    };
    match client_first {
        Some(linger0) => {
            if linger0 {
                set_linger0(&stream)?;
            }
        }
        None => {
            let mut buf = [0u8; 512];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    // The server's RST (`linger0`) ends the connection too.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    drop(stream);
    Ok(())
}

/// The errno name of an I/O error (`EADDRNOTAVAIL`), or its text.
pub fn errno_name(e: &io::Error) -> String {
    e.raw_os_error().map_or_else(
        || e.to_string(),
        |n| format!("{:?}", nix::errno::Errno::from_raw(n)),
    )
}

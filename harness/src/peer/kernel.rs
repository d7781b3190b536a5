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

/// Listen on `addr`.
///
/// Equivalent to: `nc -l <port>` in the server namespace.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = new_socket(addr)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(16)?;
    TcpListener::from_std(std::net::TcpListener::from(sock))
}

/// The server of the seed experiment: the first connection is accepted and
/// closed at once (so the server closes first and its side ends in TIME_WAIT);
/// later connections are accepted and held open until the namespace goes, so
/// they add no TIME_WAIT of their own.
pub async fn serve_close_first(listener: TcpListener) {
    let mut held = Vec::new();
    let mut first = true;
    while let Ok((stream, _)) = listener.accept().await {
        if first {
            first = false;
            drop(stream);
        } else {
            held.push(stream);
        }
    }
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

/// Connect from the fixed `local` address and port (SO_REUSEADDR), optionally
/// with a forced ISN.
///
/// Equivalent to: `nc -p <client_port> <server> <port>`.
pub async fn connect(
    local: SocketAddr,
    remote: SocketAddr,
    isn: Option<Seq>,
) -> io::Result<TcpStream> {
    let sock = new_socket(local)?;
    sock.set_reuse_address(true)?;
    sock.bind(&local.into())?;
    if let Some(isn) = isn {
        force_isn(&sock, isn)?;
    }
    let sock = TcpSocket::from_std_stream(std::net::TcpStream::from(sock));
    sock.connect(remote).await
}

/// The client side of the first connection: connect, read until the server's
/// FIN (EOF), then close (our FIN).
pub async fn first_connection(local: SocketAddr, remote: SocketAddr) -> io::Result<()> {
    let mut stream = connect(local, remote, None).await?;
    let mut buf = [0u8; 512];
    while stream.read(&mut buf).await? != 0 {}
    drop(stream);
    Ok(())
}

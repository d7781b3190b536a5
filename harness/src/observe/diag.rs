//! One TCP socket of a network namespace read through sock_diag, the netlink
//! interface behind `ss -tan`: is the connection's end in TIME_WAIT, and how
//! long has its timer left (`ss -tano state time-wait`).
//!
//! An exact lookup of the 4-tuple (`inet_diag_find_one_icsk()`: a hash
//! lookup, like a packet's), not a dump: a namespace shares the host's
//! established hash table unless `tcp_child_ehash_entries` says otherwise,
//! and a dump walks every bucket of it (262,144 here: about 2 ms per query
//! even in an empty namespace, against about 0.1 ms for the lookup).
//!
//! Synchronous: call it on the thread that owns the namespace, since the
//! NETLINK_SOCK_DIAG socket reports the sockets of the namespace it was
//! created in.

use std::net::SocketAddr;
use std::time::Duration;

use crate::wire::TcpState;

use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::IPPROTO_TCP;
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, Timer,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};
// netlink-packet-core is not a direct dependency; rtnetlink re-exports the
// same version (0.9) that netlink-packet-sock-diag is built on.
use rtnetlink::packet_core::{
    DecodeError, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};

/// How long one `recv` on the diag socket may block before it is an error.
/// The kernel answers at once; this only bounds a kernel bug.
const RECV_TIMEOUT: Duration = Duration::from_secs(2);

/// One TCP socket as sock_diag reports it: its state and both ends. A
/// listening socket has the unspecified address and port 0 as `dst`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpSock {
    /// The socket's TCP state.
    pub state: TcpState,
    /// The local address and port.
    pub src: SocketAddr,
    /// The remote address and port.
    pub dst: SocketAddr,
    /// For a TIME_WAIT (or FIN_WAIT2 mini-) socket: the milliseconds until
    /// its timer fires (`idiag_expires`, what `ss -tano` shows as `timer:(timewait,…)`).
    pub timewait_ms: Option<u32>,
}

impl std::fmt::Display for TcpSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<10} {} {}", self.state, self.src, self.dst)
    }
}

/// A sock_diag query that failed.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The two ends are not of one address family.
    #[error("sock_diag: {0} and {1} are not of one address family")]
    Family(SocketAddr, SocketAddr),
    /// A socket call on the NETLINK_SOCK_DIAG socket failed.
    #[error("sock_diag: {op}: {source}")]
    Io {
        /// The call, like `send` or `recv`.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel refused the query (a negative errno in NLMSG_ERROR).
    #[error("sock_diag: the kernel answered the lookup with {0}")]
    Kernel(std::io::Error),
    /// The kernel's answer could not be parsed.
    #[error("sock_diag: cannot parse the kernel's answer: {0}")]
    Decode(#[from] DecodeError),
    /// The kernel sent a message that is not an inet_diag answer.
    #[error("sock_diag: unexpected message in the answer: {0}")]
    Unexpected(String),
    /// A socket is in a state this module does not know.
    #[error("sock_diag: socket in unknown TCP state {0}")]
    UnknownState(u8),
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> DiagError {
    move |source| DiagError::Io { op, source }
}

/// The TCP socket whose local end is `local` and remote end `remote`, in
/// the calling thread's network namespace, in any state; `None` when there is
/// none (a listener on `local`'s port, which the kernel's lookup falls back
/// to, is not the connection's socket and is `None` too).
///
/// Equivalent to: `ss -tan src LOCAL dst REMOTE`
pub fn lookup(local: SocketAddr, remote: SocketAddr) -> Result<Option<TcpSock>, DiagError> {
    let request = lookup_request(local, remote)?;
    let socket = open_socket()?;
    socket.send(&request, 0).map_err(io("send"))?;
    let found = read_answer(&socket)?;
    Ok(found.filter(|s| s.src == local && s.dst == remote))
}

/// Opens a NETLINK_SOCK_DIAG socket connected to the kernel, with a receive
/// timeout of [`RECV_TIMEOUT`].
fn open_socket() -> Result<Socket, DiagError> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG).map_err(io("socket"))?;
    socket.bind_auto().map_err(io("bind"))?;
    socket
        .connect(&NetlinkAddr::new(0, 0))
        .map_err(io("connect"))?;
    set_recv_timeout(&socket, RECV_TIMEOUT)?;
    Ok(socket)
}

/// Sets `SO_RCVTIMEO` so a `recv` never blocks forever.
fn set_recv_timeout(socket: &Socket, timeout: Duration) -> Result<(), DiagError> {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
    use nix::sys::time::TimeVal;
    let tv = TimeVal::from(libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    });
    setsockopt(socket, ReceiveTimeout, &tv).map_err(|e| io("setsockopt(SO_RCVTIMEO)")(e.into()))
}

/// `INET_DIAG_NOCOOKIE` in both words: no cookie to match.
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// Serializes an `inet_diag_req_v2` exact request for the 4-tuple (no
/// NLM_F_DUMP: the kernel answers one socket, or ENOENT).
fn lookup_request(local: SocketAddr, remote: SocketAddr) -> Result<Vec<u8>, DiagError> {
    let family = match (local, remote) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => libc::AF_INET,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => libc::AF_INET6,
        _ => return Err(DiagError::Family(local, remote)),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    let mut message = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: family as u8,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            // Every state the kernel has, with the bits the crate has no
            // name for (NEW_SYN_RECV, BOUND_INACTIVE).
            states: StateFlags::from_bits_retain(((1 << 14) - 1) & !1),
            socket_id: SocketId {
                source_port: local.port(),
                destination_port: remote.port(),
                source_address: local.ip(),
                destination_address: remote.ip(),
                interface_id: 0,
                cookie: NO_COOKIE,
            },
        })
        .into(),
    );
    message.finalize();
    let mut buf = vec![0; message.buffer_len()];
    message.serialize(&mut buf);
    Ok(buf)
}

/// Reads the answer: one socket, or ENOENT (none).
fn read_answer(socket: &Socket) -> Result<Option<TcpSock>, DiagError> {
    let (datagram, _) = socket.recv_from_full().map_err(io("recv"))?;
    let mut found = Vec::new();
    match parse_datagram(&datagram, &mut found) {
        Err(DiagError::Kernel(e)) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
        Ok(_) => Ok(found.into_iter().next()),
    }
}

/// Parses the netlink messages of one datagram into `out`; returns `true`
/// once NLMSG_DONE is seen (an exact answer has none).
fn parse_datagram(mut bytes: &[u8], out: &mut Vec<TcpSock>) -> Result<bool, DiagError> {
    while !bytes.is_empty() {
        let message = NetlinkMessage::<SockDiagMessage>::deserialize(bytes)?;
        let len = message.header.length as usize;
        match message.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Noop => {}
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                out.push(tcp_sock(
                    &response,
                    expires_ms(&bytes[..len.min(bytes.len())]),
                )?);
            }
            NetlinkPayload::Error(e) => {
                return Err(DiagError::Kernel(e.to_io()));
            }
            other => return Err(DiagError::Unexpected(format!("{other:?}"))),
        }
        // A length of 0 or past the datagram would loop or panic.
        if len == 0 || len > bytes.len() {
            return Err(DiagError::Unexpected(format!(
                "netlink message length {len} in a datagram of {} bytes",
                bytes.len()
            )));
        }
        bytes = &bytes[nlmsg_align(len).min(bytes.len())..];
    }
    Ok(false)
}

/// Rounds a netlink message length up to the 4-byte alignment (NLMSG_ALIGN).
fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

/// `idiag_expires` of one message (the netlink header, then `inet_diag_msg`:
/// family, state, timer, retrans, a 48-byte `inet_diag_sockid`, then the u32
/// expiry in milliseconds). The crate parses the field but drops it for a
/// TIME_WAIT timer, so it is read here.
fn expires_ms(message: &[u8]) -> Option<u32> {
    const AT: usize = 16 + 4 + 48;
    let raw: [u8; 4] = message.get(AT..AT + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(raw))
}

/// Converts one `inet_diag_msg` into a [`TcpSock`].
fn tcp_sock(response: &InetResponse, expires_ms: Option<u32>) -> Result<TcpSock, DiagError> {
    let header = &response.header;
    let state = TcpState::from_kernel(header.state).ok_or(DiagError::UnknownState(header.state))?;
    let id = &header.socket_id;
    Ok(TcpSock {
        state,
        src: SocketAddr::new(id.source_address, id.source_port),
        dst: SocketAddr::new(id.destination_address, id.destination_port),
        timewait_ms: match header.timer {
            Some(Timer::TimeWait) => expires_ms,
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    //! Needs root (CAP_SYS_ADMIN for `unshare`); fails loudly otherwise. Runs
    //! in an anonymous namespace owned by a test thread.

    use super::*;
    use crate::testing::require_root;
    use std::io::Read;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, TcpListener, TcpStream};
    use std::time::Instant;

    #[test]
    fn state_names_match_the_kernel_and_ends_share_a_family() {
        assert_eq!(TcpState::Listen as u8, 10);
        assert_eq!(TcpState::NewSynRecv as u8, 12);
        assert_eq!(TcpState::TimeWait.as_str(), "TIME-WAIT");
        for s in TcpState::ALL {
            assert_eq!(TcpState::from_kernel(s as u8), Some(s));
        }
        assert_eq!(TcpState::from_kernel(0), None);
        let v4 = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1));
        let v6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 2);
        assert!(matches!(lookup(v4, v6), Err(DiagError::Family(..))));
    }

    #[test]
    fn the_request_is_exact_with_no_cookie() {
        let local: SocketAddr = "198.18.0.1:8888".parse().expect("addr");
        let remote: SocketAddr = "198.18.0.2:12345".parse().expect("addr");
        let buf = lookup_request(local, remote).expect("request");
        let flags = u16::from_ne_bytes([buf[6], buf[7]]);
        assert_eq!(flags, NLM_F_REQUEST, "no NLM_F_DUMP");
        // After the 16-byte header: family, protocol, ext, pad, states (4),
        // then sport, dport (network order), src (16), dst (16), if (4), cookie (8).
        assert_eq!(buf[16], libc::AF_INET as u8);
        assert_eq!(&buf[24..26], &8888u16.to_be_bytes());
        assert_eq!(&buf[26..28], &12345u16.to_be_bytes());
        assert_eq!(&buf[28..32], &[198, 18, 0, 1]);
        assert_eq!(&buf[44..48], &[198, 18, 0, 2]);
        assert_eq!(&buf[64..72], &[0xff; 8]);
    }

    /// Polls `lookup` until the socket is in `state` or 2 s pass.
    fn wait_for(local: SocketAddr, remote: SocketAddr, state: TcpState) -> Option<TcpSock> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let found = lookup(local, remote).expect("sock_diag");
            if found.as_ref().is_some_and(|s| s.state == state) || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Server closes first, so its end of the connection goes to TIME_WAIT.
    fn server_closes_first(ip: IpAddr) {
        let listener = TcpListener::bind((ip, 0)).expect("listen");
        let server = listener.local_addr().expect("addr");
        let nobody = SocketAddr::new(ip, 1);
        assert_eq!(
            lookup(server, nobody).expect("diag"),
            None,
            "the listener the kernel falls back to is not the connection"
        );

        let mut client = TcpStream::connect(server).expect("connect");
        let client_end = client.local_addr().expect("addr");
        let (accepted, _) = listener.accept().expect("accept");
        let estab = lookup(server, client_end).expect("diag").expect("a socket");
        assert_eq!(estab.state, TcpState::Established);
        let other_side = lookup(client_end, server).expect("diag").expect("a socket");
        assert_eq!((other_side.src, other_side.dst), (client_end, server));
        drop(accepted);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).expect("EOF from server");
        drop(client);

        let tw = wait_for(server, client_end, TcpState::TimeWait).expect("a socket");
        assert_eq!(
            tw.state,
            TcpState::TimeWait,
            "server's TIME-WAIT socket: {tw}"
        );
        assert_eq!((tw.src, tw.dst), (server, client_end));
        // TIME_WAIT lasts TCP_TIMEWAIT_LEN (60 s); it has only just begun.
        let left = tw.timewait_ms.expect("a TIME_WAIT timer");
        assert!((55_000..=60_000).contains(&left), "idiag_expires {left} ms");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut left = lookup(client_end, server).expect("diag");
        while left.is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            left = lookup(client_end, server).expect("diag");
        }
        assert_eq!(left, None, "the client's end goes (LAST_ACK, then CLOSE)");
    }

    #[test]
    fn server_close_first_is_seen_in_time_wait() {
        require_root();
        std::thread::spawn(|| {
            crate::testing::unshare_net();
            server_closes_first(Ipv4Addr::LOCALHOST.into());
            server_closes_first(Ipv6Addr::LOCALHOST.into());
        })
        .join()
        .expect("namespace thread");
    }
}

//! TCP sockets of one network namespace read through sock_diag, the netlink
//! interface behind `ss -tan`. The main use is to see whether the server's
//! connection sits in TIME_WAIT (`ss -tan state time-wait`).
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
    DecodeError, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};

/// How long one `recv` on the diag socket may block before it is an error.
/// The kernel answers a dump at once; this only bounds a kernel bug.
const RECV_TIMEOUT: Duration = Duration::from_secs(2);

/// The address family (`AF_INET`, `AF_INET6`) to ask sock_diag for, for
/// sockets of `addr`.
pub fn family_of(addr: std::net::IpAddr) -> libc::c_int {
    if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    }
}

/// The mask of every TCP state the kernel has (bits 1 to 13), like `ss -a`.
pub const ALL_STATES: u32 = ((1 << 14) - 1) & !1;

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
    /// The address family is neither `AF_INET` nor `AF_INET6`.
    #[error("sock_diag: address family {0} is not AF_INET or AF_INET6")]
    Family(libc::c_int),
    /// A socket call on the NETLINK_SOCK_DIAG socket failed.
    #[error("sock_diag: {op}: {source}")]
    Io {
        /// The call, like `send` or `recv`.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel refused the dump (a negative errno in NLMSG_ERROR).
    #[error("sock_diag: the kernel answered the dump with {0}")]
    Kernel(std::io::Error),
    /// The kernel's answer could not be parsed.
    #[error("sock_diag: cannot parse the kernel's answer: {0}")]
    Decode(#[from] DecodeError),
    /// The kernel sent a message that is not part of an inet dump.
    #[error("sock_diag: unexpected message in the dump: {0}")]
    Unexpected(String),
    /// A socket is in a state this module does not know.
    #[error("sock_diag: socket in unknown TCP state {0}")]
    UnknownState(u8),
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> DiagError {
    move |source| DiagError::Io { op, source }
}

/// Lists the TCP sockets of `family` (`AF_INET` or `AF_INET6`) whose state
/// bit is in `states_mask` (see [`TcpState::mask`] and [`ALL_STATES`]), in
/// the calling thread's network namespace. An `AF_INET6` dump includes
/// dual-stack sockets with IPv4-mapped addresses.
///
/// Equivalent to: `ss -tan` (`-4`/`-6`, `state ...`)
pub fn tcp_sockets(family: libc::c_int, states_mask: u32) -> Result<Vec<TcpSock>, DiagError> {
    let request = dump_request(family, states_mask)?;
    let socket = open_socket()?;
    socket.send(&request, 0).map_err(io("send"))?;
    read_dump(&socket)
}

/// The TCP sockets of `family` in `states_mask` whose local port is
/// `local_port` and remote port is `remote_port` (both matched exactly; a
/// listening socket has remote port 0).
///
/// Equivalent to: `ss -tan state STATE sport = :LOCAL dport = :REMOTE`
pub fn find(
    family: libc::c_int,
    states_mask: u32,
    local_port: u16,
    remote_port: u16,
) -> Result<Vec<TcpSock>, DiagError> {
    let mut sockets = tcp_sockets(family, states_mask)?;
    sockets.retain(|s| s.src.port() == local_port && s.dst.port() == remote_port);
    Ok(sockets)
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

/// Serializes an `inet_diag_req_v2` dump request for TCP sockets.
fn dump_request(family: libc::c_int, states_mask: u32) -> Result<Vec<u8>, DiagError> {
    let socket_id = match family {
        libc::AF_INET => SocketId::new_v4(),
        libc::AF_INET6 => SocketId::new_v6(),
        other => return Err(DiagError::Family(other)),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut message = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: u8::try_from(family).map_err(|_| DiagError::Family(family))?,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            // `from_bits_retain` keeps bits the crate has no name for
            // (NEW_SYN_RECV, BOUND_INACTIVE).
            states: StateFlags::from_bits_retain(states_mask),
            socket_id,
        })
        .into(),
    );
    message.finalize();
    let mut buf = vec![0; message.buffer_len()];
    message.serialize(&mut buf);
    Ok(buf)
}

/// Reads datagrams until NLMSG_DONE and collects the sockets.
fn read_dump(socket: &Socket) -> Result<Vec<TcpSock>, DiagError> {
    let mut sockets = Vec::new();
    loop {
        let (datagram, _) = socket.recv_from_full().map_err(io("recv"))?;
        if parse_datagram(&datagram, &mut sockets)? {
            return Ok(sockets);
        }
    }
}

/// Parses the netlink messages of one datagram into `out`; returns `true`
/// once NLMSG_DONE is seen.
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
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
    use std::time::Instant;

    #[test]
    fn state_masks_and_names_match_the_kernel() {
        assert_eq!(TcpState::TimeWait.mask(), 1 << 6);
        assert_eq!(TcpState::Listen as u8, 10);
        assert_eq!(TcpState::NewSynRecv as u8, 12);
        assert_eq!(TcpState::TimeWait.as_str(), "TIME-WAIT");
        assert_eq!(
            ALL_STATES,
            TcpState::ALL.iter().fold(0, |m, s| m | s.mask())
        );
        for s in TcpState::ALL {
            assert_eq!(TcpState::from_kernel(s as u8), Some(s));
        }
        assert_eq!(TcpState::from_kernel(0), None);
        assert!(matches!(
            tcp_sockets(libc::AF_UNIX, ALL_STATES),
            Err(DiagError::Family(_))
        ));
    }

    /// Polls `find` until it returns something or 2 s pass.
    fn wait_for(family: libc::c_int, state: TcpState, local: u16, remote: u16) -> Vec<TcpSock> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let found = find(family, state.mask(), local, remote).expect("sock_diag");
            if !found.is_empty() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Server closes first, so its end of the connection goes to TIME_WAIT.
    fn server_closes_first(family: libc::c_int, ip: IpAddr) {
        let listener = TcpListener::bind((ip, 0)).expect("listen");
        let server_port = listener.local_addr().expect("addr").port();
        let listening = find(family, TcpState::Listen.mask(), server_port, 0).expect("diag");
        assert_eq!(
            listening.len(),
            1,
            "LISTEN socket on {server_port}: {listening:?}"
        );
        assert_eq!(listening[0].src, SocketAddr::new(ip, server_port));

        let mut client = TcpStream::connect((ip, server_port)).expect("connect");
        let client_port = client.local_addr().expect("addr").port();
        let (server, _) = listener.accept().expect("accept");
        let estab = find(family, ALL_STATES, server_port, client_port).expect("diag");
        assert_eq!(estab.len(), 1, "{estab:?}");
        assert_eq!(estab[0].state, TcpState::Established);
        drop(server);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).expect("EOF from server");
        drop(client);

        let tw = wait_for(family, TcpState::TimeWait, server_port, client_port);
        assert_eq!(tw.len(), 1, "server's TIME-WAIT socket: {tw:?}");
        assert_eq!(tw[0].state, TcpState::TimeWait);
        assert_eq!(tw[0].src, SocketAddr::new(ip, server_port));
        assert_eq!(tw[0].dst, SocketAddr::new(ip, client_port));
        // TIME_WAIT lasts TCP_TIMEWAIT_LEN (60 s); it has only just begun.
        let left = tw[0].timewait_ms.expect("a TIME_WAIT timer");
        assert!((55_000..=60_000).contains(&left), "idiag_expires {left} ms");
        eprintln!("{}", tw[0]);
        let all = tcp_sockets(family, ALL_STATES).expect("diag");
        let same = |s: &TcpSock| (s.state, s.src, s.dst) == (tw[0].state, tw[0].src, tw[0].dst);
        assert!(
            all.iter().any(same),
            "ALL_STATES includes TIME-WAIT: {all:?}"
        );
        let not_tw = find(
            family,
            ALL_STATES & !TcpState::TimeWait.mask(),
            server_port,
            client_port,
        )
        .expect("diag");
        assert!(not_tw.is_empty(), "mask without TIME-WAIT: {not_tw:?}");
    }

    #[test]
    fn server_close_first_is_seen_in_time_wait() {
        require_root();
        std::thread::spawn(|| {
            crate::testing::unshare_net();
            server_closes_first(libc::AF_INET, Ipv4Addr::LOCALHOST.into());
            server_closes_first(libc::AF_INET6, Ipv6Addr::LOCALHOST.into());
        })
        .join()
        .expect("namespace thread");
    }
}

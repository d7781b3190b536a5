//! The NETLINK_NETFILTER socket that the NAT's nf_tables batch
//! (`lab/nat.rs`) and the conntrack lookups (`observe/conntrack.rs`) both
//! speak through: opened in the calling thread's namespace, connected to the
//! kernel, with a receive timeout so a silent kernel is an error, not a hang.

use std::time::Duration;

use netlink_sys::{Socket, SocketAddr as NetlinkAddr, protocols::NETLINK_NETFILTER};

/// How long one receive waits for the kernel's answer.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the socket; an error names the call that failed.
pub fn open() -> Result<Socket, (&'static str, std::io::Error)> {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
    use nix::sys::time::TimeVal;
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(|e| ("socket", e))?;
    socket.bind_auto().map_err(|e| ("bind", e))?;
    socket
        .connect(&NetlinkAddr::new(0, 0))
        .map_err(|e| ("connect", e))?;
    let tv = TimeVal::new(RECV_TIMEOUT.as_secs() as libc::time_t, 0);
    setsockopt(&socket, ReceiveTimeout, &tv).map_err(|e| ("setsockopt(SO_RCVTIMEO)", e.into()))?;
    Ok(socket)
}

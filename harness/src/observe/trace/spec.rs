//! What a case traces ([`TraceSpec`]): its addresses, ports, server and owner
//! threads, and the userspace check that every event passes.

use std::net::{IpAddr, SocketAddr};

use super::log::Side;

/// What to trace and how to tell the case's own sockets from others.
#[derive(Debug, Clone, Default)]
pub struct TraceSpec {
    /// The case's addresses: an event is kept when its source or destination
    /// address is one of them (empty: any address).
    pub addrs: Vec<IpAddr>,
    /// The case's ports (server and client). When not empty, an event is kept
    /// only when its source or destination port is one of them; needed to keep
    /// out the host's IPv6 traffic, which the kernel cannot filter by address.
    pub ports: Vec<u16>,
    /// The server's listening address: names the side of each event.
    pub server: Option<SocketAddr>,
    /// Thread ids (gettid) of the threads that make and close the case's
    /// sockets, like `NsThread::tid()` of the server and client namespaces.
    /// Empty: nothing can be proved to be the case's own.
    pub owners: Vec<libc::pid_t>,
}

impl TraceSpec {
    /// A spec that keeps events to or from `addrs`.
    pub fn new(addrs: impl IntoIterator<Item = IpAddr>) -> TraceSpec {
        TraceSpec {
            addrs: addrs.into_iter().collect(),
            ..TraceSpec::default()
        }
    }

    /// Keep only events with one of these ports on either end.
    pub fn ports(mut self, ports: impl IntoIterator<Item = u16>) -> TraceSpec {
        self.ports.extend(ports);
        self
    }

    /// The server's listening address, to name each event's side.
    pub fn server(mut self, addr: SocketAddr) -> TraceSpec {
        self.server = Some(addr);
        self
    }

    /// A thread that owns sockets of the case (see [`TraceSpec::owners`]).
    pub fn owner(mut self, tid: libc::pid_t) -> TraceSpec {
        self.owners.push(tid);
        self
    }

    pub(super) fn matches(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        let addr_ok = self.addrs.is_empty()
            || self.addrs.contains(&src.ip())
            || self.addrs.contains(&dst.ip());
        let port_ok = self.ports.is_empty()
            || self.ports.contains(&src.port())
            || self.ports.contains(&dst.port());
        addr_ok && port_ok
    }

    pub(super) fn side(&self, src: SocketAddr, dst: SocketAddr) -> Option<Side> {
        let server = self.server?;
        if src == server {
            Some(Side::Server)
        } else if dst == server {
            Some(Side::Client)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_keeps_its_tuple_and_names_sides() {
        let server: SocketAddr = "198.18.0.1:8888".parse().unwrap();
        let client: SocketAddr = "198.18.0.2:12345".parse().unwrap();
        let other: SocketAddr = "10.0.0.1:8888".parse().unwrap();
        let spec = TraceSpec::new([server.ip(), client.ip()])
            .ports([8888, 12345])
            .server(server);
        assert!(spec.matches(server, client));
        assert!(spec.matches("198.18.0.2:0".parse().unwrap(), server)); // SYN_SENT, no port yet
        assert!(!spec.matches(other, "10.0.0.2:1".parse().unwrap()));
        assert!(!spec.matches(
            "198.18.0.1:22".parse().unwrap(),
            "198.18.0.2:5000".parse().unwrap()
        ));
        assert_eq!(spec.side(server, client), Some(Side::Server));
        assert_eq!(spec.side(client, server), Some(Side::Client));
        assert_eq!(spec.side(other, client), None);
    }
}

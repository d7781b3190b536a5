//! The shape of a case's lab, as data: its namespaces and the role each plays,
//! the links between them with their addresses, and the link the evidence is
//! captured on. `Lab::build` makes whatever shape it is given; the executor
//! reaches each side by its role and does not count namespaces.
//!
//! Today's shape is `veth`: a server and a client namespace joined by one veth
//! pair, the capture on the server's end.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::{Family, Side};

/// Interface names inside the namespaces (private to each namespace, so fixed names
/// cannot collide between parallel cases).
pub const SERVER_IF: &str = "syn-srv0";
pub const CLIENT_IF: &str = "syn-cli0";
/// The veth ends' Ethernet addresses: locally administered and fixed, so every
/// capture shows the same ones (each pair is alone on its own segment).
pub const SERVER_MAC: [u8; 6] = [0x02, 0x53, 0x59, 0x4e, 0x00, 0x01];
pub const CLIENT_MAC: [u8; 6] = [0x02, 0x53, 0x59, 0x4e, 0x00, 0x02];

/// The lab's shape as a scenario names it (`[topology] kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Two namespaces joined by a veth pair (the default).
    Veth,
    /// Client and server in one namespace, over `lo` (127.0.0.1 / ::1).
    Loopback,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Veth => "veth",
            Shape::Loopback => "loopback",
        }
    }
}

/// What a namespace is for in the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that listens.
    Server,
    /// The side that connects.
    Client,
}

impl From<Side> for Role {
    fn from(side: Side) -> Role {
        match side {
            Side::Server => Role::Server,
            Side::Client => Role::Client,
        }
    }
}

/// One namespace of the lab.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// For error messages and `--keep` names (`server`, `client`).
    pub label: &'static str,
    /// The roles it plays (one, or both when client and server share a stack).
    pub roles: Vec<Role>,
    /// `net.*` sysctls, in the order they are written.
    pub sysctls: Vec<(String, String)>,
}

/// One end of a link.
#[derive(Debug, Clone)]
pub struct End {
    /// Index into [`Topology::namespaces`].
    pub ns: usize,
    pub name: &'static str,
    pub mac: [u8; 6],
    /// Its address and prefix; none for a raw peer's end (its kernel must
    /// never answer).
    pub addr: Option<(IpAddr, u8)>,
    /// A permanent neighbour entry for the other end's address (the raw peer
    /// answers no neighbour discovery).
    pub neighbour: Option<(IpAddr, [u8; 6])>,
}

/// A veth pair: made in `a`'s namespace with its peer `b` in another.
#[derive(Debug, Clone)]
pub struct Link {
    pub a: End,
    pub b: End,
}

/// The lab of one case.
#[derive(Debug, Clone)]
pub struct Topology {
    pub family: Family,
    pub namespaces: Vec<Namespace>,
    pub links: Vec<Link>,
    /// The address each role's sockets use.
    pub addrs: Vec<(Role, IpAddr)>,
    /// Where the evidence is captured: a namespace and an interface in it.
    pub capture: (usize, &'static str),
}

/// The server's and the client's addresses on the veth pair, per family
/// (the benchmarking ranges 198.18.0.0/15 and 2001:2::/48).
pub fn veth_addrs(family: Family) -> (IpAddr, IpAddr, u8) {
    match family {
        Family::V4 => (
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
            24,
        ),
        Family::V6 => (
            IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2)),
            64,
        ),
    }
}

impl Topology {
    /// Two namespaces joined by a veth pair; with a raw client, its end has no
    /// address and the server a permanent neighbour entry for it.
    pub fn veth(
        family: Family,
        server_sysctl: Vec<(String, String)>,
        client_sysctl: Vec<(String, String)>,
        raw_client: bool,
    ) -> Topology {
        let (server, client, prefix) = veth_addrs(family);
        Topology {
            family,
            namespaces: vec![
                Namespace {
                    label: "server",
                    roles: vec![Role::Server],
                    sysctls: server_sysctl,
                },
                Namespace {
                    label: "client",
                    roles: vec![Role::Client],
                    sysctls: client_sysctl,
                },
            ],
            links: vec![Link {
                a: End {
                    ns: 0,
                    name: SERVER_IF,
                    mac: SERVER_MAC,
                    addr: Some((server, prefix)),
                    neighbour: raw_client.then_some((client, CLIENT_MAC)),
                },
                b: End {
                    ns: 1,
                    name: CLIENT_IF,
                    mac: CLIENT_MAC,
                    addr: (!raw_client).then_some((client, prefix)),
                    neighbour: None,
                },
            }],
            addrs: vec![(Role::Server, server), (Role::Client, client)],
            capture: (0, SERVER_IF),
        }
    }

    /// Client and server sockets in one namespace, over `lo`: its addresses
    /// are the loopback ones, so the kernel treats the traffic as loopback
    /// (`tcp_tw_reuse = 2` in `tcp_twsk_unique()`). `sysctls` are that one
    /// namespace's (the scenario check refuses a key set differently per side).
    pub fn loopback(family: Family, sysctls: Vec<(String, String)>) -> Topology {
        let lo = match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        Topology {
            family,
            namespaces: vec![Namespace {
                label: "lab",
                roles: vec![Role::Server, Role::Client],
                sysctls,
            }],
            links: vec![],
            addrs: vec![(Role::Server, lo), (Role::Client, lo)],
            capture: (0, "lo"),
        }
    }

    /// Whether the capture interface shows every frame twice (sent and
    /// received: `lo`), so only the sent copy is kept.
    pub fn capture_sees_both_copies(&self) -> bool {
        self.capture.1 == "lo"
    }

    /// The namespace that plays `role`.
    pub fn ns_of(&self, role: Role) -> Option<usize> {
        self.namespaces.iter().position(|n| n.roles.contains(&role))
    }

    /// The address `role`'s sockets use.
    pub fn addr(&self, role: Role) -> Option<IpAddr> {
        self.addrs.iter().find(|(r, _)| *r == role).map(|(_, a)| *a)
    }

    /// The link end in `role`'s namespace (its interface towards the rest).
    pub fn end_of(&self, role: Role) -> Option<&End> {
        let ns = self.ns_of(role)?;
        self.links
            .iter()
            .flat_map(|l| [&l.a, &l.b])
            .find(|e| e.ns == ns)
    }

    /// The other end of the link `end` belongs to.
    pub fn peer_of(&self, end: &End) -> Option<&End> {
        self.links.iter().find_map(|l| {
            if l.a.ns == end.ns && l.a.name == end.name {
                Some(&l.b)
            } else if l.b.ns == end.ns && l.b.name == end.name {
                Some(&l.a)
            } else {
                None
            }
        })
    }

    /// The capture point in words: `syn-srv0 in the server namespace`.
    pub fn capture_label(&self) -> String {
        let (ns, name) = self.capture;
        format!("{name} in the {} namespace", self.namespaces[ns].label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_puts_each_role_in_its_own_namespace_and_captures_on_the_server_end() {
        let t = Topology::veth(Family::V4, vec![], vec![], false);
        assert_eq!(t.ns_of(Role::Server), Some(0));
        assert_eq!(t.ns_of(Role::Client), Some(1));
        assert_eq!(t.capture_label(), "syn-srv0 in the server namespace");
        let client_end = t.end_of(Role::Client).expect("a client end");
        assert_eq!(client_end.name, CLIENT_IF);
        assert_eq!(t.peer_of(client_end).map(|e| e.mac), Some(SERVER_MAC));
        let raw = Topology::veth(Family::V6, vec![], vec![], true);
        assert!(
            raw.links[0].b.addr.is_none(),
            "a raw peer's end has no address"
        );
        assert_eq!(
            raw.links[0].a.neighbour.map(|n| n.1),
            Some(CLIENT_MAC),
            "the server knows the raw peer's MAC"
        );
    }
}

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
    /// The clients (1 to 4) reach the server through a router namespace that
    /// masquerades them.
    Nat { clients: u8 },
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Veth => "veth",
            Shape::Loopback => "loopback",
            Shape::Nat { .. } => "nat",
        }
    }
}

/// What a namespace is for in the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that listens.
    Server,
    /// The side that connects (behind a NAT: the first client).
    Client,
    /// Another client behind the NAT (2, 3, ...), each its own namespace.
    ClientN(u8),
    /// The namespace between the clients and the server that masquerades them.
    Router,
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
    /// More links captured for the pcap only (behind a NAT: the clients'
    /// side of the router, so the rewrite is visible).
    pub also_capture: Vec<(usize, &'static str)>,
    /// Default routes: (namespace, gateway).
    pub routes: Vec<(usize, IpAddr)>,
    /// A masquerade of everything leaving this interface of this namespace.
    pub masquerade: Option<(usize, &'static str)>,
}

/// The most clients a NAT lab has.
pub const MAX_CLIENTS: u8 = 4;
/// The router's interfaces: towards the server, then towards each client.
const ROUTER_IFS: [&str; 5] = ["syn-rtr0", "syn-rtr1", "syn-rtr2", "syn-rtr3", "syn-rtr4"];
const CLIENT_LABELS: [&str; 4] = ["client", "client2", "client3", "client4"];

fn router_mac(i: u8) -> [u8; 6] {
    [0x02, 0x53, 0x59, 0x4e, 0x01, i]
}

fn client_mac(i: u8) -> [u8; 6] {
    if i == 1 {
        CLIENT_MAC
    } else {
        [0x02, 0x53, 0x59, 0x4e, 0x02, i]
    }
}

/// Behind a NAT: host `host` of link `link` (0: the server's, 1..: the
/// clients'): 198.18.LINK.HOST/24, 2001:2:0:LINK::HOST/64.
fn nat_addr(family: Family, link: u8, host: u8) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(198, 18, link, host)),
        Family::V6 => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            2,
            0,
            u16::from(link),
            0,
            0,
            0,
            u16::from(host),
        )),
    }
}

/// Every address any lab of `family` uses: what the state trace's kernel
/// filter lets through.
pub fn every_addr(family: Family) -> Vec<IpAddr> {
    let (server, client, _) = veth_addrs(family);
    let mut out = vec![server, client, nat_addr(family, 0, 254)];
    for i in 1..=MAX_CLIENTS {
        out.extend([nat_addr(family, i, 1), nat_addr(family, i, 2)]);
    }
    out.push(match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    });
    out
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
            also_capture: vec![],
            routes: vec![],
            masquerade: None,
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
            also_capture: vec![],
            routes: vec![],
            masquerade: None,
        }
    }

    /// `clients` client namespaces (1 to 4) behind a router namespace that
    /// forwards and masquerades what leaves towards the server. The server
    /// keeps the veth shape's address; each client has a link of its own to
    /// the router. With a raw first client, its end has no address and the
    /// router a neighbour entry for it. The server's side is captured (what
    /// the server saw), the router's client side too, for the pcap.
    pub fn nat(
        family: Family,
        clients: u8,
        server_sysctl: Vec<(String, String)>,
        client_sysctl: Vec<(String, String)>,
        raw_client: bool,
    ) -> Topology {
        let clients = clients.clamp(1, MAX_CLIENTS);
        let (server, _, prefix) = veth_addrs(family);
        let router_sysctls = vec![
            ("net.ipv4.ip_forward".to_owned(), "1".to_owned()),
            ("net.ipv6.conf.all.forwarding".to_owned(), "1".to_owned()),
        ];
        let mut namespaces = vec![
            Namespace {
                label: "server",
                roles: vec![Role::Server],
                sysctls: server_sysctl,
            },
            Namespace {
                label: "router",
                roles: vec![Role::Router],
                sysctls: router_sysctls,
            },
        ];
        let router_srv = nat_addr(family, 0, 254);
        let mut links = vec![Link {
            a: End {
                ns: 1,
                name: ROUTER_IFS[0],
                mac: router_mac(0),
                addr: Some((router_srv, prefix)),
                neighbour: None,
            },
            b: End {
                ns: 0,
                name: SERVER_IF,
                mac: SERVER_MAC,
                addr: Some((server, prefix)),
                neighbour: None,
            },
        }];
        let mut addrs = vec![(Role::Server, server)];
        let mut routes = vec![];
        let mut also_capture = vec![];
        for i in 1..=clients {
            let ns = namespaces.len();
            let role = if i == 1 {
                Role::Client
            } else {
                Role::ClientN(i)
            };
            namespaces.push(Namespace {
                label: CLIENT_LABELS[usize::from(i - 1)],
                roles: vec![role],
                sysctls: client_sysctl.clone(),
            });
            let (client, gateway) = (nat_addr(family, i, 2), nat_addr(family, i, 1));
            let raw = raw_client && i == 1;
            let mac = client_mac(i);
            links.push(Link {
                a: End {
                    ns: 1,
                    name: ROUTER_IFS[usize::from(i)],
                    mac: router_mac(i),
                    addr: Some((gateway, prefix)),
                    neighbour: raw.then_some((client, mac)),
                },
                b: End {
                    ns,
                    name: CLIENT_IF,
                    mac,
                    addr: (!raw).then_some((client, prefix)),
                    neighbour: None,
                },
            });
            addrs.push((role, client));
            if !raw {
                routes.push((ns, gateway));
            }
            also_capture.push((1, ROUTER_IFS[usize::from(i)]));
        }
        addrs.push((Role::Router, router_srv));
        Topology {
            family,
            namespaces,
            links,
            addrs,
            capture: (0, SERVER_IF),
            also_capture,
            routes,
            masquerade: Some((1, ROUTER_IFS[0])),
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
        let nat = Topology::nat(Family::V4, 2, vec![], vec![], false);
        assert_eq!(nat.namespaces.len(), 4, "server, router, two clients");
        assert_eq!(nat.ns_of(Role::Router), Some(1));
        assert_eq!(
            nat.addr(Role::ClientN(2)),
            Some("198.18.2.2".parse().unwrap())
        );
        assert_eq!(nat.masquerade, Some((1, "syn-rtr0")));
        assert_eq!(nat.routes.len(), 2, "each client routes through the router");
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

//! The lab: anonymous network namespaces, each owned by one thread, joined by
//! veth pairs, with addresses from the benchmarking ranges (198.18.0.0/15,
//! 2001:2::/48) and per-namespace `net.*` sysctls, built from a [`Topology`]
//! (its shape as data). Nothing is made in the root namespace; dropping the
//! `Lab` frees everything.

mod keep;
pub mod nat;
pub mod netlink;
pub mod ns;
mod sysctls;
pub mod topology;

use std::net::IpAddr;
use std::time::Duration;

use futures::future::try_join_all;

use crate::wire::Family;
pub use keep::{KeepNames, Kept};
pub use ns::NsThread;
pub use topology::{CLIENT_IF, Role, SERVER_IF, Shape, Topology};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// One line; names the reason user namespaces are off when they are (see `rootless`).
    #[error("{}", crate::rootless::no_privilege_message())]
    NoPrivilege,
    #[error("could not start the {label} namespace thread: {source}")]
    Thread {
        label: &'static str,
        source: std::io::Error,
    },
    #[error("the {label} namespace thread is gone")]
    ThreadGone { label: &'static str },
    #[error("a job on the {label} namespace thread panicked")]
    JobPanicked { label: &'static str },
    #[error("{op}: {source}")]
    Io { op: String, source: std::io::Error },
    #[error("sysctl {key}: refused: only net.* sysctls of the harness's own namespaces may be set")]
    SysctlRefused { key: String },
    #[error("sysctl {key} = {value} in the {ns} namespace: {source}{hint}")]
    Sysctl {
        ns: &'static str,
        key: String,
        value: String,
        source: sysctl::SysctlError,
        /// Why rootless mode may refuse it, when it runs rootless.
        hint: &'static str,
    },
    #[error("sysctl {key} = {value} in the {ns} namespace: the kernel kept {kept:?}")]
    SysctlKept {
        ns: &'static str,
        key: String,
        value: String,
        kept: String,
    },
    #[error("--keep: namespace {name} exists already; remove it with: ip netns delete {name}")]
    KeepExists { name: String },
    #[error("--keep: namespace {name}: {source}")]
    Keep {
        name: String,
        source: netns_rs::Error,
    },
    #[error("router namespace: masquerade: {source}")]
    Nat { source: nat::NatError },
    #[error("{ns} namespace: {source}")]
    Link {
        ns: &'static str,
        source: netlink::LinkError,
    },
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabSpec {
    pub family: Family,
    pub server_sysctl: Vec<(String, String)>,
    pub client_sysctl: Vec<(String, String)>,
    /// A raw peer on the client end: no address there and IPv6 off in the client
    /// namespace, so the client kernel never answers; the server gets a permanent
    /// neighbour entry for the client's address instead.
    pub raw_client: bool,
    pub shape: Shape,
}

impl LabSpec {
    /// The lab's shape.
    pub fn topology(&self) -> Topology {
        if self.shape == Shape::Loopback {
            let mut both = self.server_sysctl.clone();
            for kv in &self.client_sysctl {
                if !both.iter().any(|(k, _)| *k == kv.0) {
                    both.push(kv.clone());
                }
            }
            return Topology::loopback(self.family, both);
        }
        // A raw peer's namespace keeps IPv6 off, so its kernel never answers
        // (no ICMPv6 unreachable, no neighbour discovery).
        let mut client = self.client_sysctl.clone();
        if self.raw_client {
            for c in ["all", "default"] {
                client.insert(0, (format!("net.ipv6.conf.{c}.disable_ipv6"), "1".into()));
            }
        }
        if let Shape::Nat { clients } = self.shape {
            return Topology::nat(
                self.family,
                clients,
                self.server_sysctl.clone(),
                client,
                self.raw_client,
            );
        }
        Topology::veth(
            self.family,
            self.server_sysctl.clone(),
            client,
            self.raw_client,
        )
    }
}

/// The namespaces of one case, up, linked and addressed as its topology says.
pub struct Lab {
    /// One thread per namespace, in the topology's order; dropped in reverse
    /// (the client goes first, then the server).
    threads: Vec<NsThread>,
    pub topology: Topology,
    /// The interface index of each link end: (namespace, name, index).
    ifindex: Vec<(usize, &'static str, u32)>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        while let Some(t) = self.threads.pop() {
            drop(t);
        }
    }
}

impl Lab {
    /// The namespace thread that plays `role`.
    ///
    /// # Panics
    /// When the topology has no namespace for `role`: the executor asks only
    /// for roles its case's topology has.
    pub fn ns(&self, role: impl Into<Role>) -> &NsThread {
        let role = role.into();
        let i = self
            .topology
            .ns_of(role)
            .unwrap_or_else(|| panic!("the lab has no {role:?} namespace"));
        &self.threads[i]
    }

    /// The thread of namespace `ns` (an index into the topology's namespaces).
    pub fn thread(&self, ns: usize) -> &NsThread {
        &self.threads[ns]
    }

    /// The address `role`'s sockets use.
    pub fn addr(&self, role: impl Into<Role>) -> IpAddr {
        let role = role.into();
        self.topology
            .addr(role)
            .unwrap_or_else(|| panic!("the lab has no {role:?} address"))
    }

    /// The index of interface `name` in namespace `ns`.
    pub fn ifindex(&self, ns: usize, name: &str) -> Option<u32> {
        self.ifindex
            .iter()
            .find(|(n, i, _)| *n == ns && *i == name)
            .map(|(_, _, index)| *index)
    }

    /// Every namespace thread's id: whose sockets are the case's own.
    pub fn owners(&self) -> impl Iterator<Item = libc::pid_t> + '_ {
        self.threads.iter().map(NsThread::tid)
    }

    /// Build the lab; `link_timeout` bounds the wait for the links to come up.
    ///
    /// Three steps, each as parallel as the kernel allows: every namespace is
    /// made and gets its sysctls and `lo` at once; each link's first end makes
    /// the veth pair with its peer directly in the other namespace; every end
    /// is configured, brought up and waited for at once, woken by the
    /// kernel's notifications rather than by polling.
    pub async fn build(spec: &LabSpec, link_timeout: Duration) -> Result<Lab, LabError> {
        Lab::build_topology(spec.topology(), None, link_timeout).await
    }

    /// [`Lab::build`] with named namespaces (`--keep`): each one made is in
    /// `kept`, which removes them unless the case hands them over.
    pub async fn build_kept(
        spec: &LabSpec,
        kept: &mut Kept,
        link_timeout: Duration,
    ) -> Result<Lab, LabError> {
        Lab::build_topology(spec.topology(), Some(kept), link_timeout).await
    }

    async fn build_topology(
        topology: Topology,
        keep: Option<&mut Kept>,
        link_timeout: Duration,
    ) -> Result<Lab, LabError> {
        for (key, _) in topology.namespaces.iter().flat_map(|n| &n.sysctls) {
            if !key.starts_with("net.") {
                return Err(LabError::SysctlRefused { key: key.clone() });
            }
        }
        let labels: Vec<&'static str> = topology.namespaces.iter().map(|n| n.label).collect();
        let threads = match keep {
            None => NsThread::spawn_many(&labels)?,
            Some(kept) => labels
                .iter()
                .map(|&label| NsThread::spawn_in(label, kept.make(label)?))
                .collect::<Result<Vec<_>, LabError>>()?,
        };
        same_cpu(&threads);
        let deadline = tokio::time::Instant::now() + link_timeout;
        let v6 = topology.family == Family::V6;

        // IPv6: no duplicate address detection in our own namespaces, so the
        // link-local address is ready as soon as addrconf sees the carrier.
        // Set before the veth exists (a device copies conf.default when it
        // registers); the scenario's own sysctls come after and may override.
        let lab_sysctls: Vec<(String, String)> = if v6 {
            ["all", "default"]
                .iter()
                .map(|c| (format!("net.ipv6.conf.{c}.accept_dad"), "0".to_string()))
                .collect()
        } else {
            vec![]
        };

        // Step 1, every namespace at once: sysctls, `lo` up.
        try_join_all(topology.namespaces.iter().zip(&threads).map(|(n, t)| {
            let sysctls: Vec<(String, String)> =
                lab_sysctls.iter().chain(&n.sysctls).cloned().collect();
            let ns = n.label;
            async move {
                t.run(move || async move {
                    sysctls::apply(ns, &sysctls)?;
                    let wrap = |source| LabError::Link { ns, source };
                    let h = netlink::connect().await.map_err(wrap)?;
                    netlink::set_lo_up(&h).await.map_err(wrap)?;
                    Ok::<_, LabError>(())
                })
                .await?
            }
        }))
        .await?;

        // Step 2, each link's first end: the pair, its peer made in the other
        // namespace, the first end's address and neighbour.
        let made = try_join_all(topology.links.iter().zip(0u32..).map(|(link, n)| {
            let (a, b) = (link.a.clone(), link.b.clone());
            let peer_fd = threads[b.ns].ns_fd();
            let ns = topology.namespaces[a.ns].label;
            let thread = &threads[a.ns];
            async move {
                thread
                    .run(move || async move {
                        let wrap = |source| LabError::Link { ns, source };
                        let h = netlink::connect().await.map_err(wrap)?;
                        netlink::create_veth_pair(&h, a.name, a.mac, b.name, b.mac, peer_fd, n)
                            .await
                            .map_err(wrap)?;
                        let index = netlink::link_index(&h, a.name).await.map_err(wrap)?;
                        configure(&h, index, &a).await.map_err(wrap)?;
                        Ok::<_, LabError>((a.ns, a.name, index))
                    })
                    .await?
            }
        }))
        .await?;

        // Step 3, every end at once: the second end's address, up, and the
        // wait for the carrier (and for IPv6 link-local addresses, which
        // neighbour discovery needs; a raw peer's end has IPv6 off).
        let ends = topology
            .links
            .iter()
            .flat_map(|l| [(&l.a, true), (&l.b, false)]);
        let up = try_join_all(ends.map(|(end, first)| {
            let end = end.clone();
            let ns = topology.namespaces[end.ns].label;
            let thread = &threads[end.ns];
            let index = first
                .then(|| {
                    made.iter()
                        .find(|(n, name, _)| *n == end.ns && *name == end.name)
                })
                .flatten()
                .map(|m| m.2);
            let wait_v6 = v6 && end.addr.is_some();
            async move {
                thread
                    .run(move || async move {
                        let wrap = |source| LabError::Link { ns, source };
                        let (h, mut events) = netlink::connect_watching().await.map_err(wrap)?;
                        let index = match index {
                            Some(i) => i,
                            None => {
                                let i = netlink::link_index(&h, end.name).await.map_err(wrap)?;
                                configure(&h, i, &end).await.map_err(wrap)?;
                                i
                            }
                        };
                        netlink::set_up(&h, index).await.map_err(wrap)?;
                        netlink::wait_oper_up(&h, &mut events, index, deadline)
                            .await
                            .map_err(wrap)?;
                        if wait_v6 {
                            netlink::wait_ipv6_ready(&h, &mut events, index, deadline)
                                .await
                                .map_err(wrap)?;
                        }
                        Ok::<_, LabError>((end.ns, end.name, index))
                    })
                    .await?
            }
        }))
        .await?;

        // Step 4, behind a NAT: the clients' default routes and the router's
        // masquerade, every namespace at once.
        try_join_all(topology.routes.iter().map(|&(ns, gateway)| {
            let label = topology.namespaces[ns].label;
            threads[ns].run(move || async move {
                let wrap = |source| LabError::Link { ns: label, source };
                let h = netlink::connect().await.map_err(wrap)?;
                netlink::add_default_route(&h, gateway).await.map_err(wrap)
            })
        }))
        .await?
        .into_iter()
        .collect::<Result<Vec<()>, LabError>>()?;
        if let Some((ns, oif)) = topology.masquerade {
            threads[ns]
                .run(move || async move { nat::masquerade(oif) })
                .await?
                .map_err(|source| LabError::Nat { source })?;
        }

        // `lo` is index 1 in every namespace (`LOOPBACK_IFINDEX`).
        let mut ifindex = up;
        ifindex.extend((0..threads.len()).map(|ns| (ns, "lo", 1)));
        Ok(Lab {
            threads,
            topology,
            ifindex,
        })
    }
}

/// An end's address and neighbour entry.
async fn configure(
    h: &rtnetlink::Handle,
    index: u32,
    end: &topology::End,
) -> Result<(), netlink::LinkError> {
    if let Some((addr, prefix)) = end.addr {
        netlink::add_address(h, index, addr, prefix).await?;
    }
    if let Some((addr, mac)) = end.neighbour {
        netlink::add_neighbour(h, index, addr, mac).await?;
    }
    Ok(())
}

/// Pin every namespace thread of the lab to the CPU the caller is on. A veth hands each
/// frame to the receiving CPU's backlog (`netif_rx()`), one queue per CPU:
/// frames two sides send from different CPUs can overtake each other (seen in
/// 2-vCPU guests: a client's ACK of the server's FIN arriving after the
/// client's own FIN, answered with an RST that killed TIME_WAIT). On one CPU
/// everything the case's sockets send, in task or softirq context, is
/// processed in the order it was sent. Best effort: unpinned, order is almost
/// always kept.
fn same_cpu(threads: &[NsThread]) {
    use nix::sched::{CpuSet, sched_getcpu, sched_setaffinity};
    let Ok(cpu) = sched_getcpu() else { return };
    let mut set = CpuSet::new();
    if set.set(cpu).is_err() {
        return;
    }
    for tid in threads.iter().map(NsThread::tid) {
        let _ = sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set);
    }
}

/// Check that this process may make network namespaces, by making one.
///
/// Equivalent to: `unshare --net true`.
pub fn probe_privilege() -> Result<(), LabError> {
    NsThread::spawn("probe").map(drop)
}

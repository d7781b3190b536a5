//! The lab: two anonymous network namespaces (server, client), each owned by one
//! thread, joined by a veth pair, with addresses from the benchmarking ranges
//! (198.18.0.0/15, 2001:2::/48) and per-namespace `net.*` sysctls. Nothing is
//! made in the root namespace; dropping the `Lab` frees everything.

pub mod netlink;
pub mod ns;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use sysctl::Sysctl;

use crate::wire::{Family, Side};
pub use ns::NsThread;

/// Interface names inside the namespaces (private to each namespace, so fixed names
/// cannot collide between parallel cases).
pub const SERVER_IF: &str = "syn-srv0";
pub const CLIENT_IF: &str = "syn-cli0";
/// The veth ends' Ethernet addresses: locally administered and fixed, so every
/// capture shows the same ones (each pair is alone on its own segment).
pub const SERVER_MAC: [u8; 6] = [0x02, 0x53, 0x59, 0x4e, 0x00, 0x01];
pub const CLIENT_MAC: [u8; 6] = [0x02, 0x53, 0x59, 0x4e, 0x00, 0x02];

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
    #[error("sysctl {key} = {value} in the {side} namespace: {source}{hint}")]
    Sysctl {
        side: Side,
        key: String,
        value: String,
        source: sysctl::SysctlError,
        /// Why rootless mode may refuse it, when it runs rootless.
        hint: &'static str,
    },
    #[error("sysctl {key} = {value} in the {side} namespace: the kernel kept {kept:?}")]
    SysctlKept {
        side: Side,
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
    #[error("{side} namespace: {source}")]
    Link {
        side: Side,
        source: netlink::LinkError,
    },
}

/// Addresses used by the lab for one address family.
#[derive(Debug, Clone, Copy)]
pub struct Addrs {
    pub server: IpAddr,
    pub client: IpAddr,
    pub prefix: u8,
}

impl Addrs {
    pub fn for_family(family: Family) -> Addrs {
        match family {
            Family::V4 => Addrs {
                server: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
                client: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
                prefix: 24,
            },
            Family::V6 => Addrs {
                server: IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1)),
                client: IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2)),
                prefix: 64,
            },
        }
    }
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
    /// Keep the namespaces for inspection under these names (`ip netns`), instead
    /// of anonymous ones that vanish with the run.
    pub keep: Option<KeepNames>,
}

/// Names for `--keep`: `/run/netns/<server>` and `/run/netns/<client>`.
#[derive(Debug, Clone)]
pub struct KeepNames {
    pub server: String,
    pub client: String,
}

impl KeepNames {
    /// Names from a case name: `synlab-` + the case name with every character
    /// that `ip netns` would not like turned into `-`.
    pub fn for_case(case_name: &str) -> KeepNames {
        let mut base: String = case_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        base.truncate(200);
        KeepNames {
            server: format!("synlab-{base}-srv"),
            client: format!("synlab-{base}-cli"),
        }
    }

    /// The command that removes them.
    pub fn remove_command(&self) -> String {
        format!(
            "ip netns delete {} && ip netns delete {}",
            self.server, self.client
        )
    }
}

/// Make a named namespace (bind-mounted under /run/netns) for `--keep`.
///
/// Equivalent to: `ip netns add <name>`.
fn named_namespace(name: &str) -> Result<std::fs::File, LabError> {
    if std::path::Path::new("/run/netns").join(name).exists() {
        return Err(LabError::KeepExists {
            name: name.to_string(),
        });
    }
    let ns = netns_rs::NetNs::new(name).map_err(|source| LabError::Keep {
        name: name.to_string(),
        source,
    })?;
    ns.file().try_clone().map_err(|source| LabError::Io {
        op: format!("open /run/netns/{name}"),
        source,
    })
}

/// Two namespaces joined by a veth pair, up and addressed.
pub struct Lab {
    // Field order is drop order: the client goes first, then the server.
    pub client: NsThread,
    pub server: NsThread,
    pub addrs: Addrs,
    pub server_ifindex: u32,
    pub client_ifindex: u32,
    pub server_mac: [u8; 6],
    pub client_mac: [u8; 6],
}

impl Lab {
    /// The namespace thread of one side.
    pub fn ns(&self, side: Side) -> &NsThread {
        match side {
            Side::Server => &self.server,
            Side::Client => &self.client,
        }
    }

    /// Build the lab; `deadline` bounds the wait for the links to come up.
    ///
    /// Three steps, each as parallel as the kernel allows: both namespaces are
    /// made and get their sysctls and `lo` at once; the server side makes the
    /// veth pair with its peer directly in the client namespace; both sides
    /// configure and bring up their end and wait for it at once, woken by the
    /// kernel's notifications rather than by polling.
    pub async fn build(spec: &LabSpec, link_timeout: Duration) -> Result<Lab, LabError> {
        for (key, _) in spec.server_sysctl.iter().chain(&spec.client_sysctl) {
            if !key.starts_with("net.") {
                return Err(LabError::SysctlRefused { key: key.clone() });
            }
        }
        let (server, client) = match &spec.keep {
            None => NsThread::spawn_pair("server", "client")?,
            Some(names) => (
                NsThread::spawn_in("server", named_namespace(&names.server)?)?,
                NsThread::spawn_in("client", named_namespace(&names.client)?)?,
            ),
        };
        same_cpu(&server, &client);
        let addrs = Addrs::for_family(spec.family);
        let deadline = tokio::time::Instant::now() + link_timeout;

        // IPv6: no duplicate address detection in our own namespaces, so the
        // link-local address is ready as soon as addrconf sees the carrier.
        // Set before the veth exists (a device copies conf.default when it
        // registers); the scenario's own sysctls come after and may override.
        let lab_sysctls: Vec<(String, String)> = match spec.family {
            Family::V4 => vec![],
            Family::V6 => ["all", "default"]
                .iter()
                .map(|c| (format!("net.ipv6.conf.{c}.accept_dad"), "0".to_string()))
                .collect(),
        };
        let with_lab = |own: &[(String, String)], extra: &[(String, String)]| {
            lab_sysctls
                .iter()
                .chain(extra)
                .chain(own)
                .cloned()
                .collect::<Vec<_>>()
        };
        // A raw peer's namespace keeps IPv6 off, so its kernel never answers
        // (no ICMPv6 unreachable, no neighbour discovery).
        let raw_extra: Vec<(String, String)> = if spec.raw_client {
            ["all", "default"]
                .iter()
                .map(|c| (format!("net.ipv6.conf.{c}.disable_ipv6"), "1".to_string()))
                .collect()
        } else {
            vec![]
        };

        // Step 1, both sides at once: sysctls, `lo` up.
        let prepare = |side: Side, sysctls: Vec<(String, String)>| {
            move || async move {
                apply_sysctls(side, &sysctls)?;
                let wrap = |source| LabError::Link { side, source };
                let h = netlink::connect().await.map_err(wrap)?;
                netlink::set_lo_up(&h).await.map_err(wrap)?;
                Ok::<_, LabError>(())
            }
        };
        let (s, c) = tokio::join!(
            server.run(prepare(Side::Server, with_lab(&spec.server_sysctl, &[]))),
            client.run(prepare(
                Side::Client,
                with_lab(&spec.client_sysctl, &raw_extra)
            )),
        );
        s??;
        c??;

        // Step 2, server side: the pair, its peer made in the client namespace.
        let client_ns_fd = client.ns_fd();
        let raw = spec.raw_client;
        let (server_ip, client_ip, prefix) = (addrs.server, addrs.client, addrs.prefix);
        let server_ifindex = server
            .run(move || async move {
                let side = Side::Server;
                let wrap = |source| LabError::Link { side, source };
                let h = netlink::connect().await.map_err(wrap)?;
                netlink::create_veth_pair(
                    &h,
                    SERVER_IF,
                    SERVER_MAC,
                    CLIENT_IF,
                    CLIENT_MAC,
                    client_ns_fd,
                )
                .await
                .map_err(wrap)?;
                let index = netlink::link_index(&h, SERVER_IF).await.map_err(wrap)?;
                netlink::add_address(&h, index, server_ip, prefix)
                    .await
                    .map_err(wrap)?;
                if raw {
                    netlink::add_neighbour(&h, index, client_ip, CLIENT_MAC)
                        .await
                        .map_err(wrap)?;
                }
                Ok::<_, LabError>(index)
            })
            .await??;

        // Step 3, both sides at once: address, up, and the wait for the carrier
        // (and for IPv6 link-local addresses, which neighbour discovery needs).
        let v6 = spec.family == Family::V6;
        let client_addr = (!raw).then_some(client_ip);
        let client_v6 = v6 && !raw;
        let server_up = server.run(move || async move {
            let side = Side::Server;
            let wrap = |source| LabError::Link { side, source };
            let (h, mut events) = netlink::connect_watching().await.map_err(wrap)?;
            netlink::set_up(&h, server_ifindex).await.map_err(wrap)?;
            netlink::wait_oper_up(&h, &mut events, server_ifindex, deadline)
                .await
                .map_err(wrap)?;
            if v6 {
                netlink::wait_ipv6_ready(&h, &mut events, server_ifindex, deadline)
                    .await
                    .map_err(wrap)?;
            }
            Ok::<_, LabError>(())
        });
        let client_up = client.run(move || async move {
            let side = Side::Client;
            let wrap = |source| LabError::Link { side, source };
            let (h, mut events) = netlink::connect_watching().await.map_err(wrap)?;
            let index = netlink::link_index(&h, CLIENT_IF).await.map_err(wrap)?;
            if let Some(addr) = client_addr {
                netlink::add_address(&h, index, addr, prefix)
                    .await
                    .map_err(wrap)?;
            }
            netlink::set_up(&h, index).await.map_err(wrap)?;
            netlink::wait_oper_up(&h, &mut events, index, deadline)
                .await
                .map_err(wrap)?;
            if client_v6 {
                netlink::wait_ipv6_ready(&h, &mut events, index, deadline)
                    .await
                    .map_err(wrap)?;
            }
            Ok::<_, LabError>(index)
        });
        let (s, c) = tokio::join!(server_up, client_up);
        s??;
        let client_ifindex = c??;

        Ok(Lab {
            client,
            server,
            addrs,
            server_ifindex,
            client_ifindex,
            server_mac: SERVER_MAC,
            client_mac: CLIENT_MAC,
        })
    }
}

/// Pin both namespace threads to the CPU the caller is on. A veth hands each
/// frame to the receiving CPU's backlog (`netif_rx()`), one queue per CPU:
/// frames two sides send from different CPUs can overtake each other (seen in
/// 2-vCPU guests: a client's ACK of the server's FIN arriving after the
/// client's own FIN, answered with an RST that killed TIME_WAIT). On one CPU
/// everything the case's sockets send, in task or softirq context, is
/// processed in the order it was sent. Best effort: unpinned, order is almost
/// always kept.
fn same_cpu(server: &NsThread, client: &NsThread) {
    use nix::sched::{CpuSet, sched_getcpu, sched_setaffinity};
    let Ok(cpu) = sched_getcpu() else { return };
    let mut set = CpuSet::new();
    if set.set(cpu).is_err() {
        return;
    }
    for tid in [server.tid(), client.tid()] {
        let _ = sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set);
    }
}

/// Write `net.*` sysctls of the calling thread's namespace and read them back.
///
/// Equivalent to: `ip netns exec <ns> sysctl -w key=value`. No guard is needed to
/// undo them: they live and die with the anonymous namespace.
fn apply_sysctls(side: Side, list: &[(String, String)]) -> Result<(), LabError> {
    for (key, value) in list {
        if !key.starts_with("net.") {
            return Err(LabError::SysctlRefused { key: key.clone() });
        }
        let err = |hint: &'static str| {
            move |source| LabError::Sysctl {
                side,
                key: key.clone(),
                value: value.clone(),
                source,
                hint,
            }
        };
        let hint = crate::rootless::sysctl_hint();
        let ctl = sysctl::Ctl::new(key).map_err(err(hint))?;
        ctl.set_value_string(value).map_err(err(hint))?;
        let read = ctl.value_string().map_err(err(""))?;
        // Multi-value sysctls read back tab-separated (ip_local_port_range).
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        if words(&read) != words(value) {
            return Err(LabError::SysctlKept {
                side,
                key: key.clone(),
                value: value.clone(),
                kept: read,
            });
        }
    }
    Ok(())
}

/// Check that this process may make network namespaces, by making one.
///
/// Equivalent to: `unshare --net true`.
pub fn probe_privilege() -> Result<(), LabError> {
    NsThread::spawn("probe").map(drop)
}

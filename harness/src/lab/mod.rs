//! The lab: two anonymous network namespaces (server, client), each owned by one
//! thread, joined by a veth pair, with addresses from the benchmarking ranges
//! (198.18.0.0/15, 2001:2::/48) and per-namespace `net.*` sysctls. Nothing is
//! made in the root namespace; dropping the `Lab` frees everything.

pub mod netlink;
pub mod ns;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use sysctl::Sysctl;

use crate::scenario::Family;
pub use ns::NsThread;

/// Interface names inside the namespaces (private to each namespace, so fixed names
/// cannot collide between parallel cases).
pub const SERVER_IF: &str = "syn-srv0";
pub const CLIENT_IF: &str = "syn-cli0";

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "making a network namespace needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN): run `sudo cargo test` or `sudo synlab run ...`"
    )]
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
    #[error("sysctl {key} = {value} in the {side} namespace: {message}")]
    Sysctl {
        side: &'static str,
        key: String,
        value: String,
        message: String,
    },
    #[error("--keep: namespace {name}: {message}")]
    Keep { name: String, message: String },
    #[error("{side} namespace: {source}")]
    Link {
        side: &'static str,
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
        return Err(LabError::Keep {
            name: name.to_string(),
            message: format!("it exists already; remove it with: ip netns delete {name}"),
        });
    }
    let ns = netns_rs::NetNs::new(name).map_err(|e| LabError::Keep {
        name: name.to_string(),
        message: e.to_string(),
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
    /// Build the lab; `deadline` bounds the wait for the links to come up.
    pub async fn build(spec: &LabSpec, link_timeout: Duration) -> Result<Lab, LabError> {
        for (key, _) in spec.server_sysctl.iter().chain(&spec.client_sysctl) {
            if !key.starts_with("net.") {
                return Err(LabError::SysctlRefused { key: key.clone() });
            }
        }
        let (server, client) = match &spec.keep {
            None => (NsThread::spawn("server")?, NsThread::spawn("client")?),
            Some(names) => (
                NsThread::spawn_in("server", named_namespace(&names.server)?)?,
                NsThread::spawn_in("client", named_namespace(&names.client)?)?,
            ),
        };
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
        let sysctls = with_lab(&spec.server_sysctl, &[]);
        server
            .run(move || async move { apply_sysctls("server", &sysctls) })
            .await??;
        let sysctls = with_lab(&spec.client_sysctl, &raw_extra);
        client
            .run(move || async move { apply_sysctls("client", &sysctls) })
            .await??;

        // Server side: create the pair, hand the peer to the client namespace.
        let client_ns_fd = client.ns_fd();
        let server_addr = addrs.server;
        let prefix = addrs.prefix;
        let (server_ifindex, server_mac) = server
            .run(move || async move {
                let side = "server";
                let wrap = |source| LabError::Link { side, source };
                let h = netlink::connect().await.map_err(wrap)?;
                netlink::set_lo_up(&h).await.map_err(wrap)?;
                netlink::create_veth(&h, SERVER_IF, CLIENT_IF)
                    .await
                    .map_err(wrap)?;
                let peer = netlink::link_index(&h, CLIENT_IF).await.map_err(wrap)?;
                netlink::move_to_netns_fd(&h, peer, client_ns_fd)
                    .await
                    .map_err(wrap)?;
                let index = netlink::link_index(&h, SERVER_IF).await.map_err(wrap)?;
                netlink::add_address(&h, index, server_addr, prefix)
                    .await
                    .map_err(wrap)?;
                netlink::set_up(&h, index).await.map_err(wrap)?;
                let mac = netlink::link_mac(&h, index).await.map_err(wrap)?;
                Ok::<_, LabError>((index, mac))
            })
            .await??;

        let client_addr = (!spec.raw_client).then_some(addrs.client);
        let v6 = spec.family == Family::V6;
        let client_v6 = v6 && !spec.raw_client;
        let (client_ifindex, client_mac) = client
            .run(move || async move {
                let side = "client";
                let wrap = |source| LabError::Link { side, source };
                let h = netlink::connect().await.map_err(wrap)?;
                netlink::set_lo_up(&h).await.map_err(wrap)?;
                let index = netlink::link_index(&h, CLIENT_IF).await.map_err(wrap)?;
                if let Some(addr) = client_addr {
                    netlink::add_address(&h, index, addr, prefix)
                        .await
                        .map_err(wrap)?;
                }
                netlink::set_up(&h, index).await.map_err(wrap)?;
                netlink::wait_oper_up(&h, index, deadline)
                    .await
                    .map_err(wrap)?;
                if client_v6 {
                    netlink::wait_ipv6_ready(&h, index, deadline)
                        .await
                        .map_err(wrap)?;
                }
                let mac = netlink::link_mac(&h, index).await.map_err(wrap)?;
                Ok::<_, LabError>((index, mac))
            })
            .await??;

        let raw = spec.raw_client;
        let client_ip = addrs.client;
        server
            .run(move || async move {
                let side = "server";
                let wrap = |source| LabError::Link { side, source };
                let h = netlink::connect().await.map_err(wrap)?;
                netlink::wait_oper_up(&h, server_ifindex, deadline)
                    .await
                    .map_err(wrap)?;
                if v6 {
                    netlink::wait_ipv6_ready(&h, server_ifindex, deadline)
                        .await
                        .map_err(wrap)?;
                }
                if raw {
                    netlink::add_neighbour(&h, server_ifindex, client_ip, client_mac)
                        .await
                        .map_err(wrap)?;
                }
                Ok::<_, LabError>(())
            })
            .await??;

        Ok(Lab {
            client,
            server,
            addrs,
            server_ifindex,
            client_ifindex,
            server_mac,
            client_mac,
        })
    }
}

/// Write `net.*` sysctls of the calling thread's namespace and read them back.
///
/// Equivalent to: `ip netns exec <ns> sysctl -w key=value`. No guard is needed to
/// undo them: they live and die with the anonymous namespace.
fn apply_sysctls(side: &'static str, list: &[(String, String)]) -> Result<(), LabError> {
    for (key, value) in list {
        if !key.starts_with("net.") {
            return Err(LabError::SysctlRefused { key: key.clone() });
        }
        let err = |message: String| LabError::Sysctl {
            side,
            key: key.clone(),
            value: value.clone(),
            message,
        };
        let ctl = sysctl::Ctl::new(key).map_err(|e| err(e.to_string()))?;
        ctl.set_value_string(value)
            .map_err(|e| err(e.to_string()))?;
        let read = ctl.value_string().map_err(|e| err(e.to_string()))?;
        if read.trim() != value.trim() {
            return Err(err(format!("the kernel kept {read:?}")));
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

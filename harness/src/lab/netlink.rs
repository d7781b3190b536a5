//! rtnetlink operations that build a lab: one small async function per kernel
//! operation, each naming the `ip(8)` command it equals.
//!
//! Every function talks to the network namespace of the thread that called
//! [`connect`], because the netlink socket is created there. Call them only on
//! the thread that owns the namespace (see the lab's namespace threads).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::time::Duration;

use futures::TryStreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage, State};
use netlink_packet_route::neighbour::NeighbourState;
use rtnetlink::packet_core::NetlinkMessage;
use rtnetlink::{
    Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, MulticastGroup, RouteMessageBuilder,
};
use tokio::time::Instant;

/// The waits wake up on the kernel's notifications ([`Events`]); they also look
/// again this often, in case a notification was lost (socket buffer overrun).
const RECHECK: Duration = Duration::from_millis(50);

/// An rtnetlink operation that failed, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// [`connect`] was polled outside a tokio runtime, so the connection task
    /// has nowhere to run.
    #[error("rtnetlink connect: not inside a tokio runtime: {0}")]
    NoRuntime(#[from] tokio::runtime::TryCurrentError),
    /// The NETLINK_ROUTE socket could not be opened.
    #[error("rtnetlink connect: cannot open a NETLINK_ROUTE socket: {0}")]
    Socket(#[source] std::io::Error),
    /// The kernel (or rtnetlink) refused an operation.
    #[error("{op}: {source}")]
    Netlink {
        /// The operation, as the `ip(8)` command it equals.
        op: &'static str,
        /// What rtnetlink reported (a kernel errno is inside `NetlinkError`).
        source: rtnetlink::Error,
    },
    /// No link of this name exists in the namespace.
    #[error("no link named {name:?} in this network namespace")]
    NotFound {
        /// The name that was looked up.
        name: String,
    },
    /// The kernel's answer about a link lacked an attribute it always sends.
    #[error("link {index}: the kernel's answer has no {attr}")]
    MissingAttribute {
        /// The link's ifindex.
        index: u32,
        /// The attribute's kernel name, like `IFLA_ADDRESS`.
        attr: &'static str,
    },
    /// A condition did not hold before its deadline.
    #[error("timed out after {waited:?} waiting for {what}; last seen: {last_seen}")]
    Timeout {
        /// The condition, like `link 5 operstate up`.
        what: String,
        /// How long was waited.
        waited: Duration,
        /// The last value read from the kernel.
        last_seen: String,
    },
}

/// Maps an rtnetlink error of operation `op` into a [`LinkError`].
fn nl(op: &'static str) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    move |source| LinkError::Netlink { op, source }
}

/// Opens a NETLINK_ROUTE connection in the calling thread's network
/// namespace and spawns its driver task with `tokio::spawn` on the current
/// runtime.
///
/// `tokio::spawn` works on a current-thread runtime both inside and outside
/// a `LocalSet` (the connection future is `Send`); `spawn_local` would panic
/// without a `LocalSet`. The socket is created here, synchronously, so it
/// belongs to this thread's namespace no matter where the task is polled.
/// The task ends when every clone of the returned handle is dropped.
///
/// Equivalent to: the netlink socket that every `ip` command opens.
pub async fn connect() -> Result<Handle, LinkError> {
    let runtime = tokio::runtime::Handle::try_current()?;
    let (connection, handle, _messages) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
    runtime.spawn(connection);
    Ok(handle)
}

/// The kernel's link and IPv6 address notifications (`RTNLGRP_LINK`,
/// `RTNLGRP_IPV6_IFADDR`) for one namespace: what [`wait_oper_up`] and
/// [`wait_ipv6_ready`] sleep on, so they wake up when the state changes instead
/// of polling.
///
/// Equivalent to: `ip monitor link address`
pub struct Events {
    rx: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>,
}

impl Events {
    /// Waits until a notification arrives (then takes every queued one), or
    /// until `until`. Returns at once when the connection is gone.
    async fn changed(&mut self, until: Instant) {
        use futures::StreamExt;
        if let Ok(Some(_)) = tokio::time::timeout_at(until, self.rx.next()).await {
            while self.rx.try_recv().is_ok() {}
        }
    }
}

/// Like [`connect`], and subscribed to the notifications [`Events`] receives.
/// Subscribe before the change you will wait for, so it cannot be missed.
pub async fn connect_watching() -> Result<(Handle, Events), LinkError> {
    let runtime = tokio::runtime::Handle::try_current()?;
    let (connection, handle, rx) =
        rtnetlink::new_multicast_connection(&[MulticastGroup::Link, MulticastGroup::Ipv6Ifaddr])
            .map_err(LinkError::Socket)?;
    runtime.spawn(connection);
    Ok((handle, Events { rx }))
}

/// The ifindexes of the first veth pair's ends; the pair of link `n` (a
/// router has one link per client) gets these plus `2 n`, so no two ends of
/// one namespace share an index.
const IFINDEX: u32 = 10;
const PEER_IFINDEX: u32 = 11;

/// Creates a veth pair in one step: `name` with Ethernet address `mac` in this
/// namespace, `peer` with `peer_mac` directly in the namespace that `peer_ns_fd`
/// refers to; both down. Making the peer where it belongs skips a later move,
/// which costs an RCU barrier in the kernel (`__dev_change_net_namespace()`),
/// and fixed (locally administered) addresses make every capture the same.
///
/// Equivalent to: `ip link add NAME index 10 address MAC type veth peer name
/// PEER index 11 address PEER_MAC netns /proc/<pid>/task/<tid>/ns/net`
pub async fn create_veth_pair(
    h: &Handle,
    name: &str,
    mac: [u8; 6],
    peer: &str,
    peer_mac: [u8; 6],
    peer_ns_fd: RawFd,
    link: u32,
) -> Result<(), LinkError> {
    // Fixed, different ifindexes: left to the kernel, both ends would be
    // ifindex 2 of their fresh namespaces, and `linkwatch_urgent_event()`
    // takes the second end's carrier change for a non-urgent one, held back
    // by the one-per-second link-watch rate limit (seen on 6.1: every case
    // waited about 0.8 s for its carrier).
    let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.to_string())
        .index(PEER_IFINDEX + 2 * link)
        .address(peer_mac.to_vec())
        .setns_by_fd(peer_ns_fd)
        .build();
    let message = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(name.to_string())
        .index(IFINDEX + 2 * link)
        .address(mac.to_vec())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
        .build();
    h.link()
        .add(message)
        .execute()
        .await
        .map_err(nl("ip link add type veth peer netns"))
}

/// Returns the ifindex of the link called `name`.
///
/// Equivalent to: `ip link show dev NAME`
pub async fn link_index(h: &Handle, name: &str) -> Result<u32, LinkError> {
    let found = h.link().get().match_name(name).execute().try_next().await;
    match found {
        Ok(Some(link)) => Ok(link.header.index),
        Ok(None) => Err(not_found(name)),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Err(not_found(name)),
        Err(e) => Err(nl("ip link show")(e)),
    }
}

fn not_found(name: &str) -> LinkError {
    LinkError::NotFound {
        name: name.to_owned(),
    }
}

/// The positive errno inside a kernel NACK, if `e` is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

/// Sets link `index` administratively up.
///
/// Equivalent to: `ip link set dev DEV up`
pub async fn set_up(h: &Handle, index: u32) -> Result<(), LinkError> {
    let message = LinkUnspec::new_with_index(index).up().build();
    h.link()
        .change(message)
        .execute()
        .await
        .map_err(nl("ip link set up"))
}

/// Sets the loopback device up (which also gives it 127.0.0.1/8 and ::1).
///
/// Equivalent to: `ip link set dev lo up`
pub async fn set_lo_up(h: &Handle) -> Result<(), LinkError> {
    let index = link_index(h, "lo").await?;
    set_up(h, index).await
}

/// Adds `addr/prefix_len` to link `index`. An IPv6 address gets
/// `IFA_F_NODAD`, so it is usable at once instead of staying tentative
/// through duplicate address detection (about 1-2 s).
///
/// Equivalent to: `ip addr add ADDR/PREFIX dev DEV` (IPv6: `... nodad`)
pub async fn add_address(
    h: &Handle,
    index: u32,
    addr: IpAddr,
    prefix_len: u8,
) -> Result<(), LinkError> {
    let mut request = h.address().add(index, addr, prefix_len);
    if addr.is_ipv6() {
        set_nodad(request.message_mut());
    }
    request.execute().await.map_err(nl("ip addr add"))
}

/// Marks an address message `nodad`, in the header byte (what `ip` sets)
/// and in `IFA_FLAGS` (which the kernel prefers when present).
fn set_nodad(message: &mut netlink_packet_route::address::AddressMessage) {
    message.header.flags |= AddressHeaderFlags::Nodad;
    message
        .attributes
        .push(AddressAttribute::Flags(AddressFlags::Nodad));
}

/// Reads link `index` from the kernel.
async fn get_link(h: &Handle, index: u32, op: &'static str) -> Result<LinkMessage, LinkError> {
    h.link()
        .get()
        .match_index(index)
        .execute()
        .try_next()
        .await
        .map_err(nl(op))?
        .ok_or(LinkError::NotFound {
            name: format!("ifindex {index}"),
        })
}

/// Adds a permanent neighbour entry `addr` -> `mac` on link `index`, so the
/// kernel never sends ARP or neighbour solicitations for `addr`.
///
/// Equivalent to: `ip neigh add ADDR lladdr MAC dev DEV nud permanent`
pub async fn add_neighbour(
    h: &Handle,
    index: u32,
    addr: IpAddr,
    mac: [u8; 6],
) -> Result<(), LinkError> {
    h.neighbours()
        .add(index, addr)
        .link_layer_address(&mac)
        .state(NeighbourState::Permanent)
        .execute()
        .await
        .map_err(nl("ip neigh add"))
}

/// Adds the default route of `gateway`'s family through `gateway`, a
/// neighbour on one of this namespace's links (add the link's address first).
///
/// Equivalent to: `ip route add default via GATEWAY` (`ip -6 route add default
/// via GATEWAY` for an IPv6 one)
pub async fn add_default_route(h: &Handle, gateway: IpAddr) -> Result<(), LinkError> {
    let message = match gateway {
        IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build(),
        IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).build(),
    };
    h.route()
        .add(message)
        .execute()
        .await
        .map_err(nl("ip route add default via"))
}

/// Reads the operstate (`IFLA_OPERSTATE`) of link `index`.
///
/// Equivalent to: `ip link show dev DEV` (the `state` field)
pub async fn oper_state(h: &Handle, index: u32) -> Result<State, LinkError> {
    let link = get_link(h, index, "ip link show").await?;
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::OperState(state) => Some(*state),
            _ => None,
        })
        .ok_or(LinkError::MissingAttribute {
            index,
            attr: "IFLA_OPERSTATE",
        })
}

/// Waits until the operstate of link `index` is `UP`, or `deadline` passes,
/// waking up on the kernel's link notifications (`events`, subscribed before
/// the link was set up). A veth gets its carrier from the kernel's linkwatch
/// work asynchronously after both ends are up, so this wait is needed before
/// the first packet. On timeout the error holds the last operstate seen.
///
/// Equivalent to: `ip monitor link` until `dev DEV ... state UP`
pub async fn wait_oper_up(
    h: &Handle,
    events: &mut Events,
    index: u32,
    deadline: Instant,
) -> Result<(), LinkError> {
    let start = Instant::now();
    loop {
        let state = oper_state(h, index).await?;
        if state == State::Up {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LinkError::Timeout {
                what: format!("link {index} operstate UP"),
                waited: start.elapsed(),
                last_seen: format!("{state:?}"),
            });
        }
        events.changed(deadline.min(Instant::now() + RECHECK)).await;
    }
}

/// Waits until link `index` has an IPv6 link-local address that is not
/// tentative, or `deadline` passes, waking up on the kernel's address
/// notifications (`events`). The kernel's addrconf makes that address when it
/// marks the device ready (NETDEV_CHANGE after the carrier came up, a little
/// after the operstate): before that, neighbour discovery on the link can lose
/// its first exchange and cost a 1 s retransmission.
///
/// Equivalent to: `ip -6 monitor address` until DEV shows a link-local address
/// without `tentative`.
pub async fn wait_ipv6_ready(
    h: &Handle,
    events: &mut Events,
    index: u32,
    deadline: Instant,
) -> Result<(), LinkError> {
    let start = Instant::now();
    loop {
        let mut last_seen = "no IPv6 link-local address".to_string();
        let mut addrs = h.address().get().set_link_index_filter(index).execute();
        while let Some(msg) = addrs.try_next().await.map_err(nl("ip -6 addr show"))? {
            let link_local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V6(v6))
                    if v6.segments()[0] & 0xffc0 == 0xfe80 =>
                {
                    Some(*v6)
                }
                _ => None,
            });
            let Some(addr) = link_local else { continue };
            let tentative = msg.attributes.iter().any(
                |a| matches!(a, AddressAttribute::Flags(f) if f.contains(AddressFlags::Tentative)),
            ) || msg.header.flags.contains(AddressHeaderFlags::Tentative);
            if !tentative {
                return Ok(());
            }
            last_seen = format!("{addr} tentative");
        }
        if Instant::now() >= deadline {
            return Err(LinkError::Timeout {
                what: format!("link {index}: an IPv6 link-local address that is not tentative"),
                waited: start.elapsed(),
                last_seen,
            });
        }
        events.changed(deadline.min(Instant::now() + RECHECK)).await;
    }
}

#[cfg(test)]
mod tests {
    //! Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN for `unshare`); fails loudly
    //! otherwise. Everything happens in two anonymous namespaces owned by two
    //! test threads; the root namespace is never touched.

    use super::*;
    use crate::testing::{require_root, runtime, unshare_net};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::sync::mpsc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpSocket};
    use tokio::sync::oneshot;

    const A4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
    const PORT: u16 = 8888;
    /// Far below the ~1-2 s an IPv6 DAD would take.
    const CONNECT_LIMIT: Duration = Duration::from_millis(500);

    /// Side B: waits for its veth end, configures it, and accepts one
    /// connection per family, echoing one byte.
    async fn side_b(moved: oneshot::Receiver<()>, ready: oneshot::Sender<()>) {
        moved.await.expect("side A moved the veth");
        let (h, mut events) = connect_watching().await.expect("connect");
        set_lo_up(&h).await.expect("lo up");
        let index = link_index(&h, "veth-b").await.expect("veth-b is here");
        add_address(&h, index, B4.into(), 24)
            .await
            .expect("addr v4");
        add_address(&h, index, B6.into(), 64)
            .await
            .expect("addr v6");
        set_up(&h, index).await.expect("up");
        let deadline = Instant::now() + Duration::from_secs(5);
        wait_oper_up(&h, &mut events, index, deadline)
            .await
            .expect("B oper up");
        wait_ipv6_ready(&h, &mut events, index, deadline)
            .await
            .expect("B IPv6 ready");
        // The link is up, so DAD would now be running: binding to the IPv6
        // address fails with EADDRNOTAVAIL if it is tentative (no NODAD).
        let l4 = TcpListener::bind(SocketAddr::from((B4, PORT)))
            .await
            .expect("bind v4");
        let l6 = TcpListener::bind(SocketAddr::from((B6, PORT)))
            .await
            .expect("bind v6 at once (NODAD)");
        ready.send(()).expect("side A waits");
        let serve = async {
            for listener in [l4, l6] {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.expect("read");
                stream.write_all(&byte).await.expect("echo");
            }
        };
        tokio::time::timeout(Duration::from_secs(5), serve)
            .await
            .expect("side A connected over both families within 5 s");
    }

    /// Side A: creates the pair with `veth-b` in B's namespace, configures
    /// `veth-a` and connects to B over both families.
    async fn side_a(b_tid: libc::pid_t, moved: oneshot::Sender<()>, ready: oneshot::Receiver<()>) {
        let (h, mut events) = connect_watching().await.expect("connect");
        set_lo_up(&h).await.expect("lo up");
        let ns =
            std::fs::File::open(format!("/proc/self/task/{b_tid}/ns/net")).expect("open B's netns");
        create_veth_pair(
            &h,
            "veth-a",
            [0x02, 0, 0, 0, 0, 0x0a],
            "veth-b",
            [0x02, 0, 0, 0, 0, 0x0b],
            std::os::fd::AsRawFd::as_raw_fd(&ns),
            0,
        )
        .await
        .expect("create the pair across namespaces");
        drop(ns);
        assert!(matches!(
            link_index(&h, "veth-b").await,
            Err(LinkError::NotFound { .. })
        ));
        moved.send(()).expect("side B waits");
        let index = link_index(&h, "veth-a").await.expect("veth-a");
        add_address(&h, index, A4.into(), 24)
            .await
            .expect("addr v4");
        add_address(&h, index, A6.into(), 64)
            .await
            .expect("addr v6");
        let started = Instant::now();
        set_up(&h, index).await.expect("up");
        ready.await.expect("side B ready");
        let deadline = started + Duration::from_secs(5);
        wait_oper_up(&h, &mut events, index, deadline)
            .await
            .expect("A oper up");
        wait_ipv6_ready(&h, &mut events, index, deadline)
            .await
            .expect("A IPv6 ready");
        eprintln!("veth-a up -> oper up (both ends): {:?}", started.elapsed());
        for (src, dst) in [(IpAddr::V4(A4), IpAddr::V4(B4)), (A6.into(), B6.into())] {
            let t = Instant::now();
            echo(src, dst).await;
            eprintln!("{src} -> {dst}: connect + echo in {:?}", t.elapsed());
        }
    }

    /// Connects from `src` to `dst:PORT` within [`CONNECT_LIMIT`] and checks
    /// that one byte comes back.
    async fn echo(src: IpAddr, dst: IpAddr) {
        let socket = match src {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }
        .expect("socket");
        socket.bind(SocketAddr::new(src, 0)).expect("bind source");
        let mut stream = tokio::time::timeout(CONNECT_LIMIT, socket.connect((dst, PORT).into()))
            .await
            .unwrap_or_else(|_| panic!("{src} -> {dst}: no connection within {CONNECT_LIMIT:?}"))
            .expect("connect");
        stream.write_all(b"x").await.expect("write");
        let mut byte = [0u8; 1];
        tokio::time::timeout(CONNECT_LIMIT, stream.read_exact(&mut byte))
            .await
            .expect("echo in time")
            .expect("read");
        assert_eq!(&byte, b"x");
    }

    /// The Ethernet address of link `index` (`ip link show dev DEV`).
    async fn link_mac(h: &Handle, index: u32) -> [u8; 6] {
        let link = get_link(h, index, "ip link show").await.expect("the link");
        link.attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
                _ => None,
            })
            .expect("an Ethernet address")
    }

    #[test]
    fn veth_between_namespaces_carries_tcp_at_once() {
        require_root();
        let (tid_tx, tid_rx) = mpsc::channel();
        let (moved_tx, moved_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let b = std::thread::spawn(move || {
            tid_tx.send(unshare_net()).expect("send tid");
            runtime().block_on(side_b(moved_rx, ready_tx));
        });
        let b_tid = tid_rx.recv().expect("B's tid");
        let a = std::thread::spawn(move || {
            unshare_net();
            runtime().block_on(side_a(b_tid, moved_tx, ready_rx));
        });
        let a_result = a.join();
        let b_result = b.join();
        a_result.expect("side A");
        b_result.expect("side B");
    }

    #[test]
    fn veth_pair_is_made_with_its_peer_in_the_other_namespace() {
        require_root();
        const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
        const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
        let (tid_tx, tid_rx) = mpsc::channel();
        let (made_tx, made_rx) = oneshot::channel::<()>();
        let b = std::thread::spawn(move || {
            tid_tx.send(unshare_net()).expect("send tid");
            runtime().block_on(async {
                made_rx.await.expect("side A made the pair");
                let (h, mut events) = connect_watching().await.expect("connect");
                let index = link_index(&h, "veth-b").await.expect("veth-b is here");
                assert_eq!(link_mac(&h, index).await, MAC_B);
                set_up(&h, index).await.expect("up");
                let deadline = Instant::now() + Duration::from_secs(5);
                wait_oper_up(&h, &mut events, index, deadline)
                    .await
                    .expect("B oper up");
            });
        });
        let b_tid = tid_rx.recv().expect("B's tid");
        std::thread::spawn(move || {
            unshare_net();
            runtime().block_on(async {
                let (h, mut events) = connect_watching().await.expect("connect");
                let ns = std::fs::File::open(format!("/proc/self/task/{b_tid}/ns/net"))
                    .expect("open B's netns");
                create_veth_pair(
                    &h,
                    "veth-a",
                    MAC_A,
                    "veth-b",
                    MAC_B,
                    std::os::fd::AsRawFd::as_raw_fd(&ns),
                    0,
                )
                .await
                .expect("create the pair across namespaces");
                assert!(matches!(
                    link_index(&h, "veth-b").await,
                    Err(LinkError::NotFound { .. })
                ));
                let index = link_index(&h, "veth-a").await.expect("veth-a");
                assert_eq!(link_mac(&h, index).await, MAC_A);
                set_up(&h, index).await.expect("up");
                made_tx.send(()).expect("side B waits");
                let deadline = Instant::now() + Duration::from_secs(5);
                wait_oper_up(&h, &mut events, index, deadline)
                    .await
                    .expect("A oper up");
            });
        })
        .join()
        .expect("side A");
        b.join().expect("side B");
    }

    #[test]
    fn oper_up_timeout_names_the_last_state() {
        require_root();
        std::thread::spawn(|| {
            unshare_net();
            runtime().block_on(async {
                let (h, mut events) = connect_watching().await.expect("connect");
                let own = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
                let own_fd = std::os::fd::AsRawFd::as_raw_fd(&own);
                create_veth_pair(&h, "veth-a", [2, 0, 0, 0, 0, 1], "veth-b", [2, 0, 0, 0, 0, 2], own_fd, 0)
                    .await
                    .expect("create veth");
                let index = link_index(&h, "veth-a").await.expect("veth-a");
                set_up(&h, index).await.expect("up");
                // The peer stays down, so the carrier never comes.
                let deadline = Instant::now() + Duration::from_millis(20);
                let err = wait_oper_up(&h, &mut events, index, deadline)
                    .await
                    .expect_err("peer is down");
                eprintln!("{err}");
                assert!(
                    matches!(&err, LinkError::Timeout { last_seen, .. } if last_seen == "LowerLayerDown"),
                    "{err}"
                );
                assert!(matches!(
                    link_index(&h, "nope0").await,
                    Err(LinkError::NotFound { .. })
                ));
            });
        })
        .join()
        .expect("namespace thread");
    }
}

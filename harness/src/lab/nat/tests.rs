//! Root tests of the masquerade and of the conntrack reader, on a NAT built
//! by hand: client namespace -- router namespace -- server namespace, each an
//! anonymous namespace owned by an `NsThread` (nothing outlives the test, also
//! on panic). The router masquerades what leaves towards the server; the
//! server has no route back to the client's subnet, so only a working NAT
//! lets a connection through.
//!
//! The `nft` and `conntrack` tools read the same kernel state independently
//! (installed with apt when missing, said on stderr); needs root, fails
//! loudly otherwise.

use super::*;
use crate::lab::NsThread;
use crate::lab::netlink;
use crate::observe::conntrack::{self, ConntrackEntry, CtStatus, CtTcpState, Tuple};
use crate::testing::{require_root, runtime};

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;
use std::time::Instant as StdInstant;

use tokio::time::Instant;

const CLIENT: (Ipv4Addr, Ipv6Addr) = (
    Ipv4Addr::new(198, 18, 1, 2),
    Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 2),
);
/// The router's address on the clients' link: their gateway.
const ROUTER_IN: (Ipv4Addr, Ipv6Addr) = (
    Ipv4Addr::new(198, 18, 1, 1),
    Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1),
);
/// The router's address on the server's link: what the server sees.
const ROUTER_OUT: (Ipv4Addr, Ipv6Addr) = (
    Ipv4Addr::new(198, 18, 2, 1),
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1),
);
const SERVER: (Ipv4Addr, Ipv6Addr) = (
    Ipv4Addr::new(198, 18, 2, 2),
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2),
);
/// The router's link towards the server: the one masqueraded.
const ROUTER_OUT_IF: &str = "r1";
const SERVER_PORT: u16 = 8888;
const CLIENT_PORT: u16 = 40000;
/// Every wait in these tests; the kernel needs milliseconds.
const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn pick(self, (v4, v6): (Ipv4Addr, Ipv6Addr)) -> IpAddr {
        match self {
            Family::V4 => v4.into(),
            Family::V6 => v6.into(),
        }
    }
}

/// The three namespaces, joined and addressed, masquerade not yet installed.
struct NatLab {
    client: NsThread,
    router: NsThread,
    server: NsThread,
}

impl NatLab {
    async fn build() -> NatLab {
        let mut threads = NsThread::spawn_many(&["nat-client", "nat-router", "nat-server"])
            .expect("three namespace threads")
            .into_iter();
        let (client, router, server) = (
            threads.next().expect("client"),
            threads.next().expect("router"),
            threads.next().expect("server"),
        );
        let (router_fd, server_fd) = (router.ns_fd(), server.ns_fd());
        // Every namespace's defaults (no DAD) before any veth end lands in it.
        let (c, r, s) = tokio::join!(
            client.run(|| prepare(false)),
            router.run(|| prepare(true)),
            server.run(|| prepare(false)),
        );
        c.expect("client");
        r.expect("router");
        s.expect("server");
        let mac = |n| [0x02, 0, 0, 0, 0, n];
        let (c, r) = tokio::join!(
            client.run(move || async move {
                let h = netlink::connect().await.expect("rtnetlink");
                netlink::create_veth_pair(&h, "c0", mac(0x10), "r0", mac(0x11), router_fd, 0)
                    .await
                    .expect("veth c0 -- r0");
            }),
            router.run(move || async move {
                let h = netlink::connect().await.expect("rtnetlink");
                netlink::create_veth_pair(
                    &h,
                    ROUTER_OUT_IF,
                    mac(0x21),
                    "s0",
                    mac(0x22),
                    server_fd,
                    1,
                )
                .await
                .expect("veth r1 -- s0");
            }),
        );
        c.expect("client");
        r.expect("router");
        let (c, r_in, r_out, s) = tokio::join!(
            client.run(|| configure(
                "c0",
                [CLIENT.0.into(), CLIENT.1.into()],
                vec![ROUTER_IN.0.into(), ROUTER_IN.1.into()],
            )),
            router.run(|| configure("r0", [ROUTER_IN.0.into(), ROUTER_IN.1.into()], vec![])),
            router.run(|| configure(
                ROUTER_OUT_IF,
                [ROUTER_OUT.0.into(), ROUTER_OUT.1.into()],
                vec![]
            )),
            // No route back to the clients: only the masquerade answers them.
            server.run(|| configure("s0", [SERVER.0.into(), SERVER.1.into()], vec![])),
        );
        c.expect("c0");
        r_in.expect("r0");
        r_out.expect("r1");
        s.expect("s0");
        NatLab {
            client,
            router,
            server,
        }
    }

    /// Installs the masquerade on the router, timed.
    async fn masquerade(&self) -> Duration {
        self.router
            .run(|| async {
                let t = StdInstant::now();
                masquerade(ROUTER_OUT_IF).expect("masquerade");
                t.elapsed()
            })
            .await
            .expect("router")
    }

    /// A listener on the server, made in its namespace.
    async fn listen(&self, family: Family) -> TcpListener {
        let addr = SocketAddr::new(family.pick(SERVER), SERVER_PORT);
        let listener = self
            .server
            .run(move || async move { TcpListener::bind(addr).expect("listen") })
            .await
            .expect("server");
        listener.set_nonblocking(true).expect("nonblocking");
        listener
    }

    /// A connection from the client's fixed port to the server, made in the
    /// client's namespace.
    async fn connect(&self, family: Family) -> TcpStream {
        let (src, dst) = (
            SocketAddr::new(family.pick(CLIENT), CLIENT_PORT),
            SocketAddr::new(family.pick(SERVER), SERVER_PORT),
        );
        self.client
            .run(move || async move {
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(src),
                    socket2::Type::STREAM,
                    None,
                )
                .expect("socket");
                socket.set_reuse_address(true).expect("SO_REUSEADDR");
                socket.bind(&src.into()).expect("bind the client port");
                socket
                    .connect_timeout(&dst.into(), DEADLINE)
                    .unwrap_or_else(|e| panic!("{src} -> {dst} through the NAT: {e}"));
                TcpStream::from(socket)
            })
            .await
            .expect("client")
    }

    /// Polls the router's conntrack entry for `orig` until it is in `state`
    /// or [`DEADLINE`] passes; fails with what was last seen.
    async fn wait_state(&self, orig: Tuple, state: CtTcpState) -> ConntrackEntry {
        let found = self
            .router
            .poll(Instant::now() + DEADLINE, move || {
                Ok::<_, conntrack::ConntrackError>(
                    conntrack::lookup_tcp(&orig)?.filter(|e| e.state == state),
                )
            })
            .await
            .expect("router")
            .expect("conntrack lookup");
        match found {
            Some(entry) => entry,
            None => {
                let last = self
                    .router
                    .run(move || async move { conntrack::lookup_tcp(&orig) })
                    .await
                    .expect("router");
                panic!(
                    "no conntrack entry for {orig} in {state} within {DEADLINE:?}; last seen: {last:?}"
                )
            }
        }
    }

    /// `net.netfilter.NAME` of the router's namespace, in seconds.
    async fn router_sysctl(&self, name: &'static str) -> u32 {
        self.router
            .run(move || async move {
                let path = format!("/proc/sys/net/netfilter/{name}");
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                text.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{path}: {text:?}: {e}"))
            })
            .await
            .expect("router")
    }

    /// Runs `program ARGS` in the router's namespace and returns its stdout.
    /// A child starts in the namespace of the thread that forks it
    /// (`copy_namespaces()` copies the calling task's), so spawning from the
    /// router's thread puts it there: no `nsenter`, no shell.
    async fn in_router(&self, program: &'static str, args: &'static [&'static str]) -> String {
        self.router
            .run(move || async move { run_tool(program, args) })
            .await
            .expect("router")
    }
}

/// Turns the calling namespace thread's `lo` up and IPv6 DAD off (as the lab
/// has it), and forwarding on for a router.
///
/// Equivalent to: `ip link set lo up`, `sysctl -w net.ipv6.conf.{all,default}.accept_dad=0`
/// (router: `net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1`)
async fn prepare(router: bool) {
    let mut sysctls = vec![
        ("ipv6/conf/all/accept_dad", "0"),
        ("ipv6/conf/default/accept_dad", "0"),
    ];
    if router {
        sysctls.extend([("ipv4/ip_forward", "1"), ("ipv6/conf/all/forwarding", "1")]);
    }
    // /proc/sys/net is the calling thread's namespace.
    for (key, value) in sysctls {
        std::fs::write(format!("/proc/sys/net/{key}"), value)
            .unwrap_or_else(|e| panic!("net.{key} = {value}: {e}"));
    }
    let h = netlink::connect().await.expect("rtnetlink");
    netlink::set_lo_up(&h).await.expect("lo up");
}

/// Gives link `name` its two addresses (/24, /64), brings it up, waits until
/// it carries traffic, then adds a default route through each gateway.
async fn configure(name: &'static str, addrs: [IpAddr; 2], gateways: Vec<IpAddr>) {
    let (h, mut events) = netlink::connect_watching().await.expect("rtnetlink");
    let index = netlink::link_index(&h, name).await.expect("the link");
    for addr in addrs {
        let prefix = if addr.is_ipv4() { 24 } else { 64 };
        netlink::add_address(&h, index, addr, prefix)
            .await
            .expect("ip addr add");
    }
    netlink::set_up(&h, index).await.expect("ip link set up");
    let deadline = Instant::now() + DEADLINE;
    netlink::wait_oper_up(&h, &mut events, index, deadline)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    netlink::wait_ipv6_ready(&h, &mut events, index, deadline)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    for gw in gateways {
        netlink::add_default_route(&h, gw)
            .await
            .unwrap_or_else(|e| panic!("default via {gw}: {e}"));
    }
}

/// Accepts the one pending connection, waiting until [`DEADLINE`].
fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let until = StdInstant::now() + DEADLINE;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(false).expect("blocking");
                return (stream, peer);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && StdInstant::now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("accept within {DEADLINE:?}: {e}"),
        }
    }
}

/// Runs a tool of a Debian package and returns its stdout; fails with its stderr.
fn run_tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Makes sure `program` (from Debian's `package`) runs: installed when
/// missing as root with apt-get, said on stderr; otherwise the test fails with
/// the command that installs it. Never a silent skip.
fn need_tool(program: &str, package: &str) {
    crate::testing::ensure_installed(program, package, || {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
}

/// The fields of `conntrack -L` lines that name `orig`'s entry: its state,
/// then the `src=`, `dst=`, `sport=`, `dport=` of both tuples.
fn conntrack_tool_entry(listing: &str, orig: &Tuple) -> Option<Vec<String>> {
    let want = orig.to_string();
    let line = listing.lines().find(|l| l.contains(&want))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut fields = vec![words.get(3)?.to_string()];
    fields.extend(
        words
            .iter()
            .filter(|w| {
                ["src=", "dst=", "sport=", "dport="]
                    .iter()
                    .any(|k| w.starts_with(k))
            })
            .map(|w| w.to_string()),
    );
    Some(fields)
}

/// The same fields from an entry read by `observe::conntrack`.
fn our_fields(entry: &ConntrackEntry) -> Vec<String> {
    let mut fields = vec![entry.state.to_string()];
    fields.extend(
        format!("{} {}", entry.orig, entry.reply)
            .split_whitespace()
            .map(str::to_owned),
    );
    fields
}

/// One connection through the NAT, from open to the router's TIME_WAIT,
/// checked from the server's side and the router's conntrack table.
async fn connection_through_the_nat(lab: &NatLab, family: Family) {
    let listener = lab.listen(family).await;
    let mut client = lab.connect(family).await;
    let (mut accepted, peer) = accept(&listener);
    let router_out = family.pick(ROUTER_OUT);
    assert_eq!(
        peer.ip(),
        router_out,
        "the server sees the router's address, not the client's {}",
        family.pick(CLIENT)
    );

    // The router's view: the client's own tuple, answered to the router.
    let orig = Tuple {
        src: SocketAddr::new(family.pick(CLIENT), CLIENT_PORT),
        dst: SocketAddr::new(family.pick(SERVER), SERVER_PORT),
    };
    let estab = lab.wait_state(orig, CtTcpState::Established).await;
    eprintln!("{family:?} {estab}  status {}", estab.status);
    assert_eq!(
        estab.reply,
        Tuple {
            src: orig.dst,
            dst: peer,
        },
        "the reply tuple goes to the router's address and the port the server saw"
    );
    for (bit, name) in [
        (CtStatus::SEEN_REPLY, "SEEN_REPLY"),
        (CtStatus::ASSURED, "ASSURED"),
        (CtStatus::SRC_NAT, "SRC_NAT"),
    ] {
        assert!(
            estab.status.contains(bit),
            "{name} expected, got {}",
            estab.status
        );
    }
    assert!(
        !estab.status.contains(CtStatus::DST_NAT),
        "{}",
        estab.status
    );
    let established_s = lab
        .router_sysctl("nf_conntrack_tcp_timeout_established")
        .await;
    assert!(
        (established_s - 5..=established_s).contains(&estab.timeout_s),
        "an ESTABLISHED entry just refreshed has about nf_conntrack_tcp_timeout_established \
         ({established_s} s) left, got {}",
        estab.timeout_s
    );

    // The dump holds the same entry, and so does the `conntrack` tool.
    let dumped = lab
        .router
        .run(|| async { conntrack::dump_tcp() })
        .await
        .expect("router")
        .expect("conntrack dump");
    let [in_dump] = dumped.as_slice() else {
        panic!("one TCP entry in the router's namespace, got {dumped:#?}")
    };
    assert_eq!(
        (in_dump.orig, in_dump.reply, in_dump.state, in_dump.status),
        (estab.orig, estab.reply, estab.state, estab.status)
    );
    let tool = match family {
        Family::V4 => {
            lab.in_router("conntrack", &["-L", "-p", "tcp", "-f", "ipv4"])
                .await
        }
        Family::V6 => {
            lab.in_router("conntrack", &["-L", "-p", "tcp", "-f", "ipv6"])
                .await
        }
    };
    assert_eq!(
        conntrack_tool_entry(&tool, &orig),
        Some(our_fields(&estab)),
        "conntrack -L in the router's namespace said:\n{tool}"
    );

    // The client closes first; both FINs and the last ACK cross the router.
    client.shutdown(Shutdown::Write).expect("client FIN");
    let mut rest = Vec::new();
    accepted.read_to_end(&mut rest).expect("EOF at the server");
    drop(accepted);
    client.read_to_end(&mut rest).expect("EOF at the client");
    drop(client);
    let tw = lab.wait_state(orig, CtTcpState::TimeWait).await;
    eprintln!("{family:?} {tw}  status {}", tw.status);
    assert_eq!((tw.orig, tw.reply), (estab.orig, estab.reply));
    let time_wait_s = lab
        .router_sysctl("nf_conntrack_tcp_timeout_time_wait")
        .await;
    assert!(
        (time_wait_s - 5..=time_wait_s).contains(&tw.timeout_s),
        "a fresh TIME_WAIT entry has about nf_conntrack_tcp_timeout_time_wait ({time_wait_s} s) \
         left, got {}",
        tw.timeout_s
    );
}

fn nat_test(family: Family) {
    require_root();
    need_tool("conntrack", "conntrack");
    runtime().block_on(async {
        let lab = NatLab::build().await;
        let took = lab.masquerade().await;
        eprintln!("masquerade installed in {took:?}");
        connection_through_the_nat(&lab, family).await;
    });
}

#[test]
fn masqueraded_ipv4_connection_is_tracked_to_time_wait() {
    nat_test(Family::V4);
}

#[test]
fn masqueraded_ipv6_connection_is_tracked_to_time_wait() {
    nat_test(Family::V6);
}

#[test]
fn without_masquerade_the_server_cannot_answer() {
    require_root();
    runtime().block_on(async {
        let lab = NatLab::build().await;
        let _listener = lab.listen(Family::V4).await;
        let (src, dst) = (
            SocketAddr::new(CLIENT.0.into(), CLIENT_PORT),
            SocketAddr::new(SERVER.0.into(), SERVER_PORT),
        );
        let refused = lab
            .client
            .run(move || async move {
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                        .expect("socket");
                socket.bind(&src.into()).expect("bind");
                socket.connect_timeout(&dst.into(), Duration::from_millis(300))
            })
            .await
            .expect("client");
        // The SYN reaches the server, whose SYN-ACK has no route back: the
        // client hears nothing (its SYN retransmission comes only after 1 s).
        assert!(
            matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::TimedOut),
            "the server has no route to {src}: without the masquerade no answer, got {refused:?}"
        );
    });
}

#[test]
fn the_rule_reads_back_in_nft_as_written() {
    require_root();
    need_tool("nft", "nftables");
    runtime().block_on(async {
        let lab = NatLab::build().await;
        lab.masquerade().await;
        let json = lab.in_router("nft", &["-j", "list", "ruleset"]).await;
        let ruleset: serde_json::Value = serde_json::from_str(&json).expect("nft -j");
        // Every table, chain and rule, without the handles the kernel numbered.
        let mut seen: Vec<serde_json::Value> = ruleset["nftables"]
            .as_array()
            .expect("an nftables array")
            .iter()
            .filter(|i| i.get("metainfo").is_none())
            .cloned()
            .collect();
        for item in &mut seen {
            for (_, inner) in item.as_object_mut().expect("an object") {
                inner.as_object_mut().expect("an object").remove("handle");
            }
        }
        assert_eq!(
            seen,
            [
                serde_json::json!({"table": {"family": "inet", "name": "synlab"}}),
                serde_json::json!({"chain": {
                    "family": "inet", "table": "synlab", "name": "postrouting",
                    "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"
                }}),
                serde_json::json!({"rule": {
                    "family": "inet", "table": "synlab", "chain": "postrouting",
                    "expr": [
                        {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "r1"}},
                        {"masquerade": null}
                    ]
                }}),
            ],
            "nft -j list ruleset in the router's namespace said: {json}"
        );
    });
}

#[test]
fn a_refused_step_names_itself_and_applies_nothing() {
    require_root();
    need_tool("nft", "nftables");
    runtime().block_on(async {
        let lab = NatLab::build().await;
        // A filter chain of the same name: the kernel will not make it a NAT chain.
        lab.in_router("nft", &["add", "table", "inet", "synlab"])
            .await;
        lab.in_router(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                "synlab",
                "postrouting",
                "{ type filter hook postrouting priority 0; }",
            ],
        )
        .await;
        let before = lab.in_router("nft", &["list", "ruleset"]).await;
        let err = lab
            .router
            .run(|| async { masquerade(ROUTER_OUT_IF) })
            .await
            .expect("router")
            .expect_err("a filter chain cannot become a nat chain");
        eprintln!("{err}");
        assert!(
            matches!(&err, NatError::Kernel { op, .. } if op.starts_with("nft add chain")),
            "{err}"
        );
        assert_eq!(lab.in_router("nft", &["list", "ruleset"]).await, before);
    });
}

#[test]
fn a_name_longer_than_ifnamsiz_is_refused() {
    assert!(matches!(
        masquerade_batch("a-very-long-name"),
        Err(NatError::Name(_))
    ));
    let batch = masquerade_batch("r1").expect("batch");
    assert_eq!(
        batch.steps.iter().map(|s| s.0).collect::<Vec<_>>(),
        [2, 3, 4]
    );
}

/// The calling thread's (here: the root namespace's) nftables ruleset and
/// its conntrack entries with the lab's addresses, read with the `nft` and
/// `conntrack` tools and with `observe::conntrack`. Only those entries: a
/// host's own tracked connections come and go by themselves.
fn host_netfilter() -> (String, Vec<String>) {
    let ruleset = run_tool("nft", &["list", "ruleset"]);
    let lab_addr =
        |l: &&str| l.contains("=198.18.") || l.contains("=198.19.") || l.contains("=2001:2:");
    let mut entries: Vec<String> = ["ipv4", "ipv6"]
        .iter()
        .flat_map(|f| {
            run_tool("conntrack", &["-L", "-f", f])
                .lines()
                .filter(lab_addr)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let ours = conntrack::dump_tcp().expect("the root namespace's conntrack table");
    entries.extend(
        ours.iter()
            .map(|e| e.to_string())
            .filter(|l| lab_addr(&l.as_str())),
    );
    (ruleset, entries)
}

#[test]
fn the_hosts_ruleset_and_conntrack_table_are_untouched() {
    require_root();
    need_tool("nft", "nftables");
    need_tool("conntrack", "conntrack");
    // This thread is in the root namespace; the lab's are its NsThreads.
    let (ruleset, entries) = host_netfilter();
    assert_eq!(
        entries,
        Vec::<String>::new(),
        "lab addresses in the host's conntrack table before the test"
    );
    runtime().block_on(async {
        for family in [Family::V4, Family::V6] {
            let lab = NatLab::build().await;
            lab.masquerade().await;
            connection_through_the_nat(&lab, family).await;
            // The router holds a TIME_WAIT entry now; the host sees none of it.
            assert_eq!(
                host_netfilter(),
                (ruleset.clone(), vec![]),
                "while the lab lives"
            );
        }
    });
    let (ruleset_after, entries_after) = host_netfilter();
    assert_eq!(
        ruleset_after, ruleset,
        "the host's nftables ruleset changed"
    );
    assert_eq!(
        entries_after,
        Vec::<String>::new(),
        "lab addresses in the host's conntrack table"
    );
}

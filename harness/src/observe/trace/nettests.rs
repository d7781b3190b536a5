//! Tests on real connections in private network namespaces (`testnet`): what
//! the shared trace shows of a server that closes first, of parallel cases
//! with the same tuple, and of resets. They need root and fail with a clear
//! message without it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};

use super::testnet::*;
use super::{Owner, ResetDirection, SharedTrace, Side, TraceError, TraceLog, TraceSpec};
use crate::wire::TcpState::*;

#[test]
fn a_trace_can_move_between_threads_and_be_shared() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SharedTrace>();
    send_sync::<TraceLog>();
    send_sync::<TraceError>();
}

#[test]
fn server_close_first_shows_fin_wait_on_the_server_and_last_ack_on_the_client() {
    require_root();
    let run = in_netns(|| server_closes_first(LOCALHOST4, 40001, 40002, None));
    assert_close_first_sequences(&run);
    let info = &run.log.info;
    assert!(
        info.kernel_filter.contains("saddr == 0x") && !info.kernel_filter.contains("sport"),
        "the shared filter is by address only: {}",
        info.kernel_filter
    );
    assert!(!info.cpus.is_empty());
}

#[test]
fn ipv6_server_close_first_is_traced_by_family() {
    require_root();
    let run = in_netns(|| server_closes_first(IpAddr::V6(Ipv6Addr::LOCALHOST), 40031, 40032, None));
    assert_close_first_sequences(&run);
    let filter = &run.log.info.kernel_filter;
    assert!(
        filter.contains("family == 10") && !filter.contains("saddr"),
        "{filter}"
    );
    assert!(run.log.changes.iter().all(|c| c.src.is_ipv6()));
}

#[test]
fn parallel_cases_with_the_same_tuple_each_own_only_their_sockets() {
    require_root();
    // Its own scope: its own shared events, whatever other tests do.
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 41));
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
    let a = std::thread::spawn(move || {
        in_netns(move || server_closes_first(ip, 40011, 40012, Some(b1)))
    });
    let b = std::thread::spawn(move || {
        in_netns(move || server_closes_first(ip, 40011, 40012, Some(b2)))
    });
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for run in [&a, &b] {
        assert_close_first_sequences(run);
    }
    // Each saw the other case's sockets as tuple-only, and exactly those: the
    // very same records, with the same stamps (on the records' clock: each
    // subscription measured its own offset to CLOCK_REALTIME).
    let stamp =
        |log: &TraceLog, at_ns: u64| at_ns as i128 - i128::from(log.info.realtime_offset_ns);
    let mine = |log: &TraceLog| {
        log.own_changes()
            .map(|c| (stamp(log, c.at_ns), c.side, c.old, c.new))
            .collect::<Vec<_>>()
    };
    let others = |log: &TraceLog| {
        log.changes
            .iter()
            .filter(|c| c.owner == Owner::TupleOnly)
            .map(|c| (stamp(log, c.at_ns), c.side, c.old, c.new))
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&a.log), mine(&b.log), "a's tuple-only are b's own");
    assert_eq!(others(&b.log), mine(&a.log), "b's tuple-only are a's own");
}

#[test]
fn connect_to_a_closed_port_traces_both_resets() {
    require_root();
    let log = in_netns(|| {
        let server = SocketAddr::from(([127, 0, 0, 1], 40021));
        let spec = TraceSpec::new([server.ip()])
            .ports([40021])
            .server(server)
            .owner(gettid());
        let trace = SharedTrace::start(&[server.ip()], spec).expect("start the trace");
        let refused = TcpStream::connect(server).expect_err("nothing listens");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        wait_for(&trace, "the client to close", |log| {
            saw(log, Side::Client, SynSent, Close)
        });
        trace.stop().expect("stop")
    });
    assert_eq!(
        sequences(&log, Side::Client),
        vec![vec![(Close, SynSent), (SynSent, Close)]]
    );
    assert_eq!(log.resets.len(), 2, "resets:\n{}", lines(&log));
    let (sent, received) = (&log.resets[0], &log.resets[1]);
    assert_eq!(sent.direction, ResetDirection::Sent);
    assert_eq!(sent.side, Some(Side::Server));
    assert_eq!(sent.sock, 0);
    assert_eq!(sent.owner, Owner::TupleOnly, "no socket: cannot be proved");
    if let Some(reason) = &sent.reason {
        assert_eq!(reason, "NO_SOCKET");
    }
    assert_eq!(received.direction, ResetDirection::Received);
    assert_eq!(received.side, Some(Side::Client));
    assert_eq!(received.owner, Owner::Own);
    assert!(sent.at_ns <= received.at_ns);
}

#[test]
fn a_trace_sees_nothing_from_before_it_started() {
    require_root();
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 42));
    in_netns(move || {
        // An earlier "case" on the same events, same tuple, same thread.
        let first = server_closes_first(ip, 40051, 40052, None);
        assert_close_first_sequences(&first);
        let spec = TraceSpec::new([ip]).ports([40051, 40052]).owner(gettid());
        let later = SharedTrace::start(&[ip], spec).expect("subscribe again");
        let log = later.stop().expect("stop");
        assert!(log.changes.is_empty(), "seen:\n{}", lines(&log));
    });
}

#[test]
fn a_trace_refuses_addresses_outside_its_scope() {
    let spec = TraceSpec::new([IpAddr::V4(Ipv4Addr::new(127, 0, 0, 43))]);
    let err = SharedTrace::start(&[LOCALHOST4], spec).expect_err("outside the scope");
    assert!(err.is_unavailable(), "{err}");
    let err = SharedTrace::start(&[LOCALHOST4], TraceSpec::default()).expect_err("any address");
    assert!(err.is_unavailable(), "{err}");
}

/// `n` connections to `server` from the calling thread, each accepted and
/// closed; `between` runs after each. The client is bound to the server's
/// address: a connect() to 127.0.0.45 would take 127.0.0.1 as its source (the
/// loopback route's `src`), and its events would fill the ring of the tests
/// that trace 127.0.0.1 (the trace sees every namespace).
fn connections(server: SocketAddr, n: usize, mut between: impl FnMut()) {
    let listener = std::net::TcpListener::bind(server).expect("listen");
    for _ in 0..n {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(server),
            socket2::Type::STREAM,
            None,
        )
        .expect("socket");
        sock.bind(&SocketAddr::new(server.ip(), 0).into())
            .expect("bind the client to the server's address");
        sock.connect(&server.into()).expect("connect");
        let client: TcpStream = sock.into();
        drop(listener.accept().expect("accept"));
        drop(client);
        between();
    }
}

/// Client connects seen in the log: one `SYN_SENT -> ESTABLISHED` each.
fn connects(log: &TraceLog) -> usize {
    log.own_changes()
        .filter(|c| c.old == SynSent && c.new == Established)
        .count()
}

#[test]
fn a_full_ring_counts_what_the_kernel_lost_and_a_read_ring_wraps_without_loss() {
    require_root();
    // Its own scope: the losses are not another test's.
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 45));
    let at = move |port| SocketAddr::new(ip, port);
    let spec = move |port| TraceSpec::new([ip]).server(at(port)).owner(gettid());
    // Some 10 events of ~100 bytes per connection: 3000 connections are
    // 3 MB, far more than the rings hold (256 KiB per CPU).
    const N: usize = 3000;
    let (full, read) = in_netns(move || {
        let trace = SharedTrace::start(&[ip], spec(40061)).expect("start");
        connections(at(40061), N, || {});
        let full = trace.stop().expect("stop");
        // Read every 100 connections: the rings wrap many times.
        let trace = SharedTrace::start(&[ip], spec(40062)).expect("start again");
        let mut i = 0;
        connections(at(40062), N, || {
            i += 1;
            if i % 100 == 0 {
                trace.snapshot().expect("snapshot");
            }
        });
        (full, trace.stop().expect("stop"))
    });
    assert!(full.lost_events > 0, "a full ring reports its losses");
    assert!(
        connects(&full) < N,
        "{} of {N} connects fit",
        connects(&full)
    );
    assert_eq!(read.lost_events, 0);
    assert_eq!(connects(&read), N);
}

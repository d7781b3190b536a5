//! Tests of the shared trace's subscriptions on real connections in private
//! network namespaces (`netrun.rs`): the filter the kernel takes, parallel
//! subscribers with the same tuple, a subscription's start, its scope, a full
//! ring. They need root (but the scope check) and fail with a clear message
//! without it. What one case's trace shows (the close-first sequences on IPv4
//! and IPv6, resets, the clock) is tested through `synlab run` in the
//! workspace's `tests/trace.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};

use super::super::clock::RECORD_CLOCK;
use super::super::decode::Decoder;
use super::super::filter::{filter_candidates, set_filters};
use super::super::perf::open_tracepoint;
use super::super::tracefs::read_files;
use super::super::tracer::online_cpus;
use super::super::{Owner, SharedTrace, TraceError, TraceLog, TraceSpec};
use super::netrun::*;
use crate::wire::TcpState::*;

#[test]
fn a_trace_can_move_between_threads_and_be_shared() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SharedTrace>();
    send_sync::<TraceLog>();
    send_sync::<TraceError>();
}

#[test]
fn the_kernel_takes_the_most_specific_filter_of_each_family() {
    require_root();
    // IPv4 by host-order address, IPv6 by family and ports: what the kernel
    // accepts on sock:inet_sock_set_state, the event with the most traffic.
    let decoder = Decoder::load().expect("read the event formats");
    let id = decoder.state.id.map(u64::from).expect("an id");
    let cpu = online_cpus().expect("the online CPUs")[0];
    let v4 = TraceSpec::new([IpAddr::V4(Ipv4Addr::new(127, 0, 0, 46))]).ports([40071]);
    let v6 = TraceSpec::new([IpAddr::V6(Ipv6Addr::LOCALHOST)]).ports([40071]);
    for spec in [v4, v6] {
        // A perf event takes one filter (EEXIST after): a new event each.
        let event = open_tracepoint(id, cpu, RECORD_CLOCK).expect("open the tracepoint");
        let most_specific = filter_candidates(&spec, true).remove(0);
        let chosen = set_filters(&[event], &decoder.state, &spec).expect("set a filter");
        assert_eq!(chosen, Some(most_specific));
    }
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
    let stamp = |run: &CloseFirst, at_ns: u64| at_ns as i128 - i128::from(run.realtime_offset_ns);
    let mine = |run: &CloseFirst| {
        run.log
            .own_changes()
            .map(|c| (stamp(run, c.at_ns), c.side, c.old, c.new))
            .collect::<Vec<_>>()
    };
    let others = |run: &CloseFirst| {
        (run.log.changes.iter())
            .filter(|c| c.owner == Owner::TupleOnly)
            .map(|c| (stamp(run, c.at_ns), c.side, c.old, c.new))
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&a), mine(&b), "a's tuple-only are b's own");
    assert_eq!(others(&b), mine(&a), "b's tuple-only are a's own");
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
    assert!(matches!(err, TraceError::Unavailable { .. }), "{err}");
    let err = SharedTrace::start(&[LOCALHOST4], TraceSpec::default()).expect_err("any address");
    assert!(matches!(err, TraceError::Unavailable { .. }), "{err}");
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

#[test]
fn without_tracefs_mounted_the_formats_come_from_a_detached_mount() {
    require_root();
    let read = std::thread::spawn(|| {
        use rustix::mount::{MountPropagationFlags, UnmountFlags, mount_change, unmount};
        use rustix::thread::{UnshareFlags, unshare_unsafe};
        // SAFETY: only this thread's mount namespace and fs info change; it
        // opens no files that others share.
        unsafe { unshare_unsafe(UnshareFlags::NEWNS | UnshareFlags::FS) }.expect("unshare");
        // Private first, so the unmount below propagates nowhere.
        let private = MountPropagationFlags::REC | MountPropagationFlags::PRIVATE;
        mount_change("/", private).expect("make / private");
        let mounts = || std::fs::read_to_string("/proc/thread-self/mountinfo").expect("mountinfo");
        while mounts().contains(" - tracefs ") {
            let at = mounts()
                .lines()
                .find(|l| l.contains(" - tracefs "))
                .and_then(|l| l.split(' ').nth(4).map(str::to_owned))
                .expect("a mount point");
            unmount(at.as_str(), UnmountFlags::DETACH).expect("unmount tracefs here");
        }
        let texts = read_files(&["events/sock/inet_sock_set_state/format"]);
        (texts, mounts().contains(" - tracefs "))
    });
    let (texts, mounted) = read.join().expect("the reader thread");
    let texts = texts.expect("the format through a detached tracefs mount");
    assert!(
        texts[0].contains("name: inet_sock_set_state"),
        "{}",
        texts[0]
    );
    assert!(!mounted, "the detached mount shows in no mount table");
}

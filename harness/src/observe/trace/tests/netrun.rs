//! Test helpers that run real connections in private network namespaces on the
//! shared trace (they need root and say so clearly without it), and what the
//! tests read of a trace: a snapshot while it runs, one side's changes, lines.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::super::clock::clock_ns;
use super::super::hub::lock;
use super::super::log::{ResetDirection, StateChange, kernel_name};
use super::super::shared::gone;
use super::super::{SharedTrace, Side, TraceError, TraceLog, TraceSpec};
use crate::observe::diag;
use crate::wire::TcpState;

use TcpState::*;

pub(super) use crate::testing::require_root;

pub(super) const LOCALHOST4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn realtime() -> u64 {
    u64::try_from(clock_ns(libc::CLOCK_REALTIME)).unwrap()
}

pub(super) fn gettid() -> libc::pid_t {
    nix::unistd::gettid().as_raw()
}

/// Runs `f` on a new thread in a new network namespace with lo up.
pub(super) fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        crate::testing::unshare_net();
        f()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Polls the trace until `done` holds, for at most 5 s.
pub(super) fn wait_for(
    trace: &SharedTrace,
    what: &str,
    done: impl Fn(&TraceLog) -> bool,
) -> TraceLog {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = trace.snapshot().expect("read the trace");
        if done(&log) {
            return log;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after 5 s waiting for {what}; seen:\n{}",
                lines(&log)
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl SharedTrace {
    /// Everything so far. Ownership is final only after [`SharedTrace::stop`]:
    /// a server's child socket becomes own when the server closes it.
    pub(super) fn snapshot(&self) -> Result<TraceLog, TraceError> {
        let mut hub = lock(&self.hub);
        hub.drain()?;
        let sub = hub.subs.get(&self.id).ok_or_else(gone)?;
        Ok(self.log_of(&sub.records, hub.lost_since(sub)))
    }
}

impl std::fmt::Debug for SharedTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTrace")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The case's own state changes of one side.
pub(super) fn own_side(log: &TraceLog, side: Side) -> impl Iterator<Item = &StateChange> {
    log.own_changes().filter(move |c| c.side == Some(side))
}

/// Every change and reset of `log`, one line each, to print on a failure.
pub(super) fn lines(log: &TraceLog) -> String {
    let side = |s: Option<Side>| s.map_or("?", Side::as_str);
    let mut out: Vec<String> = (log.changes.iter())
        .map(|c| {
            format!(
                "{} {} {} > {} {} -> {} ({:?} {}, {:?})",
                c.at_ns,
                side(c.side),
                c.src,
                c.dst,
                kernel_name(c.old),
                kernel_name(c.new),
                c.context,
                c.tid,
                c.owner
            )
        })
        .collect();
    out.extend(log.resets.iter().map(|r| {
        let what = match r.direction {
            ResetDirection::Sent => "sent RST",
            ResetDirection::Received => "received RST",
        };
        format!(
            "{} {} {what} {} > {} state={} reason={} ({:?})",
            r.at_ns,
            side(r.side),
            r.src,
            r.dst,
            r.state.map_or("-", kernel_name),
            r.reason.as_deref().unwrap_or("-"),
            r.owner
        )
    }));
    out.join("\n")
}

pub(super) fn saw(log: &TraceLog, which: Side, old: TcpState, new: TcpState) -> bool {
    own_side(log, which).any(|c| c.old == old && c.new == new)
}

/// The own state changes of `side`, one list of (old, new) per socket
/// incarnation, in time order.
pub(super) fn sequences(log: &TraceLog, which: Side) -> Vec<Vec<(TcpState, TcpState)>> {
    let mut order: Vec<u32> = Vec::new();
    let mut by_sock: HashMap<u32, Vec<(TcpState, TcpState)>> = HashMap::new();
    for c in own_side(log, which) {
        if !order.contains(&c.sock) {
            order.push(c.sock);
        }
        by_sock.entry(c.sock).or_default().push((c.old, c.new));
    }
    order
        .iter()
        .map(|s| by_sock.remove(s).unwrap_or_default())
        .collect()
}

pub(super) struct CloseFirst {
    pub(super) log: TraceLog,
    /// The subscription's CLOCK_REALTIME - CLOCK_MONOTONIC.
    pub(super) realtime_offset_ns: i64,
    listen_window: (u64, u64),
    connect_window: (u64, u64),
    time_wait: Option<diag::TcpSock>,
}

/// In the calling thread's namespace: a listener on 127.0.0.1:`port`, a
/// client bound to :`cport`; the server closes first, then the client.
/// `sync` lines up parallel runs: after their traces start, and before
/// they stop. The trace is the process's shared one for `[ip]`.
pub(super) fn server_closes_first(
    ip: IpAddr,
    port: u16,
    cport: u16,
    sync: Option<Arc<Barrier>>,
) -> CloseFirst {
    let server = SocketAddr::new(ip, port);
    let client = SocketAddr::new(ip, cport);
    let spec = TraceSpec::new([server.ip()])
        .ports([port, cport])
        .server(server)
        .owner(gettid());
    let trace = SharedTrace::start(&[ip], spec).expect("start the shared trace");
    if let Some(b) = &sync {
        b.wait();
    }

    let t0 = realtime();
    let listener = TcpListener::bind(server).expect("listen");
    let t1 = realtime();
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(server),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    sock.set_reuse_address(true).unwrap();
    sock.bind(&client.into()).expect("bind the client");
    let t2 = realtime();
    sock.connect(&server.into()).expect("connect");
    let t3 = realtime();
    let (accepted, _) = listener.accept().expect("accept");
    drop(accepted); // the server closes first: FIN_WAIT1
    let mut stream: TcpStream = sock.into();
    let mut byte = [0u8; 1];
    assert_eq!(stream.read(&mut byte).expect("read the FIN"), 0); // CLOSE_WAIT
    drop(stream); // LAST_ACK

    wait_for(&trace, "both sides to close", |log| {
        saw(log, Side::Client, LastAck, Close) && saw(log, Side::Server, FinWait2, Close)
    });
    // The executor's way: poll sock_diag until TIME_WAIT, with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let time_wait = loop {
        let seen = diag::lookup(server, client).expect("sock_diag");
        if seen.as_ref().is_some_and(|s| s.state == TimeWait)
            || std::time::Instant::now() >= deadline
        {
            break seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    drop(listener);
    wait_for(&trace, "the listener to close", |log| {
        saw(log, Side::Server, Listen, Close)
    });
    if let Some(b) = &sync {
        b.wait();
    }
    let realtime_offset_ns = trace.realtime_offset_ns;
    let log = trace.stop().expect("stop the state trace");
    CloseFirst {
        log,
        realtime_offset_ns,
        listen_window: (t0, t1),
        connect_window: (t2, t3),
        time_wait,
    }
}

pub(super) fn assert_close_first_sequences(run: &CloseFirst) {
    let log = &run.log;
    assert_eq!(
        sequences(log, Side::Server),
        vec![
            vec![(Close, Listen)],
            vec![
                (Listen, SynRecv),
                (SynRecv, Established),
                (Established, FinWait1),
                (FinWait1, FinWait2),
                // tcp_time_wait(): the timewait socket takes over, the
                // full socket is done. No event says TIME_WAIT.
                (FinWait2, Close),
            ],
        ]
        .into_iter()
        .map(|mut v| {
            if v == vec![(Close, Listen)] {
                v.push((Listen, Close));
            }
            v
        })
        .collect::<Vec<_>>(),
        "server sequences; trace:\n{}",
        lines(log)
    );
    assert_eq!(
        sequences(log, Side::Client),
        vec![vec![
            (Close, SynSent),
            (SynSent, Established),
            (Established, CloseWait),
            (CloseWait, LastAck),
            (LastAck, Close),
        ]],
        "client sequences; trace:\n{}",
        lines(log)
    );
    // sock_diag agrees that the server's side sits in TIME_WAIT.
    assert!(
        run.time_wait.as_ref().is_some_and(|s| s.state == TimeWait),
        "server TIME_WAIT via sock_diag, seen: {:?}",
        run.time_wait
    );
    assert_eq!(log.lost_events, 0);

    // The clock: a state change made by a system call lies between the
    // CLOCK_REALTIME reads around that call.
    let at = |side, old, new| {
        own_side(log, side)
            .find(|c| c.old == old && c.new == new)
            .map(|c| c.at_ns)
            .unwrap()
    };
    let listen = at(Side::Server, Close, Listen);
    let syn_sent = at(Side::Client, Close, SynSent);
    assert!(
        run.listen_window.0 <= listen && listen <= run.listen_window.1,
        "LISTEN at {listen} outside listen() {:?}",
        run.listen_window
    );
    assert!(
        run.connect_window.0 <= syn_sent && syn_sent <= run.connect_window.1,
        "SYN_SENT at {syn_sent} outside connect() {:?}",
        run.connect_window
    );
}

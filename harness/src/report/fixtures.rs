//! Synthetic runs for the report tests (no kernel, no root): segments of a first
//! connection and a SYN that hits TIME_WAIT, judged like a real case.

use std::path::Path;
use std::time::Duration;

use crate::evidence::Observation;
use crate::observe::counters::Counters;
use crate::observe::trace::{Context, Owner, Reset, ResetDirection, Side, StateChange};
use crate::run::CaseRun;
use crate::scenario;
use crate::wire::TcpState;
use crate::wire::{Dir, Segment, Seq};

/// The capture-clock origin of the synthetic segments (ns).
pub const T0_NS: u64 = 1_700_000_000_000_000_000;

/// A segment `at_us` µs after a fixed capture-clock origin.
pub fn seg(
    dir: Dir,
    flags: &str,
    seq: u32,
    ack: u32,
    at_us: u64,
    ts: Option<(u32, u32)>,
) -> Segment {
    let at_ns = T0_NS + at_us * 1_000;
    crate::wire::test_segment(dir, flags, seq, ack, at_ns, ts)
}

/// seq-below with timestamps off: challenge ACK, RST, retried SYN. Client ISN
/// near the 2^32 wrap; the new SYN is 1000 below rcv_nxt.
pub fn challenge_segments() -> Vec<Segment> {
    use Dir::*;
    let (c, s) = (u32::MAX - 1, 5000);
    let below = 0u32.wrapping_sub(1000);
    vec![
        seg(ToServer, "S", c, 0, 0, None),
        seg(ToClient, "S.", s, c.wrapping_add(1), 7, None),
        seg(ToServer, ".", c.wrapping_add(1), s + 1, 14, None),
        seg(ToClient, "F.", s + 1, c.wrapping_add(1), 46, None),
        seg(ToServer, "F.", c.wrapping_add(1), s + 2, 71, None),
        seg(ToClient, ".", s + 2, c.wrapping_add(2), 76, None),
        seg(ToServer, "S", below, 0, 3843, None),
        seg(ToClient, ".", s + 2, 0, 3855, None),
        seg(ToServer, "R", s + 2, 0, 3860, None),
        seg(ToServer, "S", below, 0, 16641, None),
        seg(ToClient, "S.", 70_000, below.wrapping_add(1), 16664, None),
        seg(ToServer, ".", below.wrapping_add(1), 70_001, 16707, None),
    ]
}

/// Timestamps on: the new SYN is 90000 above rcv_nxt with a tsval 3 above
/// ts_recent, and the server answers SYN-ACK (client tsvals near 2^32).
pub fn timestamp_segments() -> Vec<Segment> {
    use Dir::*;
    let (c, s) = (1000, 900_000);
    vec![
        seg(ToServer, "S", c, 0, 0, Some((3_000_000_000, 0))),
        seg(ToClient, "S.", s, c + 1, 10, Some((7, 3_000_000_000))),
        seg(ToServer, ".", c + 1, s + 1, 20, Some((3_000_000_000, 7))),
        seg(ToClient, "F.", s + 1, c + 1, 30, Some((8, 3_000_000_000))),
        seg(ToServer, "F.", c + 1, s + 2, 40, Some((3_000_000_001, 8))),
        seg(ToClient, ".", s + 2, c + 2, 50, Some((8, 3_000_000_001))),
        seg(ToServer, "S", c + 90_000, 0, 4000, Some((3_000_000_004, 0))),
        seg(
            ToClient,
            "S.",
            5,
            c + 90_001,
            4010,
            Some((11, 3_000_000_004)),
        ),
    ]
}

/// A judged run of `segments` for a scenario that expects the TIME_WAIT ACK after
/// two client SYNs and `TcpExt.PAWSTimewait` unchanged; a raw peer note, and
/// the server counters `Tcp.PassiveOpens +1`, `Tcp.OutSegs +2` (the ACK and
/// the SYN-ACK: what synlab's model says), `IpExt.InOctets +400`.
pub fn case_run(segments: Vec<Segment>, description: &str) -> CaseRun {
    let src = format!(
        "description = '''{description}'''\nkernel_ref = \"tcp_timewait_state_process() <in> minisocks\"\n\
         [connection]\nport = 8888\nclient_port = 12345\n\
         [expect]\nanswer = \"ack\"\nclient_syns = 2\ncounters = {{ \"TcpExt.PAWSTimewait\" = 0 }}\n\
         [server]\nsysctl = {{ \"net.ipv4.tcp_timestamps\" = 0 }}\n"
    );
    let scenario =
        scenario::parse_str(Path::new("/scenarios/timewait/synthetic.toml"), &src).expect("parse");
    let case = scenario.cases[0].clone();
    let mut server_counters = Counters::new();
    server_counters.insert("Tcp.PassiveOpens".into(), 1);
    server_counters.insert("Tcp.OutSegs".into(), 2);
    server_counters.insert("IpExt.InOctets".into(), 400);
    let obs = Observation {
        peer_notes: vec!["sent <RST> & stopped".into()],
        time_wait_before: "TIME-WAIT 198.18.0.1:8888 198.18.0.2:12345".into(),
        server_counters,
        ..Observation::for_tests(segments)
    };
    judged(case, obs)
}

/// `case` judged on `obs`, as `run_case` would (kernel `6.18.0-test`, 77 ms).
pub fn judged(case: scenario::Case, obs: Observation) -> CaseRun {
    crate::run::conclude(case, "6.18.0-test".into(), obs, Duration::from_millis(77))
}

/// A traced state change of the case's socket, `at_us` µs after [`T0_NS`].
pub fn state_change(at_us: u64, side: Option<Side>, old: TcpState, new: TcpState) -> StateChange {
    StateChange {
        at_ns: T0_NS + at_us * 1_000,
        sock: 1,
        src: "198.18.0.1:8888".parse().expect("a test address"),
        dst: "198.18.0.2:12345".parse().expect("a test address"),
        old,
        new,
        side,
        tid: 7,
        context: Context::Softirq,
        owner: Owner::Own,
    }
}

/// A run with every optional part of the evidence present: a matrix case
/// (`server.tcp_rfc1337=1`) with server sysctls, the timestamp segments, an
/// ISN forced with TCP_REPAIR, a refused connect(), client counters, an
/// expected counter the kernel lacks, a counter mismatch (so it fails), state
/// changes and a reset, and no state trace but two sock_diag snapshots.
pub fn rich_run() -> CaseRun {
    const SRC: &str = "description = 'Every part of the evidence.'\n\
        [server]\nsysctl = { \"net.ipv4.tcp_timestamps\" = 1, \"net.ipv4.tcp_rfc1337\" = [0, 1] }\n\
        [connection]\nport = 8888\nclient_port = 12345\n\
        [expect]\nanswer = \"syn-ack\"\nclient_syns = 1\ntime_wait_after = true\n\
        counters = { \"TcpExt.PAWSTimewait\" = 0, \"TcpExt.TCPAOGood\" = 1 }\n";
    let scenario =
        scenario::parse_str(Path::new("/scenarios/timewait/rich.toml"), SRC).expect("parse");
    let case = scenario.cases[1].clone();
    let mut obs = Observation::for_tests(timestamp_segments());
    obs.forced_isn = Some(Seq(1_000_000));
    obs.connect_result = Err("connect: Connection refused (os error 111)".into());
    obs.peer_notes = vec!["first note".into(), "second note".into()];
    obs.time_wait_before = "TIME-WAIT 198.18.0.1:8888 198.18.0.2:12345".into();
    obs.time_wait_after = true;
    obs.server_counters.insert("Tcp.PassiveOpens".into(), 1);
    obs.server_counters.insert("TcpExt.PAWSTimewait".into(), 3);
    obs.client_counters.insert("TcpExt.TCPTimeouts".into(), 2);
    obs.client_counters.insert("Ip.InReceives".into(), 9);
    obs.states = vec![
        state_change(
            45,
            Some(Side::Client),
            TcpState::FinWait1,
            TcpState::FinWait2,
        ),
        state_change(52, Some(Side::Server), TcpState::FinWait2, TcpState::Close),
        state_change(3990, None, TcpState::Close, TcpState::SynSent),
    ];
    obs.resets = vec![Reset {
        at_ns: T0_NS + 60_000,
        direction: ResetDirection::Sent,
        sock: 1,
        src: "198.18.0.1:8888".parse().expect("a test address"),
        dst: "198.18.0.2:12345".parse().expect("a test address"),
        state: Some(TcpState::TimeWait),
        reason: Some("NOT_SPECIFIED".into()),
        side: Some(Side::Server),
        tid: 0,
        context: Context::Softirq,
        owner: Owner::TupleOnly,
    }];
    obs.trace_unavailable = Some("no tracefs".into());
    obs.snapshots = vec![
        (
            T0_NS + 500_000,
            "TIME-WAIT 0 0 198.18.0.1:8888 198.18.0.2:12345".into(),
        ),
        (
            T0_NS + 4_500_000,
            "ESTAB 0 0 198.18.0.1:8888 198.18.0.2:12345".into(),
        ),
    ];
    judged(case, obs)
}

/// A record of `timewait::x`'s case `values` (`x/<values>`), ended so.
pub fn record(values: &str, conclusion: crate::verdict::Status) -> crate::report::record::Record {
    crate::report::record::Record {
        suite: "timewait::x".into(),
        trial: format!("timewait::x::{values}"),
        case: format!("x/{values}"),
        file: "scenarios/timewait/x.toml".into(),
        kernel: "6.1.0".into(),
        conclusion,
        duration: Duration::from_millis(12),
        failures: Vec::new(),
        unchecked: Vec::new(),
        message: None,
        pcap: None,
        details: None,
        answer: None,
        facts: Default::default(),
        timeline: Vec::new(),
    }
}

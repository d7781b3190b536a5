//! `[reconnect]`: the client closed first and holds TIME_WAIT; a new socket
//! of its own connects to the same server from the same port, bound to it
//! (`nc -p`) or given it by `connect()`. `__inet_hash_connect()`
//! (net/ipv4/inet_hashtables.c) asks `__inet_check_established()`, which asks
//! `tcp_twsk_unique()` (net/ipv4/tcp_ipv4.c) whether the TIME_WAIT on that
//! 4-tuple may be taken over; if not, `connect()` fails with `EADDRNOTAVAIL`.
//! The reuse delay changed in 6.14 (`changes::REUSE_DELAY`).

use super::changes::REUSE_DELAY;
use super::close;
use super::{Inputs, Model, Prediction, ReconnectInputs, Step};
use crate::event::reconnect::PortMode;
use crate::wire::Answer;

const FUNCTION: &str = "tcp_twsk_unique()";
const FILE: &str = "net/ipv4/tcp_ipv4.c";

/// `connect()` runs at least `after_ms` after TIME_WAIT began, and at most
/// this much later still (the harness saw TIME_WAIT, then waited): a delay
/// inside that window is one the model cannot decide.
const SLACK_MS: u32 = 100;

/// Whether the TIME_WAIT is taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    Yes,
    No,
    /// It depends on when exactly `connect()` ran.
    Timing,
}

pub(super) fn predict(_: &Model<'_>, i: &Inputs, e: &ReconnectInputs) -> Prediction {
    let (existed, close_step) = close::left(&i.closing);
    let mut steps = vec![close_step];
    let taken = if existed {
        unique(i, e, &mut steps)
    } else {
        steps.push(Step {
            function: "__inet_hash_connect()",
            file: "net/ipv4/inet_hashtables.c",
            branch: "no TIME_WAIT: the port is free",
            why: "no TIME_WAIT holds the 4-tuple, so connect() gets the port and its SYN \
                  reaches the listener — __inet_hash_connect()"
                .to_owned(),
        });
        Taken::Yes
    };
    let connected = match taken {
        Taken::Yes => Some(true),
        Taken::No => Some(false),
        Taken::Timing => None,
    };
    let (mut counters, mut client_counters) = (Vec::new(), Vec::new());
    if let Some(c) = connected {
        // The server sends its SYN-ACK; in one namespace the client's SYN
        // and its ACK of the SYN-ACK count there too (its own Tcp.ActiveOpens,
        // not Tcp.PassiveOpens; TcpExt.TWRecycled is the client's alone).
        let out_segs = if i.one_namespace { 3 } else { 1 };
        counters = vec![
            ("Tcp.PassiveOpens", i64::from(c)),
            ("Tcp.OutSegs", if c { out_segs } else { 0 }),
        ];
        client_counters = vec![("TcpExt.TWRecycled", i64::from(c && existed))];
    }
    Prediction {
        // The old connection is closed on the server's side (it closed
        // second), so the new SYN meets the listener.
        answer: connected.map(|c| if c { Answer::SynAck } else { Answer::None }),
        client_syns: connected.map(u32::from),
        established: connected,
        time_wait_after: connected.map(|c| existed && !c),
        connect: connected.map(|c| if c { "ok" } else { "EADDRNOTAVAIL" }.to_owned()),
        isn_from_time_wait: match (connected, existed) {
            // tcp_twsk_unique(): write_seq = tw_snd_nxt + 65535 + 2.
            (Some(true), true) => Some(true),
            // A fresh socket's secure_tcp_seq() ISN; after an RST close the
            // old snd_nxt is not a TIME_WAIT's and nothing is compared.
            (Some(true), false) if i.closing.close == crate::scenario::Close::Fin => Some(false),
            _ => None,
        },
        counters,
        client_counters,
        steps,
        ..Prediction::default()
    }
}

/// `tcp_twsk_unique(sk, sktw, twp)`, with `twp` NULL for a bound port.
fn unique(i: &Inputs, e: &ReconnectInputs, steps: &mut Vec<Step>) -> Taken {
    let stamp = i.timestamps_negotiated;
    let mut step = |branch: &'static str, why: String, taken: Taken| {
        steps.push(Step {
            function: FUNCTION,
            file: FILE,
            branch,
            why: format!("{why} — {FUNCTION}"),
        });
        taken
    };
    if e.port == PortMode::Bind {
        // bind(): both the new socket and the TIME_WAIT (tw_reuse, copied
        // from the old socket) set SO_REUSEADDR, so inet_csk_bind_conflict()
        // lets it share the port; connect() then calls check_established()
        // with twp = NULL.
        return if stamp {
            step(
                "bound port (twp = NULL), timestamps: taken over",
                "connect() from a bound port (bind() succeeded: both sockets set \
                 SO_REUSEADDR) asks with twp = NULL, and the old connection had timestamps \
                 (tw_ts_recent_stamp set): the TIME_WAIT is taken over at once, whatever \
                 net.ipv4.tcp_tw_reuse says; the new SYN starts at the old snd_nxt + 65537 \
                 (TcpExt.TWRecycled)"
                    .to_owned(),
                Taken::Yes,
            )
        } else {
            step(
                "no timestamps: never taken over",
                "connect() from a bound port: the old connection had no timestamps \
                 (tw_ts_recent_stamp = 0), so the TIME_WAIT is never taken over and \
                 connect() fails with EADDRNOTAVAIL"
                    .to_owned(),
                Taken::No,
            )
        };
    }
    if e.first_port_bound {
        return step(
            "bound bucket: skipped by connect()",
            "__inet_hash_connect() skips a port whose bind bucket was made by bind() \
             (tb->fastreuse >= 0): no port is left and connect() fails with EADDRNOTAVAIL"
                .to_owned(),
            Taken::No,
        );
    }
    let reuse = match i.tw.tw_reuse {
        2 if e.loopback => 1,
        2 => 0,
        r => r,
    };
    let setting = match (i.tw.tw_reuse, e.loopback) {
        (2, false) => "net.ipv4.tcp_tw_reuse = 2 (loopback only) and this is not loopback",
        (2, true) => "net.ipv4.tcp_tw_reuse = 2 and this is loopback",
        (0, _) => "net.ipv4.tcp_tw_reuse = 0",
        _ => "net.ipv4.tcp_tw_reuse = 1",
    };
    if !stamp {
        return step(
            "no timestamps: never taken over",
            "connect() picks the port (twp set), but the old connection had no timestamps \
             (tw_ts_recent_stamp = 0): the TIME_WAIT is never taken over, no port is left \
             and connect() fails with EADDRNOTAVAIL"
                .to_owned(),
            Taken::No,
        );
    }
    if reuse == 0 {
        return step(
            "tcp_tw_reuse off here: not taken over",
            format!(
                "connect() picks the port (twp set) and {setting}: the TIME_WAIT is not taken \
                 over, no port is left and connect() fails with EADDRNOTAVAIL"
            ),
            Taken::No,
        );
    }
    let after = e.after_ms;
    if REUSE_DELAY.holds(i.release) {
        // time_after32(tcp_clock_ms(), tw_entry_stamp + tcp_tw_reuse_delay)
        let delay = i.tw.tw_reuse_delay_ms;
        let (branch, taken) = if after > delay {
            ("reuse delay passed: taken over", Taken::Yes)
        } else if after.saturating_add(SLACK_MS) <= delay {
            ("reuse delay not passed: not taken over", Taken::No)
        } else {
            ("reuse delay: timing decides", Taken::Timing)
        };
        let outcome = match taken {
            Taken::Yes => "it is taken over (the new SYN starts at the old snd_nxt + 65537)",
            Taken::No => "it is not taken over and connect() fails with EADDRNOTAVAIL",
            Taken::Timing => "whether it is taken over depends on the exact moment",
        };
        return step(
            branch,
            format!(
                "connect() picks the port (twp set), {setting}, timestamps were on, and \
                 connect() ran {after} ms after TIME_WAIT began against \
                 net.ipv4.tcp_tw_reuse_delay = {delay} ms (tw_entry_stamp + delay must be \
                 passed): {outcome}"
            ),
            taken,
        );
    }
    // time_after32(ktime_get_seconds(), tw_ts_recent_stamp): the next second.
    let (branch, taken, outcome) = if after >= 1000 {
        (
            "a second passed: taken over",
            Taken::Yes,
            "a whole second has passed, so the seconds clock is past tw_ts_recent_stamp: it is \
             taken over",
        )
    } else if e.same_second {
        (
            "the same second: not taken over",
            Taken::No,
            "the last timestamped segment (tw_ts_recent_stamp), the close and the connect() all \
             fell in one second of ktime_get_seconds(), which is then not after it: it is not \
             taken over and connect() fails with EADDRNOTAVAIL",
        )
    } else {
        (
            "within the second: timing decides",
            Taken::Timing,
            "within a second it depends on whether the seconds clock ticked past \
             tw_ts_recent_stamp",
        )
    };
    step(
        branch,
        format!(
            "connect() picks the port (twp set), {setting}, timestamps were on; before 6.14 the \
             TIME_WAIT may be taken over once ktime_get_seconds() is after tw_ts_recent_stamp, \
             and connect() ran {after} ms after TIME_WAIT began: {outcome}"
        ),
        taken,
    )
}

/// The rules for this event, in words.
pub(super) fn rules(_: &Model<'_>) -> Vec<String> {
    vec![
        format!(
            "bind() to the port then connect() (like nc -p): check_established() asks {FUNCTION} \
             with twp = NULL, and the TIME_WAIT is taken over whenever the old connection had \
             timestamps (tw_ts_recent_stamp set), whatever net.ipv4.tcp_tw_reuse says; \
             without timestamps never, and connect() fails with EADDRNOTAVAIL ({FUNCTION}, \
             {FILE})."
        ),
        format!(
            "A port connect() picks (twp set): taken over only with timestamps, \
             net.ipv4.tcp_tw_reuse = 1 (2, the default, counts only for loopback: a loopback \
             address or a socket bound to lo), and the reuse delay passed (below); otherwise \
             the port is skipped and, with no other port left, connect() fails with EADDRNOTAVAIL \
             ({FUNCTION}, {FILE}). __inet_hash_connect() never picks a port whose bind bucket \
             bind() made."
        ),
        format!(
            "A TIME_WAIT taken over starts the new connection at its snd_nxt + 65537 and counts \
             TcpExt.TWRecycled (__inet_check_established()). With no TIME_WAIT at all \
             (SO_LINGER {{1, 0}}, tcp_max_tw_buckets) the port is simply free."
        ),
        "Over loopback (client and server in one namespace) the namespace's counters move \
         for both sides: a reconnect that gets through sends 3 segments there (the SYN, the \
         SYN-ACK and the ACK), not the server's 1."
            .to_owned(),
    ]
}

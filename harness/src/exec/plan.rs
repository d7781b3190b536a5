//! A case as a list of steps. The seed experiment: the server listens and
//! closes the first connection first, its side sits in TIME_WAIT, the client
//! gets ready, the counters are read, the event under test hits TIME_WAIT
//! (a SYN from the same 4-tuple, and the raw peer's follow-ups), the evidence
//! settles, and the state after is read. The other experiments differ in a
//! step or two: the client closes first and reconnects; a `[segment]` instead
//! of a SYN; a `linger0` close that leaves no TIME_WAIT to wait for. A new kind
//! of event adds its arm where the executor performs `Step::Event`.

use std::time::Duration;

use crate::event::reconnect::{PortMode, Reconnect};
use crate::event::{Event, Mark};
use crate::evidence::TIMER_AGE;
use crate::expect::Measure;
use crate::peer::kernel::ServerClose;
use crate::scenario::{Case, Close};
use crate::wire::Side;

/// One step of a case, run by `exec` over the two sides.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// The server listens and treats the first connection as told.
    Listen(ServerClose),
    /// Wait, if the current second is too far gone, for the next one: the
    /// connections before the event and a reconnect right after them then
    /// fall in one second of the kernel's clock, which `tcp_twsk_unique()`
    /// compares before 6.14 (the reconnect checks that they did).
    AlignToSecond,
    /// A connection before the event (the first of `count`), until the
    /// capture shows it closed.
    FirstConnection,
    /// sock_diag shows the case's TIME_WAIT socket on that side.
    AwaitTimeWait(Side),
    /// sock_diag shows no socket of the case's connection on that side
    /// (a `linger0` close leaves no TIME_WAIT).
    AwaitGone(Side),
    /// The client gets ready for the event.
    ClientReady,
    /// Wait until TIME_WAIT is this old (measured from when it began).
    AgeTimeWait(Duration),
    /// The MIB counters of both namespaces and TIME_WAIT's timer, before the event.
    Before,
    /// The event under test (the case's `event`).
    Event,
    /// Wait until the evidence of the event is captured.
    Settle,
    /// TIME_WAIT and its timer after the event, and the counters after it.
    Observe,
}

/// Whether the answer may depend on the second the close and the event fall
/// in: a reconnect on a port `connect()` picks, sooner than a second after the
/// TIME_WAIT appeared (`tcp_twsk_unique()` before 6.14 takes over a TIME_WAIT
/// only once the current second is past its timestamp's second).
pub(crate) fn second_matters(case: &Case) -> bool {
    matches!(
        case.event,
        Event::Reconnect(Reconnect {
            port: PortMode::Ephemeral,
            after_ms,
        }) if after_ms < 1000
    )
}

/// The steps of `case`, in order.
pub(crate) fn plan(case: &Case) -> Vec<Step> {
    let linger0 = case.close == Close::Linger0;
    let closer = case.closes_first;
    let server = match closer {
        Side::Server => ServerClose::First { linger0 },
        Side::Client => ServerClose::AfterPeer,
    };
    // No TIME_WAIT to wait for: a linger0 close sends an RST, and a closer
    // whose namespace allows no TIME_WAIT bucket just closes (tcp_time_wait(),
    // TcpExt.TCPTimeWaitOverflow).
    let no_time_wait = linger0
        || case
            .sysctl(closer, "net.ipv4.tcp_max_tw_buckets")
            .is_some_and(|v| v.trim() == "0");
    let mut steps = vec![Step::Listen(server)];
    if second_matters(case) {
        steps.push(Step::AlignToSecond);
    }
    for _ in 0..case.count.max(1) {
        steps.push(Step::FirstConnection);
        steps.push(if no_time_wait {
            Step::AwaitGone(closer)
        } else {
            Step::AwaitTimeWait(closer)
        });
    }
    // A listener restart after the client closed first: the server's own
    // side must be gone (LAST_ACK -> CLOSE) before the new bind(), or the
    // answer depends on how fast the client's last ACK arrived.
    if matches!(case.event, Event::Restart(_)) && closer == Side::Client && !no_time_wait {
        steps.push(Step::AwaitGone(Side::Server));
    }
    steps.push(Step::ClientReady);
    if !no_time_wait && case.measures(Measure::TimerAge) {
        steps.push(Step::AgeTimeWait(TIMER_AGE));
    }
    steps.extend([Step::Before, Step::Event]);
    // An event that is no segment (a listener restart) leaves nothing on the
    // wire to wait for.
    if case.event.mark() != Mark::Nothing {
        steps.push(Step::Settle);
    }
    steps.push(Step::Observe);
    steps
}

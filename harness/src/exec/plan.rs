//! A case as a list of steps. Today's experiment: the server listens and
//! closes the first connection first, its side sits in TIME_WAIT, the client
//! gets ready, the counters are read, the event under test hits TIME_WAIT
//! (a SYN from the same 4-tuple, and the raw peer's follow-ups), the evidence
//! settles, and the state after is read. A new kind of event is a new
//! [`Event`] and its place in [`plan`]; the executor runs whatever it is given.

use crate::peer::Syn;
use crate::scenario::Case;

/// One step of a case, run by `exec` over the two sides.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// The server listens; it accepts the first connection and closes it at
    /// once, so its side ends in TIME_WAIT.
    Listen,
    /// The client's first connection, until the capture shows the server's
    /// ACK of the client's FIN.
    FirstConnection,
    /// sock_diag shows the server's TIME_WAIT socket (`ss -tan state time-wait`).
    AwaitTimeWait,
    /// The client gets ready for the event.
    ClientReady,
    /// The MIB counters of both namespaces, before the event.
    CountersBefore,
    /// The event under test.
    Event(Event),
    /// Wait until the evidence of the event is captured.
    Settle,
    /// TIME_WAIT after the event, and the counters after it.
    Observe,
}

/// What hits TIME_WAIT.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A SYN from the client's 4-tuple (`[second_syn]`).
    Syn(Syn),
}

/// The steps of `case`, in order.
pub(crate) fn plan(case: &Case) -> Vec<Step> {
    let event = Event::Syn(Syn {
        seq: case.seq.value,
        tsval: case.tsval.value,
        then: case.then.clone(),
    });
    vec![
        Step::Listen,
        Step::FirstConnection,
        Step::AwaitTimeWait,
        Step::ClientReady,
        Step::CountersBefore,
        Step::Event(event),
        Step::Settle,
        Step::Observe,
    ]
}

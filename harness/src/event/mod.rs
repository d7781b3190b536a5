//! The event under test: what hits the TIME_WAIT socket, or the port it
//! holds. One variant per kind; each kind's file keeps in one place what the
//! event is: its table in the scenario file and how that is read and checked,
//! the settings it adds to the case matrix, the combinations it refuses, what
//! it marks on the wire, and its JSON row. The executor performs it (one arm
//! in `exec`) through the side it belongs to (`peer`).
//!
//! A new kind is a new file here, its variant below, its table's line in
//! `scenario::file`, its side call in `peer`, its arm in `exec` and its row
//! variant in `rows`.

pub mod reconnect;
pub mod restart;
pub mod segment;
pub mod syn;

use crate::loc::Loc;
use crate::read::setting::{Axis, Sel};
use crate::rows;
use crate::wire::Side;

/// What happens to the TIME_WAIT socket in one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A SYN from the client's 4-tuple (`[second_syn]`).
    Syn(syn::Syn),
    /// One segment of any kind from the raw client (`[segment]`).
    Segment(segment::Segment),
    /// A new `connect()` from the side that holds TIME_WAIT (`[reconnect]`).
    Reconnect(reconnect::Reconnect),
    /// The server's listener closed and a new one bound (`[listener] restart`).
    Restart(restart::Restart),
}

/// Which segment on the wire is the event: where its answer and the
/// client's SYNs are counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The first segment after the first connection (`[segment]`).
    Segment,
    /// The client's first SYN after the first connection.
    Syn,
    /// None: the event is not a segment (a listener restart).
    Nothing,
}

/// What the rest of a case is, as far as an event may refuse it.
pub(crate) struct Around<'a> {
    pub raw_client: bool,
    pub closes_first: Side,
    /// The side whose `net.ipv4.tcp_timestamps` is 0, if one is.
    pub timestamps_off: Option<Side>,
    /// The clients' `net.ipv4.tcp_timestamps` (unset: `None`, the kernel's 1).
    pub client_timestamps: Option<u8>,
    /// Clients behind a NAT (1 without one).
    pub nat_clients: u8,
    /// Where the case's value of a setting was written, by its field
    /// (`connection.closes_first`).
    pub loc_of: &'a dyn Fn(&str) -> Loc,
    /// Where the event's table starts.
    pub table: &'a Loc,
}

/// A combination a kind refuses: where, the field, and why.
pub(crate) type Refusal = (Loc, String, String);

impl Event {
    /// The event's name, as expectations name the events they belong to and
    /// the JSON row's `event.kind` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Syn(_) => syn::NAME,
            Event::Segment(_) => segment::NAME,
            Event::Reconnect(_) => reconnect::NAME,
            Event::Restart(_) => restart::NAME,
        }
    }

    pub fn mark(&self) -> Mark {
        match self {
            Event::Syn(_) | Event::Reconnect(_) => Mark::Syn,
            Event::Segment(_) => Mark::Segment,
            Event::Restart(_) => Mark::Nothing,
        }
    }

    /// The side whose TIME_WAIT the event meets, for the kinds that fix it
    /// (a listener restart meets whatever the closer left).
    pub fn time_wait_side(&self) -> Option<Side> {
        match self {
            Event::Reconnect(_) => Some(Side::Client),
            Event::Syn(_) | Event::Segment(_) => Some(Side::Server),
            Event::Restart(_) => None,
        }
    }

    /// The client the event needs (raw or not), when it needs one kind.
    fn client(&self) -> Option<(bool, &'static str)> {
        match self {
            Event::Segment(_) => Some((
                true,
                "a [segment] is written by the raw client: set kind = \"raw\" in [client]",
            )),
            Event::Reconnect(_) => Some((
                false,
                "[reconnect] is a new socket of the kernel client: a raw client has no \
                 TIME_WAIT of its own (kind = \"kernel\")",
            )),
            Event::Syn(_) | Event::Restart(_) => None,
        }
    }

    /// Why the event does not go with the rest of `case`, if it does not.
    pub(crate) fn refuse(&self, case: &Around<'_>) -> Option<Refusal> {
        if let Some((raw, why)) = self.client()
            && case.raw_client != raw
        {
            return Some((case.table.clone(), self.table().to_owned(), why.to_owned()));
        }
        if self
            .time_wait_side()
            .is_some_and(|side| side != case.closes_first)
        {
            let why = match self {
                Event::Reconnect(_) => {
                    "[reconnect] hits the client's own TIME_WAIT: closes_first must be \"client\""
                }
                _ => {
                    "with closes_first = \"client\" the TIME_WAIT is the client's: the event is \
                     [reconnect]"
                }
            };
            let field = "connection.closes_first";
            return Some(((case.loc_of)(field), field.to_owned(), why.to_owned()));
        }
        match self {
            Event::Syn(e) => e.refuse(case),
            Event::Segment(e) => e.refuse(case),
            Event::Reconnect(_) | Event::Restart(_) => None,
        }
    }

    /// The table of the file the event is read from.
    fn table(&self) -> &'static str {
        match self {
            Event::Syn(_) => "second_syn",
            Event::Segment(_) => "segment",
            Event::Reconnect(_) => "reconnect",
            Event::Restart(_) => "listener.restart",
        }
    }

    /// The event as the JSON row shows it; `wire` is what its segment
    /// carried relative to the TIME_WAIT socket (segment events).
    pub fn row(&self, wire: rows::SegmentEvent) -> rows::Event {
        match self {
            Event::Syn(_) => rows::Event::Syn(wire),
            Event::Segment(_) => rows::Event::Segment(wire),
            Event::Reconnect(e) => e.row(),
            Event::Restart(e) => e.row(),
        }
    }
}

/// The checked event table of a scenario file, with its settings.
#[derive(Debug, Clone)]
pub(crate) enum Spec {
    Syn(syn::Spec),
    Segment(Box<segment::Spec>),
    Reconnect(reconnect::Spec),
    Restart(restart::Spec),
}

impl Spec {
    /// Its list-valued settings.
    pub fn axes(&self) -> Vec<Axis<'_>> {
        match self {
            Spec::Syn(s) => s.axes(),
            Spec::Segment(s) => s.axes(),
            Spec::Reconnect(s) => s.axes(),
            Spec::Restart(s) => s.axes(),
        }
    }

    /// The event of the case `sel` picks.
    pub fn build(&self, sel: &Sel<'_>) -> Event {
        match self {
            Spec::Syn(s) => Event::Syn(s.build(sel)),
            Spec::Segment(s) => Event::Segment(s.build(sel)),
            Spec::Reconnect(s) => Event::Reconnect(s.build(sel)),
            Spec::Restart(s) => Event::Restart(s.build(sel)),
        }
    }
}

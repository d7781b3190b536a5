//! `[listener] restart`: while the server's TIME_WAIT holds the port, the
//! server closes its listener and binds and listens a new one, as a restarted
//! daemon does ("Address already in use"). Decided by `inet_csk_get_port()` /
//! `inet_csk_bind_conflict()` (net/ipv4/inet_connection_sock.c): the
//! TIME_WAIT socket sits in the port's bind bucket with the `SO_REUSEADDR` /
//! `SO_REUSEPORT` of the socket it came from (`inet_twsk_alloc()`), the
//! accepted child of the first listener.

use serde_spanned::Spanned;

use crate::read::check::Checker;
use crate::read::raw::{Scalar, Value};
use crate::read::setting::{Axis, Sel, Setting};
use crate::rows;

pub const NAME: &str = "restart";

/// The socket options of a listener (`[listener] options` and `restart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Options {
    /// Neither option.
    Plain,
    /// `SO_REUSEADDR` (what most servers set, and synlab's default).
    Reuseaddr,
    /// `SO_REUSEPORT`.
    Reuseport,
    /// Both.
    Both,
}

impl Options {
    pub fn as_str(self) -> &'static str {
        match self {
            Options::Plain => "plain",
            Options::Reuseaddr => "reuseaddr",
            Options::Reuseport => "reuseport",
            Options::Both => "both",
        }
    }

    pub fn reuseaddr(self) -> bool {
        matches!(self, Options::Reuseaddr | Options::Both)
    }

    pub fn reuseport(self) -> bool {
        matches!(self, Options::Reuseport | Options::Both)
    }
}

/// A value of `options` or `restart`.
pub(crate) fn options_value(v: &Scalar) -> Result<(Options, String), String> {
    v.one_of(&[
        ("plain", Options::Plain),
        ("reuseaddr", Options::Reuseaddr),
        ("reuseport", Options::Reuseport),
        ("both", Options::Both),
    ])
}

/// The restart of one case: the new listener's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    pub options: Options,
}

/// The checked setting.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    options: Setting<Options>,
}

/// Read `[listener] restart`.
pub(crate) fn read(cx: &mut Checker<'_>, raw: Spanned<Value>) -> Spec {
    let loc = cx.loc(&raw.span());
    let options = cx.setting_or(
        Some(raw),
        "listener.restart",
        "restart",
        options_value,
        (Options::Reuseaddr, "reuseaddr"),
        &loc,
    );
    Spec { options }
}

impl Spec {
    pub fn axes(&self) -> Vec<Axis<'_>> {
        Axis::of(&self.options).into_iter().collect()
    }

    pub fn build(&self, sel: &Sel<'_>) -> Restart {
        Restart {
            options: self.options.pick(sel).value,
        }
    }
}

impl Restart {
    pub fn row(&self) -> rows::Event {
        rows::Event::Restart {
            options: self.options.as_str().to_owned(),
        }
    }
}

//! `[reconnect]`: the client closed first and holds TIME_WAIT; a new socket of
//! its own connects to the same server, bound to the same port (`nc -p`) or
//! with the port `connect()` picks. Decided by `__inet_hash_connect()` /
//! `__inet_check_established()` and `tcp_twsk_unique()` (net/ipv4/tcp_ipv4.c).

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::loc::Loc;
use crate::read::check::Checker;
use crate::read::raw::{Scalar, Value};
use crate::read::setting::{Axis, Sel, Setting};
use crate::rows;

pub const NAME: &str = "reconnect";

/// The table as the file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    pub port: Option<Spanned<Value>>,
    pub after_ms: Option<Spanned<Value>>,
}

/// How the kernel client's new socket gets its port (`port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMode {
    /// `SO_REUSEADDR` and `bind(client_port)` before `connect()`, like `nc -p`.
    Bind,
    /// `connect()` picks the port; the client namespace's
    /// `ip_local_port_range` is narrowed to `client_port`, so it must collide.
    Ephemeral,
}

impl PortMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PortMode::Bind => "bind",
            PortMode::Ephemeral => "ephemeral",
        }
    }
}

/// The reconnect of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    pub port: PortMode,
    /// Wait after the client's TIME_WAIT appeared.
    pub after_ms: u32,
}

/// The checked table: its settings.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    port: Setting<PortMode>,
    after_ms: Setting<u32>,
}

/// Read `[reconnect]`.
pub(crate) fn read(cx: &mut Checker<'_>, raw: Spanned<Raw>) -> Spec {
    let loc: Loc = cx.loc(&raw.span());
    let raw = raw.into_inner();
    let port = cx.setting_or(
        raw.port,
        "reconnect.port",
        "port",
        port_mode_value,
        (PortMode::Bind, "bind"),
        &loc,
    );
    let after_ms = cx.setting_or(
        raw.after_ms,
        "reconnect.after_ms",
        "after_ms",
        after_ms_value,
        (0, "0"),
        &loc,
    );
    Spec { port, after_ms }
}

impl Spec {
    pub fn axes(&self) -> Vec<Axis<'_>> {
        [Axis::of(&self.port), Axis::of(&self.after_ms)]
            .into_iter()
            .flatten()
            .collect()
    }

    pub fn build(&self, sel: &Sel<'_>) -> Reconnect {
        Reconnect {
            port: self.port.pick(sel).value,
            after_ms: self.after_ms.pick(sel).value,
        }
    }
}

impl Reconnect {
    pub fn row(&self) -> rows::Event {
        rows::Event::Reconnect {
            port: self.port.as_str().to_owned(),
            after_ms: u64::from(self.after_ms),
        }
    }
}

fn port_mode_value(v: &Scalar) -> Result<(PortMode, String), String> {
    v.one_of(&[("bind", PortMode::Bind), ("ephemeral", PortMode::Ephemeral)])
}

/// `after_ms`: at most a minute (TIME_WAIT's own length).
fn after_ms_value(v: &Scalar) -> Result<(u32, String), String> {
    v.int_in(0..=60_000)
}

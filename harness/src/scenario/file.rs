//! The scenario file's shape, table by table, as TOML spells it (serde types
//! only; the values are `raw.rs`'s, each event's table is its kind's own).

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::event::{reconnect, segment, syn};
use crate::read::raw::{RawExpect, Table, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub description: Spanned<String>,
    pub kernel_ref: Option<Spanned<String>>,
    pub timeout_ms: Option<Spanned<i64>>,
    pub sysctl: Option<Spanned<Table<Spanned<Value>>>>,
    pub server: Option<Spanned<RawServer>>,
    pub client: Option<Spanned<RawClient>>,
    pub topology: Option<Spanned<RawTopology>>,
    pub connection: Option<Spanned<RawConnection>>,
    pub listener: Option<Spanned<RawListener>>,
    pub second_syn: Option<Spanned<syn::Raw>>,
    pub segment: Option<Spanned<segment::Raw>>,
    pub reconnect: Option<Spanned<reconnect::Raw>>,
    /// The kernels the scenario is for (`">= 6.14"`).
    pub kernel: Option<Spanned<String>>,
    /// A popular claim about this experiment and what it predicts.
    pub folklore: Option<Spanned<RawExpect>>,
    pub expect: Spanned<RawExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub sysctl: Option<Table<Spanned<Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub kind: Option<Spanned<String>>,
    pub sysctl: Option<Table<Spanned<Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnection {
    pub port: Option<Spanned<Value>>,
    pub client_port: Option<Spanned<Value>>,
    pub family: Option<Spanned<Value>>,
    pub closes_first: Option<Spanned<Value>>,
    pub close: Option<Spanned<Value>>,
    pub count: Option<Spanned<Value>>,
}

/// `[topology]`: the lab's shape (Contract 5).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    pub kind: Option<Spanned<Value>>,
    pub clients: Option<Spanned<Value>>,
}

/// `[listener]`: the server's listening socket (Contract 5).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub options: Option<Spanned<Value>>,
    /// The event: close the listener and bind a new one with these options.
    pub restart: Option<Spanned<Value>>,
}

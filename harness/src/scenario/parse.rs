//! Checks every value of a scenario file on its own (types, ranges, names, expressions)
//! and turns the raw TOML into a `Spec`: settings with their positions, ready for the
//! matrix. The expectations are read in `expectations.rs`, each event's table by its
//! kind in `event/`.

use std::collections::HashSet;
use std::time::Duration;

use serde_spanned::Spanned;

use super::expectations::{FolkloreSpec, MAX_TABLE_ENTRIES, When};
use super::file::RawFile;
use super::model::{At, ClientKind, ClientPort, Close, Expect, Family, Loc};
use super::value::{
    check_sysctl_key, client_port_value, clients_value, close_value, closes_first_value,
    count_value, family_value, port_value, shape_value, sysctl_value,
};
use crate::event::restart::{Options, options_value};
use crate::event::{self, reconnect, restart, segment, syn};
use crate::lab::Shape;
use crate::read::check::Checker;
use crate::read::error::{ScenarioError, Source};
use crate::read::raw::{Table, Value};
use crate::read::setting::Setting;
use crate::release::KernelCond;
use crate::wire::Side;

pub(crate) const DEFAULT_PORT: u16 = 8888;
pub(crate) const DEFAULT_CLIENT_PORT: u16 = 12345;
pub(crate) const DEFAULT_TIMEOUT_MS: i64 = 5000;
const TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 100..=120_000;

/// A scenario file whose values are each valid; the matrix checks how they combine.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub description: String,
    pub kernel_ref: Option<String>,
    pub timeout: Duration,
    /// `[sysctl]`: both namespaces.
    pub sysctl: Vec<Setting<String>>,
    pub server_sysctl: Vec<Setting<String>>,
    pub client_sysctl: Vec<Setting<String>>,
    pub client_kind: ClientKind,
    pub port: Setting<u16>,
    pub client_port: Setting<ClientPort>,
    /// `[connection] count`.
    pub count: Setting<u32>,
    pub family: Setting<Family>,
    pub closes_first: Setting<Side>,
    pub close: Setting<Close>,
    /// `[topology] kind` and `clients`.
    pub topology: Setting<Shape>,
    pub clients: Setting<u8>,
    /// `[listener] options`: the first listener's, on the wildcard address;
    /// without a `[listener]` table, synlab's own listener on the server's
    /// address (what every scenario before Contract 5 measured).
    pub listener: Option<Setting<Options>>,
    /// The event's table, with the settings only it has.
    pub event: event::Spec,
    pub expect_loc: Loc,
    pub expect: Expect,
    pub when: Vec<When>,
    /// `kernel = ">= 6.14"`: the kernels the scenario is for.
    pub kernel: Option<At<KernelCond>>,
    /// `[folklore]`: a popular claim and the outcome it predicts.
    pub folklore: Option<FolkloreSpec>,
}

/// Checks each value of `raw` and returns the `Spec`, or every error found.
pub(crate) fn check(src: &Source<'_>, raw: RawFile) -> Result<Spec, ScenarioError> {
    let mut cx = Checker {
        src,
        errors: Vec::new(),
    };
    let spec = cx.spec(raw);
    ScenarioError::check_file(cx.errors)?;
    Ok(spec)
}

impl Checker<'_> {
    fn spec(&mut self, raw: RawFile) -> Spec {
        let description = raw.description.get_ref().trim().to_owned();
        if description.is_empty() {
            self.error(
                &raw.description.span(),
                "description",
                "must say what the scenario shows",
            );
        }
        self.printable(&raw.description, "description");
        let kernel_ref = raw.kernel_ref.map(|k| {
            if k.get_ref().trim().is_empty() {
                self.error(
                    &k.span(),
                    "kernel_ref",
                    "is empty; remove it or name the kernel function",
                );
            }
            self.printable(&k, "kernel_ref");
            k.into_inner()
        });
        let timeout_ms = match raw.timeout_ms {
            Some(t) if !TIMEOUT_RANGE.contains(t.get_ref()) => {
                self.error(
                    &t.span(),
                    "timeout_ms",
                    format!(
                        "{} is out of range {}..={}",
                        t.get_ref(),
                        TIMEOUT_RANGE.start(),
                        TIMEOUT_RANGE.end()
                    ),
                );
                DEFAULT_TIMEOUT_MS
            }
            Some(t) => *t.get_ref(),
            None => DEFAULT_TIMEOUT_MS,
        };
        let timeout = Duration::from_millis(timeout_ms.unsigned_abs());

        let sysctl = raw
            .sysctl
            .map(|t| self.sysctls(t.into_inner(), "sysctl", ""))
            .unwrap_or_default();
        let server_sysctl = raw
            .server
            .and_then(|s| s.into_inner().sysctl)
            .map(|t| self.sysctls(t, "server.sysctl", "server."))
            .unwrap_or_default();

        let (kind, client_sysctl) = match raw.client {
            Some(client) => {
                let client = client.into_inner();
                let sysctl = client
                    .sysctl
                    .map(|t| self.sysctls(t, "client.sysctl", "client."))
                    .unwrap_or_default();
                (client.kind, sysctl)
            }
            None => (None, Vec::new()),
        };
        let client_kind = match kind {
            None => ClientKind::Kernel,
            Some(k) => match k.get_ref().as_str() {
                "kernel" => ClientKind::Kernel,
                "raw" => ClientKind::Raw,
                other => {
                    self.error(
                        &k.span(),
                        "client.kind",
                        format!("unknown kind {other:?}, expected \"kernel\" or \"raw\""),
                    );
                    ClientKind::Kernel
                }
            },
        };

        // A default value points at the start of the file, or at its section's header.
        let file_start = self.src.loc(0);
        let (port, client_port, family, closes_first, close, count) =
            match raw.connection.map(Spanned::into_inner) {
                Some(c) => (
                    c.port,
                    c.client_port,
                    c.family,
                    c.closes_first,
                    c.close,
                    c.count,
                ),
                None => (None, None, None, None, None, None),
            };
        let port = self.setting_or(
            port,
            "connection.port",
            "port",
            port_value,
            (DEFAULT_PORT, &DEFAULT_PORT.to_string()),
            &file_start,
        );
        let client_port = self.setting_or(
            client_port,
            "connection.client_port",
            "client_port",
            client_port_value,
            (
                ClientPort::Fixed(DEFAULT_CLIENT_PORT),
                &DEFAULT_CLIENT_PORT.to_string(),
            ),
            &file_start,
        );
        let count = self.setting_or(
            count,
            "connection.count",
            "count",
            count_value,
            (1, "1"),
            &file_start,
        );
        let mut family = self.setting_or(
            family,
            "connection.family",
            "family",
            family_value,
            (Family::V4, Family::V4.as_str()),
            &file_start,
        );
        family.bare = true;
        let closes_first = self.setting_or(
            closes_first,
            "connection.closes_first",
            "closes_first",
            closes_first_value,
            (Side::Server, "server"),
            &file_start,
        );
        let close = self.setting_or(
            close,
            "connection.close",
            "close",
            close_value,
            (Close::Fin, "fin"),
            &file_start,
        );

        let (kind, clients) = match raw.topology.map(Spanned::into_inner) {
            Some(t) => (t.kind, t.clients),
            None => (None, None),
        };
        let topology = self.setting_or(
            kind,
            "topology.kind",
            "topology",
            shape_value,
            (Shape::Veth, "veth"),
            &file_start,
        );
        let clients = self.setting_or(
            clients,
            "topology.clients",
            "clients",
            clients_value,
            (1, "1"),
            &file_start,
        );

        let (listener, restart) = match raw.listener {
            Some(l) => {
                let loc = self.loc(&l.span());
                let l = l.into_inner();
                let options = self.setting_or(
                    l.options,
                    "listener.options",
                    "listener",
                    options_value,
                    (Options::Reuseaddr, "reuseaddr"),
                    &loc,
                );
                (Some(options), l.restart)
            }
            None => (None, None),
        };

        // One event per file: [second_syn] (the default), [segment],
        // [reconnect] or [listener] restart.
        let tables = [
            raw.second_syn.as_ref().map(|t| ("second_syn", t.span())),
            raw.segment.as_ref().map(|t| ("segment", t.span())),
            raw.reconnect.as_ref().map(|t| ("reconnect", t.span())),
            restart.as_ref().map(|t| ("listener.restart", t.span())),
        ];
        let given: Vec<(&str, std::ops::Range<usize>)> = tables.into_iter().flatten().collect();
        if let [(first, _), (second, span), ..] = given.as_slice() {
            self.error(
                span,
                second,
                format!(
                    "a scenario has one event: [{first}] is already here; [second_syn], \
                     [segment], [reconnect] and [listener] restart exclude each other"
                ),
            );
        }
        let raw_client = client_kind == ClientKind::Raw;
        let event = if let Some(seg) = raw.segment {
            event::Spec::Segment(Box::new(segment::read(self, seg, raw_client)))
        } else if let Some(rec) = raw.reconnect {
            event::Spec::Reconnect(reconnect::read(self, rec))
        } else if let Some(r) = restart {
            event::Spec::Restart(restart::read(self, r))
        } else {
            event::Spec::Syn(syn::read(self, raw.second_syn, &file_start, raw_client))
        };
        let kernel = raw
            .kernel
            .and_then(|k| match KernelCond::parse(k.get_ref()) {
                Ok(value) => Some(At {
                    value,
                    loc: self.loc(&k.span()),
                }),
                Err(e) => {
                    self.error(&k.span(), "kernel", e.to_string());
                    None
                }
            });
        let expect_loc = self.loc(&raw.expect.span());
        let mut top = raw.expect.into_inner();
        self.misplaced(&mut top, "expect", &["when"]);
        let when_list = top.when.take().unwrap_or_default();
        let expect = self.expect("expect", top);
        let when = when_list
            .into_iter()
            .enumerate()
            .map(|(i, w)| self.when("expect", i, w))
            .collect();
        let folklore = raw.folklore.map(|f| self.folklore(f));

        Spec {
            description,
            kernel_ref,
            timeout,
            sysctl,
            server_sysctl,
            client_sysctl,
            client_kind,
            port,
            client_port,
            count,
            family,
            closes_first,
            close,
            topology,
            clients,
            listener,
            event,
            kernel,
            folklore,
            expect_loc,
            expect,
            when,
        }
    }

    /// Reads a sysctl table; `side` is `""`, `"server."` or `"client."` for axis labels.
    fn sysctls(
        &mut self,
        table: Table<Spanned<Value>>,
        table_field: &str,
        side: &str,
    ) -> Vec<Setting<String>> {
        let mut out: Vec<Setting<String>> = Vec::new();
        let entries = table.flatten();
        if let Some((key, _)) = entries.get(MAX_TABLE_ENTRIES) {
            self.error(
                &key.span(),
                table_field,
                format!(
                    "{} sysctls, more than the {MAX_TABLE_ENTRIES} one table may set",
                    entries.len()
                ),
            );
            return out;
        }
        let mut seen = HashSet::new();
        for (key, value) in entries {
            let field = format!("{table_field}.{:?}", key.get_ref());
            if let Err(message) = check_sysctl_key(key.get_ref()) {
                self.error(&key.span(), &field, message);
                continue;
            }
            // Quoted and dotted spellings of one key both land here.
            if !seen.insert(key.get_ref().clone()) {
                self.error(&key.span(), &field, "is set twice");
                continue;
            }
            if matches!(value.get_ref(), Value::Table(_)) {
                self.error(
                    &value.span(),
                    &field,
                    "expected a value or a list of values, found a table \
                     (a quoted key is the whole sysctl name)",
                );
                continue;
            }
            let last = key.get_ref().rsplit('.').next().unwrap_or_default();
            let label = format!("{side}{last}");
            if let Some(mut s) = self.choices(value, &field, key.get_ref(), &label, sysctl_value) {
                s.long_label = format!("{side}{}", key.get_ref());
                out.push(s);
            }
        }
        out
    }
}

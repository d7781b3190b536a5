//! Checks every value of a scenario file on its own (types, ranges, names, expressions)
//! and turns the raw TOML into a `Spec`: settings with their positions, ready for the matrix.

use std::collections::HashSet;
use std::time::Duration;

use serde_spanned::Spanned;

use crate::release::KernelCond;

use super::error::{ScenarioError, Source};
use super::model::{At, ClientKind, Expect, Family, Loc, MAX_CASES, SeqExpr, Step, TsExpr};
use super::model::{Close, PortMode};
use super::raw::{RawExpect, RawFile, Scalar, Table, Value};
use super::value::{
    CounterError, ack_value, after_ms_value, check_sysctl_key, close_value, closes_first_value,
    counter_check, family_value, flags_value, len_value, port_mode_value, port_value, seq_value,
    sysctl_value, ts_value,
};
use crate::wire::Side;

pub(crate) const DEFAULT_PORT: u16 = 8888;
pub(crate) const DEFAULT_CLIENT_PORT: u16 = 12345;
pub(crate) const DEFAULT_TIMEOUT_MS: i64 = 5000;
const TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 100..=120_000;
/// More entries than this in one sysctl or counters table is a generated file gone wrong;
/// refusing it keeps the matrix (which copies every sysctl into every case) small.
pub(crate) const MAX_TABLE_ENTRIES: usize = 128;

/// One value a setting can take.
#[derive(Debug, Clone)]
pub(crate) struct Choice<T> {
    pub value: T,
    /// The value as shown in case names and compared by `[[expect.when]]`.
    pub text: String,
    pub loc: Loc,
}

/// A setting: one value, or a list of values that makes it a matrix axis.
#[derive(Debug, Clone)]
pub(crate) struct Setting<T> {
    /// Where errors point: `connection.port`, `server.sysctl."net.ipv4.tcp_rfc1337"`.
    pub field: String,
    /// The sysctl key, or the setting's own name (`port`).
    pub key: String,
    /// Axis label (`tcp_timestamps`, `server.tcp_rfc1337`, `port`).
    pub label: String,
    /// Axis label used when `label` is already taken by an earlier axis.
    pub long_label: String,
    /// Never empty.
    pub choices: Vec<Choice<T>>,
    /// Written as a list: one case per value.
    pub axis: bool,
    /// Byte offset in the file: axes are ordered by it.
    pub pos: usize,
}

/// One `[[expect.when]]` condition: axis label = value.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub field: String,
    pub label: String,
    pub label_loc: Loc,
    pub value: Scalar,
    pub value_loc: Loc,
}

#[derive(Debug, Clone)]
pub(crate) struct When {
    pub field: String,
    pub loc: Loc,
    pub conds: Vec<Cond>,
    /// `kernel = ">= 6.16"`: decided when the case runs, on that kernel.
    pub kernel: Option<At<KernelCond>>,
    pub expect: Expect,
}

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
    pub client_port: Setting<u16>,
    pub family: Setting<Family>,
    pub closes_first: Setting<Side>,
    pub close: Setting<Close>,
    /// The event's table, with the settings only it has.
    pub event: SpecEvent,
    /// The event's seq and tsval (`[second_syn]` or `[segment]`).
    pub seq: Setting<SeqExpr>,
    pub tsval: Setting<TsExpr>,
    pub then: Vec<Step>,
    pub expect_loc: Loc,
    pub expect: Expect,
    pub when: Vec<When>,
    /// `kernel = ">= 6.14"`: the kernels the scenario is for.
    pub kernel: Option<At<KernelCond>>,
    /// `[folklore]`: a popular claim and the outcome it predicts.
    pub folklore: Option<FolkloreSpec>,
}

/// A checked `[folklore]`.
#[derive(Debug, Clone)]
pub(crate) struct FolkloreSpec {
    pub claim: String,
    pub predicts: Expect,
    pub when: Vec<When>,
}

/// Which event the file describes, and the settings only that event has.
#[derive(Debug, Clone)]
pub(crate) enum SpecEvent {
    Syn,
    Segment {
        flags: Setting<String>,
        ack: Setting<i64>,
        /// `ack` was written (not the default).
        ack_given: bool,
        len: Setting<u32>,
    },
    Reconnect {
        port: Setting<PortMode>,
        after_ms: Setting<u32>,
    },
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

struct Checker<'a> {
    src: &'a Source<'a>,
    errors: Vec<ScenarioError>,
}

impl Checker<'_> {
    fn error(&mut self, span: &std::ops::Range<usize>, field: &str, message: impl Into<String>) {
        self.errors.push(self.src.invalid(span, field, message));
    }

    fn loc(&self, span: &std::ops::Range<usize>) -> Loc {
        self.src.loc_of(span)
    }

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
        let (port, client_port, family, closes_first, close) =
            match raw.connection.map(Spanned::into_inner) {
                Some(c) => (c.port, c.client_port, c.family, c.closes_first, c.close),
                None => (None, None, None, None, None),
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
            port_value,
            (DEFAULT_CLIENT_PORT, &DEFAULT_CLIENT_PORT.to_string()),
            &file_start,
        );
        let family = self.setting_or(
            family,
            "connection.family",
            "family",
            family_value,
            (Family::V4, Family::V4.as_str()),
            &file_start,
        );
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

        // One event per file: [second_syn] (the default), [segment] or [reconnect].
        let tables = [
            raw.second_syn.as_ref().map(|t| ("second_syn", t.span())),
            raw.segment.as_ref().map(|t| ("segment", t.span())),
            raw.reconnect.as_ref().map(|t| ("reconnect", t.span())),
        ];
        let given: Vec<(&str, std::ops::Range<usize>)> = tables.into_iter().flatten().collect();
        if let [(first, _), (second, span), ..] = given.as_slice() {
            self.error(
                span,
                second,
                format!(
                    "a scenario has one event: [{first}] is already here; \
                     [second_syn], [segment] and [reconnect] exclude each other"
                ),
            );
        }
        let (seq, tsval, then, event) = if let Some(seg) = raw.segment {
            let seg_span = seg.span();
            let loc = self.loc(&seg_span);
            let seg = seg.into_inner();
            let ack_given = seg.ack.is_some();
            let flags = match seg.flags {
                Some(f) => self.setting_or(
                    Some(f),
                    "segment.flags",
                    "flags",
                    flags_value,
                    (String::new(), ""),
                    &loc,
                ),
                None => {
                    self.error(
                        &seg_span,
                        "segment.flags",
                        "is required: the segment's flags in tcpdump letters (\"F.\", \"R\", \"S\", ...)",
                    );
                    self.setting_or(
                        None,
                        "segment.flags",
                        "flags",
                        flags_value,
                        (".".to_owned(), "."),
                        &loc,
                    )
                }
            };
            let ack = self.setting_or(
                seg.ack,
                "segment.ack",
                "ack",
                ack_value,
                (0, "snd_nxt"),
                &loc,
            );
            let len = self.setting_or(seg.len, "segment.len", "len", len_value, (0, "0"), &loc);
            let seq = self.setting_or(
                seg.seq,
                "segment.seq",
                "seq",
                seq_value,
                (SeqExpr::RcvNxt(0), "rcv_nxt"),
                &loc,
            );
            let tsval = self.setting_or(
                seg.tsval,
                "segment.tsval",
                "tsval",
                ts_value,
                (TsExpr::Auto, "auto"),
                &loc,
            );
            (
                seq,
                tsval,
                Vec::new(),
                SpecEvent::Segment {
                    flags,
                    ack,
                    ack_given,
                    len,
                },
            )
        } else if let Some(rec) = raw.reconnect {
            let loc = self.loc(&rec.span());
            let rec = rec.into_inner();
            let port = self.setting_or(
                rec.port,
                "reconnect.port",
                "port",
                port_mode_value,
                (PortMode::Bind, "bind"),
                &loc,
            );
            let after_ms = self.setting_or(
                rec.after_ms,
                "reconnect.after_ms",
                "after_ms",
                after_ms_value,
                (0, "0"),
                &loc,
            );
            let seq = self.setting_or(
                None,
                "reconnect",
                "seq",
                seq_value,
                (SeqExpr::Auto, "auto"),
                &loc,
            );
            let tsval = self.setting_or(
                None,
                "reconnect",
                "tsval",
                ts_value,
                (TsExpr::Auto, "auto"),
                &loc,
            );
            (
                seq,
                tsval,
                Vec::new(),
                SpecEvent::Reconnect { port, after_ms },
            )
        } else {
            let (seq, tsval, then, syn_loc) = match raw.second_syn {
                Some(s) => {
                    let loc = self.loc(&s.span());
                    let s = s.into_inner();
                    (s.seq, s.tsval, s.then, loc)
                }
                None => (None, None, None, file_start.clone()),
            };
            let then = self.then(then, client_kind);
            let seq = self.setting_or(
                seq,
                "second_syn.seq",
                "seq",
                seq_value,
                (SeqExpr::Auto, "auto"),
                &syn_loc,
            );
            let tsval = self.setting_or(
                tsval,
                "second_syn.tsval",
                "tsval",
                ts_value,
                (TsExpr::Auto, "auto"),
                &syn_loc,
            );
            (seq, tsval, then, SpecEvent::Syn)
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
        if client_kind == ClientKind::Kernel {
            for choice in tsval.choices.iter().filter(|c| c.value != TsExpr::Auto) {
                self.errors.push(super::error::invalid(
                    choice.loc.clone(),
                    &tsval.field,
                    "a kernel client's tsval cannot be chosen; use kind = \"raw\" in [client]",
                ));
            }
        }

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
            family,
            closes_first,
            close,
            event,
            kernel,
            folklore,
            seq,
            tsval,
            then,
            expect_loc,
            expect,
            when,
        }
    }

    /// Text that reports print must not carry control characters (a terminal would obey
    /// an escape sequence); line breaks and tabs are fine.
    fn printable(&mut self, text: &Spanned<String>, field: &str) {
        if let Some(c) = text
            .get_ref()
            .chars()
            .find(|&c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.error(
                &text.span(),
                field,
                format!("contains the control character {c:?}; write plain text"),
            );
        }
    }

    /// Reads one value-or-list setting of `[connection]` or `[second_syn]`; the default
    /// when absent (or broken: the error is recorded).
    fn setting_or<T>(
        &mut self,
        raw: Option<Spanned<Value>>,
        field: &str,
        name: &str,
        convert: fn(&Scalar) -> Result<(T, String), String>,
        (default, default_text): (T, &str),
        default_loc: &Loc,
    ) -> Setting<T> {
        match raw.and_then(|raw| self.choices(raw, field, name, name, convert)) {
            Some(setting) => Setting {
                long_label: field.to_owned(),
                ..setting
            },
            None => Setting {
                field: field.to_owned(),
                key: name.to_owned(),
                label: name.to_owned(),
                long_label: field.to_owned(),
                choices: vec![Choice {
                    text: default_text.to_owned(),
                    value: default,
                    loc: default_loc.clone(),
                }],
                axis: false,
                pos: 0,
            },
        }
    }

    /// The values of a setting, each converted and checked; `None` after an error.
    fn choices<T>(
        &mut self,
        raw: Spanned<Value>,
        field: &str,
        key: &str,
        label: &str,
        convert: fn(&Scalar) -> Result<(T, String), String>,
    ) -> Option<Setting<T>> {
        let pos = raw.span().start;
        let (values, axis) = match raw.get_ref() {
            Value::One(v) => (vec![(v, raw.span())], false),
            Value::Many(list) if list.is_empty() => {
                self.error(
                    &raw.span(),
                    field,
                    "empty list: the matrix would have no cases",
                );
                return None;
            }
            Value::Many(list) if list.len() > MAX_CASES => {
                self.error(
                    &raw.span(),
                    field,
                    format!(
                        "a list of {} values would make more than the {MAX_CASES} cases allowed \
                         in one file; split the scenario",
                        list.len()
                    ),
                );
                return None;
            }
            Value::Many(list) => (list.iter().map(|v| (v.get_ref(), v.span())).collect(), true),
            Value::Table(_) => {
                self.error(
                    &raw.span(),
                    field,
                    "expected a value or a list of values, found a table",
                );
                return None;
            }
        };
        let mut choices: Vec<Choice<T>> = Vec::with_capacity(values.len());
        let mut seen = HashSet::new();
        // One error per list: the first refused value, and how many more there are.
        let mut refused: Option<(std::ops::Range<usize>, String)> = None;
        let mut more = 0;
        for (value, span) in values {
            let message = match convert(value) {
                Ok((_, text)) if seen.contains(&text) => {
                    format!("{text:?} is already in the list: two cases would have the same name")
                }
                Ok((value, text)) => {
                    seen.insert(text.clone());
                    choices.push(Choice {
                        value,
                        text,
                        loc: self.loc(&span),
                    });
                    continue;
                }
                Err(message) => message,
            };
            if refused.is_none() {
                refused = Some((span, message));
            } else {
                more += 1;
            }
        }
        if let Some((span, mut message)) = refused {
            match more {
                0 => {}
                1 => message.push_str(" (and 1 more value of this list)"),
                n => message.push_str(&format!(" (and {n} more values of this list)")),
            }
            self.error(&span, field, message);
            return None;
        }
        Some(Setting {
            field: field.to_owned(),
            key: key.to_owned(),
            label: label.to_owned(),
            long_label: label.to_owned(),
            choices,
            axis,
            pos,
        })
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

    /// `[second_syn] then`: the raw peer's steps after the answer.
    fn then(&mut self, raw: Option<Spanned<Vec<Spanned<String>>>>, kind: ClientKind) -> Vec<Step> {
        let Some(list) = raw else {
            return Vec::new();
        };
        if kind != ClientKind::Raw {
            self.error(
                &list.span(),
                "second_syn.then",
                "a kernel client answers by itself (RST, retry); steps are for kind = \"raw\" in [client]",
            );
            return Vec::new();
        }
        let span = list.span();
        let mut steps = Vec::new();
        for item in list.into_inner() {
            match item.get_ref().as_str() {
                "rst" => steps.push(Step::Rst),
                "syn" => steps.push(Step::Syn),
                other => self.error(
                    &item.span(),
                    "second_syn.then",
                    format!("unknown step {other:?}, expected \"rst\" or \"syn\""),
                ),
            }
        }
        if steps.len() > 8 {
            self.error(&span, "second_syn.then", "more than 8 steps");
        }
        steps
    }

    /// Refuse the keys of `raw` that `table` does not take, of `match`,
    /// `claim` and `when`, at their positions.
    fn misplaced(&mut self, raw: &mut RawExpect, table: &str, allowed: &[&str]) {
        let refuse = |me: &mut Self, key: &str, span: std::ops::Range<usize>| {
            if !allowed.contains(&key) {
                let home = match key {
                    "match" => "[[expect.when]] and [[folklore.when]]",
                    "claim" => "[folklore]",
                    _ => "[expect] and [folklore]",
                };
                me.error(
                    &span,
                    &format!("{table}.{key}"),
                    format!("belongs in {home} only"),
                );
            }
        };
        if let Some(m) = &raw.matches {
            refuse(self, "match", m.span());
        }
        if let Some(c) = &raw.claim {
            refuse(self, "claim", c.span());
        }
        if let Some(w) = raw.when.as_ref().and_then(|w| w.first()) {
            refuse(self, "when", w.span());
        }
    }

    /// The expectation fields of `raw` (its `match`, `claim` and `when` are
    /// its caller's), each read by its entry of the table.
    fn expect(&mut self, prefix: &str, raw: RawExpect) -> Expect {
        let mut expect = Expect::default();
        for (key, value) in raw.fields {
            let field = format!("{prefix}.{}", key.get_ref());
            let Some((_, entry)) = crate::expect::field(key.get_ref()) else {
                let names: Vec<&str> = ["match", "claim"]
                    .into_iter()
                    .chain(crate::expect::FIELDS.iter().map(|f| f.name))
                    .chain(["counters", "client_counters", "when"])
                    .collect();
                let mut message = format!("unknown field, expected one of: {}", names.join(", "));
                if let Some(close) = super::locate::closest(key.get_ref(), &names) {
                    message.push_str(&format!(" (did you mean {close}?)"));
                }
                self.error(&key.span(), &field, message);
                continue;
            };
            let read = match value.get_ref() {
                Value::One(scalar) => entry.kind.read(scalar),
                Value::Many(_) => Err(format!("expected {}, found a list", entry.kind.expecting())),
                Value::Table(_) => Err(format!(
                    "expected {}, found a table",
                    entry.kind.expecting()
                )),
            };
            match read {
                Ok(want) => expect.set(
                    entry.name,
                    At {
                        value: want,
                        loc: self.loc(&value.span()),
                    },
                ),
                Err(message) => self.error(&value.span(), &field, message),
            }
        }
        expect.counters = self.counters(&format!("{prefix}.counters"), raw.counters);
        expect.client_counters =
            self.counters(&format!("{prefix}.client_counters"), raw.client_counters);
        expect
    }

    /// A counters table: each name one some kernel prints, each delta possible.
    fn counters(
        &mut self,
        field: &str,
        table: Option<Table<Spanned<i64>>>,
    ) -> Vec<At<(String, i64)>> {
        let mut entries = table.map(|t| t.0).unwrap_or_default();
        entries.sort_by_key(|(k, _)| k.span().start);
        if let Some((key, _)) = entries.get(MAX_TABLE_ENTRIES) {
            self.error(
                &key.span(),
                field,
                format!(
                    "{} counters, more than the {MAX_TABLE_ENTRIES} one table may check",
                    entries.len()
                ),
            );
            entries.clear();
        }
        let mut list = Vec::new();
        for (key, value) in entries {
            let field = format!("{field}.{:?}", key.get_ref());
            match counter_check(key.get_ref(), *value.get_ref()) {
                Ok(()) => {}
                // A wrong delta points at the value, a wrong name at the key.
                Err(CounterError::Delta(message)) => {
                    self.error(&value.span(), &field, message);
                    continue;
                }
                Err(CounterError::Name(message)) => {
                    self.error(&key.span(), &field, message);
                    continue;
                }
            }
            list.push(At {
                value: (key.get_ref().clone(), *value.get_ref()),
                loc: self.loc(&value.span()),
            });
        }
        list
    }

    /// `[folklore]`: its claim must say something; its predictions read like
    /// an expectation; its overrides may not depend on the kernel (a claim
    /// is about TCP, not about a release).
    fn folklore(&mut self, raw: Spanned<RawExpect>) -> FolkloreSpec {
        let span = raw.span();
        let mut raw = raw.into_inner();
        self.misplaced(&mut raw, "folklore", &["claim", "when"]);
        let claim = raw.claim.take();
        let when = raw.when.take();
        let claim = match claim {
            Some(c) if !c.get_ref().trim().is_empty() => {
                self.printable(&c, "folklore.claim");
                c.into_inner()
            }
            Some(c) => {
                self.error(&c.span(), "folklore.claim", "must say what the claim is");
                String::new()
            }
            None => {
                self.error(&span, "folklore.claim", "is required: the claim in words");
                String::new()
            }
        };
        let predicts = self.expect("folklore", raw);
        let when: Vec<When> = when
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, w)| self.when("folklore", i, w))
            .collect();
        for w in &when {
            if let Some(k) = &w.kernel {
                self.errors.push(super::error::invalid(
                    k.loc.clone(),
                    &w.field,
                    "a claim does not depend on the kernel; state per kernel what the kernel \
                     does in [[expect.when]] instead",
                ));
            }
        }
        let nothing = predicts == Expect::default() && when.is_empty();
        if nothing {
            self.error(
                &span,
                "folklore",
                "predicts nothing: give the outcome the claim predicts (answer, time_wait_after, ...)",
            );
        }
        FolkloreSpec {
            claim: claim.trim().to_owned(),
            predicts,
            when,
        }
    }

    fn when(&mut self, table: &str, index: usize, raw: Spanned<RawExpect>) -> When {
        let field = format!("{table}.when[{index}]");
        let loc = self.loc(&raw.span());
        let mut raw = raw.into_inner();
        self.misplaced(&mut raw, &field, &["match"]);
        let matches = raw.matches.take();
        // Its expectations first: a misspelt key is the error to see first.
        let expect = self.expect(&field, raw);
        let matches = match matches {
            Some(m) => m.into_inner(),
            None => {
                self.errors.push(super::error::invalid(
                    loc.clone(),
                    format!("{field}.match"),
                    "is missing: the axis values (or kernel) the override is for",
                ));
                Table(Vec::new())
            }
        };
        let match_field = format!("{field}.match");
        let mut conds = Vec::new();
        let mut kernel = None;
        for (key, value) in matches.flatten() {
            let cond_field = format!("{match_field}.{:?}", key.get_ref());
            let value_span = value.span();
            if key.get_ref() == "kernel" {
                match value.into_inner() {
                    Value::One(Scalar::Str(text)) => match KernelCond::parse(&text) {
                        Ok(cond) if kernel.is_none() => {
                            kernel = Some(At {
                                value: cond,
                                loc: self.loc(&value_span),
                            });
                        }
                        Ok(_) => self.error(&key.span(), &cond_field, "kernel is matched twice"),
                        Err(e) => self.error(&value_span, &cond_field, e.to_string()),
                    },
                    _ => self.error(
                        &value_span,
                        &cond_field,
                        "expected a string of comparisons on the kernel release, like \">= 6.16\"",
                    ),
                }
                continue;
            }
            match value.into_inner() {
                Value::One(scalar) => conds.push(Cond {
                    field: cond_field,
                    label_loc: self.loc(&key.span()),
                    label: key.into_inner(),
                    value: scalar,
                    value_loc: self.loc(&value_span),
                }),
                _ => self.error(&value_span, &cond_field, "expected one value of the axis"),
            }
        }
        for (i, c) in conds.iter().enumerate() {
            if conds[..i].iter().any(|d| d.label == c.label) {
                self.errors.push(super::error::invalid(
                    c.label_loc.clone(),
                    &c.field,
                    format!("axis {:?} is matched twice", c.label),
                ));
            }
        }
        When {
            field,
            loc,
            conds,
            kernel,
            expect,
        }
    }
}

//! Expectations of a scenario file: `[expect]`, each `[[expect.when]]`,
//! `[folklore]` and each `[[folklore.when]]`, read field by field through the
//! table of `expect::fields`, with the counters and the override conditions.

use serde_spanned::Spanned;

use super::value::{CounterError, counter_check};
use crate::expect::Expect;
use crate::loc::{At, Loc};
use crate::read::check::Checker;
use crate::read::raw::{RawExpect, Scalar, Table, Value};
use crate::release::KernelCond;

/// More entries than this in one sysctl or counters table is a generated file gone wrong;
/// refusing it keeps the matrix (which copies every sysctl into every case) small.
pub(crate) const MAX_TABLE_ENTRIES: usize = 128;

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

/// A checked `[folklore]`.
#[derive(Debug, Clone)]
pub(crate) struct FolkloreSpec {
    pub claim: String,
    pub predicts: Expect,
    pub when: Vec<When>,
}

impl Checker<'_> {
    /// Refuse the keys of `raw` that `table` does not take, of `match`,
    /// `claim` and `when`, at their positions.
    pub fn misplaced(&mut self, raw: &mut RawExpect, table: &str, allowed: &[&str]) {
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
    pub fn expect(&mut self, prefix: &str, raw: RawExpect) -> Expect {
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
    pub fn folklore(&mut self, raw: Spanned<RawExpect>) -> FolkloreSpec {
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
                self.errors.push(crate::read::error::invalid(
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

    pub fn when(&mut self, table: &str, index: usize, raw: Spanned<RawExpect>) -> When {
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
                self.errors.push(crate::read::error::invalid(
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
                self.errors.push(crate::read::error::invalid(
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

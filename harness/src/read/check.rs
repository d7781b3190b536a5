//! The checker every table's reader shares: it records each refused value at
//! its `file:line:column` with its field, and reads a value-or-list setting
//! with its converter. The tables themselves are read in `scenario/parse.rs`,
//! `scenario/expectations.rs` and each event kind's file (`event/`).

use std::collections::HashSet;
use std::ops::Range;

use serde_spanned::Spanned;

use super::error::{ScenarioError, Source};
use super::raw::Value;
use super::setting::{Choice, Convert, MAX_CASES, Setting};
use crate::loc::Loc;

pub(crate) struct Checker<'a> {
    pub src: &'a Source<'a>,
    pub errors: Vec<ScenarioError>,
}

impl Checker<'_> {
    pub fn error(&mut self, span: &Range<usize>, field: &str, message: impl Into<String>) {
        self.errors.push(self.src.invalid(span, field, message));
    }

    /// An error at a position already turned into a `Loc`.
    pub fn error_at(&mut self, loc: Loc, field: &str, message: impl Into<String>) {
        self.errors.push(super::error::invalid(loc, field, message));
    }

    pub fn loc(&self, span: &Range<usize>) -> Loc {
        self.src.loc_of(span)
    }

    /// Text that reports print must not carry control characters (a terminal would obey
    /// an escape sequence); line breaks and tabs are fine.
    pub fn printable(&mut self, text: &Spanned<String>, field: &str) {
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
    pub fn setting_or<T>(
        &mut self,
        raw: Option<Spanned<Value>>,
        field: &str,
        name: &str,
        convert: Convert<T>,
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
                bare: false,
                convert,
            },
        }
    }

    /// The values of a setting, each converted and checked; `None` after an error.
    pub fn choices<T>(
        &mut self,
        raw: Spanned<Value>,
        field: &str,
        key: &str,
        label: &str,
        convert: Convert<T>,
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
        let mut refused: Option<(Range<usize>, String)> = None;
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
            bare: false,
            convert,
        })
    }
}

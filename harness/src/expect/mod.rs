//! Expectations as a table. Each expectation a scenario may state (`[expect]`,
//! `[[expect.when]]`, `[folklore]`) is one [`Field`] of [`fields::FIELDS`]: its
//! name, how its value is read from the file, what the case showed for it (or
//! why this kernel gave no way to tell), which events it belongs to and what
//! the executor must measure for it. Reading, the `when` merge, the judge and
//! the JSON `checks` are loops over that table; the MIB counters, keyed by
//! counter name, are the one expectation with a shape of its own.

pub mod fields;

use std::collections::BTreeMap;
use std::fmt;

use crate::evidence::Outcome;
use crate::loc::At;
use crate::read::raw::Scalar;

pub use fields::FIELDS;

/// A value one expectation holds, checked against its field's [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Bool(bool),
    Count(u32),
    /// An answer (`syn-ack`), an errno name (`EADDRINUSE`) or `ok`.
    Word(String),
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Want::Bool(b) => write!(f, "{b}"),
            Want::Count(n) => write!(f, "{n}"),
            Want::Word(w) => f.write_str(w),
        }
    }
}

/// What values a field takes, and the refusal message for any other.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    /// A whole number in this range.
    Count {
        min: u32,
        max: u32,
    },
    /// One of these words; `noun` names them in the refusal ("answer").
    OneOf {
        noun: &'static str,
        words: &'static [&'static str],
    },
    /// `"ok"` or the name of an errno as a system call returns it.
    Errno,
}

impl Kind {
    /// What the value must be, for "expected X, found Y" messages.
    pub fn expecting(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean",
            Kind::Count { .. } => "an integer",
            Kind::OneOf { .. } | Kind::Errno => "a string",
        }
    }

    /// Read a scalar of the file as this kind of value.
    pub fn read(self, v: &Scalar) -> Result<Want, String> {
        match (self, v) {
            (Kind::Bool, Scalar::Bool(b)) => Ok(Want::Bool(*b)),
            (Kind::Bool, other) => Err(self.found(other)),
            (Kind::Count { min, max }, Scalar::Int(n)) => u32::try_from(*n)
                .ok()
                .filter(|n| (min..=max).contains(n))
                .map(Want::Count)
                .ok_or_else(|| format!("{n} is out of range {min}..={max}")),
            (Kind::Count { .. }, other) => Err(self.found(other)),
            (Kind::OneOf { noun, words }, Scalar::Str(s)) => {
                if words.contains(&s.as_str()) {
                    Ok(Want::Word(s.clone()))
                } else {
                    let list: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
                    Err(format!(
                        "unknown {noun} {s:?}, expected one of {}",
                        list.join(", ")
                    ))
                }
            }
            (Kind::Errno, Scalar::Str(s)) => {
                let known = |name: &str| {
                    (1..200).any(|n| format!("{:?}", nix::errno::Errno::from_raw(n)) == name)
                };
                if s == "ok" || (s.starts_with('E') && known(s)) {
                    Ok(Want::Word(s.clone()))
                } else {
                    Err(format!(
                        "{s:?}: expected \"ok\" or the name of an errno as connect() or bind() \
                         return it (\"EADDRNOTAVAIL\", \"EADDRINUSE\", \"ECONNREFUSED\", ...)"
                    ))
                }
            }
            (Kind::OneOf { .. } | Kind::Errno, other) => Err(self.found(other)),
        }
    }

    fn found(self, other: &Scalar) -> String {
        format!("expected {}, found {}", self.expecting(), other.kind())
    }
}

/// Evidence the executor gathers only for a case that judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Let TIME_WAIT age before the event, so a re-armed timer can be told
    /// from one left alone.
    TimerAge,
}

/// One expectation a scenario may state.
pub struct Field {
    /// The key in `[expect]` and `[folklore]`, and the check's name.
    pub name: &'static str,
    /// What it checks, in a sentence (the README and `synlab schema` say it).
    pub doc: &'static str,
    pub kind: Kind,
    /// What the case showed, as the file would write it; `Err` with the
    /// reason when it could not be told (then the check is `unchecked`, and
    /// the case at best `partial`).
    pub seen: fn(&Outcome) -> Result<String, &'static str>,
    /// Whether the field is an expectation of an event kind (`"syn"`,
    /// `"segment"`, `"reconnect"`, `"restart"`); `Err` says why not.
    pub fits: fn(event: &str) -> Result<(), &'static str>,
    pub needs: Option<Measure>,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Any event.
pub(crate) fn any_event(_: &str) -> Result<(), &'static str> {
    Ok(())
}

/// The field named `name`, with its place in the table.
pub fn field(name: &str) -> Option<(usize, &'static Field)> {
    FIELDS.iter().enumerate().find(|(_, f)| f.name == name)
}

/// A counter expectation: `(TcpExt.Name, delta)`.
pub type CounterWant = At<(String, i64)>;

/// The expectations of one case (or one override of them): each field at most
/// once, in table order, and the counters of each namespace in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expect {
    fields: BTreeMap<usize, At<Want>>,
    /// Exact deltas of MIB counters in the server namespace.
    pub counters: Vec<CounterWant>,
    /// The same for the client namespace.
    pub client_counters: Vec<CounterWant>,
}

impl Expect {
    /// Set `name` (a field of the table).
    ///
    /// # Panics
    /// When `name` is not in the table: a bug in the caller, never user input.
    pub fn set(&mut self, name: &str, want: At<Want>) {
        let (i, _) = field(name).unwrap_or_else(|| panic!("no expectation field {name:?}"));
        self.fields.insert(i, want);
    }

    /// The value expected for `name`, if the case states one.
    pub fn get(&self, name: &str) -> Option<&At<Want>> {
        field(name).and_then(|(i, _)| self.fields.get(&i))
    }

    /// Every field set, in table order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static Field, &At<Want>)> {
        self.fields.iter().map(|(&i, w)| (&FIELDS[i], w))
    }

    /// Nothing to check.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.counters.is_empty() && self.client_counters.is_empty()
    }

    /// What the executor must measure for these expectations.
    pub fn needs(&self) -> impl Iterator<Item = Measure> + '_ {
        self.fields().filter_map(|(f, _)| f.needs)
    }

    /// Apply an override (`[[expect.when]]`): it replaces the fields it sets;
    /// its counters replace or add single keys.
    pub fn merge(&mut self, over: &Expect) {
        for (&i, w) in &over.fields {
            self.fields.insert(i, w.clone());
        }
        merge_counters(&mut self.counters, &over.counters);
        merge_counters(&mut self.client_counters, &over.client_counters);
    }
}

/// Counters of an override replace or add single keys.
fn merge_counters(base: &mut Vec<CounterWant>, over: &[CounterWant]) {
    for counter in over {
        match base.iter_mut().find(|c| c.value.0 == counter.value.0) {
            Some(c) => c.clone_from(counter),
            None => base.push(counter.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_unique_name_and_a_sentence() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[..i].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
            assert!(f.doc.ends_with('.'), "{}: {}", f.name, f.doc);
        }
    }

    #[test]
    fn kinds_read_what_they_take_and_say_what_they_refuse() {
        let answer = field("answer").expect("answer").1.kind;
        assert_eq!(
            answer.read(&Scalar::Str("ack".into())),
            Ok(Want::Word("ack".into()))
        );
        let e = answer.read(&Scalar::Str("syn_ack".into())).unwrap_err();
        assert!(e.starts_with("unknown answer \"syn_ack\""), "{e}");
        let syns = field("client_syns").expect("client_syns").1.kind;
        assert_eq!(
            syns.read(&Scalar::Bool(true)).unwrap_err(),
            "expected an integer, found a boolean"
        );
        assert_eq!(
            syns.read(&Scalar::Int(0)).unwrap_err(),
            "0 is out of range 1..=10"
        );
        let connect = field("connect").expect("connect").1.kind;
        assert!(connect.read(&Scalar::Str("EADDRNOTAVAIL".into())).is_ok());
        assert!(connect.read(&Scalar::Str("EWHATEVER".into())).is_err());
    }
}

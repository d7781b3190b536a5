//! The values of a scenario file exactly as TOML spells them, with every
//! position kept: serde types only, no checks beyond TOML types and unknown
//! keys. The file's shape, table by table, is `scenario/file.rs`.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_spanned::Spanned;

/// `[expect]`, each `[[expect.when]]`, `[folklore]` and each
/// `[[folklore.when]]`: one shape. `match` (the overrides), `claim`
/// (`[folklore]`) and `when` (the two tables) are refused by the checks where
/// they do not belong; the counters are tables of their own; every other key
/// is an expectation, read by its entry of the table in `expect::fields`
/// (an unknown key is refused there, at its position).
#[derive(Debug, Default)]
pub struct RawExpect {
    pub matches: Option<Spanned<Table<Spanned<Value>>>>,
    pub claim: Option<Spanned<String>>,
    pub counters: Option<Table<Spanned<i64>>>,
    pub client_counters: Option<Table<Spanned<i64>>>,
    pub when: Option<Vec<Spanned<RawExpect>>>,
    /// The expectations, each key and value with its position, in file order.
    pub fields: Vec<(Spanned<String>, Spanned<Value>)>,
}

impl<'de> Deserialize<'de> for RawExpect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawExpectVisitor)
    }
}

struct RawExpectVisitor;

impl<'de> Visitor<'de> for RawExpectVisitor {
    type Value = RawExpect;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of expectations")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawExpect, A::Error> {
        let mut out = RawExpect::default();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let twice = || de::Error::custom(format!("duplicate key `{}`", key.get_ref()));
            match key.get_ref().as_str() {
                "match" if out.matches.is_none() => out.matches = Some(map.next_value()?),
                "claim" if out.claim.is_none() => out.claim = Some(map.next_value()?),
                "counters" if out.counters.is_none() => out.counters = Some(map.next_value()?),
                "client_counters" if out.client_counters.is_none() => {
                    out.client_counters = Some(map.next_value()?);
                }
                "when" if out.when.is_none() => out.when = Some(map.next_value()?),
                "match" | "claim" | "counters" | "client_counters" | "when" => {
                    return Err(twice());
                }
                _ => {
                    let value = map.next_value::<Spanned<Value>>()?;
                    out.fields.push((key, value));
                }
            }
        }
        out.fields.sort_by_key(|(k, _)| k.span().start);
        Ok(out)
    }
}

/// A TOML table kept as its entries, each key with its position. The entries come in
/// the order toml hands them out, which need not be file order: sort by span for that.
#[derive(Debug)]
pub struct Table<V>(pub Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Table<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TableVisitor(PhantomData))
    }
}

struct TableVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for TableVisitor<V> {
    type Value = Table<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<V>()?;
            entries.push((key, value));
        }
        Ok(Table(entries))
    }
}

/// A single TOML value of the kinds a setting may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    Int(i64),
    Bool(bool),
    Str(String),
}

impl Scalar {
    /// What the value is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Scalar::Int(_) => "an integer",
            Scalar::Bool(_) => "a boolean",
            Scalar::Str(_) => "a string",
        }
    }
}

impl Scalar {
    /// A string among `names`, as the value it names.
    pub fn one_of<T: Copy>(&self, names: &[(&str, T)]) -> Result<(T, String), String> {
        let list = names
            .iter()
            .map(|(n, _)| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(" or ");
        match self {
            Scalar::Str(s) => names
                .iter()
                .find(|(n, _)| n == s)
                .map(|(n, t)| (*t, (*n).to_owned()))
                .ok_or_else(|| format!("unknown value {s:?}, expected {list}")),
            other => Err(format!("expected {list}, found {}", other.kind())),
        }
    }

    /// An integer in `range`, and its text.
    pub fn int_in(&self, range: std::ops::RangeInclusive<i64>) -> Result<(u32, String), String> {
        match self {
            Scalar::Int(n) if range.contains(n) => {
                let n = u32::try_from(*n).map_err(|_| format!("{n} is out of range"))?;
                Ok((n, n.to_string()))
            }
            Scalar::Int(n) => Err(format!(
                "{n} is out of range {}..={}",
                range.start(),
                range.end()
            )),
            other => Err(format!("expected an integer, found {}", other.kind())),
        }
    }
}

impl fmt::Display for Scalar {
    /// The value as sysctl(8) would write it: booleans become `1` / `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Bool(b) => f.write_str(if *b { "1" } else { "0" }),
            Scalar::Str(s) => f.write_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

pub(crate) const SCALAR_EXPECTING: &str = "an integer, a boolean or a string";

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCALAR_EXPECTING)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        i64::try_from(v)
            .map(Scalar::Int)
            .map_err(|_| E::custom(format!("integer {v} does not fit in 64 bits")))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar, E> {
        Err(E::custom(format!("integer {v} does not fit in 64 bits")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar, E> {
        Err(E::custom(format!("integer {v} does not fit in 64 bits")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
}

/// Any value of a setting: one scalar, a list of them (a matrix axis), or a table when a
/// key was written dotted and unquoted (`net.ipv4.tcp_timestamps = 0` is, in TOML,
/// `net = { ipv4 = { tcp_timestamps = 0 } }`).
#[derive(Debug)]
pub enum Value {
    One(Scalar),
    Many(Vec<Spanned<Scalar>>),
    Table(Table<Spanned<Value>>),
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCALAR_EXPECTING}, or a list of them")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        ScalarVisitor.visit_bool(v).map(Value::One)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        ScalarVisitor.visit_i64(v).map(Value::One)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        ScalarVisitor.visit_u64(v).map(Value::One)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        ScalarVisitor.visit_i128(v).map(Value::One)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        ScalarVisitor.visit_u128(v).map(Value::One)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        ScalarVisitor.visit_str(v).map(Value::One)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        ScalarVisitor.visit_string(v).map(Value::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(v) = seq.next_element::<Spanned<Scalar>>()? {
            values.push(v);
        }
        Ok(Value::Many(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        TableVisitor(PhantomData).visit_map(map).map(Value::Table)
    }
}

impl Table<Spanned<Value>> {
    /// The entries with nested tables flattened into dotted keys, in file order (the order
    /// of their values: toml hands nested keys out sorted). Each key keeps the span of its
    /// first (outermost) part. A key with a dot in it was quoted, so it is a whole name:
    /// a table under it stays a `Value::Table`, for the caller to refuse (else
    /// `"net.ipv4.tcp_sack" = { x = 1 }` would quietly become `net.ipv4.tcp_sack.x`).
    pub fn flatten(self) -> Vec<(Spanned<String>, Spanned<Value>)> {
        let mut out = Vec::new();
        flatten_into(None, self, &mut out);
        out.sort_by_key(|(_, v)| v.span().start);
        out
    }
}

fn flatten_into(
    prefix: Option<&Spanned<String>>,
    table: Table<Spanned<Value>>,
    out: &mut Vec<(Spanned<String>, Spanned<Value>)>,
) {
    for (key, value) in table.0 {
        let part_is_quoted_name = key.get_ref().contains('.');
        let key = match prefix {
            Some(p) => Spanned::new(p.span(), format!("{}.{}", p.get_ref(), key.get_ref())),
            None => key,
        };
        let span = value.span();
        match value.into_inner() {
            Value::Table(inner) if !part_is_quoted_name => flatten_into(Some(&key), inner, out),
            other => out.push((key, Spanned::new(span, other))),
        }
    }
}

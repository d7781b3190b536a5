//! A setting of a scenario file: one value, or a list of values that makes it an
//! axis of the case matrix. Every table's reader (the connection, the sysctls,
//! each event kind) produces settings; the matrix sees them only through
//! [`Axis`] and picks one choice of each per case through [`Sel`].

use super::raw::Scalar;
use crate::loc::{At, Loc};

/// More cases than this in one file is an error: a matrix that large is a typo.
pub const MAX_CASES: usize = 256;

/// How a value of the file becomes a setting's value, and the text case names
/// and `[[expect.when]]` use for it.
pub(crate) type Convert<T> = fn(&Scalar) -> Result<(T, String), String>;

/// One value a setting can take.
#[derive(Debug, Clone)]
pub(crate) struct Choice<T> {
    pub value: T,
    /// The value as shown in case names and compared by `[[expect.when]]`.
    pub text: String,
    pub loc: Loc,
}

impl<T: Clone> Choice<T> {
    /// The value with where the file wrote it.
    pub fn at(&self) -> At<T> {
        At {
            value: self.value.clone(),
            loc: self.loc.clone(),
        }
    }
}

/// A setting: one value, or a list of values that makes it a matrix axis.
#[derive(Debug, Clone)]
pub(crate) struct Setting<T> {
    /// Where errors point, and the setting's identity in the matrix:
    /// `connection.port`, `server.sysctl."net.ipv4.tcp_rfc1337"`.
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
    /// Case names show the bare value (`ts-off/ipv6`), not `label=value`.
    pub bare: bool,
    pub convert: Convert<T>,
}

impl<T> Setting<T> {
    /// The choice `sel` picked for this setting (its only one when it is no axis).
    pub fn pick(&self, sel: &Sel<'_>) -> &Choice<T> {
        let i = sel.index(&self.field);
        self.choices.get(i).unwrap_or(&self.choices[0])
    }

    /// The location of the choice whose value is `value`, or the first one.
    pub fn loc_of(&self, value: &T) -> Loc
    where
        T: PartialEq,
    {
        self.choices
            .iter()
            .find(|c| c.value == *value)
            .unwrap_or(&self.choices[0])
            .loc
            .clone()
    }
}

/// A `[[expect.when]]` value as an axis spells its values.
pub(crate) type Normalise<'a> = Box<dyn Fn(&Scalar) -> Option<String> + 'a>;

/// A list-valued setting as the matrix sees it, whatever its type.
pub(crate) struct Axis<'a> {
    pub field: &'a str,
    pub label: String,
    /// Used instead of `label` when an earlier axis already has that label.
    pub long_label: &'a str,
    pub pos: usize,
    pub bare: bool,
    pub texts: Vec<&'a str>,
    pub loc: &'a Loc,
    /// A `[[expect.when]]` value as this axis spells its values (`None`: not
    /// a value this setting can take).
    pub normalise: Normalise<'a>,
}

impl<'a> Axis<'a> {
    /// The axis of `s`, when it is written as a list.
    pub fn of<T: 'a>(s: &'a Setting<T>) -> Option<Axis<'a>> {
        let first = s.choices.first()?;
        let convert = s.convert;
        s.axis.then(|| Axis {
            field: &s.field,
            label: s.label.clone(),
            long_label: &s.long_label,
            pos: s.pos,
            bare: s.bare,
            texts: s.choices.iter().map(|c| c.text.as_str()).collect(),
            loc: &first.loc,
            normalise: Box::new(move |v| convert(v).ok().map(|(_, text)| text)),
        })
    }

    /// The case name's component: the bare value, or `label=value`.
    pub fn component(&self, text: &str) -> String {
        if self.bare && !self.label.contains('.') {
            text.to_owned()
        } else {
            format!("{}={text}", self.label)
        }
    }
}

/// Which choice of each axis one case takes.
pub(crate) struct Sel<'a> {
    pub axes: &'a [Axis<'a>],
    pub picks: &'a [usize],
}

impl Sel<'_> {
    /// The choice index of the setting named `field` (0 when it is no axis).
    fn index(&self, field: &str) -> usize {
        self.axes
            .iter()
            .position(|a| a.field == field)
            .map_or(0, |i| self.picks[i])
    }
}

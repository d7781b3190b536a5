//! Gives toml's own errors a field, like every other error: finds the key or value that a
//! toml error's span points at, names it the way `parse.rs` does (`expect.anwser`,
//! `connection.port`, `server.sysctl."net.ipv4.x"`), and rewrites serde's wording
//! ("invalid type: floating point `8.5`, expected i64") into the file's own terms.

use std::ops::Range;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use crate::read::error::{ScenarioError, Source, one_line};

/// Tables whose keys are free-form names (sysctls, counters, axis labels): a path below
/// one of them is shown as one quoted key, `sysctl."net.ipv4.tcp_timestamps"`.
const FREE_TABLES: [&str; 3] = ["sysctl", "counters", "match"];

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Key(String),
    /// An element of an array of tables (`expect.when[0]`).
    Index(usize),
}

/// The path as shown in messages.
fn field(path: &[Part]) -> String {
    let mut out = String::new();
    let mut parts = path.iter();
    while let Some(part) = parts.next() {
        match part {
            Part::Index(i) => out.push_str(&format!("[{i}]")),
            Part::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if is_bare(key) {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("{key:?}"));
                }
                if FREE_TABLES.contains(&key.as_str()) {
                    let rest: Vec<&str> = parts
                        .by_ref()
                        .filter_map(|p| match p {
                            Part::Key(k) => Some(k.as_str()),
                            Part::Index(_) => None,
                        })
                        .collect();
                    if !rest.is_empty() {
                        out.push_str(&format!(".{:?}", rest.join(".")));
                    }
                }
            }
        }
    }
    out
}

fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The deepest key or value whose key span or value span is `span`, with its path.
fn find<'t, 'i>(
    table: &'t DeTable<'i>,
    span: &Range<usize>,
    path: &mut Vec<Part>,
) -> Option<(Vec<Part>, &'t DeValue<'i>)> {
    for (key, value) in table.iter() {
        path.push(Part::Key(key.get_ref().to_string()));
        let hit = find_in(value, span, path).or_else(|| {
            (key.span() == *span || value.span() == *span).then(|| (path.clone(), value.get_ref()))
        });
        path.pop();
        if hit.is_some() {
            return hit;
        }
    }
    None
}

fn find_in<'t, 'i>(
    value: &'t Spanned<DeValue<'i>>,
    span: &Range<usize>,
    path: &mut Vec<Part>,
) -> Option<(Vec<Part>, &'t DeValue<'i>)> {
    match value.get_ref() {
        DeValue::Table(table) => find(table, span, path),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            // Elements of a list of values share the list's field; tables get an index.
            let table = matches!(item.get_ref(), DeValue::Table(_));
            if table {
                path.push(Part::Index(i));
            }
            let hit = find_in(item, span, path)
                .or_else(|| (item.span() == *span).then(|| (path.clone(), item.get_ref())));
            if table {
                path.pop();
            }
            hit
        }),
        _ => None,
    }
}

/// Turns a toml error into a `Syntax` error (the file is not TOML) or an `Invalid` one
/// naming the field (the TOML does not fit the format: unknown, missing, wrong type).
pub(crate) fn toml_error(src: &Source<'_>, err: &toml::de::Error) -> ScenarioError {
    let span = err.span().unwrap_or(0..0);
    let message = one_line(err.message());
    // toml trips over a raw control character somewhere after it; point at the character.
    if let Some((at, c)) = src
        .text
        .char_indices()
        .take_while(|&(i, _)| i <= span.end)
        .find(|&(_, c)| (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}')
    {
        return src.syntax(
            at,
            format!(
                "control character U+{:04X} in the file; a scenario file is plain text",
                u32::from(c)
            ),
        );
    }
    match DeTable::parse(src.text) {
        Ok(doc) => {
            let hit = if span == doc.span() {
                Some((Vec::new(), None))
            } else {
                find(doc.get_ref(), &span, &mut Vec::new()).map(|(p, v)| (p, Some(v)))
            };
            if let Some((path, value)) = hit {
                let (path, message) = reword(path, value, &message);
                return src.invalid(&span, field(&path), message);
            }
        }
        Err(_) if message == "duplicate key" => {
            if let Some(e) = duplicate(src, &span) {
                return e;
            }
        }
        Err(_) => {}
    }
    let message = bare_value_hint(src.text, span.start, message);
    match value_field(src.text, span.start) {
        Some(field) => src.invalid(&span, field, message),
        None => src.syntax(span.start, message),
    }
}

/// toml calls anything unquoted that is not a number, a boolean or a date an unquoted
/// string; say what it more likely is: nothing at all, or several values.
fn bare_value_hint(text: &str, offset: usize, message: String) -> String {
    if !message.starts_with("string values must be quoted") {
        return message;
    }
    let Some((_, end)) = line_around(text, offset.min(text.len())) else {
        return message;
    };
    let rest = text.get(offset..end).unwrap_or_default();
    let bare = rest.split('#').next().unwrap_or_default().trim();
    if bare.is_empty() {
        "missing value after `=`".to_owned()
    } else if bare.contains([' ', '\t', ',']) {
        format!("{message}; several values go in a list: [a, b]")
    } else {
        message
    }
}

/// For a syntax error inside a value: the field of the `key = value` line it is on.
fn value_field(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let (start, end) = line_around(text, offset)?;
    let line = &text[start..end];
    let eq = line.find('=')?;
    if offset <= start + eq {
        return None;
    }
    let mut path = header_above(text, start)?;
    path.extend(key_parts(line[..eq].trim())?);
    Some(field(&path))
}

/// The byte range of the line holding `offset`, without its line break.
fn line_around(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let end = text[start..]
        .find(['\r', '\n'])
        .map_or(text.len(), |i| start + i);
    Some((start, end))
}

/// serde's messages in the file's terms; returns the path to show (a missing field adds
/// its name) and the message.
fn reword(mut path: Vec<Part>, value: Option<&DeValue<'_>>, message: &str) -> (Vec<Part>, String) {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((_, expected)) = rest.split_once('`')
    {
        let name = match path.last() {
            Some(Part::Key(k)) => k.clone(),
            _ => String::new(),
        };
        let names = backticked(expected);
        let mut out = if names.is_empty() {
            "unknown field".to_owned()
        } else {
            format!("unknown field, expected one of: {}", names.join(", "))
        };
        if (name == "net" || name.starts_with("net.")) && names.contains(&"sysctl") {
            let table = field(&path[..path.len().saturating_sub(1)]);
            let sysctl = if table.is_empty() {
                "[sysctl]".to_owned()
            } else {
                format!("[{table}.sysctl]")
            };
            out.push_str(&format!(" (sysctls go in {sysctl})"));
        } else if let Some(close) = closest(&name, &names) {
            out.push_str(&format!(" (did you mean {close}?)"));
        }
        return (path, out);
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        let why = match name {
            "description" => "is missing; say in one sentence what the scenario shows",
            "expect" => {
                "is missing; add an [expect] table with answer, client_syns, time_wait_after, established or counters"
            }
            "match" => "is missing; each [[expect.when]] needs match = { <axis> = <value> }",
            _ => "is missing",
        };
        path.push(Part::Key(name.to_owned()));
        return (path, why.to_owned());
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        let when = matches!(path.last(), Some(Part::Key(k)) if k == "when");
        let expected = match expected {
            e if e.starts_with(SCALAR) => setting_expectation(&path, e.len() > SCALAR.len()),
            "i64" | "u64" | "i32" | "u32" | "u16" => "an integer",
            "a sequence" if when => "a list of tables: [[expect.when]]",
            "a sequence" => "a list",
            // The key of a date-time's internal map: only a date-time gets here.
            "a spanned value" => "an integer, a boolean or a string",
            e if e.starts_with("struct ") => "a table",
            e => e,
        };
        let found = value.map_or_else(|| found.to_owned(), describe);
        return (path, format!("expected {expected}, found {found}"));
    }
    (path, message.to_owned())
}

/// What the visitors of `raw.rs` expect of a setting's value (`raw::Value`, `raw::Scalar`).
const SCALAR: &str = crate::read::raw::SCALAR_EXPECTING;

/// What a setting's value must be, by its name; `list`: a list of them is allowed too.
fn setting_expectation(path: &[Part], list: bool) -> &'static str {
    let name = path.iter().rev().find_map(|p| match p {
        Part::Key(k) if k != "sysctl" => Some(k.as_str()),
        _ => None,
    });
    let in_match = path.contains(&Part::Key("match".to_owned()));
    let in_sysctl = path.contains(&Part::Key("sysctl".to_owned()));
    match (name, list) {
        _ if in_match => "one value of the axis (an integer, a boolean or a string)",
        _ if in_sysctl && list => "an integer, a boolean or a string, or a list of them",
        _ if in_sysctl => "an integer, a boolean or a string",
        (Some("port" | "client_port"), true) => "a port number 1..=65535, or a list of them",
        (Some("port" | "client_port"), false) => "a port number 1..=65535",
        (Some("family"), true) => "\"ipv4\" or \"ipv6\", or a list of them",
        (Some("family"), false) => "\"ipv4\" or \"ipv6\"",
        (Some("seq"), true) => "a string such as \"rcv_nxt - 1000\", or a list of them",
        (Some("seq"), false) => "a string such as \"rcv_nxt - 1000\"",
        (Some("tsval"), true) => "a string such as \"ts_recent + 10\", or a list of them",
        (Some("tsval"), false) => "a string such as \"ts_recent + 10\"",
        (_, true) => "an integer, a boolean or a string, or a list of them",
        (_, false) => SCALAR,
    }
}

/// The names between backticks: "one of `a`, `b`" -> [a, b].
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The expected name closest to a misspelt one, if it is close.
pub(crate) fn closest<'a>(name: &str, names: &[&'a str]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    names
        .iter()
        .map(|n| (edit_distance(&name, n), *n))
        .filter(|&(d, n)| d <= 2.max(n.len() / 4) && d < n.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Levenshtein distance in chars (names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What a value is, for "expected X, found Y".
fn describe(value: &DeValue<'_>) -> String {
    fn short(text: &str) -> String {
        let mut s: String = text.chars().take(40).collect();
        if s.len() < text.len() {
            s.push('…');
        }
        s
    }
    match value {
        DeValue::String(s) => format!("a string ({:?})", short(s)),
        DeValue::Integer(i) => format!("an integer ({})", short(i.as_str())),
        DeValue::Float(f) => format!("a float ({})", short(f.as_str())),
        DeValue::Boolean(b) => format!("a boolean ({b})"),
        DeValue::Datetime(d) => format!("a date-time ({d})"),
        DeValue::Array(_) => "a list".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// "duplicate key" names the key, the table it is in and where it was first set. toml
/// gives only the span of the second one; the table comes from the nearest header above,
/// and the path is trusted only when the recovered document has it.
fn duplicate(src: &Source<'_>, span: &Range<usize>) -> Option<ScenarioError> {
    let (doc, _) = DeTable::parse_recoverable(src.text);
    let text = src.text;
    let (line_start, line_end) = line_around(text, span.start)?;
    let line = &text[line_start..line_end];
    if line.trim_start().starts_with('[') {
        // A table defined again: the recovered document keeps it at the second span.
        let (path, _) = find(doc.get_ref(), span, &mut Vec::new())?;
        return Some(src.invalid(
            span,
            field(&path),
            format!(
                "{} defines this table a second time; write each table once \
                 (an inline table cannot be extended; [[...]] makes a list of tables)",
                line.trim()
            ),
        ));
    }

    let mut path = header_above(text, line_start)?;
    path.extend(key_parts(text.get(span.clone())?)?);
    let first = lookup(doc.get_ref(), &path)?;
    let (first_line, _) = crate::read::error::line_column(text, first.start);
    Some(src.invalid(
        span,
        field(&path),
        format!("is set twice (first on line {first_line})"),
    ))
}

/// The path of the table that the line at `before` belongs to: the nearest header line
/// above it (with an index for `[[...]]`), or the top level.
fn header_above(text: &str, before: usize) -> Option<Vec<Part>> {
    let lines: Vec<&str> = text[..before].lines().collect();
    for (i, line) in lines.iter().enumerate().rev() {
        let header = line.trim();
        if !header.starts_with('[') {
            continue;
        }
        let Ok(doc) = DeTable::parse(header) else {
            continue;
        };
        let mut path = chain(doc.get_ref())?;
        if header.starts_with("[[") {
            let index = lines[..i].iter().filter(|l| l.trim() == header).count();
            path.push(Part::Index(index));
        }
        return Some(path);
    }
    Some(Vec::new())
}

/// The parts of a (possibly dotted, possibly quoted) key as written.
fn key_parts(key: &str) -> Option<Vec<Part>> {
    let line = format!("{key} = 0");
    let doc = DeTable::parse(&line).ok()?;
    chain(doc.get_ref())
}

/// The keys of a document that is a single chain of one-entry tables (a header or a key).
fn chain(table: &DeTable<'_>) -> Option<Vec<Part>> {
    let mut path = Vec::new();
    let mut table = table;
    loop {
        let mut entries = table.iter();
        let (key, value) = entries.next()?;
        path.push(Part::Key(key.get_ref().to_string()));
        match value.get_ref() {
            DeValue::Table(inner) if !inner.is_empty() => table = inner,
            DeValue::Array(items) => match items.last().map(Spanned::get_ref) {
                Some(DeValue::Table(inner)) if !inner.is_empty() => table = inner,
                _ => return Some(path),
            },
            _ => return Some(path),
        }
    }
}

/// The span of the key at `path`.
fn lookup(table: &DeTable<'_>, path: &[Part]) -> Option<Range<usize>> {
    let (Part::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = table.iter().find(|(k, _)| k.get_ref() == first)?;
    match rest.split_first() {
        None => Some(key.span()),
        Some((Part::Index(i), rest)) => match value.get_ref() {
            DeValue::Array(items) => match items.get(*i)?.get_ref() {
                DeValue::Table(inner) => lookup(inner, rest),
                _ => None,
            },
            _ => None,
        },
        Some(_) => match value.get_ref() {
            DeValue::Table(inner) => lookup(inner, rest),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_quote_free_keys_as_one() {
        let p = |parts: &[&str]| {
            parts
                .iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => Part::Index(i),
                    Err(_) => Part::Key((*s).to_owned()),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(field(&p(&["expect", "anwser"])), "expect.anwser");
        assert_eq!(
            field(&p(&["server", "sysctl", "net", "ipv4", "x"])),
            "server.sysctl.\"net.ipv4.x\""
        );
        assert_eq!(
            field(&p(&["expect", "when", "0", "match", "famliy"])),
            "expect.when[0].match.\"famliy\""
        );
        assert_eq!(field(&p(&["a b"])), "\"a b\"");
    }

    #[test]
    fn suggestions() {
        let names = [
            "answer",
            "client_syns",
            "time_wait_after",
            "counters",
            "when",
        ];
        assert_eq!(closest("anwser", &names), Some("answer"));
        assert_eq!(closest("Answer", &names), Some("answer"));
        assert_eq!(closest("counter", &names), Some("counters"));
        assert_eq!(closest("bogus", &names), None);
        assert_eq!(closest("w", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

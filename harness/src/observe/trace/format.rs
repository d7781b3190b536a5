//! Event formats: the id and field offsets of `events/<system>/<event>/format`,
//! and the reset reasons of its print fmt.

use std::collections::HashMap;

/// One field of an event's `format` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Field {
    pub(super) offset: usize,
    pub(super) size: usize,
}

/// An event's `format` file: its id, its fields, and the symbol table of
/// `__print_symbolic(REC->reason, ...)` when it has one.
#[derive(Debug, Clone, Default)]
pub(super) struct EventFormat {
    /// The event's name, like `inet_sock_set_state`.
    pub(super) name: String,
    pub(super) id: Option<u16>,
    fields: HashMap<String, Field>,
    pub(super) reasons: HashMap<u32, String>,
}

impl Field {
    /// The field as an unsigned number (host byte order), if it is 1, 2, 4
    /// or 8 bytes and inside `record`.
    pub(super) fn read_uint(self, record: &[u8]) -> Option<u64> {
        let b = record.get(self.offset..self.offset + self.size)?;
        Some(match self.size {
            1 => u64::from(b[0]),
            2 => u64::from(u16::from_ne_bytes(b.try_into().ok()?)),
            4 => u64::from(u32::from_ne_bytes(b.try_into().ok()?)),
            8 => u64::from_ne_bytes(b.try_into().ok()?),
            _ => return None,
        })
    }
}

impl EventFormat {
    pub(super) fn field(&self, name: &str) -> Option<Field> {
        self.fields.get(name).copied()
    }
}

/// Parses a tracefs `format` file.
pub(super) fn parse_format(text: &str) -> Result<EventFormat, String> {
    let mut format = EventFormat::default();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("name:") {
            format.name = name.trim().to_string();
        } else if let Some(id) = line.strip_prefix("ID:") {
            format.id = Some(
                id.trim()
                    .parse()
                    .map_err(|_| format!("bad ID line {line:?}"))?,
            );
        } else if let Some(decl) = line.strip_prefix("field:") {
            let mut parts = decl.split(';');
            let declaration = parts.next().unwrap_or_default();
            let name = declaration
                .split_whitespace()
                .last()
                .map(|n| n.trim_start_matches('*'))
                .map(|n| n.split('[').next().unwrap_or(n))
                .ok_or_else(|| format!("field without a name: {line:?}"))?;
            let mut offset = None;
            let mut size = None;
            for part in parts {
                if let Some((k, v)) = part.trim().split_once(':') {
                    match k {
                        "offset" => offset = v.parse().ok(),
                        "size" => size = v.parse().ok(),
                        _ => {}
                    }
                }
            }
            let (Some(offset), Some(size)) = (offset, size) else {
                return Err(format!("field without offset or size: {line:?}"));
            };
            format
                .fields
                .insert(name.to_string(), Field { offset, size });
        } else if let Some(fmt) = line.strip_prefix("print fmt:") {
            format.reasons = parse_symbols(fmt, "__print_symbolic(REC->reason,");
        }
    }
    Ok(format)
}

/// The `{ N, "NAME" }` pairs after `prefix` in a print fmt.
fn parse_symbols(fmt: &str, prefix: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    let Some(start) = fmt.find(prefix) else {
        return out;
    };
    let mut rest = &fmt[start + prefix.len()..];
    loop {
        rest = rest.trim_start_matches([' ', ',', '\t']);
        let Some(body) = rest.strip_prefix('{') else {
            break;
        };
        let Some(close) = body.find('}') else { break };
        if let Some((num, name)) = body[..close].split_once(',')
            && let Ok(n) = num.trim().parse::<u32>()
        {
            out.insert(n, name.trim().trim_matches('"').to_string());
        }
        rest = &body[close + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::tests::fixtures::{SEND_RESET_FORMAT, STATE_FORMAT};

    #[test]
    fn format_file_gives_offsets_of_every_field() {
        let f = parse_format(STATE_FORMAT).unwrap();
        assert_eq!(f.id, Some(2287));
        assert_eq!(f.name, "inet_sock_set_state");
        assert_eq!(f.field("common_pid"), Some(Field { offset: 4, size: 4 }));
        assert_eq!(f.field("skaddr"), Some(Field { offset: 8, size: 8 }));
        assert_eq!(
            f.field("saddr"),
            Some(Field {
                offset: 32,
                size: 4
            })
        );
        assert_eq!(
            f.field("saddr_v6"),
            Some(Field {
                offset: 40,
                size: 16
            })
        );
        assert_eq!(
            f.field("daddr_v6"),
            Some(Field {
                offset: 56,
                size: 16
            })
        );
    }

    #[test]
    fn send_reset_reasons_come_from_the_print_fmt() {
        let f = parse_format(SEND_RESET_FORMAT).unwrap();
        assert_eq!(f.id, Some(2280));
        assert_eq!(f.reasons.get(&1).map(String::as_str), Some("NO_SOCKET"));
        assert_eq!(
            f.reasons.get(&11).map(String::as_str),
            Some("TCP_ABORT_ON_CLOSE")
        );
        assert_eq!(f.reasons.get(&25).map(String::as_str), Some("MAX"));
        assert_eq!(
            f.field("saddr"),
            Some(Field {
                offset: 32,
                size: 28
            })
        );
    }
}

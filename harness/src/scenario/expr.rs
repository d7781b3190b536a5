//! The relative expressions of `[second_syn]` (`"rcv_nxt - 1000"`, `"ts_recent + 10"`)
//! and the mod-2^32 arithmetic that turns them into, and back from, wire numbers.

use super::model::{SeqExpr, TsExpr};

/// The largest offset an expression may add or subtract: half the sequence space.
pub const MAX_OFFSET: u64 = (1 << 31) - 1;

/// The accepted forms of `seq`, for error messages.
pub const SEQ_FORMS: &str = r#""auto", "rcv_nxt", "rcv_nxt + N" or "rcv_nxt - N""#;
/// The accepted forms of `tsval`, for error messages.
pub const TS_FORMS: &str = r#""auto", "none", "ts_recent", "ts_recent + N" or "ts_recent - N""#;

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("cannot read {text:?}: expected {forms} (N = 0..={MAX_OFFSET})")]
    Form { text: String, forms: &'static str },
    #[error("offset {offset} in {text:?} is out of range 0..={MAX_OFFSET}")]
    Range { text: String, offset: String },
    #[error(
        "cannot read {text:?}: {found:?} (U+{:04X}) looks like {ascii:?} but is not; type the ASCII {ascii:?}",
        u32::from(*found)
    )]
    Lookalike {
        text: String,
        found: char,
        ascii: char,
    },
}

/// The ASCII sign a typographic dash or plus (pasted from a document) stands for.
fn lookalike_sign(c: char) -> Option<char> {
    match c {
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}'
        | '\u{fe63}' | '\u{ff0d}' => Some('-'),
        '\u{fe62}' | '\u{ff0b}' => Some('+'),
        _ => None,
    }
}

/// Parses `seq`: `"auto" | "rcv_nxt" | "rcv_nxt + N" | "rcv_nxt - N"`.
///
/// # Errors
/// Any other text, or N above [`MAX_OFFSET`].
pub fn parse_seq(text: &str) -> Result<SeqExpr, ExprError> {
    if text.trim() == "auto" {
        return Ok(SeqExpr::Auto);
    }
    relative(text, "rcv_nxt", SEQ_FORMS).map(SeqExpr::RcvNxt)
}

/// Parses `tsval`: `"auto" | "none" | "ts_recent" | "ts_recent + N" | "ts_recent - N"`.
///
/// # Errors
/// Any other text, or N above [`MAX_OFFSET`].
pub fn parse_ts(text: &str) -> Result<TsExpr, ExprError> {
    match text.trim() {
        "auto" => Ok(TsExpr::Auto),
        "none" => Ok(TsExpr::Absent),
        _ => relative(text, "ts_recent", TS_FORMS).map(TsExpr::TsRecent),
    }
}

/// Parses `base`, `base + N` or `base - N` (whitespace anywhere between the parts)
/// and returns the signed offset.
fn relative(text: &str, base: &str, forms: &'static str) -> Result<i64, ExprError> {
    let form = || match text.chars().find_map(|c| lookalike_sign(c).map(|a| (c, a))) {
        Some((found, ascii)) => ExprError::Lookalike {
            text: text.to_owned(),
            found,
            ascii,
        },
        None => ExprError::Form {
            text: text.to_owned(),
            forms,
        },
    };
    let rest = text
        .trim()
        .strip_prefix(base)
        .ok_or_else(form)?
        .trim_start();
    if rest.is_empty() {
        return Ok(0);
    }
    let mut chars = rest.chars();
    let sign = match chars.next() {
        Some('+') => 1,
        Some('-') => -1,
        _ => return Err(form()),
    };
    let digits = chars.as_str().trim_start();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(form());
    }
    let range = || ExprError::Range {
        text: text.to_owned(),
        offset: digits.to_owned(),
    };
    let n: u64 = digits.parse().map_err(|_| range())?;
    if n > MAX_OFFSET {
        return Err(range());
    }
    // n <= 2^31 - 1, so the conversion cannot fail.
    Ok(sign * i64::try_from(n).map_err(|_| range())?)
}

/// The expression as shown in case names: its text with all whitespace removed.
#[must_use]
pub fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// `base + off` in 32-bit sequence (or timestamp) space, wrapping mod 2^32.
#[must_use]
pub fn apply_offset(base: u32, off: i64) -> u32 {
    // Truncating to u32 is reduction mod 2^32, which is what wrapping arithmetic needs.
    base.wrapping_add(off as u32)
}

/// The signed distance `a - base` in 32-bit sequence space (RFC 1982 style: within ±2^31).
#[must_use]
pub fn rel(a: u32, base: u32) -> i64 {
    i64::from(a.wrapping_sub(base) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_forms() {
        assert_eq!(parse_seq("auto"), Ok(SeqExpr::Auto));
        assert_eq!(parse_seq(" rcv_nxt "), Ok(SeqExpr::RcvNxt(0)));
        assert_eq!(parse_seq("rcv_nxt - 1000"), Ok(SeqExpr::RcvNxt(-1000)));
        assert_eq!(parse_seq("rcv_nxt-1000"), Ok(SeqExpr::RcvNxt(-1000)));
        assert_eq!(parse_seq("rcv_nxt +\t7"), Ok(SeqExpr::RcvNxt(7)));
        assert_eq!(
            parse_seq("rcv_nxt + 2147483647"),
            Ok(SeqExpr::RcvNxt(2_147_483_647))
        );
        assert_eq!(parse_seq("rcv_nxt - 0"), Ok(SeqExpr::RcvNxt(0)));
    }

    #[test]
    fn seq_refusals() {
        for bad in [
            "",
            "Auto",
            "rcv_nxt +",
            "rcv_nxt + -5",
            "rcv_nxt * 2",
            "rcv_nxt + 0x10",
            "rcv_nxt + 1 + 1",
            "snd_nxt",
            "1000",
            "rcv_nxt1",
            "ts_recent + 1",
            "rcv_nxt + １",
        ] {
            assert!(
                matches!(parse_seq(bad), Err(ExprError::Form { .. })),
                "{bad:?}"
            );
        }
        for bad in ["rcv_nxt + 2147483648", "rcv_nxt - 99999999999999999999999"] {
            assert!(
                matches!(parse_seq(bad), Err(ExprError::Range { .. })),
                "{bad:?}"
            );
        }
        let msg = parse_seq("rcv_nxt \u{2212} 1000").unwrap_err().to_string();
        assert!(
            msg.contains("'−' (U+2212) looks like '-' but is not"),
            "{msg}"
        );
        let msg = parse_seq("foo").unwrap_err().to_string();
        assert!(msg.contains("\"rcv_nxt - N\""), "{msg}");
    }

    #[test]
    fn ts_forms() {
        assert_eq!(parse_ts("auto"), Ok(TsExpr::Auto));
        assert_eq!(parse_ts("none"), Ok(TsExpr::Absent));
        assert_eq!(parse_ts("ts_recent"), Ok(TsExpr::TsRecent(0)));
        assert_eq!(parse_ts("ts_recent + 10"), Ok(TsExpr::TsRecent(10)));
        assert_eq!(parse_ts("ts_recent-10"), Ok(TsExpr::TsRecent(-10)));
        assert!(parse_ts("rcv_nxt").is_err());
        assert!(parse_ts("None").is_err());
    }

    #[test]
    fn compact_strips_whitespace() {
        assert_eq!(compact(" rcv_nxt - 1000 "), "rcv_nxt-1000");
    }

    #[test]
    fn apply_offset_wraps_both_ways() {
        assert_eq!(apply_offset(10, 5), 15);
        assert_eq!(apply_offset(10, -5), 5);
        assert_eq!(apply_offset(u32::MAX, 1), 0);
        assert_eq!(apply_offset(u32::MAX - 2, 10), 7);
        assert_eq!(apply_offset(0, -1), u32::MAX);
        assert_eq!(apply_offset(5, -1000), u32::MAX - 994);
        assert_eq!(apply_offset(0, 2_147_483_647), 0x7fff_ffff);
        assert_eq!(apply_offset(0, -2_147_483_647), 0x8000_0001);
        // Offsets beyond ±2^32 still reduce mod 2^32.
        assert_eq!(apply_offset(1, 1 << 32), 1);
        assert_eq!(apply_offset(1, -(1 << 32)), 1);
    }

    #[test]
    fn rel_is_signed_distance_across_the_wrap() {
        assert_eq!(rel(15, 10), 5);
        assert_eq!(rel(5, 10), -5);
        assert_eq!(rel(0, u32::MAX), 1);
        assert_eq!(rel(u32::MAX, 0), -1);
        assert_eq!(rel(7, u32::MAX - 2), 10);
        assert_eq!(rel(u32::MAX - 994, 5), -1000);
        assert_eq!(rel(0x7fff_ffff, 0), 2_147_483_647);
        assert_eq!(rel(0x8000_0000, 0), -2_147_483_648);
    }

    #[test]
    fn rel_inverts_apply_offset() {
        for base in [0, 1, 1000, u32::MAX / 2, u32::MAX - 1, u32::MAX] {
            for off in [0, 1, -1, 1000, -1000, 2_147_483_647, -2_147_483_647] {
                assert_eq!(rel(apply_offset(base, off), base), off, "{base} {off}");
            }
        }
    }
}

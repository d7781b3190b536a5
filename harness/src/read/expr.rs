//! The relative expressions of `[second_syn]` (`"rcv_nxt - 1000"`, `"ts_recent + 10"`)
//! (the arithmetic on the numbers they name is `wire::Seq`'s and `wire::TsVal`'s).

use super::raw::Scalar;

/// The second SYN's sequence number, relative to the server's TIME_WAIT `rcv_nxt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqExpr {
    /// Whatever the client kernel picks (`secure_tcp_seq()`).
    Auto,
    /// `rcv_nxt + offset` (offset may be negative); arithmetic is mod 2^32.
    RcvNxt(i64),
}

/// The second SYN's timestamp value, relative to the server's `ts_recent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsExpr {
    /// Kernel client: what the kernel sends. Raw peer: newer than `ts_recent` when
    /// timestamps were negotiated, no option otherwise.
    Auto,
    /// No timestamp option at all (raw peer only).
    Absent,
    /// `ts_recent + offset` (raw peer only); arithmetic is mod 2^32.
    TsRecent(i64),
}

/// The largest offset an expression may add or subtract: half the sequence space.
pub const MAX_OFFSET: u64 = (1 << 31) - 1;

/// The accepted forms of `seq`, for error messages.
pub const SEQ_FORMS: &str = r#""auto", "rcv_nxt", "rcv_nxt + N" or "rcv_nxt - N""#;
/// The accepted forms of `ack`, for error messages.
pub const ACK_FORMS: &str = r#""snd_nxt", "snd_nxt + N" or "snd_nxt - N""#;
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

/// Parses `[segment] ack`: `"snd_nxt" | "snd_nxt + N" | "snd_nxt - N"`, the
/// offset from the TIME_WAIT socket's `snd_nxt`.
///
/// # Errors
/// Any other text, or N above [`MAX_OFFSET`].
pub fn parse_ack(text: &str) -> Result<i64, ExprError> {
    relative(text, "snd_nxt", ACK_FORMS)
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

/// A `seq` value of the file, and its text as case names show it.
pub(crate) fn seq_value(v: &Scalar) -> Result<(SeqExpr, String), String> {
    match v {
        Scalar::Str(s) => parse_seq(s)
            .map(|e| (e, compact(s)))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a string such as \"rcv_nxt - 1000\" (one of {}), found {}",
            SEQ_FORMS,
            other.kind()
        )),
    }
}

/// A `tsval` value of the file, and its text as case names show it.
pub(crate) fn ts_value(v: &Scalar) -> Result<(TsExpr, String), String> {
    match v {
        Scalar::Str(s) => parse_ts(s)
            .map(|e| (e, compact(s)))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a string such as \"ts_recent + 10\" (one of {}), found {}",
            TS_FORMS,
            other.kind()
        )),
    }
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
    fn ack_forms() {
        assert_eq!(parse_ack("snd_nxt"), Ok(0));
        assert_eq!(parse_ack("snd_nxt - 1"), Ok(-1));
        assert_eq!(parse_ack("snd_nxt+70000"), Ok(70_000));
        assert!(parse_ack("rcv_nxt").is_err());
        assert!(parse_ack("auto").is_err());
    }

    #[test]
    fn compact_strips_whitespace() {
        assert_eq!(compact(" rcv_nxt - 1000 "), "rcv_nxt-1000");
    }
}

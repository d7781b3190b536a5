//! Text escaped for the markup outputs: the HTML page (elements, quoted
//! attributes, inline SVG) and the JUnit XML file share one escaping.

/// Text escaped for an element or a quoted attribute of HTML or XML.
/// Characters XML 1.0 cannot hold (control characters but tab and newline)
/// become U+FFFD; a carriage return is kept as `&#13;`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_characters_and_what_xml_cannot_hold() {
        assert_eq!(
            escape("<a href=\"x\">it's & \r\u{1}</a>\t\n"),
            "&lt;a href=&quot;x&quot;&gt;it&#39;s &amp; &#13;\u{FFFD}&lt;/a&gt;\t\n"
        );
    }
}

//! Colour for the text report, on a terminal only: the verdict word that
//! starts a line (PASS, FAIL, PARTIAL, ERROR, SKIP). Written through anstream,
//! which drops the colour when stdout is not a terminal, when NO_COLOR is set
//! or TERM is dumb (and keeps it with CLICOLOR_FORCE).

use anstyle::{AnsiColor, Style};

fn style(word: &str) -> Option<Style> {
    let color = match word {
        "PASS" => AnsiColor::Green,
        "FAIL" | "ERROR" => AnsiColor::Red,
        "PARTIAL" | "SKIP" => AnsiColor::Yellow,
        _ => return None,
    };
    Some(Style::new().fg_color(Some(color.into())).bold())
}

/// `text` with each line's leading verdict word coloured.
pub fn verdicts(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let word = line.split(' ').next().unwrap_or_default();
        match style(word) {
            Some(s) if line.len() > word.len() => {
                out.push_str(&format!("{s}{word}{s:#}"));
                out.push_str(&line[word.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_leading_verdict_word_is_coloured() {
        let t = verdicts("== x\nPASS timewait::x (1 ms)\n   expect: PASS\nFAIL y\n");
        assert!(
            t.contains("\u{1b}[1m\u{1b}[32mPASS\u{1b}[0m timewait::x"),
            "{t:?}"
        );
        assert!(t.contains("   expect: PASS\n"), "{t:?}");
        assert!(t.contains("\u{1b}[31mFAIL\u{1b}[0m y"), "{t:?}");
        assert_eq!(
            anstream::adapter::strip_str(&t).to_string(),
            "== x\nPASS timewait::x (1 ms)\n   expect: PASS\nFAIL y\n"
        );
    }
}

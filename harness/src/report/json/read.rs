//! Rows read back into the types `--json` writes them from: the lines a
//! guest printed (and, later, files of rows from elsewhere). A line that is
//! not a row is kept with the reason, naming its case when it has one: never
//! silently dropped.

use serde::Deserialize;

use super::rows::Row;

/// One line of a run's output.
#[derive(Debug)]
pub enum Line {
    Row(Row),
    /// Not a row of this version: the line, why, and the case it names.
    Bad {
        line: String,
        error: String,
        case: Option<String>,
    },
}

/// The case a line names, when it is an object with a string `case`.
#[derive(Deserialize)]
struct Named {
    case: String,
}

/// Every non-empty line of `text`, typed.
pub fn read(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Row>(l) {
            Ok(row) => Line::Row(row),
            Err(e) => Line::Bad {
                line: l.to_owned(),
                error: e.to_string(),
                case: serde_json::from_str::<Named>(l).ok().map(|n| n.case),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_and_other_lines_say_why() {
        let lines = read(
            "{\"type\":\"skip\",\"version\":1,\"scenario\":\"a\",\"case\":\"a/x\",\"trial\":\"t::a::x\",\
             \"file\":\"f\",\"kernel\":\"k\",\"reason\":\"why\",\"pass\":false}\n\nnot json\n\
             {\"type\":\"case\",\"case\":\"a/y\",\"renamed\":1}\n[1]\n",
        );
        assert_eq!(lines.len(), 4);
        assert!(matches!(&lines[0], Line::Row(Row::Skip(s)) if s.reason == "why"));
        assert!(matches!(&lines[1], Line::Bad { case: None, .. }));
        let Line::Bad { case, error, .. } = &lines[2] else {
            panic!("{:?}", lines[2])
        };
        assert_eq!(case.as_deref(), Some("a/y"));
        assert!(!error.is_empty());
        assert!(matches!(&lines[3], Line::Bad { case: None, .. }));
    }

    #[test]
    fn a_renamed_field_is_an_error_not_an_absent_value() {
        let row = "{\"type\":\"skip\",\"version\":1,\"scenario\":\"a\",\"case\":\"a/x\",\"trial\":\"t\",\
                   \"file\":\"f\",\"kernel\":\"k\",\"reason\":\"why\",\"pass\":false,\"reasons\":1}";
        let Line::Bad { error, .. } = &read(row)[0] else {
            panic!("read")
        };
        assert!(error.contains("reasons"), "{error}");
        let newer = row.replace("\"version\":1", "\"version\":2");
        let Line::Bad { error, .. } = &read(&newer)[0] else {
            panic!("read")
        };
        assert!(error.contains("version 2"), "{error}");
    }
}

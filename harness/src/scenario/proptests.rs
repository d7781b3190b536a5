//! Property tests: whatever the bytes (random, or a valid scenario with characters
//! inserted, deleted or replaced and lines shuffled), reading never panics and every
//! error line starts with `file:line:column: ` pointing inside the input.

use std::path::Path;

use proptest::prelude::*;

use super::parse_bytes;

const FILE: &str = "scenarios/timewait/p.toml";

/// Valid scenarios the mutations start from: every part of the format appears in one.
const BASES: [&str; 3] = [
    r#"# Every table of the format.
description = "A SYN below rcv_nxt gets the challenge ACK."
kernel_ref = "tcp_timewait_state_process() in net/ipv4/tcp_minisocks.c"
timeout_ms = 3000
[sysctl]
"net.ipv4.tcp_timestamps" = 1
[server]
sysctl = { "net.ipv4.tcp_rfc1337" = [0, 1] }
[client]
kind = "raw"
sysctl = { "net.ipv4.tcp_timestamps" = true }
[connection]
port = 8080
client_port = [40000, 40001]
family = ["ipv4", "ipv6"]
[second_syn]
seq = "rcv_nxt - 1000"
tsval = "ts_recent + 10"
[expect]
answer = "ack"
client_syns = 2
time_wait_after = false
counters = { "TcpExt.PAWSTimewait" = 0, "Tcp.OutRsts" = 1 }
[[expect.when]]
match = { family = "ipv6", server.tcp_rfc1337 = 1 }
answer = "rst"
"#,
    "description = \"d\"\r\n[sysctl]\r\nnet.ipv4.tcp_timestamps = [0, 1]\r\n[expect]\r\nanswer = \"syn-ack\"\r\n[[expect.when]]\r\nmatch.tcp_timestamps = 0\r\nanswer = \"ack\"\r\n",
    "\u{feff}description = \"\"\"\nUnicode é 😀 and a multi-line string.\n\"\"\"\n[second_syn]\nseq = [\"auto\", \"rcv_nxt\"]\n[expect]\ntime_wait_after = true\n",
];

/// Characters that make TOML interesting, and some that are not ASCII.
const ALPHABET: &[char] = &[
    '"', '\'', '[', ']', '{', '}', '=', ',', '.', '#', '\n', '\r', '\t', ' ', '\\', '-', '+', '0',
    '9', 'a', 'z', '_', 'é', '😀', '\u{feff}', '\u{0}', '\u{7f}', '\u{2212}',
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Delete(usize, usize),
    Replace(usize, char),
    SwapLines(usize, usize),
    DuplicateLine(usize),
}

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::sample::select(ALPHABET),
        1 => any::<char>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), 1..20usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), any_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match *edit {
            Edit::Insert(i, c) => {
                let i = at(i, chars.len() + 1);
                chars.insert(i, c);
            }
            Edit::Delete(i, n) => {
                let i = at(i, chars.len());
                let end = (i + n).min(chars.len());
                chars.drain(i..end);
            }
            Edit::Replace(i, c) => {
                if !chars.is_empty() {
                    let i = at(i, chars.len());
                    chars[i] = c;
                }
            }
            Edit::SwapLines(a, b) | Edit::DuplicateLine(a @ b) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let (a, b) = (at(a, lines.len()), at(b, lines.len()));
                if matches!(edit, Edit::DuplicateLine(_)) {
                    lines.insert(a, lines[a]);
                } else {
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// Reads `bytes`; on error, checks that every line has a position inside the input.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Err(err) = parse_bytes(Path::new(FILE), bytes) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(bytes);
    let lengths: Vec<usize> = text.split('\n').map(|l| l.chars().count()).collect();
    let shown = err.to_string();
    prop_assert!(!shown.is_empty());
    for line in shown.lines() {
        let rest = line.strip_prefix(FILE).and_then(|r| r.strip_prefix(':'));
        prop_assert!(rest.is_some(), "no file: {}", line);
        let mut parts = rest.unwrap_or_default().splitn(3, ':');
        let l = parts.next().and_then(|s| s.parse::<usize>().ok());
        let c = parts.next().and_then(|s| s.parse::<usize>().ok());
        let message = parts.next().unwrap_or_default();
        let (Some(l), Some(c)) = (l, c) else {
            return Err(TestCaseError::fail(format!("no line:column: {line}")));
        };
        prop_assert!(
            l >= 1 && l <= lengths.len(),
            "line {} of {}: {}",
            l,
            lengths.len(),
            line
        );
        prop_assert!(
            c >= 1 && c <= lengths[l - 1] + 1,
            "column {} of {}: {}",
            c,
            lengths[l - 1],
            line
        );
        prop_assert!(
            message.starts_with(' ') && message.len() > 1,
            "no message: {}",
            line
        );
    }
    Ok(())
}

#[test]
fn bases_are_valid() {
    for base in BASES {
        assert!(
            parse_bytes(Path::new(FILE), base.as_bytes()).is_ok(),
            "{base}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(&bytes)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in proptest::collection::vec(any_char(), 0..300)) {
        let text: String = text.into_iter().collect();
        check(text.as_bytes())?;
    }

    #[test]
    fn mutated_scenarios_never_panic(
        base in 0..BASES.len(),
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let text = apply(BASES[base], &edits);
        check(text.as_bytes())?;
    }
}

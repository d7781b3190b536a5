//! Names synlab derives from a case's name for things outside the process:
//! its pcap file and its `--keep` namespaces. Two cases never share one
//! (the encoding is injective: no two characters fold into one), a person
//! can still read them, and they stay short enough for a file name
//! (`NAME_MAX`, 255 bytes): past a bound the name keeps a readable prefix and
//! ends in a hash of the exact case name.

use std::fmt::Write as _;

/// What replaces `/` (between a case's matrix values).
const SLASH: char = ',';
/// What starts the hash of a shortened name; never in an unshortened one.
const CUT: char = '~';

/// `text` with every character but ASCII letters, digits, `_`, `-`, `=`,
/// `+` (and `.` when `dots`) written as `%XX` per UTF-8 byte, and `/` as
/// `,`. Injective: each output character stands for one input character.
/// The result is a plain file name (no `/`, no control character, no shell
/// syntax) unless it is empty or `.`/`..` (which `dots` alone can give).
pub fn encode(text: &str, dots: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || "_-=+".contains(c) || (dots && c == '.') {
            out.push(c);
        } else if c == '/' {
            out.push(SLASH);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A trial name (`<area>::<scenario>::<values>`) as a plain name: the
/// area and the scenario [`encode`]d without dots, the values with them,
/// joined by `.` (`timewait-row.syn.ipv4,seq=rcv_nxt+1`). Injective: the
/// first two dots are the separators.
pub fn of_trial(trial: &str) -> String {
    let parts: Vec<String> = trial
        .splitn(3, "::")
        .enumerate()
        .map(|(i, p)| encode(p, i == 2))
        .collect();
    parts.join(".")
}

/// `name` when it is at most `max` bytes (ASCII, as [`encode`] makes it);
/// else its first bytes, `~` and 16 hex digits of the hash of `exact` (the
/// name it was made from), `max` bytes in all.
pub fn bounded(name: String, exact: &str, max: usize) -> String {
    if name.len() <= max {
        return name;
    }
    let hash = format!("{CUT}{:016x}", fnv1a(exact.as_bytes()));
    let mut keep = max.saturating_sub(hash.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{hash}", &name[..keep])
}

/// FNV-1a, 64 bits: the same on every build and machine (std's hasher is
/// not), so a shortened name is the same in every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_differ_in_one_character_keep_differing() {
        let names = [
            "syn/seq=rcv_nxt-1",
            "syn/seq=rcv_nxt+1",
            "syn/seq=rcv_nxt - 1",
            "syn/seq=rcv_nxt\t- 1",
            "syn/seq=rcv_nxt_-_1",
            "syn,seq=rcv_nxt-1",
            "syn%2Cseq=rcv_nxt-1",
            "syn/seq=rcv_nxt.1",
            "syn/seq=rcv_nxt-1é",
        ];
        let mut seen = std::collections::BTreeSet::new();
        for n in names {
            assert!(seen.insert(encode(n, true)), "{n} collides");
        }
        assert_eq!(encode("syn/seq=rcv_nxt+1", true), "syn,seq=rcv_nxt+1");
        assert_eq!(encode("a b/c.d", false), "a%20b,c%2Ed");
        assert_eq!(encode("é\n", true), "%C3%A9%0A");
    }

    #[test]
    fn trial_names_keep_their_dots_only_in_the_values() {
        assert_eq!(
            of_trial("client-timewait::bind::tcp_timestamps=1/client.tcp_tw_reuse=0/ipv4"),
            "client-timewait.bind.tcp_timestamps=1,client.tcp_tw_reuse=0,ipv4"
        );
        assert_ne!(of_trial("a.b::c::d"), of_trial("a::b.c::d"));
        assert_ne!(of_trial("a::b::c::d"), of_trial("a::b::c.d"));
        assert_ne!(of_trial("a::b"), of_trial("a.b"));
    }

    #[test]
    fn a_long_name_keeps_a_prefix_and_a_hash_of_the_exact_name() {
        let long = "x".repeat(300);
        let a = bounded(encode(&long, true), &long, 200);
        let other = format!("{long}y");
        let b = bounded(encode(&other, true), &other, 200);
        assert_eq!((a.len(), b.len()), (200, 200));
        assert!(
            a.starts_with("xxxx") && a.contains('~') && a != b,
            "{a} {b}"
        );
        assert_eq!(a, bounded(encode(&long, true), &long, 200), "stable");
        assert_eq!(bounded("short".into(), "short", 200), "short");
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            fnv1a(b"a"),
            0xaf63_dc4c_8601_ec8c,
            "the published FNV-1a vector"
        );
    }
}

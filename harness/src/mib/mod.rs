//! Every MIB counter name Linux has printed (4.9 to 7.3) in /proc/net/snmp and
//! /proc/net/netstat, with the releases that print it, whether it only grows,
//! and the name that counted the same event before it existed (`names.tsv`,
//! read from net/ipv4/proc.c of those releases). Scenario checks refuse names
//! no kernel has; the judge uses it to judge a renamed counter by its older
//! name, and otherwise to say exactly why an expectation could not be checked.

use std::sync::OnceLock;

use crate::release::Release;

/// What kind of value a MIB entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever grows: a delta below zero is impossible.
    Counter,
    /// Goes up and down (`Tcp.CurrEstab`).
    Gauge,
    /// A constant or a configuration value printed among the counters
    /// (`Tcp.RtoMin`, `Ip.Forwarding`): never changes during a case.
    Setting,
}

/// One MIB name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mib {
    pub name: &'static str,
    /// The first release that printed it.
    pub first: Release,
    /// The last release that printed it; `None` while kernels still do.
    pub last: Option<Release>,
    pub kind: Kind,
    /// The name that counted the same event on releases before `first`
    /// (`TcpExt.PAWSTimewait` was `TcpExt.PAWSEstab` before 6.16).
    pub before: Option<&'static str>,
    pub note: &'static str,
}

impl Mib {
    /// Whether `release` prints this name (the table is kept per major.minor).
    pub fn printed_by(&self, release: Release) -> bool {
        let minor = |r: Release| (r.major, r.minor);
        minor(release) >= minor(self.first) && self.last.is_none_or(|l| minor(release) <= minor(l))
    }

    /// The releases that print it, in words: `6.16 and later`, `4.9 to 4.13`.
    pub fn releases(&self) -> String {
        let first = format!("{}.{}", self.first.major, self.first.minor);
        match self.last {
            None => format!("{first} and later"),
            Some(l) => format!("{first} to {}.{}", l.major, l.minor),
        }
    }
}

const TABLE: &str = include_str!("names.tsv");

/// The whole table, in file order.
pub fn all() -> &'static [Mib] {
    static ALL: OnceLock<Vec<Mib>> = OnceLock::new();
    ALL.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let f: Vec<&'static str> = l.split('\t').collect();
                let version = |t: &str| Release::parse(t);
                Some(Mib {
                    name: f.first()?,
                    first: version(f.get(1)?)?,
                    last: version(f.get(2)?),
                    kind: match *f.get(3)? {
                        "gauge" => Kind::Gauge,
                        "setting" => Kind::Setting,
                        _ => Kind::Counter,
                    },
                    before: f.get(4).filter(|b| **b != "-").copied(),
                    note: f.get(5).copied().unwrap_or(""),
                })
            })
            .collect()
    })
}

/// The entry for `name` (`TcpExt.PAWSTimewait`), if any kernel printed it.
pub fn lookup(name: &str) -> Option<&'static Mib> {
    all().iter().find(|m| m.name == name)
}

/// The known name closest to `name`, for a did-you-mean: the same letters
/// in another case, or within three edits (a typo, a swapped pair).
pub fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(m) = all().iter().find(|m| m.name.to_ascii_lowercase() == lower) {
        return Some(m.name);
    }
    all()
        .iter()
        .map(|m| (edit_distance(&lower, &m.name.to_ascii_lowercase()), m.name))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and
/// swaps of two neighbours each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_whole() {
        assert!(all().len() > 200, "{} names", all().len());
        let paws = lookup("TcpExt.PAWSTimewait").expect("PAWSTimewait");
        assert_eq!(paws.first, Release::parse("6.16").unwrap());
        assert_eq!(paws.before, Some("TcpExt.PAWSEstab"));
        assert_eq!(paws.kind, Kind::Counter);
        assert_eq!(lookup("Tcp.CurrEstab").unwrap().kind, Kind::Gauge);
        assert_eq!(lookup("Tcp.RtoMin").unwrap().kind, Kind::Setting);
        let gone = lookup("TcpExt.TCPPrequeued").unwrap();
        assert!(gone.printed_by(Release::parse("4.13.9").unwrap()));
        assert!(!gone.printed_by(Release::parse("4.14.0").unwrap()));
        assert_eq!(gone.releases(), "4.9 to 4.13");
        assert_eq!(paws.releases(), "6.16 and later");
        // No name twice.
        let mut names: Vec<&str> = all().iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all().len());
    }

    #[test]
    fn typos_get_the_name_they_meant() {
        assert_eq!(suggest("TcpExt.PAWSTimeWiat"), Some("TcpExt.PAWSTimewait"));
        assert_eq!(suggest("tcpext.pawstimewait"), Some("TcpExt.PAWSTimewait"));
        assert_eq!(suggest("Tcp.PassiveOpen"), Some("Tcp.PassiveOpens"));
        assert_eq!(suggest("TcpExt.SomethingElseEntirely"), None);
    }

    /// The table against the running kernel: every name it prints is in the
    /// table, and every name the table says it prints is there.
    #[test]
    fn the_running_kernel_agrees_with_the_table() {
        let release = crate::run::kernel_release();
        let Some(version) = Release::parse(&release) else {
            panic!("cannot read the running kernel's release {release:?}");
        };
        let printed = crate::observe::counters::read().expect("read /proc/net/snmp and netstat");
        let wanted = |n: &str| {
            ["Ip.", "Tcp.", "TcpExt.", "IpExt.", "Udp.", "UdpLite."]
                .iter()
                .any(|p| n.starts_with(p))
        };
        let missing: Vec<&String> = printed
            .keys()
            .filter(|n| wanted(n) && lookup(n).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "kernel {release} prints MIB names that harness/src/mib/names.tsv lacks \
             (add them with the release that added them): {missing:?}"
        );
        let absent: Vec<&str> = all()
            .iter()
            .filter(|m| m.printed_by(version) && !printed.contains_key(m.name))
            .map(|m| m.name)
            .collect();
        assert!(
            absent.is_empty(),
            "names.tsv says kernel {release} prints {absent:?}, but it does not"
        );
    }
}

//! Kernel names (Contract 6): `debian:SUITE` (bullseye, bookworm, trixie,
//! sid, `*-backports`, ...) is that suite's current kernel, `debian:SERIES`
//! (`5.10`, `6.1`, `6.12`, ...) the newest Debian kernel of that series in
//! any suite synlab knows; and the archive suites apt reads for each.

use std::fmt;

use super::DebianError;

/// What `--kernel debian:...` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    /// The current kernel of one suite.
    Suite(String),
    /// The newest kernel of `major.minor` across [`SERIES_SUITES`].
    Series { major: u32, minor: u32 },
}

/// The prefix of a Debian kernel name in `--kernel`.
pub const PREFIX: &str = "debian:";

/// The suites searched for a series: every suite Debian's archive serves a
/// kernel in (buster is no longer served; bullseye-backports is archived).
pub const SERIES_SUITES: &[&str] = &[
    "bullseye",
    "bookworm",
    "bookworm-backports",
    "trixie",
    "trixie-backports",
    "forky",
    "sid",
];

/// Which of the two archives a suite lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// `deb.debian.org/debian`: releases, `-updates`, `-backports`, sid.
    Main,
    /// `deb.debian.org/debian-security`: `SUITE-security`.
    Security,
}

/// One apt source line's suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub archive: Archive,
    pub suite: String,
}

impl Name {
    /// `None` when `arg` is not a `debian:` name; the name, or why it is not
    /// one, otherwise.
    pub fn parse(arg: &str) -> Option<Result<Name, DebianError>> {
        let rest = arg.strip_prefix(PREFIX)?;
        let bad = |why: &str| DebianError::BadName {
            name: arg.to_string(),
            why: why.to_string(),
        };
        Some(if rest.starts_with(|c: char| c.is_ascii_digit()) {
            series(rest).ok_or_else(|| bad("a series is two numbers, like 6.1 or 6.12"))
        } else if suite_word(rest) {
            Ok(Name::Suite(rest.to_string()))
        } else {
            Err(bad(
                "not a suite (bullseye, bookworm, trixie, sid, bookworm-backports, ...) \
                 or a series (5.10, 6.1, 6.12, ...)",
            ))
        })
    }

    /// The suites whose indexes are searched, one group per suite: a release
    /// with its `-updates` and `-security` (where kernel updates land first).
    pub fn groups(&self) -> Vec<String> {
        match self {
            Name::Suite(s) => vec![s.clone()],
            Name::Series { .. } => SERIES_SUITES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The file name (without `.json`) of this name's record in the cache.
    pub fn stem(&self) -> String {
        match self {
            Name::Suite(s) => s.clone(),
            Name::Series { major, minor } => format!("{major}.{minor}"),
        }
    }

    /// Whether a kernel version (`6.12.95-1~bpo12+1`) belongs to this name's
    /// series; every version does for a suite.
    pub fn takes(&self, version: &str) -> bool {
        match self {
            Name::Suite(_) => true,
            Name::Series { major, minor } => {
                let upstream = version.split_once(':').map_or(version, |(_, v)| v);
                let mut parts = upstream.split(|c: char| !c.is_ascii_digit());
                parts.next().and_then(|p| p.parse().ok()) == Some(*major)
                    && parts.next().and_then(|p| p.parse().ok()) == Some(*minor)
            }
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.stem())
    }
}

/// The apt sources of one suite group: `sid`, `experimental` and
/// `*-backports` alone; a release with `-updates` and `-security`.
pub fn sources(group: &str) -> Vec<Source> {
    let main = |suite: String| Source {
        archive: Archive::Main,
        suite,
    };
    if matches!(group, "sid" | "unstable" | "experimental") || group.ends_with("-backports") {
        return vec![main(group.to_string())];
    }
    vec![
        main(group.to_string()),
        main(format!("{group}-updates")),
        Source {
            archive: Archive::Security,
            suite: format!("{group}-security"),
        },
    ]
}

/// `major.minor`, two runs of digits.
fn series(s: &str) -> Option<Name> {
    let (major, minor) = s.split_once('.')?;
    let number = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    Some(Name::Series {
        major: number(major)?,
        minor: number(minor)?,
    })
}

/// A suite name: lower-case letters, optionally `-backports`.
fn suite_word(s: &str) -> bool {
    let base = s.strip_suffix("-backports").unwrap_or(s);
    !base.is_empty() && base.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Result<Name, String> {
        Name::parse(s)
            .expect("a debian: name")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn suites_and_series_are_told_apart() {
        assert!(Name::parse("/boot/vmlinuz-6.1.0-41-amd64").is_none());
        assert!(Name::parse("host").is_none());
        assert_eq!(name("debian:bookworm"), Ok(Name::Suite("bookworm".into())));
        assert_eq!(
            name("debian:bookworm-backports"),
            Ok(Name::Suite("bookworm-backports".into()))
        );
        assert_eq!(
            name("debian:6.12"),
            Ok(Name::Series {
                major: 6,
                minor: 12
            })
        );
        assert_eq!(name("debian:5.10").unwrap().to_string(), "debian:5.10");
        for bad in [
            "debian:",
            "debian:6",
            "debian:6.1.2",
            "debian:6.x",
            "debian:../x",
            "debian:Sid",
            "debian:a b",
        ] {
            assert!(name(bad).is_err(), "{bad}");
        }
        assert!(name("debian:6.x").unwrap_err().contains("debian:6.x"));
    }

    #[test]
    fn a_release_reads_its_updates_and_security_and_sid_reads_itself() {
        let suites = |g: &str| {
            sources(g)
                .into_iter()
                .map(|s| (s.archive, s.suite))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            suites("bookworm"),
            [
                (Archive::Main, "bookworm".to_string()),
                (Archive::Main, "bookworm-updates".to_string()),
                (Archive::Security, "bookworm-security".to_string())
            ]
        );
        assert_eq!(suites("sid"), [(Archive::Main, "sid".to_string())]);
        assert_eq!(
            suites("trixie-backports"),
            [(Archive::Main, "trixie-backports".to_string())]
        );
    }

    #[test]
    fn a_series_takes_its_versions_only() {
        let s = Name::Series { major: 6, minor: 1 };
        assert!(s.takes("6.1.158-1"));
        assert!(!s.takes("6.12.95-1~bpo12+1"));
        assert!(!s.takes("5.10.262-1"));
        assert!(
            Name::Series {
                major: 6,
                minor: 12
            }
            .takes("6.12.95-1~bpo12+1")
        );
        assert!(Name::Suite("sid".into()).takes("7.2.13-1"));
    }
}

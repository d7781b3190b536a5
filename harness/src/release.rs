//! Kernel releases and conditions on them: `6.18.44-fc-v1045` is 6.18.44, and
//! `">= 6.10"`, `"< 6.16"` or `">= 6.10, < 7.1"` select the kernels an
//! expectation is right for (`[[expect.when]] match = { kernel = ... }`).

use std::cmp::Ordering;
use std::fmt;

/// A kernel release's version, as `uname -r` begins: major.minor.patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Release {
    /// The version at the start of a release string (`6.1.0-28-amd64` is 6.1.0,
    /// `7.3` is 7.3.0); `None` when it does not start with `N.N`.
    pub fn parse(text: &str) -> Option<Release> {
        let mut nums = text.trim().split(|c: char| !c.is_ascii_digit());
        let major = nums.next()?.parse().ok()?;
        let minor = nums.next()?.parse().ok()?;
        // A third number only when it directly follows "major.minor.".
        let rest = text.trim().splitn(3, '.').nth(2).unwrap_or("");
        let patch = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Some(Release {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One comparison: `>= 6.10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bound {
    op: Op,
    version: Release,
    /// How many parts were written: `6.10` compares major.minor only, so
    /// `= 6.1` holds for every 6.1.y.
    parts: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

/// A condition on the kernel release: comparisons joined by commas, all of
/// which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelCond {
    bounds: Vec<Bound>,
    text: String,
}

/// Why a condition could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot read {text:?}: expected comparisons like \">= 6.10\", \"< 6.16\" or \">= 6.10, < 7.1\" \
     (operators < <= = != >= >, versions N.N or N.N.N)"
)]
pub struct CondError {
    pub text: String,
}

impl KernelCond {
    pub fn parse(text: &str) -> Result<KernelCond, CondError> {
        let err = || CondError {
            text: text.to_owned(),
        };
        let mut bounds = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (op, rest) = [
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("!=", Op::Ne),
                ("==", Op::Eq),
                ("<", Op::Lt),
                (">", Op::Gt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(s, op)| part.strip_prefix(s).map(|r| (*op, r.trim())))
            .unwrap_or((Op::Eq, part));
            let pieces: Vec<&str> = rest.split('.').collect();
            if !(2..=3).contains(&pieces.len())
                || pieces
                    .iter()
                    .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(err());
            }
            let version = Release::parse(rest).ok_or_else(err)?;
            bounds.push(Bound {
                op,
                version,
                parts: pieces.len() as u8,
            });
        }
        Ok(KernelCond {
            bounds,
            text: text.trim().to_owned(),
        })
    }

    /// Whether `release` satisfies every comparison.
    pub fn matches(&self, release: Release) -> bool {
        self.bounds.iter().all(|b| {
            let ord = if b.parts == 2 {
                (release.major, release.minor).cmp(&(b.version.major, b.version.minor))
            } else {
                release.cmp(&b.version)
            };
            match b.op {
                Op::Lt => ord == Ordering::Less,
                Op::Le => ord != Ordering::Greater,
                Op::Eq => ord == Ordering::Equal,
                Op::Ne => ord != Ordering::Equal,
                Op::Ge => ord != Ordering::Less,
                Op::Gt => ord == Ordering::Greater,
            }
        })
    }
}

impl fmt::Display for KernelCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Release {
        Release::parse(text).unwrap()
    }

    #[test]
    fn releases_read_like_uname() {
        assert_eq!(r("6.18.44-fc-v1045").to_string(), "6.18.44");
        assert_eq!(r("6.1.0-28-amd64").to_string(), "6.1.0");
        assert_eq!(r("7.3").to_string(), "7.3.0");
        assert_eq!(r("6.12-rc3").to_string(), "6.12.0");
        assert!(r("6.9.1") < r("6.10.0"), "numeric, not text, order");
        assert_eq!(Release::parse("linux"), None);
        assert_eq!(Release::parse("6"), None);
    }

    #[test]
    fn conditions_compare_the_parts_written() {
        let c = |t: &str| KernelCond::parse(t).unwrap();
        assert!(c(">= 6.10").matches(r("6.10.0")));
        assert!(c(">= 6.10").matches(r("6.18.44-fc")));
        assert!(!c(">= 6.10").matches(r("6.1.0-28-amd64")));
        assert!(c("6.1").matches(r("6.1.192")), "= 6.1 is every 6.1.y");
        assert!(c("= 6.1").matches(r("6.1.0")));
        assert!(!c("6.1.1").matches(r("6.1.0")));
        assert!(c("< 6.16").matches(r("6.15.9")));
        assert!(!c("< 6.16").matches(r("6.16.0")));
        assert!(c(">= 6.10, < 7.1").matches(r("7.0.5")));
        assert!(!c(">= 6.10, < 7.1").matches(r("7.1.0")));
        assert!(c("!= 6.1").matches(r("6.2.0")));
        assert!(c(">6.1.5").matches(r("6.1.6")));
    }

    #[test]
    fn bad_conditions_are_refused() {
        for bad in [
            "", ">=", ">= six", ">= 6", "6.1.2.3", "=> 6.1", ">= 6.10,", "~6.1",
        ] {
            assert!(KernelCond::parse(bad).is_err(), "{bad:?}");
        }
    }
}

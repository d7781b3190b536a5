//! From the archive's package data to one kernel's packages: the newest
//! `linux-image-amd64` of a suite (or of a series) names the image package
//! `linux-image-RELEASE (= VERSION)`; that package is the whole kernel
//! (`boot/vmlinuz-RELEASE` and its modules), or, split as in sid, depends on
//! `linux-base-RELEASE` (config, System.map), `linux-binary-RELEASE`
//! (`usr/lib/modules/RELEASE/vmlinuz`) and `linux-modules-RELEASE`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::stanza::Stanza;
use super::version;

/// The meta package that always depends on a suite's current amd64 kernel.
pub const META: &str = "linux-image-amd64";

/// The parts a split image package depends on, by name prefix.
const PARTS: &[&str] = &["linux-base-", "linux-binary-", "linux-modules-"];

/// One package of the archive at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The .deb's size in bytes (0 when the index did not say).
    pub size: u64,
}

impl Package {
    /// `name=version`, as `apt-get download` takes it.
    pub fn pin(&self) -> String {
        format!("{}={}", self.name, self.version)
    }
}

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The suite whose index named the kernel (a release's group includes
    /// its `-updates` and `-security`).
    pub suite: String,
    /// The kernel's release (`uname -r`): the image package's name without
    /// `linux-image-`.
    pub release: String,
    /// Everything fetched and unpacked, the image package first.
    pub packages: Vec<Package>,
}

impl Resolution {
    /// The image package.
    pub fn image(&self) -> &Package {
        &self.packages[0]
    }

    /// The bytes to download.
    pub fn bytes(&self) -> u64 {
        self.packages.iter().map(|p| p.size).sum()
    }

    /// The folder name of the unpacked tree in the cache:
    /// `linux-image-RELEASE_VERSION` (an epoch's `:` written `%3a`, as apt
    /// names its .deb files).
    pub fn key(&self) -> String {
        let img = self.image();
        format!("{}_{}", img.name, img.version.replace(':', "%3a"))
    }
}

/// The newest stanza of the meta package among `metas` whose version `takes`
/// accepts, in dpkg's order.
pub fn newest(metas: &[Stanza], takes: impl Fn(&str) -> bool) -> Option<&Stanza> {
    metas
        .iter()
        .filter(|s| s.package() == META && takes(s.version()))
        .max_by(|a, b| version::compare(a.version(), b.version()))
}

/// Order two (suite, stanza) candidates by version.
pub fn by_version(a: &Stanza, b: &Stanza) -> Ordering {
    version::compare(a.version(), b.version())
}

/// The image package the meta package depends on: `linux-image-RELEASE (=
/// VERSION)`, checked to be a plain package name and version.
pub fn image_of(meta: &Stanza) -> Result<(String, String), String> {
    meta.depends()
        .into_iter()
        .filter(|alts| alts.len() == 1)
        .flatten()
        .find(|r| r.name.starts_with("linux-image-") && r.name != META)
        .and_then(|r| match r.version {
            Some((op, v)) if op == "=" && valid_package(&r.name) && valid_version(&v) => {
                Some((r.name, v))
            }
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "{META} {} depends on no linux-image-RELEASE (= VERSION): Depends: {}",
                meta.version(),
                meta.get("Depends").unwrap_or("")
            )
        })
}

/// The packages that make the kernel, given the image package's stanza: the
/// image package, and the `linux-base-`, `linux-binary-` and
/// `linux-modules-RELEASE` of the same version it depends on (split images).
pub fn parts(image: &Stanza) -> Vec<(String, String)> {
    let release = release_of(image.package());
    let mut out = vec![(image.package().to_string(), image.version().to_string())];
    for r in image
        .depends()
        .into_iter()
        .filter(|a| a.len() == 1)
        .flatten()
    {
        let part = PARTS
            .iter()
            .any(|p| r.name.strip_prefix(p) == Some(release));
        if let (true, Some((op, v))) = (part, &r.version)
            && op == "="
            && valid_package(&r.name)
            && valid_version(v)
        {
            out.push((r.name.clone(), v.clone()));
        }
    }
    out
}

/// `linux-image-7.2.13+deb14-amd64` -> `7.2.13+deb14-amd64`.
pub fn release_of(image_package: &str) -> &str {
    image_package
        .strip_prefix("linux-image-")
        .unwrap_or(image_package)
}

/// A Debian package name (Policy 5.6.1): `[a-z0-9][a-z0-9+.-]+`. Checked
/// before a name becomes part of a path or an argument.
pub fn valid_package(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
}

/// A Debian version (Policy 5.6.12): alphanumerics and `.+~:-`, starting
/// with a digit (after an epoch).
pub fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~:-".contains(&b))
        && s.split_once(':')
            .map_or(s, |(_, v)| v)
            .starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::super::stanza::parse;
    use super::*;

    /// `apt-cache show linux-image-amd64` across bullseye, bookworm-backports,
    /// trixie and sid (2026-12), trimmed.
    const METAS: &str = "\
Package: linux-image-amd64
Version: 7.2.13-1
Depends: linux-base-amd64 (= 7.2.13-1), linux-image-7.2.13+deb14-amd64 (= 7.2.13-1)

Package: linux-image-amd64
Version: 6.12.118-1
Depends: linux-image-6.12.118+deb13-amd64 (= 6.12.118-1)

Package: linux-image-amd64
Version: 6.12.95-1~bpo12+1
Depends: linux-image-6.12.95+deb12-amd64 (= 6.12.95-1~bpo12+1)

Package: linux-image-amd64
Version: 5.10.262-1
Depends: linux-image-5.10.0-46-amd64 (= 5.10.262-1)

Package: linux-image-amd64
Version: 5.10.223-1
Depends: linux-image-5.10.0-32-amd64 (= 5.10.223-1)
";

    #[test]
    fn the_newest_meta_names_the_image_package() {
        let metas = parse(METAS);
        let all = newest(&metas, |_| true).unwrap();
        assert_eq!(
            image_of(all),
            Ok((
                "linux-image-7.2.13+deb14-amd64".to_string(),
                "7.2.13-1".to_string()
            ))
        );
        let s510 = newest(&metas, |v| v.starts_with("5.10.")).unwrap();
        assert_eq!(image_of(s510).unwrap().0, "linux-image-5.10.0-46-amd64");
        let s612 = newest(&metas, |v| v.starts_with("6.12.")).unwrap();
        assert_eq!(s612.version(), "6.12.118-1", "trixie's, not the backport");
        assert!(newest(&metas, |v| v.starts_with("4.19.")).is_none());
    }

    #[test]
    fn a_meta_without_an_exact_image_dependency_is_refused() {
        let m = parse(
            "Package: linux-image-amd64\nVersion: 1\nDepends: linux-image-6.1.0-1-amd64 (>= 1)\n",
        );
        assert!(image_of(&m[0]).unwrap_err().contains("(= VERSION)"));
        let m = parse("Package: linux-image-amd64\nVersion: 1\nDepends: linux-image-../x (= 1)\n");
        assert!(image_of(&m[0]).is_err(), "not a package name");
    }

    #[test]
    fn a_whole_image_is_one_package_and_a_split_one_brings_its_parts() {
        let whole = parse(
            "Package: linux-image-6.12.118+deb13-amd64\nVersion: 6.12.118-1\n\
             Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool\n",
        );
        assert_eq!(
            parts(&whole[0]),
            [(
                "linux-image-6.12.118+deb13-amd64".to_string(),
                "6.12.118-1".to_string()
            )]
        );
        let split = parse(
            "Package: linux-image-7.2.13+deb14-amd64\nVersion: 7.2.13-1\n\
             Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, \
             linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-amd64 (= 7.2.13-1), \
             linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1), linux-modules-7.2.13+deb14-rt-amd64 (= 7.2.13-1)\n",
        );
        let names: Vec<String> = parts(&split[0]).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "linux-image-7.2.13+deb14-amd64",
                "linux-base-7.2.13+deb14-amd64",
                "linux-binary-7.2.13+deb14-amd64",
                "linux-modules-7.2.13+deb14-amd64"
            ]
        );
    }

    #[test]
    fn the_tree_key_is_the_image_package_and_its_version() {
        let r = Resolution {
            suite: "bookworm".into(),
            release: "6.1.0-41-amd64".into(),
            packages: vec![Package {
                name: "linux-image-6.1.0-41-amd64".into(),
                version: "1:6.1.158-1".into(),
                size: 7,
            }],
        };
        assert_eq!(r.key(), "linux-image-6.1.0-41-amd64_1%3a6.1.158-1");
        assert_eq!(r.image().pin(), "linux-image-6.1.0-41-amd64=1:6.1.158-1");
        assert!(
            valid_version("6.12.95-1~bpo12+1") && !valid_version("x/../1") && !valid_version("")
        );
        assert!(
            valid_package("linux-image-7.2.13+deb14-amd64")
                && !valid_package("Linux")
                && !valid_package("a/b")
        );
    }
}

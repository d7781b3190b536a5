//! Debian kernels by name (Contract 6): `--kernel debian:SUITE` and
//! `--kernel debian:SERIES` resolved in Debian's archive by a private apt
//! (signatures checked against debian-archive-keyring), downloaded with apt,
//! unpacked with `dpkg-deb -x` (no install) into synlab's cache, and booted
//! from there; a second run works from the cache without the network.
//!
//! `name` parses names, `options` reads the environment, `apt` runs the
//! private apt, `stanza` and `version` read what it prints, `resolve` picks
//! the packages, `cache` keeps trees and records, `fetch` ties them together.

mod apt;
mod cache;
mod fetch;
mod name;
mod options;
mod place;
mod prune;
mod resolve;
mod stanza;
mod version;

use std::path::{Path, PathBuf};

pub use cache::{Cache, Record, Tree, image_in, now};
pub use fetch::{Kernel, Progress, ago, cached, fetch, fetch_with, mb, today};
pub use name::{Name, PREFIX, SERIES_SUITES};
pub use options::{DEFAULT_MIRROR, Options};
pub use prune::Pruned;
pub use resolve::{Package, Resolution};

/// Why a Debian kernel could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error("{name}: {why}")]
    BadName { name: String, why: String },
    #[error(
        "${var}={url}: not an archive URL (http://, https:// or file:/, without spaces, quotes or brackets)"
    )]
    BadMirror { var: String, url: String },
    #[error(
        "no Debian archive keyring ({looked}): install the debian-archive-keyring package \
         (apt-get install debian-archive-keyring), or download it from \
         https://deb.debian.org/debian/pool/main/d/debian-archive-keyring/ and set \
         SYNLAB_DEBIAN_KEYRING to its usr/share/keyrings/debian-archive-keyring.gpg"
    )]
    NoKeyring { looked: String },
    #[error(
        "{program} is not installed: synlab fetches Debian kernels with apt-get, apt-cache and \
         dpkg-deb (the apt and dpkg packages of Debian and Ubuntu)"
    )]
    NoTool { program: String },
    #[error("{program} did not start: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{command} failed: {output}")]
    Apt { command: String, output: String },
    /// The archive has no kernel for the name in these suites.
    #[error("no linux-image-amd64 for it in {suites}")]
    NotFound { suites: String },
    /// The archive's index says something synlab cannot use.
    #[error("{why}")]
    Index { why: String },
    #[error("dpkg-deb -x {} failed: {output}", deb.display())]
    Unpack { deb: PathBuf, output: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {why}", path.display())]
    BadPath { path: PathBuf, why: String },
    #[error("{}: a running synlab uses the cache (it holds in-use): nothing pruned", path.display())]
    InUse { path: PathBuf },
    #[error("no folder for the cache: set SYNLAB_CACHE (neither XDG_CACHE_HOME nor a home folder)")]
    NoCacheDir,
}

impl DebianError {
    /// The archive could not be asked (the network, apt, the keyring): the
    /// cache may answer instead. Not when the archive answered "no such
    /// kernel", and not for a broken cache.
    pub fn may_use_cache(&self) -> bool {
        matches!(
            self,
            DebianError::NoKeyring { .. }
                | DebianError::NoTool { .. }
                | DebianError::Spawn { .. }
                | DebianError::Apt { .. }
        )
    }
}

fn io_error(path: &Path, source: std::io::Error) -> DebianError {
    DebianError::Io {
        path: path.to_path_buf(),
        source,
    }
}

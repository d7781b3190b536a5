//! Where a failing case's evidence goes when nobody asked for it: a pcap per
//! case under `./synlab-artifacts/` of the current directory, or
//! `$SYNLAB_ARTIFACTS`; never into the source tree synlab was built from.

use std::path::{Path, PathBuf};

use crate::observe::pcap::{self, PcapError};
use crate::run::CaseRun;

/// The environment variable that names the artifacts folder.
pub const ENV: &str = "SYNLAB_ARTIFACTS";

/// The folder used when `$SYNLAB_ARTIFACTS` is not set, under the current directory.
pub const DEFAULT_DIR: &str = "synlab-artifacts";

/// `$SYNLAB_ARTIFACTS` when set and not empty.
pub fn from_env() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$SYNLAB_ARTIFACTS`, else `./synlab-artifacts`.
pub fn default_dir() -> PathBuf {
    from_env().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Write the case's pcap into `dir` (made if missing); returns its path.
pub fn write_pcap(dir: &Path, run: &CaseRun) -> Result<PathBuf, PcapError> {
    let path = dir.join(run.case.pcap_file_name());
    pcap::write(&path, &run.obs.frames)?;
    Ok(path)
}

//! Where a failing case's evidence goes when nobody asked for it: a pcap per case
//! under `target/synlab/` of the project (or `$SYNLAB_ARTIFACTS`).

use std::path::{Path, PathBuf};

use crate::observe::pcap::{self, PcapError};
use crate::run::CaseRun;

/// `$SYNLAB_ARTIFACTS`, else `target/synlab` next to the scenarios folder.
pub fn default_dir(scenarios_root: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("SYNLAB_ARTIFACTS") {
        return PathBuf::from(dir);
    }
    scenarios_root
        .parent()
        .unwrap_or(Path::new("."))
        .join("target")
        .join("synlab")
}

/// Write the case's pcap into `dir`; returns its path.
pub fn write_pcap(dir: &Path, run: &CaseRun) -> Result<PathBuf, PcapError> {
    let path = dir.join(run.case.pcap_file_name());
    pcap::write(&path, &run.obs.frames)?;
    Ok(path)
}

//! Where a failing case's evidence goes when nobody asked for it: a pcap per
//! case under `./synlab-artifacts/` of the current directory, or
//! `$SYNLAB_ARTIFACTS`; never into the source tree synlab was built from.
//! That folder is synlab's own (made 0700, see `files`); a pcap is never
//! written through a link planted at its name.

use std::path::{Path, PathBuf};

use crate::files::{FileError, SafeDir};
use crate::observe::pcap;
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

/// The artifacts folder `dir`, made 0700 when missing, else checked to be a
/// folder of ours and not a link.
pub fn open_private(dir: &Path) -> Result<SafeDir, FileError> {
    SafeDir::private(dir)
}

/// Write the case's pcap into the folder `dir` the user named (made if
/// missing); returns its path.
pub fn write_pcap(dir: &Path, run: &CaseRun) -> Result<PathBuf, FileError> {
    pcap_into(&SafeDir::named(dir)?, run)
}

/// Write the case's pcap into the open folder `dir`; returns its path.
pub fn pcap_into(dir: &SafeDir, run: &CaseRun) -> Result<PathBuf, FileError> {
    dir.write_with(&run.case.pcap_file_name(), |f| {
        pcap::write(f, &run.obs.frames)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{case_run, challenge_segments};

    #[test]
    fn a_symlink_planted_at_the_pcap_name_leaves_its_target_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let run = case_run(challenge_segments(), "plain");
        for dir in [tmp.path().join("named"), tmp.path().join("artifacts")] {
            std::fs::create_dir(&dir).unwrap();
            std::os::unix::fs::symlink(&victim, dir.join(run.case.pcap_file_name())).unwrap();
        }
        let e = write_pcap(&tmp.path().join("named"), &run).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let private = open_private(&tmp.path().join("artifacts")).unwrap();
        assert!(pcap_into(&private, &run).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // Without the link, the pcap is written, and replaced by the next run.
        let clean = tmp.path().join("clean");
        let p = write_pcap(&clean, &run).unwrap();
        let again = write_pcap(&clean, &run).unwrap();
        assert_eq!(p, again);
        assert_eq!(
            std::fs::read(&p).unwrap()[..4],
            [0xa1, 0xb2, 0x3c, 0x4d],
            "pcap, ns"
        );
    }
}

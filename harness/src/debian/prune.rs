//! Pruning synlab's cache of Debian kernels: the trees no name resolves to
//! any more and what killed runs left half done, or with `all` everything
//! synlab made there. Only what synlab made is removed (a real folder or
//! file of ours; a tree with its marker, a private apt with its apt.conf);
//! anything else is listed as kept, with why. A running synlab that may
//! boot a cached tree holds `in-use`: then nothing is pruned.

use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use super::DebianError;
use super::cache::{Cache, MARKER, TMP_PREFIX};
use super::place::{entries, ours, regular_files, size};

/// One thing `prune` removed, or left alone and why.
#[derive(Debug, Clone)]
pub struct Pruned {
    pub path: PathBuf,
    pub bytes: u64,
    /// `None`: removed; `Some(why)`: left alone.
    pub kept: Option<String>,
}

impl Cache {
    /// Remove the trees no name resolves to any more and what killed runs
    /// left half done; with `all`, every tree, record and private apt too.
    /// Only what synlab made is removed (a real folder or file of ours,
    /// trees with their marker); anything else is listed as kept.
    pub fn prune(&self, all: bool) -> Result<Vec<Pruned>, DebianError> {
        self.open()?;
        let _lock = self.lock(&mut |_| {})?;
        let in_use = self.lock_file("in-use")?;
        if flock(&in_use, FlockOperation::NonBlockingLockExclusive).is_err() {
            return Err(DebianError::InUse {
                path: self.debian(),
            });
        }
        let wanted: Vec<String> = if all {
            vec![]
        } else {
            self.records().iter().map(|r| r.resolution.key()).collect()
        };
        let mut out = Vec::new();
        let kernels = self.debian().join("kernels");
        for (name, path) in entries(&kernels) {
            if name.starts_with(TMP_PREFIX) {
                out.push(remove(&path, |_| Ok(())));
            } else if !wanted.contains(&name) {
                out.push(remove(&path, |p| {
                    match std::fs::symlink_metadata(p.join(MARKER)) {
                        Ok(m) if m.is_file() => Ok(()),
                        _ => Err(format!("no {MARKER}: not a tree synlab unpacked")),
                    }
                }));
            }
        }
        for (name, path) in entries(&self.debian().join("downloads")) {
            if name.starts_with(TMP_PREFIX) {
                out.push(remove(&path, |_| Ok(())));
            }
        }
        if all {
            for (_, path) in entries(&self.debian().join("apt")) {
                out.push(remove(&path, |p| {
                    match std::fs::symlink_metadata(p.join("apt.conf")) {
                        Ok(m) if m.is_file() => Ok(()),
                        _ => Err("no apt.conf: not a private apt synlab made".into()),
                    }
                }));
            }
            for path in regular_files(&self.debian().join("names")) {
                let bytes = std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
                let kept = std::fs::remove_file(&path).err().map(|e| e.to_string());
                out.push(Pruned { path, bytes, kept });
            }
        }
        Ok(out)
    }
}

/// Remove `path` when it is ours and `check` agrees; what was done.
fn remove(path: &Path, check: impl Fn(&Path) -> Result<(), String>) -> Pruned {
    let kept = ours(path)
        .map_err(|e| e.to_string())
        .and_then(|()| check(path))
        .err();
    let bytes = size(path);
    let kept = kept.or_else(|| std::fs::remove_dir_all(path).err().map(|e| e.to_string()));
    Pruned {
        path: path.to_path_buf(),
        bytes,
        kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::cache::{Record, fake_tree};
    use crate::debian::name::Name;
    use crate::debian::resolve::{Package, Resolution};

    fn resolution(version: &str) -> Resolution {
        Resolution {
            suite: "bookworm".into(),
            release: "6.1.0-9-amd64".into(),
            packages: vec![Package {
                name: "linux-image-6.1.0-9-amd64".into(),
                version: version.into(),
                size: 1,
            }],
        }
    }

    #[test]
    fn prune_removes_what_no_name_points_at_and_only_what_synlab_made() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::at(tmp.path().join("c"), "test".into());
        cache.open().unwrap();
        let (old, cur) = (resolution("6.1.1-1"), resolution("6.1.2-1"));
        let old_tree = fake_tree(&cache, &old);
        let cur_tree = fake_tree(&cache, &cur);
        let name = Name::Suite("bookworm".into());
        let rec = Record {
            name: name.to_string(),
            resolved_at: 1,
            mirror: "m".into(),
            resolution: cur.clone(),
        };
        cache.write_record(&name, &rec).unwrap();
        assert_eq!(cache.record(&name), Some(rec));
        // Not synlab's: a folder without the marker, and a symlink to a tree.
        let foreign = cache.debian().join("kernels/somebody-elses");
        std::fs::create_dir(&foreign).unwrap();
        let link = cache.debian().join("kernels/a-link");
        std::os::unix::fs::symlink(&cur_tree, &link).unwrap();
        let half = cache.debian().join("kernels/.tmp-killed");
        std::fs::create_dir(&half).unwrap();

        let pruned = cache.prune(false).unwrap();
        let removed: Vec<&Path> = pruned
            .iter()
            .filter(|p| p.kept.is_none())
            .map(|p| p.path.as_path())
            .collect();
        assert_eq!(removed, [half.as_path(), old_tree.as_path()]);
        let kept: Vec<&Path> = pruned
            .iter()
            .filter(|p| p.kept.is_some())
            .map(|p| p.path.as_path())
            .collect();
        assert_eq!(kept, [link.as_path(), foreign.as_path()]);
        assert!(cur_tree.join("boot/vmlinuz-6.1.0-9-amd64").is_file() && foreign.is_dir());
        assert_eq!(cache.trees().len(), 3, "the current tree and the two kept");

        let all = cache.prune(true).unwrap();
        assert!(!cur_tree.exists() && cache.record(&name).is_none());
        assert!(all.iter().any(|p| p.path == cur_tree && p.kept.is_none()));
        assert!(foreign.is_dir() && std::fs::symlink_metadata(&link).is_ok());
    }

    #[test]
    fn nothing_is_pruned_while_a_run_may_boot_from_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::at(tmp.path().join("c"), "test".into());
        cache.open().unwrap();
        let tree = fake_tree(&cache, &resolution("6.1.1-1"));
        cache.hold_in_use().unwrap();
        let e = cache.prune(true).unwrap_err();
        assert!(matches!(e, DebianError::InUse { .. }), "{e}");
        assert!(tree.is_dir());
    }
}

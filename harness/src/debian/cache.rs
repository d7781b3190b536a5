//! synlab's cache of Debian kernels (its place: `place.rs`): under its
//! `debian/` folder the unpacked kernel trees
//! (`kernels/linux-image-RELEASE_VERSION/`, each with the marker
//! `.synlab-tree.json`), what each name resolved to (`names/NAME.json`),
//! the private apt of each suite (`apt/SUITE/`), and two lock files. Every
//! folder synlab uses there is checked to be a real folder owned by the user
//! synlab runs as; it never follows a symlink it did not make.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

use super::name::Name;
use super::place::{self, ensure_dir, entries, ours, regular_files, size};
use super::resolve::Resolution;
use super::{DebianError, io_error};

/// The marker file synlab writes into every tree it unpacks.
pub const MARKER: &str = ".synlab-tree.json";

/// Folders being unpacked or downloaded into start with this.
pub const TMP_PREFIX: &str = ".tmp-";

/// The cache and how its folder was chosen.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    /// Which rule chose `root`, for a person to read.
    pub chosen: String,
}

/// What a name resolved to, and when (`names/NAME.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `debian:bookworm`.
    pub name: String,
    /// Seconds since the epoch.
    pub resolved_at: u64,
    /// The archive it came from.
    pub mirror: String,
    pub resolution: Resolution,
}

/// An unpacked kernel in the cache.
#[derive(Debug, Clone)]
pub struct Tree {
    pub key: String,
    pub path: PathBuf,
    /// What the marker says was unpacked there; `None` when the folder is
    /// not one synlab made (no marker).
    pub resolution: Option<Resolution>,
    pub bytes: u64,
}

/// The tree marker's content.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    resolution: Resolution,
    mirror: String,
    unpacked_at: u64,
}

/// An exclusive lock on the cache's `debian/lock`, released on drop.
pub struct Lock {
    _file: File,
}

/// The shared locks on `debian/in-use` this process holds until it ends:
/// while a run may boot a cached tree, `prune` leaves the cache alone.
static IN_USE: Mutex<Vec<(PathBuf, File)>> = Mutex::new(Vec::new());

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Cache {
    /// The cache folder from the environment.
    pub fn locate() -> Result<Cache, DebianError> {
        let (root, chosen) = place::locate()?;
        Ok(Cache::at(root, chosen))
    }

    pub fn at(root: PathBuf, chosen: String) -> Cache {
        Cache { root, chosen }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn debian(&self) -> PathBuf {
        self.root.join("debian")
    }

    /// Make (or check) the cache's folders: real folders of ours.
    pub fn open(&self) -> Result<(), DebianError> {
        if let Some(parent) = self.root.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        ensure_dir(&self.root)?;
        ensure_dir(&self.debian())?;
        for sub in ["apt", "names", "kernels", "downloads"] {
            ensure_dir(&self.debian().join(sub))?;
        }
        Ok(())
    }

    /// A file of ours under `debian/`, opened without following a symlink.
    pub fn lock_file(&self, name: &str) -> Result<File, DebianError> {
        let path = self.debian().join(name);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| io_error(&path, e))
    }

    /// The cache's exclusive lock (apt's indexes, downloads, unpacking and
    /// records are changed under it); `waiting` is called once when another
    /// synlab holds it.
    pub fn lock(&self, waiting: &mut dyn FnMut(&Path)) -> Result<Lock, DebianError> {
        let file = self.lock_file("lock")?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            waiting(&self.debian());
            flock(&file, FlockOperation::LockExclusive)
                .map_err(|e| io_error(&self.debian().join("lock"), e.into()))?;
        }
        Ok(Lock { _file: file })
    }

    /// Hold a shared lock on `debian/in-use` until this process ends.
    pub fn hold_in_use(&self) -> Result<(), DebianError> {
        let mut held = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.debian().join("in-use");
        if held.iter().any(|(p, _)| p == &path) {
            return Ok(());
        }
        let file = self.lock_file("in-use")?;
        flock(&file, FlockOperation::LockShared).map_err(|e| io_error(&path, e.into()))?;
        held.push((path, file));
        Ok(())
    }

    /// The private apt folder of a suite group.
    pub fn apt_dir(&self, group: &str) -> Result<PathBuf, DebianError> {
        let dir = self.debian().join("apt").join(group);
        ensure_dir(&dir)?;
        Ok(dir)
    }

    /// A fresh folder for one download, removed when dropped.
    pub fn download_dir(&self) -> Result<tempfile::TempDir, DebianError> {
        let dir = self.debian().join("downloads");
        tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempdir_in(&dir)
            .map_err(|e| io_error(&dir, e))
    }

    fn record_path(&self, stem: &str) -> PathBuf {
        self.debian().join("names").join(format!("{stem}.json"))
    }

    /// What `name` resolved to last.
    pub fn record(&self, name: &Name) -> Option<Record> {
        read_json(&self.record_path(&name.stem()))
    }

    /// Every name's record, by name.
    pub fn records(&self) -> Vec<Record> {
        let mut out: Vec<Record> = regular_files(&self.debian().join("names"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .filter_map(|p| read_json(&p))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn write_record(&self, name: &Name, rec: &Record) -> Result<(), DebianError> {
        let path = self.record_path(&name.stem());
        let text = serde_json::to_string_pretty(rec).unwrap_or_default();
        let dir = self.debian().join("names");
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| io_error(&dir, e))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| io_error(&path, e))?;
        tmp.persist(&path).map_err(|e| io_error(&path, e.error))?;
        Ok(())
    }

    /// The unpacked tree of `key`, when synlab made it.
    pub fn tree(&self, key: &str) -> Result<Option<PathBuf>, DebianError> {
        let path = self.debian().join("kernels").join(key);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        ours(&path)?;
        match std::fs::symlink_metadata(path.join(MARKER)) {
            Ok(m) if m.is_file() => Ok(Some(path)),
            _ => Err(DebianError::BadPath {
                path,
                why: format!("not a tree synlab unpacked (no {MARKER}): remove it"),
            }),
        }
    }

    /// Unpack `debs` (`dpkg-deb -x`, no install) into a temporary folder in
    /// `kernels/`, then rename it to `kernels/KEY`: a tree is there whole
    /// or not at all. When another synlab got there first, its tree is used.
    pub fn unpack(
        &self,
        res: &Resolution,
        mirror: &str,
        debs: &[PathBuf],
    ) -> Result<PathBuf, DebianError> {
        let kernels = self.debian().join("kernels");
        let tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempdir_in(&kernels)
            .map_err(|e| io_error(&kernels, e))?;
        for deb in debs {
            let out = Command::new("dpkg-deb")
                .arg("-x")
                .arg(deb)
                .arg(tmp.path())
                .stdin(Stdio::null())
                .output()
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => DebianError::NoTool {
                        program: "dpkg-deb".into(),
                    },
                    _ => io_error(deb, e),
                })?;
            if !out.status.success() {
                return Err(DebianError::Unpack {
                    deb: deb.clone(),
                    output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
        }
        let marker = Marker {
            resolution: res.clone(),
            mirror: mirror.to_string(),
            unpacked_at: now(),
        };
        let m = tmp.path().join(MARKER);
        std::fs::write(
            &m,
            serde_json::to_string_pretty(&marker).unwrap_or_default(),
        )
        .map_err(|e| io_error(&m, e))?;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_error(tmp.path(), e))?;
        let dest = kernels.join(res.key());
        match std::fs::rename(tmp.path(), &dest) {
            Ok(()) => {
                // Renamed away: nothing left for the guard to remove.
                let _ = tmp.keep();
                Ok(dest)
            }
            Err(_) if self.tree(&res.key())?.is_some() => Ok(dest),
            Err(e) => Err(io_error(&dest, e)),
        }
    }

    /// Every tree in `kernels/`, by key.
    pub fn trees(&self) -> Vec<Tree> {
        let mut out: Vec<Tree> = entries(&self.debian().join("kernels"))
            .into_iter()
            .filter(|(name, _)| !name.starts_with(TMP_PREFIX))
            .map(|(key, path)| Tree {
                resolution: read_json::<Marker>(&path.join(MARKER)).map(|m| m.resolution),
                bytes: size(&path),
                key,
                path,
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// A JSON file synlab wrote (a regular file, not a symlink).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let m = std::fs::symlink_metadata(path).ok()?;
    if !m.is_file() {
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The kernel image in an unpacked tree: `boot/vmlinuz-RELEASE`, or
/// `usr/lib/modules/RELEASE/vmlinuz` (sid's split packages); a regular file,
/// not a symlink.
pub fn image_in(tree: &Path, release: &str) -> Option<PathBuf> {
    [
        tree.join("boot").join(format!("vmlinuz-{release}")),
        tree.join("usr/lib/modules").join(release).join("vmlinuz"),
        tree.join("lib/modules").join(release).join("vmlinuz"),
    ]
    .into_iter()
    .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
}

/// A tree as `unpack` leaves it (a file for an image, the marker), without
/// dpkg-deb: for the tests of this module and of `fetch`.
#[cfg(test)]
pub fn fake_tree(cache: &Cache, res: &Resolution) -> PathBuf {
    let t = cache.debian().join("kernels").join(res.key());
    std::fs::create_dir_all(t.join("boot")).unwrap();
    std::fs::write(t.join(format!("boot/vmlinuz-{}", res.release)), "k").unwrap();
    let marker = Marker {
        resolution: res.clone(),
        mirror: "m".into(),
        unpacked_at: 1,
    };
    std::fs::write(t.join(MARKER), serde_json::to_string(&marker).unwrap()).unwrap();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_in_the_cache_is_refused_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let cache = Cache::at(tmp.path().join("c"), "test".into());
        std::fs::create_dir(cache.root()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.debian()).unwrap();
        let e = cache.open().unwrap_err().to_string();
        assert!(e.contains("a symlink"), "{e}");
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing made through it"
        );
    }

    #[test]
    fn the_image_is_found_in_both_layouts_and_never_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        assert_eq!(image_in(t, "7.2.13+deb14-amd64"), None);
        let split = t.join("usr/lib/modules/7.2.13+deb14-amd64");
        std::fs::create_dir_all(&split).unwrap();
        std::os::unix::fs::symlink("/boot/vmlinuz", split.join("vmlinuz")).unwrap();
        assert_eq!(
            image_in(t, "7.2.13+deb14-amd64"),
            None,
            "a symlink is not an image"
        );
        std::fs::remove_file(split.join("vmlinuz")).unwrap();
        std::fs::write(split.join("vmlinuz"), "k").unwrap();
        assert_eq!(
            image_in(t, "7.2.13+deb14-amd64"),
            Some(split.join("vmlinuz"))
        );
        std::fs::create_dir_all(t.join("boot")).unwrap();
        std::fs::write(t.join("boot/vmlinuz-6.1.0-9-amd64"), "k").unwrap();
        assert_eq!(
            image_in(t, "6.1.0-9-amd64"),
            Some(t.join("boot/vmlinuz-6.1.0-9-amd64"))
        );
    }
}

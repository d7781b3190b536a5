//! Where synlab's cache is (`$SYNLAB_CACHE`, else `$XDG_CACHE_HOME/synlab`,
//! else `~/.cache/synlab`; as root only a folder of root's), and what synlab
//! may touch in it: real folders owned by the user it runs as, never a
//! symlink it did not make; sizes and listings that do not follow symlinks.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::{DebianError, io_error};

/// The cache folder from the environment and the rule that chose it.
pub fn locate() -> Result<(PathBuf, String), DebianError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let home_of = |uid: u32| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.dir)
    };
    let owner = |p: &Path| std::fs::metadata(p).ok().map(|m| m.uid());
    let (root, chosen) = choose(&env, euid(), &home_of, &owner)?;
    Ok((std::path::absolute(&root).unwrap_or(root), chosen))
}

pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The cache folder and the rule that chose it. As root, `$XDG_CACHE_HOME`
/// and `$HOME` count only when they are root's (under `sudo -E` they are the
/// user's, and a root-owned tree in a user's home is one the user can swap
/// for symlinks): otherwise root's own home from the password database.
fn choose(
    env: &dyn Fn(&str) -> Option<String>,
    euid: u32,
    home_of: &dyn Fn(u32) -> Option<PathBuf>,
    owner: &dyn Fn(&Path) -> Option<u32>,
) -> Result<(PathBuf, String), DebianError> {
    if let Some(c) = env("SYNLAB_CACHE") {
        return Ok((PathBuf::from(c), "$SYNLAB_CACHE".into()));
    }
    let usable = |p: &Path| p.is_absolute() && (euid != 0 || owner(p) == Some(0));
    let mut passed = Vec::new();
    if let Some(x) = env("XDG_CACHE_HOME") {
        let x = PathBuf::from(x);
        if usable(&x) {
            return Ok((x.join("synlab"), "$XDG_CACHE_HOME/synlab".into()));
        }
        passed.push(format!("$XDG_CACHE_HOME {}", x.display()));
    }
    if let Some(h) = env("HOME") {
        let h = PathBuf::from(h);
        if usable(&h) {
            return Ok((h.join(".cache/synlab"), "~/.cache/synlab".into()));
        }
        passed.push(format!("$HOME {}", h.display()));
    }
    let home = home_of(euid).ok_or(DebianError::NoCacheDir)?;
    let why = if passed.is_empty() {
        format!("~/.cache/synlab of uid {euid}")
    } else {
        format!("root's own: {} not root's", passed.join(" and "))
    };
    Ok((home.join(".cache/synlab"), why))
}

/// Make `p` (one level) if missing, then check it is a real folder owned by
/// the user synlab runs as.
pub fn ensure_dir(p: &Path) -> Result<(), DebianError> {
    if std::fs::symlink_metadata(p).is_err() {
        match std::fs::DirBuilder::new().mode(0o755).create(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(p, e)),
        }
    }
    ours(p)
}

/// `p` is a real folder (not a symlink) owned by the user synlab runs as.
pub fn ours(p: &Path) -> Result<(), DebianError> {
    let m = std::fs::symlink_metadata(p).map_err(|e| io_error(p, e))?;
    let why = if m.file_type().is_symlink() {
        "a symlink, which synlab does not follow in its cache".to_string()
    } else if !m.is_dir() {
        "not a folder".to_string()
    } else if m.uid() != euid() {
        format!(
            "owned by uid {}, not by uid {} that synlab runs as: set SYNLAB_CACHE to a folder of yours",
            m.uid(),
            euid()
        )
    } else {
        return Ok(());
    };
    Err(DebianError::BadPath {
        path: p.to_path_buf(),
        why,
    })
}

/// The entries of a folder (name, path), sorted; none when it cannot be read.
pub fn entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .collect();
    out.sort();
    out
}

/// The regular files (not symlinks) of a folder.
pub fn regular_files(dir: &Path) -> Vec<PathBuf> {
    entries(dir)
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect()
}

/// Bytes of the files under `path`, symlinks not followed.
pub fn size(path: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    entries(path).iter().map(|(_, p)| size(p)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chooser(
        vars: &[(&str, &str)],
        euid: u32,
        owners: &[(&str, u32)],
    ) -> Result<(PathBuf, String), DebianError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let owners: Vec<(PathBuf, u32)> =
            owners.iter().map(|(p, u)| (PathBuf::from(p), *u)).collect();
        choose(
            &|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            euid,
            &|uid| Some(PathBuf::from(if uid == 0 { "/root" } else { "/home/u" })),
            &|p| owners.iter().find(|(q, _)| q == p).map(|(_, u)| *u),
        )
    }

    #[test]
    fn the_cache_folder_follows_the_environment_and_root_keeps_to_its_own() {
        let (p, why) = chooser(
            &[("SYNLAB_CACHE", "/srv/c"), ("HOME", "/home/u")],
            1000,
            &[],
        )
        .unwrap();
        assert_eq!(
            (p, why.as_str()),
            (PathBuf::from("/srv/c"), "$SYNLAB_CACHE")
        );
        let (p, _) = chooser(
            &[("XDG_CACHE_HOME", "/home/u/.xdg"), ("HOME", "/home/u")],
            1000,
            &[],
        )
        .unwrap();
        assert_eq!(p, PathBuf::from("/home/u/.xdg/synlab"));
        let (p, _) = chooser(&[("HOME", "/home/u")], 1000, &[]).unwrap();
        assert_eq!(p, PathBuf::from("/home/u/.cache/synlab"));
        // sudo: HOME=/root.
        let (p, _) = chooser(&[("HOME", "/root")], 0, &[("/root", 0)]).unwrap();
        assert_eq!(p, PathBuf::from("/root/.cache/synlab"));
        // sudo -E: the user's HOME and XDG_CACHE_HOME are passed over.
        let (p, why) = chooser(
            &[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/home/u/.cache")],
            0,
            &[("/home/u", 1000), ("/home/u/.cache", 1000)],
        )
        .unwrap();
        assert_eq!(p, PathBuf::from("/root/.cache/synlab"));
        assert_eq!(
            why,
            "root's own: $XDG_CACHE_HOME /home/u/.cache and $HOME /home/u not root's"
        );
        let (p, _) = chooser(&[("XDG_CACHE_HOME", "relative")], 1000, &[]).unwrap();
        assert_eq!(
            p,
            PathBuf::from("/home/u/.cache/synlab"),
            "a relative XDG path is ignored"
        );
    }
}

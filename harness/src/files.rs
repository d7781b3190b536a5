//! Every file synlab writes, and every file a guest left that it reads back,
//! goes through here, because synlab runs as root in folders other users may
//! write to. A folder is held by a descriptor opened with `O_NOFOLLOW`; a file
//! is written into a new temporary file of that folder (`O_CREAT|O_EXCL|
//! O_NOFOLLOW`) and renamed into place, so a planted symlink or hard link is
//! never written through: `renameat` replaces the directory entry, never the
//! file it pointed at. An existing entry is replaced only when it is a regular
//! file of ours (root's or the sudo user's); a symlink or another user's file
//! is refused. Under `sudo`, what synlab makes in the user's folders belongs to
//! the user (`SUDO_UID`/`SUDO_GID`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a file could not be written or read safely.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{}: is a symbolic link: refused (synlab runs as root and never writes through a link)", path.display())]
    Symlink { path: PathBuf },
    #[error("{}: is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: is a {kind}, not a regular file: refused", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: belongs to uid {uid}, neither root nor the user who started synlab: refused",
        path.display()
    )]
    NotOurs { path: PathBuf, uid: u32 },
    #[error("write {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: Box<FileError>,
    },
    #[error("{}: exists already: refused (a new file was wanted)", path.display())]
    Exists { path: PathBuf },
    #[error("{}: not a plain file name: refused", name)]
    BadName { name: String },
    #[error("{}: {why}: refused", path.display())]
    Outside { path: PathBuf, why: &'static str },
    #[error("{}: larger than {limit} bytes: refused", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
}

fn io(path: &Path, what: &'static str, e: impl Into<std::io::Error>) -> FileError {
    FileError::Io {
        path: path.to_path_buf(),
        what,
        source: e.into(),
    }
}

/// The user who started synlab through `sudo`, when synlab is really root
/// (the initial user namespace, not rootless mode): `(uid, gid)`.
pub fn sudo_user() -> Option<(u32, u32)> {
    static USER: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *USER.get_or_init(|| {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
        let initial = map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"];
        let id = |k: &str| std::env::var(k).ok()?.parse::<u32>().ok();
        (initial && id("SUDO_UID")? != 0).then_some((id("SUDO_UID")?, id("SUDO_GID")?))
    })
}

/// The user synlab acts for: the sudo user, else the real uid.
fn invoking_uid() -> u32 {
    sudo_user().map_or_else(|| nix::unistd::getuid().as_raw(), |(u, _)| u)
}

/// Whether an entry owned by `uid` is ours: root's or the invoking user's.
fn ours(uid: u32) -> bool {
    uid == 0 || uid == invoking_uid() || uid == nix::unistd::geteuid().as_raw()
}

fn kind(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

/// `name` as one plain path component (no `/`, not `.` or `..`, not empty).
fn plain_name(name: &str) -> Result<&str, FileError> {
    let ok = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']);
    ok.then_some(name).ok_or_else(|| FileError::BadName {
        name: name.escape_debug().to_string(),
    })
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

/// A folder held open: everything synlab writes is created relative to one.
#[derive(Debug)]
pub struct SafeDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl SafeDir {
    /// The folder synlab keeps its own files in (the artifacts folder, a
    /// guest's results): made 0700 when missing (its parents as `mkdir -p`);
    /// when it exists, it must be a directory, not a symlink, owned by root
    /// or by the user who started synlab.
    pub fn private(path: &Path) -> Result<SafeDir, FileError> {
        let dir = open_last(path, Mode::RWXU)?;
        let st = rustix::fs::fstat(&dir.fd).map_err(|e| io(path, "stat", e))?;
        if !ours(st.st_uid) {
            return Err(FileError::NotOurs {
                path: path.to_path_buf(),
                uid: st.st_uid,
            });
        }
        Ok(dir)
    }

    /// A folder the user named (`--pcap-dir`, the folder of `--junit FILE`):
    /// made when missing (as `mkdir -p`); its last component must not be a
    /// symlink.
    pub fn named(path: &Path) -> Result<SafeDir, FileError> {
        open_last(path, Mode::from_raw_mode(0o777))
    }

    /// A folder inside this one, `name` a plain name: made 0700 when missing,
    /// refused when it is a symlink or not ours.
    pub fn subdir(&self, name: &str) -> Result<SafeDir, FileError> {
        let path = self.path.join(name);
        let name = plain_name(name)?;
        let dir = mkdir_in(&self.fd, &self.path, name, Mode::RWXU)?;
        let st = rustix::fs::fstat(&dir.fd).map_err(|e| io(&path, "stat", e))?;
        if !ours(st.st_uid) {
            return Err(FileError::NotOurs {
                path,
                uid: st.st_uid,
            });
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the file `name` (a plain name) in this folder with what `fill`
    /// writes, through a temporary file renamed into place; returns its path.
    /// An existing `name` is replaced only when it is a regular file of ours.
    pub fn write_with(
        &self,
        name: &str,
        fill: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> Result<PathBuf, FileError> {
        let name = plain_name(name)?;
        let path = self.path.join(name);
        self.may_replace(name, &path)?;
        let (tmp, mut file) = self.temp_file(&path)?;
        let written = fill(&mut file)
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&path, "write", e))
            .and_then(|()| give_to_user(&self.fd, &self.path, file.as_fd(), &path));
        drop(file);
        let renamed = written.and_then(|()| {
            rustix::fs::renameat(&self.fd, &tmp, &self.fd, name)
                .map_err(|e| io(&path, "rename into place", e))
        });
        if renamed.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
        }
        renamed.map(|()| path)
    }

    /// A new file `name` in this folder, for a writer that keeps it open (a
    /// child's stdout): made with `O_CREAT|O_EXCL|O_NOFOLLOW`, never an
    /// existing one.
    pub fn create_new(&self, name: &str) -> Result<File, FileError> {
        let name = plain_name(name)?;
        let path = self.path.join(name);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd =
            rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600)).map_err(|e| {
                match e {
                    Errno::EXIST => FileError::Exists { path: path.clone() },
                    e => io(&path, "create", e),
                }
            })?;
        give_to_user(&self.fd, &self.path, &fd, &path)?;
        Ok(File::from(fd))
    }

    /// [`write_with`](Self::write_with) for bytes at hand.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, FileError> {
        self.write_with(name, |f| f.write_all(bytes))
    }

    /// Refuse to replace what is not a regular file of ours.
    fn may_replace(&self, name: &str, path: &Path) -> Result<(), FileError> {
        let st = match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io(path, "stat", e)),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile if ours(st.st_uid) => Ok(()),
            FileType::RegularFile => Err(FileError::NotOurs {
                path: path.to_path_buf(),
                uid: st.st_uid,
            }),
            FileType::Symlink => Err(FileError::Symlink {
                path: path.to_path_buf(),
            }),
            other => Err(FileError::NotRegular {
                path: path.to_path_buf(),
                kind: kind(other),
            }),
        }
    }

    /// A new file `.synlab-PID-N.tmp` in this folder, made exclusively.
    fn temp_file(&self, path: &Path) -> Result<(String, File), FileError> {
        static N: AtomicU64 = AtomicU64::new(0);
        loop {
            let tmp = format!(
                ".synlab-{}-{}.tmp",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&self.fd, tmp.as_str(), flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => return Ok((tmp, File::from(fd))),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(io(path, "create", e)),
            }
        }
    }
}

/// Under sudo, a file or folder made in the user's own folder (`parent`)
/// becomes the user's. Equivalent to: `chown SUDO_UID:SUDO_GID PATH`.
fn give_to_user(
    parent: &OwnedFd,
    parent_path: &Path,
    fd: impl AsFd,
    path: &Path,
) -> Result<(), FileError> {
    let Some((uid, gid)) = sudo_user() else {
        return Ok(());
    };
    let st = rustix::fs::fstat(parent).map_err(|e| io(parent_path, "stat", e))?;
    if st.st_uid != uid {
        return Ok(());
    }
    rustix::fs::fchown(
        fd,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )
    .map_err(|e| io(path, "chown to the sudo user", e))
}

/// Open the folder `path`, its last component without following a symlink;
/// what is missing is made, the last one with `mode`.
fn open_last(path: &Path, mode: Mode) -> Result<SafeDir, FileError> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let Some((parent, name)) = split(path) else {
        // `/`, `.`, `..`: nothing to follow at the end.
        let fd = rustix::fs::openat(CWD, path, DIR_FLAGS, Mode::empty())
            .map_err(|e| classify(path, e))?;
        return Ok(SafeDir {
            fd,
            path: path.to_path_buf(),
        });
    };
    let up = open_ancestor(parent)?;
    let dir = mkdir_in(&up.fd, &up.path, name, mode)?;
    Ok(SafeDir {
        fd: dir.fd,
        path: path.to_path_buf(),
    })
}

/// The folder above `path` and its last component, when that is a name.
fn split(path: &Path) -> Option<(&Path, &str)> {
    let name = match path.components().next_back() {
        Some(Component::Normal(n)) => n.to_str()?,
        _ => return None,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some((parent, name))
}

/// A folder above the one wanted: the user's path, followed as given; what is
/// missing is made (as `mkdir -p`).
fn open_ancestor(path: &Path) -> Result<SafeDir, FileError> {
    let follow = DIR_FLAGS.difference(OFlags::NOFOLLOW);
    match rustix::fs::openat(CWD, path, follow, Mode::empty()) {
        Ok(fd) => Ok(SafeDir {
            fd,
            path: path.to_path_buf(),
        }),
        Err(Errno::NOENT) => {
            let Some((parent, name)) = split(path) else {
                return Err(classify(path, Errno::NOENT));
            };
            let up = open_ancestor(parent)?;
            let made = mkdir_in(&up.fd, &up.path, name, Mode::from_raw_mode(0o777))?;
            Ok(SafeDir {
                fd: made.fd,
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(classify(path, e)),
    }
}

/// `name` in the folder `dir`: made with `mode` when missing (and given to
/// the sudo user in the user's folder), then opened without following a link.
fn mkdir_in(dir: &OwnedFd, dir_path: &Path, name: &str, mode: Mode) -> Result<SafeDir, FileError> {
    let path = dir_path.join(name);
    let made = match rustix::fs::mkdirat(dir, name, mode) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(io(&path, "create the folder", e)),
    };
    let fd = rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty()).map_err(|e| {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                FileError::Symlink { path: path.clone() }
            }
            _ => classify(&path, e),
        }
    })?;
    if made {
        give_to_user(dir, dir_path, &fd, &path)?;
    }
    Ok(SafeDir { fd, path })
}

fn classify(path: &Path, e: Errno) -> FileError {
    match e {
        Errno::LOOP => FileError::Symlink {
            path: path.to_path_buf(),
        },
        Errno::NOTDIR => FileError::NotADirectory {
            path: path.to_path_buf(),
        },
        e => io(path, "open", e),
    }
}

/// Write `bytes` to the file the user named (`--junit FILE`, `--html FILE`):
/// its folder is made when missing; the user's own regular file there is
/// replaced; a symlink, another user's file or a non-file is refused.
pub fn write_named(path: &Path, bytes: &[u8]) -> Result<PathBuf, FileError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| FileError::BadName {
            name: path.display().to_string(),
        })?;
    let parent = path.parent().unwrap_or(Path::new(""));
    let dir = SafeDir::named(parent).map_err(|e| FileError::Folder {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    dir.write(name, bytes)?;
    Ok(path.to_path_buf())
}

/// Read the file at `rel` inside the folder `dir` (a guest's results), at
/// most `limit` bytes: `rel` is relative, without `..`, and no symlink on
/// the way is followed (`openat2` with `RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS`).
pub fn read_inside(dir: &Path, rel: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let path = dir.join(rel);
    if rel.as_os_str().is_empty() {
        return Err(FileError::Outside {
            path,
            why: "an empty path",
        });
    }
    for c in rel.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(FileError::Outside {
                    path,
                    why: "`..` leaves the folder",
                });
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(FileError::Outside {
                    path,
                    why: "an absolute path",
                });
            }
        }
    }
    let base =
        rustix::fs::openat(CWD, dir, DIR_FLAGS, Mode::empty()).map_err(|e| classify(dir, e))?;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd =
        rustix::fs::openat2(&base, rel, flags, Mode::empty(), resolve).map_err(|e| match e {
            Errno::LOOP | Errno::XDEV => FileError::Outside {
                path: path.clone(),
                why: "a symbolic link on the way",
            },
            e => io(&path, "open", e),
        })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(&path, "stat", e))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        other => {
            return Err(FileError::NotRegular {
                path,
                kind: kind(other),
            });
        }
    }
    let mut out = Vec::new();
    File::from(fd)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| io(&path, "read", e))?;
    if out.len() as u64 > limit {
        return Err(FileError::TooLarge { path, limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let d = tmp.path().join("d");
        std::fs::create_dir(&d).unwrap();
        symlink(&victim, d.join("x.pcap")).unwrap();
        let dir = SafeDir::named(&d).unwrap();
        let e = dir.write("x.pcap", b"pcap").unwrap_err();
        assert!(matches!(e, FileError::Symlink { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A hard link to the victim is replaced as an entry, never written through.
        std::fs::remove_file(d.join("x.pcap")).unwrap();
        std::fs::hard_link(&victim, d.join("x.pcap")).unwrap();
        dir.write("x.pcap", b"pcap").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read(d.join("x.pcap")).unwrap(), b"pcap");
        // No temporary file is left.
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["x.pcap"]);
    }

    #[test]
    fn a_users_file_is_replaced_but_not_through_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out/j.xml");
        write_named(&target, b"one").unwrap();
        write_named(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = tmp.path().join("out/h.html");
        symlink(&victim, &link).unwrap();
        let e = write_named(&link, b"x").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let below = target.join("below-a-file.html");
        let e = write_named(&below, b"x").unwrap_err();
        let FileError::Folder { source, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(matches!(**source, FileError::NotADirectory { .. }), "{e}");
        assert!(e.to_string().contains("below-a-file.html"), "{e}");
    }

    #[test]
    fn the_private_folder_is_made_0700_and_a_planted_link_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let art = tmp.path().join("a/synlab-artifacts");
        let dir = SafeDir::private(&art).unwrap();
        let mode = std::fs::metadata(&art).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        dir.subdir("6.1.0-57-amd64")
            .unwrap()
            .write("x", b"1")
            .unwrap();
        assert!(dir.subdir("..").is_err() && dir.subdir("a/b").is_err());
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let planted = tmp.path().join("planted");
        symlink(&elsewhere, &planted).unwrap();
        let e = SafeDir::private(&planted).unwrap_err();
        assert!(matches!(e, FileError::Symlink { .. }), "{e}");
        symlink(&elsewhere, art.join("sub")).unwrap();
        assert!(matches!(dir.subdir("sub"), Err(FileError::Symlink { .. })));
    }

    #[test]
    fn a_folder_of_another_user_is_refused_as_ours() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: cannot give a folder to another user here");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let theirs = tmp.path().join("synlab-artifacts");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let e = SafeDir::private(&theirs).unwrap_err();
        assert!(matches!(e, FileError::NotOurs { uid: 65534, .. }), "{e}");
        let file = tmp.path().join("f");
        std::fs::write(&file, "theirs").unwrap();
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        assert!(matches!(
            write_named(&file, b"x"),
            Err(FileError::NotOurs { .. })
        ));
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), 65534);
    }

    #[test]
    fn reading_inside_a_folder_refuses_ways_out() {
        let tmp = tempfile::tempdir().unwrap();
        let rw = tmp.path().join("rw");
        std::fs::create_dir_all(rw.join("pcap")).unwrap();
        std::fs::write(rw.join("pcap/a.pcap"), "ok").unwrap();
        std::fs::write(tmp.path().join("secret"), "secret").unwrap();
        symlink(tmp.path().join("secret"), rw.join("pcap/link.pcap")).unwrap();
        symlink(tmp.path(), rw.join("up")).unwrap();
        assert_eq!(
            read_inside(&rw, Path::new("pcap/a.pcap"), 10).unwrap(),
            b"ok"
        );
        for bad in [
            "../secret",
            "/etc/passwd",
            "pcap/link.pcap",
            "up/secret",
            "",
        ] {
            let e = read_inside(&rw, Path::new(bad), 10).unwrap_err();
            assert!(matches!(e, FileError::Outside { .. }), "{bad}: {e}");
        }
        assert!(matches!(
            read_inside(&rw, Path::new("pcap"), 10),
            Err(FileError::NotRegular { .. })
        ));
        assert!(matches!(
            read_inside(&rw, Path::new("pcap/a.pcap"), 1),
            Err(FileError::TooLarge { .. })
        ));
    }
}

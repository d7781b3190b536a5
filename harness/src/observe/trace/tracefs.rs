//! Reading tracefs files (the events' `format`, which holds their id and field
//! offsets): from the host's mount at /sys/kernel/tracing or, when the host has
//! none, through a private mount that only a short-lived thread sees.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::statfs;
use rustix::mount::{MountFlags, MountPropagationFlags, mount, mount_change};
use rustix::thread::{UnshareFlags, unshare_unsafe};

use super::error::TraceError;

/// Where tracefs lives on current systems.
const TRACEFS: &str = "/sys/kernel/tracing";
/// `f_type` of a tracefs mount (`include/uapi/linux/magic.h`).
const TRACEFS_MAGIC: i64 = 0x7472_6163;

/// What [`read_files`] read: each file's text, the tracefs root they were
/// read from as the host names it, and whether it took a private mount.
#[derive(Debug, Clone)]
pub(super) struct Files {
    pub(super) texts: Vec<String>,
    pub(super) root: PathBuf,
    pub(super) private_mount: bool,
}

/// Reads the files `rels` (relative to the tracefs root) from the host's
/// tracefs, or, when /sys/kernel/tracing has none, from a private mount.
///
/// Equivalent to: `cat /sys/kernel/tracing/REL...`, or without tracefs there
/// `unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing; cat ...'`
pub(super) fn read_files(rels: &[&str]) -> Result<Files, TraceError> {
    let root = Path::new(TRACEFS);
    match statfs(root) {
        #[allow(clippy::unnecessary_cast)]
        Ok(st) if st.f_type as i64 == TRACEFS_MAGIC => Ok(Files {
            texts: read_all(root, rels)?,
            root: root.to_path_buf(),
            private_mount: false,
        }),
        Ok(_) => read_privately(rels),
        Err(e) => Err(TraceError::Unavailable {
            why: format!("{TRACEFS}: {e} (is sysfs mounted? tracefs needs Linux 4.1+)"),
        }),
    }
}

/// The host has no tracefs mounted: a thread unshares its mount namespace
/// (CLONE_NEWNS | CLONE_FS, allowed in a multithreaded process), makes every
/// mount private so nothing propagates to the host, mounts tracefs, reads the
/// files and exits; its mount namespace, and the mount, go with it. Nothing
/// is ever mounted on the host, also when the process is killed meanwhile.
fn read_privately(rels: &[&str]) -> Result<Files, TraceError> {
    let rels: Vec<String> = rels.iter().map(|r| r.to_string()).collect();
    let reader = std::thread::Builder::new()
        .name("synlab-tracefs".into())
        .spawn(move || -> Result<Vec<String>, TraceError> {
            let fail = |what: &str, e: io::Error| {
                let hint = match e.raw_os_error() {
                    Some(libc::EPERM) => " (needs CAP_SYS_ADMIN: run as root)",
                    Some(libc::ENODEV) => " (the kernel has no tracefs: CONFIG_TRACING is off)",
                    _ => "",
                };
                TraceError::Unavailable {
                    why: format!("tracefs is not mounted at {TRACEFS}; {what}: {e}{hint}"),
                }
            };
            // SAFETY: unshares only this thread's mount namespace and fs info;
            // this thread touches no file system state that others share.
            unsafe { unshare_unsafe(UnshareFlags::NEWNS | UnshareFlags::FS) }
                .map_err(|e| fail("unshare(CLONE_NEWNS) for a private mount", e.into()))?;
            make_private().map_err(|e| fail("make the private mount tree private", e.into()))?;
            let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
            mount("nodev", TRACEFS, "tracefs", flags, None)
                .map_err(|e| fail("mount tracefs privately", e.into()))?;
            let rels: Vec<&str> = rels.iter().map(String::as_str).collect();
            read_all(Path::new(TRACEFS), &rels)
        })
        .map_err(|e| TraceError::Unavailable {
            why: format!("start the thread that reads tracefs: {e}"),
        })?;
    let texts = reader.join().map_err(|_| TraceError::Unavailable {
        why: "the thread that reads tracefs panicked".into(),
    })??;
    Ok(Files {
        texts,
        root: PathBuf::from(TRACEFS),
        private_mount: true,
    })
}

/// Make this thread's mount tree private (recursively), so the tracefs mount
/// propagates nowhere. `/` first; in a plain chroot `/` is no mount point
/// (EINVAL), and the mount tracefs goes under is `/sys` (or `/sys/kernel`).
fn make_private() -> rustix::io::Result<()> {
    let flags = MountPropagationFlags::REC | MountPropagationFlags::PRIVATE;
    let mut last = rustix::io::Errno::INVAL;
    for at in ["/", "/sys", "/sys/kernel"] {
        match mount_change(at, flags) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn read_all(root: &Path, rels: &[&str]) -> Result<Vec<String>, TraceError> {
    rels.iter()
        .map(|rel| {
            let path = root.join(rel);
            fs::read_to_string(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => TraceError::Unavailable {
                    why: format!("{}: no such trace event on this kernel", path.display()),
                },
                _ => TraceError::Io {
                    op: format!("read {}", path.display()),
                    source: e,
                },
            })
        })
        .collect()
}

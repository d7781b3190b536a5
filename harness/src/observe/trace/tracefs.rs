//! Reading tracefs files (the events' `format`, which hold their id and field
//! offsets): from the host's mount at /sys/kernel/tracing or, when the host has
//! none, from a detached tracefs mount that no mount namespace ever shows.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, openat, statfs};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsmount, fsopen};

use super::error::TraceError;

/// Where tracefs lives on current systems.
const TRACEFS: &str = "/sys/kernel/tracing";
/// `f_type` of a tracefs mount (`include/uapi/linux/magic.h`).
const TRACEFS_MAGIC: i64 = 0x7472_6163;

/// Reads the files `rels` (relative to the tracefs root) from the host's
/// tracefs or, when /sys/kernel/tracing has none (a chroot, a minimal guest),
/// from a detached mount of it: `fsopen()` + `fsmount()` (Linux 5.2+) give a
/// mount that is attached nowhere and goes when its descriptor is closed, so
/// nothing is ever mounted on the host, also when the process is killed.
///
/// Equivalent to: `cat /sys/kernel/tracing/REL...`
pub(super) fn read_files(rels: &[&str]) -> Result<Vec<String>, TraceError> {
    let root = match statfs(TRACEFS) {
        #[allow(clippy::unnecessary_cast)]
        Ok(st) if st.f_type as i64 == TRACEFS_MAGIC => {
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            openat(rustix::fs::CWD, TRACEFS, flags, Mode::empty())
                .map_err(|e| unavailable(format!("open {TRACEFS}: {e}")))?
        }
        Ok(_) => detached_mount()?,
        Err(e) => {
            let why = format!("{TRACEFS}: {e} (is sysfs mounted? tracefs needs Linux 4.1+)");
            return Err(unavailable(why));
        }
    };
    rels.iter().map(|rel| read_at(&root, rel)).collect()
}

/// A new tracefs mount, read-only, attached nowhere.
///
/// Equivalent to: `unshare -m sh -c 'mount -t tracefs -o ro nodev DIR'`, without
/// the namespace or the folder.
fn detached_mount() -> Result<OwnedFd, TraceError> {
    let fail = |what: &str, e: rustix::io::Errno| {
        let hint = match e {
            rustix::io::Errno::PERM => " (needs CAP_SYS_ADMIN: run as root)",
            rustix::io::Errno::NODEV => " (the kernel has no tracefs: CONFIG_TRACING is off)",
            rustix::io::Errno::NOSYS => " (fsopen() needs Linux 5.2+)",
            _ => "",
        };
        unavailable(format!(
            "tracefs is not mounted at {TRACEFS}; {what}: {e}{hint}"
        ))
    };
    let fs = fsopen("tracefs", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| fail("fsopen", e))?;
    fsconfig_create(&fs).map_err(|e| fail("create a tracefs mount", e))?;
    let attrs = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| fail("fsmount", e))
}

/// The text of `rel` under the tracefs root `root`.
fn read_at(root: &OwnedFd, rel: &str) -> Result<String, TraceError> {
    let path = Path::new(TRACEFS).join(rel);
    let open = openat(root, rel, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty());
    let mut text = String::new();
    let read = open
        .map_err(io::Error::from)
        .and_then(|fd| File::from(fd).read_to_string(&mut text));
    match read {
        Ok(_) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(unavailable(format!(
            "{}: no such trace event on this kernel",
            path.display()
        ))),
        Err(source) => Err(TraceError::Io {
            op: format!("read {}", path.display()),
            source,
        }),
    }
}

fn unavailable(why: String) -> TraceError {
    TraceError::Unavailable { why }
}

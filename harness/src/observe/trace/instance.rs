//! A tracefs instance (`instances/synlab-<pid>-<n>`) as a guard that removes
//! itself, and the removal of the instances that dead processes left.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::error::{TraceError, io_err};
use super::tracefs::tracefs_root;

/// Instance names are `synlab-<pid>-<n>`.
const INSTANCE_PREFIX: &str = "synlab-";
/// How long Drop retries `rmdir` while the kernel reports EBUSY (a reader of
/// the instance still open somewhere).
const RMDIR_RETRY: Duration = Duration::from_secs(1);

/// Instances made by this process get `n` from here.
static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(0);

pub(super) fn next_instance_name() -> String {
    format!(
        "{INSTANCE_PREFIX}{}-{}",
        std::process::id(),
        NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the `synlab-<pid>-*` instances whose process is gone (a SIGKILLed
/// run cannot run `Drop`). Returns the names removed. Uses the private tracefs
/// mount when the host has none.
///
/// Equivalent to: `rmdir /sys/kernel/tracing/instances/synlab-<dead pid>-*`
pub fn remove_stale_instances() -> Result<Vec<String>, TraceError> {
    let (root, _) = tracefs_root()?;
    remove_stale_instances_in(&root)
}

pub(super) fn remove_stale_instances_in(root: &Path) -> Result<Vec<String>, TraceError> {
    let dir = root.join("instances");
    let entries = fs::read_dir(&dir).map_err(io_err(format!("list {}", dir.display())))?;
    let mut removed = Vec::new();
    let mut first_error = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = instance_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        let mut stale = Instance {
            path: entry.path(),
            removed: false,
        };
        match stale.remove() {
            Ok(()) => removed.push(name),
            Err(e) => {
                stale.removed = true; // reported here; Drop need not retry
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// The pid in an instance name `synlab-<pid>-<n>`.
fn instance_pid(name: &str) -> Option<libc::pid_t> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok().filter(|p| *p > 0)
}

fn pid_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A tracefs instance directory; `Drop` disables it and removes it.
pub(super) struct Instance {
    pub(super) path: PathBuf,
    pub(super) removed: bool,
}

impl Instance {
    /// Equivalent to: `mkdir /sys/kernel/tracing/instances/NAME`
    pub(super) fn create(instances: &Path, name: &str) -> Result<Instance, TraceError> {
        let path = instances.join(name);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Left by an earlier process with our pid: not ours to keep.
                Instance {
                    path: path.clone(),
                    removed: false,
                }
                .remove()?;
                fs::create_dir(&path).map_err(io_err(format!("mkdir {}", path.display())))?;
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                return Err(TraceError::Unavailable {
                    why: format!(
                        "cannot create the tracefs instance {}: {e} (needs root; a \
                         kernel in lockdown mode refuses tracefs)",
                        path.display()
                    ),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TraceError::Unavailable {
                    why: format!(
                        "{} does not exist: kernel without tracefs instances",
                        instances.display()
                    ),
                });
            }
            Err(e) => return Err(io_err(format!("mkdir {}", path.display()))(e)),
        }
        Ok(Instance {
            path,
            removed: false,
        })
    }

    /// Equivalent to: `echo VALUE > INSTANCE/REL`
    pub(super) fn write(&self, rel: &str, value: &str) -> Result<(), TraceError> {
        let path = self.path.join(rel);
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(io_err(format!("write {value:?} to {}", path.display())))
    }

    /// Disables tracing and every event, then removes the directory, retrying
    /// while the kernel says EBUSY (a reader still open).
    ///
    /// Equivalent to: `echo 0 > tracing_on; echo 0 > events/enable; rmdir INSTANCE`
    pub(super) fn remove(&mut self) -> Result<(), TraceError> {
        if self.removed {
            return Ok(());
        }
        let _ = self.write("tracing_on", "0");
        let _ = self.write("events/enable", "0");
        let deadline = Instant::now() + RMDIR_RETRY;
        loop {
            match fs::remove_dir(&self.path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(io_err(format!("rmdir {}", self.path.display()))(e)),
            }
        }
        self.removed = true;
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            // Nowhere to return it; a left instance must not go unnoticed.
            eprintln!("synlab: tracefs instance left behind: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::testnet::require_root;

    #[test]
    fn instance_names_parse() {
        assert_eq!(instance_pid("synlab-1234-0"), Some(1234));
        assert_eq!(instance_pid("synlab-1234-x"), None);
        assert_eq!(instance_pid("synlab-x-1"), None);
        assert_eq!(instance_pid("other-1234-0"), None);
    }

    #[test]
    fn stale_instances_of_dead_processes_are_removed_and_live_ones_kept() {
        require_root();
        let (root, _) = tracefs_root().expect("tracefs");
        let pid_max: libc::pid_t = fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32768);
        let dead = (2..pid_max)
            .rev()
            .find(|p| !pid_alive(*p))
            .expect("a free pid");
        let stale_name = format!("synlab-{dead}-0");
        let live_name = format!("synlab-{}-999999", std::process::id());
        let stale = root.join("instances").join(&stale_name);
        let live = root.join("instances").join(&live_name);
        fs::create_dir(&stale).expect("mkdir a stale instance");
        fs::create_dir(&live).expect("mkdir a live instance");
        let removed = remove_stale_instances().expect("remove stale instances");
        let live_kept = live.exists();
        let _ = fs::remove_dir(&live);
        assert!(removed.contains(&stale_name), "removed: {removed:?}");
        assert!(!stale.exists());
        assert!(live_kept, "an instance of a live process was removed");
    }
}

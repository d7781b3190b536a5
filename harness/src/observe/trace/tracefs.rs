//! Where tracefs is: the host's mount at /sys/kernel/tracing or, when the host
//! has none, a private mount that only this process sees; and reading its files.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use super::error::TraceError;
use super::reaper::{ForkRequest, PRIVATE_FORKER, fork_reaper};

/// Where tracefs lives on current systems.
use super::TRACEFS;
/// `f_type` of a tracefs mount (`include/uapi/linux/magic.h`).
const TRACEFS_MAGIC: i64 = 0x7472_6163;

/// Set once this process has mounted tracefs.
pub(super) static MOUNTED_BY_US: AtomicBool = AtomicBool::new(false);
/// Serialises the look-then-mount of tracefs inside this process.
static MOUNT_LOCK: Mutex<()> = Mutex::new(());

/// The tracefs root: `/sys/kernel/tracing` when tracefs is mounted there, else
/// a private mount of it that the host never sees (see [`private_tracefs`]).
/// Returns whether the private mount is used.
///
/// Equivalent to: `mountpoint -q /sys/kernel/tracing`, else
/// `unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing; ...'`
pub(super) fn tracefs_root() -> Result<(PathBuf, bool), TraceError> {
    let root = Path::new(TRACEFS);
    let _guard = MOUNT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    match is_tracefs(root) {
        Ok(true) => Ok((root.to_path_buf(), false)),
        Ok(false) => {
            let private = private_tracefs()?;
            MOUNTED_BY_US.store(true, Ordering::Relaxed);
            Ok((private, true))
        }
        Err(e) => Err(TraceError::Unavailable {
            why: format!("{TRACEFS}: {e} (is sysfs mounted? tracefs needs Linux 4.1+)"),
        }),
    }
}

/// The private tracefs mount, made once per process.
static PRIVATE_ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// When the host has no tracefs mounted, mount one where only this process sees
/// it: a thread unshares its mount namespace (CLONE_NEWNS | CLONE_FS, allowed in
/// a multithreaded process), makes every mount private so nothing propagates to
/// the host, mounts tracefs at /sys/kernel/tracing and then only parks. Every
/// other thread reaches it through `/proc/<pid>/task/<tid>/root/sys/kernel/tracing`.
/// The mount namespace, and the mount, die with the process: no mount is ever
/// left behind, also after SIGKILL.
fn private_tracefs() -> Result<PathBuf, TraceError> {
    PRIVATE_ROOT
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Result<libc::pid_t, String>>();
            let spawned = std::thread::Builder::new()
                .name("synlab-tracefs".into())
                .spawn(move || {
                    let fail = |what: &str| {
                        let e = io::Error::last_os_error();
                        let hint = match e.raw_os_error() {
                            Some(libc::EPERM) => " (needs CAP_SYS_ADMIN: run as root)",
                            Some(libc::ENODEV) => {
                                " (the kernel has no tracefs: CONFIG_TRACING is off)"
                            }
                            _ => "",
                        };
                        format!("tracefs is not mounted at {TRACEFS}; {what}: {e}{hint}")
                    };
                    // SAFETY: changes only this thread's mount namespace and fs info.
                    if unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) } != 0 {
                        let _ = tx.send(Err(fail("unshare(CLONE_NEWNS) for a private mount")));
                        return;
                    }
                    // SAFETY: NUL-terminated strings; null data and source are allowed.
                    if unsafe {
                        libc::mount(
                            std::ptr::null(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        )
                    } != 0
                    {
                        let _ = tx.send(Err(fail("make the private mount tree private")));
                        return;
                    }
                    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                    // SAFETY: as above.
                    if unsafe {
                        libc::mount(
                            c"nodev".as_ptr(),
                            c"/sys/kernel/tracing".as_ptr(),
                            c"tracefs".as_ptr(),
                            flags,
                            std::ptr::null(),
                        )
                    } != 0
                    {
                        let _ = tx.send(Err(fail("mount tracefs privately")));
                        return;
                    }
                    let (fork_tx, fork_rx) = std::sync::mpsc::channel::<ForkRequest>();
                    *PRIVATE_FORKER.lock().unwrap_or_else(|e| e.into_inner()) = Some(fork_tx);
                    // SAFETY: gettid has no preconditions.
                    let _ = tx.send(Ok(unsafe { libc::gettid() }));
                    // Serve reaper forks, so a reaper lives in this mount namespace
                    // and sees the private tracefs; otherwise only hold the mount.
                    while let Ok((path, reply)) = fork_rx.recv() {
                        let _ = reply.send(fork_reaper(&path));
                    }
                    loop {
                        std::thread::park();
                    }
                });
            if let Err(e) = spawned {
                return Err(format!("start the tracefs thread: {e}"));
            }
            let tid = rx
                .recv()
                .map_err(|_| "the tracefs thread stopped".to_string())??;
            Ok(PathBuf::from(format!(
                "/proc/{}/task/{tid}/root{TRACEFS}",
                std::process::id()
            )))
        })
        .clone()
        .map_err(|why| TraceError::Unavailable { why })
}

fn is_tracefs(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statfs fills the zeroed struct; c is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64 == TRACEFS_MAGIC)
}

/// Reads a tracefs text file with one large buffer: some (like
/// `events/header_page`) answer a second, continuing read with EOF, so the
/// small first read of `fs::read_to_string` would cut them after 32 bytes.
pub(super) fn read_tracefs(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

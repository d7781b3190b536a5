//! A guest's folder that goes when synlab goes, however it goes: a process
//! forked for the folder waits for synlab to close a pipe (its end closes
//! when synlab drops the folder, or when the kernel closes it for a synlab
//! killed by SIGKILL), then removes the folder, never following a link, and
//! exits. It ignores the signals a terminal sends its process group (Ctrl-C)
//! and holds no other file of synlab's, so no other guest's watcher waits on
//! it.
//!
//! After `fork` in a process with threads the child may only make
//! async-signal-safe calls: it allocates nothing, and removes the tree with
//! `openat`, `getdents64` and `unlinkat` on buffers of its stack.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The watcher of one folder; dropping it lets the watcher remove the folder
/// (when it is still there) and waits for it to end.
pub struct Reaper {
    pipe: Option<OwnedFd>,
    pid: libc::pid_t,
}

impl Reaper {
    /// Start the watcher of `dir` (an absolute path to a folder of ours).
    pub fn watch(dir: &Path) -> std::io::Result<Reaper> {
        let path = CString::new(dir.as_os_str().as_bytes())?;
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into the array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both fds are new and owned here alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the child makes async-signal-safe calls only (see `watcher`)
        // and ends with _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: in the child after fork; `watcher` never returns.
            unsafe { watcher(read.as_raw_fd(), &path) }
        }
        drop(read);
        Ok(Reaper {
            pipe: Some(write),
            pid,
        })
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.pipe.take());
        let mut status = 0;
        // SAFETY: our own child, reaped once.
        unsafe {
            libc::waitpid(self.pid, &mut status, 0);
        }
    }
}

/// The watcher's life: wait for EOF on `fd`, remove `path`, exit.
///
/// # Safety
/// Only in the child right after `fork`.
unsafe fn watcher(fd: libc::c_int, path: &CStr) -> ! {
    // SAFETY: plain system calls on values of our own.
    unsafe {
        // Out of synlab's process group and session: Ctrl-C is not ours.
        libc::setsid();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(sig, libc::SIG_IGN);
        }
        // Every fd but the pipe's read end (on 3) and 0..2 closed: another
        // watcher's pipe held here would keep that one waiting.
        let kept = if fd == 3 { 3 } else { libc::dup2(fd, 3) };
        if kept == 3 {
            let _ = libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        }
        let mut b = 0u8;
        loop {
            let n = libc::read(3, (&mut b as *mut u8).cast(), 1);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            break;
        }
        let top = libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        );
        if top >= 0 {
            empty(top, 0);
            libc::close(top);
            libc::rmdir(path.as_ptr());
        }
        libc::_exit(0)
    }
}

/// Remove everything in the open folder `dir`, links as links, at most 16
/// folders deep.
///
/// # Safety
/// Async-signal-safe: stack buffers and system calls only.
unsafe fn empty(dir: libc::c_int, depth: u32) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: getdents64 fills at most `buf.len()` bytes of `buf`.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir,
                buf.as_mut_ptr(),
                buf.len() as libc::c_uint,
            )
        };
        if n <= 0 {
            return;
        }
        let mut at = 0usize;
        let mut removed = 0;
        while at < n as usize {
            // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let kind = buf[at + 18];
            let name = buf[at + 19..].as_ptr().cast::<libc::c_char>();
            let dot = buf[at + 19] == b'.'
                && (buf[at + 20] == 0 || (buf[at + 20] == b'.' && buf[at + 21] == 0));
            if !dot {
                // SAFETY: `name` is NUL-terminated inside `buf`.
                let gone = unsafe {
                    if kind == libc::DT_DIR && depth < 16 {
                        let sub = libc::openat(
                            dir,
                            name,
                            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                        );
                        if sub >= 0 {
                            empty(sub, depth + 1);
                            libc::close(sub);
                        }
                        libc::unlinkat(dir, name, libc::AT_REMOVEDIR) == 0
                    } else {
                        libc::unlinkat(dir, name, 0) == 0
                    }
                };
                removed += usize::from(gone);
            }
            at += reclen;
        }
        if removed > 0 {
            // Entries were removed under the reading: read from the start
            // (what could not be removed is not counted, so this ends).
            // SAFETY: a seek on our own folder fd.
            unsafe {
                libc::lseek(dir, 0, libc::SEEK_SET);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_goes_when_the_reaper_is_dropped_and_a_link_in_it_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "precious").unwrap();
        let dir = tmp.path().join("guest");
        std::fs::create_dir_all(dir.join("rw/pcap/deeper")).unwrap();
        std::fs::write(dir.join("rw/pcap/deeper/x.pcap"), "x").unwrap();
        std::fs::write(dir.join("virtme_ret123"), "0").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("rw/link")).unwrap();
        let reaper = Reaper::watch(&dir).unwrap();
        assert!(dir.exists(), "the folder stays while synlab holds it");
        drop(reaper);
        assert!(!dir.exists(), "the folder is gone");
        assert_eq!(
            std::fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
    }
}

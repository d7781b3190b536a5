//! The reaper: a forked process that removes a shared instance once this process
//! is gone, however it ends (SIGKILL included).

use std::ffi::CString;
use std::io;
use std::sync::Mutex;

use super::TRACEFS;

/// A request to the private tracefs thread: fork a reaper for this instance path.
pub(super) type ForkRequest = (CString, std::sync::mpsc::Sender<io::Result<()>>);

/// The private tracefs thread's fork requests (set when that thread runs).
pub(super) static PRIVATE_FORKER: Mutex<Option<std::sync::mpsc::Sender<ForkRequest>>> =
    Mutex::new(None);

/// Start a reaper for the instance `name`: a process that removes it once this
/// process is gone, however it ends (SIGKILL included). Forked from the private
/// tracefs thread when there is one, so it sees the same tracefs.
///
/// Equivalent to: `( while kill -0 $$; do sleep 1; done; rmdir instances/NAME ) &`,
/// but woken by the kernel closing a pipe instead of polling.
pub(super) fn start_reaper(name: &str, private: bool) -> io::Result<()> {
    let path = CString::new(format!("{TRACEFS}/instances/{name}"))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if !private {
        return fork_reaper(&path);
    }
    let sender = PRIVATE_FORKER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| io::Error::other("the private tracefs thread is not running"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    sender
        .send((path, tx))
        .map_err(|_| io::Error::other("the private tracefs thread stopped"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the private tracefs thread stopped"))?
}

/// The signals a terminal or a test runner sends to a whole group.
const IGNORED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGTERM];

/// Fork the reaper. The child keeps only the read end of a pipe whose write end
/// only this process holds (close-on-exec, never closed): when this process is
/// gone the read sees end-of-file, and the child removes the instance (retrying
/// briefly while the kernel still holds it) and exits. It leaves its session and
/// ignores the terminal's signals, so a Ctrl-C to the group cannot stop it before
/// it has cleaned up; it closes every other inherited fd, so it keeps no
/// namespace, socket or pipe of ours alive.
pub(super) fn fork_reaper(path: &CString) -> io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (r, w) = (fds[0], fds[1]);
    // The terminal's signals stay blocked across the fork: a Ctrl-C to the
    // process group right then must not kill the reaper before it has made
    // itself immune (the child inherits the mask; SIG_IGN discards what is pending).
    // SAFETY: sigset_t is plain data, filled by sigemptyset/sigaddset.
    let mut block: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers; only this thread's mask changes.
    unsafe {
        libc::sigemptyset(&mut block);
        for sig in IGNORED {
            libc::sigaddset(&mut block, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
    }
    // SAFETY: the child calls only async-signal-safe functions (close_range,
    // setsid, sigaction via signal, read, rmdir, usleep, _exit) on memory that
    // was ready before the fork.
    let pid = unsafe { libc::fork() };
    if pid != 0 {
        // SAFETY: restores this thread's mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: closing our own fresh descriptors.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        return Err(e);
    }
    if pid == 0 {
        // SAFETY: see above; every pointer is to memory owned before the fork.
        unsafe {
            if r > 0 {
                libc::syscall(libc::SYS_close_range, 0u32, (r - 1) as u32, 0u32);
            }
            libc::syscall(libc::SYS_close_range, (r + 1) as u32, u32::MAX, 0u32);
            libc::setsid();
            for sig in IGNORED {
                libc::signal(sig, libc::SIG_IGN);
            }
            let mut byte = 0u8;
            loop {
                let n = libc::read(r, (&mut byte as *mut u8).cast(), 1);
                if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                    break;
                }
            }
            for _ in 0..200 {
                if libc::rmdir(path.as_ptr()) == 0 || *libc::__errno_location() == libc::ENOENT {
                    break;
                }
                libc::usleep(10_000);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: the read end is the child's now; the write end stays open (and is
    // never closed) for as long as this process lives.
    unsafe { libc::close(r) };
    Ok(())
}

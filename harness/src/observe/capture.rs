//! Capture every frame on the server's veth with an AF_PACKET socket (what
//! `tcpdump -i <veth>` sees), independent of the code that sends. Frames keep
//! their kernel timestamp (SO_TIMESTAMPNS) and direction; TCP ones are parsed
//! into `wire::Segment`s once, here.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use crate::wire::{Frame, Segment};

/// CLOCK_REALTIME in ns: the capture's clock (SO_TIMESTAMPNS), for stamps
/// taken outside the capture that must sort among its frames.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[derive(Default)]
struct Store {
    frames: Vec<Frame>,
    segments: Vec<Segment>,
    /// Frames the interface received (not sent): `frames` without the outgoing.
    incoming: u64,
}

/// The reading end of a capture: shared, cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Capture {
    store: Arc<Mutex<Store>>,
    count: watch::Receiver<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("AF_PACKET capture: {op}: {source}")]
    Io { op: &'static str, source: io::Error },
}

fn os_err(op: &'static str) -> CaptureError {
    CaptureError::Io {
        op,
        source: io::Error::last_os_error(),
    }
}

impl Capture {
    /// Open the capture on `ifindex` and start reading it on the current thread's
    /// LocalSet. Must be called on the namespace thread that owns the interface.
    ///
    /// Equivalent to: `tcpdump -i <veth> -w -` (in the server namespace).
    pub fn start(ifindex: u32) -> Result<Capture, CaptureError> {
        let fd = open_packet_socket(ifindex)?;
        // SAFETY: the OwnedFd stays owned (and open) by the AsyncFd until it drops.
        let afd = unsafe { AsyncFd::register(fd) }.map_err(|e| CaptureError::Io {
            op: "register with tokio",
            source: e.into_parts().1,
        })?;
        let store = Arc::new(Mutex::new(Store::default()));
        let (tx, rx) = watch::channel(0usize);
        let writer = Arc::clone(&store);
        // The reader goes when its namespace thread does; its socket is closed
        // off that thread (see `lab::later`), and the thread exits at once.
        let afd = ClosedLater(Some(afd));
        tokio::task::spawn_local(async move {
            let Some(afd) = afd.0.as_ref() else { return };
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok(mut guard) = afd.readable().await else {
                    return;
                };
                loop {
                    match recv_frame(afd.get_ref().as_raw_fd(), &mut buf) {
                        Ok(Some(frame)) => {
                            let n = {
                                let mut s = writer.lock().unwrap_or_else(|p| p.into_inner());
                                if let Some(seg) =
                                    Segment::parse(&frame.data, frame.at_ns, frame.outgoing)
                                {
                                    s.segments.push(seg);
                                }
                                s.incoming += u64::from(!frame.outgoing);
                                s.frames.push(frame);
                                s.segments.len()
                            };
                            let _ = tx.send(n);
                        }
                        Ok(None) => {
                            guard.clear_ready();
                            break;
                        }
                        Err(_) => return,
                    }
                }
            }
        });
        Ok(Capture { store, count: rx })
    }

    /// The TCP segments captured so far, in arrival order.
    pub fn segments(&self) -> Vec<Segment> {
        self.lock().segments.clone()
    }

    /// Every frame captured so far (for the pcap).
    pub fn frames(&self) -> Vec<Frame> {
        self.lock().frames.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many frames the interface has received since the capture started.
    pub fn incoming(&self) -> u64 {
        self.lock().incoming
    }

    /// Wait until the interface has received at least `n` frames since the
    /// capture started, or the deadline passes; on timeout, returns how many
    /// it had. A frame counted as sent by the other end of a veth is on its way
    /// here already, so this is how to know that everything sent was captured.
    pub async fn wait_incoming(&self, deadline: tokio::time::Instant, n: u64) -> Result<(), u64> {
        let mut rx = self.count.clone();
        loop {
            let seen = self.incoming();
            if seen >= n {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => {
                    let seen = self.incoming();
                    return if seen >= n { Ok(()) } else { Err(seen) };
                }
            }
        }
    }

    /// Wait until `cond` returns `Some` for the captured segments, or the deadline
    /// passes; on timeout, returns the segments last seen.
    pub async fn wait_for<T>(
        &self,
        deadline: tokio::time::Instant,
        mut cond: impl FnMut(&[Segment]) -> Option<T>,
    ) -> Result<T, Vec<Segment>> {
        let mut rx = self.count.clone();
        loop {
            if let Some(v) = cond(&self.lock().segments) {
                return Ok(v);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // The reader stopped (namespace gone) or time is up: one last look.
                _ => {
                    let segs = self.segments();
                    return cond(&segs).ok_or(segs);
                }
            }
        }
    }
}

/// The capture's socket, deregistered from the runtime and closed on a
/// background thread when dropped (`packet_release()` waits for an RCU grace
/// period).
struct ClosedLater(Option<AsyncFd<OwnedFd>>);

impl Drop for ClosedLater {
    fn drop(&mut self) {
        if let Some(afd) = self.0.take() {
            crate::lab::drop_later(afd.into_inner());
        }
    }
}

/// An AF_PACKET socket bound to `ifindex`: `protocol` ETH_P_ALL to read every
/// frame, 0 for a socket that only sends (the raw peer).
///
/// Equivalent to: what `tcpdump -i <dev>` opens.
pub(crate) fn packet_socket(ifindex: u32, protocol: u16, nonblocking: bool) -> io::Result<OwnedFd> {
    let flags =
        libc::SOCK_RAW | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket(2) call; the fd is owned right after.
    let raw = unsafe { libc::socket(libc::AF_PACKET, flags, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: valid fd and a fully initialised sockaddr_ll of the given size.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn open_packet_socket(ifindex: u32) -> Result<OwnedFd, CaptureError> {
    let fd = packet_socket(ifindex, libc::ETH_P_ALL as u16, true).map_err(|source| {
        CaptureError::Io {
            op: "open and bind an AF_PACKET socket",
            source,
        }
    })?;
    let on: libc::c_int = 1;
    // SAFETY: valid fd, option value points to a c_int of the given size.
    if unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    } != 0
    {
        return Err(os_err("setsockopt(SO_TIMESTAMPNS)"));
    }
    Ok(fd)
}

/// Read one frame without blocking; `Ok(None)` when nothing is queued.
fn recv_frame(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Frame>> {
    // SAFETY: all-zero is a valid sockaddr_ll / msghdr.
    let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg_buf = [0u64; 16];
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>();
    // SAFETY: msg points to live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            io::ErrorKind::Interrupted => Ok(None),
            _ => Err(err),
        };
    }
    let len = (n as usize).min(buf.len());
    let mut at_ns = None;
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                at_ns = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let at_ns = at_ns.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos() as u64
    });
    Ok(Some(Frame {
        at_ns,
        outgoing: addr.sll_pkttype == libc::PACKET_OUTGOING,
        data: buf[..len].to_vec(),
    }))
}

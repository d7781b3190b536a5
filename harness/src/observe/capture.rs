//! Capture every frame on the lab's capture link with an AF_PACKET socket
//! (what `tcpdump -i <veth>` sees), independent of the code that sends. Frames keep
//! their kernel timestamp (SO_TIMESTAMPNS) and direction; TCP ones are parsed
//! into `wire::Segment`s once, here.

use std::io::{self, IoSliceMut};
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::socket::sockopt::ReceiveTimestampns;
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, LinkAddr, MsgFlags, SockFlag, SockType, recvmsg,
    setsockopt, socket,
};
use nix::sys::time::TimeSpec;

use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use crate::handover::ClosedInKernel;
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

impl Capture {
    /// Open the capture on `ifindex` and start reading it on the current thread's
    /// LocalSet. Must be called on the namespace thread that owns the interface.
    /// A segment's direction is told by `server`, its socket address; on an
    /// interface that sees each frame twice (`lo`: sent, then received),
    /// `outgoing_only` keeps the sent copy.
    ///
    /// Equivalent to: `tcpdump -i <veth> -w -` (in the server namespace), or
    /// `tcpdump -i lo -Q out`.
    pub fn start(
        ifindex: u32,
        server: std::net::SocketAddr,
        outgoing_only: bool,
    ) -> Result<Capture, CaptureError> {
        // Closing an AF_PACKET socket waits for an RCU grace period
        // (`packet_release()`): it is closed on a kernel worker (`handover`).
        let fd = ClosedInKernel::new(open_packet_socket(ifindex)?);
        // SAFETY: the descriptor stays owned (and open) by the AsyncFd until it drops.
        let afd = unsafe { AsyncFd::register(fd) }.map_err(|e| CaptureError::Io {
            op: "register with tokio",
            source: e.into_parts().1,
        })?;
        let store = Arc::new(Mutex::new(Store::default()));
        let (tx, rx) = watch::channel(0usize);
        let writer = Arc::clone(&store);
        // The reader goes when its namespace thread does; its socket is
        // deregistered and handed to the kernel to close.
        tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok(mut guard) = afd.readable().await else {
                    return;
                };
                loop {
                    match recv_frame(afd.get_ref().as_raw_fd(), &mut buf) {
                        Ok(Some(frame)) if outgoing_only && !frame.outgoing => {}
                        Ok(Some(frame)) => {
                            let n = {
                                let mut s = writer.lock().unwrap_or_else(|p| p.into_inner());
                                if let Some(seg) = Segment::parse(&frame.data, frame.at_ns, server)
                                {
                                    s.segments.push(seg);
                                }
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

    /// How many frames were captured so far.
    pub fn frames_len(&self) -> usize {
        self.lock().frames.len()
    }

    /// Wait until `cond` returns `Some` for the captured frames (TCP or not),
    /// or the deadline passes; on timeout, returns the segments last seen.
    pub async fn wait_frames<T>(
        &self,
        deadline: tokio::time::Instant,
        mut cond: impl FnMut(&[Frame]) -> Option<T>,
    ) -> Result<T, Vec<Segment>> {
        let mut rx = self.count.clone();
        loop {
            if let Some(v) = cond(&self.lock().frames) {
                return Ok(v);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => {
                    let store = self.lock();
                    return cond(&store.frames).ok_or_else(|| store.segments.clone());
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

/// An AF_PACKET socket bound to `ifindex`: `all` (ETH_P_ALL) to read every
/// frame, or a socket that only sends (protocol 0: the raw peer).
///
/// Equivalent to: what `tcpdump -i <dev>` opens.
pub(crate) fn packet_socket(ifindex: u32, all: bool, nonblocking: bool) -> io::Result<OwnedFd> {
    let mut flags = SockFlag::SOCK_CLOEXEC;
    if nonblocking {
        flags |= SockFlag::SOCK_NONBLOCK;
    }
    // Protocol 0 at socket(): no packet hook yet. One made there (ETH_P_ALL)
    // would be unregistered by bind() with synchronize_net() (packet_do_bind()),
    // an RCU grace period: 10 to 30 ms per case here. bind() registers it on
    // the one device, waiting for nothing.
    let fd = socket(AddressFamily::Packet, SockType::Raw, flags, None)?;
    // No safe constructor for a `sockaddr_ll` exists in nix or rustix.
    // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = if all {
        (libc::ETH_P_ALL as u16).to_be()
    } else {
        0
    };
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
    let fd = packet_socket(ifindex, true, true).map_err(|source| CaptureError::Io {
        op: "open and bind an AF_PACKET socket",
        source,
    })?;
    setsockopt(&fd, ReceiveTimestampns, &true).map_err(|e| CaptureError::Io {
        op: "setsockopt(SO_TIMESTAMPNS)",
        source: e.into(),
    })?;
    Ok(fd)
}

/// Read one frame without blocking; `Ok(None)` when nothing is queued.
fn recv_frame(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Frame>> {
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = match recvmsg::<LinkAddr>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT) {
        Ok(msg) => msg,
        Err(Errno::EAGAIN | Errno::EINTR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let at_ns = msg
        .cmsgs()
        .ok()
        .into_iter()
        .flatten()
        .find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(ts) => {
                Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
            }
            _ => None,
        })
        .unwrap_or_else(now_ns);
    let outgoing = msg
        .address
        .is_some_and(|a| a.pkttype() == libc::PACKET_OUTGOING);
    let len = msg.bytes.min(buf.len());
    Ok(Some(Frame {
        at_ns,
        outgoing,
        data: buf[..len].to_vec(),
    }))
}

//! The raw scripted peer: a client with no kernel TCP. It writes Ethernet frames
//! on an AF_PACKET socket bound to the client's veth end, which has no IP address
//! (and IPv6 disabled), so the client kernel never answers; the server has a
//! permanent neighbour entry for the client. It is the only way to send an exact
//! sequence number or an older timestamp. It reads the server's answers from the
//! server-side capture, and sends from one pinned thread so the server's softirq
//! processes its frames in the order they were written.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use etherparse::{PacketBuilder, TcpOptionElement};
use tokio::time::Instant as TokioInstant;

use crate::observe::capture::{Capture, packet_socket};
use crate::scenario::{SeqExpr, TsExpr};
use crate::wire::{self, Dir, Flags, Segment};

/// The first connection's ISN: near 2^32 on purpose, so `rcv_nxt + N` wraps.
pub const FIRST_ISN: u32 = 0xFFFF_FF00;
/// `seq = "auto"` for the raw peer: after `rcv_nxt` by what a kernel's ISN clock
/// (one tick per 64 ns) gains in about 6 ms.
pub const AUTO_SEQ_AHEAD: i64 = 100_000;
/// How long the peer waits for an answer before it calls it `none`.
pub const ANSWER_WAIT: Duration = Duration::from_millis(200);

pub use crate::scenario::Step;

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("raw peer: {op}: {source}")]
    Io { op: &'static str, source: io::Error },
    #[error("raw peer: build frame: {0}")]
    Build(String),
    #[error("raw peer: no {what} before the deadline")]
    Timeout { what: String, seen: Vec<Segment> },
}

/// The addresses and options the peer writes with.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub ifindex: u32,
    pub client_mac: [u8; 6],
    pub server_mac: [u8; 6],
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Offer the timestamp option (the client's `net.ipv4.tcp_timestamps` != 0).
    pub offer_ts: bool,
}

/// An AF_PACKET socket on the client's veth end and the peer's own clock.
pub struct RawPeer {
    fd: OwnedFd,
    ep: Endpoints,
    t0: Instant,
    ts_base: u32,
}

/// One segment to write.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tx {
    pub flags: Flags,
    pub seq: u32,
    pub ack: u32,
    pub ts: Option<(u32, u32)>,
}

impl RawPeer {
    /// Open the socket; call on the client namespace's thread. Pins that thread
    /// to the CPU it is on, so every frame enters the server's backlog in order.
    ///
    /// Equivalent to: a packetdrill-style raw socket on `dev`.
    pub fn open(ep: Endpoints) -> Result<RawPeer, RawError> {
        // Protocol 0: this socket only sends; the capture reads.
        let fd = packet_socket(ep.ifindex, 0, false).map_err(|source| RawError::Io {
            op: "open and bind an AF_PACKET socket",
            source,
        })?;
        pin_to_current_cpu();
        Ok(RawPeer {
            fd,
            ep,
            t0: Instant::now(),
            ts_base: 1_000_000,
        })
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.ep
    }

    /// The peer's timestamp clock: milliseconds, like a kernel's.
    pub fn now_ts(&self) -> u32 {
        let ms = u32::try_from(self.t0.elapsed().as_millis()).unwrap_or(u32::MAX);
        self.ts_base.wrapping_add(ms)
    }

    /// Build the Ethernet frame for `tx`.
    pub fn frame(&self, tx: &Tx) -> Result<Vec<u8>, RawError> {
        let ep = &self.ep;
        let eth = PacketBuilder::ethernet2(ep.client_mac, ep.server_mac);
        let ip = match (ep.client.ip(), ep.server.ip()) {
            (IpAddr::V4(c), IpAddr::V4(s)) => eth.ipv4(c.octets(), s.octets(), 64),
            (IpAddr::V6(c), IpAddr::V6(s)) => eth.ipv6(c.octets(), s.octets(), 64),
            _ => return Err(RawError::Build("mixed address families".into())),
        };
        // A kernel's RST advertises no window (tcp_v4_send_reset()).
        let window = if tx.flags.rst { 0 } else { 64240 };
        let mut b = ip.tcp(ep.client.port(), ep.server.port(), tx.seq, window);
        if tx.flags.syn {
            b = b.syn();
        }
        if tx.flags.fin {
            b = b.fin();
        }
        if tx.flags.rst {
            b = b.rst();
        }
        if tx.flags.ack {
            b = b.ack(tx.ack);
        }
        let mut opts = Vec::new();
        if tx.flags.syn {
            let mss = if ep.client.is_ipv4() { 1460 } else { 1440 };
            opts.push(TcpOptionElement::MaximumSegmentSize(mss));
        }
        if let Some((v, e)) = tx.ts {
            opts.push(TcpOptionElement::Noop);
            opts.push(TcpOptionElement::Noop);
            opts.push(TcpOptionElement::Timestamp(v, e));
        }
        if !opts.is_empty() {
            b = b
                .options(&opts)
                .map_err(|e| RawError::Build(e.to_string()))?;
        }
        let mut out = Vec::with_capacity(b.size(0));
        b.write(&mut out, &[])
            .map_err(|e| RawError::Build(e.to_string()))?;
        Ok(out)
    }

    /// Write one segment.
    pub fn send(&self, tx: &Tx) -> Result<(), RawError> {
        let frame = self.frame(tx)?;
        // SAFETY: valid fd; the buffer lives for the call.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(RawError::Io {
                op: "send",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

fn pin_to_current_cpu() {
    // SAFETY: sched_getcpu has no preconditions; cpu_set_t is plain data.
    unsafe {
        let cpu = libc::sched_getcpu();
        if cpu < 0 {
            return;
        }
        let mut set: libc::cpu_set_t = zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        // Best effort: without pinning, order is still almost always kept.
        let _ = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// What the first connection left, as the peer knows it exactly.
#[derive(Debug, Clone, Copy)]
pub struct FirstDone {
    pub ts_negotiated: bool,
}

/// Wait for a server segment at index >= `from` that `pred` accepts.
async fn wait_server(
    capture: &Capture,
    from: usize,
    deadline: TokioInstant,
    what: &str,
    pred: impl Fn(&Segment) -> bool,
) -> Result<(usize, Segment), RawError> {
    capture
        .wait_for(deadline, |segs| {
            segs.iter()
                .enumerate()
                .skip(from)
                .find(|(_, s)| s.dir == Dir::ToClient && pred(s))
                .map(|(i, s)| (i, s.clone()))
        })
        .await
        .map_err(|seen| RawError::Timeout {
            what: what.to_string(),
            seen,
        })
}

/// The first connection, like the seed's client: SYN, ACK of the SYN-ACK, then the
/// server closes (it accepts and closes at once) and the peer answers its FIN with
/// FIN+ACK; the server's last ACK puts its side in TIME_WAIT.
pub async fn first_connection(
    peer: &RawPeer,
    capture: &Capture,
    deadline: TokioInstant,
) -> Result<FirstDone, RawError> {
    let isn = FIRST_ISN;
    let offer = peer.ep.offer_ts;
    let ts = |ecr: u32| offer.then(|| (peer.now_ts(), ecr));
    let start = capture.segments().len();
    peer.send(&Tx {
        flags: Flags::from_tcpdump("S"),
        seq: isn,
        ack: 0,
        ts: ts(0),
    })?;
    let (_, synack) = wait_server(capture, start, deadline, "SYN-ACK to the first SYN", |s| {
        s.flags.syn && s.flags.ack && s.ack == isn.wrapping_add(1)
    })
    .await?;
    let negotiated = offer && synack.tsval.is_some();
    let ts = |ecr: Option<u32>| negotiated.then(|| (peer.now_ts(), ecr.unwrap_or(0)));
    peer.send(&Tx {
        flags: Flags::from_tcpdump("."),
        seq: isn.wrapping_add(1),
        ack: synack.seq.wrapping_add(1),
        ts: ts(synack.tsval),
    })?;
    let (_, fin) = wait_server(capture, start, deadline, "the server's FIN", |s| {
        s.flags.fin
    })
    .await?;
    peer.send(&Tx {
        flags: Flags::from_tcpdump("F."),
        seq: isn.wrapping_add(1),
        ack: fin.seq_end(),
        ts: ts(fin.tsval),
    })?;
    wait_server(
        capture,
        start,
        deadline,
        "the server's ACK of our FIN",
        |s| s.flags.ack && !s.flags.fin && s.ack == isn.wrapping_add(2),
    )
    .await?;
    Ok(FirstDone {
        ts_negotiated: negotiated,
    })
}

/// What the peer did from the SYN that hit TIME_WAIT on.
#[derive(Debug, Clone, Default)]
pub struct Played {
    /// The second SYN's seq and tsval as written.
    pub syn_seq: u32,
    pub syn_tsval: Option<u32>,
    /// One line per step: what was done or why it was skipped.
    pub notes: Vec<String>,
}

/// Send the SYN that hits TIME_WAIT, wait for the answer, then take `steps`.
/// A SYN-ACK is always completed with the handshake's ACK, as a kernel would.
#[allow(clippy::too_many_arguments)]
pub async fn second_syn(
    peer: &RawPeer,
    capture: &Capture,
    rcv_nxt: u32,
    ts_recent: Option<u32>,
    ts_negotiated: bool,
    seq: SeqExpr,
    tsval: TsExpr,
    steps: &[Step],
    deadline: TokioInstant,
) -> Result<Played, RawError> {
    let syn_seq = match seq {
        SeqExpr::Auto => wire::add(rcv_nxt, AUTO_SEQ_AHEAD),
        SeqExpr::RcvNxt(off) => wire::add(rcv_nxt, off),
    };
    let fresh_ts = || match (ts_negotiated, ts_recent) {
        (true, Some(r)) => {
            let now = peer.now_ts();
            Some(if wire::after(now, r) {
                now
            } else {
                r.wrapping_add(1)
            })
        }
        _ => None,
    };
    let pick_ts = || match tsval {
        TsExpr::Auto => fresh_ts(),
        TsExpr::Absent => None,
        TsExpr::TsRecent(off) => ts_recent.map(|r| wire::add(r, off)),
    };
    let mut played = Played {
        syn_seq,
        syn_tsval: pick_ts(),
        notes: Vec::new(),
    };
    let send_syn = |tsv: Option<u32>| {
        peer.send(&Tx {
            flags: Flags::from_tcpdump("S"),
            seq: syn_seq,
            ack: 0,
            ts: tsv.map(|v| (v, 0)),
        })
    };
    let mut from = capture.segments().len();
    send_syn(played.syn_tsval)?;
    let mut answer = next_answer(capture, from, deadline).await;
    complete_if_synack(peer, answer.as_ref(), syn_seq, pick_ts())?;
    for step in steps {
        match (step, &answer) {
            (_, Some(a)) if a.flags.syn && a.flags.ack => {
                played.notes.push(format!(
                    "{}: skipped, the connection is established",
                    step.as_str()
                ));
            }
            (Step::Rst, Some(a)) if a.flags.ack && !a.flags.rst => {
                from = capture.segments().len();
                peer.send(&Tx {
                    flags: Flags::from_tcpdump("R"),
                    seq: a.ack,
                    ack: 0,
                    ts: None,
                })?;
                // The RST has no answer; wait until it is on the server's wire so
                // the next frame cannot overtake it.
                let _ = capture
                    .wait_for(deadline, |segs| {
                        segs[from.min(segs.len())..]
                            .iter()
                            .any(|s| s.dir == Dir::ToServer && s.flags.rst)
                            .then_some(())
                    })
                    .await;
                played.notes.push(format!(
                    "rst: RST seq=rcv_nxt{:+} (the ACK's ack) sent",
                    wire::rel(a.ack, rcv_nxt)
                ));
            }
            (Step::Rst, _) => {
                played
                    .notes
                    .push("rst: skipped, the last answer was not an ACK".to_string());
            }
            (Step::Syn, _) => {
                from = capture.segments().len();
                let tsv = pick_ts();
                send_syn(tsv)?;
                answer = next_answer(capture, from, deadline).await;
                complete_if_synack(peer, answer.as_ref(), syn_seq, tsv)?;
                played.notes.push(format!(
                    "syn: SYN seq=rcv_nxt{:+} sent again, answer {}",
                    wire::rel(syn_seq, rcv_nxt),
                    answer
                        .as_ref()
                        .map_or("none".to_string(), |a| a.flags.tcpdump())
                ));
            }
        }
    }
    Ok(played)
}

/// The server's next segment from index `from` on, or `None` after ANSWER_WAIT.
async fn next_answer(capture: &Capture, from: usize, deadline: TokioInstant) -> Option<Segment> {
    let until = deadline.min(TokioInstant::now() + ANSWER_WAIT);
    wait_server(capture, from, until, "an answer", |_| true)
        .await
        .ok()
        .map(|(_, s)| s)
}

fn complete_if_synack(
    peer: &RawPeer,
    answer: Option<&Segment>,
    syn_seq: u32,
    tsval: Option<u32>,
) -> Result<(), RawError> {
    let Some(a) = answer else { return Ok(()) };
    if a.flags.syn && a.flags.ack && a.ack == syn_seq.wrapping_add(1) {
        let ts = match (a.tsval, tsval) {
            (Some(ecr), Some(_)) => Some((peer.now_ts().max(tsval.unwrap_or(0)), ecr)),
            _ => None,
        };
        peer.send(&Tx {
            flags: Flags::from_tcpdump("."),
            seq: syn_seq.wrapping_add(1),
            ack: a.seq.wrapping_add(1),
            ts,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer_for_frames(v6: bool) -> RawPeer {
        let (c, s): (SocketAddr, SocketAddr) = if v6 {
            (
                "[2001:2::2]:12345".parse().unwrap(),
                "[2001:2::1]:8888".parse().unwrap(),
            )
        } else {
            (
                "198.18.0.2:12345".parse().unwrap(),
                "198.18.0.1:8888".parse().unwrap(),
            )
        };
        RawPeer {
            // A closed-on-drop placeholder; `frame` does not touch it.
            fd: std::fs::File::open("/dev/null").unwrap().into(),
            ep: Endpoints {
                ifindex: 0,
                client_mac: [2, 0, 0, 0, 0, 2],
                server_mac: [2, 0, 0, 0, 0, 1],
                client: c,
                server: s,
                offer_ts: true,
            },
            t0: Instant::now(),
            ts_base: 7,
        }
    }

    #[test]
    fn frames_parse_back_to_what_was_written() {
        for v6 in [false, true] {
            let p = peer_for_frames(v6);
            let tx = Tx {
                flags: Flags::from_tcpdump("S"),
                seq: u32::MAX,
                ack: 0,
                ts: Some((5, 0)),
            };
            let f = p.frame(&tx).unwrap();
            let s = Segment::parse(&f, 0, false).unwrap();
            assert!(s.flags.is_pure_syn());
            assert_eq!((s.seq, s.tsval, s.tsecr), (u32::MAX, Some(5), Some(0)));
            assert_eq!(s.src, p.ep.client);
            let rst = p
                .frame(&Tx {
                    flags: Flags::from_tcpdump("R"),
                    seq: 9,
                    ..Tx::default()
                })
                .unwrap();
            let s = Segment::parse(&rst, 0, false).unwrap();
            assert!(s.flags.rst && !s.flags.ack && s.tsval.is_none());
        }
    }
}

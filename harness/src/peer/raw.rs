//! The raw scripted peer: a client with no kernel TCP. It writes Ethernet frames
//! on an AF_PACKET socket bound to the client's veth end, which has no IP address
//! (and IPv6 disabled), so the client kernel never answers; the server has a
//! permanent neighbour entry for the client. It is the only way to send an exact
//! sequence number or an older timestamp. It reads the server's answers from the
//! server-side capture. It sends from the client namespace's thread, which the
//! lab pins to one CPU with the server's, so the server processes its frames
//! in the order they were written (the fence relies on it).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use nix::sys::socket::{MsgFlags, send};
use tokio::time::Instant as TokioInstant;

use crate::event::segment;
use crate::event::syn::Then;
use crate::handover::ClosedInKernel;
use crate::observe::capture::{Capture, packet_socket};
use crate::scenario::{SeqExpr, TsExpr};
use crate::wire::{Dir, EmitError, Flags, Segment, Seq, TsVal, neighbour};

/// The first connection's ISN: near 2^32 on purpose, so `rcv_nxt + N` wraps.
pub const FIRST_ISN: Seq = Seq(0xFFFF_FF00);
/// `seq = "auto"` for the raw peer: after `rcv_nxt` by what a kernel's ISN clock
/// (one tick per 64 ns) gains in about 6 ms.
pub const AUTO_SEQ_AHEAD: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("raw peer: {op}: {source}")]
    Io { op: &'static str, source: io::Error },
    #[error("raw peer: build frame: {0}")]
    Build(#[from] EmitError),
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
    /// A router stands between the peer and the server (behind a NAT): the
    /// fence is an echo request, which crosses it, not a neighbour probe.
    pub routed: bool,
}

/// An AF_PACKET socket on the client's veth end and the peer's own clock.
pub struct RawPeer {
    /// Closed on a kernel worker (`packet_release()` waits for RCU).
    fd: ClosedInKernel,
    ep: Endpoints,
    t0: Instant,
    ts_base: TsVal,
}

/// One segment to write: flags in tcpdump letters, `ts` as (tsval, tsecr),
/// `len` payload bytes.
#[derive(Debug, Clone, Copy)]
pub struct Tx<'a> {
    pub flags: &'a str,
    pub seq: Seq,
    pub ack: Seq,
    pub ts: Option<(TsVal, TsVal)>,
    pub len: u32,
}

impl Tx<'_> {
    /// A segment without payload.
    fn bare(flags: &str, seq: Seq, ack: Seq, ts: Option<(TsVal, TsVal)>) -> Tx<'_> {
        Tx {
            flags,
            seq,
            ack,
            ts,
            len: 0,
        }
    }
}

impl RawPeer {
    /// Open the socket; call on the client namespace's thread.
    ///
    /// Equivalent to: a packetdrill-style raw socket on `dev`.
    pub fn open(ep: Endpoints) -> Result<RawPeer, RawError> {
        // Protocol 0: this socket only sends; the capture reads.
        let fd = packet_socket(ep.ifindex, false, false).map_err(|source| RawError::Io {
            op: "open and bind an AF_PACKET socket",
            source,
        })?;
        Ok(RawPeer {
            fd: ClosedInKernel::new(fd),
            ep,
            t0: Instant::now(),
            ts_base: TsVal(1_000_000),
        })
    }

    /// The peer's timestamp clock: milliseconds, like a kernel's.
    pub fn now_ts(&self) -> TsVal {
        let ms = i64::try_from(self.t0.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.ts_base + ms
    }

    /// The segment `tx` describes, from the client to the server.
    pub fn segment(&self, tx: &Tx) -> Segment {
        Segment {
            at_ns: 0,
            dir: Dir::ToServer,
            src: self.ep.client,
            dst: self.ep.server,
            flags: Flags::from_tcpdump(tx.flags),
            seq: tx.seq,
            ack: tx.ack,
            win: 64240,
            tsval: tx.ts.map(|t| t.0),
            tsecr: tx.ts.map(|t| t.1),
            payload_len: tx.len,
        }
    }

    /// Write one segment.
    pub fn send(&self, tx: &Tx) -> Result<(), RawError> {
        let frame = self
            .segment(tx)
            .emit(self.ep.client_mac, self.ep.server_mac)?;
        self.write(&frame)
    }

    /// Write one frame.
    fn write(&self, frame: &[u8]) -> Result<(), RawError> {
        send(self.fd.as_raw_fd(), frame, MsgFlags::empty()).map_err(|e| RawError::Io {
            op: "send",
            source: e.into(),
        })?;
        Ok(())
    }
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
) -> Result<(), RawError> {
    let isn = FIRST_ISN;
    let offer = peer.ep.offer_ts;
    let start = capture.segments().len();
    peer.send(&Tx::bare(
        "S",
        isn,
        Seq(0),
        offer.then(|| (peer.now_ts(), TsVal(0))),
    ))?;
    let (_, synack) = wait_server(capture, start, deadline, "SYN-ACK to the first SYN", |s| {
        s.flags.syn && s.flags.ack && s.ack == isn + 1
    })
    .await?;
    let negotiated = offer && synack.tsval.is_some();
    let ts = |ecr: Option<TsVal>| negotiated.then(|| (peer.now_ts(), ecr.unwrap_or_default()));
    peer.send(&Tx::bare(".", isn + 1, synack.seq + 1, ts(synack.tsval)))?;
    let (_, fin) = wait_server(capture, start, deadline, "the server's FIN", |s| {
        s.flags.fin
    })
    .await?;
    peer.send(&Tx::bare("F.", isn + 1, fin.seq_end(), ts(fin.tsval)))?;
    wait_server(
        capture,
        start,
        deadline,
        "the server's ACK of our FIN",
        |s| s.flags.ack && !s.flags.fin && s.ack == isn + 2,
    )
    .await?;
    Ok(())
}

/// What the server's TIME_WAIT socket knows, as far as the peer needs it.
#[derive(Debug, Clone, Copy)]
pub struct TimeWait {
    pub rcv_nxt: Seq,
    pub snd_nxt: Seq,
    pub ts_recent: Option<TsVal>,
    /// The last tsval the server sent (what the peer echoes).
    pub own_ts: Option<TsVal>,
    pub ts_negotiated: bool,
}

/// Send the SYN that hits TIME_WAIT, wait for the answer, then take `steps`;
/// returns one note per step. A SYN-ACK is always completed with the
/// handshake's ACK, as a kernel would.
pub async fn second_syn(
    peer: &RawPeer,
    capture: &Capture,
    tw: TimeWait,
    (seq, tsval): (SeqExpr, TsExpr),
    steps: &[Then],
    deadline: TokioInstant,
) -> Result<Vec<String>, RawError> {
    let syn_seq = match seq {
        SeqExpr::Auto => tw.rcv_nxt + AUTO_SEQ_AHEAD,
        SeqExpr::RcvNxt(off) => tw.rcv_nxt + off,
    };
    let pick_ts = || match tsval {
        TsExpr::Auto => fresh_ts(peer, tw),
        TsExpr::Absent => None,
        TsExpr::TsRecent(off) => tw.ts_recent.map(|r| r + off),
    };
    let send_syn =
        |tsv: Option<TsVal>| peer.send(&Tx::bare("S", syn_seq, Seq(0), tsv.map(|v| (v, TsVal(0)))));
    let mut notes = Vec::new();
    let mut from = capture.segments().len();
    let first_ts = pick_ts();
    send_syn(first_ts)?;
    let mut answer = next_answer(peer, capture, from, deadline).await?;
    complete_if_synack(peer, answer.as_ref(), syn_seq, first_ts)?;
    for step in steps {
        match (step, &answer) {
            (_, Some(a)) if a.flags.syn && a.flags.ack => {
                notes.push(format!(
                    "{}: skipped, the connection is established",
                    step.as_str()
                ));
            }
            (Then::Rst, Some(a)) if a.flags.ack && !a.flags.rst => {
                from = capture.segments().len();
                peer.send(&Tx::bare("R", a.ack, Seq(0), None))?;
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
                notes.push(format!(
                    "rst: RST seq=rcv_nxt{:+} (the ACK's ack) sent",
                    a.ack - tw.rcv_nxt
                ));
            }
            (Then::Rst, _) => {
                notes.push("rst: skipped, the last answer was not an ACK".to_string());
            }
            (Then::Syn, _) => {
                from = capture.segments().len();
                let tsv = pick_ts();
                send_syn(tsv)?;
                answer = next_answer(peer, capture, from, deadline).await?;
                complete_if_synack(peer, answer.as_ref(), syn_seq, tsv)?;
                notes.push(format!(
                    "syn: SYN seq=rcv_nxt{:+} sent again, answer {}",
                    syn_seq - tw.rcv_nxt,
                    answer
                        .as_ref()
                        .map_or("none".to_string(), |a| a.flags.tcpdump())
                ));
            }
        }
    }
    Ok(notes)
}

/// Write the fence (`wire::neighbour`) and wait for the server's answer to
/// it: from then on, every answer to what was written before is captured.
pub async fn fence(
    peer: &RawPeer,
    capture: &Capture,
    deadline: TokioInstant,
) -> Result<(), RawError> {
    let from = capture.frames_len();
    let probe = if peer.ep.routed {
        neighbour::echo_probe
    } else {
        neighbour::probe
    };
    let probe = probe(
        peer.ep.client_mac,
        peer.ep.server_mac,
        peer.ep.client.ip(),
        peer.ep.server.ip(),
    )?;
    peer.write(&probe)?;
    capture
        .wait_frames(deadline, |frames| {
            frames[from.min(frames.len())..]
                .iter()
                .any(neighbour::is_answer)
                .then_some(())
        })
        .await
        .map_err(|seen| RawError::Timeout {
            what: "the server's answer to the fence (an ARP reply, a Neighbour Advertisement or an echo reply)"
                .to_string(),
            seen,
        })
}

/// The server's first segment from index `from` on, if it sent one: decided
/// at once by a fence, no guessed wait.
async fn next_answer(
    peer: &RawPeer,
    capture: &Capture,
    from: usize,
    deadline: TokioInstant,
) -> Result<Option<Segment>, RawError> {
    fence(peer, capture, deadline).await?;
    Ok(capture.segments()[from.min(capture.segments().len())..]
        .iter()
        .find(|s| s.dir == Dir::ToClient)
        .cloned())
}

/// Write the segment under test and decide whether the server answered; a
/// SYN-ACK to it is completed with the handshake's ACK, as a kernel would.
/// Returns one note saying what was written and answered.
pub async fn segment(
    peer: &RawPeer,
    capture: &Capture,
    tw: TimeWait,
    tx: &segment::Segment,
    deadline: TokioInstant,
) -> Result<Vec<String>, RawError> {
    let flags = Flags::from_tcpdump(&tx.flags);
    let seq = match tx.seq.value {
        SeqExpr::Auto => tw.rcv_nxt,
        SeqExpr::RcvNxt(off) => tw.rcv_nxt + off,
    };
    let ack = if flags.ack {
        tw.snd_nxt + tx.ack.value
    } else {
        Seq(0)
    };
    // A kernel's RST carries no timestamp; anything else a newer one when
    // they were negotiated.
    let tsval = match tx.tsval.value {
        TsExpr::Auto if flags.rst => None,
        TsExpr::Auto => fresh_ts(peer, tw),
        TsExpr::Absent => None,
        TsExpr::TsRecent(off) => tw.ts_recent.map(|r| r + off),
    };
    let ecr = if flags.ack {
        tw.own_ts.unwrap_or_default()
    } else {
        TsVal(0)
    };
    let from = capture.segments().len();
    peer.send(&Tx {
        flags: &tx.flags,
        seq,
        ack,
        ts: tsval.map(|v| (v, ecr)),
        len: tx.len,
    })?;
    let answer = next_answer(peer, capture, from, deadline).await?;
    complete_if_synack(peer, answer.as_ref(), seq, tsval)?;
    Ok(vec![format!(
        "segment {} seq=rcv_nxt{:+}{}{} len {} sent, answer {}",
        flags.tcpdump(),
        seq - tw.rcv_nxt,
        if flags.ack {
            format!(" ack=snd_nxt{:+}", ack - tw.snd_nxt)
        } else {
            String::new()
        },
        match (tsval, tw.ts_recent) {
            (Some(v), Some(r)) => format!(" tsval=ts_recent{:+}", v - r),
            (Some(v), None) => format!(" tsval={v}"),
            (None, _) => String::new(),
        },
        tx.len,
        answer
            .as_ref()
            .map_or("none".to_string(), |a| a.flags.tcpdump())
    )])
}

/// A timestamp newer than `ts_recent` when the first connection negotiated
/// timestamps: the peer's clock, or `ts_recent + 1` within the same millisecond.
fn fresh_ts(peer: &RawPeer, tw: TimeWait) -> Option<TsVal> {
    match (tw.ts_negotiated, tw.ts_recent) {
        (true, Some(r)) => {
            let now = peer.now_ts();
            Some(if now.after(r) { now } else { r + 1 })
        }
        _ => None,
    }
}

fn complete_if_synack(
    peer: &RawPeer,
    answer: Option<&Segment>,
    syn_seq: Seq,
    tsval: Option<TsVal>,
) -> Result<(), RawError> {
    let Some(a) = answer else { return Ok(()) };
    if a.flags.syn && a.flags.ack && a.ack == syn_seq + 1 {
        let ts = match (a.tsval, tsval) {
            (Some(ecr), Some(sent)) => {
                let now = peer.now_ts();
                Some((if now.after(sent) { now } else { sent }, ecr))
            }
            _ => None,
        };
        peer.send(&Tx::bare(".", syn_seq + 1, a.seq + 1, ts))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_writes_client_to_server_segments() {
        let peer = RawPeer {
            // A closed-on-drop placeholder; `segment` does not touch it.
            fd: ClosedInKernel::new(std::fs::File::open("/dev/null").unwrap().into()),
            ep: Endpoints {
                ifindex: 0,
                client_mac: [2, 0, 0, 0, 0, 2],
                server_mac: [2, 0, 0, 0, 0, 1],
                client: "198.18.0.2:12345".parse().unwrap(),
                server: "198.18.0.1:8888".parse().unwrap(),
                offer_ts: true,
                routed: false,
            },
            t0: Instant::now(),
            ts_base: TsVal(7),
        };
        let s = peer.segment(&Tx::bare(
            "S",
            Seq(u32::MAX),
            Seq(0),
            Some((TsVal(5), TsVal(0))),
        ));
        assert_eq!(
            (s.dir, s.src, s.dst),
            (Dir::ToServer, peer.ep.client, peer.ep.server)
        );
        assert!(s.flags.is_pure_syn());
        assert_eq!(
            (s.seq, s.tsval, s.tsecr),
            (Seq(u32::MAX), Some(TsVal(5)), Some(TsVal(0)))
        );
        assert!(peer.now_ts() >= TsVal(7));
    }
}

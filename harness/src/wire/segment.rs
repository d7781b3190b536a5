//! Typed TCP segments, smoltcp-style: `Segment::parse` reads a captured Ethernet
//! frame once, `Segment::emit` writes the raw peer's frames, side by side so the
//! two agree (round-trip tested). Everything above the capture compares
//! `Segment`s, never bytes.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice};
use serde::Serialize;

use super::seq::{Seq, TsVal};

/// One captured frame, raw bytes kept for the pcap.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time in nanoseconds (CLOCK_REALTIME from SO_TIMESTAMPNS).
    pub at_ns: u64,
    /// Sent by the interface the capture listens on (`PACKET_OUTGOING`).
    pub outgoing: bool,
    pub data: Vec<u8>,
}

/// A segment that cannot be written as a frame.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("a segment from {src} to {dst} mixes address families")]
    MixedFamilies { src: SocketAddr, dst: SocketAddr },
    #[error("TCP options do not fit the header: {0}")]
    Options(#[from] etherparse::TcpOptionWriteError),
    #[error("writing the frame: {0}")]
    Write(#[from] etherparse::err::packet::BuildWriteError),
}

/// Which way a segment travelled, seen from the server's veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dir {
    /// Client to server (arrived on the server's veth).
    #[serde(rename = "c>s")]
    ToServer,
    /// Server to client (sent by the server's kernel).
    #[serde(rename = "s>c")]
    ToClient,
}

impl Dir {
    pub fn arrow(self) -> &'static str {
        match self {
            Dir::ToServer => "C > S",
            Dir::ToClient => "S > C",
        }
    }
}

/// TCP header flags that matter for the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

impl Flags {
    /// tcpdump's notation: `S`, `S.`, `.`, `F.`, `R`, `R.`, `P.`.
    pub fn tcpdump(self) -> String {
        let mut s = String::new();
        if self.syn {
            s.push('S');
        }
        if self.fin {
            s.push('F');
        }
        if self.rst {
            s.push('R');
        }
        if self.psh {
            s.push('P');
        }
        if self.ack {
            s.push('.');
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }

    /// The inverse of [`Flags::tcpdump`]: `"S"`, `"S."`, `"F."`, `"R"`, `"P."`.
    pub fn from_tcpdump(s: &str) -> Flags {
        Flags {
            syn: s.contains('S'),
            fin: s.contains('F'),
            rst: s.contains('R'),
            psh: s.contains('P'),
            ack: s.contains('.'),
        }
    }

    /// A SYN without ACK: the opening segment of a connection attempt.
    pub fn is_pure_syn(self) -> bool {
        self.syn && !self.ack && !self.rst
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tcpdump())
    }
}

impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.tcpdump())
    }
}

/// One TCP segment, with absolute numbers as they were on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Capture time in nanoseconds (CLOCK_REALTIME from SO_TIMESTAMPNS).
    pub at_ns: u64,
    pub dir: Dir,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: Flags,
    pub seq: Seq,
    pub ack: Seq,
    pub win: u16,
    pub tsval: Option<TsVal>,
    pub tsecr: Option<TsVal>,
    pub payload_len: u32,
}

impl Segment {
    /// Parse an Ethernet frame; `None` for anything that is not TCP over IPv4/IPv6
    /// (ARP, neighbour discovery, ...) or is malformed. A segment from
    /// `server` goes to the client, any other to the server, wherever it was
    /// captured.
    pub fn parse(frame: &[u8], at_ns: u64, server: SocketAddr) -> Option<Segment> {
        let packet = SlicedPacket::from_ethernet(frame).ok()?;
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match packet.net? {
            NetSlice::Ipv4(v4) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            ),
            NetSlice::Ipv6(v6) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            ),
            NetSlice::Arp(_) => return None,
        };
        let TransportSlice::Tcp(tcp) = packet.transport? else {
            return None;
        };
        let mut tsval = None;
        let mut tsecr = None;
        for opt in tcp.options_iterator().flatten() {
            if let TcpOptionElement::Timestamp(v, e) = opt {
                tsval = Some(TsVal(v));
                tsecr = Some(TsVal(e));
            }
        }
        let src = SocketAddr::new(src_ip, tcp.source_port());
        Some(Segment {
            at_ns,
            dir: if src == server {
                Dir::ToClient
            } else {
                Dir::ToServer
            },
            src,
            dst: SocketAddr::new(dst_ip, tcp.destination_port()),
            flags: Flags {
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
                psh: tcp.psh(),
            },
            seq: Seq(tcp.sequence_number()),
            ack: Seq(tcp.acknowledgment_number()),
            win: tcp.window_size(),
            tsval,
            tsecr,
            payload_len: u32::try_from(tcp.payload().len()).unwrap_or(u32::MAX),
        })
    }

    /// Sequence space this segment occupies (payload + SYN + FIN).
    pub fn seq_len(&self) -> u32 {
        self.payload_len + u32::from(self.flags.syn) + u32::from(self.flags.fin)
    }

    /// The sequence number just after this segment.
    pub fn seq_end(&self) -> Seq {
        self.seq + i64::from(self.seq_len())
    }

    /// The Ethernet frame carrying this segment from `src_mac` to `dst_mac`,
    /// written the way a Linux kernel writes it: MSS on a SYN, the timestamp
    /// option as NOP NOP TS, no window on an RST (tcp_v4_send_reset()), and
    /// `payload_len` bytes of payload (zeros). `at_ns` and `dir` are ignored.
    pub fn emit(&self, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Result<Vec<u8>, EmitError> {
        let eth = PacketBuilder::ethernet2(src_mac, dst_mac);
        let ip = match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
            (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
            _ => {
                return Err(EmitError::MixedFamilies {
                    src: self.src,
                    dst: self.dst,
                });
            }
        };
        let window = if self.flags.rst { 0 } else { self.win };
        let mut b = ip.tcp(self.src.port(), self.dst.port(), self.seq.0, window);
        if self.flags.syn {
            b = b.syn();
        }
        if self.flags.fin {
            b = b.fin();
        }
        if self.flags.rst {
            b = b.rst();
        }
        if self.flags.psh {
            b = b.psh();
        }
        if self.flags.ack {
            b = b.ack(self.ack.0);
        }
        let mut opts = Vec::new();
        if self.flags.syn {
            let mss = if self.src.is_ipv4() { 1460 } else { 1440 };
            opts.push(TcpOptionElement::MaximumSegmentSize(mss));
        }
        if let Some(v) = self.tsval {
            let e = self.tsecr.unwrap_or_default();
            opts.push(TcpOptionElement::Noop);
            opts.push(TcpOptionElement::Noop);
            opts.push(TcpOptionElement::Timestamp(v.0, e.0));
        }
        if !opts.is_empty() {
            b = b.options(&opts)?;
        }
        let payload = vec![0u8; self.payload_len as usize];
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, &payload)?;
        Ok(out)
    }
}

/// A segment between the lab's usual addresses (198.18.0.2:12345 and
/// 198.18.0.1:8888) for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn test_segment(
    dir: Dir,
    flags: &str,
    seq: u32,
    ack: u32,
    at_ns: u64,
    ts: Option<(u32, u32)>,
) -> Segment {
    let (c, s) = ("198.18.0.2:12345", "198.18.0.1:8888");
    let (src, dst) = match dir {
        Dir::ToServer => (c, s),
        Dir::ToClient => (s, c),
    };
    Segment {
        at_ns,
        dir,
        src: src.parse().expect("a test address"),
        dst: dst.parse().expect("a test address"),
        flags: Flags::from_tcpdump(flags),
        seq: Seq(seq),
        ack: Seq(ack),
        win: 64240,
        tsval: ts.map(|t| TsVal(t.0)),
        tsecr: ts.map(|t| TsVal(t.1)),
        payload_len: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    /// `seg` with the given addresses (IPv4 or IPv6 test pair).
    fn between(mut seg: Segment, v6: bool) -> Segment {
        if v6 {
            let (c, s): (SocketAddr, SocketAddr) = (
                "[2001:2::2]:12345".parse().unwrap(),
                "[2001:2::1]:8888".parse().unwrap(),
            );
            (seg.src, seg.dst) = match seg.dir {
                Dir::ToServer => (c, s),
                Dir::ToClient => (s, c),
            };
        }
        seg
    }

    fn round_trip(seg: &Segment) -> Segment {
        let frame = seg.emit(CLIENT_MAC, SERVER_MAC).expect("emit");
        let server = match seg.dir {
            Dir::ToClient => seg.src,
            Dir::ToServer => seg.dst,
        };
        Segment::parse(&frame, seg.at_ns, server).expect("parse back")
    }

    #[test]
    fn emitted_segments_parse_back_to_what_was_written() {
        for v6 in [false, true] {
            for (flags, ts, len) in [
                ("S", Some((5, 0)), 0),
                ("S.", Some((u32::MAX, 9)), 0),
                (".", None, 0),
                ("F.", Some((1, 2)), 0),
                ("P.", Some((3, 4)), 100),
                ("R", None, 0),
                ("R.", None, 0),
                ("SF", None, 0),
            ] {
                let mut seg = test_segment(Dir::ToServer, flags, u32::MAX, 77, 0, ts);
                seg.payload_len = len;
                let seg = between(seg, v6);
                let back = round_trip(&seg);
                let want_win = if seg.flags.rst { 0 } else { seg.win };
                assert_eq!(
                    (
                        back.flags,
                        back.seq,
                        back.tsval,
                        back.tsecr,
                        back.payload_len
                    ),
                    (seg.flags, seg.seq, seg.tsval, seg.tsecr, len),
                    "{flags} v6={v6}"
                );
                assert_eq!((back.src, back.dst, back.win), (seg.src, seg.dst, want_win));
                if seg.flags.ack {
                    assert_eq!(back.ack, seg.ack);
                }
            }
        }
    }

    #[test]
    fn a_syn_carries_mss_and_a_reset_no_window() {
        let syn = test_segment(Dir::ToServer, "S", 1000, 0, 0, Some((5, 0)));
        let frame = syn.emit(CLIENT_MAC, SERVER_MAC).unwrap();
        let tcp = match SlicedPacket::from_ethernet(&frame).unwrap().transport {
            Some(TransportSlice::Tcp(t)) => t.to_header(),
            _ => panic!("tcp"),
        };
        assert!(
            tcp.options_iterator()
                .flatten()
                .any(|o| o == TcpOptionElement::MaximumSegmentSize(1460))
        );
        let s = Segment::parse(&frame, 7, "198.18.0.1:8888".parse().unwrap()).expect("tcp");
        assert_eq!(s.dir, Dir::ToServer);
        assert_eq!(s.src, "198.18.0.2:12345".parse().unwrap());
        assert!(s.flags.is_pure_syn());
        assert_eq!(s.flags.tcpdump(), "S");
        assert_eq!(s.seq_end(), Seq(1001));
    }

    #[test]
    fn payload_and_fin_take_sequence_space_across_the_wrap() {
        let mut s = test_segment(Dir::ToClient, "F.", u32::MAX, 77, 0, None);
        s.payload_len = 5;
        assert_eq!(s.seq_len(), 6);
        assert_eq!(s.seq_end(), Seq(5), "wraps at 2^32");
    }

    #[test]
    fn mixed_families_are_refused() {
        let mut s = test_segment(Dir::ToServer, "S", 1, 0, 0, None);
        s.dst = "[2001:2::1]:8888".parse().unwrap();
        assert!(matches!(
            s.emit(CLIENT_MAC, SERVER_MAC),
            Err(EmitError::MixedFamilies { .. })
        ));
    }

    #[test]
    fn non_tcp_and_garbage_are_none() {
        let server = "198.18.0.1:8888".parse().unwrap();
        assert!(Segment::parse(&[], 0, server).is_none());
        assert!(Segment::parse(&[0xff; 60], 0, server).is_none());
    }
}

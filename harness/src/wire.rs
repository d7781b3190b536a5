//! Typed TCP segments parsed once from captured Ethernet frames (smoltcp-style:
//! the raw bytes stay in `observe::capture`, everything above compares `Segment`s).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TcpOptionElement, TransportSlice};
use serde::Serialize;

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
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub tsval: Option<u32>,
    pub tsecr: Option<u32>,
    pub payload_len: u32,
}

impl Segment {
    /// Parse an Ethernet frame; `None` for anything that is not TCP over IPv4/IPv6
    /// (ARP, neighbour discovery, ...) or is malformed.
    pub fn parse(frame: &[u8], at_ns: u64, outgoing: bool) -> Option<Segment> {
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
                tsval = Some(v);
                tsecr = Some(e);
            }
        }
        Some(Segment {
            at_ns,
            dir: if outgoing {
                Dir::ToClient
            } else {
                Dir::ToServer
            },
            src: SocketAddr::new(src_ip, tcp.source_port()),
            dst: SocketAddr::new(dst_ip, tcp.destination_port()),
            flags: Flags {
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
                psh: tcp.psh(),
            },
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
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
    pub fn seq_end(&self) -> u32 {
        self.seq.wrapping_add(self.seq_len())
    }
}

/// Signed distance `a - base` in sequence space (RFC 1982 style, mod 2^32).
pub fn rel(a: u32, base: u32) -> i64 {
    i64::from(a.wrapping_sub(base) as i32)
}

/// `base + off` mod 2^32.
pub fn add(base: u32, off: i64) -> u32 {
    // Truncation is the point: sequence and timestamp arithmetic is mod 2^32.
    base.wrapping_add(off as u32)
}

/// `after(a, b)` from include/net/tcp.h: a is strictly later than b.
pub fn after(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
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
        seq,
        ack,
        win: 64240,
        tsval: ts.map(|t| t.0),
        tsecr: ts.map(|t| t.1),
        payload_len: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn frame_v4(syn: bool, ack: bool, seq: u32, ts: Option<(u32, u32)>, payload: &[u8]) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([198, 18, 0, 2], [198, 18, 0, 1], 64)
            .tcp(12345, 8888, seq, 64240);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(77);
        }
        if let Some((v, e)) = ts {
            b = b
                .options(&[TcpOptionElement::Timestamp(v, e)])
                .expect("options fit");
        }
        let mut out = Vec::new();
        b.write(&mut out, payload).expect("write");
        out
    }

    #[test]
    fn parses_syn_with_timestamp() {
        let f = frame_v4(true, false, 1000, Some((5, 0)), &[]);
        let s = Segment::parse(&f, 7, false).expect("tcp");
        assert_eq!(s.dir, Dir::ToServer);
        assert_eq!(s.src, "198.18.0.2:12345".parse().unwrap());
        assert!(s.flags.is_pure_syn());
        assert_eq!(s.flags.tcpdump(), "S");
        assert_eq!((s.seq, s.tsval, s.tsecr), (1000, Some(5), Some(0)));
        assert_eq!(s.seq_end(), 1001);
    }

    #[test]
    fn parses_ack_with_payload_and_no_timestamp() {
        let f = frame_v4(false, true, u32::MAX, None, b"hello");
        let s = Segment::parse(&f, 0, true).expect("tcp");
        assert_eq!(s.dir, Dir::ToClient);
        assert_eq!(s.flags.tcpdump(), ".");
        assert_eq!((s.ack, s.tsval, s.payload_len), (77, None, 5));
        assert_eq!(s.seq_end(), 4, "wraps at 2^32");
    }

    #[test]
    fn non_tcp_and_garbage_are_none() {
        assert!(Segment::parse(&[], 0, false).is_none());
        assert!(Segment::parse(&[0xff; 60], 0, false).is_none());
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        assert_eq!(rel(5, u32::MAX - 4), 10);
        assert_eq!(rel(u32::MAX - 4, 5), -10);
        assert_eq!(add(3, -1000), 3u32.wrapping_sub(1000));
        assert_eq!(add(u32::MAX, 2), 1);
        assert!(after(1, u32::MAX));
        assert!(!after(7, 7));
        assert!(!after(u32::MAX, 1));
    }
}

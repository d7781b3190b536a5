//! What the first connection left behind, read off the captured segments: the
//! server's TIME_WAIT `rcv_nxt`, `snd_nxt` and `ts_recent`, and where the SYN
//! that hit TIME_WAIT and the handshake it opened are in the capture.

use serde::Serialize;

use crate::wire::{Dir, Segment, Seq, Side, TsVal};

/// The first connection, as the TIME_WAIT socket remembers it (the server's
/// when it closed first, the client's when the client did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstConnection {
    /// The client's socket address as the capture saw it (behind a NAT: the
    /// router's address and the port it gave; else the client's own).
    pub client: std::net::SocketAddr,
    pub client_isn: Seq,
    pub server_isn: Seq,
    /// The TIME_WAIT side's `rcv_nxt`: just after its peer's FIN (for a
    /// `linger0` close, where there is no TIME_WAIT: the peer's next seq).
    pub rcv_nxt: Seq,
    /// The TIME_WAIT side's `snd_nxt`: just after its own FIN.
    pub snd_nxt: Seq,
    /// Both SYN and SYN-ACK carried the timestamp option.
    pub ts_negotiated: bool,
    /// The TIME_WAIT side's `ts_recent`: the tsval of its peer's FIN.
    pub ts_recent: Option<TsVal>,
    /// The last tsval the TIME_WAIT side sent (what a peer echoes).
    pub own_ts: Option<TsVal>,
    /// Index of the segment that ended the connection for the TIME_WAIT side:
    /// its peer's FIN, or the closer's RST of a `linger0` close.
    pub fin_index: usize,
    /// Index of the segment after which the closer sits in TIME_WAIT (its ACK
    /// of the peer's FIN), or of the RST.
    pub closed_index: usize,
}

/// How the connection under test was closed: who closed first, and whether
/// with a FIN or an RST (`SO_LINGER {1, 0}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    pub closer: Side,
    pub rst: bool,
}

impl Closing {
    /// The seed experiment: the server closes first, with a FIN.
    pub const SERVER_FIN: Closing = Closing {
        closer: Side::Server,
        rst: false,
    };
}

impl FirstConnection {
    /// The client's port as the capture saw it.
    pub fn client_port(&self) -> u16 {
        self.client.port()
    }

    /// Recognise the complete first connection: SYN, SYN-ACK, and then either
    /// both FINs and the closer's ACK of its peer's FIN (the closer is in
    /// TIME_WAIT after it), or the closer's RST. `None` until all of it was
    /// captured.
    pub fn from_segments(segs: &[Segment], closing: Closing) -> Option<FirstConnection> {
        Self::from_segments_after(segs, 0, closing)
    }

    /// The same for the connection that starts at or after `start` (the
    /// next of several in a row); its indices count from the capture's start.
    pub fn from_segments_after(
        all: &[Segment],
        start: usize,
        closing: Closing,
    ) -> Option<FirstConnection> {
        let mut c = Self::recognise(all.get(start..)?, closing)?;
        c.fin_index += start;
        c.closed_index += start;
        Some(c)
    }

    fn recognise(segs: &[Segment], closing: Closing) -> Option<FirstConnection> {
        let syn = segs
            .iter()
            .position(|s| s.dir == Dir::ToServer && s.flags.is_pure_syn())?;
        let synack = segs[syn..]
            .iter()
            .find(|s| s.dir == Dir::ToClient && s.flags.syn && s.flags.ack)?;
        // Segments from the closer travel this way; its peer's the other.
        let from_closer = match closing.closer {
            Side::Server => Dir::ToClient,
            Side::Client => Dir::ToServer,
        };
        let from_peer = match from_closer {
            Dir::ToClient => Dir::ToServer,
            Dir::ToServer => Dir::ToClient,
        };
        let ts_negotiated = segs[syn].tsval.is_some() && synack.tsval.is_some();
        let seq_end_max = |dir: Dir, upto: usize| {
            segs[syn..=upto]
                .iter()
                .filter(|s| s.dir == dir)
                .map(Segment::seq_end)
                .reduce(|a, b| if b.after(a) { b } else { a })
        };
        if closing.rst {
            let rst = syn
                + segs[syn..]
                    .iter()
                    .position(|s| s.dir == from_closer && s.flags.rst)?;
            return Some(FirstConnection {
                client: segs[syn].src,
                client_isn: segs[syn].seq,
                server_isn: synack.seq,
                rcv_nxt: seq_end_max(from_peer, rst)?,
                snd_nxt: segs[rst].seq,
                ts_negotiated,
                ts_recent: None,
                own_ts: None,
                fin_index: rst,
                closed_index: rst,
            });
        }
        let fin_index = syn
            + segs[syn..]
                .iter()
                .position(|s| s.dir == from_peer && s.flags.fin)?;
        let fin = &segs[fin_index];
        let rcv_nxt = fin.seq_end();
        // The closer's ACK of its peer's FIN: the closer is in TIME_WAIT now. Or
        // its RST: a closer that may not keep TIME_WAIT (tcp_max_tw_buckets
        // reached) drops even its FIN_WAIT2 state, and the peer's FIN then
        // meets no socket.
        let closed_index = fin_index
            + segs[fin_index..].iter().position(|s| {
                s.dir == from_closer && (s.flags.rst || (s.flags.ack && s.ack == rcv_nxt))
            })?;
        let own_ts = segs[..=closed_index]
            .iter()
            .rev()
            .find(|s| s.dir == from_closer)
            .and_then(|s| s.tsval);
        Some(FirstConnection {
            client: segs[syn].src,
            client_isn: segs[syn].seq,
            server_isn: synack.seq,
            rcv_nxt,
            snd_nxt: seq_end_max(from_closer, fin_index)?,
            ts_negotiated,
            ts_recent: if ts_negotiated { fin.tsval } else { None },
            own_ts: if ts_negotiated { own_ts } else { None },
            fin_index,
            closed_index,
        })
    }

    /// The first client SYN after the first connection ended: the SYN that hit
    /// TIME_WAIT (or the reconnect's SYN).
    pub fn syn2(&self, segs: &[Segment]) -> Option<usize> {
        segs.iter()
            .enumerate()
            .skip(self.fin_index + 1)
            .find(|(_, s)| s.dir == Dir::ToServer && s.flags.is_pure_syn())
            .map(|(i, _)| i)
    }

    /// The first segment from the client after the first connection ended:
    /// the `[segment]` under test.
    pub fn event_segment(&self, segs: &[Segment]) -> Option<usize> {
        segs.iter()
            .enumerate()
            .skip(self.closed_index + 1)
            .find(|(_, s)| s.dir == Dir::ToServer)
            .map(|(i, _)| i)
    }
}

/// Index of the client's ACK that completes a handshake begun at or after `from`.
pub fn handshake_ack(segs: &[Segment], from: usize) -> Option<usize> {
    let mut synack: Option<Seq> = None;
    for (i, s) in segs.iter().enumerate().skip(from) {
        match s.dir {
            Dir::ToClient if s.flags.syn && s.flags.ack => synack = Some(s.seq + 1),
            Dir::ToServer
                if s.flags.ack && !s.flags.syn && !s.flags.rst && Some(s.ack) == synack =>
            {
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::test_segment;

    pub(crate) fn seg(dir: Dir, flags: &str, seq: u32, ack: u32, at_ms: u64) -> Segment {
        test_segment(dir, flags, seq, ack, at_ms * 1_000_000, None)
    }

    /// The seed experiment's first connection, with seq numbers near the 2^32 wrap.
    pub(crate) fn first_connection() -> Vec<Segment> {
        let (c, s) = (u32::MAX - 1, 5000);
        use Dir::*;
        vec![
            seg(ToServer, "S", c, 0, 0),
            seg(ToClient, "S.", s, c.wrapping_add(1), 0),
            seg(ToServer, ".", c.wrapping_add(1), s + 1, 0),
            seg(ToClient, "F.", s + 1, c.wrapping_add(1), 1),
            seg(ToServer, ".", c.wrapping_add(1), s + 2, 1),
            seg(ToServer, "F.", c.wrapping_add(1), s + 2, 1),
            seg(ToClient, ".", s + 2, c.wrapping_add(2), 1),
        ]
    }

    #[test]
    fn first_connection_is_read_across_the_wrap() {
        let f = FirstConnection::from_segments(&first_connection(), Closing::SERVER_FIN).unwrap();
        assert_eq!(
            f.rcv_nxt,
            Seq(0),
            "ISN 2^32-2, SYN and FIN: rcv_nxt wraps to 0"
        );
        assert_eq!(f.snd_nxt, Seq(5002));
        assert_eq!((f.fin_index, f.closed_index), (5, 6));
        assert!(!f.ts_negotiated);
        let cut = &first_connection()[..6];
        assert!(FirstConnection::from_segments(cut, Closing::SERVER_FIN).is_none());
    }

    #[test]
    fn the_client_closing_first_is_read_from_its_side() {
        let (c, s) = (1000u32, 5000u32);
        use Dir::*;
        let segs = vec![
            seg(ToServer, "S", c, 0, 0),
            seg(ToClient, "S.", s, c + 1, 0),
            seg(ToServer, ".", c + 1, s + 1, 0),
            seg(ToServer, "F.", c + 1, s + 1, 1),
            seg(ToClient, ".", s + 1, c + 2, 1),
            seg(ToClient, "F.", s + 1, c + 2, 1),
            seg(ToServer, ".", c + 2, s + 2, 1),
        ];
        let client = Closing {
            closer: Side::Client,
            rst: false,
        };
        let f = FirstConnection::from_segments(&segs, client).unwrap();
        assert_eq!(
            (f.rcv_nxt, f.snd_nxt),
            (Seq(s + 2), Seq(c + 2)),
            "the client's view"
        );
        assert_eq!((f.fin_index, f.closed_index), (5, 6));
        assert!(FirstConnection::from_segments(&segs[..6], client).is_none());
    }

    #[test]
    fn a_closer_without_time_wait_may_reset_the_peers_fin() {
        let mut segs = first_connection();
        let last = segs.len() - 1;
        segs[last] = seg(Dir::ToClient, "R", 5002, 0, 1);
        let f = FirstConnection::from_segments(&segs, Closing::SERVER_FIN).unwrap();
        assert_eq!((f.fin_index, f.closed_index), (5, 6));
    }

    #[test]
    fn a_linger0_close_ends_at_the_rst() {
        let (c, s) = (1000u32, 5000u32);
        use Dir::*;
        let segs = vec![
            seg(ToServer, "S", c, 0, 0),
            seg(ToClient, "S.", s, c + 1, 0),
            seg(ToServer, ".", c + 1, s + 1, 0),
            seg(ToClient, "R.", s + 1, c + 1, 1),
        ];
        let rst = Closing {
            closer: Side::Server,
            rst: true,
        };
        let f = FirstConnection::from_segments(&segs, rst).unwrap();
        assert_eq!(
            (f.rcv_nxt, f.snd_nxt, f.fin_index),
            (Seq(c + 1), Seq(s + 1), 3)
        );
        assert!(FirstConnection::from_segments(&segs[..3], rst).is_none());
    }

    #[test]
    fn the_handshake_ack_follows_the_syn_ack() {
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, "S", 100, 0, 10));
        segs.push(seg(Dir::ToClient, "S.", 70539, 101, 10));
        segs.push(seg(Dir::ToServer, ".", 101, 70540, 10));
        let f = FirstConnection::from_segments(&segs, Closing::SERVER_FIN).unwrap();
        assert_eq!(f.syn2(&segs), Some(7));
        assert_eq!(f.event_segment(&segs), Some(7));
        assert_eq!(handshake_ack(&segs, 7), Some(9));
        assert_eq!(handshake_ack(&segs[..9], 7), None);
    }
}

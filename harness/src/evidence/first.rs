//! What the first connection left behind, read off the captured segments: the
//! server's TIME_WAIT `rcv_nxt`, `snd_nxt` and `ts_recent`, and where the SYN
//! that hit TIME_WAIT and the handshake it opened are in the capture.

use serde::Serialize;

use crate::wire::{Dir, Segment, Seq, TsVal};

/// The first connection, as the server's TIME_WAIT socket remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstConnection {
    pub client_isn: Seq,
    pub server_isn: Seq,
    /// The server's `rcv_nxt` in TIME_WAIT: just after the client's FIN.
    pub rcv_nxt: Seq,
    /// The server's `snd_nxt`: just after its own FIN.
    pub snd_nxt: Seq,
    /// Both SYN and SYN-ACK carried the timestamp option.
    pub ts_negotiated: bool,
    /// The server's `ts_recent`: the tsval of the client's FIN.
    pub ts_recent: Option<TsVal>,
    /// Index of the client's FIN in the segment list.
    pub fin_index: usize,
}

impl FirstConnection {
    /// Recognise the complete first connection (SYN, SYN-ACK, both FINs, and the
    /// server's ACK of the client's FIN); `None` until all of it was captured.
    pub fn from_segments(segs: &[Segment]) -> Option<FirstConnection> {
        let syn = segs
            .iter()
            .position(|s| s.dir == Dir::ToServer && s.flags.is_pure_syn())?;
        let synack = segs[syn..]
            .iter()
            .find(|s| s.dir == Dir::ToClient && s.flags.syn && s.flags.ack)?;
        let fin_index = syn
            + segs[syn..]
                .iter()
                .position(|s| s.dir == Dir::ToServer && s.flags.fin)?;
        let fin = &segs[fin_index];
        let rcv_nxt = fin.seq_end();
        // The server's ACK of the client's FIN moves it to TIME_WAIT.
        segs[fin_index..]
            .iter()
            .find(|s| s.dir == Dir::ToClient && s.flags.ack && s.ack == rcv_nxt)?;
        let snd_nxt = segs[syn..=fin_index]
            .iter()
            .filter(|s| s.dir == Dir::ToClient)
            .map(Segment::seq_end)
            .reduce(|a, b| if b.after(a) { b } else { a })?;
        let ts_negotiated = segs[syn].tsval.is_some() && synack.tsval.is_some();
        Some(FirstConnection {
            client_isn: segs[syn].seq,
            server_isn: synack.seq,
            rcv_nxt,
            snd_nxt,
            ts_negotiated,
            ts_recent: if ts_negotiated { fin.tsval } else { None },
            fin_index,
        })
    }

    /// The first client SYN after the first connection's FIN: the SYN that hit
    /// TIME_WAIT.
    pub fn syn2(&self, segs: &[Segment]) -> Option<usize> {
        segs.iter()
            .enumerate()
            .skip(self.fin_index + 1)
            .find(|(_, s)| s.dir == Dir::ToServer && s.flags.is_pure_syn())
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
        let f = FirstConnection::from_segments(&first_connection()).unwrap();
        assert_eq!(
            f.rcv_nxt,
            Seq(0),
            "ISN 2^32-2, SYN and FIN: rcv_nxt wraps to 0"
        );
        assert_eq!(f.snd_nxt, Seq(5002));
        assert_eq!(f.fin_index, 5);
        assert!(!f.ts_negotiated);
        assert!(FirstConnection::from_segments(&first_connection()[..6]).is_none());
    }

    #[test]
    fn the_handshake_ack_follows_the_syn_ack() {
        let mut segs = first_connection();
        segs.push(seg(Dir::ToServer, "S", 100, 0, 10));
        segs.push(seg(Dir::ToClient, "S.", 70539, 101, 10));
        segs.push(seg(Dir::ToServer, ".", 101, 70540, 10));
        let f = FirstConnection::from_segments(&segs).unwrap();
        assert_eq!(f.syn2(&segs), Some(7));
        assert_eq!(handshake_ack(&segs, 7), Some(9));
        assert_eq!(handshake_ack(&segs[..9], 7), None);
    }
}

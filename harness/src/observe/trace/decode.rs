//! Decoding one event's bytes into a [`Record`]: the state change or reset, its
//! two ends, and the task and context the kernel ran it in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::TraceError;
use super::format::{EventFormat, parse_format};
use super::log::{Context, ResetDirection};
use super::tracefs::read_files;
use crate::wire::TcpState;

/// `common_flags` bits (`enum trace_flag_type`, include/linux/trace_events.h).
const TRACE_FLAG_HARDIRQ: u8 = 0x08;
const TRACE_FLAG_SOFTIRQ: u8 = 0x10;
const TRACE_FLAG_NMI: u8 = 0x40;

impl Context {
    fn from_flags(flags: u8) -> Context {
        if flags & TRACE_FLAG_NMI != 0 {
            Context::Nmi
        } else if flags & TRACE_FLAG_HARDIRQ != 0 {
            Context::Hardirq
        } else if flags & TRACE_FLAG_SOFTIRQ != 0 {
            Context::Softirq
        } else {
            Context::Task
        }
    }
}

/// A decoded event before attribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) ts: u64,
    pub(super) skaddr: u64,
    pub(super) tid: i32,
    pub(super) context: Context,
    pub(super) src: SocketAddr,
    pub(super) dst: SocketAddr,
    pub(super) kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    State {
        old: TcpState,
        new: TcpState,
    },
    Reset {
        direction: ResetDirection,
        state: Option<TcpState>,
        reason: Option<String>,
    },
}

/// The traced events: `format` files relative to the tracefs root, all there
/// since Linux 4.16 (inet_sock_set_state; the reset events came in 4.15).
const FORMATS: [&str; 3] = [
    "events/sock/inet_sock_set_state/format",
    "events/tcp/tcp_send_reset/format",
    "events/tcp/tcp_receive_reset/format",
];

/// The formats of the traced events, which decode their raw records.
#[derive(Debug, Clone)]
pub(super) struct Decoder {
    pub(super) state: EventFormat,
    pub(super) send_reset: EventFormat,
    pub(super) receive_reset: EventFormat,
}

impl Decoder {
    /// Reads and parses the events' formats.
    pub(super) fn load() -> Result<Decoder, TraceError> {
        let texts = read_files(&FORMATS)?;
        let [state, send_reset, receive_reset] = std::array::from_fn(|i| {
            parse_format(&texts[i])
                .and_then(|f| f.id.map(|_| f).ok_or_else(|| "no ID line".to_string()))
                .map_err(|what| TraceError::Format {
                    path: std::path::Path::new("/sys/kernel/tracing").join(FORMATS[i]),
                    what,
                })
        });
        Ok(Decoder {
            state: state?,
            send_reset: send_reset?,
            receive_reset: receive_reset?,
        })
    }

    /// The formats, in the order the tracer opens and filters the events.
    pub(super) fn formats(&self) -> [&EventFormat; 3] {
        [&self.state, &self.send_reset, &self.receive_reset]
    }

    /// Decodes one raw tracepoint record, stamped `ts` and run by thread `tid`;
    /// None for events of other types, other protocols, or states this module
    /// does not know.
    pub(super) fn decode(&self, ts: u64, tid: i32, data: &[u8]) -> Option<Record> {
        let common = |f: &EventFormat, name: &str| f.field(name).and_then(|x| x.read_uint(data));
        let id = Some(common(&self.state, "common_type")? as u16);
        let (format, which) = self
            .formats()
            .into_iter()
            .zip(0..)
            .find(|(f, _)| f.id == id)?;
        let flags = common(format, "common_flags")? as u8;
        let skaddr = common(format, "skaddr").unwrap_or(0);
        let (src, dst) = endpoints(format, data)?;
        let state_of = |name: &str| {
            let v = common(format, name)? as u32 as i32;
            TcpState::from_kernel(u8::try_from(v).ok()?)
        };
        let kind = match which {
            0 => {
                if common(format, "protocol") != Some(u64::from(libc::IPPROTO_TCP as u16)) {
                    return None;
                }
                Kind::State {
                    old: state_of("oldstate")?,
                    new: state_of("newstate")?,
                }
            }
            1 => Kind::Reset {
                direction: ResetDirection::Sent,
                // 0 means "no socket" (the format prints UNKNOWN).
                state: state_of("state"),
                reason: common(format, "reason").map(|r| {
                    let r = r as u32;
                    format
                        .reasons
                        .get(&r)
                        .cloned()
                        .unwrap_or_else(|| r.to_string())
                }),
            },
            _ => Kind::Reset {
                direction: ResetDirection::Received,
                state: None,
                reason: None,
            },
        };
        Some(Record {
            ts,
            skaddr,
            tid,
            context: Context::from_flags(flags),
            src,
            dst,
            kind,
        })
    }
}

/// The local and remote ends of an event: either `sport`/`dport` with
/// `saddr`/`daddr` (4 bytes) and `saddr_v6`/`daddr_v6`, or `saddr`/`daddr`
/// holding a `struct sockaddr_in6`-sized sockaddr (tcp_send_reset).
fn endpoints(f: &EventFormat, data: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let bytes = |name: &str| {
        let x = f.field(name)?;
        data.get(x.offset..x.offset + x.size)
    };
    let (saddr, daddr) = (bytes("saddr")?, bytes("daddr")?);
    if saddr.len() >= 24 {
        return Some((sockaddr(saddr)?, sockaddr(daddr)?));
    }
    let port = |name: &str| {
        f.field(name)
            .and_then(|x| x.read_uint(data))
            .map(|p| p as u16)
    };
    let (sport, dport) = (port("sport")?, port("dport")?);
    let v6 = match f.field("family").and_then(|x| x.read_uint(data)) {
        Some(fam) => fam == libc::AF_INET6 as u64,
        None => saddr.iter().all(|b| *b == 0) && daddr.iter().all(|b| *b == 0),
    };
    let ip = |four: &[u8], name6: &str| -> Option<IpAddr> {
        if v6 {
            let b: [u8; 16] = bytes(name6)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            let b: [u8; 4] = four.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
    };
    Some((
        SocketAddr::new(ip(saddr, "saddr_v6")?, sport),
        SocketAddr::new(ip(daddr, "daddr_v6")?, dport),
    ))
}

/// A `sockaddr_in` or `sockaddr_in6` as the kernel stores it (family in host
/// order, port and address in network order).
fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    let ip = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(4..8)?).ok()?)),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::tests::fixtures::{any6, decoded_fixture, v6};

    use TcpState::*;

    #[test]
    fn real_ring_decodes_to_the_tcpstates_timeline() {
        let records = decoded_fixture();
        let states: Vec<(
            u64,
            SocketAddr,
            SocketAddr,
            TcpState,
            TcpState,
            Context,
            i32,
        )> = records
            .iter()
            .filter_map(|r| match r.kind {
                Kind::State { old, new } => {
                    Some((r.skaddr, r.src, r.dst, old, new, r.context, r.tid))
                }
                Kind::Reset { .. } => None,
            })
            .map(|(k, s, d, o, n, c, t)| (k & 0xffff, s, d, o, n, c, t))
            .collect();
        let (l, srv, cli) = (0x0000, 0x09c0, 0x3a80);
        let (task, soft) = (Context::Task, Context::Softirq);
        let t = 29516;
        let expected = vec![
            (l, v6(8888), any6(), Close, Listen, task, t),
            (cli, v6(12345), v6(8888), Close, SynSent, task, t),
            (cli, v6(12345), v6(8888), SynSent, Established, task, t),
            (srv, v6(8888), v6(12345), Listen, SynRecv, soft, t),
            (srv, v6(8888), v6(12345), SynRecv, Established, soft, t),
            (srv, v6(8888), v6(12345), Established, FinWait1, task, t),
            (cli, v6(12345), v6(8888), Established, CloseWait, soft, t),
            (cli, v6(12345), v6(8888), CloseWait, LastAck, task, t),
            // The client's FIN reaches the server in softirq: tcp_time_wait()
            // takes over, and the full socket goes to CLOSE.
            (srv, v6(8888), v6(12345), FinWait1, FinWait2, soft, t),
            (srv, v6(8888), v6(12345), FinWait2, Close, soft, t),
            (cli, v6(12345), v6(8888), LastAck, Close, task, t),
            // The same memory as a new socket, connecting to a closed port
            // (no local port yet when SYN_SENT is entered).
            (cli, v6(0), v6(12346), Close, SynSent, task, t),
            (cli, v6(51066), v6(12346), SynSent, Close, task, t),
            (l, v6(8888), any6(), Listen, Close, task, t),
        ];
        assert_eq!(states, expected);

        let resets: Vec<&Record> = records
            .iter()
            .filter(|r| matches!(r.kind, Kind::Reset { .. }))
            .collect();
        assert_eq!(resets.len(), 2);
        assert_eq!(resets[0].skaddr, 0, "a RST for a closed port has no socket");
        assert_eq!((resets[0].src, resets[0].dst), (v6(12346), v6(51066)));
        assert_eq!(
            resets[0].kind,
            Kind::Reset {
                direction: ResetDirection::Sent,
                state: None,
                reason: Some("NO_SOCKET".into())
            }
        );
        assert_eq!((resets[1].src, resets[1].dst), (v6(51066), v6(12346)));
        assert!(matches!(
            resets[1].kind,
            Kind::Reset {
                direction: ResetDirection::Received,
                ..
            }
        ));
    }
}

//! Decoding one event's bytes into a [`Record`]: the state change or reset, its
//! two ends, and the task and context the kernel ran it in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::error::{TraceError, io_err};
use super::format::{EventFormat, parse_format};
use super::log::{Context, ResetDirection};
use super::ring::{PageLayout, read_uint};
use super::tracefs::read_tracefs;
use crate::observe::diag::TcpState;

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

/// The formats needed to decode pages of one instance.
#[derive(Debug, Clone)]
pub(super) struct Decoder {
    pub(super) page: PageLayout,
    pub(super) state: EventFormat,
    pub(super) send_reset: Option<EventFormat>,
    pub(super) receive_reset: Option<EventFormat>,
}

impl Decoder {
    pub(super) fn load(instance: &Path) -> Result<Decoder, TraceError> {
        let read = |rel: &str| -> Result<EventFormat, TraceError> {
            let path = instance.join(rel);
            let text = read_tracefs(&path).map_err(io_err(format!("read {}", path.display())))?;
            parse_format(&text).map_err(|what| TraceError::Format { path, what })
        };
        let header = read("events/header_page")?;
        let page = PageLayout::from_format(&header).map_err(|what| TraceError::Format {
            path: instance.join("events/header_page"),
            what,
        })?;
        let optional = |rel: &str| instance.join(rel).exists().then(|| read(rel)).transpose();
        Ok(Decoder {
            page,
            state: read("events/sock/inet_sock_set_state/format")?,
            send_reset: optional("events/tcp/tcp_send_reset/format")?,
            receive_reset: optional("events/tcp/tcp_receive_reset/format")?,
        })
    }

    /// Decodes one event; None for events of other types, other protocols,
    /// or states this module does not know.
    pub(super) fn decode(&self, ts: u64, data: &[u8]) -> Option<Record> {
        let common = |f: &EventFormat, name: &str| f.field(name).and_then(|x| read_uint(data, x));
        let id = common(&self.state, "common_type")? as u16;
        let (format, which) = if Some(id) == self.state.id {
            (&self.state, 0)
        } else if let Some(f) = self.send_reset.as_ref().filter(|f| f.id == Some(id)) {
            (f, 1)
        } else if let Some(f) = self.receive_reset.as_ref().filter(|f| f.id == Some(id)) {
            (f, 2)
        } else {
            return None;
        };
        let tid = common(format, "common_pid")? as u32 as i32;
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
            .and_then(|x| read_uint(data, x))
            .map(|p| p as u16)
    };
    let (sport, dport) = (port("sport")?, port("dport")?);
    let v6 = match f.field("family").and_then(|x| read_uint(data, x)) {
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
    use crate::observe::trace::fixtures::{any6, decoded_fixture, v6};

    use TcpState::*;

    #[test]
    fn real_page_decodes_to_the_tcpstates_timeline() {
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
        let (l, srv, cli) = (0x30c0, 0x09c0, 0x4440);
        let (task, soft) = (Context::Task, Context::Softirq);
        let expected = vec![
            (l, v6(8888), any6(), Close, Listen, task, 7181),
            (cli, v6(12345), v6(8888), Close, SynSent, task, 7181),
            (cli, v6(12345), v6(8888), SynSent, Established, task, 7181),
            (srv, v6(8888), v6(12345), Listen, SynRecv, soft, 7181),
            (srv, v6(8888), v6(12345), SynRecv, Established, soft, 7181),
            (srv, v6(8888), v6(12345), Established, FinWait1, task, 7181),
            (cli, v6(12345), v6(8888), Established, CloseWait, soft, 7181),
            // The FIN's ACK and the client's FIN arrive in softirq while
            // another task (7281) runs: its tid proves nothing.
            (srv, v6(8888), v6(12345), FinWait1, FinWait2, soft, 7281),
            (srv, v6(8888), v6(12345), FinWait2, Close, soft, 7281),
            (cli, v6(12345), v6(8888), CloseWait, LastAck, task, 7181),
            (cli, v6(12345), v6(8888), LastAck, Close, task, 7181),
            // The same memory as a new socket, connecting to a closed port
            // (no local port yet when SYN_SENT is entered).
            (cli, v6(0), v6(12346), Close, SynSent, task, 7181),
            (cli, v6(34744), v6(12346), SynSent, Close, task, 7181),
            (l, v6(8888), any6(), Listen, Close, task, 7181),
        ];
        assert_eq!(states, expected);

        let resets: Vec<&Record> = records
            .iter()
            .filter(|r| matches!(r.kind, Kind::Reset { .. }))
            .collect();
        assert_eq!(resets.len(), 2);
        assert_eq!(resets[0].skaddr, 0, "a RST for a closed port has no socket");
        assert_eq!((resets[0].src, resets[0].dst), (v6(12346), v6(34744)));
        assert_eq!(
            resets[0].kind,
            Kind::Reset {
                direction: ResetDirection::Sent,
                state: None,
                reason: Some("NO_SOCKET".into())
            }
        );
        assert_eq!((resets[1].src, resets[1].dst), (v6(34744), v6(12346)));
        assert!(matches!(
            resets[1].kind,
            Kind::Reset {
                direction: ResetDirection::Received,
                ..
            }
        ));
    }
}

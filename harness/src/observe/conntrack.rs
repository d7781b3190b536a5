//! The conntrack table of a network namespace read through ctnetlink, the
//! netlink interface behind `conntrack -L`: each TCP entry's original and
//! reply tuples (the reply tuple shows what a NAT rewrote), its TCP state as
//! conntrack's state machine has it (`tcp_conntracks[][]` in
//! net/netfilter/nf_conntrack_proto_tcp.c), the seconds left before it
//! expires and its status bits (`IPS_*`).
//!
//! Two ways to ask: a dump of the whole table ([`dump_tcp`]), and an exact
//! lookup of one entry by its original tuple ([`lookup_tcp`]). The kernel has
//! one conntrack hash table for every namespace (`nf_conntrack_hash`, sized by
//! `nf_conntrack_buckets`) and a dump walks all of its buckets to find the
//! calling namespace's entries (`ctnetlink_dump_table()`: 262,144 buckets
//! here, 9 to 20 ms per dump with one entry, about what a `conntrack -L`
//! process takes); a lookup is one hash lookup (`nf_conntrack_find_get()`,
//! about 0.1 ms), so it is the one to poll.
//!
//! Synchronous: call it on the thread that owns the namespace, since the
//! NETLINK_NETFILTER socket reports the table of the namespace it was created in.
#![cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "read by the nat lab's evidence once the lead wires it in"
    )
)]

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoInfo, ProtoInfoTCP, ProtoTuple, Protocol,
    Tuple as CtTuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
// netlink-packet-core is not a direct dependency; rtnetlink re-exports the
// same version (0.9) that netlink-packet-netfilter is built on.
use rtnetlink::packet_core::{
    DecodeError, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};

/// One end-to-end direction of a tracked TCP connection: who sent, to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Tuple {
    /// The source address and port.
    pub src: SocketAddr,
    /// The destination address and port.
    pub dst: SocketAddr,
}

impl fmt::Display for Tuple {
    /// As `conntrack -L` prints a tuple.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "src={} dst={} sport={} dport={}",
            self.src.ip(),
            self.dst.ip(),
            self.src.port(),
            self.dst.port()
        )
    }
}

/// conntrack's TCP state (`enum tcp_conntrack`,
/// include/uapi/linux/netfilter/nf_conntrack_tcp.h): not the endpoints'
/// states but what the middlebox concluded from the segments it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtTcpState {
    None = 0,
    SynSent = 1,
    SynRecv = 2,
    Established = 3,
    FinWait = 4,
    CloseWait = 5,
    LastAck = 6,
    TimeWait = 7,
    Close = 8,
    /// A SYN seen in the reply direction while in SYN_SENT (simultaneous open).
    SynSent2 = 9,
}

impl CtTcpState {
    const ALL: [CtTcpState; 10] = [
        Self::None,
        Self::SynSent,
        Self::SynRecv,
        Self::Established,
        Self::FinWait,
        Self::CloseWait,
        Self::LastAck,
        Self::TimeWait,
        Self::Close,
        Self::SynSent2,
    ];

    /// The state of the kernel's number `CTA_PROTOINFO_TCP_STATE`.
    fn from_kernel(n: u8) -> Option<CtTcpState> {
        Self::ALL.get(usize::from(n)).copied()
    }

    /// The name `conntrack -L` prints (the kernel's `tcp_conntrack_names[]`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::SynSent => "SYN_SENT",
            Self::SynRecv => "SYN_RECV",
            Self::Established => "ESTABLISHED",
            Self::FinWait => "FIN_WAIT",
            Self::CloseWait => "CLOSE_WAIT",
            Self::LastAck => "LAST_ACK",
            Self::TimeWait => "TIME_WAIT",
            Self::Close => "CLOSE",
            Self::SynSent2 => "SYN_SENT2",
        }
    }
}

impl fmt::Display for CtTcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CtTcpState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An entry's status bits (`CTA_STATUS`, `enum ip_conntrack_status` in
/// include/uapi/linux/netfilter/nf_conntrack_common.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtStatus(pub u32);

impl CtStatus {
    /// A packet was seen in the reply direction (else `conntrack -L` prints `[UNREPLIED]`).
    pub const SEEN_REPLY: u32 = 1 << 1;
    /// The entry is kept when the table is full (`[ASSURED]`).
    pub const ASSURED: u32 = 1 << 2;
    /// The source was rewritten (masquerade, SNAT).
    pub const SRC_NAT: u32 = 1 << 4;
    /// The destination was rewritten (DNAT).
    pub const DST_NAT: u32 = 1 << 5;

    /// Each bit's kernel name (`IPS_` dropped), in bit order.
    const NAMES: [&'static str; 16] = [
        "EXPECTED",
        "SEEN_REPLY",
        "ASSURED",
        "CONFIRMED",
        "SRC_NAT",
        "DST_NAT",
        "SEQ_ADJUST",
        "SRC_NAT_DONE",
        "DST_NAT_DONE",
        "DYING",
        "FIXED_TIMEOUT",
        "TEMPLATE",
        "UNTRACKED",
        "HELPER",
        "OFFLOAD",
        "HW_OFFLOAD",
    ];

    /// Whether every bit of `flags` (one of the constants, or several or-ed) is set.
    pub fn contains(self, flags: u32) -> bool {
        self.0 & flags == flags
    }

    /// The names of the bits that are set; an unnamed bit as `BIT<n>`.
    pub fn names(self) -> Vec<String> {
        (0..32)
            .filter(|bit| self.0 & (1 << bit) != 0)
            .map(|bit| match Self::NAMES.get(bit) {
                Some(name) => (*name).to_owned(),
                None => format!("BIT{bit}"),
            })
            .collect()
    }
}

impl fmt::Display for CtStatus {
    /// The names of the bits that are set, joined by `|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join("|"))
    }
}

impl serde::Serialize for CtStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// One tracked TCP connection, as `conntrack -L -p tcp` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConntrackEntry {
    /// The direction of the first packet, as it arrived (before any NAT).
    pub orig: Tuple,
    /// The direction of the answers, as they arrive: behind a masquerade its
    /// destination is the router's own address and the port it chose.
    pub reply: Tuple,
    /// conntrack's TCP state.
    pub state: CtTcpState,
    /// Seconds left until the entry expires (`CTA_TIMEOUT`); each packet that
    /// moves the state sets it again from the state's timeout sysctl
    /// (`net.netfilter.nf_conntrack_tcp_timeout_*`).
    pub timeout_s: u32,
    /// The status bits.
    pub status: CtStatus,
}

impl fmt::Display for ConntrackEntry {
    /// One line in the layout of `conntrack -L` (without `mark` and `use`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tcp      6 {} {} {} ",
            self.timeout_s, self.state, self.orig
        )?;
        if !self.status.contains(CtStatus::SEEN_REPLY) {
            f.write_str("[UNREPLIED] ")?;
        }
        write!(f, "{}", self.reply)?;
        if self.status.contains(CtStatus::ASSURED) {
            f.write_str(" [ASSURED]")?;
        }
        Ok(())
    }
}

/// A ctnetlink query that failed.
#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    /// The two ends of the tuple asked for are not of one address family.
    #[error("conntrack: {0} and {1} are not of one address family")]
    Family(SocketAddr, SocketAddr),
    /// A socket call on the NETLINK_NETFILTER socket failed.
    #[error("conntrack: {op}: {source}")]
    Io {
        /// The call, like `send` or `recv`.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel refused the query (a negative errno in NLMSG_ERROR).
    #[error("conntrack: the kernel answered {op} with {source}")]
    Kernel {
        /// The query, as the `conntrack` command it equals.
        op: &'static str,
        /// The errno.
        source: std::io::Error,
    },
    /// The kernel's answer could not be parsed.
    #[error("conntrack: cannot parse the kernel's answer: {0}")]
    Decode(#[from] DecodeError),
    /// The kernel sent a message that is not a conntrack entry.
    #[error("conntrack: unexpected message in the answer: {0}")]
    Unexpected(String),
    /// A TCP entry lacks an attribute the kernel always sends for one.
    #[error("conntrack: a TCP entry without {attr}: {entry}")]
    Missing {
        /// The attribute's kernel name, like `CTA_TIMEOUT`.
        attr: &'static str,
        /// The entry's attributes as parsed.
        entry: String,
    },
    /// An entry is in a TCP state this module does not know.
    #[error("conntrack: an entry in unknown TCP state {0}")]
    UnknownState(u8),
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> ConntrackError {
    move |source| ConntrackError::Io { op, source }
}

/// Every TCP entry of the calling thread's namespace, IPv4 and IPv6.
///
/// Equivalent to: `conntrack -L -p tcp -f ipv4; conntrack -L -p tcp -f ipv6`
pub fn dump_tcp() -> Result<Vec<ConntrackEntry>, ConntrackError> {
    const OP: &str = "conntrack -L -p tcp";
    // NFPROTO_UNSPEC: the kernel filters by family only when one is named.
    let request = request(
        NLM_F_REQUEST | NLM_F_DUMP,
        NetfilterProtoFamily::Unspec,
        vec![],
    );
    let socket = crate::nfnetlink::open().map_err(|(op, e)| io(op)(e))?;
    socket.send(&request, 0).map_err(io("send"))?;
    let mut entries = Vec::new();
    loop {
        let (datagram, _) = socket.recv_from_full().map_err(io("recv"))?;
        if parse_datagram(OP, &datagram, &mut entries)? {
            return Ok(entries);
        }
    }
}

/// The TCP entry whose original tuple is `orig` (the addresses and ports of
/// the connection's first packet as it arrived), `None` when there is none.
///
/// Equivalent to: `conntrack -G -p tcp -s SRC -d DST --sport SPORT --dport DPORT`
pub fn lookup_tcp(orig: &Tuple) -> Result<Option<ConntrackEntry>, ConntrackError> {
    const OP: &str = "conntrack -G -p tcp";
    let family = match (orig.src, orig.dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => NetfilterProtoFamily::IPv4,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => NetfilterProtoFamily::IPv6,
        _ => return Err(ConntrackError::Family(orig.src, orig.dst)),
    };
    let tuple = vec![
        CtTuple::Ip(vec![
            IPTuple::SourceAddress(orig.src.ip()),
            IPTuple::DestinationAddress(orig.dst.ip()),
        ]),
        CtTuple::Proto(vec![
            ProtoTuple::Protocol(Protocol::Tcp),
            ProtoTuple::SourcePort(orig.src.port()),
            ProtoTuple::DestinationPort(orig.dst.port()),
        ]),
    ];
    let request = request(
        NLM_F_REQUEST,
        family,
        vec![ConntrackAttribute::CtaTupleOrig(tuple)],
    );
    let socket = crate::nfnetlink::open().map_err(|(op, e)| io(op)(e))?;
    socket.send(&request, 0).map_err(io("send"))?;
    let (datagram, _) = socket.recv_from_full().map_err(io("recv"))?;
    let mut entries = Vec::new();
    match parse_datagram(OP, &datagram, &mut entries) {
        Err(ConntrackError::Kernel { source, .. })
            if source.raw_os_error() == Some(libc::ENOENT) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
        Ok(_) => Ok(entries.into_iter().next()),
    }
}

/// Serializes one IPCTNL_MSG_CT_GET request.
fn request(flags: u16, family: NetfilterProtoFamily, attrs: Vec<ConntrackAttribute>) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    let mut message = NetlinkMessage::new(
        header,
        NetlinkPayload::from(NetfilterMessage::new(
            NetfilterHeader::new(family, 0, 0),
            ConntrackMessage::Get(attrs),
        )),
    );
    message.finalize();
    let mut buf = vec![0; message.buffer_len()];
    message.serialize(&mut buf);
    buf
}

/// Parses the netlink messages of one datagram, appending each TCP entry to
/// `out`; returns `true` once NLMSG_DONE is seen (an exact answer has none).
fn parse_datagram(
    op: &'static str,
    mut bytes: &[u8],
    out: &mut Vec<ConntrackEntry>,
) -> Result<bool, ConntrackError> {
    while !bytes.is_empty() {
        let message = NetlinkMessage::<NetfilterMessage>::deserialize(bytes)?;
        let len = message.header.length as usize;
        match message.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Noop => {}
            NetlinkPayload::Error(e) if e.code.is_none() => {}
            NetlinkPayload::Error(e) => {
                return Err(ConntrackError::Kernel {
                    op,
                    source: e.to_io(),
                });
            }
            NetlinkPayload::InnerMessage(NetfilterMessage {
                inner: NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)),
                ..
            }) => {
                if let Some(entry) = entry(&attrs)? {
                    out.push(entry);
                }
            }
            other => return Err(ConntrackError::Unexpected(format!("{other:?}"))),
        }
        // A length of 0 or past the datagram would loop or panic.
        if len == 0 || len > bytes.len() {
            return Err(ConntrackError::Unexpected(format!(
                "netlink message length {len} in a datagram of {} bytes",
                bytes.len()
            )));
        }
        bytes = &bytes[((len + 3) & !3).min(bytes.len())..];
    }
    Ok(false)
}

/// The entry of one IPCTNL_MSG_CT_NEW answer; `None` when it is not TCP.
fn entry(attrs: &[ConntrackAttribute]) -> Result<Option<ConntrackEntry>, ConntrackError> {
    let missing = |attr| ConntrackError::Missing {
        attr,
        entry: format!("{attrs:?}"),
    };
    let (mut orig, mut reply, mut state, mut timeout_s, mut status) = (None, None, None, None, 0);
    for attr in attrs {
        match attr {
            ConntrackAttribute::CtaTupleOrig(t) => orig = Some(tuple(t)),
            ConntrackAttribute::CtaTupleReply(t) => reply = Some(tuple(t)),
            ConntrackAttribute::CtaProtoInfo(info) => state = tcp_state(info),
            ConntrackAttribute::CtaTimeout(s) => timeout_s = Some(*s),
            ConntrackAttribute::CtaStatus(s) => status = s.bits(),
            _ => {}
        }
    }
    let (orig, is_tcp) = orig.ok_or_else(|| missing("CTA_TUPLE_ORIG"))?;
    if !is_tcp {
        return Ok(None);
    }
    let (reply, _) = reply.ok_or_else(|| missing("CTA_TUPLE_REPLY"))?;
    let state = state.ok_or_else(|| missing("CTA_PROTOINFO_TCP_STATE"))?;
    Ok(Some(ConntrackEntry {
        orig: orig.ok_or_else(|| missing("CTA_TUPLE_IP/CTA_TUPLE_PROTO"))?,
        reply: reply.ok_or_else(|| missing("CTA_TUPLE_IP/CTA_TUPLE_PROTO"))?,
        state: CtTcpState::from_kernel(state).ok_or(ConntrackError::UnknownState(state))?,
        timeout_s: timeout_s.ok_or_else(|| missing("CTA_TIMEOUT"))?,
        status: CtStatus(status),
    }))
}

/// A `CTA_TUPLE_*`: the tuple when it has both addresses and ports, and
/// whether its protocol is TCP.
fn tuple(attrs: &[CtTuple]) -> (Option<Tuple>, bool) {
    let (mut src, mut dst, mut sport, mut dport, mut tcp) = (None, None, None, None, false);
    for attr in attrs {
        match attr {
            CtTuple::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(a) => src = Some(*a),
                        IPTuple::DestinationAddress(a) => dst = Some(*a),
                        _ => {}
                    }
                }
            }
            CtTuple::Proto(protos) => {
                for p in protos {
                    match p {
                        ProtoTuple::Protocol(p) => tcp = *p == Protocol::Tcp,
                        ProtoTuple::SourcePort(port) => sport = Some(*port),
                        ProtoTuple::DestinationPort(port) => dport = Some(*port),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let end = |ip: Option<IpAddr>, port| Some(SocketAddr::new(ip?, port?));
    let both = end(src, sport).zip(end(dst, dport));
    (both.map(|(src, dst)| Tuple { src, dst }), tcp)
}

/// `CTA_PROTOINFO_TCP_STATE` inside `CTA_PROTOINFO`.
fn tcp_state(info: &[ProtoInfo]) -> Option<u8> {
    info.iter().find_map(|i| match i {
        ProtoInfo::TCP(tcp) => tcp.iter().find_map(|t| match t {
            ProtoInfoTCP::State(s) => Some(*s),
            _ => None,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    //! Decoding, without root. The entries of a real NAT are read in the
    //! root tests of `lab::nat`, which make one.

    use super::*;

    #[test]
    fn state_and_status_names_are_conntracks() {
        for (n, s) in CtTcpState::ALL.iter().enumerate() {
            assert_eq!(CtTcpState::from_kernel(n as u8), Some(*s));
            assert_eq!(*s as usize, n);
        }
        assert_eq!(CtTcpState::from_kernel(10), None);
        assert_eq!(CtTcpState::TimeWait.to_string(), "TIME_WAIT");
        let s = CtStatus(0b1_1001_1110);
        assert_eq!(
            s.to_string(),
            "SEEN_REPLY|ASSURED|CONFIRMED|SRC_NAT|SRC_NAT_DONE|DST_NAT_DONE"
        );
        assert!(s.contains(CtStatus::SEEN_REPLY | CtStatus::SRC_NAT));
        assert!(!s.contains(CtStatus::DST_NAT));
        assert_eq!(CtStatus(1 << 20).names(), ["BIT20"]);
    }

    #[test]
    fn a_lookup_asks_for_one_tuple_without_dump() {
        let orig = Tuple {
            src: "198.18.1.2:40000".parse().expect("addr"),
            dst: "198.18.2.2:8888".parse().expect("addr"),
        };
        let mixed = Tuple {
            src: orig.src,
            dst: "[2001:2::1]:8888".parse().expect("addr"),
        };
        assert!(matches!(
            lookup_tcp(&mixed),
            Err(ConntrackError::Family(..))
        ));
        let buf = request(
            NLM_F_REQUEST,
            NetfilterProtoFamily::IPv4,
            vec![ConntrackAttribute::CtaTupleOrig(vec![CtTuple::Ip(vec![
                IPTuple::SourceAddress(orig.src.ip()),
            ])])],
        );
        // nlmsghdr: type = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET.
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 1 << 8 | 1);
        assert_eq!(u16::from_ne_bytes([buf[6], buf[7]]), NLM_F_REQUEST);
        // nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0.
        assert_eq!(&buf[16..20], &[libc::AF_INET as u8, 0, 0, 0]);
        assert!(buf.ends_with(&[198, 18, 1, 2]));
    }

    #[test]
    fn an_entry_is_decoded_from_the_kernels_attributes() {
        let ct_tuple = |src: &str, dst: &str| {
            let (src, dst): (SocketAddr, SocketAddr) =
                (src.parse().expect("addr"), dst.parse().expect("addr"));
            vec![
                CtTuple::Ip(vec![
                    IPTuple::SourceAddress(src.ip()),
                    IPTuple::DestinationAddress(dst.ip()),
                ]),
                CtTuple::Proto(vec![
                    ProtoTuple::Protocol(Protocol::Tcp),
                    ProtoTuple::SourcePort(src.port()),
                    ProtoTuple::DestinationPort(dst.port()),
                ]),
            ]
        };
        let attrs = vec![
            ConntrackAttribute::CtaTupleOrig(ct_tuple("198.18.1.2:40000", "198.18.2.2:8888")),
            ConntrackAttribute::CtaTupleReply(ct_tuple("198.18.2.2:8888", "198.18.2.1:40000")),
            ConntrackAttribute::CtaStatus(
                netlink_packet_netfilter::conntrack::Status::from_bits_retain(0x19e),
            ),
            ConntrackAttribute::CtaTimeout(119),
            ConntrackAttribute::CtaProtoInfo(vec![ProtoInfo::TCP(vec![ProtoInfoTCP::State(7)])]),
        ];
        // Through the wire format and back, as the kernel would send it.
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_DUMP;
        let mut message = NetlinkMessage::new(
            header,
            NetlinkPayload::from(NetfilterMessage::new(
                NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0),
                ConntrackMessage::New(attrs.clone()),
            )),
        );
        message.finalize();
        let mut buf = vec![0; message.buffer_len()];
        message.serialize(&mut buf);
        let mut out = Vec::new();
        assert!(!parse_datagram("test", &buf, &mut out).expect("parse"));
        let [entry] = out.as_slice() else {
            panic!("one entry expected, got {out:?}")
        };
        assert_eq!(
            entry.to_string(),
            "tcp      6 119 TIME_WAIT src=198.18.1.2 dst=198.18.2.2 sport=40000 dport=8888 \
             src=198.18.2.2 dst=198.18.2.1 sport=8888 dport=40000 [ASSURED]"
        );
        assert_eq!(
            serde_json::to_value(entry).expect("json")["status"],
            serde_json::json!([
                "SEEN_REPLY",
                "ASSURED",
                "CONFIRMED",
                "SRC_NAT",
                "SRC_NAT_DONE",
                "DST_NAT_DONE"
            ])
        );
        let mut no_timeout = attrs.clone();
        no_timeout.retain(|a| !matches!(a, ConntrackAttribute::CtaTimeout(_)));
        assert!(matches!(
            super::entry(&no_timeout),
            Err(ConntrackError::Missing {
                attr: "CTA_TIMEOUT",
                ..
            })
        ));
        let mut udp = attrs;
        udp[0] =
            ConntrackAttribute::CtaTupleOrig(vec![CtTuple::Proto(vec![ProtoTuple::Protocol(
                Protocol::Udp,
            )])]);
        assert_eq!(super::entry(&udp).expect("not TCP is no error"), None);
    }
}

//! Test fixtures captured on Linux 6.18: the events' format files (`cat`) and
//! one perf ring of a real connection (no privilege needed to use them).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::super::decode::{Decoder, Record};
use super::super::format::parse_format;
use super::super::record::{PerfRecord, parse};

pub(in super::super) const STATE_FORMAT: &str = r#"name: inet_sock_set_state
ID: 2287
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skaddr;	offset:8;	size:8;	signed:0;
	field:int oldstate;	offset:16;	size:4;	signed:1;
	field:int newstate;	offset:20;	size:4;	signed:1;
	field:__u16 sport;	offset:24;	size:2;	signed:0;
	field:__u16 dport;	offset:26;	size:2;	signed:0;
	field:__u16 family;	offset:28;	size:2;	signed:0;
	field:__u16 protocol;	offset:30;	size:2;	signed:0;
	field:__u8 saddr[4];	offset:32;	size:4;	signed:0;
	field:__u8 daddr[4];	offset:36;	size:4;	signed:0;
	field:__u8 saddr_v6[16];	offset:40;	size:16;	signed:0;
	field:__u8 daddr_v6[16];	offset:56;	size:16;	signed:0;

print fmt: "family=%s protocol=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c daddrv6=%pI6c oldstate=%s newstate=%s", __print_symbolic(REC->family, { 2, "AF_INET" }, { 10, "AF_INET6" }), __print_symbolic(REC->protocol, { 6, "IPPROTO_TCP" }, { 132, "IPPROTO_SCTP" }, { 262, "IPPROTO_MPTCP" }), REC->sport, REC->dport, REC->saddr, REC->daddr, REC->saddr_v6, REC->daddr_v6, __print_symbolic(REC->oldstate, { 1, "TCP_ESTABLISHED" }, { 2, "TCP_SYN_SENT" }, { 3, "TCP_SYN_RECV" }, { 4, "TCP_FIN_WAIT1" }, { 5, "TCP_FIN_WAIT2" }, { 6, "TCP_TIME_WAIT" }, { 7, "TCP_CLOSE" }, { 8, "TCP_CLOSE_WAIT" }, { 9, "TCP_LAST_ACK" }, { 10, "TCP_LISTEN" }, { 11, "TCP_CLOSING" }, { 12, "TCP_NEW_SYN_RECV" }), __print_symbolic(REC->newstate, { 1, "TCP_ESTABLISHED" }, { 2, "TCP_SYN_SENT" }, { 3, "TCP_SYN_RECV" }, { 4, "TCP_FIN_WAIT1" }, { 5, "TCP_FIN_WAIT2" }, { 6, "TCP_TIME_WAIT" }, { 7, "TCP_CLOSE" }, { 8, "TCP_CLOSE_WAIT" }, { 9, "TCP_LAST_ACK" }, { 10, "TCP_LISTEN" }, { 11, "TCP_CLOSING" }, { 12, "TCP_NEW_SYN_RECV" })
"#;
pub(in super::super) const SEND_RESET_FORMAT: &str = r#"name: tcp_send_reset
ID: 2280
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skbaddr;	offset:8;	size:8;	signed:0;
	field:const void * skaddr;	offset:16;	size:8;	signed:0;
	field:int state;	offset:24;	size:4;	signed:1;
	field:enum sk_rst_reason reason;	offset:28;	size:4;	signed:0;
	field:__u8 saddr[28];	offset:32;	size:28;	signed:0;
	field:__u8 daddr[28];	offset:60;	size:28;	signed:0;

print fmt: "skbaddr=%p skaddr=%p src=%pISpc dest=%pISpc state=%s reason=%s", REC->skbaddr, REC->skaddr, REC->saddr, REC->daddr, REC->state ? __print_symbolic(REC->state, { TCP_ESTABLISHED, "TCP_ESTABLISHED" }, { TCP_SYN_SENT, "TCP_SYN_SENT" }, { TCP_SYN_RECV, "TCP_SYN_RECV" }, { TCP_FIN_WAIT1, "TCP_FIN_WAIT1" }, { TCP_FIN_WAIT2, "TCP_FIN_WAIT2" }, { TCP_TIME_WAIT, "TCP_TIME_WAIT" }, { TCP_CLOSE, "TCP_CLOSE" }, { TCP_CLOSE_WAIT, "TCP_CLOSE_WAIT" }, { TCP_LAST_ACK, "TCP_LAST_ACK" }, { TCP_LISTEN, "TCP_LISTEN" }, { TCP_CLOSING, "TCP_CLOSING" }, { TCP_NEW_SYN_RECV, "TCP_NEW_SYN_RECV" }) : "UNKNOWN", __print_symbolic(REC->reason, { 0, "NOT_SPECIFIED" }, { 1, "NO_SOCKET" }, { 2, "TCP_INVALID_ACK_SEQUENCE" }, { 3, "TCP_RFC7323_PAWS" }, { 4, "TCP_TOO_OLD_ACK" }, { 5, "TCP_ACK_UNSENT_DATA" }, { 6, "TCP_FLAGS" }, { 7, "TCP_OLD_ACK" }, { 8, "TCP_ABORT_ON_DATA" }, { 9, "TCP_TIMEWAIT_SOCKET" }, { 10, "INVALID_SYN" }, { 11, "TCP_ABORT_ON_CLOSE" }, { 12, "TCP_ABORT_ON_LINGER" }, { 13, "TCP_ABORT_ON_MEMORY" }, { 14, "TCP_STATE" }, { 15, "TCP_KEEPALIVE_TIMEOUT" }, { 16, "TCP_DISCONNECT_WITH_DATA" }, { 17, "MPTCP_RST_EUNSPEC" }, { 18, "MPTCP_RST_EMPTCP" }, { 19, "MPTCP_RST_ERESOURCE" }, { 20, "MPTCP_RST_EPROHIBIT" }, { 21, "MPTCP_RST_EWQ2BIG" }, { 22, "MPTCP_RST_EBADPERF" }, { 23, "MPTCP_RST_EMIDDLEBOX" }, { 24, "ERROR" }, { 25, "MAX" })
"#;
pub(in super::super) const RECEIVE_RESET_FORMAT: &str = r#"name: tcp_receive_reset
ID: 2279
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skaddr;	offset:8;	size:8;	signed:0;
	field:__u16 sport;	offset:16;	size:2;	signed:0;
	field:__u16 dport;	offset:18;	size:2;	signed:0;
	field:__u16 family;	offset:20;	size:2;	signed:0;
	field:__u8 saddr[4];	offset:22;	size:4;	signed:0;
	field:__u8 daddr[4];	offset:26;	size:4;	signed:0;
	field:__u8 saddr_v6[16];	offset:30;	size:16;	signed:0;
	field:__u8 daddr_v6[16];	offset:46;	size:16;	signed:0;
	field:__u64 sock_cookie;	offset:64;	size:8;	signed:0;

print fmt: "family=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c daddrv6=%pI6c sock_cookie=%llx", __print_symbolic(REC->family, { 2, "AF_INET" }, { 10, "AF_INET6" }), REC->sport, REC->dport, REC->saddr, REC->daddr, REC->saddr_v6, REC->daddr_v6, REC->sock_cookie
"#;

/// The ring of CPU 1 after `taskset -c 1 unshare -n python3 scenario.py`
/// (pid 29516): on ::1, listener :8888, client bound to :12345, the server
/// closes first; then a connect to the closed port 12346. Opened and dumped
/// by a C program with the attributes of `perf::open_tracepoint`, filtered by
/// those ports; 16 `PERF_RECORD_SAMPLE`s.
const RING_HEX: &[&str] = &[
    "09000000010068004c7300004c730000f213004ee80000004c000000ef0800014c7300000000dd048188ffff07000000",
    "0a000000b82200000a0006007f0000060000000000000000000000000000000000000001000000000000000000000000",
    "000000000000000009000000010068004c7300004c730000ca80044ee80000004c000000ef0800014c730000803add04",
    "8188ffff07000000020000003930b8220a0006007f000006000000000000000000000000000000000000000100000000",
    "0000000000000000000000010000000009000000010068004c7300004c730000602d074ee80000004c000000ef080001",
    "4c730000803add048188ffff02000000010000003930b8220a0006007f00000600000000000000000000000000000000",
    "00000001000000000000000000000000000000010000000009000000010068004c7300004c7300007445074ee8000000",
    "4c000000ef0810034c730000c009dd048188ffff0a00000003000000b82239300a0006007f0000067f00000600000000",
    "000000000000000000000001000000000000000000000000000000010000000009000000010068004c7300004c730000",
    "aa58074ee80000004c000000ef0810034c730000c009dd048188ffff0300000001000000b82239300a0006007f000006",
    "7f0000060000000000000000000000000000000100000000000000000000000000000001000000000900000001006800",
    "4c7300004c730000d834094ee80000004c000000ef0800014c730000c009dd048188ffff0100000004000000b8223930",
    "0a0006007f0000067f000006000000000000000000000000000000010000000000000000000000000000000100000000",
    "09000000010068004c7300004c730000e74b094ee80000004c000000ef0810034c730000803add048188ffff01000000",
    "080000003930b8220a0006007f0000060000000000000000000000000000000000000001000000000000000000000000",
    "000000010000000009000000010068004c7300004c7300005c74094ee80000004c000000ef0800014c730000803add04",
    "8188ffff08000000090000003930b8220a0006007f000006000000000000000000000000000000000000000100000000",
    "0000000000000000000000010000000009000000010068004c7300004c730000127c094ee80000004c000000ef081003",
    "4c730000c009dd048188ffff0400000005000000b82239300a0006007f0000067f000006000000000000000000000000",
    "00000001000000000000000000000000000000010000000009000000010068004c7300004c7300008694094ee8000000",
    "4c000000ef0810034c730000c009dd048188ffff0500000007000000b82239300a0006007f0000067f00000600000000",
    "000000000000000000000001000000000000000000000000000000010000000009000000010068004c7300004c730000",
    "d2ab094ee80000004c000000ef0800014c730000803add048188ffff09000000070000003930b8220a0006007f000006",
    "000000000000000000000000000000000000000100000000000000000000000000000001000000000900000001006800",
    "4c7300004c730000a4510b51e80000004c000000ef0800014c730000803add048188ffff070000000200000000003a30",
    "0a0006000000000000000000000000000000000000000000000000010000000000000000000000000000000100000000",
    "09000000010078004c7300004c730000b9250c51e80000005c000000e80810024c730000e0e689068188ffff00000000",
    "0000000000000000010000000a00303a0000000000000000000000000000000000000001000000000a00c77a00000000",
    "00000000000000000000000000000001000000000000000009000000010068004c7300004c7300007ea20c51e8000000",
    "4c000000e70800014c730000803add048188ffff7ac73a300a0000000000000000000000000000000000000000000000",
    "000100000000000000000000000000000001000036000000000000000000000009000000010068004c7300004c730000",
    "28b10c51e80000004c000000ef0800014c730000803add048188ffff02000000070000007ac73a300a00060000000000",
    "000000000000000000000000000000000000000100000000000000000000000000000001000000000900000001006800",
    "4c7300004c7300003dde0d51e80000004c000000ef0800014c7300000000dd048188ffff0a00000007000000b8220000",
    "0a0006007f00000600000000000000000000000000000000000000010000000000000000000000000000000000000000",
];

pub(in super::super) fn ring_bytes() -> Vec<u8> {
    let hex: String = RING_HEX.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("fixture is hex"))
        .collect()
}

/// The records of `ring` (data from position 0, never wrapped), split by the
/// size in each header.
pub(in super::super) fn split_records(ring: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = ring;
    while rest.len() >= 8 {
        let size = usize::from(u16::from_ne_bytes([rest[6], rest[7]]));
        assert!(
            size >= 8 && size <= rest.len(),
            "fixture record of {size} bytes"
        );
        out.push(&rest[..size]);
        rest = &rest[size..];
    }
    out
}

pub(in super::super) fn decoder() -> Decoder {
    Decoder {
        state: parse_format(STATE_FORMAT).unwrap(),
        send_reset: parse_format(SEND_RESET_FORMAT).unwrap(),
        receive_reset: parse_format(RECEIVE_RESET_FORMAT).unwrap(),
    }
}

pub(in super::super) fn decoded_fixture() -> Vec<Record> {
    let d = decoder();
    let bytes = ring_bytes();
    split_records(&bytes)
        .into_iter()
        .map(|r| match parse(r).expect("every fixture record parses") {
            PerfRecord::Sample { tid, time, raw } => d
                .decode(time, tid, raw)
                .expect("every fixture event decodes"),
            other => panic!("not a sample: {other:?}"),
        })
        .collect()
}

pub(in super::super) fn v6(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
}

pub(in super::super) fn any6() -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
}

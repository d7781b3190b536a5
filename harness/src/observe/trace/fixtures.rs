//! Test fixtures captured with `cat` from an instance on Linux 6.18: the format
//! files and one ring-buffer page of a real connection (no privilege needed).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::decode::{Decoder, Record};
use super::format::parse_format;
use super::ring::{PageLayout, parse_page};

pub(super) const HEADER_PAGE: &str = r#"	field: u64 timestamp;	offset:0;	size:8;	signed:0;
	field: local_t commit;	offset:8;	size:8;	signed:1;
	field: int overwrite;	offset:8;	size:1;	signed:1;
	field: char data;	offset:16;	size:4080;	signed:0;
"#;
pub(super) const STATE_FORMAT: &str = r#"name: inet_sock_set_state
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
pub(super) const SEND_RESET_FORMAT: &str = r#"name: tcp_send_reset
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
pub(super) const RECEIVE_RESET_FORMAT: &str = r#"name: tcp_receive_reset
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

/// One page of per_cpu/cpu1/trace_pipe_raw (commit 0x4d0): python in
/// `unshare -n` (pid 7181) on ::1, listener :8888, client :12345, the
/// server closes first; then a connect to the closed port 12346.
const PAGE_HEX: &[&str] = &[
    "c6251e0afbaceb18d00400000000000012000000ef0800000d1c0000c03016088188ffff070000000a000000b8220000",
    "0a0006007f00000600000000000000000000000000000000000000010000000000000000000000000000000072040b00",
    "ef0800000d1c0000404416088188ffff07000000020000003930b8220a0006007f000006000000000000000000000000",
    "000000000000000100000000000000000000000000000001d2571200ef0800000d1c0000404416088188ffff02000000",
    "010000003930b8220a0006007f0000060000000000000000000000000000000000000001000000000000000000000000",
    "00000001523f0300ef0810020d1c0000c00916088188ffff0a00000003000000b82239300a0006007f0000067f000006",
    "000000000000000000000000000000010000000000000000000000000000000172e90100ef0810020d1c0000c0091608",
    "8188ffff0300000001000000b82239300a0006007f0000067f0000060000000000000000000000000000000100000000",
    "000000000000000000000001f2ea1500ef0800000d1c0000c00916088188ffff0100000004000000b82239300a000600",
    "7f0000067f0000060000000000000000000000000000000100000000000000000000000000000001d2ac0200ef081002",
    "0d1c0000404416088188ffff01000000080000003930b8220a0006007f00000600000000000000000000000000000000",
    "000000010000000000000000000000000000000152b7d80bef081001711c0000c00916088188ffff0400000005000000",
    "b82239300a0006007f0000067f0000060000000000000000000000000000000100000000000000000000000000000001",
    "72510200ef081001711c0000c00916088188ffff0500000007000000b82239300a0006007f0000067f00000600000000",
    "0000000000000000000000010000000000000000000000000000000112da5958ef0800000d1c0000404416088188ffff",
    "08000000090000003930b8220a0006007f00000600000000000000000000000000000000000000010000000000000000",
    "0000000000000001d2e01300ef0800000d1c0000404416088188ffff09000000070000003930b8220a0006007f000006",
    "00000000000000000000000000000000000000010000000000000000000000000000000132478060ef0800000d1c0000",
    "404416088188ffff070000000200000000003a300a000600000000000000000000000000000000000000000000000001",
    "0000000000000000000000000000000196a10c00e80810010d1c0000e05cb1228188ffff000000000000000000000000",
    "010000000a00303a0000000000000000000000000000000000000001000000000a0087b8000000000000000000000000",
    "000000000000000100000000d2320500e70800000d1c0000404416088188ffffb8873a300a0000000000000000000000",
    "00000000000000000000000000010000000000000000000000000000000100000a0200000000000032840100ef080000",
    "0d1c0000404416088188ffff0200000007000000b8873a300a0006000000000000000000000000000000000000000000",
    "0000000100000000000000000000000000000001123d6e05ef0800000d1c0000c03016088188ffff0a00000007000000",
    "b82200000a0006007f000006000000000000000000000000000000000000000100000000000000000000000000000000",
];

pub(super) fn page_bytes() -> Vec<u8> {
    let hex: String = PAGE_HEX.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("fixture is hex"))
        .collect()
}

pub(super) fn decoder() -> Decoder {
    let page = PageLayout::from_format(&parse_format(HEADER_PAGE).unwrap()).unwrap();
    Decoder {
        page,
        state: parse_format(STATE_FORMAT).unwrap(),
        send_reset: Some(parse_format(SEND_RESET_FORMAT).unwrap()),
        receive_reset: Some(parse_format(RECEIVE_RESET_FORMAT).unwrap()),
    }
}

pub(super) fn decoded_fixture() -> Vec<Record> {
    let d = decoder();
    let bytes = page_bytes();
    let page = parse_page(&bytes, &d.page).expect("the fixture page parses");
    assert!(!page.missed);
    page.records
        .iter()
        .map(|r| d.decode(r.ts, r.data).expect("every fixture event decodes"))
        .collect()
}

pub(super) fn v6(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
}

pub(super) fn any6() -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
}

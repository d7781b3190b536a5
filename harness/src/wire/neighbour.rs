//! The raw peer's fence: a neighbour probe (an ARP request for IPv4, a
//! unicast Neighbour Solicitation for IPv6) that the server's kernel answers
//! at once, or behind a router an ICMP echo request. Frames from one sender are processed in order, and the server's
//! answers leave in that order, so once the probe's answer is captured, any
//! answer to the segments written before it has been captured too: "no answer"
//! is known at once instead of after a guessed wait. Neither touches a TCP or
//! IPv4 MIB counter.

use std::net::IpAddr;

use etherparse::{
    ArpEthIpv4Packet, ArpOperation, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket,
    TransportSlice,
};

use super::segment::{EmitError, Frame};

/// ICMPv6 types (RFC 4861).
const NEIGHBOUR_SOLICITATION: u8 = 135;
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
const ECHO_REPLY_V6: u8 = 129;
/// ICMPv4 echo reply (RFC 792).
const ECHO_REPLY_V4: u8 = 0;

/// The probe from `src` (`src_mac`) asking for `dst` (at `dst_mac`).
///
/// Equivalent to: `arping -c 1 -I DEV DST` (IPv4), `ndisc6 DST DEV` (IPv6).
pub fn probe(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
) -> Result<Vec<u8>, EmitError> {
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let arp = ArpEthIpv4Packet {
                operation: ArpOperation::REQUEST,
                sender_mac: src_mac,
                sender_ipv4: s.octets(),
                target_mac: [0; 6],
                target_ipv4: d.octets(),
            };
            PacketBuilder::ethernet2(src_mac, dst_mac)
                .arp(arp.to_arp_packet())
                .write(&mut out)?;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            // Type, code, checksum, then 4 reserved bytes; the payload is the
            // target address. Unicast: no source link-layer option needed.
            PacketBuilder::ethernet2(src_mac, dst_mac)
                .ipv6(s.octets(), d.octets(), 255)
                .icmpv6(Icmpv6Type::Unknown {
                    type_u8: NEIGHBOUR_SOLICITATION,
                    code_u8: 0,
                    bytes5to8: [0; 4],
                })
                .write(&mut out, &d.octets())?;
        }
        _ => {
            return Err(EmitError::MixedFamilies {
                src: (src, 0).into(),
                dst: (dst, 0).into(),
            });
        }
    }
    Ok(out)
}

/// The fence through a router, where no neighbour probe reaches the server:
/// an ICMP echo request to `dst`, sent to the next hop (`dst_mac`). The
/// router forwards it behind what was written before, and the server's echo
/// reply leaves behind its answers to those.
///
/// Equivalent to: `ping -c 1 DST`.
pub fn echo_probe(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
) -> Result<Vec<u8>, EmitError> {
    const ID: u16 = 0x5359;
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv4(s.octets(), d.octets(), 64)
            .icmpv4_echo_request(ID, 1)
            .write(&mut out, &[])?,
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv6(s.octets(), d.octets(), 64)
            .icmpv6_echo_request(ID, 1)
            .write(&mut out, &[])?,
        _ => {
            return Err(EmitError::MixedFamilies {
                src: (src, 0).into(),
                dst: (dst, 0).into(),
            });
        }
    }
    Ok(out)
}

/// Whether `frame` is the server's answer to a probe: an ARP reply, a
/// Neighbour Advertisement or an echo reply the server sent.
pub fn is_answer(frame: &Frame) -> bool {
    if !frame.outgoing {
        return false;
    }
    let Ok(packet) = SlicedPacket::from_ethernet(&frame.data) else {
        return false;
    };
    match (&packet.net, &packet.transport) {
        (Some(NetSlice::Arp(arp)), _) => arp.operation() == ArpOperation::REPLY,
        (_, Some(TransportSlice::Icmpv6(icmp))) => {
            matches!(icmp.type_u8(), NEIGHBOUR_ADVERTISEMENT | ECHO_REPLY_V6)
        }
        (_, Some(TransportSlice::Icmpv4(icmp))) => icmp.type_u8() == ECHO_REPLY_V4,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const S: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn probes_parse_as_what_they_are() {
        let v4 = probe(
            C,
            S,
            "198.18.0.2".parse().unwrap(),
            "198.18.0.1".parse().unwrap(),
        )
        .expect("arp");
        match SlicedPacket::from_ethernet(&v4).expect("parse").net {
            Some(NetSlice::Arp(arp)) => {
                assert_eq!(arp.operation(), ArpOperation::REQUEST);
                assert_eq!(arp.target_protocol_addr(), &[198, 18, 0, 1]);
            }
            other => panic!("not ARP: {other:?}"),
        }
        let v6 = probe(
            C,
            S,
            "2001:2::2".parse().unwrap(),
            "2001:2::1".parse().unwrap(),
        )
        .expect("ns");
        match SlicedPacket::from_ethernet(&v6).expect("parse").transport {
            Some(TransportSlice::Icmpv6(icmp)) => {
                assert_eq!(icmp.type_u8(), NEIGHBOUR_SOLICITATION);
                assert!(icmp.is_checksum_valid(
                    "2001:2::2".parse::<std::net::Ipv6Addr>().unwrap().octets(),
                    "2001:2::1".parse::<std::net::Ipv6Addr>().unwrap().octets()
                ));
            }
            other => panic!("not ICMPv6: {other:?}"),
        }
        // Our own probe is not an answer, even sent by the server.
        let frame = Frame {
            at_ns: 0,
            outgoing: true,
            data: v4,
        };
        assert!(!is_answer(&frame));
    }
}

//! Write the captured frames as a standard pcap (nanosecond timestamps, Ethernet
//! link type) that tcpdump, tshark and Wireshark open. Where the bytes go (a
//! file made safely, see `files`) is the caller's business.

use std::io::Write;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use crate::wire::Frame;

/// Write `frames` as a pcap into `out`.
///
/// Equivalent to: `tcpdump -i <veth> -w <file>` for the duration of the case.
pub fn write(out: impl Write, frames: &[Frame]) -> std::io::Result<()> {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: pcap_file::TsResolution::NanoSecond,
        snaplen: 65535,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(std::io::BufWriter::new(out), header)
        .map_err(std::io::Error::other)?;
    for f in frames {
        let len = u32::try_from(f.data.len()).unwrap_or(u32::MAX);
        w.write_packet(&PcapPacket::new(
            Duration::from_nanos(f.at_ns),
            len,
            &f.data,
        ))
        .map_err(std::io::Error::other)?;
    }
    w.into_writer().flush()
}

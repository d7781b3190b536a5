//! Write the captured frames as a standard pcap (nanosecond timestamps, Ethernet
//! link type) that tcpdump, tshark and Wireshark open.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use crate::wire::Frame;

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("write pcap {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("write pcap {}: {source}", path.display())]
    Format {
        path: std::path::PathBuf,
        source: pcap_file::PcapError,
    },
}

/// Write `frames` to `path` (created or truncated).
///
/// Equivalent to: `tcpdump -i <veth> -w <path>` for the duration of the case.
pub fn write(path: &Path, frames: &[Frame]) -> Result<(), PcapError> {
    let io = |source| PcapError::Io {
        path: path.to_path_buf(),
        source,
    };
    let format = |source| PcapError::Format {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = File::create(path).map_err(io)?;
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: pcap_file::TsResolution::NanoSecond,
        snaplen: 65535,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(BufWriter::new(file), header).map_err(format)?;
    for f in frames {
        let len = u32::try_from(f.data.len()).unwrap_or(u32::MAX);
        w.write_packet(&PcapPacket::new(
            Duration::from_nanos(f.at_ns),
            len,
            &f.data,
        ))
        .map_err(format)?;
    }
    Ok(())
}

//! The pcap artifact read back by an independent decoder: run a case against the
//! kernel (the seq-below case with the RST and the retried SYN), write its pcap,
//! read it with `tshark -r`, and check that tshark sees the same segments as the
//! report: direction, flags, absolute seq/ack, tsval, and for every segment the
//! connection and the relative seq/ack that tshark computes, derived here from
//! the case's own absolute numbers.
//!
//! Needs root (the case makes network namespaces) and tshark: as root on
//! Debian/Ubuntu the test installs it (`apt-get install tshark`, said on
//! stderr); elsewhere it fails naming the package.

mod support;

use std::process::Command;

use synlab::{Dir, RunOptions, Segment, run_case};

// Without root, run in an unprivileged user namespace (rootless mode). The
// standard test harness starts threads before any test, so this must happen
// before main: see synlab::rootless.
support::enter_rootless_before_main!();

/// One TCP segment as tshark decodes it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// tshark's TCP stream: one per connection, a new one when a SYN reuses
    /// the 4-tuple of a closed connection.
    stream: u32,
    from_client: bool,
    flags: u16,
    seq_raw: u32,
    ack_raw: u32,
    seq_rel: u32,
    ack_rel: u32,
    tsval: Option<u32>,
}

fn tshark(path: &std::path::Path) -> Vec<Seen> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=,"])
        .args(["-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.flags"])
        .args([
            "-e",
            "tcp.seq_raw",
            "-e",
            "tcp.ack_raw",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.ack",
        ])
        .args(["-e", "tcp.options.timestamp.tsval"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark -r {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 8, "tshark line {l:?}");
            Seen {
                stream: f[0].parse().expect("stream"),
                from_client: f[1] == "12345",
                flags: u16::from_str_radix(f[2].trim_start_matches("0x"), 16).expect("flags"),
                seq_raw: f[3].parse().expect("seq_raw"),
                ack_raw: f[4].parse().expect("ack_raw"),
                seq_rel: f[5].parse().expect("relative seq"),
                ack_rel: f[6].parse().expect("relative ack"),
                tsval: f[7].split(';').next().and_then(|v| v.parse().ok()),
            }
        })
        .collect()
}

/// A segment's connection and its seq and ack relative to that connection, as
/// tshark (one pass) counts them: a client SYN with a new ISN starts a new
/// connection (the 4-tuple reused); within one, each direction counts from its
/// SYN (seq 0), or from one before its first segment when that is no SYN (the
/// TIME_WAIT ACK to the new SYN), and a SYN restarts its direction's count. A
/// segment without ACK has relative ack 0.
fn per_connection(segs: &[Segment]) -> Vec<(u32, u32, u32)> {
    let mut connection = None::<u32>;
    let mut client_isn = None;
    let mut base = [None::<u32>; 2];
    let mut out = Vec::new();
    for s in segs {
        let (me, peer) = if s.dir == Dir::ToServer {
            (0, 1)
        } else {
            (1, 0)
        };
        if s.flags.syn && !s.flags.ack && client_isn != Some(s.seq.0) {
            client_isn = Some(s.seq.0);
            connection = Some(connection.map_or(0, |c| c + 1));
            base = [None, None];
        }
        if s.flags.syn || base[me].is_none() {
            base[me] = Some(s.seq.0.wrapping_sub(u32::from(!s.flags.syn)));
        }
        let seq = s.seq.0.wrapping_sub(base[me].expect("set above"));
        let ack = match base[peer] {
            Some(b) if s.flags.ack => s.ack.0.wrapping_sub(b),
            _ => 0,
        };
        out.push((connection.expect("the capture starts with a SYN"), seq, ack));
    }
    out
}

#[test]
fn the_pcap_opens_in_tshark_with_the_segments_of_the_report() {
    if let Err(e) = synlab::probe_privilege() {
        panic!("{e}");
    }
    // Installed here when the test may (root with apt-get); else a failure
    // that names the package.
    support::ensure_installed("tshark", "tshark", || {
        support::runs("tshark", &["--version"])
    });
    let scenarios = synlab::Sources::new(None)
        .resolve("seq-below")
        .expect("the seq-below scenario");
    let case = scenarios
        .iter()
        .flat_map(|s| &s.cases)
        .find(|c| c.name == "seq-below/tcp_timestamps=0/ipv4")
        .expect("the seq-below case without timestamps");
    let run = run_case(case, &RunOptions::default()).expect("the case runs");
    assert!(run.verdict.pass, "{}", synlab::render_text(&run));

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = synlab::write_pcap(dir.path(), &run).expect("write the pcap");
    let seen = tshark(&path);

    let segs = &run.obs.segments;
    assert_eq!(
        seen.len(),
        segs.len(),
        "tshark saw {} TCP segments, the report {}: {seen:#?}",
        seen.len(),
        segs.len()
    );
    let relative = per_connection(segs);
    for (i, ((t, s), &(stream, seq_rel, ack_rel))) in
        seen.iter().zip(segs).zip(&relative).enumerate()
    {
        let flags = u16::from(s.flags.fin)
            | u16::from(s.flags.syn) << 1
            | u16::from(s.flags.rst) << 2
            | u16::from(s.flags.psh) << 3
            | u16::from(s.flags.ack) << 4;
        let want = Seen {
            stream,
            from_client: s.dir == Dir::ToServer,
            flags,
            seq_raw: s.seq.0,
            ack_raw: s.ack.0,
            seq_rel,
            ack_rel,
            tsval: s.tsval.map(|t| t.0),
        };
        assert_eq!(t, &want, "segment {i}: tshark vs the report");
    }
    // The evidence the case is about is in the file: two connections, the
    // TIME_WAIT ACK, the RST, the retried SYN.
    assert_eq!(seen.last().map(|t| t.stream), Some(1), "two connections");
    assert!(
        seen.iter().any(|t| t.flags == 0x004 && t.from_client),
        "a client RST"
    );
    assert_eq!(
        seen.iter().filter(|t| t.flags == 0x002).count(),
        3,
        "three SYNs: the first connection's, the one that hit TIME_WAIT, the retry"
    );
}

//! The pcap artifact read back by an independent decoder: run a case against the
//! kernel (the seq-below case with the RST and the retried SYN), write its pcap,
//! read it with `tshark -r`, and check that tshark sees the same segments as the
//! report: direction, flags, absolute seq/ack, tsval, and the first connection's
//! relative numbers.
//!
//! Needs root (the case makes network namespaces) and tshark (`apt-get install
//! tshark`); without tshark the test fails, unless `SYNLAB_SKIP_TSHARK=1`, which
//! skips it loudly.

mod support;

use std::process::Command;

use synlab::Dir;
use synlab::report::artifacts;
use synlab::report::timeline::Bases;
use synlab::scenario;
use synlab::{RunOptions, run_case};

// Without root, run in an unprivileged user namespace (rootless mode). The
// standard test harness starts threads before any test, so this must happen
// before main: see synlab::rootless.
support::enter_rootless_before_main!();

/// One TCP segment as tshark decodes it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    from_client: bool,
    flags: u16,
    seq_raw: u32,
    ack_raw: u32,
    seq_rel: i64,
    tsval: Option<u32>,
}

fn tshark(path: &std::path::Path) -> Vec<Seen> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=,"])
        .args(["-e", "tcp.srcport", "-e", "tcp.flags", "-e", "tcp.seq_raw"])
        .args([
            "-e",
            "tcp.ack_raw",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.options.timestamp.tsval",
        ])
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
            assert_eq!(f.len(), 6, "tshark line {l:?}");
            Seen {
                from_client: f[0] == "12345",
                flags: u16::from_str_radix(f[1].trim_start_matches("0x"), 16).expect("flags"),
                seq_raw: f[2].parse().expect("seq_raw"),
                ack_raw: f[3].parse().expect("ack_raw"),
                seq_rel: f[4].parse().expect("relative seq"),
                tsval: f[5].split(';').next().and_then(|v| v.parse().ok()),
            }
        })
        .collect()
}

#[test]
fn the_pcap_opens_in_tshark_with_the_segments_of_the_report() {
    if std::env::var_os("SYNLAB_SKIP_TSHARK").is_some() {
        eprintln!(
            "*** SKIPPED: SYNLAB_SKIP_TSHARK is set: the pcap is not checked with tshark ***"
        );
        return;
    }
    if let Err(e) = synlab::probe_privilege() {
        panic!("{e}");
    }
    // Installed here when the test may (root with apt-get); else a failure
    // that names the package (SYNLAB_SKIP_TSHARK=1 skips loudly instead).
    support::ensure_installed("tshark", "tshark", || {
        support::runs("tshark", &["--version"])
    });
    let scenarios = scenario::Sources::new(None)
        .resolve("seq-below")
        .expect("the seq-below scenario");
    let case = scenarios
        .iter()
        .flat_map(|s| &s.cases)
        .find(|c| c.name == "seq-below/tcp_timestamps=0/ipv4")
        .expect("the seq-below case without timestamps");
    let run = run_case(case, &RunOptions::default()).expect("the case runs");
    assert!(run.verdict.pass, "{}", synlab::report::text::render(&run));

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = artifacts::write_pcap(dir.path(), &run).expect("write the pcap");
    let seen = tshark(&path);

    let segs = &run.obs.segments;
    assert_eq!(
        seen.len(),
        segs.len(),
        "tshark saw {} TCP segments, the report {}: {seen:#?}",
        seen.len(),
        segs.len()
    );
    let b = Bases::from_segments(segs);
    let syn2 = run.obs.event_index.expect("a second SYN");
    for (i, (t, s)) in seen.iter().zip(segs).enumerate() {
        let flags = u16::from(s.flags.fin)
            | u16::from(s.flags.syn) << 1
            | u16::from(s.flags.rst) << 2
            | u16::from(s.flags.psh) << 3
            | u16::from(s.flags.ack) << 4;
        let want = Seen {
            from_client: s.dir == Dir::ToServer,
            flags,
            seq_raw: s.seq.0,
            ack_raw: s.ack.0,
            // tshark counts each connection from its own SYN; the report counts
            // from the first connection's ISN, so they agree before the new SYN.
            seq_rel: if i < syn2 { b.seq(s) } else { t.seq_rel },
            tsval: s.tsval.map(|t| t.0),
        };
        assert_eq!(t, &want, "segment {i}: tshark vs the report");
    }
    // The evidence the case is about is in the file: the TIME_WAIT ACK, the RST,
    // the retried SYN.
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

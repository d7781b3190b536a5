//! A [`Tracer`]: the traced tracepoints opened as perf events on every online
//! CPU, filtered in the kernel, each CPU's events writing into one ring; read
//! back as decoded records.

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::clock::RECORD_CLOCK;
use super::decode::{Decoder, Record};
use super::error::{TraceError, io_err};
use super::filter::set_filters;
use super::format::EventFormat;
use super::perf::{enable, open_tracepoint, set_output};
use super::record::{PerfRecord, parse};
use super::ring::Ring;
use super::spec::TraceSpec;
use crate::handover::hand_over;

/// Data pages of each CPU's ring (256 KiB with 4 KiB pages): some 2500
/// samples of about 100 bytes. A case makes a few dozen after the kernel
/// filter, and the rings are read at every case's start and stop.
const RING_DATA_PAGES: usize = 64;

/// The perf events of the traced tracepoints on every online CPU, and their
/// rings. Nothing to undo: the events and the mappings die with the process.
pub(super) struct Tracer {
    decoder: Decoder,
    /// One per CPU.
    rings: Vec<CpuRing>,
    /// The events, kept open only when they could not be handed to the kernel
    /// for their release ([`hand_over`]); then the exit waits for it.
    _events: Vec<OwnedFd>,
    /// The io_uring that holds the events until the kernel releases them.
    _release: Option<OwnedFd>,
    /// Records the kernel dropped or throttled so far (read from the rings).
    lost: u64,
}

/// A CPU's ring, and whether a loss found there awaits the kernel's report.
struct CpuRing {
    cpu: u32,
    ring: Ring,
    /// The ring was found full: the loss is counted; the `PERF_RECORD_LOST`
    /// that the kernel writes later is not counted again.
    loss_counted: bool,
}

/// The events of one tracepoint, one per CPU in the order of `cpus`.
struct PerCpu<'a> {
    format: &'a EventFormat,
    fds: Vec<OwnedFd>,
}

impl Tracer {
    /// Opens `sock:inet_sock_set_state`, `tcp:tcp_send_reset` and
    /// `tcp:tcp_receive_reset` on every online CPU, with the kernel filter of
    /// `filter`, and enables them.
    ///
    /// Equivalent to: `perf record -a -k mono -e sock:inet_sock_set_state
    /// --filter FILTER -e tcp:tcp_send_reset -e tcp:tcp_receive_reset --filter FILTER`
    pub(super) fn open(filter: &TraceSpec) -> Result<Tracer, TraceError> {
        let decoder = Decoder::load()?;
        let cpus = online_cpus()?;
        let per_event = decoder
            .formats()
            .into_iter()
            .map(|format| {
                let id = format.id.map(u64::from).unwrap_or_default();
                let fds = cpus
                    .iter()
                    .map(|&cpu| {
                        open_tracepoint(id, cpu, RECORD_CLOCK)
                            .map_err(|e| open_error(&format.name, cpu, e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(PerCpu { format, fds })
            })
            .collect::<Result<Vec<_>, TraceError>>()?;

        // Handed to the kernel at once, the events cost no wait when dropped,
        // also when a later step fails.
        let release = hand_over(per_event.iter().flat_map(|e| &e.fds).map(AsFd::as_fd)).ok();

        for e in &per_event {
            let failed = io_err(format!("set the filter of {}", e.format.name));
            set_filters(&e.fds, e.format, filter).map_err(failed)?;
        }

        // Each CPU's ring is its inet_sock_set_state event's; the others of
        // that CPU write into it.
        let mut rings = Vec::with_capacity(cpus.len());
        for (i, &cpu) in cpus.iter().enumerate() {
            let owner = per_event[0].fds[i].as_fd();
            let ring = Ring::map(owner, RING_DATA_PAGES)
                .map_err(io_err(format!("map the perf ring of CPU {cpu}")))?;
            for other in &per_event[1..] {
                set_output(other.fds[i].as_fd(), owner).map_err(io_err(format!(
                    "send {} of CPU {cpu} to its ring",
                    other.format.name
                )))?;
            }
            rings.push(CpuRing {
                cpu,
                ring,
                loss_counted: false,
            });
        }
        let events: Vec<OwnedFd> = per_event.into_iter().flat_map(|e| e.fds).collect();
        for event in &events {
            enable(event.as_fd()).map_err(io_err("enable a perf event"))?;
        }
        // Ours are closed now when the kernel holds the events.
        let events = if release.is_some() {
            Vec::new()
        } else {
            events
        };
        Ok(Tracer {
            decoder,
            rings,
            _events: events,
            _release: release,
            lost: 0,
        })
    }

    /// Reads every CPU's ring, handing each decoded record to `sink`; counts
    /// what the kernel lost.
    ///
    /// A loss is counted when it is found, as one event: a full ring, or a
    /// throttle record. The kernel's own count comes in a `PERF_RECORD_LOST`
    /// only with the next record after the ring was read, maybe while another
    /// case runs; counting it then would charge that case with a loss it did
    /// not have, so a lost record is counted only for a loss not yet found.
    pub(super) fn drain(&mut self, mut sink: impl FnMut(Record)) -> Result<(), TraceError> {
        let decoder = &self.decoder;
        let lost = &mut self.lost;
        let mut bad = None;
        for r in &mut self.rings {
            let (cpu, loss_counted) = (r.cpu, &mut r.loss_counted);
            let full = r
                .ring
                .read(|bytes| match parse(bytes) {
                    Ok(PerfRecord::Sample { tid, time, raw }) => {
                        if let Some(record) = decoder.decode(time, tid, raw) {
                            sink(record);
                        }
                    }
                    Ok(PerfRecord::Lost(n)) => {
                        if !std::mem::take(loss_counted) {
                            *lost += n;
                        }
                    }
                    Ok(PerfRecord::Throttled) => *lost += 1,
                    Ok(PerfRecord::Other) => {}
                    Err(what) => {
                        bad.get_or_insert((cpu, what));
                    }
                })
                .map_err(|what| TraceError::Ring { cpu, what })?;
            if full {
                *lost += 1;
                r.loss_counted = true;
            }
        }
        match bad {
            Some((cpu, what)) => Err(TraceError::Ring { cpu, what }),
            None => Ok(()),
        }
    }

    /// Records the kernel dropped (ring full) or throttled, in what was read.
    pub(super) fn lost_events(&self) -> u64 {
        self.lost
    }
}

fn open_error(event: &str, cpu: u32, e: io::Error) -> TraceError {
    let what = format!("perf_event_open of {event} on CPU {cpu}");
    let hint = match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => "needs root or CAP_PERFMON; lockdown mode refuses it",
        Some(libc::ENOSYS | libc::ENOENT | libc::ENODEV | libc::EINVAL) => {
            "a kernel without CONFIG_PERF_EVENTS, or older than 4.1 without use_clockid"
        }
        _ => return io_err(what)(e),
    };
    TraceError::Unavailable {
        why: format!("{what}: {e} ({hint})"),
    }
}

/// The online CPUs, from `/sys/devices/system/cpu/online` (`0-3,6`).
pub(super) fn online_cpus() -> Result<Vec<u32>, TraceError> {
    let path = "/sys/devices/system/cpu/online";
    let text = fs::read_to_string(path).map_err(io_err(format!("read {path}")))?;
    parse_cpu_list(&text).ok_or_else(|| TraceError::Format {
        path: path.into(),
        what: format!("not a CPU list: {text:?}"),
    })
}

fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<u32>().ok()?..=b.parse::<u32>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2-3,6"), Some(vec![0, 2, 3, 6]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("x"), None);
    }
}

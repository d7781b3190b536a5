//! A [`Tracer`]: an instance set up with its buffer, clock, filters and events,
//! and read back page by page from every CPU.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::clock::{clock_ns, set_clock};
use super::decode::{Decoder, Record};
use super::error::{TraceError, io_err};
use super::filter::set_filter;
use super::instance::Instance;
use super::log::TraceInfo;
use super::ring::parse_page;
use super::spec::TraceSpec;
use super::tracefs::{MOUNTED_BY_US, read_tracefs};

/// Per-CPU ring buffer of our instance. mkdir allocates the kernel default
/// (1.4 MB per CPU here); a case makes a few dozen 72-byte events after the
/// kernel filter, so this is plenty, and 16 parallel cases on 64 CPUs stay small.
const BUFFER_KB_PER_CPU: u32 = 128;

/// An instance set up and enabled: what [`StateTrace`] and the shared hub
/// behind [`SharedTrace`] own.
///
/// [`StateTrace`]: super::StateTrace
/// [`SharedTrace`]: super::SharedTrace
pub(super) struct Tracer {
    pub(super) instance: Instance,
    pub(super) info: TraceInfo,
    decoder: Decoder,
    page_size: usize,
    cpus: Vec<PathBuf>,
    /// The ring buffer's clock (CLOCK_TAI or CLOCK_MONOTONIC).
    clock: libc::clockid_t,
}

impl Tracer {
    /// Sets up a fresh `instance` with the kernel filter of `filter` and
    /// enables the events.
    pub(super) fn setup(instance: Instance, filter: &TraceSpec) -> Result<Tracer, TraceError> {
        let state_dir = instance.path.join("events/sock/inet_sock_set_state");
        if !state_dir.join("format").exists() {
            return Err(TraceError::Unavailable {
                why: "this kernel has no sock:inet_sock_set_state trace event (Linux 4.16+)".into(),
            });
        }
        let decoder = Decoder::load(&instance.path)?;

        instance.write("buffer_size_kb", &BUFFER_KB_PER_CPU.to_string())?;
        // Keep the beginning of the story when the buffer fills; losses are counted.
        instance.write("options/overwrite", "0")?;
        let (clock, realtime_offset_ns) = set_clock(&instance)?;

        let kernel_filter = set_filter(&instance, "sock/inet_sock_set_state", filter, true)?;
        instance.write("events/sock/inet_sock_set_state/enable", "1")?;
        let mut resets = decoder.send_reset.is_some() && decoder.receive_reset.is_some();
        if resets {
            // tcp_send_reset's addresses are sockaddrs (no filterable field):
            // unfiltered, kept by the userspace check.
            set_filter(&instance, "tcp/tcp_receive_reset", filter, false)?;
            resets = instance
                .write("events/tcp/tcp_send_reset/enable", "1")
                .is_ok()
                && instance
                    .write("events/tcp/tcp_receive_reset/enable", "1")
                    .is_ok();
        }
        instance.write("tracing_on", "1")?;

        let page_size = page_size(&instance.path);
        let cpus = cpu_dirs(&instance.path)?;
        let info = TraceInfo {
            instance: instance.path.clone(),
            clock: clock.to_string(),
            realtime_offset_ns,
            kernel_filter,
            resets,
            mounted_tracefs: MOUNTED_BY_US.load(Ordering::Relaxed),
        };
        Ok(Tracer {
            instance,
            info,
            decoder,
            page_size,
            cpus,
            clock: if clock == "tai" {
                libc::CLOCK_TAI
            } else {
                libc::CLOCK_MONOTONIC
            },
        })
    }

    /// The ring buffer's clock now, in its own nanoseconds (what `Record::ts` holds).
    pub(super) fn now(&self) -> u64 {
        u64::try_from(clock_ns(self.clock)).unwrap_or(0)
    }

    /// Reads every CPU's `trace_pipe_raw` until it has no more pages, handing
    /// each decoded record to `sink`; returns whether a page said that events
    /// were missed.
    pub(super) fn drain(&self, mut sink: impl FnMut(Record)) -> Result<bool, TraceError> {
        let mut page = vec![0u8; self.page_size];
        let mut missed = false;
        for dir in &self.cpus {
            let path = dir.join("trace_pipe_raw");
            let mut file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .map_err(io_err(format!("open {}", path.display())))?;
            loop {
                let n = match file.read(&mut page) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
                };
                let parsed = parse_page(&page[..n], &self.decoder.page).map_err(|what| {
                    TraceError::Page {
                        path: path.clone(),
                        what,
                    }
                })?;
                missed |= parsed.missed;
                for raw in parsed.records {
                    if let Some(record) = self.decoder.decode(raw.ts, raw.data) {
                        sink(record);
                    }
                }
            }
        }
        Ok(missed)
    }

    /// Events the kernel could not store (per_cpu/cpuN/stats).
    pub(super) fn lost_events(&self) -> u64 {
        self.cpus
            .iter()
            .filter_map(|dir| read_tracefs(&dir.join("stats")).ok())
            .map(|text| lost_in_stats(&text))
            .sum()
    }
}

/// The ring-buffer sub-buffer size: one `read` of `trace_pipe_raw` returns one.
fn page_size(instance: &Path) -> usize {
    let kb = read_tracefs(&instance.join("buffer_subbuf_size_kb"))
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    // SAFETY: sysconf has no preconditions.
    let sys = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    kb.map_or(sys, |kb| (kb * 1024).max(sys))
}

fn cpu_dirs(instance: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let dir = instance.join("per_cpu");
    let mut cpus: Vec<(usize, PathBuf)> = fs::read_dir(&dir)
        .map_err(io_err(format!("list {}", dir.display())))?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    cpus.sort();
    Ok(cpus.into_iter().map(|(_, p)| p).collect())
}

/// `overrun` + `dropped events` of a per_cpu `stats` file.
fn lost_in_stats(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| matches!(k.trim(), "overrun" | "dropped events"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_give_overruns_and_dropped_events() {
        let stats = "entries: 0\noverrun: 2\ncommit overrun: 0\nbytes: 0\n\
                     oldest event ts: 1795718368.199833\ndropped events: 3\nread events: 16\n";
        assert_eq!(lost_in_stats(stats), 5);
    }
}

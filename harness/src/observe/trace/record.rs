//! The perf records a trace ring holds, parsed: a tracepoint sample (thread,
//! time, raw tracepoint record) or a count of records the kernel could not
//! store (`enum perf_event_type` in include/uapi/linux/perf_event.h).

/// `enum perf_event_type` values this module reads.
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_THROTTLE: u32 = 5;
const PERF_RECORD_SAMPLE: u32 = 9;

/// One perf record.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PerfRecord<'a> {
    /// A tracepoint hit: the thread running (in the opener's pid namespace),
    /// the time on the events' clock, and the tracepoint's raw record (its
    /// `format` file gives the offsets).
    Sample { tid: i32, time: u64, raw: &'a [u8] },
    /// The kernel dropped this many records: the ring was full.
    Lost(u64),
    /// The kernel throttled the events (too many per tick): an unknown number
    /// of them were never written.
    Throttled,
    /// Any other record type (none is asked for).
    Other,
}

/// Parses one record (header included) of events opened by
/// `perf::open_tracepoint` (samples of `PERF_SAMPLE_TID | TIME | RAW`).
///
/// Layouts: `PERF_RECORD_SAMPLE` is `{ u32 pid, tid; u64 time; u32 size;
/// char data[size]; }`, `PERF_RECORD_LOST` is `{ u64 id; u64 lost; }`.
pub(super) fn parse(record: &[u8]) -> Result<PerfRecord<'_>, String> {
    let kind = u32_at(record, 0).ok_or("record shorter than its header")?;
    let body = record.get(8..).ok_or("record shorter than its header")?;
    let short = |what: &str| format!("{what} record of {} bytes", record.len());
    match kind {
        PERF_RECORD_SAMPLE => {
            let tid = u32_at(body, 4).ok_or_else(|| short("sample"))?;
            let time = u64_at(body, 8).ok_or_else(|| short("sample"))?;
            let size = u32_at(body, 16).ok_or_else(|| short("sample"))? as usize;
            let raw = body.get(20..20 + size).ok_or_else(|| short("sample"))?;
            Ok(PerfRecord::Sample {
                tid: tid as i32,
                time,
                raw,
            })
        }
        PERF_RECORD_LOST => Ok(PerfRecord::Lost(
            u64_at(body, 8).ok_or_else(|| short("lost"))?,
        )),
        PERF_RECORD_THROTTLE => Ok(PerfRecord::Throttled),
        _ => Ok(PerfRecord::Other),
    }
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut r = kind.to_ne_bytes().to_vec();
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&((8 + body.len()) as u16).to_ne_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn samples_and_losses_parse_and_short_records_do_not() {
        let mut body = Vec::new();
        body.extend_from_slice(&7u32.to_ne_bytes()); // pid
        body.extend_from_slice(&9u32.to_ne_bytes()); // tid
        body.extend_from_slice(&123u64.to_ne_bytes()); // time
        body.extend_from_slice(&4u32.to_ne_bytes()); // raw size
        body.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(
            parse(&record(PERF_RECORD_SAMPLE, &body)),
            Ok(PerfRecord::Sample {
                tid: 9,
                time: 123,
                raw: &[1, 2, 3, 4]
            })
        );
        let lost = [5u64.to_ne_bytes(), 17u64.to_ne_bytes()].concat();
        assert_eq!(
            parse(&record(PERF_RECORD_LOST, &lost)),
            Ok(PerfRecord::Lost(17))
        );
        assert_eq!(
            parse(&record(PERF_RECORD_THROTTLE, &lost)),
            Ok(PerfRecord::Throttled)
        );
        assert!(parse(&record(PERF_RECORD_SAMPLE, &body[..22])).is_err());
        assert!(parse(&[0, 0]).is_err());
    }
}

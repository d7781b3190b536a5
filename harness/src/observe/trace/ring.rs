//! Ring-buffer pages: what one read of `per_cpu/cpuN/trace_pipe_raw` returns,
//! decoded into time-stamped raw events (`kernel/trace/ring_buffer.c`).

use super::format::{EventFormat, Field};

/// Ring-buffer event types (`include/linux/ring_buffer.h`); 1..=28 are data
/// events whose length is `type_len * 4`.
const RB_TYPE_PADDING: u32 = 29;
const RB_TYPE_TIME_EXTEND: u32 = 30;
const RB_TYPE_TIME_STAMP: u32 = 31;
/// Bits of a time delta in the event header; extends carry the upper bits.
const TS_SHIFT: u32 = 27;
/// The absolute time stamp keeps 59 bits; the top 5 come from the page.
const TS_MSB: u64 = 0xf8 << 56;
/// Flags in a page's `commit` word (`kernel/trace/ring_buffer.c`).
const RB_MISSED_EVENTS: u64 = 1 << 31;
const RB_MISSED_MASK: u64 = 3 << 30;

/// Where a ring-buffer page keeps its time stamp, commit word and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PageLayout {
    pub(super) timestamp: Field,
    pub(super) commit: Field,
    pub(super) data: usize,
}

impl PageLayout {
    pub(super) fn from_format(f: &EventFormat) -> Result<PageLayout, String> {
        let get = |n: &str| f.field(n).ok_or_else(|| format!("header_page has no {n}"));
        Ok(PageLayout {
            timestamp: get("timestamp")?,
            commit: get("commit")?,
            data: get("data")?.offset,
        })
    }
}

/// One data event of a page: its ring-buffer time and its bytes (starting
/// with `common_type`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RawEvent<'a> {
    pub(super) ts: u64,
    pub(super) data: &'a [u8],
}

#[derive(Debug)]
pub(super) struct ParsedPage<'a> {
    pub(super) records: Vec<RawEvent<'a>>,
    /// The kernel lost events before this page (buffer full).
    pub(super) missed: bool,
}

/// Decodes one page read from `trace_pipe_raw` (format: `events/header_page`,
/// `events/header_event`; reader: `rb_update_read_stamp()` in
/// kernel/trace/ring_buffer.c).
pub(super) fn parse_page<'a>(
    page: &'a [u8],
    layout: &PageLayout,
) -> Result<ParsedPage<'a>, String> {
    let mut ts = read_uint(page, layout.timestamp).ok_or("page shorter than its header")?;
    let commit = read_uint(page, layout.commit).ok_or("page shorter than its header")?;
    let missed = commit & RB_MISSED_EVENTS != 0;
    let len = usize::try_from(commit & !RB_MISSED_MASK & 0xffff_ffff).map_err(|e| e.to_string())?;
    let end = layout.data + len;
    if end > page.len() {
        return Err(format!(
            "commit {len} runs past the page ({} bytes)",
            page.len()
        ));
    }
    let mut records = Vec::new();
    let mut off = layout.data;
    while off + 4 <= end {
        let word = u32_at(page, off).ok_or("truncated event header")?;
        let type_len = word & 0x1f;
        let delta = u64::from(word >> 5);
        let array0 = || u32_at(page, off + 4).ok_or(format!("truncated event at {off}"));
        match type_len {
            0 => {
                // Length in array[0] (it counts itself), data from array[1].
                let total = array0()? as usize;
                if total < 4 {
                    return Err(format!("event at {off} has length {total}"));
                }
                ts += delta;
                let data = page
                    .get(off + 8..off + 4 + total)
                    .ok_or(format!("event at {off} runs past the page"))?;
                records.push(RawEvent { ts, data });
                off += 4 + total;
            }
            1..=28 => {
                ts += delta;
                let n = type_len as usize * 4;
                let data = page
                    .get(off + 4..off + 4 + n)
                    .ok_or(format!("event at {off} runs past the page"))?;
                records.push(RawEvent { ts, data });
                off += 4 + n;
            }
            RB_TYPE_PADDING => {
                if delta == 0 {
                    break; // the rest of the page is empty
                }
                // A discarded event: skip it; its delta does not count.
                off += 4 + array0()? as usize;
            }
            RB_TYPE_TIME_EXTEND => {
                ts += (u64::from(array0()?) << TS_SHIFT) + delta;
                off += 8;
            }
            RB_TYPE_TIME_STAMP => {
                let mut abs = (u64::from(array0()?) << TS_SHIFT) + delta;
                // rb_fix_abs_ts(): the top 5 bits come from the previous stamp.
                if ts & TS_MSB != 0 {
                    abs |= ts & TS_MSB;
                    if abs < ts {
                        abs += 1 << 59;
                    }
                }
                ts = abs;
                off += 8;
            }
            _ => unreachable!("type_len has 5 bits"),
        }
    }
    Ok(ParsedPage { records, missed })
}

pub(super) fn read_uint(buf: &[u8], f: Field) -> Option<u64> {
    let b = buf.get(f.offset..f.offset + f.size)?;
    Some(match f.size {
        1 => u64::from(b[0]),
        2 => u64::from(u16::from_ne_bytes(b.try_into().ok()?)),
        4 => u64::from(u32::from_ne_bytes(b.try_into().ok()?)),
        8 => u64::from_ne_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(off..off + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::fixtures::{HEADER_PAGE, decoder, page_bytes};
    use crate::observe::trace::format::parse_format;

    #[test]
    fn real_page_keeps_nanoseconds_and_orders_the_events() {
        let bytes = page_bytes();
        let page = parse_page(&bytes, &decoder().page).unwrap();
        assert_eq!(page.records.len(), 16);
        // The page stamp is the first event's time (CLOCK_TAI, ns); the text
        // trace would print 1795719070.643791.
        assert_eq!(page.records[0].ts, 1_795_719_070_643_791_302);
        assert_eq!(page.records[15].ts, 1_795_719_070_749_971_368);
        assert!(page.records.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    /// Builds a page: 16-byte header (time stamp, commit) and `body`.
    fn page(ts: u64, commit_flags: u64, body: &[u32]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&ts.to_ne_bytes());
        p.extend_from_slice(&((body.len() as u64 * 4) | commit_flags).to_ne_bytes());
        for w in body {
            p.extend_from_slice(&w.to_ne_bytes());
        }
        p.resize(4096, 0);
        p
    }

    fn header(type_len: u32, delta: u32) -> u32 {
        type_len | (delta << 5)
    }

    #[test]
    fn page_decoding_follows_extends_absolute_stamps_and_discards() {
        let layout = PageLayout {
            timestamp: Field { offset: 0, size: 8 },
            commit: Field { offset: 8, size: 8 },
            data: 16,
        };
        let base: u64 = 1_795_719_070_000_000_000; // has the top 5 bits set
        let abs = base + (1 << 28) + 1000;
        #[rustfmt::skip]
        let body = [
            header(1, 5), 0xaaaa,                 // data, 4 bytes, +5
            header(RB_TYPE_TIME_EXTEND, 7), 2,    // +(2 << 27) + 7
            header(2, 0), 0xbbbb, 0xcccc,         // data, 8 bytes
            header(RB_TYPE_PADDING, 1), 12, 0, 0, // a discarded event (16 bytes): skipped
            header(0, 3), 12, 0xdddd, 0xeeee,     // long form: length 12 counts itself
            // absolute: the low 59 bits of `abs`; the top 5 come from the page
            header(RB_TYPE_TIME_STAMP, (abs & ((1 << 27) - 1)) as u32),
            ((abs & !TS_MSB) >> 27) as u32,
            header(1, 1), 0xffff,
            header(RB_TYPE_PADDING, 0),           // end of page
            header(1, 1), 0x1111,                 // never read
        ];
        let p = page(base, RB_MISSED_EVENTS, &body);
        let parsed = parse_page(&p, &layout).unwrap();
        assert!(parsed.missed);
        let got: Vec<(u64, Vec<u8>)> = parsed
            .records
            .iter()
            .map(|r| (r.ts - base, r.data.to_vec()))
            .collect();
        let after_extend = 5 + (2 << 27) + 7;
        assert_eq!(
            got,
            vec![
                (5, 0xaaaa_u32.to_ne_bytes().to_vec()),
                (
                    after_extend,
                    [0xbbbb_u32.to_ne_bytes(), 0xcccc_u32.to_ne_bytes()].concat()
                ),
                (
                    after_extend + 3,
                    [0xdddd_u32.to_ne_bytes(), 0xeeee_u32.to_ne_bytes()].concat()
                ),
                ((1 << 28) + 1001, 0xffff_u32.to_ne_bytes().to_vec()),
            ]
        );
    }

    #[test]
    fn page_with_a_bad_commit_is_an_error() {
        let layout = PageLayout::from_format(&parse_format(HEADER_PAGE).unwrap()).unwrap();
        let mut p = page(0, 0, &[header(1, 0), 0]);
        p[8..16].copy_from_slice(&9000u64.to_ne_bytes());
        assert!(parse_page(&p, &layout).is_err());
        assert!(parse_page(&p[..10], &layout).is_err());
    }
}

//! The ring buffer's clock: `tai` (exact) or `mono` (offset measured), and what
//! turns its time into CLOCK_REALTIME.

use super::error::{TraceError, io_err};
use super::instance::Instance;
use super::tracefs::read_tracefs;

/// Sets the instance's clock to `tai` (exact) or `mono` (offset measured), and
/// returns its name and the offset to CLOCK_REALTIME.
///
/// Equivalent to: `echo tai > trace_clock`
pub(super) fn set_clock(instance: &Instance) -> Result<(&'static str, i64), TraceError> {
    let path = instance.path.join("trace_clock");
    let offered = read_tracefs(&path).map_err(io_err(format!("read {}", path.display())))?;
    let has = |name: &str| {
        offered
            .split_whitespace()
            .any(|c| c.trim_matches(|ch| ch == '[' || ch == ']') == name)
    };
    if has("tai") {
        instance.write("trace_clock", "tai")?;
        // CLOCK_TAI - CLOCK_REALTIME is the kernel's TAI offset, a whole number
        // of seconds; the two reads are microseconds apart, so rounding is exact.
        let diff = clock_ns(libc::CLOCK_TAI) - clock_ns(libc::CLOCK_REALTIME);
        let secs = (diff + 500_000_000).div_euclid(1_000_000_000);
        return Ok(("tai", i64::try_from(-secs * 1_000_000_000).unwrap_or(0)));
    }
    if has("mono") {
        instance.write("trace_clock", "mono")?;
        let before = clock_ns(libc::CLOCK_REALTIME);
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let after = clock_ns(libc::CLOCK_REALTIME);
        let offset = (before + after) / 2 - mono;
        return Ok(("mono", i64::try_from(offset).unwrap_or(0)));
    }
    Err(TraceError::Unavailable {
        why: format!(
            "the kernel offers neither the tai nor the mono trace clock: {}",
            offered.trim()
        ),
    })
}

pub(super) fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; the clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

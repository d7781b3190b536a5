//! The clock of the perf records, CLOCK_MONOTONIC, and the offset that turns
//! it into CLOCK_REALTIME, the clock of the capture's SO_TIMESTAMPNS stamps.
//!
//! perf refuses CLOCK_REALTIME and CLOCK_TAI for tracepoint events (EINVAL,
//! measured on 6.18): `perf_event_set_clock()` takes only the NMI-safe
//! CLOCK_MONOTONIC and CLOCK_MONOTONIC_RAW for a PMU without
//! `PERF_PMU_CAP_NO_NMI`, and the tracepoint PMU has none.

/// The clock the perf events stamp their records with (`attr.clockid`).
pub(super) const RECORD_CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;

/// The record clock now, in its nanoseconds (what a record's time holds).
pub(super) fn record_clock_now() -> u64 {
    u64::try_from(clock_ns(RECORD_CLOCK)).unwrap_or(0)
}

/// CLOCK_REALTIME - CLOCK_MONOTONIC now, from a MONOTONIC read between two
/// REALTIME reads (they are well under a microsecond apart). Measured when a
/// case starts its trace, it also holds for that case's events, unless the wall
/// clock is stepped meanwhile.
pub(super) fn realtime_offset_ns() -> i64 {
    let before = clock_ns(libc::CLOCK_REALTIME);
    let mono = clock_ns(RECORD_CLOCK);
    let after = clock_ns(libc::CLOCK_REALTIME);
    i64::try_from((before + after) / 2 - mono).unwrap_or(0)
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

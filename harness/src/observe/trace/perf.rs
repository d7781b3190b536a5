//! The `perf_event_open(2)` calls of the trace, and nothing else: open one
//! tracepoint on one CPU for every task, and the ioctls that filter it, send
//! its records into another event's ring, and enable it
//! (`include/uapi/linux/perf_event.h`).

use std::ffi::{CString, c_void};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::ioctl::{IntegerSetter, NoArg, ioctl, opcode};

/// `PERF_TYPE_TRACEPOINT`: `config` is the event's tracefs id.
const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_ATTR_SIZE_VER3`: every field up to `clockid` (Linux 4.1 put it in
/// the padding before `sample_regs_intr`).
const PERF_ATTR_SIZE_VER3: u32 = 96;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// `perf_event_sample_format` bits: what each sample carries, in this order
/// (`perf_output_sample()` in kernel/events/core.c).
const SAMPLE_TID: u64 = 1 << 1;
const SAMPLE_TIME: u64 = 1 << 2;
const SAMPLE_RAW: u64 = 1 << 10;
/// What every sample carries; `record::parse` reads exactly this.
const SAMPLE_TYPE: u64 = SAMPLE_TID | SAMPLE_TIME | SAMPLE_RAW;

/// Bits of the attribute's flag word (the C bitfield after `read_format`).
const ATTR_DISABLED: u64 = 1 << 0;
const ATTR_USE_CLOCKID: u64 = 1 << 25;

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER3`; unions named by the
/// member used for tracepoints.
#[repr(C)]
#[derive(Debug, Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == PERF_ATTR_SIZE_VER3 as usize);

/// Opens tracepoint `id` on `cpu` for every task, disabled: every event becomes
/// a sample with the thread, the time on `clock`, and the raw tracepoint record.
///
/// Equivalent to: the open of `perf record -e SYS:NAME -C CPU -k CLOCK`
pub(super) fn open_tracepoint(id: u64, cpu: u32, clock: libc::clockid_t) -> io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        kind: PERF_TYPE_TRACEPOINT,
        size: PERF_ATTR_SIZE_VER3,
        config: id,
        sample_period: 1,
        sample_type: SAMPLE_TYPE,
        flags: ATTR_DISABLED | ATTR_USE_CLOCKID,
        clockid: clock,
        ..PerfEventAttr::default()
    };
    // SAFETY: `attr` is a perf_event_attr of the size it states and outlives the
    // call; pid -1 with a cpu, no group and the flags are plain values.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            -1 as libc::c_long,
            libc::c_long::from(cpu),
            -1 as libc::c_long,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets the event's kernel filter (ftrace filter syntax, as in
/// `events/SYS/NAME/filter`); EINVAL when the kernel refuses it.
///
/// Equivalent to: `ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter)`
pub(super) fn set_filter(event: BorrowedFd<'_>, filter: &str) -> io::Result<()> {
    let filter = CString::new(filter).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: PERF_EVENT_IOC_SET_FILTER reads a NUL-terminated string, which
    // lives until the call returns; the kernel copies it.
    let request = unsafe {
        IntegerSetter::<{ opcode::write::<*const libc::c_char>(b'$', 6) }>::new_pointer(
            filter.as_ptr().cast_mut().cast::<c_void>(),
        )
    };
    // SAFETY: the request matches the ioctl's argument (see above).
    unsafe { ioctl(event, request) }.map_err(io::Error::from)
}

/// Sends the event's records into the ring buffer mapped for `target` (same
/// CPU, same clock).
///
/// Equivalent to: `ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, target)`
pub(super) fn set_output(event: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    let target = usize::try_from(target.as_raw_fd()).map_err(|_| io::Error::other("bad fd"))?;
    // SAFETY: PERF_EVENT_IOC_SET_OUTPUT takes a descriptor number by value.
    let request = unsafe { IntegerSetter::<{ opcode::none(b'$', 5) }>::new_usize(target) };
    // SAFETY: the request matches the ioctl's argument (see above).
    unsafe { ioctl(event, request) }.map_err(io::Error::from)
}

/// Starts the event.
///
/// Equivalent to: `ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)`
pub(super) fn enable(event: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: PERF_EVENT_IOC_ENABLE takes no argument.
    let request = unsafe { NoArg::<{ opcode::none(b'$', 0) }>::new() };
    // SAFETY: the request matches the ioctl (no argument).
    unsafe { ioctl(event, request) }.map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ioctl_numbers_are_the_kernels() {
        // From <linux/perf_event.h> on x86_64.
        assert_eq!(opcode::none(b'$', 0), 0x2400);
        assert_eq!(opcode::none(b'$', 5), 0x2405);
        assert_eq!(
            opcode::write::<*const libc::c_char>(b'$', 6) as u64,
            0x4008_2406
        );
        assert_eq!(std::mem::offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(std::mem::offset_of!(PerfEventAttr, clockid), 92);
    }
}

//! One CPU's perf ring buffer mapped into this process: hands out the records
//! the kernel wrote since the last read, in order, and gives their space back
//! (the `data_head`/`data_tail` protocol of `struct perf_event_mmap_page`).

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// Offsets in `struct perf_event_mmap_page` (the first page of the mapping).
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
/// `struct perf_event_header`: u32 type, u16 misc, u16 size.
const HEADER_LEN: usize = 8;
/// More than any record of the traced events (a sample is 104 to 120 bytes).
/// A ring with less free space than this when read may have refused one.
const FULL_MARGIN: u64 = 256;

/// A mapped ring: the control page and `2^n` data pages. Mapped writable, so
/// the kernel never overwrites what was not read: when it is full, new records
/// are dropped and counted in a `PERF_RECORD_LOST`.
pub(super) struct Ring {
    base: NonNull<u8>,
    len: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping belongs to the Ring alone and is unmapped once, by its
// Drop; moving the Ring to another thread moves that ownership.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps the ring of `event` with `data_pages` data pages (a power of two).
    ///
    /// Equivalent to: `mmap(NULL, (1 + data_pages) * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`
    pub(super) fn map(event: BorrowedFd<'_>, data_pages: usize) -> io::Result<Ring> {
        let page = rustix::param::page_size();
        let len = (1 + data_pages) * page;
        // SAFETY: a fresh shared mapping of a perf event at an address the
        // kernel picks; it overlaps nothing, and Drop unmaps it.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                event,
                0,
            )
        }?;
        let base =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave NULL"))?;
        // The data follows the control page (`perf_mmap()` refuses a data
        // size that is not 2^n pages).
        Ok(Ring {
            base,
            len,
            data_offset: page,
            data_size: len - page,
        })
    }

    /// Calls `each` with every record (header included) that the kernel wrote
    /// since the last read, then gives their space back to the kernel. Stops
    /// with an error at a record whose header makes no sense.
    ///
    /// Returns whether the ring was full: then the kernel may have dropped
    /// records since the last read. It says how many only in a
    /// `PERF_RECORD_LOST` that it writes once there is room again, that is
    /// after this read, with the next record.
    pub(super) fn read(&mut self, mut each: impl FnMut(&[u8])) -> Result<bool, String> {
        // The kernel publishes data_head after writing the records before it.
        let head = self.atomic(DATA_HEAD).load(Ordering::Acquire);
        let mut tail = self.atomic(DATA_TAIL).load(Ordering::Relaxed);
        let full = (self.data_size as u64).saturating_sub(head.wrapping_sub(tail)) < FULL_MARGIN;
        let mut record = Vec::new();
        let mut result = Ok(());
        while tail < head {
            let mut header = [0u8; HEADER_LEN];
            self.copy_out(tail, &mut header);
            let size = usize::from(u16::from_ne_bytes([header[6], header[7]]));
            if size < HEADER_LEN || size > self.data_size || (head - tail) < size as u64 {
                result = Err(format!(
                    "record of {size} bytes at {tail} with the head at {head}"
                ));
                tail = head; // give it all back: nothing after it can be trusted
                break;
            }
            record.resize(size, 0);
            self.copy_out(tail, &mut record);
            each(&record);
            tail += size as u64;
        }
        // Our reads of the records are done before the kernel may reuse them.
        self.atomic(DATA_TAIL).store(tail, Ordering::Release);
        result.map(|()| full)
    }

    /// Copies `out.len()` bytes from ring position `pos` (wrapping at the end).
    fn copy_out(&self, pos: u64, out: &mut [u8]) {
        let mask = self.data_size as u64 - 1;
        let start = (pos & mask) as usize;
        let first = out.len().min(self.data_size - start);
        // SAFETY: both ranges lie inside the data area of the mapping (start <
        // data_size, first <= data_size - start, the rest wraps to its start
        // and out.len() <= data_size), which the kernel does not write between
        // data_tail and data_head; `out` is our own memory.
        unsafe {
            let data = self.base.as_ptr().add(self.data_offset);
            std::ptr::copy_nonoverlapping(data.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(data, out.as_mut_ptr().add(first), out.len() - first);
        }
    }

    fn atomic(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: the control page is mapped for as long as `self` lives; the
        // field is 8-byte aligned (page start + multiple of 8), and the kernel
        // and we access it only atomically.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which nothing
        // references any more.
        let _ = unsafe { munmap(self.base.as_ptr().cast(), self.len) };
    }
}

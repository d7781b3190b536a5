//! Closing an AF_PACKET socket waits for an RCU grace period in the kernel
//! (`packet_release()` calls `synchronize_net()`): 5-15 ms here, for each of
//! the capture and the raw peer, on the thread that closes it. Nothing waits for
//! that close, so it is done on a short-lived thread of its own: several closes
//! then share one grace period, and no case waits for them. The socket keeps its
//! namespace alive until then; a process that exits first has the kernel close
//! it, so nothing outlives the process either way.

use std::mem::ManuallyDrop;
use std::ops::Deref;

/// Drop `value` on a new background thread (on this one if no thread can be
/// started).
pub fn drop_later<T: Send + 'static>(value: T) {
    // When no thread can be started, `spawn` drops the closure, and the value
    // with it, right here.
    let _ = std::thread::Builder::new()
        .name("synlab-close".into())
        .spawn(move || drop(value));
}

/// Holds a value and hands it to [`drop_later`] when dropped.
pub struct DropLater<T: Send + 'static>(ManuallyDrop<T>);

impl<T: Send + 'static> DropLater<T> {
    pub fn new(value: T) -> DropLater<T> {
        DropLater(ManuallyDrop::new(value))
    }
}

impl<T: Send + 'static> Deref for DropLater<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + 'static> Drop for DropLater<T> {
    fn drop(&mut self) {
        // SAFETY: taken exactly once, here; `self.0` is never used again.
        let value = unsafe { ManuallyDrop::take(&mut self.0) };
        drop_later(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread::ThreadId;

    /// Reports the thread it is dropped on.
    struct Tell(mpsc::Sender<ThreadId>);

    impl Drop for Tell {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }

    #[test]
    fn values_are_dropped_on_another_thread() {
        let here = std::thread::current().id();
        let (tx, rx) = mpsc::channel();
        drop_later(Tell(tx.clone()));
        let guard = DropLater::new(Tell(tx));
        let _: &Tell = &guard;
        drop(guard);
        for _ in 0..2 {
            let there = rx
                .recv_timeout(std::time::Duration::from_secs(5))
                .expect("dropped");
            assert_ne!(there, here);
        }
    }
}

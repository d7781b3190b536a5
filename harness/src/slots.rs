//! How many cases work at once (`-j`). A case holds a slot while it works and
//! gives it back while it only waits for time to pass (a reconnect's
//! `after_ms`), so long waits of many cases overlap instead of filling every
//! slot: a suite with a dozen one-second waits still takes about a second.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A counting semaphore of case slots. A case coming back from a wait takes
/// its slot back at once, over the bound if it must (new cases then wait
/// until the count is under it again): its wait is part of the experiment
/// (`after_ms`, the second it aligned to) and its deadline runs, and under a
/// slow kernel (an emulated guest) waiting for a slot again cost it both.
pub(crate) struct Slots {
    /// Slots free; below 0 while cases back from a wait work over the bound.
    free: Mutex<isize>,
    freed: Condvar,
}

thread_local! {
    /// The slots the case running on this thread holds one of.
    static HELD: RefCell<Option<Arc<Slots>>> = const { RefCell::new(None) };
}

impl Slots {
    pub fn new(n: usize) -> Arc<Slots> {
        Arc::new(Slots {
            free: Mutex::new(isize::try_from(n.max(1)).unwrap_or(isize::MAX)),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, isize> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a slot for a case that has not started, waiting for one to be
    /// free.
    pub fn acquire(&self) {
        let mut free = self.lock();
        while *free <= 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    /// Take the slot back after a wait, without waiting.
    fn resume(&self) {
        *self.lock() -= 1;
    }

    pub fn release(&self) {
        *self.lock() += 1;
        self.freed.notify_one();
    }

    /// Run `f` on this thread holding a slot of `slots` (taken already); the
    /// slot is given back when `f` returns.
    pub fn hold<T>(slots: &Arc<Slots>, f: impl FnOnce() -> T) -> T {
        HELD.with(|h| *h.borrow_mut() = Some(Arc::clone(slots)));
        let out = f();
        HELD.with(|h| *h.borrow_mut() = None);
        slots.release();
        out
    }
}

/// Sleep for `d`, without holding a slot meanwhile when the case holds one.
pub(crate) async fn idle(d: Duration) {
    let held = HELD.with(|h| h.borrow().clone());
    match held {
        Some(slots) => {
            slots.release();
            tokio::time::sleep(d).await;
            slots.resume();
        }
        None => tokio::time::sleep(d).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_case_gives_its_slot_to_another() {
        // One slot, held by a case that then waits: another case gets the
        // slot while the first still waits (no timing bound: the first
        // waits far longer than a thread takes to start, and the check is
        // on what happened first, not on how long anything took).
        use std::sync::atomic::{AtomicBool, Ordering};
        let slots = Slots::new(1);
        let waiting_done = AtomicBool::new(false);
        let other_ran_during_the_wait = AtomicBool::new(false);
        slots.acquire();
        std::thread::scope(|scope| {
            let first = Arc::clone(&slots);
            let done = &waiting_done;
            scope.spawn(move || {
                Slots::hold(&first, || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(idle(Duration::from_secs(2)));
                    done.store(true, Ordering::SeqCst);
                });
            });
            slots.acquire();
            other_ran_during_the_wait.store(!waiting_done.load(Ordering::SeqCst), Ordering::SeqCst);
            slots.release();
        });
        assert!(
            other_ran_during_the_wait.load(Ordering::SeqCst),
            "expected the second case to get the slot while the first waited; it got it only after"
        );
        assert_eq!(*slots.lock(), 1, "every slot came back");
    }

    #[test]
    fn a_case_back_from_a_wait_works_at_once_and_new_cases_wait_for_the_bound() {
        let slots = Slots::new(1);
        slots.acquire();
        // Another case back from its wait: it works at once, over the bound.
        slots.resume();
        assert_eq!(*slots.lock(), -1);
        let started = Mutex::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                slots.acquire();
                *started.lock().unwrap() = true;
                slots.release();
            });
            // One release is not enough for a new case: the count is at 0.
            slots.release();
            assert_eq!(*slots.lock(), 0);
            assert!(
                !*started.lock().unwrap(),
                "a new case started over the bound"
            );
            slots.release();
        });
        assert!(*started.lock().unwrap());
        assert_eq!(*slots.lock(), 1, "every slot came back");
    }
}

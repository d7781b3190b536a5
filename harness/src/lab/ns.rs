//! A network namespace owned by one OS thread: the thread calls
//! `unshare(CLONE_NEWNET)` and runs a current-thread tokio runtime. The namespace
//! is anonymous, so the kernel frees it when the thread (and every socket made in
//! it) is gone, even if the process is killed with SIGKILL.

use std::fs::File;
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns, unshare};
use nix::unistd::gettid;
use tokio::sync::{mpsc, oneshot};

use super::LabError;

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// The handle to a namespace thread. Dropping it stops the thread, which frees
/// the namespace.
pub struct NsThread {
    label: &'static str,
    tid: libc::pid_t,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// `/proc/self/task/<tid>/ns/net`, opened while the thread is alive.
    ns_file: File,
}

impl NsThread {
    /// Start a thread in a fresh, anonymous network namespace.
    ///
    /// Equivalent to: `unshare --net` (per thread, not per process).
    pub fn spawn(label: &'static str) -> Result<NsThread, LabError> {
        Self::start(label, None)
    }

    /// Start a thread that joins the existing namespace `ns` (a named one made for
    /// `--keep`) instead of making an anonymous one. The thread owns it all the same.
    ///
    /// Equivalent to: `ip netns exec <name> ...` for everything the thread does.
    pub fn spawn_in(label: &'static str, ns: File) -> Result<NsThread, LabError> {
        Self::start(label, Some(ns))
    }

    /// Start one thread per label, each in a fresh anonymous namespace, at
    /// once: the kernel makes the namespaces in parallel.
    ///
    /// Equivalent to: `unshare --net`, once per label, side by side.
    pub fn spawn_many(labels: &[&'static str]) -> Result<Vec<NsThread>, LabError> {
        let starting: Vec<_> = labels
            .iter()
            .map(|&label| Starting::launch(label, None))
            .collect();
        // Every launched thread is waited for (a failed one is joined) before
        // any error returns.
        let finished: Vec<_> = starting
            .into_iter()
            .map(|s| s.and_then(Starting::finish))
            .collect();
        finished.into_iter().collect()
    }

    fn start(label: &'static str, ns: Option<File>) -> Result<NsThread, LabError> {
        Starting::launch(label, ns)?.finish()
    }

    /// The thread id that owns the namespace (`/proc/<pid>/task/<tid>/ns/net`).
    pub fn tid(&self) -> libc::pid_t {
        self.tid
    }

    /// An fd referring to the namespace, valid while `self` lives (for IFLA_NET_NS_FD).
    pub fn ns_fd(&self) -> RawFd {
        self.ns_file.as_raw_fd()
    }

    /// Run `f` on the namespace's thread (inside its LocalSet) and wait for the result.
    /// Sockets made inside `f` belong to this namespace.
    pub async fn run<F, Fut, T>(&self, f: F) -> Result<T, LabError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let _ = tx.send(f().await);
            })
        });
        let label = self.label;
        self.jobs
            .as_ref()
            .ok_or(LabError::ThreadGone { label })?
            .send(job)
            .map_err(|_| LabError::ThreadGone { label })?;
        rx.await.map_err(|_| LabError::JobPanicked { label })
    }

    /// Run `query` on the namespace's thread every millisecond until it yields
    /// `Some`, or `deadline` passes (then `Ok(None)` after one last try); the
    /// query's own error ends the wait at once.
    ///
    /// Equivalent to: `busywait` of the kernel's selftests (lib.sh).
    pub async fn poll<T, E>(
        &self,
        deadline: tokio::time::Instant,
        query: impl Fn() -> Result<Option<T>, E> + Send + Clone + 'static,
    ) -> Result<Result<Option<T>, E>, LabError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        loop {
            let q = query.clone();
            let last = tokio::time::Instant::now() >= deadline;
            match self.run(move || async move { q() }).await? {
                Ok(None) if !last => {}
                done => return Ok(done),
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Start `f` on the namespace's thread and return at once; the task lives until
    /// it finishes or the namespace thread stops.
    pub fn spawn_task<F, Fut>(&self, f: F) -> Result<(), LabError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let job: Job = Box::new(move || Box::pin(f()));
        let label = self.label;
        self.jobs
            .as_ref()
            .ok_or(LabError::ThreadGone { label })?
            .send(job)
            .map_err(|_| LabError::ThreadGone { label })
    }
}

/// A namespace thread that has been spawned but may not be ready yet.
struct Starting {
    label: &'static str,
    thread: JoinHandle<()>,
    ready: std::sync::mpsc::Receiver<Ready>,
}

impl Starting {
    fn launch(label: &'static str, ns: Option<File>) -> Result<Starting, LabError> {
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("synlab-{label}"))
            .spawn(move || ns_main(ready_tx, ns))
            .map_err(|source| LabError::Thread { label, source })?;
        Ok(Starting {
            label,
            thread,
            ready,
        })
    }

    /// Wait until the thread is in its namespace and serving jobs.
    fn finish(self) -> Result<NsThread, LabError> {
        let Starting {
            label,
            thread,
            ready,
        } = self;
        let (tid, jobs) = match ready.recv() {
            Ok(Ok(ready)) => ready,
            Ok(Err(err)) => {
                let _ = thread.join();
                return Err(err);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(LabError::ThreadGone { label });
            }
        };
        let path = format!("/proc/self/task/{tid}/ns/net");
        let ns_file = match File::open(&path) {
            Ok(f) => f,
            Err(source) => {
                // Closing the job channel ends the thread.
                drop(jobs);
                let _ = thread.join();
                return Err(LabError::Io {
                    op: format!("open {path}"),
                    source,
                });
            }
        };
        Ok(NsThread {
            label,
            tid,
            jobs: Some(jobs),
            thread: Some(thread),
            ns_file,
        })
    }
}

impl Drop for NsThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; its LocalSet drops every task
        // and socket, then the thread exits and the namespace goes with it.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Ready = Result<(libc::pid_t, mpsc::UnboundedSender<Job>), LabError>;

fn ns_main(ready: std::sync::mpsc::Sender<Ready>, ns: Option<File>) {
    // unshare/setns change only this thread's namespace membership.
    let entered = match &ns {
        None => unshare(CloneFlags::CLONE_NEWNET),
        Some(file) => setns(file, CloneFlags::CLONE_NEWNET),
    };
    drop(ns);
    if let Err(errno) = entered {
        let _ = ready.send(Err(match errno {
            Errno::EPERM => LabError::NoPrivilege,
            _ => LabError::Io {
                op: "unshare(CLONE_NEWNET) / setns".into(),
                source: errno.into(),
            },
        }));
        return;
    }
    let tid = gettid().as_raw();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(source) => {
            let _ = ready.send(Err(LabError::Io {
                op: "build the namespace thread's tokio runtime".into(),
                source,
            }));
            return;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    if ready.send(Ok((tid, tx))).is_err() {
        return;
    }
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        while let Some(job) = rx.recv().await {
            tokio::task::spawn_local(job());
        }
    });
}

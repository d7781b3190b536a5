//! A child that never outlives synlab: its own process group (killed whole at
//! a deadline, on an error, on a panic: [`Drop`]), and `PR_SET_PDEATHSIG` so
//! that the kernel kills it when synlab dies, even by SIGKILL. For virtme-ng
//! that is not enough on its own: vng starts qemu through `sh` and
//! `virtme-run`, and qemu would outlive a killed vng (measured: it kept
//! running). So [`pid_namespace`] wraps the command in `unshare --pid --fork
//! --kill-child`: vng is the init of a new PID namespace, and when it dies the
//! kernel kills every process in that namespace, qemu included.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running child and its process group.
pub struct Group {
    child: Child,
    done: Option<ExitStatus>,
}

impl Group {
    /// Start `cmd` as the leader of a new process group that dies with this
    /// thread's process (PDEATHSIG is per thread: call from the thread that
    /// waits for it).
    pub fn spawn(mut cmd: Command) -> std::io::Result<Group> {
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(Group {
            child: cmd.spawn()?,
            done: None,
        })
    }

    #[cfg(test)]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if it has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.done.is_none() {
            self.done = self.child.try_wait().ok().flatten();
        }
        self.done
    }

    /// Wait until it ends or `deadline` passes (then kill the group): the
    /// status, or `None` when the deadline came first.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL to the whole group, then reap the leader. Equivalent to:
    /// `kill -KILL -PGID`.
    pub fn kill(&mut self) {
        if self.done.is_some() {
            return;
        }
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: a plain syscall on our own child's group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        self.done = self.child.wait().ok();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `unshare --pid --fork --kill-child` works here (root, or a user
/// namespace with its capabilities; util-linux 2.32 or later).
pub fn pid_namespace_works() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child=SIGKILL", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program args...` as the init of a new PID namespace, killed when its
/// parent (`unshare`) dies. Equivalent to:
/// `unshare --pid --fork --kill-child=SIGKILL -- PROGRAM ARGS...`.
pub fn pid_namespace(program: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child=SIGKILL", "--", program]);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any process still has `tag` in its command line.
    fn alive(tag: &str) -> bool {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| {
                        let c = String::from_utf8_lossy(&c).replace('\0', " ");
                        c.contains(tag) && !c.contains("sh -c")
                    })
                    .unwrap_or(false)
            })
    }

    #[test]
    fn a_deadline_kills_the_whole_group_grandchildren_too() {
        // sh starts a grandchild (like vng starts qemu) and waits for it;
        // the odd durations tag this test's sleeps.
        let tag = format!("sleep 30.{}", std::process::id());
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            &format!("{tag} & sleep 31.{}; wait", std::process::id()),
        ]);
        let mut g = Group::spawn(cmd).expect("spawn sh");
        let t = Instant::now();
        assert_eq!(
            g.wait_until(Instant::now() + Duration::from_millis(200)),
            None
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        let gone = Instant::now() + Duration::from_secs(5);
        while alive(&tag) && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(&tag), "a process of the group outlived the kill");
    }

    #[test]
    fn dropping_the_guard_kills_it() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exec sleep 30"]);
        let g = Group::spawn(cmd).expect("spawn sh");
        let pid = g.id();
        drop(g);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "reaped"
        );
    }
}

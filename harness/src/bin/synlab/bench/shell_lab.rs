//! The lab made the way shell selftests make it (`ip`/`sysctl` subprocesses in
//! named namespaces): what `synlab bench` compares the rtnetlink lab and a whole
//! `synlab run` process against.
//!
//! Nothing of it reaches the host, even when the bench is killed: the `ip`
//! commands run from one thread of the bench that has a mount namespace of its
//! own (everything private, a tmpfs on /run), so `ip netns add` pins its named
//! namespaces with bind mounts that only that mount namespace holds. When the
//! bench dies (SIGKILL too) the mount namespace goes, the network namespaces
//! lose their last holder, and the kernel frees them and their veth pair. The
//! guard's `ip netns del` is the ordinary way out; no signal handler is needed.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use synlab::{CLIENT_IF, SERVER_IF};

use super::{BenchError, CLIENT_CIDR, LAB_DEADLINE, SERVER_CIDR, SYSCTL, run_command};

/// The thread that builds and tears down the shell labs, in its private
/// mount namespace; each request is one lab, answered with its time.
pub(super) struct ShellLabs {
    requests: mpsc::Sender<usize>,
    answers: mpsc::Receiver<Result<Duration, BenchError>>,
}

impl ShellLabs {
    /// Starts the thread and its mount namespace.
    ///
    /// Equivalent to: `unshare --mount --propagation private` then
    /// `mount -t tmpfs -o mode=755 synlab-bench /run`, for that thread only.
    pub(super) fn start() -> Result<ShellLabs, BenchError> {
        let (requests, asked) = mpsc::channel::<usize>();
        let (answer, answers) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        std::thread::Builder::new()
            .name("synlab-bench-ip".into())
            .spawn(move || {
                let _ = ready_tx.send(private_run());
                for i in asked {
                    let t = Instant::now();
                    let took = ShellLab::build(i).and_then(ShellLab::teardown);
                    if answer.send(took.map(|()| t.elapsed())).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| BenchError::Io {
                what: "start the thread of the ip/sysctl labs".into(),
                source,
            })?;
        let gone = || BenchError::Io {
            what: "the thread of the ip/sysctl labs".into(),
            source: std::io::Error::other("it ended"),
        };
        ready.recv().map_err(|_| gone())??;
        Ok(ShellLabs { requests, answers })
    }

    /// Lab `i`, built and torn down: how long it took.
    pub(super) fn time_one(&self, i: usize) -> Result<Duration, BenchError> {
        let gone = || BenchError::Io {
            what: "the thread of the ip/sysctl labs".into(),
            source: std::io::Error::other("it ended"),
        };
        self.requests.send(i).map_err(|_| gone())?;
        self.answers.recv().map_err(|_| gone())?
    }
}

/// This thread in a mount namespace of its own, with nothing shared with the
/// host's and a tmpfs on /run, where `ip netns add` makes /run/netns.
fn private_run() -> Result<(), BenchError> {
    let fail = |what: &str, e: nix::Error| BenchError::Io {
        what: format!("{what} for the ip/sysctl labs"),
        source: e.into(),
    };
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS)
        .map_err(|e| fail("unshare(CLONE_NEWNS)", e))?;
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
        .map_err(|e| fail("make / private", e))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("synlab-bench"),
        "/run",
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .map_err(|e| fail("mount a tmpfs on /run", e))
}

/// The same lab as row (a)'s `Lab::build`, made the way shell selftests make it:
/// one `ip`/`sysctl` process per step, in named namespaces
/// (`synlab-bench-<pid>-<i>-a`/`-b`) under the private /run. The guard deletes
/// them, also on error. Built only on the [`ShellLabs`] thread.
struct ShellLab {
    names: [String; 2],
    deleted: bool,
}

impl ShellLab {
    /// Equivalent to (a = server, b = client):
    /// ```text
    /// ip netns add A; ip netns add B
    /// ip -n A link add syn-srv0 type veth peer name syn-cli0 netns B
    /// ip -n A addr add 198.18.0.1/24 dev syn-srv0; ip -n B addr add 198.18.0.2/24 dev syn-cli0
    /// ip -n A link set lo up; ip -n A link set syn-srv0 up   (and B)
    /// ip netns exec A sysctl -qw net.ipv4.tcp_timestamps=0   (and B)
    /// until ip -n A -o link show dev syn-srv0 | grep -q 'state UP'; do :; done   (and B)
    /// ```
    fn build(i: usize) -> Result<ShellLab, BenchError> {
        let base = format!("synlab-bench-{}-{i}", std::process::id());
        let lab = ShellLab {
            names: [format!("{base}-a"), format!("{base}-b")],
            deleted: false,
        };
        let [a, b] = &lab.names;
        let (srv, cli) = (SERVER_IF, CLIENT_IF);
        ip(&["netns", "add", a])?;
        ip(&["netns", "add", b])?;
        ip(&[
            "-n", a, "link", "add", srv, "type", "veth", "peer", "name", cli, "netns", b,
        ])?;
        ip(&["-n", a, "addr", "add", SERVER_CIDR, "dev", srv])?;
        ip(&["-n", b, "addr", "add", CLIENT_CIDR, "dev", cli])?;
        for (ns, dev) in [(a, srv), (b, cli)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        let set = format!("{}={}", SYSCTL.0, SYSCTL.1);
        for ns in [a, b] {
            ip(&["netns", "exec", ns, "sysctl", "-qw", &set])?;
        }
        for (ns, dev) in [(a, srv), (b, cli)] {
            wait_up(ns, dev)?;
        }
        Ok(lab)
    }

    /// Equivalent to: `ip netns del A; ip netns del B`
    fn teardown(mut self) -> Result<(), BenchError> {
        self.deleted = true;
        let [a, b] = &self.names;
        let first = ip(&["netns", "del", a]);
        let second = ip(&["netns", "del", b]);
        first.and(second).map(drop)
    }
}

impl Drop for ShellLab {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        for name in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// One `ip` process; its output is returned, its failure is an error.
fn ip(args: &[&str]) -> Result<String, BenchError> {
    run_command("ip", args).map(|(_, out)| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `busywait` on the link's operstate, as lib.sh does it: one `ip` per look.
fn wait_up(ns: &str, dev: &str) -> Result<(), BenchError> {
    let t = Instant::now();
    loop {
        let shown = ip(&["-n", ns, "-o", "link", "show", "dev", dev])?;
        if shown.contains("state UP") {
            return Ok(());
        }
        if t.elapsed() > LAB_DEADLINE {
            return Err(BenchError::Timeout {
                command: format!("ip -n {ns} -o link show dev {dev}"),
                what: "state UP",
                after: LAB_DEADLINE,
                last_seen: shown.trim().to_string(),
            });
        }
    }
}

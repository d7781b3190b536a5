//! The lab made the way shell selftests make it (`ip`/`sysctl` subprocesses in
//! named namespaces): what `synlab bench` compares the rtnetlink lab and a whole
//! `synlab run` process against. Guards delete what it made, also on error.

use std::process::{Command, Stdio};
use std::time::Instant;

use synlab::{CLIENT_IF, SERVER_IF};

use super::{BenchError, CLIENT_CIDR, LAB_DEADLINE, SERVER_CIDR, SYSCTL, run_command};

/// Restores /run/netns as it was: `ip netns add` makes it a (shared) bind
/// mount of itself, and creates it, the first time; `ip netns del` undoes
/// neither. If it was no mount point before and holds no namespace now, the
/// guard unmounts it (and removes it when it did not exist).
///
/// Equivalent to: `umount /run/netns; rmdir /run/netns` after the bench.
pub(super) struct RunNetnsGuard {
    existed: bool,
    was_mount: bool,
}

const RUN_NETNS: &str = "/run/netns";

fn is_mount_point(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.split(' ').nth(4) == Some(path)))
        .unwrap_or(false)
}

impl RunNetnsGuard {
    pub(super) fn before() -> RunNetnsGuard {
        RunNetnsGuard {
            existed: std::path::Path::new(RUN_NETNS).exists(),
            was_mount: is_mount_point(RUN_NETNS),
        }
    }
}

impl Drop for RunNetnsGuard {
    fn drop(&mut self) {
        let empty = std::fs::read_dir(RUN_NETNS).is_ok_and(|mut d| d.next().is_none());
        if self.was_mount || !empty {
            return;
        }
        // Lazily, in case a process still has it open; then the directory.
        while is_mount_point(RUN_NETNS) {
            if nix::mount::umount2(RUN_NETNS, nix::mount::MntFlags::MNT_DETACH).is_err() {
                break;
            }
        }
        if !self.existed {
            let _ = std::fs::remove_dir(RUN_NETNS);
        }
    }
}

/// The same lab as row (a)'s `Lab::build`, made the way shell selftests make it:
/// one `ip`/`sysctl` process per step, in named namespaces of this process
/// (`synlab-bench-<pid>-<i>-a`/`-b`). The guard deletes them, also on error.
pub(super) struct ShellLab {
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
    pub(super) fn build(i: usize) -> Result<ShellLab, BenchError> {
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
    pub(super) fn teardown(mut self) -> Result<(), BenchError> {
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

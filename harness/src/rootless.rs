//! Rootless mode: without root, the process makes itself root of a new user
//! namespace first thing in `main`, the way rootless container tools do
//! (`unshare -Ur`, podman, bubblewrap). Every network namespace it makes after
//! that belongs to the new user namespace, so it holds CAP_SYS_ADMIN,
//! CAP_NET_ADMIN and CAP_NET_RAW over them (unshare, rtnetlink, sysctls,
//! AF_PACKET, TCP_REPAIR, sock_diag all work), while files it writes stay owned
//! by the real user. Where the kernel does not allow that, the reason is kept and
//! `LabError::NoPrivilege` says it in one line, with `sudo cargo test`.
//!
//! What rootless mode cannot do (the kernel's rules, not ours): mount tracefs (no
//! state trace: the report says so and falls back to sock_diag snapshots), bind-
//! mount named namespaces under /run/netns (`--keep`, `bench`), and set the few net
//! sysctls that the kernel hides in a namespace owned by a non-initial user
//! namespace (on 6.18: `net.ipv6.route.*` but `max_size`, `net.core.xfrm_*`;
//! `net.ipv4.ping_group_range` takes only group ids mapped in it). Every
//! `net.ipv4.tcp_*` and `net.ipv{4,6}.conf.*` sysctl works.
//!
//! Equivalent to: `unshare --user --map-root-user` around the whole process.

use std::fs;
use std::io;
use std::sync::OnceLock;

use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getegid, geteuid};

/// The environment variable that turns rootless mode off (`SYNLAB_NO_USERNS=1`).
pub const OPT_OUT_ENV: &str = "SYNLAB_NO_USERNS";

/// Capability bits (linux/capability.h) the lab needs in its namespaces' owner.
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;

/// How this process gets the right to make network namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// It has CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW already (root, or run
    /// inside a user namespace that someone else made): nothing was changed.
    Privileged,
    /// It entered a new user namespace where it is uid 0 with every capability;
    /// `uid`/`gid` are the real ones it maps to outside.
    Rootless { uid: u32, gid: u32 },
    /// Neither: unprivileged user namespaces are not available here, for `reason`
    /// (a sysctl, a security policy, or `SYNLAB_NO_USERNS`).
    Unprivileged { reason: String },
}

/// Errors that stop the program before anything ran.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error(
        "cannot enter an unprivileged user namespace: the process already runs {threads} threads \
         (unshare(CLONE_NEWUSER) needs a single-threaded process; call \
         synlab::rootless::enter_user_namespace_if_unprivileged() first thing in main)"
    )]
    Threads { threads: usize },
    #[error("read /proc/self/status: {0}")]
    Status(#[source] io::Error),
    #[error("/proc/self/status has no {0} line")]
    StatusField(&'static str),
}

/// The mode chosen by the first call of [`enter_user_namespace_if_unprivileged`].
static MODE: OnceLock<Mode> = OnceLock::new();

/// The mode this process runs in; `None` when it never asked (a program that did
/// not call [`enter_user_namespace_if_unprivileged`] needs root as before).
pub fn mode() -> Option<&'static Mode> {
    MODE.get()
}

/// Become root of a new user namespace unless the process may already make
/// network namespaces. Call it first thing in `main`, while the process has one
/// thread. Calling it again returns the first answer.
///
/// `Ok(Mode::Unprivileged { .. })` is not an error here: the program goes on (it
/// may only list or check files) and the first network namespace it tries to make
/// fails with `LabError::NoPrivilege`, whose message gives the reason.
///
/// Equivalent to: `unshare --user --map-root-user` (with `deny` in
/// /proc/self/setgroups, `0 <uid> 1` in uid_map and `0 <gid> 1` in gid_map).
pub fn enter_user_namespace_if_unprivileged() -> Result<Mode, RootlessError> {
    if let Some(mode) = MODE.get() {
        return Ok(mode.clone());
    }
    let status = ProcStatus::read()?;
    let mode = if status.has_lab_caps() {
        Mode::Privileged
    } else if let Some(value) = opt_out() {
        Mode::Unprivileged {
            reason: format!("{OPT_OUT_ENV}={value}"),
        }
    } else if status.threads > 1 {
        return Err(RootlessError::Threads {
            threads: status.threads,
        });
    } else {
        enter()
    };
    Ok(MODE.get_or_init(|| mode).clone())
}

/// The message of `LabError::NoPrivilege` (one line), by the mode this process is in.
pub fn no_privilege_message() -> String {
    message_for(mode())
}

fn message_for(mode: Option<&Mode>) -> String {
    const SUDO: &str = "run `sudo cargo test` or `sudo synlab run ...`";
    match mode {
        None => {
            format!("making a network namespace needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN): {SUDO}")
        }
        Some(Mode::Unprivileged { reason }) => format!(
            "making a network namespace needs root or unprivileged user namespaces \
             (disabled here: {reason}): {SUDO}"
        ),
        Some(Mode::Rootless { .. }) => format!(
            "making a network namespace was refused inside the unprivileged user namespace \
             (rootless mode; a security module may restrict user namespaces): {SUDO}"
        ),
        Some(Mode::Privileged) => "making a network namespace was refused although the process \
             has CAP_SYS_ADMIN and CAP_NET_ADMIN: a seccomp filter or a security module forbids \
             unshare(CLONE_NEWNET) here"
            .to_string(),
    }
}

/// Text to add to a sysctl error in rootless mode: in a namespace owned by a
/// non-initial user namespace the kernel hides some net sysctls and refuses
/// values that name ids not mapped in it. Empty in every other mode. (For
/// `apply_sysctls` in lab/mod.rs: `message: format!("{m}{}", sysctl_hint())`.)
pub fn sysctl_hint() -> &'static str {
    match mode() {
        Some(Mode::Rootless { .. }) => {
            " (rootless mode: in a namespace owned by an unprivileged user namespace the \
             kernel hides some net sysctls, e.g. net.ipv6.route.* and net.core.xfrm_*, and \
             refuses ids not mapped in it; run `sudo cargo test` or `sudo synlab run ...`)"
        }
        _ => "",
    }
}

/// The note printed once on stderr when a program enters rootless mode.
pub fn rootless_note(uid: u32) -> String {
    format!(
        "synlab: not root (uid {uid}): running in an unprivileged user namespace \
         (rootless mode; no state trace)"
    )
}

/// Whether this process holds what the lab needs (CAP_SYS_ADMIN, CAP_NET_ADMIN,
/// CAP_NET_RAW) without entering a user namespace: root, or already inside one.
pub fn has_lab_caps() -> bool {
    ProcStatus::read().is_ok_and(|s| s.has_lab_caps())
}

/// The value of `SYNLAB_NO_USERNS` when it asks to skip rootless mode (set, not
/// empty, not `0`).
fn opt_out() -> Option<String> {
    std::env::var(OPT_OUT_ENV)
        .ok()
        .filter(|v| !v.is_empty() && v != "0")
}

/// What /proc/self/status says about threads and capabilities.
struct ProcStatus {
    threads: usize,
    cap_eff: u64,
}

impl ProcStatus {
    /// Equivalent to: `grep -E '^(Threads|CapEff):' /proc/self/status`.
    fn read() -> Result<ProcStatus, RootlessError> {
        let text = fs::read_to_string("/proc/self/status").map_err(RootlessError::Status)?;
        let field = |name: &'static str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
                .ok_or(RootlessError::StatusField(name))
        };
        let threads = field("Threads")?
            .parse()
            .map_err(|_| RootlessError::StatusField("Threads"))?;
        let cap_eff = u64::from_str_radix(field("CapEff")?, 16)
            .map_err(|_| RootlessError::StatusField("CapEff"))?;
        Ok(ProcStatus { threads, cap_eff })
    }

    /// CAP_SYS_ADMIN (unshare), CAP_NET_ADMIN (links, addresses, sysctls,
    /// TCP_REPAIR) and CAP_NET_RAW (AF_PACKET) in the current user namespace.
    fn has_lab_caps(&self) -> bool {
        [CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW]
            .iter()
            .all(|&bit| self.cap_eff & (1u64 << bit) != 0)
    }
}

/// Make the user namespace, map this user to root in it, and check that it may
/// make a network namespace. Every failure becomes `Mode::Unprivileged`.
fn enter() -> Mode {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    // unshare(CLONE_NEWUSER) changes this (single-threaded) process's user
    // namespace; the caller checked that it has one thread.
    if let Err(errno) = unshare(CloneFlags::CLONE_NEWUSER) {
        let e = io::Error::from(errno);
        return unprivileged(format!("unshare(CLONE_NEWUSER): {e}"), Some(errno as i32));
    }
    // An unprivileged process may map only its own ids, and its gid only after it
    // gave up setgroups(2) (user_namespaces(7)).
    let writes = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("0 {uid} 1")),
        ("/proc/self/gid_map", format!("0 {gid} 1")),
    ];
    for (path, text) in writes {
        match fs::write(path, &text) {
            Ok(()) => {}
            // Kernels before 3.19 have no setgroups file (and no such rule).
            Err(e) if path.ends_with("setgroups") && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return unprivileged(
                    format!(
                        "the new user namespace has no capabilities: write {text:?} to {path}: {e}"
                    ),
                    None,
                );
            }
        }
    }
    // A security module may leave the new user namespace without capabilities
    // (Ubuntu's AppArmor restriction): make one network namespace to be sure.
    match probe_network_namespace() {
        Ok(()) => Mode::Rootless { uid, gid },
        Err(e) => unprivileged(
            format!("the new user namespace may not make a network namespace: {e}"),
            None,
        ),
    }
}

/// Make a network namespace on a short-lived thread (which frees it on exit).
///
/// Equivalent to: `unshare --net true`.
fn probe_network_namespace() -> io::Result<()> {
    std::thread::Builder::new()
        .name("synlab-userns-probe".into())
        .spawn(|| {
            // Changes only this thread's network namespace; the thread ends here.
            unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
        })?
        .join()
        .map_err(|_| io::Error::other("the probe thread panicked"))?
}

/// `Mode::Unprivileged`, its reason led by the sysctls that switch user
/// namespaces off when one of them does, else by a hint from the errno.
fn unprivileged(what: String, errno: Option<i32>) -> Mode {
    let knobs = disabling_sysctls();
    let reason = if !knobs.is_empty() {
        format!("{}; {what}", knobs.join(", "))
    } else {
        let hint = match errno {
            Some(libc::EPERM) => {
                " (a seccomp filter, e.g. a container's, or a security module forbids it)"
            }
            Some(libc::ENOSPC) => " (user.max_user_namespaces is reached)",
            Some(libc::EUSERS) => " (32 nested user namespaces)",
            Some(libc::EINVAL) => " (a kernel without CONFIG_USER_NS?)",
            _ => "",
        };
        format!("{what}{hint}")
    };
    Mode::Unprivileged { reason }
}

/// The sysctls that, with these values, forbid unprivileged user namespaces.
///
/// Equivalent to: `sysctl kernel.unprivileged_userns_clone user.max_user_namespaces
/// kernel.apparmor_restrict_unprivileged_userns`.
fn disabling_sysctls() -> Vec<String> {
    [
        ("kernel.unprivileged_userns_clone", "0"),
        ("user.max_user_namespaces", "0"),
        ("kernel.apparmor_restrict_unprivileged_userns", "1"),
    ]
    .iter()
    .filter_map(|(key, off)| {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = fs::read_to_string(path).ok()?;
        (value.trim() == *off).then(|| format!("{key} = {off}"))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_caps_need_sys_admin_net_admin_and_net_raw() {
        let with = |bits: &[u32]| ProcStatus {
            threads: 1,
            cap_eff: bits.iter().fold(0, |m, b| m | (1u64 << b)),
        };
        assert!(with(&[CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW]).has_lab_caps());
        assert!(!with(&[CAP_SYS_ADMIN, CAP_NET_ADMIN]).has_lab_caps());
        assert!(!with(&[CAP_NET_ADMIN, CAP_NET_RAW]).has_lab_caps());
        assert!(
            ProcStatus {
                threads: 1,
                cap_eff: 0x1ff_ffff_ffff
            }
            .has_lab_caps()
        );
    }

    #[test]
    fn proc_status_of_this_process_parses() {
        // The unit-test harness runs threads: at least the main one and this one.
        let s = ProcStatus::read().expect("read /proc/self/status");
        assert!(s.threads >= 1);
    }

    #[test]
    fn every_privilege_message_is_one_line_and_names_the_way_out() {
        let modes = [
            None,
            Some(Mode::Unprivileged {
                reason: "SYNLAB_NO_USERNS=1".into(),
            }),
            Some(Mode::Rootless {
                uid: 1000,
                gid: 1000,
            }),
        ];
        for mode in &modes {
            let msg = message_for(mode.as_ref());
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.contains("`sudo cargo test`"), "{msg}");
        }
        let msg = message_for(modes[1].as_ref());
        assert!(
            msg.starts_with(
                "making a network namespace needs root or unprivileged user namespaces \
                 (disabled here: SYNLAB_NO_USERNS=1): run `sudo cargo test`"
            ),
            "{msg}"
        );
        assert!(!message_for(Some(&Mode::Privileged)).contains('\n'));
        assert!(!rootless_note(1000).contains('\n'));
    }
}

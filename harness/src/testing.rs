//! Helpers for the unit tests that need a network namespace of their own:
//! one definition each, used by the lab, observe and trace tests; and the
//! install of a missing Debian tool, one file with the outside tests'.

#[path = "../../tests/support/apt.rs"]
mod apt;

pub(crate) use apt::ensure_installed;

/// Fails the test at once, in one line that says how to run it, unless it is
/// root: never a silent pass.
pub(crate) fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test makes network namespaces: it needs root (`sudo cargo test`, `just test`)"
    );
}

/// Moves the calling thread into a fresh anonymous network namespace with
/// `lo` up and no IPv6 duplicate address detection (as the lab has it), and
/// returns its tid.
///
/// Equivalent to: `unshare --net` for this thread, `ip link set lo up`,
/// `sysctl -w net.ipv6.conf.{all,default}.accept_dad=0`.
pub(crate) fn unshare_net() -> libc::pid_t {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("unshare(CLONE_NEWNET): {e}"));
    // /proc/sys/net is the calling thread's namespace.
    for conf in ["all", "default"] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad"), "0")
            .expect("accept_dad = 0 in the test namespace");
    }
    runtime().block_on(async {
        let h = crate::lab::netlink::connect().await.expect("rtnetlink");
        crate::lab::netlink::set_lo_up(&h).await.expect("lo up");
    });
    nix::unistd::gettid().as_raw()
}

/// A current-thread tokio runtime for a test thread.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread runtime")
}

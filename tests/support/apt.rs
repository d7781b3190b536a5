//! One file in two crates: the outside tests (`tests/support`) and the
//! library's unit tests (`harness/src/testing.rs`, through `#[path]`), so a
//! missing Debian tool is installed, or asked for, the same way in both.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

/// Makes sure a tool from a Debian package is there before a test uses it:
/// `present()` already, or, when the test runs as root on a machine with
/// apt-get (CI, `sudo cargo test`), after `apt-get install PACKAGE` (one
/// `apt-get update` first), said on stderr; test processes take turns through
/// a lock file. Otherwise the test fails with the command that installs it:
/// never a silent skip.
pub fn ensure_installed(what: &str, package: &str, present: impl Fn() -> bool) {
    if present() {
        return;
    }
    let apt = Path::new("/usr/bin/apt-get");
    assert!(
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() } == 0 && apt.exists(),
        "{what} is needed by this test and is missing: `sudo apt-get install {package}` \
         (as root on Debian/Ubuntu the tests install it themselves)"
    );
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::temp_dir().join("synlab-tests-apt.lock"))
        .expect("open the apt lock file");
    // SAFETY: flock on a file descriptor we own; released when `lock` closes.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0, "lock {}", std::io::Error::last_os_error());
    if present() {
        return;
    }
    // Straight to fd 2, past libtest's capture: an install is always said.
    let _ = writeln!(
        std::io::stderr(),
        "synlab tests: {what} is missing: apt-get install {package}"
    );
    let apt_get = |args: &[&str]| {
        Command::new(apt)
            .args(["-q", "-y", "-o", "DPkg::Lock::Timeout=600"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .unwrap_or_else(|e| panic!("run apt-get: {e}"))
    };
    let update = apt_get(&["update"]);
    let install = apt_get(&["install", "--no-install-recommends", package]);
    assert!(
        install.status.success() && present(),
        "apt-get install {package} failed; apt-get update said:\n{}\napt-get install said:\n{}{}",
        String::from_utf8_lossy(&update.stderr),
        String::from_utf8_lossy(&install.stdout),
        String::from_utf8_lossy(&install.stderr),
    );
}

//! Helpers shared by the test files: each one that needs them says `mod support;`.
//! Not a test of its own (cargo makes test targets of `tests/*.rs` and
//! `tests/*/main.rs` only). Every test file uses a part of it, so what one of
//! them leaves unused is not dead code.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Whether the test runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Fails the test at once unless it is root.
pub fn require_root() {
    if !is_root() {
        panic!(
            "this test runs `synlab run --all`, which makes network namespaces: it needs root (`sudo cargo test` or `just test`)"
        );
    }
}

/// `<target>/<profile>` of this test binary, and a cargo command with `args`
/// for the same profile and target dir, run as the owner of that target dir.
///
/// Under `just test` (cargo's runner is `sudo -E`) the test is root but the tree
/// is the user's, and a root build would leave root-owned files. rustc sits
/// beside the toolchain's cargo, and sudo may have reset PATH: the command has
/// cargo's folder first in its PATH.
pub fn cargo_as_owner(args: &[&str]) -> (PathBuf, Command) {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("<target>/<profile>");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into()));
    let mut cmd = Command::new(&cargo);
    cmd.args(args)
        .args(["--profile", profile, "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(bin_dir) = cargo.parent() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).expect("PATH"));
    }
    let owner = std::fs::metadata(&profile_dir).expect("stat the target dir");
    if is_root() && owner.uid() != 0 {
        cmd.uid(owner.uid()).gid(owner.gid());
        if let Some(home) = home_of(owner.uid()) {
            cmd.env("HOME", home);
        }
    }
    (profile_dir, cmd)
}

/// The workspace's `synlab` binary, up to date (built once per test process).
///
/// Why the test builds it: this package cannot use `CARGO_BIN_EXE_synlab` (cargo
/// sets it only for the tests of the package that owns the binary), and `cargo
/// test` does not rebuild another package's binary, so an existing
/// target/debug/synlab may be older than the sources. Asking cargo (`cargo build
/// -p synlab --bin synlab`) costs well under a second when the binary is fresh
/// and never tests a stale one. It uses the test's own target dir and profile,
/// as the owner of that target dir (see `cargo_as_owner`).
pub fn synlab_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let (profile_dir, mut cmd) =
            cargo_as_owner(&["build", "--quiet", "-p", "synlab", "--bin", "synlab"]);
        let out = cmd.output().expect("run cargo");
        assert!(
            out.status.success(),
            "cargo build -p synlab --bin synlab failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("synlab")
    })
    .clone()
}

/// The home directory of `uid` from /etc/passwd.
pub fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let uid = uid.to_string();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&uid.as_str()))
        .and_then(|f| f.get(5).map(|h| (*h).to_owned()))
}

/// The names in a folder (none when it cannot be read), sorted.
pub fn dir_names(dir: impl AsRef<Path>) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What `ip ARGS` prints, run in the test's (the root) network namespace; fails
/// the test when ip(8) is missing or fails.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("ip(8) (iproute2) is needed to look at the root namespace: {e}")
    });
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `<temp dir>/<name>-<pid>`, empty: whatever an earlier process with the same
/// pid left there is removed first.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create the scratch directory {}: {e}", dir.display()));
    dir
}

/// A private scratch directory (`fresh_dir`), removed on drop (also when an
/// assertion fails).
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(name: &str) -> ScratchDir {
        ScratchDir(fresh_dir(name))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file in the directory; `name` may have a folder that exists.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write a generated file");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

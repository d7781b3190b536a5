//! Helpers shared by the test files: each one that needs them says `mod support;`.
//! Not a test of its own (cargo makes test targets of `tests/*.rs` and
//! `tests/*/main.rs` only). Every test file uses a part of it, so what one of
//! them leaves unused is not dead code.
#![allow(dead_code)]

mod apt;

pub use apt::ensure_installed;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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
        .current_dir(workspace());
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

/// The `synlab` binary cargo built for these tests.
pub fn synlab_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_synlab"))
}

/// The workspace: the folder of the top-level Cargo.toml, `scenarios/` and `tests/`.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ sits in the workspace")
}

/// Without root, put this test process in an unprivileged user namespace
/// (rootless mode, `synlab::rootless`), with one line on stderr saying so
/// unless the tests are only listed; on error, one line and exit code 2.
/// Must run while the process has one thread: see [`enter_rootless_before_main`].
pub fn enter_rootless() {
    let args = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    let listing = args
        .split(|&b| b == 0)
        .any(|a| matches!(a, b"--list" | b"--help" | b"-h"));
    match synlab::enter_user_namespace_if_unprivileged() {
        Ok(synlab::Mode::Rootless { uid, .. }) if !listing => {
            eprintln!("{}", synlab::rootless_note(uid));
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("synlab: {e}");
            std::process::exit(2);
        }
    }
}

/// [`enter_rootless`] for a test binary with the standard harness (`#[test]`):
/// libtest starts its threads before any test runs, so this runs it from an
/// ELF constructor (`.init_array`), before `main`, while the process has one
/// thread (and before std has saved the arguments: hence /proc/self/cmdline).
/// Put `support::enter_rootless_before_main!();` at the top level of the file.
#[allow(unused_macros)]
macro_rules! enter_rootless_before_main {
    () => {
        #[used]
        #[unsafe(link_section = ".init_array")]
        static SYNLAB_ENTER_ROOTLESS_BEFORE_MAIN: extern "C" fn() = {
            extern "C" fn enter_rootless() {
                $crate::support::enter_rootless();
            }
            enter_rootless
        };
    };
}
#[allow(unused_imports)]
pub(crate) use enter_rootless_before_main;

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
    ensure_installed("ip(8)", "iproute2", || runs("ip", &["-V"]));
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

    /// A scenario folder `area` in the directory, holding `files` (name, text).
    pub fn area(&self, area: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.0.join(area);
        std::fs::create_dir_all(&dir).expect("create a scenario folder");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write a scenario");
        }
        dir
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `program ARGS` runs and exits 0.
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What `synlab --scenarios-dir ROOT run AREA --json` printed, run from
/// `root` with its artifacts under it: the exit code, every row, and the
/// run's whole output for failure messages.
pub struct OutsideRun {
    pub code: Option<i32>,
    pub rows: Vec<serde_json::Value>,
    pub context: String,
}

impl OutsideRun {
    /// The case rows.
    pub fn cases(&self) -> Vec<serde_json::Value> {
        self.rows
            .iter()
            .filter(|r| r["type"] == "case")
            .cloned()
            .collect()
    }
}

/// Runs the scenarios of folder `area` under `root` (a folder outside the
/// project) as a user would, with the JSON rows on stdout.
pub fn run_outside(root: &Path, area: &str) -> OutsideRun {
    let out = Command::new(synlab_bin())
        .arg("--scenarios-dir")
        .arg(root)
        .args(["run", area, "--json"])
        .current_dir(root)
        .env_remove("SYNLAB_SCENARIOS")
        .env("SYNLAB_ARTIFACTS", root.join("artifacts"))
        .output()
        .expect("run synlab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = format!(
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{context}")))
        .collect();
    OutsideRun {
        code: out.status.code(),
        rows,
        context,
    }
}

/// Asserts that `row` failed its check of `field`, expected `expected`,
/// saw `seen`, and names the file's line (`loc` ends with `loc_end`).
pub fn assert_failed_check(
    row: &serde_json::Value,
    field: &str,
    (expected, seen): (&str, &str),
    loc_end: &str,
    context: &str,
) {
    assert_eq!(row["verdict"], "fail", "{context}");
    let check = row["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["field"] == field))
        .unwrap_or_else(|| panic!("a {field} check\n{context}"));
    assert_eq!(
        (&check["expected"], &check["seen"]),
        (&expected.into(), &seen.into())
    );
    assert!(
        check["loc"].as_str().is_some_and(|l| l.ends_with(loc_end)),
        "names the line: {check}"
    );
}

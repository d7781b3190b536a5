//! Rootless mode, end to end: the real `synlab` binary and the real scenario test
//! runner (`cargo test`'s tests/scenarios.rs), run by a user without privilege.
//! Where the kernel allows unprivileged user namespaces, they enter one and every
//! case passes, raw peer included, and the files they write belong to that user;
//! where it does not (`SYNLAB_NO_USERNS=1`, or a user namespace whose
//! `user.max_user_namespaces` is 0), they print exactly one line naming the reason
//! and `sudo cargo test`, and exit 2. `run --keep` without root is one line too.
//!
//! As root (`sudo cargo test`, `just test`) the programs run as user nobody
//! (uid 65534, no groups, no capabilities: std's `Command::uid` drops them), from
//! a private copy of the binaries and scenario files that nobody can read; as a
//! normal user they run as that user. A host that forbids user namespaces to that
//! user is detected with util-linux's `unshare` and then checked for the one-line
//! refusal instead (printed loudly).
//! `cargo test --test rootless -- --nocapture` prints what each run printed.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::{cargo_as_owner, dir_names, fresh_dir, is_root, synlab_bin};

/// The unprivileged user the programs run as when the test is root.
const NOBODY: u32 = 65534;

/// `SYNLAB_NO_USERNS=1`: the line both programs print, exactly.
const OPT_OUT_LINE: &str = "synlab: making a network namespace needs root or unprivileged user \
     namespaces (disabled here: SYNLAB_NO_USERNS=1): run `sudo cargo test` or `sudo synlab run ...`";

#[test]
fn rootless_synlab_run_passes_both_ts_off_cases_and_writes_files_as_the_user() {
    let fx = Fixture::get();
    let out = fx.dir.join("out-ts-off");
    fx.make_user_dir(&out);
    let html = out.join("report.html");
    let run = fx.synlab(
        &[
            "run",
            "ts-off",
            "--json",
            "--pcap-dir",
            path(&out),
            "--html",
            path(&html),
        ],
        &[],
    );
    let Some(note) = fx.userns_allowed() else {
        return fx.expect_disabled_line(&run);
    };
    assert_eq!(
        code(&run),
        0,
        "synlab run ts-off as uid {}:\n{}",
        fx.uid,
        show(&run)
    );
    assert_eq!(
        stderr_lines(&run),
        vec![note.as_str()],
        "stderr must be the one rootless note:\n{}",
        show(&run)
    );
    let cases = json_cases(&run);
    let names: Vec<&str> = cases
        .iter()
        .map(|c| c["case"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(names, ["ts-off/ipv4", "ts-off/ipv6"], "{}", show(&run));
    for c in &cases {
        assert_eq!(c["pass"], true, "case {} did not pass:\n{c}", c["case"]);
        println!("{}: trace: {}", c["case"], c["trace_unavailable"]);
    }
    // The user namespace maps root inside to the real user: what it writes is theirs.
    let mut written: Vec<PathBuf> = std::fs::read_dir(&out)
        .expect("read the output dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    written.sort();
    assert_eq!(written.len(), 3, "two pcaps and the html: {written:?}");
    for path in &written {
        let owner = std::fs::metadata(path).expect("stat an output file").uid();
        assert_eq!(owner, fx.uid, "{} belongs to uid {owner}", path.display());
    }
}

#[test]
fn rootless_raw_peer_case_passes() {
    let fx = Fixture::get();
    let case = "paws/ipv6/seq=rcv_nxt-1000/tsval=ts_recent-10";
    let run = fx.synlab(&["run", "paws", "--json", "--filter", case], &[]);
    if fx.userns_allowed().is_none() {
        return fx.expect_disabled_line(&run);
    }
    assert_eq!(code(&run), 0, "{}", show(&run));
    let cases = json_cases(&run);
    assert_eq!(
        cases.len(),
        1,
        "one case for --filter {case}:\n{}",
        show(&run)
    );
    assert_eq!(cases[0]["case"], case);
    assert_eq!(cases[0]["pass"], true, "{}", cases[0]);
}

#[test]
fn rootless_cargo_test_runner_passes_the_ts_off_trials() {
    let fx = Fixture::get();
    let run = fx.runner(&["ts-off"], &[]);
    let Some(note) = fx.userns_allowed() else {
        return fx.expect_disabled_line(&run);
    };
    assert_eq!(code(&run), 0, "{}", show(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("test timewait::ts-off::ipv4 ... ok")
            && stdout.contains("test timewait::ts-off::ipv6 ... ok")
            && stdout.contains("2 passed; 0 failed"),
        "{}",
        show(&run)
    );
    assert_eq!(stderr_lines(&run), vec![note.as_str()], "{}", show(&run));
    // Listing (nextest's first step) stays clean: no note.
    let list = fx.runner(&["--list"], &[]);
    assert_eq!(code(&list), 0, "{}", show(&list));
    assert!(stderr_lines(&list).is_empty(), "{}", show(&list));
}

#[test]
fn without_user_namespaces_both_programs_print_one_line_naming_sudo_cargo_test() {
    let fx = Fixture::get();
    let opt_out = [("SYNLAB_NO_USERNS", "1")];
    for run in [
        fx.synlab(&["run", "ts-off"], &opt_out),
        fx.synlab(&["run", "ts-off", "--json"], &opt_out),
        fx.runner(&["ts-off"], &opt_out),
    ] {
        assert_eq!(code(&run), 2, "{}", show(&run));
        assert!(run.stdout.is_empty(), "nothing on stdout:\n{}", show(&run));
        assert_eq!(stderr_lines(&run), vec![OPT_OUT_LINE], "{}", show(&run));
    }
    // Commands that need no namespace do not care.
    let list = fx.synlab(&["list"], &opt_out);
    assert_eq!(code(&list), 0, "{}", show(&list));
    assert!(stderr_lines(&list).is_empty(), "{}", show(&list));
}

#[test]
fn where_the_kernel_forbids_user_namespaces_the_line_names_the_sysctl() {
    let fx = Fixture::get();
    let mut cmd = fx.command(&fx.synlab, false);
    cmd.arg("--scenarios-dir")
        .arg(&fx.scenarios)
        .args(["run", "ts-off"]);
    // Where the host forbids them already, its own refusal is the case to check.
    let run = if fx.userns_allowed().is_some() {
        run_in_restricted_userns(cmd)
    } else {
        fx.synlab(&["run", "ts-off"], &[])
    };
    if fx.userns_allowed().is_none() {
        return fx.expect_disabled_line(&run);
    }
    assert_eq!(code(&run), 2, "{}", show(&run));
    assert!(run.stdout.is_empty(), "{}", show(&run));
    let lines = stderr_lines(&run);
    assert_eq!(lines.len(), 1, "exactly one line:\n{}", show(&run));
    for needle in [
        "synlab: making a network namespace needs root or unprivileged user namespaces \
         (disabled here: user.max_user_namespaces = 0; unshare(CLONE_NEWUSER): ",
        "run `sudo cargo test`",
    ] {
        assert!(
            lines[0].contains(needle),
            "{needle:?} not in:\n{}",
            lines[0]
        );
    }
}

#[test]
fn keep_without_root_is_one_line_and_makes_nothing() {
    let fx = Fixture::get();
    let before = run_netns();
    let run = fx.synlab(&["run", "ts-off", "--keep"], &[]);
    assert_eq!(code(&run), 2, "{}", show(&run));
    assert_eq!(
        stderr_lines(&run),
        vec![
            "synlab: --keep needs root: the kept namespaces are bind-mounted under /run/netns, \
             which an unprivileged user namespace may not do: run `sudo synlab run ... --keep`"
        ],
        "{}",
        show(&run)
    );
    assert_eq!(run_netns(), before, "/run/netns changed");
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// Binaries and scenario files copied where the unprivileged user can read them.
struct Fixture {
    dir: PathBuf,
    synlab: PathBuf,
    runner: PathBuf,
    scenarios: PathBuf,
    /// The uid the programs run as (nobody when the test is root).
    uid: u32,
    /// `None`: unprivileged user namespaces are off here (see `userns_allowed`).
    userns: Option<String>,
}

impl Fixture {
    fn get() -> &'static Fixture {
        FIXTURE.get_or_init(Fixture::new)
    }

    fn new() -> Fixture {
        let dir = fresh_dir("synlab-rootless");
        // SAFETY: registers a function without arguments that only removes files.
        unsafe { libc::atexit(remove_fixture_dir) };
        set_mode(&dir, 0o755);
        let copy = |from: &Path, name: &str| {
            let to = dir.join(name);
            std::fs::copy(from, &to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
            set_mode(&to, 0o755);
            to
        };
        let synlab = copy(&synlab_bin(), "synlab");
        let runner = copy(&scenario_runner(), "scenarios-runner");
        let scenarios = dir.join("scenarios");
        copy_tree(&support::workspace().join("scenarios"), &scenarios);
        let uid = if is_root() {
            NOBODY
        } else {
            // SAFETY: getuid has no preconditions.
            unsafe { libc::getuid() }
        };
        let mut fx = Fixture {
            dir,
            synlab,
            runner,
            scenarios,
            uid,
            userns: None,
        };
        fx.userns = fx.probe_userns();
        if fx.userns.is_none() {
            println!(
                "*** this host does not let uid {} make user namespaces: the rootless runs are \
                 checked to refuse with one line instead ***",
                fx.uid
            );
        }
        fx
    }

    /// `Some(the expected note)` when the unprivileged user may make user
    /// namespaces here.
    fn userns_allowed(&self) -> Option<&String> {
        self.userns.as_ref()
    }

    /// Whether uid `self.uid` may make a user namespace with a network namespace,
    /// asked of util-linux (not of synlab, which is under test): when `unshare` is
    /// missing, assume yes (then a refusal by synlab fails the tests).
    ///
    /// Equivalent to: `setpriv --reuid=65534 ... unshare --user --map-root-user --net true`.
    fn probe_userns(&self) -> Option<String> {
        let mut cmd = self.command(Path::new("unshare"), true);
        cmd.args(["--user", "--map-root-user", "--net", "true"]);
        let allowed = match cmd.output() {
            Ok(out) => out.status.success(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => panic!("run unshare: {e}"),
        };
        allowed.then(|| {
            format!(
                "synlab: not root (uid {}): running in an unprivileged user namespace \
                 (rootless mode; no state trace)",
                self.uid
            )
        })
    }

    /// Where user namespaces are off: the run is one line naming why, exit 2.
    fn expect_disabled_line(&self, run: &Output) {
        assert_eq!(code(run), 2, "{}", show(run));
        let lines = stderr_lines(run);
        assert_eq!(lines.len(), 1, "{}", show(run));
        assert!(
            lines[0].contains("needs root or unprivileged user namespaces (disabled here: ")
                && lines[0].contains("`sudo cargo test`"),
            "{}",
            show(run)
        );
    }

    /// A directory the unprivileged user may write to.
    fn make_user_dir(&self, path: &Path) {
        let _ = std::fs::remove_dir_all(path);
        std::fs::create_dir(path).expect("create an output dir");
        if is_root() {
            std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
        }
    }

    /// `program` in the fixture dir, with no opt-out or scenarios folder from the
    /// caller's environment; as nobody when `drop_root` and the test is root
    /// (std drops the supplementary groups; setuid from root clears every capability).
    fn command(&self, program: &Path, drop_root: bool) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env_remove("SYNLAB_NO_USERNS")
            .env_remove("SYNLAB_SCENARIOS");
        if drop_root && is_root() {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        cmd
    }

    /// `synlab --scenarios-dir <copy> ARGS` as the unprivileged user.
    fn synlab(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(&self.synlab, true);
        cmd.arg("--scenarios-dir")
            .arg(&self.scenarios)
            .args(args)
            .envs(env.iter().copied());
        self.output(cmd, &format!("synlab {}", args.join(" ")))
    }

    /// The scenario test runner (what `cargo test` runs) as the unprivileged user.
    fn runner(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(&self.runner, true);
        cmd.args(args)
            .env("SYNLAB_SCENARIOS", &self.scenarios)
            .envs(env.iter().copied());
        self.output(cmd, &format!("scenarios runner {}", args.join(" ")))
    }

    fn output(&self, mut cmd: Command, what: &str) -> Output {
        let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
        println!("--- {what} (uid {}):\n{}", self.uid, show(&out));
        out
    }
}

/// The fixture lives in a static, which is never dropped: remove its folder when
/// the test process exits (libtest ends with `process::exit`, which runs atexit).
extern "C" fn remove_fixture_dir() {
    if let Some(fx) = FIXTURE.get() {
        let _ = std::fs::remove_dir_all(&fx.dir);
    }
}

/// Run `cmd` where the kernel forbids user namespaces, without touching the
/// host's sysctls and without root: in a new user namespace whose
/// `user.max_user_namespaces` is 0, as its uid 0 but with no capability at all
/// (none now, none gained by exec: SECBIT_NOROOT), so synlab sees a user without
/// privilege whose unshare(CLONE_NEWUSER) fails with ENOSPC.
///
/// Equivalent to: `unshare -Ur sh -c 'echo 0 > /proc/sys/user/max_user_namespaces;
/// exec setpriv --securebits +noroot,+noroot_locked --inh-caps=-all --bounding-set=-all synlab ...'`.
fn run_in_restricted_userns(mut cmd: Command) -> Output {
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // Formatted here: the child may not allocate.
    let uid_map = format!("0 {uid} 1");
    let gid_map = format!("0 {gid} 1");
    // SAFETY: the closure only makes async-signal-safe system calls (no allocation).
    unsafe {
        cmd.pre_exec(move || {
            check(libc::unshare(libc::CLONE_NEWUSER))?;
            write_file(c"/proc/self/setgroups", b"deny")?;
            write_file(c"/proc/self/uid_map", uid_map.as_bytes())?;
            write_file(c"/proc/self/gid_map", gid_map.as_bytes())?;
            write_file(c"/proc/sys/user/max_user_namespaces", b"0")?;
            // SECBIT_NOROOT | SECBIT_NOROOT_LOCKED: exec as uid 0 gives no capability.
            check(libc::prctl(libc::PR_SET_SECUREBITS, 0b11, 0, 0, 0))?;
            #[repr(C)]
            struct CapHeader {
                version: u32,
                pid: libc::c_int,
            }
            #[repr(C)]
            struct CapData {
                effective: u32,
                permitted: u32,
                inheritable: u32,
            }
            // _LINUX_CAPABILITY_VERSION_3: two 32-bit halves, both empty.
            let header = CapHeader {
                version: 0x2008_0522,
                pid: 0,
            };
            let data = [
                CapData {
                    effective: 0,
                    permitted: 0,
                    inheritable: 0,
                },
                CapData {
                    effective: 0,
                    permitted: 0,
                    inheritable: 0,
                },
            ];
            check(libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as libc::c_int)?;
            Ok(())
        });
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("start synlab in a user namespace without user namespaces: {e}")
    });
    println!(
        "--- synlab in a user namespace with user.max_user_namespaces = 0, no capabilities:\n{}",
        show(&out)
    );
    out
}

/// A negative return of a system call as the error it set.
fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Write `bytes` to `path` with one write(2) (async-signal-safe: for a `pre_exec`).
fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: a NUL-terminated path; the buffer is valid for its length.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd)?;
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n == bytes.len() as isize {
            Ok(())
        } else {
            Err(err)
        }
    }
}

/// A fixture path as an argument (they are ASCII, under the temp dir).
fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Copy a folder of files and folders, every entry readable by everyone.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder");
    set_mode(to, 0o755);
    for entry in std::fs::read_dir(from).expect("read the scenarios folder") {
        let entry = entry.expect("dir entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy a scenario file");
            set_mode(&dst, 0o644);
        }
    }
}

/// The names under /run/netns (named namespaces, `ip netns list`).
fn run_netns() -> Vec<String> {
    dir_names("/run/netns").into_iter().collect()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr_lines(out: &Output) -> Vec<&str> {
    std::str::from_utf8(&out.stderr)
        .expect("stderr is UTF-8")
        .lines()
        .collect()
}

fn json_cases(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
        })
        .filter(|row| row["type"] == "case")
        .collect()
}

fn show(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The scenario test runner that `cargo test` runs (tests/scenarios.rs), up to
/// date, found in cargo's JSON messages.
fn scenario_runner() -> PathBuf {
    let (_, mut cmd) = cargo_as_owner(&[
        "test",
        "--quiet",
        "--no-run",
        "--message-format=json",
        "-p",
        "synlab",
        "--test",
        "scenarios",
    ]);
    let out = cmd.output().expect("run cargo test --no-run");
    assert!(
        out.status.success(),
        "cargo test --no-run --test scenarios failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == "scenarios")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the scenarios test executable")
}

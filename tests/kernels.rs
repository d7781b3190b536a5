//! Root, and a kernel image to boot: one scenario (four PAWS cases) on the
//! running kernel and on Debian's 6.1 in a virtme-ng guest, through
//! `synlab run --kernel host --kernel IMAGE --json`, as a user runs it. Every
//! row names its kernel; 6.1 counts a PAWS reject in TIME_WAIT as
//! `PAWSEstab` (judged by that alias, with a note) and reopens TIME_WAIT with
//! an ordinary ISN; the table marks each difference the running kernel makes
//! visible; no qemu of the run is left.
//!
//! A second trial runs `ts-off` the same way with `--junit FILE --json --html
//! FILE`, then with `--ktap`: one JUnit testcase, one JSON row and one HTML
//! section per case per kernel, each named with its kernel, and KTAP with a
//! subtest per kernel holding every case of it (Contract 6: the outputs mean
//! the same across kernels).
//!
//! Three more (issue 19): a kernel in a folder named `my kernels;x` (the
//! image linked, its modules hard-linked there) boots and passes `ts-off`
//! (vng's `sh -c` line broke on it); a `TMPDIR` named `t;touch INJECTED;`
//! is refused with one line and runs nothing; a `--kernel` run killed by
//! SIGKILL mid-boot leaves no process and nothing in its `TMPDIR` (its guest
//! folder with virtme-run's `virtme_ret*` goes with it).
//!
//! The image: `$SYNLAB_TEST_KERNEL`, else the newest `/boot/vmlinuz-6.1.*`.
//! Without root, an image, vng, qemu or a static busybox the trial is
//! ignored, decided when the trials are listed, and one line says why; with
//! `SYNLAB_TEST_KERNEL` set (as `.ci/kernels` does) a missing piece fails it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

use support::{is_root, synlab_bin, workspace};

const SCENARIO: &str = "paws";
/// Two accepted SYNs (a reopened TIME_WAIT: its ISN) and two PAWS rejects.
const FILTER: &str = "ipv4/seq=rcv_nxt+1/tsval=ts_recent";
/// The environment variable that tags every process of the run (qemu too).
const TAG: &str = "SYNLAB_KERNEL_TEST_RUN";

fn main() {
    let args = Arguments::from_args();
    let required = std::env::var_os("SYNLAB_TEST_KERNEL").is_some();
    let image = test_image();
    let missing = image.as_ref().err().cloned().or_else(missing_piece);
    if let Some(why) = &missing
        && !args.list
    {
        if required {
            eprintln!("kernels: SYNLAB_TEST_KERNEL is set, so this fails: {why}");
        } else {
            eprintln!("skip kernels::paws_on_host_and_debian_6_1: {why}");
        }
    }
    // Ignored when something is missing and nobody required the run.
    let ignored = missing.is_some() && !required;
    let trial = |name: &str, test: fn(&Path) -> Result<(), Failed>| {
        let (missing, image) = (missing.clone(), image.clone());
        Trial::test(name, move || {
            if let Some(why) = missing {
                return Err(format!("not run: {why}").into());
            }
            test(&image.map_err(Failed::from)?)
        })
        .with_ignored_flag(ignored)
    };
    let trials = vec![
        trial("kernels::paws_on_host_and_debian_6_1", run),
        trial(
            "kernels::junit_json_and_ktap_name_every_case_of_every_kernel",
            outputs,
        ),
        trial(
            "kernels::a_kernel_folder_with_a_space_and_a_semicolon_boots",
            odd_kernel_path,
        ),
        trial(
            "kernels::a_tmpdir_with_shell_syntax_is_refused_and_runs_nothing",
            shell_tmpdir,
        ),
        trial(
            "kernels::a_kernel_run_killed_by_sigkill_leaves_nothing",
            killed_run,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

fn test_image() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SYNLAB_TEST_KERNEL") {
        return Ok(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-6.1."))
        })
        .collect();
    found.sort();
    found.pop().ok_or_else(|| {
        "no /boot/vmlinuz-6.1.* and SYNLAB_TEST_KERNEL is not set (apt-get install \
         linux-image-amd64 on Debian bookworm, or run .ci/kernels)"
            .to_string()
    })
}

fn in_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// What keeps the run from happening here, if anything.
fn missing_piece() -> Option<String> {
    if !is_root() {
        return Some("needs root (sudo cargo test)".into());
    }
    if std::env::var_os("SYNLAB_VNG").is_none() && !in_path("vng") {
        return Some(
            "virtme-ng's vng is not in PATH (pip install virtme-ng, or SYNLAB_VNG)".into(),
        );
    }
    if !in_path("qemu-system-x86_64") {
        return Some("qemu-system-x86_64 is not in PATH (apt-get install qemu-system-x86)".into());
    }
    // `synlab kernels` says whether it found a static busybox.
    let out = Command::new(synlab_bin())
        .arg("kernels")
        .env("SYNLAB_NO_KVM", "1")
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("static busybox: none"))
        .map(|l| format!("{l} (set SYNLAB_BUSYBOX)"))
}

fn release_of(image: &Path) -> String {
    // The release as `synlab kernels` reads it (the bzImage header), which
    // for Debian's images is also the file name's.
    image
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap_or("")
        .to_string()
}

/// `a.b` of a release, compared as numbers.
fn version(release: &str) -> (u32, u32) {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn tagged_processes(tag: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let env = std::fs::read(e.path().join("environ")).ok()?;
            let hit = env.split(|&b| b == 0).any(|kv| kv == tag.as_bytes());
            hit.then(|| {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            })
        })
        .collect()
}

fn run(image: &Path) -> Result<(), Failed> {
    let guest = release_of(image);
    let host = synlab::kernel_release();
    let tag_value = format!("{}", std::process::id());
    let tag = format!("{TAG}={tag_value}");
    let out = Command::new(synlab_bin())
        .current_dir(workspace())
        .args([
            "run", SCENARIO, "--filter", FILTER, "--kernel", "host", "--kernel",
        ])
        .arg(image)
        .arg("--json")
        .env(TAG, &tag_value)
        .output()
        .map_err(|e| format!("start synlab: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let table = String::from_utf8_lossy(&out.stderr);
    let context = format!(
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{table}",
        out.status.code()
    );
    let left = tagged_processes(&tag);
    if !left.is_empty() {
        return Err(format!("processes of the run left behind: {left:?}\n{context}").into());
    }
    if out.status.code() != Some(0) {
        return Err(format!("synlab did not exit 0\n{context}").into());
    }
    let all: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("not JSON ({e}): {l}")))
        .collect::<Result<_, _>>()?;
    // Each kernel's rows end with its summary row (Contract 2's `type`).
    let (summaries, rows): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|r| r["type"] == "summary");
    let of = |k: &str| rows.iter().filter(|r| r["kernel"] == k).collect::<Vec<_>>();
    let (on_host, on_guest) = (of(&host), of(&guest));
    if on_host.len() != 4 || on_guest.len() != 4 || rows.len() != 8 {
        return Err(format!("want 4 rows per kernel ({host}, {guest})\n{context}").into());
    }
    let summary_of = |k: &str| summaries.iter().filter(|r| r["kernel"] == k).count();
    if summaries.len() != 2
        || summary_of(&host) != 1
        || summary_of(&guest) != 1
        || summaries
            .iter()
            .any(|r| r["counts"]["pass"] != 4 || r["pass"] != true)
    {
        return Err(format!("want one summary row per kernel, 4 passed each\n{context}").into());
    }
    for r in &rows {
        if r["verdict"] != "pass" {
            return Err(format!(
                "{} on {}: {}\n{context}",
                r["case"], r["kernel"], r["verdict"]
            )
            .into());
        }
    }
    let check = |ok: bool, what: &str| -> Result<(), Failed> {
        if ok {
            Ok(())
        } else {
            Err(format!("{what}\n{context}").into())
        }
    };
    // 6.1: a PAWS reject counts PAWSEstab, and PAWSTimewait is judged by it.
    let rejects: Vec<&&Value> = on_guest.iter().filter(|r| r["answer"] == "ack").collect();
    check(
        rejects.len() == 2,
        "two PAWS rejects (answer ack) on the guest",
    )?;
    for r in &rejects {
        check(
            r["counters"]["TcpExt.PAWSEstab"] == 1,
            "6.1 counts a PAWS reject as PAWSEstab",
        )?;
        let noted = r["checks"].as_array().into_iter().flatten().any(|c| {
            c["field"] == "counters.TcpExt.PAWSTimewait"
                && c["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("judged by that"))
        });
        check(
            noted,
            "the PAWSTimewait expectation is judged by PAWSEstab, with a note",
        )?;
    }
    // 6.1 reopens TIME_WAIT with an ordinary ISN (6.10 and later: snd_nxt + 65537).
    for r in on_guest.iter().filter(|r| r["answer"] == "syn-ack") {
        check(
            r["reopen_isn"]["from_time_wait"] == false,
            "6.1's SYN-ACK has an ordinary ISN",
        )?;
    }
    // The table marks what this host makes different.
    let marked = |needle: &str| {
        table
            .lines()
            .filter(|l| l.starts_with('*') && l.contains(needle))
            .count()
    };
    if version(&host) >= (6, 16) {
        check(
            marked("counters: PAWSEstab PAWSTimewait") == 2,
            "the table marks the PAWS counter",
        )?;
    } else {
        eprintln!(
            "kernels: host {host} predates PAWSTimewait (6.16): no counter difference to see"
        );
    }
    if version(&host) >= (6, 10) {
        check(
            marked("reopen_isn") == 2,
            "the table marks the reopened ISN",
        )?;
    } else {
        eprintln!(
            "kernels: host {host} predates the TIME_WAIT ISN (6.10): no ISN difference to see"
        );
    }
    Ok(())
}

/// `synlab run ts-off --kernel host --kernel IMAGE ARGS...` in a folder of
/// its own: its output, and the folder.
fn ts_off_on_both(image: &Path, args: &[&str]) -> (std::process::Output, support::ScratchDir) {
    let dir = support::ScratchDir::new("synlab-kernels-outputs");
    let out = Command::new(synlab_bin())
        .current_dir(dir.path())
        .args(["run", "ts-off", "--kernel", "host", "--kernel"])
        .arg(image)
        .args(args)
        .env_remove("SYNLAB_ARTIFACTS")
        .output()
        .expect("start synlab");
    (out, dir)
}

fn outputs(image: &Path) -> Result<(), Failed> {
    let guest = release_of(image);
    let host = synlab::kernel_release();
    let kernels = [format!("host {host}"), guest.clone()];
    let (out, dir) = ts_off_on_both(image, &["--junit", "j.xml", "--json", "--html", "h.html"]);
    let context = |out: &std::process::Output| {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let check = |ok: bool, what: &str, out: &std::process::Output| -> Result<(), Failed> {
        if ok {
            Ok(())
        } else {
            Err(format!("{what}\n{}", context(out)).into())
        }
    };
    check(out.status.code() == Some(0), "synlab exits 0", &out)?;
    // One row per case per kernel.
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("not JSON ({e}): {l}")))
        .collect::<Result<_, _>>()?;
    for kernel in [&host, &guest] {
        let mut cases: Vec<&str> = rows
            .iter()
            .filter(|r| r["type"] == "case" && r["kernel"] == kernel.as_str())
            .filter_map(|r| r["case"].as_str())
            .collect();
        cases.sort_unstable();
        check(
            cases == ["ts-off/ipv4", "ts-off/ipv6"],
            &format!("one row per case on {kernel}"),
            &out,
        )?;
    }
    // One testcase per case per kernel, named with its kernel.
    let xml = std::fs::read_to_string(dir.path().join("j.xml"))
        .map_err(|e| format!("the JUnit file: {e}\n{}", context(&out)))?;
    check(
        xml.matches("<testcase ").count() == 4,
        &format!("four testcases in the JUnit file:\n{xml}"),
        &out,
    )?;
    for kernel in &kernels {
        for case in ["ts-off/ipv4", "ts-off/ipv6"] {
            let name = format!("<testcase name=\"{case} [{kernel}]\"");
            check(xml.contains(&name), &format!("{name} in:\n{xml}"), &out)?;
        }
    }
    // The HTML page: every kernel's cases, named with the kernel.
    let html = std::fs::read_to_string(dir.path().join("h.html"))
        .map_err(|e| format!("the HTML page: {e}\n{}", context(&out)))?;
    check(
        html.matches("<section class=\"case pass\"").count() == 4,
        "four case sections in the HTML page",
        &out,
    )?;
    for kernel in &kernels {
        let name = format!("timewait::ts-off::ipv6 [{kernel}]");
        check(
            html.contains(&name),
            &format!("{name} in the HTML page"),
            &out,
        )?;
    }
    // KTAP: a subtest per kernel, every case of it.
    let (out, _dir) = ts_off_on_both(image, &["--ktap"]);
    check(out.status.code() == Some(0), "synlab --ktap exits 0", &out)?;
    let ktap = String::from_utf8_lossy(&out.stdout).into_owned();
    let want = format!(
        "KTAP version 1\n1..2\n\
         \x20 KTAP version 1\n  # Subtest: {0}\n  1..2\n  ok 1 timewait::ts-off::ipv4\n  ok 2 timewait::ts-off::ipv6\nok 1 {0}\n\
         \x20 KTAP version 1\n  # Subtest: {1}\n  1..2\n  ok 1 timewait::ts-off::ipv4\n  ok 2 timewait::ts-off::ipv6\nok 2 {1}\n\
         # Totals: pass:4 fail:0 xfail:0 xpass:0 skip:0 error:0\n",
        kernels[0], kernels[1]
    );
    check(ktap == want, &format!("KTAP as wanted:\n{want}"), &out)?;
    check(
        String::from_utf8_lossy(&out.stderr).contains("case by kernel"),
        "the table on stderr beside KTAP",
        &out,
    )
}

/// `synlab ARGS` in `cwd` with `TMPDIR`, tagged with `TAG`.
fn synlab_in(cwd: &Path, tmpdir: &Path, tag: &str, args: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new(synlab_bin());
    cmd.current_dir(cwd)
        .args(args)
        .env("TMPDIR", tmpdir)
        .env_remove("SYNLAB_SCENARIOS")
        .env("SYNLAB_ARTIFACTS", cwd.join("artifacts"))
        .env(TAG, tag);
    cmd
}

fn said(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `from` recreated at `to` with hard links (the same files, no copy):
/// links stay links.
fn hard_link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            hard_link_tree(&src, &dst)?;
        } else {
            std::fs::hard_link(&src, &dst)?;
        }
    }
    Ok(())
}

/// The image and its modules where a shell would split or end a line.
fn odd_kernel_path(image: &Path) -> Result<(), Failed> {
    let release = release_of(image);
    // Its modules where synlab finds them: beside `boot/` (an extracted
    // .deb, merged /usr or not; `/lib/modules` for an image in /boot).
    let top = image
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/"));
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|m| top.join(m).join(&release))
        .find(|m| m.is_dir())
        .ok_or_else(|| format!("no lib/modules/{release} beside {}", image.display()))?;
    let scratch = support::ScratchDir::new("synlab-odd-kernel");
    let dir = scratch.path().join("my kernels;x");
    std::fs::create_dir_all(dir.join("boot")).map_err(|e| e.to_string())?;
    let at = dir.join("boot").join(format!("vmlinuz-{release}"));
    std::os::unix::fs::symlink(image, &at).map_err(|e| e.to_string())?;
    if let Some(config) = image.parent().map(|p| p.join(format!("config-{release}")))
        && config.is_file()
    {
        std::fs::copy(&config, dir.join("boot").join(format!("config-{release}")))
            .map_err(|e| e.to_string())?;
    }
    hard_link_tree(&modules, &dir.join("lib/modules").join(&release)).map_err(|e| {
        format!(
            "hard-link {} into {} (one file system needed; TMPDIR on the same one as /lib): {e}",
            modules.display(),
            scratch.path().display()
        )
    })?;
    let tag = format!("odd-{}", std::process::id());
    let out = synlab_in(
        scratch.path(),
        Path::new("/tmp"),
        &tag,
        &[
            "run".as_ref(),
            "ts-off".as_ref(),
            "--filter".as_ref(),
            "ipv4".as_ref(),
            "--kernel".as_ref(),
            at.as_os_str(),
            "--json".as_ref(),
        ],
    )
    .output()
    .map_err(|e| format!("start synlab: {e}"))?;
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &Value| r["type"] == "case")
        .collect();
    if out.status.code() != Some(0) || rows.len() != 1 || rows[0]["kernel"] != release.as_str() {
        return Err(format!(
            "want ts-off/ipv4 to pass on {release} booted from {}\n{}",
            at.display(),
            said(&out)
        )
        .into());
    }
    Ok(())
}

/// A `TMPDIR` whose name is shell syntax: refused before anything starts.
fn shell_tmpdir(image: &Path) -> Result<(), Failed> {
    let scratch = support::ScratchDir::new("synlab-shell-tmpdir");
    let tmp = scratch.path().join("t;touch INJECTED;");
    std::fs::create_dir(&tmp).map_err(|e| e.to_string())?;
    let tag = format!("tmpdir-{}", std::process::id());
    let out = synlab_in(
        scratch.path(),
        &tmp,
        &tag,
        &[
            "run".as_ref(),
            "ts-off".as_ref(),
            "--filter".as_ref(),
            "ipv4".as_ref(),
            "--kernel".as_ref(),
            image.as_os_str(),
        ],
    )
    .output()
    .map_err(|e| format!("start synlab: {e}"))?;
    // The refusal is the kernel's column: on stdout, in the text report.
    let text = said(&out);
    let injected: Vec<PathBuf> = [
        scratch.path(),
        tmp.as_path(),
        Path::new("/"),
        Path::new("/tmp"),
    ]
    .iter()
    .map(|d| d.join("INJECTED"))
    .filter(|p| p.exists())
    .collect();
    let made = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    if !injected.is_empty()
        || made != 0
        || out.status.code() != Some(2)
        || !text.contains("TMPDIR) is not a plain path")
    {
        return Err(format!(
            "want exit 2, 'not a plain path' and nothing made; INJECTED at {injected:?}, \
             {made} entries in TMPDIR\n{text}"
        )
        .into());
    }
    Ok(())
}

/// What is in `dir`, by name.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Kill a `--kernel` run once its guest folder holds virtme-run's files:
/// no process of it stays, and its TMPDIR is empty again.
fn killed_run(image: &Path) -> Result<(), Failed> {
    let scratch = support::ScratchDir::new("synlab-killed-kernel");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir(&tmp).map_err(|e| e.to_string())?;
    let tag = format!("killed-{}", std::process::id());
    let args = [
        "run".as_ref(),
        "ts-off".as_ref(),
        "--filter".as_ref(),
        "ipv4".as_ref(),
        "--kernel".as_ref(),
        image.as_os_str(),
    ];
    let mut child = synlab_in(scratch.path(), &tmp, &tag, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("start synlab: {e}"))?;
    // Wait (up to 120 s) until virtme-run made its return-code file: the
    // guest is booting.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let guest = loop {
        let found = names_in(&tmp)
            .into_iter()
            .find(|n| n.starts_with("synlab-vm-"));
        if let Some(g) = &found
            && names_in(&tmp.join(g))
                .iter()
                .any(|n| n.starts_with("virtme_ret"))
        {
            break tmp.join(g);
        }
        if std::time::Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            return Err(format!(
                "no guest folder with virtme_ret* in {} within 120 s: {:?}",
                tmp.display(),
                names_in(&tmp)
            )
            .into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    child.kill().map_err(|e| format!("SIGKILL synlab: {e}"))?;
    let _ = child.wait();
    // qemu dies with its PID namespace: wait for it, 10 s at most.
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let tagged = format!("{TAG}={tag}");
    while !tagged_processes(&tagged).is_empty() && std::time::Instant::now() < gone {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let left = tagged_processes(&tagged);
    // The guest's folder, virtme-run's files in it, goes with synlab: wait
    // for an empty TMPDIR, 10 s at most.
    while !names_in(&tmp).is_empty() && std::time::Instant::now() < gone {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let after = names_in(&tmp);
    if !left.is_empty() || !after.is_empty() {
        return Err(format!(
            "after SIGKILL of synlab (its guest folder was {}): processes {left:?}; \
             in TMPDIR {after:?}",
            guest.display()
        )
        .into());
    }
    Ok(())
}

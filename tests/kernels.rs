//! Root, and a kernel image to boot: one scenario (four PAWS cases) on the
//! running kernel and on Debian's 6.1 in a virtme-ng guest, through
//! `synlab run --kernel host --kernel IMAGE --json`, as a user runs it. Every
//! row names its kernel; 6.1 counts a PAWS reject in TIME_WAIT as
//! `PAWSEstab` (judged by that alias, with a note) and reopens TIME_WAIT with
//! an ordinary ISN; the table marks each difference the running kernel makes
//! visible; no qemu of the run is left.
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
    let trial = Trial::test("kernels::paws_on_host_and_debian_6_1", move || {
        if let Some(why) = missing {
            return Err(format!("not run: {why}").into());
        }
        run(&image.map_err(Failed::from)?)
    })
    .with_ignored_flag(ignored);
    libtest_mimic::run(&args, vec![trial]).exit();
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

//! The guest's side of a kernel run: the script the host writes for it (the
//! same synlab binary, the same cases, `--json` into the writable folder, then
//! the exit code), and reading back what it left. Also: telling a kernel that
//! cannot run the lab at all from cases that failed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::report::json::read::{self, Line};
use crate::rows::Row;

use super::vm::{READ_LIMIT, sh_quote};

/// Cases a guest runs at once: the guest has one vCPU, and two jobs were
/// faster than one there (waits overlap) and as fast as four or eight.
pub const GUEST_JOBS: &str = "2";

/// What the guest runs: `synlab [--scenarios-dir ROOT] run ARGS... --json -j 2`.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// This synlab binary (the host's file, visible read-only in the guest).
    pub exe: PathBuf,
    /// `--scenarios-dir`, when the user chose a folder (absolute).
    pub scenarios_dir: Option<PathBuf>,
    /// The selection: scenario names or absolute paths, or `--all`, and
    /// `--filter TEXT`.
    pub args: Vec<String>,
    /// `--pcap-dir` into the writable folder.
    pub pcap: bool,
    /// The host's working folder: the guest's too, so that paths in the
    /// reports read the same on every kernel.
    pub cwd: PathBuf,
}

/// The guest script: records the release and the clock source, runs synlab
/// with its rows, stderr, pcaps and artifacts in `rw`, times the run on the
/// guest's clock, and writes the exit code last.
pub fn suite_script(inv: &Invocation, rw: &Path) -> String {
    let rw_q = sh_quote(&rw.display().to_string());
    let mut argv = vec![sh_quote(&inv.exe.display().to_string())];
    if let Some(dir) = &inv.scenarios_dir {
        argv.push("--scenarios-dir".into());
        argv.push(sh_quote(&dir.display().to_string()));
    }
    argv.push("run".into());
    argv.extend(inv.args.iter().map(|a| sh_quote(a)));
    argv.extend(["--json".into(), "-j".into(), GUEST_JOBS.into()]);
    if inv.pcap {
        argv.push("--pcap-dir".into());
        argv.push("\"$RW/pcap\"".into());
    }
    format!(
        "# synlab run --kernel: the guest's side, written by the host.\n\
         RW={rw_q}\n\
         cd {} 2>/dev/null || cd /\n\
         uname -r > \"$RW/release\"\n\
         cat /sys/devices/system/clocksource/clocksource0/current_clocksource > \"$RW/clocksource\" 2>/dev/null\n\
         date +%s%N > \"$RW/started\"\n\
         SYNLAB_ARTIFACTS=\"$RW/artifacts\" {} > \"$RW/rows.jsonl\" 2> \"$RW/stderr\"\n\
         code=$?\n\
         date +%s%N > \"$RW/ended\"\n\
         echo $code > \"$RW/exit\"\n",
        sh_quote(&inv.cwd.display().to_string()),
        argv.join(" ")
    )
}

/// The boot-only script of `synlab bench --kernel`: like `vng ... -- true`,
/// plus the `exit` file that says the guest got there.
pub fn true_script(rw: &Path) -> String {
    format!(
        "true\necho $? > {}\n",
        sh_quote(&rw.join("exit").display().to_string())
    )
}

/// What a guest left in its writable folder.
#[derive(Debug, Default)]
pub struct Results {
    /// `uname -r` inside.
    pub release: Option<String>,
    /// `kvm-clock` proves KVM from the inside; `hpet`/`tsc` under TCG.
    pub clocksource: Option<String>,
    /// synlab's run inside, on the guest's clock.
    pub suite: Option<Duration>,
    /// Each line of its `--json` output, typed (or why it is not a row).
    pub lines: Vec<Line>,
    pub stderr: String,
}

/// Read what the guest left in its writable folder `rw` (each file inside
/// it only, never through a link).
pub fn read(rw: &Path) -> Results {
    let file = |name: &str| {
        crate::files::read_inside(rw, Path::new(name), READ_LIMIT)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let word = |name: &str| {
        file(name)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let ns = |name: &str| word(name).and_then(|s| s.parse::<u64>().ok());
    let suite = match (ns("started"), ns("ended")) {
        (Some(a), Some(b)) if b >= a => Some(Duration::from_nanos(b - a)),
        _ => None,
    };
    Results {
        release: word("release"),
        clocksource: word("clocksource"),
        suite,
        lines: read::read(&file("rows.jsonl").unwrap_or_default()),
        stderr: file("stderr").unwrap_or_default(),
    }
}

/// The release a guest wrote (`uname -r` there), when it is one: printable
/// ASCII without spaces, `/` or `..`, at most 64 bytes (`struct utsname`'s
/// field holds 65 with its NUL). It names a folder on the host, so anything
/// else is refused.
pub fn valid_release(s: &str) -> Result<&str, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
        && !s.contains("..")
        && s != ".";
    if ok {
        Ok(s)
    } else {
        Err(format!(
            "the guest's release {:?} is not a kernel release (printable, no `/` or `..`, \
             at most 64 bytes): refused",
            s.chars().take(80).collect::<String>()
        ))
    }
}

/// Why this kernel cannot run the lab at all, when that is what the guest's
/// run shows: synlab's environment error (exit 2: e.g. no network namespace
/// could be made), or every case failing on the same missing piece of the
/// kernel. `None`: the cases' own results stand.
pub fn lab_unsupported(exit: i32, lines: &[Line], stderr: &str) -> Option<String> {
    if exit == 2 {
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("synlab:"))
            .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("synlab exited 2 with nothing on stderr");
        return Some(
            missing_piece(line).map_or_else(|| line.to_string(), |p| format!("{p}: {line}")),
        );
    }
    let errors: Vec<&str> = lines
        .iter()
        .filter(|l| !matches!(l, Line::Row(Row::Summary(_))))
        .map(|l| match l {
            Line::Row(Row::Error(e)) => Some(e.error.as_str()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let first = errors.first()?;
    let piece = missing_piece(first)?;
    errors
        .iter()
        .all(|e| missing_piece(e) == Some(piece))
        .then(|| {
            format!(
                "{piece}: every case failed with: {}",
                first.lines().next().unwrap_or("")
            )
        })
}

/// The kernel feature an error message shows missing.
fn missing_piece(msg: &str) -> Option<&'static str> {
    let has = |s: &str| msg.contains(s);
    if has("veth") && (has("Operation not supported") || has("os error 95")) {
        Some("no veth (CONFIG_VETH, module veth)")
    } else if has("Address family not supported") || has("os error 97") {
        Some("no AF_PACKET (CONFIG_PACKET)")
    } else if has("unshare") && (has("Invalid argument") || has("os error 22")) {
        Some("no network namespaces (CONFIG_NET_NS)")
    } else if has("sock_diag")
        && (has("No such file") || has("os error 2)") || has("not supported"))
    {
        Some("no sock_diag (CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of `rows`, each a JSON object as a guest prints it.
    fn lines(rows: &[String]) -> Vec<Line> {
        read::read(&rows.join("\n"))
    }

    fn error_row(case: &str, error: &str) -> String {
        serde_json::json!({"type": "error", "version": 1, "scenario": "a", "case": case,
            "trial": format!("t::{case}"), "file": "f", "kernel": "k", "error": error, "pass": false})
        .to_string()
    }

    #[test]
    fn the_script_runs_the_same_cases_with_json_and_writes_the_exit_code_last() {
        let inv = Invocation {
            exe: "/work/target/debug/synlab".into(),
            scenarios_dir: Some("/work/it's/scenarios".into()),
            args: vec!["--all".into(), "--filter".into(), "ipv4".into()],
            pcap: true,
            cwd: "/work".into(),
        };
        let s = suite_script(&inv, Path::new("/tmp/synlab-vm-x/rw"));
        assert!(
            s.contains("RW='/tmp/synlab-vm-x/rw'\ncd '/work' 2>/dev/null || cd /\n"),
            "{s}"
        );
        assert!(
            s.contains(
                "SYNLAB_ARTIFACTS=\"$RW/artifacts\" '/work/target/debug/synlab' --scenarios-dir \
                 '/work/it'\\''s/scenarios' run '--all' '--filter' 'ipv4' --json -j 2 \
                 --pcap-dir \"$RW/pcap\" > \"$RW/rows.jsonl\" 2> \"$RW/stderr\"\n"
            ),
            "{s}"
        );
        assert!(s.ends_with("echo $code > \"$RW/exit\"\n"), "{s}");
    }

    #[test]
    fn a_release_is_a_word_never_a_path() {
        for good in ["6.1.0-57-amd64", "6.18.44-fc-v1252", "7.0.0-rc1+"] {
            assert_eq!(valid_release(good), Ok(good));
        }
        for bad in [
            "../../x",
            "/etc",
            "a/b",
            "..",
            ".",
            "",
            "6.1 x",
            "6.1\n",
            &"9".repeat(65),
        ] {
            assert!(valid_release(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_kernel_without_veth_is_told_once_not_as_failed_cases() {
        let e = "server namespace: ip link add type veth peer netns: Received a netlink error \
                 message Operation not supported (os error 95)";
        let rows = vec![error_row("a/1", e), error_row("a/2", e)];
        let why = lab_unsupported(1, &lines(&rows), "").expect("kernel-level");
        assert!(
            why.starts_with(
                "no veth (CONFIG_VETH, module veth): every case failed with: server namespace"
            ),
            "{why}"
        );
        // One case that ran: the cases speak for themselves.
        let mut mixed = rows.clone();
        mixed.push(
            serde_json::json!({"type": "skip", "version": 1, "scenario": "a", "case": "a/3",
                "trial": "t", "file": "f", "kernel": "k", "reason": "r", "pass": false})
            .to_string(),
        );
        assert_eq!(lab_unsupported(1, &lines(&mixed), ""), None);
        // A timeout in every case is not a missing kernel feature.
        let t = vec![error_row("a/1", "timed out after 5000 ms waiting for x")];
        assert_eq!(lab_unsupported(1, &lines(&t), ""), None);
    }

    #[test]
    fn synlab_exit_2_in_the_guest_is_the_kernels_problem() {
        let why = lab_unsupported(
            2,
            &[],
            "note\nsynlab: cannot make a network namespace: unshare(CLONE_NEWNET): Invalid argument (os error 22)\n",
        )
        .unwrap();
        assert_eq!(
            why,
            "no network namespaces (CONFIG_NET_NS): synlab: cannot make a network namespace: \
             unshare(CLONE_NEWNET): Invalid argument (os error 22)"
        );
    }
}

//! `synlab run ... --kernel host --kernel IMAGE ...`: the same cases on every
//! kernel named, up to `-j` kernels at once: `host` in-process, each image in
//! a virtme-ng guest that runs this binary with `--json`. Then, per kernel,
//! what did not pass, and the one table, case by kernel.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use synlab::SafeDir;
use synlab::report::json;
use synlab::scenario::Case;

use super::guest::{self, Invocation};
use super::host;
use super::image::Image;
use super::kvm::{self, Accel};
use super::rows::{self, Cell, Verdict};
use super::table::{self, Column};
use super::tools::Tools;
use super::vm::{self, Ended, Workdir};

/// A kernel to run on.
#[derive(Debug, Clone)]
pub enum Target {
    Host,
    Image(Image),
}

/// What the multi-kernel run needs from `synlab run`'s arguments.
#[derive(Debug, Clone)]
pub struct Request {
    /// The user's scenario folder, if one was chosen (absolute); the guest
    /// looks there first, then at the scenarios built into synlab.
    pub scenarios_dir: Option<PathBuf>,
    /// Passed on to the guest: `--all` or the scenarios (paths made
    /// absolute), and `--filter TEXT`.
    pub selection: Vec<String>,
    pub json: bool,
    pub jobs: usize,
    pub pcap_dir: Option<PathBuf>,
    pub artifacts: PathBuf,
}

/// One kernel's results.
struct KernelRun {
    /// Column heading: `host 6.18.44-...` or the image's release.
    label: String,
    /// Where the rows came from, in words.
    how: String,
    rows: Vec<Value>,
    /// The kernel could not run the lab (or did not boot): why. Said once.
    cannot: Option<String>,
    /// Lines for stderr about what came back (stray output, refused paths).
    notes: Vec<String>,
    took: Duration,
}

/// Where a boot's time went, for the kernel's heading.
fn boot_detail(wall: Duration, res: &guest::Results) -> String {
    let mut s = format!("{:.1} s wall time of vng", wall.as_secs_f64());
    if let Some(suite) = res.suite {
        s.push_str(&format!(
            " (suite {:.1} s inside, boot and shutdown {:.1} s)",
            suite.as_secs_f64(),
            wall.saturating_sub(suite).as_secs_f64()
        ));
    }
    if let Some(c) = &res.clocksource {
        s.push_str(&format!(", guest clocksource {c}"));
    }
    s
}

/// The host-side deadline of one guest: `$SYNLAB_VM_TIMEOUT` seconds, else a
/// boot allowance plus every case's own deadline shared by the guest's jobs.
pub fn guest_limit(cases: &[Case], accel: &Accel) -> Duration {
    if let Some(s) = std::env::var("SYNLAB_VM_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_secs(s);
    }
    let boot = Duration::from_secs(if accel.kvm { 90 } else { 240 });
    boot + cases.iter().map(|c| c.timeout).sum::<Duration>() / 2
}

/// Run one image's guest and read back its rows.
fn run_image(
    img: &Image,
    cases: &[Case],
    tools: &Tools,
    accel: &Accel,
    inv: &Invocation,
    limit: Duration,
    req: &Request,
) -> KernelRun {
    let started = Instant::now();
    let mut run = KernelRun {
        label: img.release.clone(),
        how: format!(
            "{} booted with {} ({}, {} vCPU)",
            img.path.display(),
            tools.vng_version,
            accel.describe(),
            vm::CPUS
        ),
        rows: vec![],
        cannot: None,
        notes: vec![],
        took: Duration::ZERO,
    };
    let blockers = img.blockers();
    if !blockers.is_empty() {
        run.how = format!("{} (not booted)", img.path.display());
        run.cannot = Some(format!(
            "cannot run the lab ({}): {}",
            img.config
                .as_ref()
                .map_or(String::new(), |c| c.display().to_string()),
            blockers.join("; ")
        ));
        return run;
    }
    let work = match Workdir::new(&img.release) {
        Ok(w) => w,
        Err(e) => {
            run.cannot = Some(e);
            return run;
        }
    };
    eprintln!(
        "kernel {}: booting {} ({}, limit {} s)",
        img.release,
        img.path.display(),
        accel.describe(),
        limit.as_secs()
    );
    let script = guest::suite_script(inv, &work.rw());
    let booted = match vm::boot(tools, img, accel, &work, &script, limit) {
        Ok(b) => b,
        Err(e) => {
            run.cannot = Some(e);
            return run;
        }
    };
    let res = guest::read(&work.rw());
    run.took = started.elapsed();
    run.how
        .push_str(&format!(": {}", boot_detail(booted.wall, &res)));
    settle(&mut run, res, booted.ended, &work.rw(), cases, req);
    for note in &run.notes {
        eprintln!("kernel {}: {note}", run.label);
    }
    eprintln!(
        "kernel {}: done in {:.1} s",
        run.label,
        run.took.as_secs_f64()
    );
    run
}

/// What a guest's run gave, read back as data: its release (the column's
/// label, when it is a release), its rows (the pcaps they name brought back
/// from inside `rw` only; a case without a row is an error), or why the
/// kernel could not run the lab.
fn settle(
    run: &mut KernelRun,
    res: guest::Results,
    ended: Ended,
    rw: &Path,
    cases: &[Case],
    req: &Request,
) {
    if let Some(r) = &res.release
        && r != &run.label
    {
        match guest::valid_release(r) {
            Ok(r) => run.label = r.to_string(),
            Err(e) => run.notes.push(e),
        }
    }
    for line in &res.stray {
        run.notes.push(format!("stray output in the rows: {line}"));
    }
    match ended {
        Ended::Script(code) => {
            if let Some(why) = guest::lab_unsupported(code, &res.rows, &res.stderr) {
                run.cannot = Some(format!("cannot run the lab: {why}"));
            } else {
                run.rows = res.rows;
                let notes = bring_back(&mut run.rows, rw, &run.label, req);
                run.notes.extend(notes);
                let missing = fill_missing(&mut run.rows, cases, &run.label);
                if missing > 0 {
                    run.notes.push(format!(
                        "{missing} of {} cases returned no row: each is an error",
                        cases.len()
                    ));
                }
            }
        }
        Ended::Vng(why) => run.cannot = Some(format!("the guest did not finish: {why}")),
        Ended::Timeout(limit) => {
            run.cannot = Some(format!(
                "the guest did not finish within {} s (vng and qemu killed); {} rows had come: \
                 set SYNLAB_VM_TIMEOUT (seconds) for a slower machine",
                limit.as_secs(),
                res.rows.len()
            ));
        }
    }
}

/// What a guest did not return a row for is an error row of that case
/// (placed before the summary row, whose counts then include it); how many.
fn fill_missing(rows: &mut Vec<Value>, cases: &[Case], kernel: &str) -> usize {
    let have: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.get("type").and_then(Value::as_str) != Some("summary"))
        .filter_map(|r| r.get("case").and_then(Value::as_str))
        .collect();
    let missing: Vec<Value> = cases
        .iter()
        .filter(|c| !have.contains(c.name.as_str()))
        .map(|c| {
            let row = json::message_row(
                c,
                kernel,
                "no row came back from the guest for this case (it stopped, or lost it)".into(),
            );
            serde_json::from_str(&json::line(&row)).unwrap_or(Value::Null)
        })
        .collect();
    let n = missing.len();
    if n == 0 {
        return 0;
    }
    let at = rows
        .iter()
        .position(|r| r.get("type").and_then(Value::as_str) == Some("summary"))
        .unwrap_or(rows.len());
    if let Some(summary) = rows.get_mut(at) {
        let add = |v: &Value| v.as_u64().unwrap_or(0) + n as u64;
        summary["cases"] = add(&summary["cases"]).into();
        summary["counts"]["error"] = add(&summary["counts"]["error"]).into();
        summary["pass"] = false.into();
        summary["exit_code"] = 1.into();
    }
    rows.splice(at..at, missing);
    n
}

/// Copy the pcaps a guest wrote into its writable folder (which goes away)
/// to `--pcap-dir`/RELEASE or the artifacts folder/RELEASE, and point the
/// rows at them. A row's path is data: it must lie inside `rw` (no `..`, no
/// link on the way); anything else is refused, said in the returned lines.
fn bring_back(rows: &mut [Value], rw: &Path, release: &str, req: &Request) -> Vec<String> {
    let mut notes = Vec::new();
    for row in rows.iter_mut() {
        let Some(named) = row.get("pcap").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        let case = row
            .get("case")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        match bring_one(&named, rw, release, req) {
            Ok(to) => row["pcap"] = Value::from(to.display().to_string()),
            Err(e) => {
                notes.push(format!("{case}: pcap {named:?} refused: {e}"));
                row["pcap"] = Value::from(format!("(refused: {e})"));
            }
        }
    }
    notes
}

/// One pcap a guest named, copied to the host's folder for it.
fn bring_one(named: &str, rw: &Path, release: &str, req: &Request) -> Result<PathBuf, String> {
    let rel = Path::new(named)
        .strip_prefix(rw)
        .map_err(|_| format!("not inside the guest's folder {}", rw.display()))?;
    let bytes = synlab::read_inside(rw, rel, vm::READ_LIMIT).map_err(|e| e.to_string())?;
    let name = rel
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("no file name")?;
    let release = guest::valid_release(release)?;
    let base = match (rel.starts_with("pcap"), &req.pcap_dir) {
        (true, Some(d)) => SafeDir::named(d),
        _ => synlab::report::artifacts::open_private(&req.artifacts),
    };
    base.and_then(|b| b.subdir(release))
        .and_then(|d| d.write(name, &bytes))
        .map_err(|e| e.to_string())
}

/// Run every target, `req.jobs` at a time, and print. Exit code: 0 every case
/// passed on every kernel (skipped cases aside); 1 one failed, was partial
/// or errored; 2 a kernel could not run the lab or a tool is missing.
pub fn run(targets: &[Target], cases: &[Case], req: &Request) -> Result<ExitCode, String> {
    let images: Vec<&Image> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Image(i) => Some(i),
            Target::Host => None,
        })
        .collect();
    let (tools, accel) = match images.first() {
        Some(first) => {
            let tools = Tools::find()?;
            let accel = kvm::probe(&first.path);
            eprintln!(
                "kernels: {} guests with {}, {} vCPU, {} memory; {}",
                accel.describe(),
                tools.vng_version,
                vm::CPUS,
                vm::MEMORY,
                if tools.pid_namespace {
                    "vng runs as the init of a PID namespace (qemu dies with synlab)"
                } else {
                    "WARNING: no PID namespace for vng (unshare --pid failed): a SIGKILL of synlab may leave qemu running"
                }
            );
            (Some(tools), Some(accel))
        }
        None => (None, None),
    };
    if targets.iter().any(|t| matches!(t, Target::Host)) {
        synlab::probe_privilege().map_err(|e| format!("host kernel: {e}"))?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("this binary's path: {e}"))?;
    let inv = Invocation {
        exe,
        scenarios_dir: req.scenarios_dir.clone(),
        args: req.selection.clone(),
        pcap: req.pcap_dir.is_some(),
        cwd: std::env::current_dir().unwrap_or_else(|_| "/".into()),
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, KernelRun)>();
    let host_error: Mutex<Option<String>> = Mutex::new(None);
    let mut done: Vec<Option<KernelRun>> = targets.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..req.jobs.clamp(1, targets.len().max(1)) {
            let tx = tx.clone();
            let (next, inv, tools, accel, host_error) = (&next, &inv, &tools, &accel, &host_error);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(target) = targets.get(i) else { return };
                    let run = match target {
                        Target::Host => host_run(cases, req, host_error),
                        Target::Image(img) => match (tools, accel) {
                            (Some(t), Some(a)) => {
                                run_image(img, cases, t, a, inv, guest_limit(cases, a), req)
                            }
                            _ => continue,
                        },
                    };
                    if tx.send((i, run)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // Print each kernel's rows as soon as it and those before it are done.
        let mut printed = 0;
        for (i, run) in rx {
            done[i] = Some(run);
            while let Some(Some(run)) = done.get(printed) {
                if req.json {
                    for r in &run.rows {
                        println!("{r}");
                    }
                }
                printed += 1;
            }
        }
    });
    if let Some(e) = host_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    let runs: Vec<KernelRun> = done.into_iter().flatten().collect();
    let names: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
    Ok(finish(&names, &runs, req.json))
}

fn host_run(cases: &[Case], req: &Request, error: &Mutex<Option<String>>) -> KernelRun {
    let started = Instant::now();
    let release = synlab::kernel_release();
    let rows = match host::rows(cases, req.jobs, req.pcap_dir.as_deref(), &req.artifacts) {
        Ok(r) => r,
        Err(e) => {
            if let Ok(mut slot) = error.lock() {
                *slot = Some(e);
            }
            vec![]
        }
    };
    let took = started.elapsed();
    KernelRun {
        label: format!("host {release}"),
        how: format!(
            "the running kernel, in-process: {:.2} s wall time",
            took.as_secs_f64()
        ),
        rows,
        cannot: None,
        notes: vec![],
        took,
    }
}

/// Per kernel, what did not pass; then the table (on stderr with `--json`,
/// whose stdout holds the rows only); the exit code.
fn finish(names: &[String], runs: &[KernelRun], json: bool) -> ExitCode {
    let cells: Vec<Vec<Cell>> = runs
        .iter()
        .map(|r| r.rows.iter().filter_map(Cell::from_row).collect())
        .collect();
    let mut text = String::new();
    let mut worst = 0u8;
    for (run, cells) in runs.iter().zip(&cells) {
        text.push_str(&format!("\n== kernel {}: {}\n", run.label, run.how));
        if let Some(why) = &run.cannot {
            text.push_str(&format!(
                "   KERNEL UNUSABLE, none of its cases counted: {why}\n"
            ));
            worst = 2;
            continue;
        }
        let count = |v: Verdict| cells.iter().filter(|c| c.verdict == v).count();
        let tally = [
            Verdict::Pass,
            Verdict::Partial,
            Verdict::Fail,
            Verdict::Error,
            Verdict::Skip,
        ]
        .iter()
        .map(|v| (count(*v), rows::word(*v)))
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| format!("{n} {}", w.to_lowercase()))
        .collect::<Vec<_>>()
        .join(", ");
        text.push_str(&format!("   {} cases: {tally}\n", cells.len()));
        for c in cells.iter().filter(|c| c.verdict != Verdict::Pass) {
            if matches!(c.verdict, Verdict::Partial | Verdict::Fail | Verdict::Error) {
                worst = worst.max(1);
            }
            for (i, why) in c.why.iter().enumerate() {
                let head = if i == 0 {
                    format!("{:<7} {}", rows::word(c.verdict).to_uppercase(), c.case)
                } else {
                    format!("{:<7} {}", "", " ".repeat(c.case.len()))
                };
                text.push_str(&format!("   {head}: {why}\n"));
            }
            if let Some(p) = &c.pcap {
                text.push_str(&format!(
                    "   {:<7} {}  pcap: {p}\n",
                    "",
                    " ".repeat(c.case.len())
                ));
            }
        }
    }
    let columns: Vec<Column> = runs
        .iter()
        .zip(&cells)
        .map(|(r, c)| Column {
            label: if r.cannot.is_some() {
                format!("{} (not run)", r.label)
            } else {
                r.label.clone()
            },
            cells: r.cannot.is_none().then_some(c.as_slice()),
        })
        .collect();
    text.push_str(&table::render(names, &columns));
    if json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    ExitCode::from(worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::symlink;

    /// Five PAWS cases, built into synlab.
    fn cases() -> Vec<Case> {
        synlab::scenario::Sources::builtin_only()
            .resolve("paws")
            .expect("the built-in paws scenario")
            .into_iter()
            .flat_map(|s| s.cases)
            .filter(|c| c.name.contains("ipv4/seq=rcv_nxt+1"))
            .collect()
    }

    fn row(case: &Case, pcap: &str) -> String {
        json!({
            "type": "case", "version": 1, "scenario": case.scenario, "case": case.name,
            "kernel": "6.1.0-57-amd64", "answer": "ack", "verdict": "pass", "pass": true,
            "checks": [], "unchecked": [], "counters": {}, "pcap": pcap,
        })
        .to_string()
    }

    /// A guest writes `../../x` as its release, points a row's pcap at a file
    /// outside its folder (absolute, `..`, through a link) and returns fewer
    /// rows than cases: nothing outside the artifacts folder is written, each
    /// refusal is said, and the missing case is an error that fails the run.
    #[test]
    fn what_a_guest_returns_is_data_never_a_host_path() {
        let tmp = tempfile::tempdir().unwrap();
        let rw = tmp.path().join("vm/rw");
        std::fs::create_dir_all(rw.join("artifacts")).unwrap();
        std::fs::create_dir_all(rw.join("pcap")).unwrap();
        std::fs::write(rw.join("pcap/ok.pcap"), "pcap").unwrap();
        let victim = tmp.path().join("victim.pcap");
        std::fs::write(&victim, "precious").unwrap();
        symlink(&victim, rw.join("artifacts/link.pcap")).unwrap();
        let cases = cases();
        assert_eq!(
            cases.len(),
            5,
            "{:?}",
            cases.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
        std::fs::write(rw.join("release"), "../../x\n").unwrap();
        let rows = [
            row(&cases[0], "/etc/passwd"),
            row(&cases[1], &format!("{}/../../victim.pcap", rw.display())),
            row(&cases[2], &format!("{}/artifacts/link.pcap", rw.display())),
            row(&cases[4], &format!("{}/pcap/ok.pcap", rw.display())),
        ];
        std::fs::write(rw.join("rows.jsonl"), rows.join("\n")).unwrap();
        let req = Request {
            scenarios_dir: None,
            selection: vec![],
            json: true,
            jobs: 1,
            pcap_dir: Some(tmp.path().join("pcaps")),
            artifacts: tmp.path().join("a/b/art"),
        };
        let mut run = KernelRun {
            label: "6.1.0-57-amd64".into(),
            how: String::new(),
            rows: vec![],
            cannot: None,
            notes: vec![],
            took: Duration::ZERO,
        };
        let before = std::fs::read_dir(tmp.path()).unwrap().count();
        settle(
            &mut run,
            guest::read(&rw),
            Ended::Script(0),
            &rw,
            &cases,
            &req,
        );
        assert_eq!(
            run.label, "6.1.0-57-amd64",
            "the guest's release is no path"
        );
        assert!(
            run.notes
                .iter()
                .any(|n| n.contains("\"../../x\"") && n.contains("not a kernel release")),
            "{:#?}",
            run.notes
        );
        for bad in ["/etc/passwd", "../../victim.pcap", "link.pcap"] {
            assert!(
                run.notes
                    .iter()
                    .any(|n| n.contains(bad) && n.contains("refused")),
                "no line refuses {bad}: {:#?}",
                run.notes
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!tmp.path().join("a").exists(), "art/../../x is tmp/a/x");
        // The one pcap inside the guest's folder is brought back, under the image's release.
        let ok = tmp.path().join("pcaps/6.1.0-57-amd64/ok.pcap");
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "pcap");
        let brought: Vec<&Value> = run
            .rows
            .iter()
            .filter(|r| r["pcap"] == ok.display().to_string())
            .collect();
        assert_eq!(brought.len(), 1, "{:#?}", run.rows);
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            before + 1,
            "nothing new beside the guest's folder but pcaps/"
        );
        // The fourth case came back from nowhere: an error row, and exit 1.
        let missing: Vec<&Value> = run
            .rows
            .iter()
            .filter(|r| r["case"] == cases[3].name.as_str())
            .collect();
        assert_eq!(missing.len(), 1, "{:#?}", run.rows);
        assert_eq!(missing[0]["type"], "error");
        assert_eq!(missing[0]["pass"], false);
        assert!(
            missing[0]["error"]
                .as_str()
                .unwrap()
                .contains("no row came back"),
            "{}",
            missing[0]
        );
        let names: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
        assert_eq!(finish(&names, &[run], true), ExitCode::from(1));
    }
}

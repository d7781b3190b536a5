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

use synlab::scenario::Case;

use super::guest::{self, Invocation};
use super::host;
use super::image::Image;
use super::kvm::{self, Accel};
use super::rows::{Cell, Verdict};
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
    let res = guest::read(&work);
    run.took = started.elapsed();
    run.how
        .push_str(&format!(": {}", boot_detail(booted.wall, &res)));
    if let Some(r) = &res.release
        && r != &img.release
    {
        run.label = r.clone();
    }
    for line in &res.stray {
        eprintln!("kernel {}: stray output in the rows: {line}", run.label);
    }
    match booted.ended {
        Ended::Script(code) => {
            if let Some(why) = guest::lab_unsupported(code, &res.rows, &res.stderr) {
                run.cannot = Some(format!("cannot run the lab: {why}"));
            } else {
                run.rows = res.rows;
                bring_back(&mut run.rows, &work.rw(), &run.label, req);
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
    eprintln!(
        "kernel {}: done in {:.1} s",
        run.label,
        run.took.as_secs_f64()
    );
    run
}

/// Move the pcaps a guest wrote into its writable folder (which goes away)
/// to `--pcap-dir`/RELEASE or the artifacts folder/RELEASE, and point the
/// rows at them.
fn bring_back(rows: &mut [Value], rw: &Path, release: &str, req: &Request) {
    for row in rows.iter_mut() {
        let Some(from) = row.get("pcap").and_then(Value::as_str).map(PathBuf::from) else {
            continue;
        };
        let Ok(rel) = from.strip_prefix(rw) else {
            continue;
        };
        let base = match (rel.starts_with("pcap"), &req.pcap_dir) {
            (true, Some(d)) => d.clone(),
            _ => req.artifacts.clone(),
        };
        let Some(name) = from.file_name() else {
            continue;
        };
        let to = base.join(release).join(name);
        let moved = std::fs::create_dir_all(base.join(release))
            .and_then(|()| std::fs::copy(&from, &to).map(drop));
        row["pcap"] = match moved {
            Ok(()) => Value::from(to.display().to_string()),
            Err(e) => Value::from(format!("(lost with the guest: {e})")),
        };
    }
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
                                run_image(img, t, a, inv, guest_limit(cases, a), req)
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
        .map(|v| (count(*v), v.word()))
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
                    format!("{:<7} {}", c.verdict.word().to_uppercase(), c.case)
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

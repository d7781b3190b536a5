//! `synlab bench --kernel IMAGE`: what a kernel image costs on this machine,
//! measured in one run: the boot alone (`vng ... -- true`) and the boot with
//! the whole suite inside, alternating, printed as a pair with their ratio.
//! Every time is whole-process wall time of vng, start to exit.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use synlab::scenario::Sources;

use super::guest::{self, Invocation};
use super::image::Image;
use super::kvm;
use super::rows::{Cell, Verdict};
use super::suite::guest_limit;
use super::tools::Tools;
use super::vm::{self, Ended, Workdir};

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s.get(s.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `runs` boots each way (at least one).
pub fn bench(sources: &Sources, kernel: &str, runs: Option<usize>) -> Result<ExitCode, String> {
    let img = Image::find(kernel)?;
    let blockers = img.blockers();
    if !blockers.is_empty() {
        return Err(format!(
            "{}: cannot run the lab: {}",
            img.release,
            blockers.join("; ")
        ));
    }
    let tools = Tools::find()?;
    let accel = kvm::probe(&img.path);
    let cases: Vec<_> = sources
        .discover()
        .map_err(|e| e.to_string())?
        .into_iter()
        .flat_map(|s| s.cases)
        .collect();
    let exe = std::env::current_exe().map_err(|e| format!("this binary's path: {e}"))?;
    let inv = Invocation {
        exe,
        scenarios_dir: super::absolute_dir(sources),
        args: vec!["--all".into()],
        pcap: false,
        cwd: std::env::current_dir().unwrap_or_else(|_| "/".into()),
    };
    let limit = guest_limit(&cases, &accel);
    let n = runs.unwrap_or(1).max(1);
    let started = Instant::now();
    let mut boot = Vec::new();
    let mut whole = Vec::new();
    let mut inside = Vec::new();
    let mut tally = String::new();
    for i in 0..n {
        eprintln!(
            "bench: {}/{n}: {} booting with `-- true`",
            i + 1,
            img.release
        );
        let work = Workdir::new(&img.release)?;
        let b = vm::boot(
            &tools,
            &img,
            &accel,
            &work,
            &guest::true_script(&work.rw()),
            limit,
        )?;
        match b.ended {
            Ended::Script(0) => boot.push(b.wall),
            other => return Err(format!("the boot alone did not finish: {other:?}")),
        }
        eprintln!(
            "bench: {}/{n}: {} booting with the whole suite",
            i + 1,
            img.release
        );
        let work = Workdir::new(&img.release)?;
        let script = guest::suite_script(&inv, &work.rw());
        let b = vm::boot(&tools, &img, &accel, &work, &script, limit)?;
        let res = guest::read(&work.rw());
        match b.ended {
            Ended::Script(_) if !res.rows.is_empty() => whole.push(b.wall),
            other => {
                return Err(format!(
                    "the suite did not run: {other:?}; guest stderr: {}",
                    res.stderr.trim()
                ));
            }
        }
        inside.extend(res.suite);
        let cells: Vec<Cell> = res.rows.iter().filter_map(Cell::from_row).collect();
        let pass = cells.iter().filter(|c| c.verdict == Verdict::Pass).count();
        tally = format!("{} cases, {pass} pass", cells.len());
    }
    let (b, w) = (median(&boot), median(&whole));
    println!(
        "synlab bench --kernel {}: {} in a virtme-ng guest ({}, {} vCPU, {}, guest -j {}); host {} CPUs, Linux {}",
        img.path.display(),
        img.release,
        tools.vng_version,
        vm::CPUS,
        accel.describe(),
        guest::GUEST_JOBS,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        synlab::kernel_release()
    );
    println!("\nwhole-process wall time of vng, {n} run(s) each way, alternating");
    let all = |v: &[Duration]| v.iter().map(|d| secs(*d)).collect::<Vec<_>>().join(", ");
    let rows = [
        ("boot alone: vng ... -- true".to_string(), b, all(&boot)),
        (
            format!("boot + whole suite: vng ... -- synlab run --all ({tally})"),
            w,
            all(&whole),
        ),
        (
            "  of which the suite inside (guest clock)".to_string(),
            median(&inside),
            all(&inside),
        ),
    ];
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("{:<width$}  {:>8}  runs", "what", "median");
    for (what, m, runs) in &rows {
        println!("{what:<width$}  {:>8}  {runs}", secs(*m));
    }
    println!(
        "\nratio (boot + suite) / boot alone: {:.2}x; bench took {:.1} s; reproduce: sudo synlab bench --kernel {}{}",
        w.as_secs_f64() / b.as_secs_f64().max(1e-9),
        started.elapsed().as_secs_f64(),
        img.path.display(),
        if n > 1 {
            format!(" --runs {n}")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

//! `synlab bench --kernel ...`: what kernels cost on this machine, measured
//! in one run. One image (`--kernel IMAGE`): the boot alone (`vng ... --
//! true`) and the boot with the whole suite inside, alternating, printed as a
//! pair with their ratio; every time is whole-process wall time of vng. Many
//! kernels, or `host` among them (`--kernel host --kernel debian:bullseye
//! ...`): the whole `synlab run --all --kernel ... --json` process with
//! synlab's cache as it is (warm, every kernel fetched first) and with an
//! empty cache (cold: every `debian:` kernel fetched again), alternating,
//! with their ratio.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use synlab::debian::Cache;
use synlab::{Guest, GuestArgs, Kernel, Record, Sources, Tally, rows_table};

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

/// `runs` boots each way (at least one); the report, for stdout.
pub fn bench(
    sources: &Sources,
    kernel: &str,
    runs: Option<usize>,
    scenarios_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<String> {
    let guest = Guest::prepare(kernel)?;
    let cases: Vec<_> = sources
        .discover()?
        .into_iter()
        .flat_map(|s| s.cases)
        .collect();
    let args = GuestArgs {
        exe: std::env::current_exe().map_err(|e| anyhow::anyhow!("this binary's path: {e}"))?,
        scenarios_dir,
        selection: vec!["--all".into()],
    };
    let limit = guest.limit(&cases);
    let n = runs.unwrap_or(1).max(1);
    let started = Instant::now();
    let mut boot = Vec::new();
    let mut whole = Vec::new();
    let mut inside = Vec::new();
    let mut tally = String::new();
    for i in 0..n {
        let release = guest.release();
        eprintln!("bench: {}/{n}: {release} booting with `-- true`", i + 1);
        boot.push(guest.boot_alone(limit)?);
        eprintln!(
            "bench: {}/{n}: {release} booting with the whole suite",
            i + 1
        );
        let b = guest.boot_suite(&args, limit)?;
        whole.push(b.wall);
        inside.extend(b.inside);
        tally = format!("{} cases, {} pass", b.tally.cases(), b.tally.pass);
    }
    let (b, w) = (median(&boot), median(&whole));
    let mut out = format!(
        "synlab bench --kernel {}: {} in a virtme-ng guest ({}); host {} CPUs, Linux {}\n",
        guest.path().display(),
        guest.release(),
        guest.describe(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        synlab::kernel_release()
    );
    out.push_str(&format!(
        "\nwhole-process wall time of vng, {n} run(s) each way, alternating\n"
    ));
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
    out.push_str(&format!("{:<width$}  {:>8}  runs\n", "what", "median"));
    for (what, m, runs) in &rows {
        out.push_str(&format!("{what:<width$}  {:>8}  {runs}\n", secs(*m)));
    }
    out.push_str(&format!(
        "\nratio (boot + suite) / boot alone: {:.2}x; bench took {:.1} s; reproduce: sudo synlab bench --kernel {}{}\n",
        w.as_secs_f64() / b.as_secs_f64().max(1e-9),
        started.elapsed().as_secs_f64(),
        guest.path().display(),
        if n > 1 {
            format!(" --runs {n}")
        } else {
            String::new()
        }
    ));
    Ok(out)
}

/// Whether `kernels` calls for the bench across kernels (more than one, or
/// `host`) rather than the one image's.
pub fn across(kernels: &[String]) -> bool {
    kernels.len() > 1 || kernels.iter().any(|k| k == "host")
}

/// One whole `synlab run` process: its wall time and what it reported.
struct RunTime {
    wall: Duration,
    exit: Option<i32>,
    /// Each kernel's summary: release, cases, passed, skipped.
    kernels: Vec<(String, usize, usize, usize)>,
    /// The table's last line (`N of M cases differ ...`).
    differ: String,
    /// Each case that did not pass: `RELEASE CASE: VERDICT (what differed)`.
    not_passed: Vec<String>,
    /// MB the run fetched from Debian's archive.
    fetched_mb: f64,
}

/// The cold cache: a folder in synlab's cache, `bench-cold.PID`, removed
/// when dropped; a killed bench's is removed by the next.
struct ColdCache(PathBuf);

impl ColdCache {
    fn make(cache: &Path) -> anyhow::Result<ColdCache> {
        for entry in std::fs::read_dir(cache).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("bench-cold.")
                && pid.parse::<u32>().is_ok()
                && !Path::new("/proc").join(pid).exists()
                && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                eprintln!(
                    "bench: removing {} (a killed bench's)",
                    entry.path().display()
                );
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = cache.join(format!("bench-cold.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).with_context(|| format!("make {}", dir.display()))?;
        Ok(ColdCache(dir))
    }
}

impl Drop for ColdCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `synlab run --all --kernel K... --json` as a child, its cache `cache`
/// (`None`: synlab's own); timed start to exit.
fn time_run(
    kernels: &[String],
    scenarios_dir: Option<&Path>,
    cache: Option<&Path>,
) -> anyhow::Result<RunTime> {
    let exe = std::env::current_exe().context("this binary's path")?;
    let mut cmd = Command::new(exe);
    if let Some(d) = scenarios_dir {
        cmd.arg("--scenarios-dir").arg(d);
    }
    cmd.args(["run", "--all", "--json"]);
    for k in kernels {
        cmd.args(["--kernel", k]);
    }
    if let Some(c) = cache {
        cmd.env("SYNLAB_CACHE", c);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = cmd.output().context("run synlab run --all")?;
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) || out.status.code().is_none() {
        anyhow::bail!(
            "synlab run --all ended with {} after {:.1} s, so its time means nothing:\n{stderr}",
            out.status,
            wall.as_secs_f64()
        );
    }
    // The run's rows, read back as `synlab table` reads them.
    let table = rows_table(&[("its --json rows".into(), stdout)]).map_err(|errors| {
        anyhow::anyhow!(
            "synlab run --all wrote lines that are not rows: {}",
            errors.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let kernels = table
        .runs
        .iter()
        .map(|run| {
            let t = Tally::of(&run.records);
            (run.release.clone(), t.cases(), t.pass, t.skip)
        })
        .collect();
    let not_passed = table
        .runs
        .iter()
        .flat_map(|r| &r.records)
        .filter_map(not_passed)
        .collect();
    let differ = table.text().lines().last().unwrap_or_default().to_owned();
    // `kernel debian:sid: fetched 124.8 MB in 0.9 s (146.7 MB/s)`
    let fetched_mb = stderr
        .lines()
        .filter_map(|l| l.split(": fetched ").nth(1))
        .filter_map(|t| t.split(" MB").next()?.parse::<f64>().ok())
        .sum();
    Ok(RunTime {
        wall,
        exit: out.status.code(),
        kernels,
        differ,
        not_passed,
        fetched_mb,
    })
}

/// A case that did not pass, in one line: its kernel, its case, its
/// verdict and why (the failed checks, or why it could not run).
fn not_passed(r: &Record) -> Option<String> {
    if !r.conclusion.fails_run() {
        return None;
    }
    Some(format!(
        "{} {}: {} ({})",
        r.kernel,
        r.case,
        r.conclusion.as_str(),
        r.why().join("; ")
    ))
}

/// The load average over the last minute, as /proc/loadavg says.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// `runs` times each way (at least one), warm then cold; the report, for stdout.
pub fn bench_across(
    kernels: &[String],
    runs: Option<usize>,
    scenarios_dir: Option<PathBuf>,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let cache = Cache::locate().context("synlab's cache")?;
    // Warm: every kernel named is in the cache (fetched now if it is not).
    for k in kernels.iter().filter(|k| *k != "host") {
        eprintln!("bench: {k}: into the cache");
        Kernel::named(k).with_context(|| format!("the kernel {k}"))?;
    }
    let n = runs.unwrap_or(1).max(1);
    let load_before = load();
    let (mut warm, mut cold) = (Vec::new(), Vec::new());
    for i in 0..n {
        eprintln!("bench: {}/{n}: the whole run, synlab's cache warm", i + 1);
        warm.push(time_run(kernels, scenarios_dir.as_deref(), None)?);
        let empty = ColdCache::make(cache.root())?;
        eprintln!(
            "bench: {}/{n}: the whole run, an empty cache ({})",
            i + 1,
            empty.0.display()
        );
        cold.push(time_run(kernels, scenarios_dir.as_deref(), Some(&empty.0))?);
    }
    let median = |v: &[RunTime]| median(&v.iter().map(|r| r.wall).collect::<Vec<_>>());
    let (w, c) = (median(&warm), median(&cold));
    let all = |v: &[RunTime]| {
        v.iter()
            .map(|r| match r.exit {
                Some(0) => secs(r.wall),
                other => format!("{} (exit {})", secs(r.wall), other.unwrap_or(-1)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let last = &warm[warm.len() - 1];
    let what = last
        .kernels
        .iter()
        .map(|(k, cases, pass, skip)| format!("{k} {cases} cases ({pass} pass, {skip} skip)"))
        .collect::<Vec<_>>()
        .join("; ");
    let fetched = cold.iter().map(|r| r.fetched_mb).fold(0.0, f64::max);
    let failures: Vec<String> = warm
        .iter()
        .map(|r| ("cache warm", r))
        .chain(cold.iter().map(|r| ("cache cold", r)))
        .flat_map(|(how, r)| r.not_passed.iter().map(move |f| format!("  {how}: {f}\n")))
        .collect();
    let mut out = format!(
        "synlab bench --kernel {}: every case on {} kernels; host {} CPUs, Linux {}; load average {load_before} before, {} after\n",
        kernels.join(" --kernel "),
        kernels.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        synlab::kernel_release(),
        load()
    );
    out.push_str(&format!(
        "\nwhole-process wall time of `synlab run --all --kernel ... --json`, {n} run(s) each way, alternating\n"
    ));
    let rows = [
        (
            format!("cache warm ({})", cache.root().display()),
            w,
            all(&warm),
        ),
        (
            format!("cache cold (empty SYNLAB_CACHE; fetched {fetched:.1} MB)"),
            c,
            all(&cold),
        ),
    ];
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    out.push_str(&format!("{:<width$}  {:>8}  runs\n", "what", "median"));
    for (what, m, runs) in &rows {
        out.push_str(&format!("{what:<width$}  {:>8}  {runs}\n", secs(*m)));
    }
    if !failures.is_empty() {
        out.push_str(&format!(
            "\nnot passed ({}; the run's time holds all the same):\n{}",
            failures.len(),
            failures.concat()
        ));
    }
    out.push_str(&format!(
        "\neach run: {what}\n{}\nratio cold / warm: {:.2}x; bench took {:.1} s; reproduce: sudo synlab bench --kernel {}{}\n",
        last.differ,
        c.as_secs_f64() / w.as_secs_f64().max(1e-9),
        started.elapsed().as_secs_f64(),
        kernels.join(" --kernel "),
        if n > 1 {
            format!(" --runs {n}")
        } else {
            String::new()
        }
    ));
    Ok(out)
}

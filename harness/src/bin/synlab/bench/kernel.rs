//! `synlab bench --kernel IMAGE`: what a kernel image costs on this machine,
//! measured in one run: the boot alone (`vng ... -- true`) and the boot with
//! the whole suite inside, alternating, printed as a pair with their ratio.
//! Every time is whole-process wall time of vng, start to exit.

use std::time::{Duration, Instant};

use synlab::Sources;
use synlab::{Guest, GuestArgs};

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

//! `synlab`: the command line over the library. Exit 0 when every case matched
//! its expectation, 1 when one did not, 2 on a usage, file or permission error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use clap::{Parser, Subcommand};

use synlab::run::{self, CaseRun, RunError};
use synlab::scenario::{self, Case, Scenario};

#[derive(Parser)]
#[command(
    name = "synlab",
    version,
    about = "Real Linux TCP stacks in throw-away network namespaces, judged against scenario files."
)]
struct Cli {
    /// Folder with the scenario files (default: ./scenarios, or $SYNLAB_SCENARIOS).
    #[arg(long, global = true, value_name = "DIR")]
    scenarios_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios (by name or file) against the running kernel; needs root, or
    /// unprivileged user namespaces (rootless mode, no state trace).
    Run {
        /// Scenario names (file stems) or paths to scenario files.
        #[arg(required_unless_present = "all")]
        scenarios: Vec<String>,
        /// Run every scenario under the scenarios folder.
        #[arg(long, conflicts_with = "scenarios")]
        all: bool,
        /// One JSON object per case, one per line.
        #[arg(long)]
        json: bool,
        /// Only run cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Write one pcap per case (server-side veth) into DIR.
        #[arg(long, value_name = "DIR")]
        pcap_dir: Option<PathBuf>,
        /// Write one self-contained HTML report (a ladder diagram per case) to FILE.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Keep each case's namespaces (named, under /run/netns) for inspection
        /// with `ip netns exec`; the command to remove them is printed.
        #[arg(long)]
        keep: bool,
        /// Cases run at once (default: the number of CPUs).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
    },
    /// Measure on this machine: lab set-up against `ip`/`sysctl` subprocesses, a
    /// raw-peer and a kernel-client case, the whole suite serial and parallel; needs root.
    Bench {
        /// Runs per lab and per case row (default 30; with --quick 10).
        #[arg(long, value_name = "N")]
        runs: Option<usize>,
        /// Fewer runs: 10 per row and the whole suite once each way.
        #[arg(long)]
        quick: bool,
    },
    /// List every case, one per line, with its scenario file and matrix values.
    List,
    /// Validate scenario files without running them (no privilege needed).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Errors that end the program with exit code 2.
struct Fatal(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.into())
    }
}

fn main() -> ExitCode {
    synlab::rootless::enter_at_start(synlab::rootless::Entry::Cli);
    // Like other Unix tools: `synlab run ... | head` ends quietly.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match real_main(cli) {
        Ok(code) => code,
        Err(Fatal(e)) => {
            eprintln!("synlab: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn root(cli: &Cli) -> PathBuf {
    cli.scenarios_dir
        .clone()
        .unwrap_or_else(scenario::default_root)
}

fn real_main(cli: Cli) -> Result<ExitCode, Fatal> {
    match &cli.command {
        Command::Bench { runs, quick } => {
            synlab::lab::probe_privilege()?;
            let opts = synlab::bench::BenchOptions::new(root(&cli), *runs, *quick);
            print!("{}", synlab::bench::run(&opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::List => {
            for s in scenario::discover(&root(&cli))? {
                for case in &s.cases {
                    println!("{}", list_line(&s, case));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { files } => {
            let mut n = 0;
            for f in files {
                let s = scenario::load_file(f)?;
                n += s.cases.len();
                println!("ok {} ({} cases)", f.display(), s.cases.len());
            }
            println!("{} files, {n} cases: valid", files.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            scenarios,
            all,
            json,
            filter,
            pcap_dir,
            html,
            keep,
            jobs,
        } => {
            let root = root(&cli);
            let mut found = Vec::new();
            if *all {
                found = scenario::discover(&root)?;
            } else {
                for arg in scenarios {
                    found.extend(scenario::resolve(&root, arg)?);
                }
            }
            let cases: Vec<Case> = found
                .into_iter()
                .flat_map(|s| s.cases)
                .filter(|c| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str())))
                .collect();
            if cases.is_empty() {
                return Err(anyhow::anyhow!("no case to run").into());
            }
            synlab::lab::probe_privilege()?;
            let jobs = jobs
                .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
                .unwrap_or(1)
                .max(1);
            run_all(
                &synlab::report::artifacts::default_dir(&root),
                &cases,
                jobs,
                *json,
                pcap_dir.as_deref(),
                html.as_deref(),
                &run::RunOptions { keep: *keep },
            )
        }
    }
}

fn list_line(s: &Scenario, case: &Case) -> String {
    let values = case
        .values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{:<48} {}/{}  {}",
        case.trial_name(),
        s.area,
        s.file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        values
    )
}

/// Run the cases, `jobs` at a time, printing each report in case order as soon
/// as it and every case before it are done.
fn run_all(
    artifacts_dir: &std::path::Path,
    cases: &[Case],
    jobs: usize,
    json: bool,
    pcap_dir: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
    opts: &run::RunOptions,
) -> Result<ExitCode, Fatal> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<CaseRun, RunError>>>> =
        cases.iter().map(|_| Mutex::new(None)).collect();
    let printed = Mutex::new(0usize);
    let failed = AtomicUsize::new(0);
    // (case, folklore, kernel rule, kernel answered) for the closing table.
    let rule_rows: Mutex<Vec<[String; 4]>> = Mutex::new(Vec::new());
    // Finished runs, kept for the HTML report.
    let html_runs: Mutex<Vec<CaseRun>> = Mutex::new(Vec::new());
    let fatal: Mutex<Option<anyhow::Error>> = Mutex::new(None);

    let set_fatal = |e: anyhow::Error| {
        if let Ok(mut f) = fatal.lock() {
            f.get_or_insert(e);
        }
    };
    let emit = |i: usize, r: &Result<CaseRun, RunError>| -> Result<()> {
        let mut out = std::io::stdout().lock();
        match r {
            Ok(run) => {
                // Asked for, or a failure: the pcap is written and named.
                let dir = match pcap_dir {
                    Some(dir) => Some(dir.to_path_buf()),
                    None if !run.verdict.pass => Some(artifacts_dir.to_path_buf()),
                    None => None,
                };
                let pcap = match dir {
                    Some(dir) => Some(synlab::report::artifacts::write_pcap(&dir, run)?),
                    None => None,
                };
                if html.is_some()
                    && let Ok(mut v) = html_runs.lock()
                {
                    v.push(run.clone());
                }
                if let Some(k) = &run.kept {
                    eprintln!(
                        "kept: ip netns exec {} ss -tan; remove with: {}",
                        k.server,
                        k.remove_command()
                    );
                }
                if !run.verdict.pass {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                if let (Some(k), Some(f), Ok(mut rows)) = (
                    &run.outcome.kernel_rule,
                    &run.outcome.folklore_rule,
                    rule_rows.lock(),
                ) {
                    rows.push([
                        run.case.name.clone(),
                        f.answer.as_str().to_string(),
                        k.answer.as_str().to_string(),
                        run.outcome.answer.as_str().to_string(),
                    ]);
                }
                if json {
                    let mut v = synlab::report::json::case(run);
                    if let Some(p) = &pcap {
                        v["pcap"] = serde_json::Value::from(p.display().to_string());
                    }
                    writeln!(out, "{v}")?;
                } else {
                    write!(out, "{}", synlab::report::text::render(run))?;
                    if let Some(p) = &pcap {
                        writeln!(out, "   pcap: {}", p.display())?;
                    }
                }
            }
            Err(e) => {
                failed.fetch_add(1, Ordering::Relaxed);
                let name = cases[i].trial_name();
                if json {
                    let v = serde_json::json!({
                        "scenario": cases[i].scenario, "case": cases[i].name,
                        "kernel": run::kernel_release(), "pass": false, "error": e.to_string(),
                    });
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(
                        out,
                        "== {name}  ({})\nERROR {name}: {e}",
                        cases[i].file.display()
                    )?;
                }
            }
        }
        Ok(())
    };

    std::thread::scope(|scope| {
        for _ in 0..jobs.min(cases.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= cases.len() {
                        return;
                    }
                    let r = run::run_case_blocking_with(&cases[i], opts);
                    if let Err(e) = &r
                        && e.is_privilege()
                    {
                        set_fatal(anyhow::anyhow!("{e}"));
                    }
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                    // Print every finished case that has no unfinished one before it.
                    let Ok(mut p) = printed.lock() else { return };
                    while *p < cases.len() {
                        let Ok(mut slot) = results[*p].lock() else {
                            return;
                        };
                        let Some(r) = slot.take() else { break };
                        if let Err(e) = emit(*p, &r) {
                            set_fatal(e);
                        }
                        *p += 1;
                    }
                }
            });
        }
    });
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(Fatal(e));
    }
    if let Some(path) = html {
        let runs = html_runs.into_inner().unwrap_or_default();
        let lanes: Vec<Vec<synlab::report::html::LaneState>> =
            runs.iter().map(synlab::report::html::lane_states).collect();
        let with: Vec<(&CaseRun, &[synlab::report::html::LaneState])> = runs
            .iter()
            .zip(&lanes)
            .map(|(r, l)| (r, l.as_slice()))
            .collect();
        let title = format!(
            "synlab run {}",
            cases
                .iter()
                .map(|c| c.scenario.as_str())
                .fold(Vec::<&str>::new(), |mut v, s| {
                    if !v.contains(&s) {
                        v.push(s);
                    }
                    v
                })
                .join(" ")
        );
        synlab::report::html::write(path, &with, &title)?;
        if !json {
            println!("html: {}", path.display());
        }
    }
    let failed = failed.into_inner();
    let rows = rule_rows.into_inner().unwrap_or_default();
    if !json && rows.len() > 1 {
        print!("{}", rules_table(&rows));
    }
    if !json {
        println!("{} passed, {} failed", cases.len() - failed, failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Per case: what the popular rule and the kernel's rule predict for the SYN that
/// hit TIME_WAIT, and what the kernel answered.
fn rules_table(rows: &[[String; 4]]) -> String {
    let w = rows.iter().map(|r| r[0].len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "\n{:<w$}  {:<9} {:<12} {}\n",
        "case", "folklore", "kernel rule", "kernel answered"
    );
    for r in rows {
        let mark = if r[1] != r[3] {
            "   <- folklore is wrong"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:<w$}  {:<9} {:<12} {:<7}{mark}\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    out
}

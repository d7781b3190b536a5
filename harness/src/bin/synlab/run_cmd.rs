//! `synlab run`: the arguments, the cases they pick, the kernels they name
//! and the reporters they ask for (`outputs.rs`); the library runs the cases
//! on the kernels and feeds the reporters; the exit code comes from how the
//! run ended.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use synlab::{Case, Sources};
use synlab::{GuestArgs, Kernel, Pcaps, Plan};

use crate::Fatal;
use crate::outputs::{self, Wanted};

#[derive(Args)]
pub struct RunArgs {
    /// Scenario names (file stems), areas, `name/case` prefixes or paths to
    /// scenario files.
    #[arg(required_unless_present = "all")]
    pub scenarios: Vec<String>,
    /// Run every scenario (your folder's and the built-in ones).
    #[arg(long, conflicts_with = "scenarios")]
    pub all: bool,
    /// One JSON object per line: a `case` (or `skip`, `error`) row per case,
    /// then a `summary` row; schema: `synlab schema`.
    #[arg(long)]
    pub json: bool,
    /// KTAP on stdout, as the kernel's selftests print it.
    #[arg(long, conflicts_with = "json")]
    ktap: bool,
    /// Write a JUnit XML report (a testsuite per scenario, a testcase per case) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Only run cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Write one pcap per case (server-side veth) into DIR [default, for
    /// failing cases only: $SYNLAB_ARTIFACTS, else ./synlab-artifacts]
    #[arg(long, value_name = "DIR")]
    pub pcap_dir: Option<PathBuf>,
    /// Write one self-contained HTML report (a ladder diagram per case) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Keep each case's namespaces (named, under /run/netns) for inspection
    /// with `ip netns exec`; the command to remove them is printed.
    #[arg(long)]
    pub keep: bool,
    /// Cases run at once (default: 4 per CPU; cases mostly wait for the kernel).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Run on this kernel: `host` (the running one), `debian:SUITE` or
    /// `debian:SERIES` (fetched from Debian's archive into synlab's cache), or
    /// a kernel image (a vmlinuz file, a folder with boot/vmlinuz-*, or a
    /// release in /boot), booted with virtme-ng; repeatable, up to -j kernels at once.
    #[arg(long = "kernel", value_name = "host|IMAGE|debian:NAME")]
    pub kernels: Vec<String>,
}

/// The cases `args` names, filtered.
fn cases(sources: &Sources, args: &RunArgs) -> Result<Vec<Case>, Fatal> {
    let found = if args.all {
        sources.discover()?
    } else {
        sources.resolve_all(&args.scenarios)?
    };
    let cases: Vec<Case> = found
        .into_iter()
        .flat_map(|s| s.cases)
        .filter(|c| {
            args.filter
                .as_ref()
                .is_none_or(|f| c.name.contains(f.as_str()))
        })
        .collect();
    if cases.is_empty() {
        return Err(anyhow::anyhow!("no case to run").into());
    }
    Ok(cases)
}

pub fn run(sources: &Sources, args: &RunArgs) -> Result<ExitCode, Fatal> {
    let cases = cases(sources, args)?;
    let kernels = args
        .kernels
        .iter()
        .map(|k| Kernel::named(k))
        .collect::<Result<Vec<_>, _>>()?;
    let across = synlab::across(&kernels);
    let jobs = match (args.jobs, across) {
        (Some(j), _) => j,
        (None, false) => synlab::default_jobs(),
        // Kernels at once, and the running kernel's cases at once.
        (None, true) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
    .max(1);
    let title = format!("synlab run {}", scenario_names(&cases).join(" "));
    let plan = Plan {
        title: title.clone(),
        jobs,
        keep: args.keep,
        pcaps: Pcaps {
            every: args.pcap_dir.as_ref().map(|d| {
                // The guests' pcaps come back here from another working folder.
                if across {
                    std::path::absolute(d).unwrap_or_else(|_| d.clone())
                } else {
                    d.clone()
                }
            }),
            failing: synlab::default_artifacts_dir(),
        },
        guest: GuestArgs {
            exe: std::env::current_exe().map_err(|e| anyhow::anyhow!("this binary's path: {e}"))?,
            scenarios_dir: sources
                .user_dir()
                .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf())),
            selection: selection(args),
        },
        cases,
    };
    let mut reporters = outputs::reporters(&Wanted {
        json: args.json,
        ktap: args.ktap,
        junit: args.junit.clone(),
        html: args.html.clone(),
        across,
        title,
        total: plan.cases.len() * kernels.len().max(1),
    });
    let end = synlab::run_on_kernels(&kernels, &plan, &mut reporters)?;
    Ok(ExitCode::from(end.exit_code()))
}

/// What a guest runs: `--all` or the scenarios (paths made absolute), and
/// `--filter TEXT`.
fn selection(args: &RunArgs) -> Vec<String> {
    let mut selection: Vec<String> = if args.all {
        vec!["--all".into()]
    } else {
        args.scenarios
            .iter()
            .map(|s| {
                let p = Path::new(s);
                if p.exists() {
                    std::path::absolute(p)
                        .unwrap_or_else(|_| p.to_path_buf())
                        .display()
                        .to_string()
                } else {
                    s.clone()
                }
            })
            .collect()
    };
    if let Some(f) = &args.filter {
        selection.extend(["--filter".into(), f.clone()]);
    }
    selection
}

/// The scenarios of `cases`, each once, in order.
fn scenario_names(cases: &[Case]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for c in cases {
        if !names.contains(&c.scenario.as_str()) {
            names.push(&c.scenario);
        }
    }
    names
}

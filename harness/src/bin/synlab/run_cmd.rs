//! `synlab run`: pick the cases, run them through the library's `run_cases`,
//! print each report in case order (text or one JSON line), write the pcaps and
//! the HTML page, and close with the folklore table and the tally.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use synlab::report;
use synlab::scenario::{self, Case};
use synlab::{CaseRun, RunError, RunOptions, Status};

use crate::Fatal;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario names (file stems) or paths to scenario files.
    #[arg(required_unless_present = "all")]
    pub scenarios: Vec<String>,
    /// Run every scenario under the scenarios folder.
    #[arg(long, conflicts_with = "scenarios")]
    pub all: bool,
    /// One JSON object per case, one per line.
    #[arg(long)]
    pub json: bool,
    /// Only run cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Write one pcap per case (server-side veth) into DIR.
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
    /// Run on this kernel: `host` (the running one) or a kernel image booted
    /// with virtme-ng (a vmlinuz file, a folder with boot/vmlinuz-*, or a
    /// release in /boot); repeatable, up to -j kernels at once.
    #[arg(long = "kernel", value_name = "host|IMAGE")]
    pub kernels: Vec<String>,
}

/// The cases `args` names, filtered.
fn cases(root: &Path, args: &RunArgs) -> Result<Vec<Case>, Fatal> {
    let mut found = Vec::new();
    if args.all {
        found = scenario::discover(root)?;
    } else {
        for arg in &args.scenarios {
            found.extend(scenario::resolve(root, arg)?);
        }
    }
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

pub fn run(root: &Path, args: &RunArgs) -> Result<ExitCode, Fatal> {
    let cases = cases(root, args)?;
    if crate::kernels::wanted(&args.kernels) {
        return crate::kernels::run(root, args, &cases);
    }
    synlab::probe_privilege()?;
    let jobs = args.jobs.unwrap_or_else(synlab::default_jobs).max(1);
    let artifacts = report::artifacts::default_dir(root);
    let mut printer = Printer {
        args,
        artifacts: &artifacts,
        failed: 0,
        partial: 0,
        skipped: 0,
        claims: Vec::new(),
        html_runs: Vec::new(),
        fatal: None,
    };
    synlab::run_cases(&cases, &RunOptions { keep: args.keep }, jobs, |case, r| {
        printer.case(case, r)
    });
    if let Some(e) = printer.fatal.take() {
        return Err(Fatal(e));
    }
    printer.finish(&cases)
}

/// What the run prints as cases finish, and what it keeps for the end.
struct Printer<'a> {
    args: &'a RunArgs,
    artifacts: &'a Path,
    failed: usize,
    /// Cases with an expectation this kernel gave no way to check.
    partial: usize,
    /// Cases not run on this kernel (their scenario's `kernel = "..."`).
    skipped: usize,
    /// Each case that tests a popular claim, for the closing table.
    claims: Vec<(String, synlab::ClaimVerdict)>,
    /// Finished runs, kept for the HTML report.
    html_runs: Vec<CaseRun>,
    /// An error that ends the program (exit 2): no privilege, stdout gone.
    fatal: Option<anyhow::Error>,
}

impl Printer<'_> {
    /// Print one finished case; `false` stops the run.
    fn case(&mut self, case: &Case, r: Result<CaseRun, RunError>) -> bool {
        let printed = match &r {
            Ok(run) => self.case_run(run),
            Err(e) if e.is_privilege() => Err(anyhow::anyhow!("{e}")),
            Err(e) if e.skipped().is_some() => self.case_skipped(case, e),
            Err(e) => self.case_error(case, e),
        };
        if let Err(e) = printed {
            self.fatal.get_or_insert(e);
        }
        self.fatal.is_none()
    }

    fn case_run(&mut self, run: &CaseRun) -> Result<()> {
        let mut out = std::io::stdout().lock();
        // Asked for, or a failure: the pcap is written and named.
        let dir = match &self.args.pcap_dir {
            Some(dir) => Some(dir.clone()),
            None if !run.verdict.pass => Some(self.artifacts.to_path_buf()),
            None => None,
        };
        let pcap = match dir {
            Some(dir) => Some(report::artifacts::write_pcap(&dir, run)?),
            None => None,
        };
        if self.args.html.is_some() {
            self.html_runs.push(run.clone());
        }
        if let Some(k) = &run.kept {
            eprintln!(
                "kept: ip netns exec {} ss -tan; remove with: {}",
                k.server,
                k.remove_command()
            );
        }
        match run.verdict.status {
            Status::Pass => {}
            Status::Partial => self.partial += 1,
            Status::Fail => self.failed += 1,
        }
        if let Some(claim) = &run.folklore {
            self.claims.push((run.case.name.clone(), claim.clone()));
        }
        if self.args.json {
            let v = report::json::row(run, pcap.as_deref());
            writeln!(out, "{v}")?;
        } else {
            write!(out, "{}", report::text::render(run))?;
            if let Some(p) = &pcap {
                writeln!(out, "   pcap: {}", p.display())?;
            }
        }
        Ok(())
    }

    fn case_skipped(&mut self, case: &Case, e: &RunError) -> Result<()> {
        self.skipped += 1;
        let why = e.skipped().unwrap_or_default();
        let mut out = std::io::stdout().lock();
        if self.args.json {
            let v = report::json::skipped(case, &synlab::kernel_release(), why);
            writeln!(out, "{v}")?;
        } else {
            write!(out, "{}", report::text::skipped(case, why))?;
        }
        Ok(())
    }

    fn case_error(&mut self, case: &Case, e: &RunError) -> Result<()> {
        self.failed += 1;
        let mut out = std::io::stdout().lock();
        if self.args.json {
            let v = report::json::error(case, &synlab::kernel_release(), e);
            writeln!(out, "{v}")?;
        } else {
            let name = case.trial_name();
            writeln!(
                out,
                "== {name}  ({})\nERROR {name}: {}",
                case.file.display(),
                report::text::error(e)
            )?;
        }
        Ok(())
    }

    /// The HTML page, the folklore table and the tally.
    fn finish(self, cases: &[Case]) -> Result<ExitCode, Fatal> {
        if let Some(path) = &self.args.html {
            let title = format!("synlab run {}", scenario_names(cases).join(" "));
            report::html::write(path, &self.html_runs, &title)?;
            if !self.args.json {
                println!("html: {}", path.display());
            }
        }
        if !self.args.json && !self.claims.is_empty() {
            print!(
                "{}",
                report::text::folklore_table(&self.claims, self.claims.len())
            );
        }
        if !self.args.json {
            let passed = cases.len() - self.failed - self.partial - self.skipped;
            let mut tally = format!("{passed} passed, {} failed", self.failed);
            for (n, what) in [
                (
                    self.partial,
                    "partial (an expectation could not be checked on this kernel: not a pass)",
                ),
                (self.skipped, "skipped (not for this kernel: not run)"),
            ] {
                if n > 0 {
                    tally.push_str(&format!(", {n} {what}"));
                }
            }
            println!("{tally}");
        }
        // A partial case is not a pass; a skipped one was not run (like an
        // ignored test) and changes nothing.
        Ok(if self.failed == 0 && self.partial == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
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

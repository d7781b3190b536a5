//! `synlab run`: pick the cases, run them through the library's `run_cases`,
//! print each report in case order (text, one JSON line, or KTAP), write the
//! pcaps, the HTML page and the JUnit file, and close with the folklore table
//! and the tally (`outputs.rs`). With `--kernel` other than the host alone,
//! `kernels/` takes over.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use synlab::report;
use synlab::report::record::Record;
use synlab::scenario::{Case, Sources};
use synlab::{CaseRun, RunError, RunOptions};

use crate::Fatal;
use crate::outputs::Outputs;

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
    let mut found = Vec::new();
    if args.all {
        found = sources.discover()?;
    } else {
        for arg in &args.scenarios {
            found.extend(sources.resolve(arg)?);
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

pub fn run(sources: &Sources, args: &RunArgs) -> Result<ExitCode, Fatal> {
    let cases = cases(sources, args)?;
    if crate::kernels::wanted(&args.kernels) {
        return crate::kernels::run(sources, args, &cases);
    }
    synlab::probe_privilege()?;
    let jobs = args.jobs.unwrap_or_else(synlab::default_jobs).max(1);
    let outputs = Outputs::new(cases.len(), args.ktap, args.junit.as_deref());
    let mut printer = Printer {
        args,
        artifacts: report::artifacts::default_dir(),
        outputs,
        claims: Vec::new(),
        html_runs: Vec::new(),
        fatal: None,
    };
    if let Some(h) = printer.outputs.ktap_header() {
        print!("{h}");
    }
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
    /// Where a failing case's pcap goes when `--pcap-dir` is not given.
    artifacts: PathBuf,
    outputs: Outputs,
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
            Err(e) => match e.skipped() {
                Some(why) => self.case_skipped(case, why),
                None => self.case_error(case, e),
            },
        };
        if let Err(e) = printed {
            self.fatal.get_or_insert(e);
        }
        self.fatal.is_none()
    }

    /// Write `text` on stdout with the progress line out of the way; colour
    /// where `paint` and the terminal allow it.
    fn print(&self, text: &str, paint: bool) -> Result<()> {
        self.outputs.progress.suspend(|| {
            if paint {
                let mut out = anstream::stdout().lock();
                out.write_all(crate::paint::verdicts(text).as_bytes())?;
                out.flush()
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
        })?;
        Ok(())
    }

    /// The case's own lines: JSON, KTAP or text.
    fn emit(&mut self, record: Record, json: String, text: String) -> Result<()> {
        let ktap = self.outputs.add(record);
        match (self.args.json, ktap) {
            (true, _) => self.print(&format!("{json}\n"), false),
            (false, Some(k)) => self.print(&k, false),
            (false, None) => self.print(&text, true),
        }
    }

    fn case_run(&mut self, run: &CaseRun) -> Result<()> {
        // Asked for, or a failure: the pcap is written and named.
        let dir = match &self.args.pcap_dir {
            Some(dir) => Some(dir.clone()),
            None if !run.verdict.pass => Some(self.artifacts.clone()),
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
        if let Some(claim) = &run.folklore {
            self.claims.push((run.case.name.clone(), claim.clone()));
        }
        let json = report::json::case_line(run, pcap.as_deref());
        let mut text = report::text::render(run);
        if let Some(p) = &pcap {
            text.push_str(&format!("   pcap: {}\n", p.display()));
        }
        self.emit(Record::from_run(run, pcap.as_deref()), json, text)
    }

    fn case_error(&mut self, case: &Case, e: &RunError) -> Result<()> {
        let json = report::json::line(&report::json::error_row(case, &self.outputs.kernel, e));
        let name = case.trial_name();
        let text = format!(
            "== {name}  ({})\nERROR {name}: {}\n",
            case.file_label(),
            report::text::error(e)
        );
        let record = Record::from_error(case, e, std::time::Duration::ZERO);
        self.emit(record, json, text)
    }

    fn case_skipped(&mut self, case: &Case, reason: &str) -> Result<()> {
        let json = report::json::line(&report::json::skip_row(case, &self.outputs.kernel, reason));
        let text = format!("SKIP {}: {reason}\n", case.trial_name());
        self.emit(Record::skipped(case, reason), json, text)
    }

    /// The HTML page, the folklore table, the tally and the exit code.
    fn finish(self, cases: &[Case]) -> Result<ExitCode, Fatal> {
        let Printer {
            args,
            outputs,
            claims,
            html_runs,
            ..
        } = self;
        let text = !args.json && !args.ktap;
        if let Some(path) = &args.html {
            let title = format!("synlab run {}", scenario_names(cases).join(" "));
            report::html::write(path, &html_runs, &title)?;
            if text {
                println!("html: {}", path.display());
            }
        }
        if text && !claims.is_empty() {
            print!("{}", report::text::folklore_table(&claims, claims.len()));
        }
        let (code, closing) = outputs.finish(args.json)?;
        let mut out = std::io::stdout().lock();
        out.write_all(closing.as_bytes())?;
        out.flush()?;
        Ok(ExitCode::from(code))
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

//! `synlab run`: pick the cases, run them through the library's `run_cases`,
//! print each report in case order (text, one JSON line, or KTAP), write the
//! pcaps, the HTML page and the JUnit file, and close with the folklore table
//! and the tally (`outputs.rs`).

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
    scenarios: Vec<String>,
    /// Run every scenario (your folder's and the built-in ones).
    #[arg(long, conflicts_with = "scenarios")]
    all: bool,
    /// One JSON object per line: a `case` (or `skip`, `error`) row per case,
    /// then a `summary` row; schema: `synlab schema`.
    #[arg(long)]
    json: bool,
    /// KTAP on stdout, as the kernel's selftests print it.
    #[arg(long, conflicts_with = "json")]
    ktap: bool,
    /// Write a JUnit XML report (a testsuite per scenario, a testcase per case) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Only run cases whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Write one pcap per case (server-side veth) into DIR [default, for
    /// failing cases only: $SYNLAB_ARTIFACTS, else ./synlab-artifacts]
    #[arg(long, value_name = "DIR")]
    pcap_dir: Option<PathBuf>,
    /// Write one self-contained HTML report (a ladder diagram per case) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Keep each case's namespaces (named, under /run/netns) for inspection
    /// with `ip netns exec`; the command to remove them is printed.
    #[arg(long)]
    pub keep: bool,
    /// Cases run at once (default: the number of CPUs).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
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
    synlab::probe_privilege()?;
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    let artifacts = report::artifacts::default_dir();
    let outputs = Outputs::new(cases.len(), args.ktap, args.junit.as_deref());
    // A case for other kernels is skipped, and reported in its place.
    let skips: Vec<Option<String>> = cases
        .iter()
        .map(|c| synlab::skip_reason(c, &outputs.kernel))
        .collect();
    let runnable: Vec<Case> = cases
        .iter()
        .zip(&skips)
        .filter(|(_, s)| s.is_none())
        .map(|(c, _)| c.clone())
        .collect();
    let mut printer = Printer {
        args,
        artifacts,
        outputs,
        pending_skips: cases.iter().zip(skips).collect(),
        rule_rows: Vec::new(),
        html_runs: Vec::new(),
        fatal: None,
    };
    if let Some(h) = printer.outputs.ktap_header() {
        print!("{h}");
    }
    synlab::run_cases(
        &runnable,
        &RunOptions { keep: args.keep },
        jobs,
        |case, r| printer.case(case, r),
    );
    if printer.fatal.is_none()
        && let Err(e) = printer.skips_before(None)
    {
        printer.fatal = Some(e);
    }
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
    /// Every case in order, with its skip reason, until reported.
    pending_skips: std::collections::VecDeque<(&'a Case, Option<String>)>,
    /// (case, folklore, kernel rule, kernel answered) for the closing table.
    rule_rows: Vec<[String; 4]>,
    /// Finished runs, kept for the HTML report.
    html_runs: Vec<CaseRun>,
    /// An error that ends the program (exit 2): no privilege, stdout gone.
    fatal: Option<anyhow::Error>,
}

impl Printer<'_> {
    /// Print one finished case; `false` stops the run.
    fn case(&mut self, case: &Case, r: Result<CaseRun, RunError>) -> bool {
        let printed = self.skips_before(Some(case)).and_then(|()| match &r {
            Ok(run) => self.case_run(run),
            Err(e) if e.is_privilege() => Err(anyhow::anyhow!("{e}")),
            Err(e) => self.case_error(case, e),
        });
        if let Err(e) = printed {
            self.fatal.get_or_insert(e);
        }
        self.fatal.is_none()
    }

    /// Report the skipped cases that come before `case` (all that are left
    /// for `None`), and take `case` off the list.
    fn skips_before(&mut self, case: Option<&Case>) -> Result<()> {
        while let Some((c, skip)) = self.pending_skips.pop_front() {
            match skip {
                None if case.is_some_and(|k| k.trial_name() == c.trial_name()) => return Ok(()),
                None => continue,
                Some(reason) => self.case_skipped(c, &reason)?,
            }
        }
        Ok(())
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
        if let (Some(k), Some(f)) = (&run.outcome.kernel_rule, &run.outcome.folklore_rule) {
            self.rule_rows.push([
                run.case.name.clone(),
                f.answer.as_str().to_string(),
                k.answer.as_str().to_string(),
                run.outcome.answer.as_str().to_string(),
            ]);
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
            rule_rows,
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
        if text && rule_rows.len() > 1 {
            print!("{}", report::text::rules_table(&rule_rows));
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

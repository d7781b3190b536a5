//! `synlab bench`: how fast the harness is on this machine, measured in one run
//! and printed with the machine it ran on. It proves the performance claims: the
//! lab's rtnetlink set-up against the `ip`/`sysctl` subprocesses a shell selftest
//! would run, one raw-peer case and one kernel-client case end to end, and the
//! whole suite serial against parallel. Needs root (namespaces, `ip netns add`).
//!
//! Numbers live here and nowhere else: tests never assert a timing.

pub mod kernel;
mod shell_lab;
mod stats;

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use synlab::{Case, ClientKind, Family, ScenarioError, Sources};
use synlab::{CaseEnd, KernelInfo, TextReporter, report_case};
use synlab::{Lab, LabError, LabSpec, RunError, RunOptions, kernel_release};

use shell_lab::ShellLabs;
use stats::Stats;

/// The raw-peer case measured by default (an ACK answer: no 200 ms wait for `none`).
pub const RAW_CASE: &str = "timewait::paws::ipv4/seq=rcv_nxt+1/tsval=ts_recent-10";
/// The kernel-client case measured by default.
pub const KERNEL_CASE: &str = "timewait::ts-off::ipv4";
/// Runs per row unless `--runs` says otherwise (`--quick`: [`QUICK_RUNS`]).
pub const DEFAULT_RUNS: usize = 30;
pub const QUICK_RUNS: usize = 10;
/// Whole-suite runs per row (`--quick`: 1).
pub const SUITE_RUNS: usize = 3;

/// The lab that row (a) builds both ways: IPv4, timestamps off on both sides.
const SYSCTL: (&str, &str) = ("net.ipv4.tcp_timestamps", "0");
const SERVER_CIDR: &str = "198.18.0.1/24";
const CLIENT_CIDR: &str = "198.18.0.2/24";
/// The most a lab may take to come up, either way.
const LAB_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("{case}: {source}")]
    Run { case: String, source: Box<RunError> },
    #[error("{case} did not match its expectation, so its time means nothing:\n{report}")]
    CaseFailed { case: String, report: String },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("no case {name} in {searched} (and no {kind} IPv4 case to stand in for it)")]
    NoCase {
        name: &'static str,
        kind: &'static str,
        searched: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("`{command}`: {what} not seen within {after:?}; last seen: {last_seen}")]
    Timeout {
        command: String,
        what: &'static str,
        after: Duration,
        last_seen: String,
    },
}

/// What to measure and how often.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Runs per lab and per case row (at least 1).
    pub runs: usize,
    /// Runs of the whole suite per row (serial, parallel).
    pub suite_runs: usize,
    /// `--quick` was given (for the command that reproduces the report).
    pub quick: bool,
    /// Where the scenarios come from (`--scenarios-dir`, ...).
    pub scenarios: Sources,
    /// The `synlab` binary that runs the whole suite (normally this one).
    pub exe: PathBuf,
}

impl BenchOptions {
    /// `--runs N` and `--quick` as the CLI takes them.
    pub fn new(scenarios: Sources, runs: Option<usize>, quick: bool) -> BenchOptions {
        let default = if quick { QUICK_RUNS } else { DEFAULT_RUNS };
        BenchOptions {
            runs: runs.unwrap_or(default).max(1),
            suite_runs: if quick { 1 } else { SUITE_RUNS },
            quick,
            scenarios,
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("synlab")),
        }
    }
}

/// The machine the numbers come from.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPUs this process may use (`nproc`).
    pub nproc: usize,
    /// `uname -r`.
    pub kernel: String,
    /// The first `model name` of /proc/cpuinfo.
    pub cpu: String,
}

impl Machine {
    pub fn this() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: kernel_release(),
            cpu,
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub stats: Stats,
}

/// Everything `synlab bench` prints.
#[derive(Debug, Clone)]
pub struct Report {
    pub machine: Machine,
    pub lab_netlink: Row,
    pub lab_shell: Row,
    /// A whole `synlab run` process for one case, started cold each time:
    /// no synlab process has exited in the [`QUIET`] before it.
    pub process: Row,
    /// The same process started [`SOON_AFTER`] after another one exited: the
    /// kernel may still be releasing that one's trace events.
    pub process_soon: Row,
    pub raw_case: Row,
    pub kernel_case: Row,
    pub suite_serial: Row,
    pub suite_parallel: Row,
    /// Cases in the suite.
    pub suite_cases: usize,
    pub jobs: usize,
    /// The command that reproduces the report.
    pub command: String,
    pub took: Duration,
}

/// Run every measurement; progress goes to stderr.
pub fn run(opts: &BenchOptions) -> Result<Report, BenchError> {
    let started = Instant::now();
    let machine = Machine::this();
    let found = opts.scenarios.discover()?;
    let cases: Vec<Case> = found.into_iter().flat_map(|s| s.cases).collect();
    let raw = pick(&cases, RAW_CASE, ClientKind::Raw, &opts.scenarios)?;
    let kernel = pick(&cases, KERNEL_CASE, ClientKind::Kernel, &opts.scenarios)?;
    let n = opts.runs;

    eprintln!(
        "bench: {n} x lab setup + teardown by rtnetlink, by ip/sysctl, and a whole \
         `synlab run` process for {}, interleaved",
        kernel.trial_name()
    );
    let LabRows {
        netlink,
        shell,
        process,
        process_soon,
    } = lab_rows(opts, &kernel, n)?;
    eprintln!("bench: {} x {}", n, raw.trial_name());
    let raw_samples = case_row(&raw, n)?;
    eprintln!("bench: {} x {}", n, kernel.trial_name());
    let kernel_samples = case_row(&kernel, n)?;
    let jobs = synlab::default_jobs();
    eprintln!(
        "bench: {} x `synlab run --all` with -j 1 and -j {jobs} ({} cases), alternating",
        opts.suite_runs,
        cases.len()
    );
    let (serial, parallel) = suite_rows(opts, jobs)?;

    let row = |what: String, samples: &[Duration]| Row {
        what,
        stats: Stats::of(samples).unwrap_or(Stats {
            runs: 0,
            first: Duration::ZERO,
            p50: Duration::ZERO,
            p95: Duration::ZERO,
        }),
    };
    Ok(Report {
        lab_netlink: row(
            "lab setup+teardown: synlab (rtnetlink, Lab::build + drop)".into(),
            &netlink,
        ),
        lab_shell: row(
            "lab setup+teardown: ip/sysctl subprocesses (selftest way)".into(),
            &shell,
        ),
        process: row(
            format!(
                "whole process: synlab run, one case, cold ({})",
                kernel.name
            ),
            &process,
        ),
        process_soon: row(
            format!(
                "the same, {} ms after another synlab exited",
                SOON_AFTER.as_millis()
            ),
            &process_soon,
        ),
        raw_case: row(format!("raw-peer case {}", raw.trial_name()), &raw_samples),
        kernel_case: row(
            format!("kernel-client case {}", kernel.trial_name()),
            &kernel_samples,
        ),
        suite_serial: row("suite: synlab run --all -j 1".into(), &serial),
        suite_parallel: row(format!("suite: synlab run --all (-j {jobs})"), &parallel),
        suite_cases: cases.len(),
        jobs,
        command: format!(
            "sudo synlab bench --runs {n}{}",
            if opts.quick { " --quick" } else { "" }
        ),
        machine,
        took: started.elapsed(),
    })
}

/// The named case, or the first IPv4 case of that client kind.
fn pick(
    cases: &[Case],
    name: &'static str,
    kind: ClientKind,
    sources: &Sources,
) -> Result<Case, BenchError> {
    cases
        .iter()
        .find(|c| c.trial_name() == name)
        .or_else(|| {
            cases
                .iter()
                .find(|c| c.client_kind == kind && c.family == Family::V4)
        })
        .cloned()
        .ok_or_else(|| BenchError::NoCase {
            name,
            kind: kind.as_str(),
            searched: sources.to_string(),
        })
}

/// How long after the last synlab exit a process counts as cold: the kernel
/// has released that process's perf events (it takes its worker about 100 ms
/// of RCU grace periods, holding `event_mutex`; see `handover.rs`).
const QUIET: Duration = Duration::from_millis(250);
/// The gap of the `process_soon` row: inside the window where a new process's
/// `perf_event_open` waits for that release.
const SOON_AFTER: Duration = Duration::from_millis(50);

/// The samples of row (a), each list in the order taken.
struct LabRows {
    netlink: Vec<Duration>,
    shell: Vec<Duration>,
    process: Vec<Duration>,
    process_soon: Vec<Duration>,
}

/// Row (a): `n` labs each way and `n` whole one-case `synlab run` processes
/// (cold, and soon after another), interleaved so drift hits all alike.
fn lab_rows(opts: &BenchOptions, case: &Case, n: usize) -> Result<LabRows, BenchError> {
    let rt = runtime()?;
    let spec = LabSpec {
        family: Family::V4,
        server_sysctl: vec![(SYSCTL.0.into(), SYSCTL.1.into())],
        client_sysctl: vec![(SYSCTL.0.into(), SYSCTL.1.into())],
        raw_client: false,
        shape: synlab::Shape::Veth,
    };
    let mut netlink = Vec::with_capacity(n);
    let mut shell = Vec::with_capacity(n);
    let mut process = Vec::with_capacity(n);
    let mut process_soon = Vec::with_capacity(n);
    // Its own thread and mount namespace: nothing of it reaches the host.
    let shell_labs = ShellLabs::start()?;
    for i in 0..n {
        let t = Instant::now();
        let lab = rt.block_on(Lab::build(&spec, LAB_DEADLINE))?;
        drop(lab);
        netlink.push(t.elapsed());

        shell.push(shell_labs.time_one(i)?);

        std::thread::sleep(QUIET);
        process.push(one_case_process(opts, case)?);
        std::thread::sleep(SOON_AFTER);
        process_soon.push(one_case_process(opts, case)?);
    }
    Ok(LabRows {
        netlink,
        shell,
        process,
        process_soon,
    })
}

/// One `synlab run` process for `case`, start to exit (its output is read
/// and dropped; it must pass).
fn one_case_process(opts: &BenchOptions, case: &Case) -> Result<Duration, BenchError> {
    synlab_process(opts, &["run", &case.scenario, "--filter", &case.name])
}

/// The `synlab` binary with the bench's scenarios folder (if any) and `args`, timed
/// from start to exit; it must succeed.
fn synlab_process(opts: &BenchOptions, args: &[&str]) -> Result<Duration, BenchError> {
    let dir = opts.scenarios.user_dir().map(|d| d.to_string_lossy());
    let mut all: Vec<&str> = match &dir {
        Some(d) => vec!["--scenarios-dir", d.as_ref()],
        None => Vec::new(),
    };
    all.extend_from_slice(args);
    run_command(&opts.exe.to_string_lossy(), &all).map(|(took, _)| took)
}

/// Run `program args`, timed from start to exit; a failure to start or a
/// failing exit status is an error that quotes the command and its output.
pub(super) fn run_command(
    program: &str,
    args: &[&str],
) -> Result<(Duration, std::process::Output), BenchError> {
    let shown = format!("{program} {}", args.join(" "));
    let t = Instant::now();
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BenchError::Io {
            what: format!("start {shown}"),
            source,
        })?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(command_failed(&shown, &out));
    }
    Ok((took, out))
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| BenchError::Io {
            what: "build a tokio runtime".into(),
            source,
        })
}

/// Row (b): one case `n` times, each end to end, each checked to pass.
fn case_row(case: &Case, n: usize) -> Result<Vec<Duration>, BenchError> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r =
            synlab::run_case(case, &RunOptions::default()).map_err(|source| BenchError::Run {
                case: case.trial_name(),
                source: Box::new(source),
            })?;
        samples.push(t.elapsed());
        if !r.verdict.pass {
            return Err(BenchError::CaseFailed {
                case: case.trial_name(),
                report: text_report(r),
            });
        }
    }
    Ok(samples)
}

/// A case's report as `synlab run` prints it: the text reporter fed the
/// case's end, into a buffer.
fn text_report(run: synlab::CaseRun) -> String {
    let release = run.kernel.clone();
    let kernel = KernelInfo {
        index: 0,
        label: format!("host {release}"),
        release,
    };
    let mut text = TextReporter::new(Vec::new());
    let end = CaseEnd::ran(run, None);
    match report_case(&mut text, &kernel, &end) {
        Ok(()) => String::from_utf8_lossy(&text.into_inner()).into_owned(),
        Err(e) => e.to_string(),
    }
}

/// Row (c): the whole suite through the CLI, serial and parallel, alternating.
fn suite_rows(
    opts: &BenchOptions,
    jobs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), BenchError> {
    let mut serial = Vec::new();
    let mut parallel = Vec::new();
    for _ in 0..opts.suite_runs.max(1) {
        serial.push(suite_once(opts, 1)?);
        parallel.push(suite_once(opts, jobs)?);
    }
    Ok((serial, parallel))
}

fn suite_once(opts: &BenchOptions, jobs: usize) -> Result<Duration, BenchError> {
    synlab_process(opts, &["run", "--all", "-j", &jobs.to_string()])
}

fn command_failed(command: &str, out: &std::process::Output) -> BenchError {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut output = text(&out.stderr);
    let stdout = text(&out.stdout);
    // The verdicts are at the end of a run's stdout.
    let tail: Vec<&str> = stdout.lines().rev().take(40).collect();
    for l in tail.into_iter().rev() {
        output.push_str(l);
        output.push('\n');
    }
    BenchError::Command {
        command: command.to_string(),
        status: out.status.to_string(),
        output,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn ratio(slow: Duration, fast: Duration) -> f64 {
    slow.as_secs_f64() / fast.as_secs_f64().max(1e-9)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(
            f,
            "synlab bench on {} CPUs (nproc), Linux {}, {}",
            m.nproc, m.kernel, m.cpu
        )?;
        let rows = [
            &self.lab_netlink,
            &self.lab_shell,
            &self.process,
            &self.process_soon,
            &self.raw_case,
            &self.kernel_case,
            &self.suite_serial,
            &self.suite_parallel,
        ];
        let w = rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
        writeln!(
            f,
            "\n{:<w$}  {:>4}  {:>10}  {:>10}  {:>10}",
            "what", "runs", "first", "p50", "p95"
        )?;
        for r in rows {
            let s = r.stats;
            writeln!(
                f,
                "{:<w$}  {:>4}  {:>10}  {:>10}  {:>10}",
                r.what,
                s.runs,
                ms(s.first),
                ms(s.p50),
                ms(s.p95)
            )?;
        }
        let lab = ratio(self.lab_shell.stats.p50, self.lab_netlink.stats.p50);
        let process = ratio(self.process.stats.p50, self.lab_shell.stats.p50);
        let suite = ratio(self.suite_serial.stats.p50, self.suite_parallel.stats.p50);
        writeln!(f, "\nratios (p50)")?;
        writeln!(
            f,
            "  lab setup+teardown: ip/sysctl subprocesses / synlab  {lab:.1}x"
        )?;
        writeln!(
            f,
            "  whole one-case process / ip/sysctl lab alone         {process:.2}x"
        )?;
        writeln!(
            f,
            "  suite ({} cases): serial / parallel (-j {})          {suite:.1}x",
            self.suite_cases, self.jobs
        )?;
        let mark = |ok: bool| if ok { "met" } else { "MISSED" };
        let raw = self.raw_case.stats.p50;
        let kernel = self.kernel_case.stats.p50;
        let par = self.suite_parallel.stats.p50;
        writeln!(f, "\ntargets")?;
        writeln!(
            f,
            "  lab setup+teardown >= 5x faster than ip/sysctl   {lab:>7.1}x    {}",
            mark(lab >= 5.0)
        )?;
        writeln!(
            f,
            "  whole one-case process < the ip/sysctl lab alone {process:>7.2}x    {}",
            mark(process < 1.0)
        )?;
        writeln!(
            f,
            "  raw-peer case p50 < 50 ms                         {:>9}  {}",
            ms(raw),
            mark(raw < Duration::from_millis(50))
        )?;
        writeln!(
            f,
            "  kernel-client case p50 < 100 ms                   {:>9}  {}",
            ms(kernel),
            mark(kernel < Duration::from_millis(100))
        )?;
        writeln!(
            f,
            "  full suite ({} cases) parallel < 5 s              {:>9}  {}",
            self.suite_cases,
            ms(par),
            mark(par < Duration::from_secs(5))
        )?;
        writeln!(
            f,
            "\nbench took {:.1} s; reproduce: {}",
            self.took.as_secs_f64(),
            self.command
        )
    }
}

//! `synlab`: the command line over the library. Exit 0 when every case matched
//! its expectation, 1 when one did not, 2 on a usage, file or permission error.

mod bench;
mod kernels;
mod run_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use synlab::rootless::{self, Mode};
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
    Run(run_cmd::RunArgs),
    /// Measure on this machine: lab set-up against `ip`/`sysctl` subprocesses, a
    /// whole one-case `synlab run` process, a raw-peer and a kernel-client case,
    /// the whole suite serial and parallel; needs root.
    Bench {
        /// Runs per lab and per case row (default 30; with --quick 10).
        #[arg(long, value_name = "N")]
        runs: Option<usize>,
        /// Fewer runs: 10 per row and the whole suite once each way.
        #[arg(long)]
        quick: bool,
        /// Instead: boot this kernel image with virtme-ng, alone and with the
        /// whole suite inside (--runs times each, default 1).
        #[arg(long, value_name = "IMAGE")]
        kernel: Option<String>,
    },
    /// Kernel images in /boot, the tools a guest needs, and whether KVM works.
    Kernels,
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
    if let Err(Fatal(e)) = enter_privilege(&cli.command) {
        eprintln!("synlab: {e:#}");
        return ExitCode::from(2);
    }
    match real_main(cli) {
        Ok(code) => code,
        Err(Fatal(e)) => {
            eprintln!("synlab: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Without root, enter rootless mode (an unprivileged user namespace) before any
/// thread starts, and say so once for `run`. `run --keep` and `bench` make
/// named namespaces, bind mounts under /run/netns in the host's mount
/// namespace, which no user namespace of ours may make: refused at once.
fn enter_privilege(command: &Command) -> Result<(), Fatal> {
    if !rootless::has_lab_caps() {
        let needs_root = match command {
            Command::Run(args) if args.keep => {
                Some(("--keep", "the kept namespaces are", "run ... --keep"))
            }
            Command::Bench { kernel: None, .. } => {
                Some(("bench", "its `ip netns add` namespaces are", "bench"))
            }
            _ => None,
        };
        if let Some((what, which, sudo)) = needs_root {
            return Err(anyhow::anyhow!(
                "{what} needs root: {which} bind-mounted under /run/netns, which an \
                 unprivileged user namespace may not do: run `sudo synlab {sudo}`"
            )
            .into());
        }
    }
    match rootless::enter_user_namespace_if_unprivileged()? {
        Mode::Rootless { uid, .. } if matches!(command, Command::Run(_)) => {
            eprintln!("{}", rootless::rootless_note(uid));
        }
        _ => {}
    }
    Ok(())
}

fn root(cli: &Cli) -> PathBuf {
    cli.scenarios_dir
        .clone()
        .unwrap_or_else(scenario::default_root)
}

fn real_main(cli: Cli) -> Result<ExitCode, Fatal> {
    match &cli.command {
        Command::Bench {
            kernel: Some(k),
            runs,
            ..
        } => kernels::bench(&root(&cli), k, *runs).map_err(|e| Fatal(anyhow::anyhow!(e))),
        Command::Kernels => Ok(kernels::list()),
        Command::Bench { runs, quick, .. } => {
            synlab::probe_privilege()?;
            let opts = bench::BenchOptions::new(root(&cli), *runs, *quick);
            print!("{}", bench::run(&opts)?);
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
        Command::Run(args) => run_cmd::run(&root(&cli), args),
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

//! `synlab`: the command line over the library. Exit 0 when every case matched
//! its expectation, 1 when one did not, 2 on a usage, file or permission error
//! (`help.rs` has the whole text).

mod bench;
mod check_cmd;
mod debian_cmd;
mod gen_cmd;
mod help;
mod outputs;
mod paint;
mod progress;
mod run_cmd;
mod stdout;
mod table_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use stdout::{out, outln};
use synlab::Mode;
use synlab::{Case, Scenario, Sources};

#[derive(Parser)]
#[command(
    name = "synlab",
    version,
    about = "Real Linux TCP stacks in throw-away network namespaces, judged against scenario files.",
    after_help = help::AFTER_HELP
)]
struct Cli {
    /// Your scenario folder (<area>/<name>.toml), searched before the built-in
    /// scenarios [default: $SYNLAB_SCENARIOS, else ./scenarios if it exists]
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
        /// Instead, one image: boot it with virtme-ng, alone and with the
        /// whole suite inside. Repeated, or `host`: the whole `synlab run
        /// --all` on those kernels, cache warm and cache empty (--runs times
        /// each, default 1).
        #[arg(long = "kernel", value_name = "host|IMAGE|debian:NAME")]
        kernels: Vec<String>,
    },
    /// Kernel images in /boot, the tools a guest needs, whether KVM works, and
    /// the Debian kernels in synlab's cache (what each name resolves to today).
    Kernels {
        /// Show the cache without asking Debian's archive what the names
        /// resolve to today.
        #[arg(long)]
        offline: bool,
        /// Remove the Debian kernels no name resolves to any more (and what
        /// killed runs left), or with `all` everything synlab made there.
        #[arg(long, value_name = "WHAT", num_args = 0..=1, default_missing_value = "stale")]
        prune: Option<debian_cmd::Prune>,
    },
    /// List every case, one per line, with its scenario file and matrix values.
    List,
    /// Validate scenario files without running them (no privilege needed);
    /// reports every file, then exits 2 if any was not valid.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a shell completion script (e.g. `synlab completions bash >
    /// ~/.local/share/bash-completion/completions/synlab`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `synlab man | man -l -`.
    Man,
    /// Print the JSON Schema of the `run --json` rows (docs/report.schema.json).
    Schema,
    /// Print the kernel's rules around TIME_WAIT as synlab's model states them
    /// (Markdown, one block per event kind): what every case's why is made of,
    /// and the README's rules section (`just rules`).
    Rules,
    /// The case-by-kernel table of a `--kernel` run, from rows files written
    /// anywhere (`run --json`; one file per kernel, or mixed); exit 1 when a
    /// row did not pass, 2 when a line is not a row.
    Table(table_cmd::TableArgs),
}

/// Errors that end the program with exit code 2.
struct Fatal(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.into())
    }
}

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): a write to a closed stdout is
    // an error that ends the run through its guards, never a kill midway;
    // `synlab run ... | head` then ends quietly (`stdout::closed`).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` go to stdout: one that cannot take
            // them is an error like any other.
            return match e.print() {
                Err(io) if !e.use_stderr() => {
                    if io.kind() != std::io::ErrorKind::BrokenPipe {
                        eprintln!("synlab: stdout: {io}");
                    }
                    ExitCode::from(2)
                }
                _ => ExitCode::from(if e.use_stderr() { 2 } else { 0 }),
            };
        }
    };
    if let Err(Fatal(e)) = enter_privilege(&cli.command) {
        eprintln!("synlab: {e:#}");
        return ExitCode::from(2);
    }
    match real_main(cli) {
        Ok(code) => code,
        Err(Fatal(e)) if stdout::closed(&e) => ExitCode::from(2),
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
/// Commands that make no namespace do not enter one.
fn enter_privilege(command: &Command) -> Result<(), Fatal> {
    if !matches!(command, Command::Run(_) | Command::Bench { .. }) {
        return Ok(());
    }
    if !synlab::has_lab_caps() {
        let needs_root = match command {
            Command::Run(args) if args.keep => {
                Some(("--keep", "the kept namespaces are", "run ... --keep"))
            }
            Command::Bench { kernels, .. } if kernels.is_empty() => {
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
    match synlab::enter_user_namespace_if_unprivileged()? {
        Mode::Rootless { uid, .. } if matches!(command, Command::Run(_)) => {
            eprintln!("{}", synlab::rootless_note(uid));
        }
        _ => {}
    }
    Ok(())
}

fn real_main(cli: Cli) -> Result<ExitCode, Fatal> {
    let sources = Sources::new(cli.scenarios_dir.clone());
    match &cli.command {
        Command::Bench { kernels, runs, .. } if !kernels.is_empty() => {
            let dir = sources
                .user_dir()
                .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()));
            if bench::kernel::across(kernels) {
                out!("{}", bench::kernel::bench_across(kernels, *runs, dir)?).context("stdout")?;
            } else {
                out!(
                    "{}",
                    bench::kernel::bench(&sources, &kernels[0], *runs, dir)?
                )
                .context("stdout")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Kernels {
            prune: Some(what), ..
        } => debian_cmd::prune(*what),
        Command::Kernels { offline, .. } => {
            synlab::list_kernels(&mut std::io::stdout().lock()).context("stdout")?;
            debian_cmd::show(*offline).context("stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { runs, quick, .. } => {
            synlab::probe_privilege()?;
            let opts = bench::BenchOptions::new(sources, *runs, *quick);
            out!("{}", bench::run(&opts)?).context("stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List => {
            for s in sources.discover()? {
                for case in &s.cases {
                    outln!("{}", list_line(&s, case)).context("stdout")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { files } => check_cmd::check(files),
        Command::Completions { shell } => {
            gen_cmd::completions(*shell).context("stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            gen_cmd::man().context("stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            outln!("{}", gen_cmd::schema()).context("stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules => {
            out!("{}", synlab::rules_text()).context("stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run_cmd::run(&sources, args),
        Command::Table(args) => table_cmd::table(args),
    }
}

fn list_line(s: &Scenario, case: &Case) -> String {
    let values = case
        .values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let file = s
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let from = if s.builtin { " (builtin)" } else { "" };
    format!(
        "{:<48} {}/{file}{from}  {values}",
        case.trial_name(),
        s.area,
    )
}

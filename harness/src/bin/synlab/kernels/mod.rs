//! Other kernels (Contract 4): `synlab run ... --kernel host|IMAGE` (the same
//! cases on each kernel, one table at the end), `synlab kernels` (what is
//! there to boot, and whether KVM works) and `synlab bench --kernel IMAGE`.
//! An image boots in a virtme-ng guest (`vng`, qemu underneath) that runs
//! this very binary with `--json`; nothing here is in the library, which only
//! knows how to skip a case its scenario does not run on this kernel.

mod bench;
mod group;
mod guest;
mod host;
mod image;
mod kvm;
mod list;
mod rows;
mod suite;
mod table;
mod tools;
mod vm;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use synlab::scenario::{Case, Sources};

use crate::Fatal;
use crate::run_cmd::RunArgs;

pub use bench::bench;
pub use list::list;

/// Whether `--kernel` asks for more than the usual in-process run on the
/// running kernel (`--kernel host` alone is that run).
pub fn wanted(kernels: &[String]) -> bool {
    kernels.len() > 1 || kernels.iter().any(|k| k != "host")
}

/// The user's scenario folder, absolute, for the guest's `--scenarios-dir`
/// (the guest finds the built-in scenarios in this very binary).
fn absolute_dir(sources: &Sources) -> Option<PathBuf> {
    sources
        .user_dir()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()))
}

/// `synlab run` with `--kernel`: the cases on every kernel named.
pub fn run(sources: &Sources, args: &RunArgs, cases: &[Case]) -> Result<ExitCode, Fatal> {
    let mut targets = Vec::new();
    for k in &args.kernels {
        targets.push(if k == "host" {
            suite::Target::Host
        } else {
            suite::Target::Image(
                image::Image::find(k).map_err(|e| anyhow::anyhow!("--kernel {e}"))?,
            )
        });
    }
    let images = targets.iter().any(|t| matches!(t, suite::Target::Image(_)));
    if args.keep && images {
        return Err(anyhow::anyhow!(
            "--keep with a kernel image: the kept namespaces would live in the guest, which is gone \
             when the run ends; keep them on the host kernel alone (--kernel host)"
        )
        .into());
    }
    if args.html.is_some() {
        return Err(anyhow::anyhow!(
            "--html shows one kernel's run: run it without --kernel (or with --kernel host alone); \
             across kernels use the table, or --json"
        )
        .into());
    }
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
    let req = suite::Request {
        scenarios_dir: absolute_dir(sources),
        selection,
        json: args.json,
        jobs: args
            .jobs
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
            .max(1),
        pcap_dir: args
            .pcap_dir
            .as_ref()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone())),
        artifacts: synlab::report::artifacts::default_dir(),
    };
    suite::run(&targets, cases, &req).map_err(|e| Fatal(anyhow::anyhow!(e)))
}

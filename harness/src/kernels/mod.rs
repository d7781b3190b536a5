//! Cases on kernels (Contracts 4 and 6): the running kernel in this process,
//! and any other kernel image booted in a throw-away virtme-ng guest (`vng`,
//! qemu underneath) that runs this very binary with `--json`; its rows come
//! back as data, typed, and every case of every kernel goes to the same
//! reporters. Also what `synlab kernels` lists and what `synlab bench
//! --kernel` boots. It lives in the library because naming, fetching and
//! booting kernels is what `run`, `bench`, `table` and the tests all use; the
//! CLI only parses arguments, chooses reporters and picks the exit code.

mod group;
mod guest;
mod guest_run;
mod host;
mod image;
mod kvm;
mod list;
mod reaper;
mod suite;
mod tools;
mod vm;

use std::path::PathBuf;

use crate::error::RunError;
use crate::lab::LabError;
use crate::report::ReportError;
use crate::scenario::Case;

pub use guest_run::{Guest, SuiteBoot};
pub use list::list;
pub use suite::run;

/// A kernel to run the cases on.
#[derive(Debug, Clone)]
pub enum Kernel {
    /// The running kernel, in this process.
    Host,
    /// A kernel image, booted in a guest.
    Image(image::Image),
}

impl Kernel {
    /// What `--kernel ARG` names: `host`, or a kernel image (a vmlinuz file,
    /// a folder with `boot/vmlinuz-*`, or a release with `/boot/vmlinuz-RELEASE`).
    pub fn named(arg: &str) -> Result<Kernel, KernelError> {
        if arg == "host" {
            return Ok(Kernel::Host);
        }
        image::Image::find(arg)
            .map(Kernel::Image)
            .map_err(|why| KernelError::Image {
                arg: arg.to_owned(),
                why,
            })
    }
}

/// Whether running on `kernels` is a run across kernels (anything but the
/// running kernel alone): the outputs then name each case with its kernel.
pub fn across(kernels: &[Kernel]) -> bool {
    kernels.len() > 1 || kernels.iter().any(|k| matches!(k, Kernel::Image(_)))
}

/// What a guest runs: `synlab [--scenarios-dir DIR] run SELECTION... --json`.
#[derive(Debug, Clone)]
pub struct GuestArgs {
    /// This synlab binary (the host's file, visible read-only in the guest):
    /// `std::env::current_exe()`.
    pub exe: PathBuf,
    /// `--scenarios-dir`, when the user chose a folder (absolute).
    pub scenarios_dir: Option<PathBuf>,
    /// The selection: scenario names or absolute paths, or `--all`, and
    /// `--filter TEXT`.
    pub selection: Vec<String>,
}

/// Where pcaps go: every case's into `every` (`--pcap-dir`), else a case
/// that did not pass into `failing` (the artifacts folder); across kernels,
/// into a folder per kernel release inside them.
#[derive(Debug, Clone)]
pub struct Pcaps {
    pub every: Option<PathBuf>,
    pub failing: PathBuf,
}

/// A run: its cases and how to run them.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The reports' title (`synlab run ts-off`).
    pub title: String,
    pub cases: Vec<Case>,
    /// Cases at once on the running kernel, and kernels at once.
    pub jobs: usize,
    /// Keep each case's namespaces (the running kernel only).
    pub keep: bool,
    pub pcaps: Pcaps,
    pub guest: GuestArgs,
}

/// Why a run on kernels could not be made or finished.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("--kernel {arg}: {why}")]
    Image { arg: String, why: String },
    #[error(
        "--keep with a kernel image: the kept namespaces would live in the guest, which is \
         gone when the run ends; keep them on the host kernel alone (--kernel host)"
    )]
    KeepInGuest,
    /// A tool booting needs is missing (what to install is said).
    #[error("{0}")]
    Tools(String),
    #[error("{release}: cannot run the lab: {}", why.join("; "))]
    Blocked { release: String, why: Vec<String> },
    /// No privilege to make network namespaces (said as the lab says it).
    #[error(transparent)]
    Privilege(Box<LabError>),
    /// The running kernel's run stopped (no privilege after all).
    #[error(transparent)]
    Host(Box<RunError>),
    /// A guest did not give what the bench needs.
    #[error("{release}: {what}")]
    Guest { release: String, what: String },
    #[error(transparent)]
    Report(#[from] ReportError),
}

//! synlab: real Linux TCP stacks in throw-away network namespaces, driven by
//! declarative scenario files and judged against what the kernel really does.
//!
//! Flow, one direction: `scenario` (parse, validate, expand the matrix) ->
//! `lab` (namespaces, veth, addresses, sysctls) -> `exec` (the case's steps
//! over the two sides of `peer`, seen by `observe`: capture, sock_diag,
//! counters, state trace) -> `evidence` -> `judge` (outcome vs expectation,
//! with `rules`) -> `report`. `model` is the kernel's rules as code: what a
//! case should show and why, held against what it showed. `wire` is the
//! vocabulary they share; `run` ties them together for one case and for many;
//! `kernels` runs them on the running kernel and on kernel images booted in
//! VMs, every case to the reporters of `report`. `files` makes every file
//! synlab writes.
//!
//! The modules are private but `debian` (the Debian kernel cache, a tool of
//! its own): what follows is the whole public API, used by the `synlab` CLI,
//! its bench and the test runners.

pub mod debian;
mod error;
mod event;
mod evidence;
mod exec;
mod expect;
mod files;
mod handover;
mod judge;
mod kernels;
mod lab;
mod loc;
mod mib;
mod model;
mod names;
mod nfnetlink;
mod observe;
mod peer;
mod read;
mod release;
mod report;
mod rootless;
mod rows;
mod rules;
mod run;
mod scenario;
mod slots;
#[cfg(test)]
mod testing;
mod verdict;
mod wire;

pub use error::RunError;
pub use evidence::Outcome;
pub use evidence::{FirstConnection, Observation};
pub use files::{FileError, SafeDir, read_inside, write_named};
pub use judge::{Check, ClaimVerdict, Status, Unchecked, Verdict};
pub use kernels::{
    Guest, GuestArgs, Kernel, KernelError, Pcaps, Plan, SuiteBoot, across, list as list_kernels,
    run as run_on_kernels,
};
pub use lab::{CLIENT_IF, Lab, LabError, LabSpec, SERVER_IF, Shape, probe_privilege};
pub use model::{Agreement, Compared, Inputs, Prediction, Step, predict, rules_text};
pub use report::{
    CaseEnd, FanOut, HtmlReporter, JsonReporter, JunitReporter, KernelInfo, KtapReporter,
    ReportError, Reporter, RunEnd, TextReporter, artifacts_from_env, default_artifacts_dir,
    error_text, json_schema, render_text, report_case, timeline_plain, write_html, write_pcap,
};
pub use report::{KernelRecords, Record, RowsTable, Tally, rows_table};
pub use rootless::{Mode, enter_user_namespace_if_unprivileged, has_lab_caps, rootless_note};
pub use run::{CaseRun, RunOptions, default_jobs, kernel_release, run_case, run_cases};
pub use scenario::{
    Case, ClientKind, Family, Loc, MAX_ERRORS, MAX_FILE_BYTES, Scenario, ScenarioError, Sources,
    load_file, parse_str,
};
pub use wire::{Dir, Flags, Segment, Seq, Side, TcpState, TsVal};

//! A run, reported: on the running kernel alone, each case as it ends; across
//! kernels (`--kernel host --kernel IMAGE ...`), up to `jobs` kernels at once
//! (`host` in-process, each image in a virtme-ng guest), each kernel's cases
//! in the order the kernels were named, as soon as it and those before it
//! are done. Every case of every kernel goes to the same reporter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::lab::probe_privilege;
use crate::report::record::Tally;
use crate::report::{
    CaseEnd, KernelEnd, KernelInfo, ReportError, Reporter, RunEnd, RunInfo, report_case,
};
use crate::run::{RunOptions, kernel_release};

use super::guest_run::{self, KernelRun};
use super::kvm::{self, Accel};
use super::tools::Tools;
use super::{Kernel, KernelError, Plan, across, host, vm};

/// What a worker tells the thread that reports.
enum Msg {
    Note(KernelInfo, String),
    Done(usize, KernelRun),
    Failed(KernelError),
}

/// Run `plan`'s cases on every kernel of `kernels` (none: the running one)
/// and report them to `reporter`; how the run ended.
pub fn run(
    kernels: &[Kernel],
    plan: &Plan,
    reporter: &mut dyn Reporter,
) -> Result<RunEnd, KernelError> {
    let host_only = [Kernel::Host];
    let kernels = if kernels.is_empty() {
        &host_only[..]
    } else {
        kernels
    };
    let across = across(kernels);
    if across && plan.keep && kernels.iter().any(|k| matches!(k, Kernel::Image(_))) {
        return Err(KernelError::KeepInGuest);
    }
    if kernels.iter().any(|k| matches!(k, Kernel::Host)) {
        probe_privilege().map_err(|e| KernelError::Privilege(Box::new(e)))?;
    }
    // What booting needs is found before anything is reported.
    let guests = match kernels.iter().find_map(|k| match k {
        Kernel::Image(img) => Some(img),
        Kernel::Host => None,
    }) {
        Some(img) => Some((
            Tools::find().map_err(KernelError::Tools)?,
            kvm::probe(&img.path),
        )),
        None => None,
    };
    let started = Instant::now();
    reporter.run_started(&RunInfo {
        title: plan.title.clone(),
        cases: plan.cases.iter().map(|c| c.name.clone()).collect(),
        kernels: kernels.len(),
        across_kernels: across,
    })?;
    let (tally, unusable) = if across {
        across_kernels(kernels, plan, guests.as_ref(), reporter)?
    } else {
        (host_alone(plan, reporter)?, 0)
    };
    let end = RunEnd {
        tally,
        took: started.elapsed(),
        unusable,
    };
    reporter.run_ended(&end)?;
    Ok(end)
}

fn host_info(index: usize) -> KernelInfo {
    let release = kernel_release();
    KernelInfo {
        index,
        label: format!("host {release}"),
        release,
    }
}

/// The running kernel alone: each case reported as soon as it and those
/// before it are done.
fn host_alone(plan: &Plan, reporter: &mut dyn Reporter) -> Result<Tally, KernelError> {
    let started = Instant::now();
    let kernel = host_info(0);
    reporter.kernel_started(&kernel)?;
    let mut tally = Tally::default();
    let mut failed: Option<ReportError> = None;
    host::run(
        &plan.cases,
        &RunOptions { keep: plan.keep },
        plan.jobs,
        &plan.pcaps,
        None,
        |end: CaseEnd| {
            tally.add(end.record.conclusion);
            match report_case(reporter, &kernel, &end) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    let took = started.elapsed();
    reporter.kernel_ended(
        &kernel,
        &KernelEnd {
            how: format!(
                "the running kernel, in-process: {:.2} s wall time",
                took.as_secs_f64()
            ),
            tally: tally.clone(),
            took,
            unusable: None,
        },
    )?;
    Ok(tally)
}

/// The running kernel's column of a run across kernels: every case kept.
fn host_part(index: usize, plan: &Plan) -> Result<KernelRun, KernelError> {
    let started = Instant::now();
    let info = host_info(index);
    let mut ends = Vec::with_capacity(plan.cases.len());
    host::run(
        &plan.cases,
        &RunOptions::default(),
        plan.jobs,
        &plan.pcaps,
        Some(&info.release),
        |end| {
            ends.push(end);
            true
        },
    )?;
    let mut tally = Tally::default();
    for e in &ends {
        tally.add(e.record.conclusion);
    }
    let took = started.elapsed();
    Ok(KernelRun {
        info,
        ends,
        end: KernelEnd {
            how: format!(
                "the running kernel, in-process: {:.2} s wall time",
                took.as_secs_f64()
            ),
            tally,
            took,
            unusable: None,
        },
    })
}

/// Every kernel, `plan.jobs` at a time; reported in order. The counts of
/// every case, and how many kernels could not run the lab.
fn across_kernels(
    kernels: &[Kernel],
    plan: &Plan,
    guests: Option<&(Tools, Accel)>,
    reporter: &mut dyn Reporter,
) -> Result<(Tally, usize), KernelError> {
    let first_image = kernels.iter().enumerate().find_map(|(i, k)| match k {
        Kernel::Image(img) => Some((i, img)),
        Kernel::Host => None,
    });
    if let (Some((i, img)), Some((tools, accel))) = (first_image, guests) {
        let info = KernelInfo {
            index: i,
            label: img.release.clone(),
            release: img.release.clone(),
        };
        reporter.kernel_note(
            &info,
            &format!(
                "{} guests with {}, {} vCPU, {} memory; {}",
                accel.describe(),
                tools.vng_version,
                vm::CPUS,
                vm::MEMORY,
                if tools.pid_namespace {
                    "vng runs as the init of a PID namespace (qemu dies with synlab)"
                } else {
                    "WARNING: no PID namespace for vng (unshare --pid failed): a SIGKILL of \
                         synlab may leave qemu running"
                }
            ),
        )?;
    }
    let inv = guest_run::invocation(&plan.guest, plan.pcaps.every.is_some());
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut done: Vec<Option<KernelRun>> = kernels.iter().map(|_| None).collect();
    let mut tally = Tally::default();
    let mut unusable = 0;
    let mut failed: Option<KernelError> = None;
    std::thread::scope(|scope| {
        for _ in 0..plan.jobs.clamp(1, kernels.len()) {
            let tx = tx.clone();
            let (next, inv) = (&next, &inv);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(kernel) = kernels.get(i) else { return };
                    let msg = match (kernel, guests) {
                        (Kernel::Host, _) => match host_part(i, plan) {
                            Ok(run) => Msg::Done(i, run),
                            Err(e) => Msg::Failed(e),
                        },
                        (Kernel::Image(img), Some((tools, accel))) => Msg::Done(
                            i,
                            guest_run::run_image(
                                i,
                                img,
                                &plan.cases,
                                (tools, accel),
                                inv,
                                &plan.pcaps,
                                &|info, n| {
                                    let _ = tx.send(Msg::Note(info.clone(), n));
                                },
                            ),
                        ),
                        (Kernel::Image(_), None) => return,
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut reported = 0;
        for msg in rx {
            let result = match msg {
                Msg::Note(info, n) => reporter.kernel_note(&info, &n).map_err(KernelError::from),
                Msg::Failed(e) => Err(e),
                Msg::Done(i, run) => {
                    done[i] = Some(run);
                    let mut r = Ok(());
                    while let Some(Some(run)) = done.get(reported) {
                        if r.is_ok() {
                            r = report_kernel(reporter, run).map_err(KernelError::from);
                        }
                        tally.merge(&run.end.tally);
                        unusable += usize::from(run.end.unusable.is_some());
                        reported += 1;
                    }
                    r
                }
            };
            if let Err(e) = result {
                failed.get_or_insert(e);
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok((tally, unusable)),
    }
}

/// One kernel's part: its start, each case, its end.
fn report_kernel(reporter: &mut dyn Reporter, run: &KernelRun) -> Result<(), ReportError> {
    reporter.kernel_started(&run.info)?;
    for end in &run.ends {
        report_case(reporter, &run.info, end)?;
    }
    reporter.kernel_ended(&run.info, &run.end)
}

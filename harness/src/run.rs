//! Run cases: for each, build the lab, subscribe to the state trace, execute
//! its steps, judge the evidence, tear down. [`run_cases`] is the one entry the
//! CLI, the bench and the test runner share.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::RunError;
use crate::event::Event;
use crate::event::reconnect::{PortMode, Reconnect};
use crate::evidence::{self, Observation, Outcome};
use crate::exec::execute;
use crate::judge::{self, ClaimVerdict, Verdict};
use crate::lab::topology::every_addr;
use crate::lab::{KeepNames, Kept, Lab, LabSpec, NsThread, Role, Shape};
use crate::model::{self, Agreement, Prediction};
use crate::observe::trace::{self, SharedTrace, TraceError, TraceSpec};
use crate::scenario::{Case, ClientKind, Family};
use crate::slots::Slots;
use crate::wire::Side;

/// A finished case: evidence, outcome and verdict, and what synlab's model
/// of the kernel says about it.
#[derive(Debug, Clone)]
pub struct CaseRun {
    pub case: Case,
    pub kernel: String,
    pub obs: Observation,
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// The popular claim the case tests, held against the kernel.
    pub folklore: Option<ClaimVerdict>,
    /// What the model of the kernel's rules says the case shows, and why
    /// (`model::predict` on the case as it ran: what its event carried).
    pub prediction: Prediction,
    /// That prediction against what the kernel did: a disagreement is a
    /// finding about the model, and does not change the verdict.
    pub agreement: Agreement,
    pub duration: Duration,
    /// The named namespaces left for inspection (`--keep`).
    pub kept: Option<KeepNames>,
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// How to run cases.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep the namespaces (named, under /run/netns) for inspection.
    pub keep: bool,
}

/// Run `cases`, at most `jobs` working at once (at least one), and hand each result to
/// `done` in case order, as soon as it and every case before it are finished.
/// `done` returns `false` to stop: no case starts after that (the ones
/// running finish).
pub fn run_cases(
    cases: &[Case],
    opts: &RunOptions,
    jobs: usize,
    done: impl FnMut(&Case, Result<CaseRun, RunError>) -> bool + Send,
) {
    if cases
        .iter()
        .any(|c| matches!(c.topology, Shape::Nat { .. }))
    {
        load_nat_modules();
    }
    let slots = Slots::new(jobs.max(1));
    let results: Vec<Mutex<Option<Result<CaseRun, RunError>>>> =
        cases.iter().map(|_| Mutex::new(None)).collect();
    // The next case to hand over, and the callback: one lock, so results go
    // out in order and `done` needs no synchronisation of its own.
    let out = Mutex::new((0usize, done, true));
    std::thread::scope(|scope| {
        for (i, case) in cases.iter().enumerate() {
            // A thread per case, started once a slot is free; a case that
            // only waits gives its slot back meanwhile (`slots::idle`).
            slots.acquire();
            if !out.lock().map(|o| o.2).unwrap_or(false) {
                slots.release();
                break;
            }
            let (slots, results, out) = (Arc::clone(&slots), &results, &out);
            scope.spawn(move || {
                let r = Slots::hold(&slots, || run_case(case, opts));
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
                let Ok(mut o) = out.lock() else { return };
                let (next_out, done, go_on) = &mut *o;
                while *next_out < cases.len() {
                    let Some(r) = results[*next_out].lock().ok().and_then(|mut s| s.take()) else {
                        break;
                    };
                    *go_on &= done(&cases[*next_out], r);
                    *next_out += 1;
                }
            });
        }
    });
}

/// Have the kernel load what a NAT lab uses (nf_tables, its NAT chain and
/// masquerade, conntrack and ctnetlink), once, in a namespace of its own,
/// before any case starts. Loading them registers each module's per-namespace
/// operations, which holds `pernet_ops_rwsem` while the module's init runs
/// for every namespace (`register_pernet_subsys()` in
/// net/core/net_namespace.c): every case making or freeing a namespace
/// meanwhile waits. Done by the first NAT case instead, under emulation with
/// the suite running (Debian's 5.10, one vCPU), that stalled the cases
/// beside it for 15 s, past their deadlines. Best effort: a failure here is
/// met again, and reported, by the first NAT case.
fn load_nat_modules() {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let Ok(ns) = NsThread::spawn("nat-modules") else {
        return;
    };
    let _ = rt.block_on(ns.run(|| async {
        // Equivalent to: `nft add table inet synlab ... masquerade` and
        // `conntrack -G` of a tuple no one uses, in a throw-away namespace.
        let _ = crate::lab::nat::masquerade("lo");
        let nobody = crate::observe::conntrack::Tuple {
            src: SocketAddr::from(([198, 18, 0, 1], 1)),
            dst: SocketAddr::from(([198, 18, 0, 2], 1)),
        };
        let _ = crate::observe::conntrack::lookup_tcp(&nobody);
    }));
}

/// Run one case against the real kernel, on a fresh current-thread runtime;
/// [`RunError::Skipped`] without touching anything when the scenario's
/// `kernel = "..."` leaves this kernel out.
pub fn run_case(case: &Case, opts: &RunOptions) -> Result<CaseRun, RunError> {
    if let Some(why) = case.skip_on(&kernel_release()) {
        return Err(RunError::Skipped { why });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            what: "build a tokio runtime".into(),
            source,
        })?;
    rt.block_on(run_case_async(case, opts))
}

async fn run_case_async(case: &Case, opts: &RunOptions) -> Result<CaseRun, RunError> {
    let started = Instant::now();
    // The state trace's instance is shared by every case of the process; the
    // first case has it made while its lab is built.
    let scope = trace_scope();
    trace::prepare_shared(&scope);
    let spec = LabSpec {
        family: case.family,
        server_sysctl: case.server_sysctl.clone(),
        client_sysctl: client_sysctls(case),
        raw_client: case.client_kind == ClientKind::Raw,
        shape: case.topology,
    };
    // `--keep`: named namespaces, removed again unless the case ends with a
    // result that names them.
    let mut kept = opts
        .keep
        .then(|| Kept::new(KeepNames::for_case(&case.trial_name())));
    let lab = match kept.as_mut() {
        Some(k) => Lab::build_kept(&spec, k, case.timeout).await?,
        None => Lab::build(&spec, case.timeout).await?,
    };
    let server = lab.addr(Role::Server);
    let mut addrs: Vec<IpAddr> = lab.topology.addrs.iter().map(|(_, a)| *a).collect();
    addrs.dedup();
    let mut spec = TraceSpec::new(addrs)
        .ports(std::iter::once(case.port).chain(case.client_port.fixed()))
        .server(std::net::SocketAddr::new(server, case.port));
    for tid in lab.owners() {
        spec = spec.owner(tid);
    }
    // Waits for the instance when the first case gets here before it is made.
    let trace = tokio::task::spawn_blocking(move || SharedTrace::start(&scope, spec))
        .await
        .unwrap_or_else(|e| {
            Err(TraceError::Unavailable {
                why: format!("starting the state trace failed: {e}"),
            })
        });
    let kernel = kernel_release();
    // The case's deadline bounds the experiment, from a lab that is ready:
    // building one may take seconds where the kernel first loads a module
    // (nf_tables for a NAT, under emulation).
    let deadline = tokio::time::Instant::now() + case.timeout;
    let obs = execute(case, lab, trace, deadline).await?;
    let mut run = conclude(case.clone(), kernel, obs, started.elapsed());
    run.kept = kept.map(Kept::keep);
    Ok(run)
}

/// What `obs`, seen on `kernel`, shows for `case`: the outcome, the verdict
/// (the scenario's expectations against the kernel), the popular claim, and
/// the model's prediction held against the outcome.
pub(crate) fn conclude(
    case: Case,
    kernel: String,
    obs: Observation,
    duration: Duration,
) -> CaseRun {
    let outcome = evidence::analyze(&obs, &case.rule_settings());
    let verdict = judge::judge(&case, &outcome, &obs.known_counters, &kernel);
    let folklore = judge::folklore(&case, &outcome, &obs.known_counters, &kernel);
    let prediction = model::predict(&model::Inputs::observed(&case, &obs, &kernel));
    let agreement = prediction.agreement(&outcome, |m| case.measures(m));
    CaseRun {
        case,
        kernel,
        obs,
        outcome,
        verdict,
        folklore,
        prediction,
        agreement,
        duration,
        kept: None,
    }
}

/// The client namespace's sysctls: the case's, and for a reconnect that lets
/// `connect()` pick the port from a fixed `client_port`, `ip_local_port_range`
/// narrowed to it, so the port it picks is the one in TIME_WAIT (a scenario
/// that sets the range itself keeps its own).
fn client_sysctls(case: &Case) -> Vec<(String, String)> {
    const RANGE: &str = "net.ipv4.ip_local_port_range";
    let mut list = case.client_sysctl.clone();
    let ephemeral = matches!(
        case.event,
        Event::Reconnect(Reconnect {
            port: PortMode::Ephemeral,
            ..
        })
    );
    if let (true, Some(p), None) = (
        ephemeral,
        case.client_port.fixed(),
        case.sysctl(Side::Client, RANGE),
    ) {
        list.push((RANGE.into(), format!("{p} {p}")));
    }
    list
}

/// The cases a machine runs at once by default: four per CPU. A case spends
/// most of its time waiting for the kernel (a carrier, an answer, a timer's
/// age), so more cases than CPUs keep them busy.
pub fn default_jobs() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Every address a lab uses, in either family: what the shared state trace's
/// kernel filter lets through.
fn trace_scope() -> Vec<IpAddr> {
    [Family::V4, Family::V6]
        .into_iter()
        .flat_map(every_addr)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn case(kernel: &str) -> Case {
        let src = format!(
            "description = 'skip test'\nkernel = '{kernel}'\n[expect]\nanswer = 'syn-ack'\n"
        );
        crate::scenario::parse_str(Path::new("/s/timewait/skip.toml"), &src)
            .expect("parse")
            .cases
            .remove(0)
    }

    #[test]
    fn a_case_for_other_kernels_is_skipped_with_the_reason_and_touches_nothing() {
        // No kernel this runs on is older than 3.0: skipped before any
        // namespace (so no privilege is needed to see it).
        let e = run_case(&case("< 3.0"), &RunOptions::default()).expect_err("skipped");
        let why = e.skipped().expect("a skip, not another error");
        assert!(
            why.contains("for kernels < 3.0 (/s/timewait/skip.toml:2:10)"),
            "{why}"
        );
        assert!(why.contains(&kernel_release()), "{why}");
    }

    #[test]
    fn skip_on_compares_the_release() {
        let c = case(">= 6.14");
        assert_eq!(c.skip_on("6.18.44-fc"), None);
        assert_eq!(c.skip_on("6.14.0"), None);
        let why = c.skip_on("6.1.0-57-amd64").expect("6.1 is outside");
        assert!(why.contains("this one is 6.1.0 (6.1.0-57-amd64)"), "{why}");
        assert!(
            c.skip_on("weird").is_some(),
            "an unreadable release is not run"
        );
        let mut all = c.clone();
        all.kernel = None;
        assert_eq!(all.skip_on("2.6.32"), None, "no condition: every kernel");
    }
}

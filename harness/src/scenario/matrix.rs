//! Expands a checked `Spec` into its cases (the product of every list-valued setting),
//! applies `[[expect.when]]`, and checks what only a whole case can show.

use super::expectations::When;
use super::model::{
    Case, ClientKind, ClientPort, Close, Expect, Folklore, KernelWhen, Loc, MAX_CASES, Measure,
};
use super::parse::Spec;
use crate::event::Around;
use crate::lab::Shape;
use crate::read::error::{ScenarioError, invalid};
use crate::read::setting::{Axis, Sel};
use crate::wire::Side;

/// The scenario a case belongs to.
pub(crate) struct Origin<'a> {
    pub area: &'a str,
    pub name: &'a str,
    pub file: &'a std::path::Path,
}

/// A `when` with each condition resolved to (axis index, value index).
struct Resolved<'a> {
    conds: Vec<(usize, usize)>,
    when: &'a When,
}

/// Expands `spec` into its cases, or returns every error found.
pub(crate) fn expand(origin: &Origin<'_>, spec: &Spec) -> Result<Vec<Case>, ScenarioError> {
    let mut axes = axes(spec);
    let mut errors = Vec::new();

    // Labels: the short one unless an earlier axis already took it.
    for i in 0..axes.len() {
        let (done, rest) = axes.split_at_mut(i);
        let axis = &mut rest[0];
        if done.iter().any(|a| a.label == axis.label) {
            axis.label = axis.long_label.to_owned();
            if done.iter().any(|a| a.label == axis.label) {
                errors.push(invalid(
                    axis.loc.clone(),
                    axis.field,
                    format!("axis label {:?} is used twice", axis.label),
                ));
            }
        }
    }

    let mut total: usize = 1;
    for axis in &axes {
        total = total.saturating_mul(axis.texts.len());
        if total > MAX_CASES {
            errors.push(invalid(
                axis.loc.clone(),
                axis.field,
                format!(
                    "this list brings the matrix to {} cases, more than the {MAX_CASES} allowed \
                     in one file; split the scenario",
                    if total == usize::MAX {
                        "too many".to_owned()
                    } else {
                        total.to_string()
                    }
                ),
            ));
            break;
        }
    }

    let whens: Vec<Resolved<'_>> = spec
        .when
        .iter()
        .map(|w| resolve_when(&axes, w, &mut errors))
        .collect();
    let folklore_whens: Vec<Resolved<'_>> = spec
        .folklore
        .iter()
        .flat_map(|f| &f.when)
        .map(|w| resolve_when(&axes, w, &mut errors))
        .collect();
    ScenarioError::check_file(std::mem::take(&mut errors))?;

    let mut cases = Vec::with_capacity(total);
    let mut used = vec![false; whens.len()];
    let mut folklore_used = vec![false; folklore_whens.len()];
    let mut sel = vec![0usize; axes.len()];
    loop {
        let mut expect = spec.expect.clone();
        let mut kernel_expect = Vec::new();
        for (i, w) in whens.iter().enumerate() {
            if w.conds.iter().all(|&(axis, value)| sel[axis] == value) {
                used[i] = true;
                match &w.when.kernel {
                    None => expect.merge(&w.when.expect),
                    Some(cond) => kernel_expect.push(KernelWhen {
                        cond: cond.clone(),
                        expect: w.when.expect.clone(),
                    }),
                }
            }
        }
        let mut case = build(
            origin,
            spec,
            &Sel {
                axes: &axes,
                picks: &sel,
            },
            expect,
        );
        case.kernel_expect = kernel_expect;
        case.folklore = spec.folklore.as_ref().map(|f| {
            let mut predicts = f.predicts.clone();
            for (i, w) in folklore_whens.iter().enumerate() {
                if w.conds.iter().all(|&(axis, value)| sel[axis] == value) {
                    folklore_used[i] = true;
                    predicts.merge(&w.when.expect);
                }
            }
            Folklore {
                claim: f.claim.clone(),
                predicts,
            }
        });
        case.measure = measures(&case);
        cases.push(case);
        if !advance(&mut sel, &axes) {
            break;
        }
    }

    for (w, used) in whens
        .iter()
        .zip(&used)
        .chain(folklore_whens.iter().zip(&folklore_used))
    {
        if !used {
            errors.push(invalid(
                w.when.loc.clone(),
                &w.when.field,
                "matches no case",
            ));
        }
    }
    check_cases(spec, &cases, &mut errors);
    ScenarioError::check_file(errors)?;
    Ok(cases)
}

/// Every list-valued setting, in file order.
fn axes(spec: &Spec) -> Vec<Axis<'_>> {
    let mut out: Vec<Axis<'_>> = [&spec.sysctl, &spec.server_sysctl, &spec.client_sysctl]
        .into_iter()
        .flatten()
        .filter_map(Axis::of)
        .collect();
    out.extend(Axis::of(&spec.port));
    out.extend(Axis::of(&spec.client_port));
    out.extend(Axis::of(&spec.count));
    out.extend(Axis::of(&spec.family));
    out.extend(Axis::of(&spec.closes_first));
    out.extend(Axis::of(&spec.close));
    out.extend(Axis::of(&spec.topology));
    out.extend(Axis::of(&spec.clients));
    out.extend(spec.listener.as_ref().and_then(Axis::of));
    out.extend(spec.event.axes());
    // Stable: file order decides which of two equal labels is the later one.
    out.sort_by_key(|a| a.pos);
    out
}

fn resolve_when<'a>(
    axes: &[Axis<'_>],
    when: &'a When,
    errors: &mut Vec<ScenarioError>,
) -> Resolved<'a> {
    let mut conds = Vec::new();
    for cond in &when.conds {
        let Some(ai) = axes.iter().position(|a| a.label == cond.label) else {
            let known = if axes.is_empty() {
                "this scenario has no list-valued setting, so there is no axis to match".to_owned()
            } else {
                format!(
                    "axes are: {}",
                    axes.iter()
                        .map(|a| a.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            errors.push(invalid(
                cond.label_loc.clone(),
                &cond.field,
                format!("no matrix axis named {:?}; {known}", cond.label),
            ));
            continue;
        };
        let axis = &axes[ai];
        let text = (axis.normalise)(&cond.value).unwrap_or_else(|| cond.value.to_string());
        match axis.texts.iter().position(|t| *t == text) {
            Some(vi) => conds.push((ai, vi)),
            None => errors.push(invalid(
                cond.value_loc.clone(),
                &cond.field,
                format!(
                    "{text:?} is not one of the values of {}: {}",
                    axis.label,
                    axis.texts.join(", ")
                ),
            )),
        }
    }
    Resolved { conds, when }
}

/// Steps `sel` to the next combination, last axis fastest; false after the last one.
fn advance(sel: &mut [usize], axes: &[Axis<'_>]) -> bool {
    for (i, axis) in axes.iter().enumerate().rev() {
        sel[i] += 1;
        if sel[i] < axis.texts.len() {
            return true;
        }
        sel[i] = 0;
    }
    false
}

fn build(origin: &Origin<'_>, spec: &Spec, sel: &Sel<'_>, expect: Expect) -> Case {
    let mut name = origin.name.to_owned();
    let mut values = Vec::with_capacity(sel.axes.len());
    for (axis, &i) in sel.axes.iter().zip(sel.picks) {
        let text = axis.texts[i];
        name.push('/');
        name.push_str(&axis.component(text));
        values.push((axis.label.clone(), text.to_owned()));
    }

    let both: Vec<(String, String)> = spec
        .sysctl
        .iter()
        .map(|s| (s.key.clone(), s.pick(sel).value.clone()))
        .collect();
    let side = |list: &[crate::read::setting::Setting<String>]| {
        let mut out = both.clone();
        for s in list {
            let value = s.pick(sel).value.clone();
            match out.iter_mut().find(|(k, _)| *k == s.key) {
                Some(entry) => entry.1 = value,
                None => out.push((s.key.clone(), value)),
            }
        }
        out
    };
    Case {
        area: origin.area.to_owned(),
        scenario: origin.name.to_owned(),
        name,
        file: origin.file.to_path_buf(),
        builtin: false,
        description: spec.description.clone(),
        kernel_ref: spec.kernel_ref.clone(),
        values,
        server_sysctl: side(&spec.server_sysctl),
        client_sysctl: side(&spec.client_sysctl),
        client_kind: spec.client_kind,
        topology: match spec.topology.pick(sel).value {
            Shape::Nat { .. } => Shape::Nat {
                clients: spec.clients.pick(sel).value,
            },
            other => other,
        },
        family: spec.family.pick(sel).value,
        closes_first: spec.closes_first.pick(sel).value,
        close: spec.close.pick(sel).value,
        listener: spec.listener.as_ref().map(|l| l.pick(sel).value),
        event: spec.event.build(sel),
        kernel: spec.kernel.clone(),
        port: spec.port.pick(sel).value,
        client_port: spec.client_port.pick(sel).value,
        count: spec.count.pick(sel).value,
        expect,
        kernel_expect: Vec::new(),
        folklore: None,
        timeout: spec.timeout,
        measure: Vec::new(),
    }
}

/// What the executor must measure for `case`: whatever an expectation of it
/// needs, on any kernel, or its claim's.
fn measures(case: &Case) -> Vec<Measure> {
    let mut out: Vec<Measure> = Vec::new();
    let all = std::iter::once(&case.expect)
        .chain(case.kernel_expect.iter().map(|w| &w.expect))
        .chain(case.folklore.iter().map(|f| &f.predicts));
    for m in all.flat_map(Expect::needs) {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

const TIMESTAMPS: &str = "net.ipv4.tcp_timestamps";

/// Checks that need a whole case; each reports its first failing case and how many more.
fn check_cases(spec: &Spec, cases: &[Case], errors: &mut Vec<ScenarioError>) {
    let mut report = |failing: Vec<(&Case, Loc, String, String)>| {
        let more = failing.len().saturating_sub(1);
        if let Some((case, loc, field, message)) = failing.into_iter().next() {
            let more = match more {
                0 => String::new(),
                1 => " (and 1 more case)".to_owned(),
                n => format!(" (and {n} more cases)"),
            };
            errors.push(invalid(
                loc,
                field,
                format!("{message} in case {}{more}", case.name),
            ));
        }
    };

    report(
        cases
            .iter()
            .filter(|c| c.client_port == ClientPort::Fixed(c.port))
            .map(|c| {
                (
                    c,
                    spec.client_port.loc_of(&c.client_port),
                    spec.client_port.field.clone(),
                    format!("must differ from port (both are {})", c.port),
                )
            })
            .collect(),
    );

    // The event against the rest of the case (its client, whose TIME_WAIT,
    // its own values).
    report(
        cases
            .iter()
            .filter_map(|c| {
                let loc_of = |field: &str| match field {
                    "connection.closes_first" => spec.closes_first.loc_of(&c.closes_first),
                    _ => spec.expect_loc.clone(),
                };
                let around = Around {
                    raw_client: c.client_kind == ClientKind::Raw,
                    closes_first: c.closes_first,
                    timestamps_off: [Side::Server, Side::Client]
                        .into_iter()
                        .find(|&side| !c.sysctl_on(side, TIMESTAMPS)),
                    client_timestamps: Some(
                        c.sysctl(Side::Client, TIMESTAMPS)
                            .map_or(Some(1), |v| v.trim().parse().ok())
                            .unwrap_or(u8::MAX),
                    ),
                    nat_clients: match c.topology {
                        Shape::Nat { clients } => clients,
                        _ => 1,
                    },
                    loc_of: &loc_of,
                    table: &spec.expect_loc,
                };
                let (loc, field, message) = c.event.refuse(&around)?;
                Some((c, loc, field, message))
            })
            .collect(),
    );
    report(
        cases
            .iter()
            .filter(|c| c.close == Close::Linger0 && c.client_kind == ClientKind::Raw)
            .map(|c| {
                (
                    c,
                    spec.close.loc_of(&c.close),
                    "connection.close".to_owned(),
                    "close = \"linger0\" is a kernel socket's SO_LINGER: use kind = \"kernel\""
                        .to_owned(),
                )
            })
            .collect(),
    );
    // Several connections, or a port connect() picks: a kernel client's own.
    report(
        cases
            .iter()
            .filter_map(|c| {
                let raw = c.client_kind == ClientKind::Raw;
                let why = if c.count > 1 && c.client_port != ClientPort::Ephemeral {
                    "count > 1 needs client_port = \"ephemeral\": from one fixed port each \
                     connection would meet the TIME_WAIT of the one before"
                } else if raw && c.count > 1 {
                    "a raw client makes one connection; count is for kind = \"kernel\""
                } else if raw && c.client_port == ClientPort::Ephemeral {
                    "a raw client writes from a port of its own; client_port = \"ephemeral\" is \
                     for kind = \"kernel\""
                } else {
                    return None;
                };
                let (loc, field) = if c.count > 1 {
                    (spec.count.loc_of(&c.count), spec.count.field.clone())
                } else {
                    (
                        spec.client_port.loc_of(&c.client_port),
                        spec.client_port.field.clone(),
                    )
                };
                Some((c, loc, field, why.to_owned()))
            })
            .collect(),
    );
    // Several clients live behind a router; a raw client is the only one.
    report(
        cases
            .iter()
            .filter_map(|c| {
                let why = match c.topology {
                    Shape::Nat { clients } if clients > 1 && c.client_kind == ClientKind::Raw => {
                        "a raw client behind the NAT is the only client: clients = 1"
                    }
                    Shape::Nat { .. } => return None,
                    _ if spec.clients.choices.iter().any(|ch| ch.value > 1) => {
                        "several clients live behind a router: kind = \"nat\""
                    }
                    _ => return None,
                };
                Some((
                    c,
                    spec.clients.choices[0].loc.clone(),
                    spec.clients.field.clone(),
                    why.to_owned(),
                ))
            })
            .collect(),
    );
    // One namespace over lo: a kernel client, and one value per sysctl.
    report(
        cases
            .iter()
            .filter(|c| c.topology == Shape::Loopback)
            .filter_map(|c| {
                let at = spec.topology.loc_of(&c.topology);
                let field = "topology.kind".to_owned();
                if c.client_kind == ClientKind::Raw {
                    let why = "a raw client writes frames on its own veth end: kind = \"loopback\" \
                               has one namespace and no link; use kind = \"kernel\"";
                    return Some((c, at, field, why.to_owned()));
                }
                c.server_sysctl.iter().find_map(|(k, v)| {
                    let other = c.sysctl(Side::Client, k)?;
                    (other.trim() != v.trim()).then(|| {
                        let why = format!(
                            "client and server share one namespace over lo, but {k} is {v} for \
                             the server and {other} for the client"
                        );
                        (c, at.clone(), field.clone(), why)
                    })
                })
            })
            .collect(),
    );
    // An expectation of another event (what connect() returned, with no
    // [reconnect]), on any kernel.
    report(
        cases
            .iter()
            .filter_map(|c| {
                let event = c.event.name();
                std::iter::once(&c.expect)
                    .chain(c.kernel_expect.iter().map(|w| &w.expect))
                    .flat_map(Expect::fields)
                    .find_map(|(field, want)| {
                        let why = (field.fits)(event).err()?;
                        Some((
                            c,
                            want.loc.clone(),
                            format!("expect.{}", field.name),
                            why.to_owned(),
                        ))
                    })
            })
            .collect(),
    );
    report(
        cases
            .iter()
            .filter(|c| c.expect.is_empty())
            .map(|c| {
                (
                    c,
                    spec.expect_loc.clone(),
                    "expect".into(),
                    "sets nothing to check (answer, client_syns, time_wait_after, established or counters)"
                        .to_owned(),
                )
            })
            .collect(),
    );
}

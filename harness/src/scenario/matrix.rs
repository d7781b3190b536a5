//! Expands a checked `Spec` into its cases (the product of every list-valued setting),
//! applies `[[expect.when]]`, and checks what only a whole case can show.

use super::error::{ScenarioError, invalid};
use super::expr::compact;
use super::model::{
    At, Case, ClientKind, Close, EventKind, Expect, Folklore, KernelWhen, Loc, MAX_CASES, Measure,
    TsExpr,
};
use super::parse::SpecEvent;
use super::parse::{Choice, Setting, Spec};
use crate::wire::Side;

/// Which setting an axis varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Sysctl(usize),
    Server(usize),
    Client(usize),
    Port,
    ClientPort,
    Family,
    ClosesFirst,
    Close,
    Seq,
    Tsval,
    Flags,
    Ack,
    Len,
    ReconnectPort,
    AfterMs,
}

/// A list-valued setting, with its final label.
#[derive(Debug)]
struct Axis<'a> {
    slot: Slot,
    label: String,
    /// Used instead of `label` when an earlier axis already has that label.
    long_label: &'a str,
    field: &'a str,
    pos: usize,
    texts: Vec<&'a str>,
    loc: &'a Loc,
}

impl<'a> Axis<'a> {
    fn of<T>(slot: Slot, s: &'a Setting<T>) -> Option<Self> {
        let first = s.choices.first()?;
        s.axis.then(|| Axis {
            slot,
            label: s.label.clone(),
            long_label: &s.long_label,
            field: &s.field,
            pos: s.pos,
            texts: s.choices.iter().map(|c| c.text.as_str()).collect(),
            loc: &first.loc,
        })
    }

    /// The name component: the bare value for `family`, `label=value` otherwise.
    fn component(&self, text: &str) -> String {
        if self.slot == Slot::Family && self.label == "family" {
            text.to_owned()
        } else {
            format!("{}={text}", self.label)
        }
    }

    /// A `when` value as this axis spells its values.
    fn normalise(&self, text: String) -> String {
        match self.slot {
            Slot::Seq | Slot::Tsval | Slot::Ack => compact(&text),
            Slot::Flags => crate::wire::Flags::from_tcpdump(&text).tcpdump(),
            _ => text,
        }
    }
}

/// The scenario a case belongs to.
pub(crate) struct Origin<'a> {
    pub area: &'a str,
    pub name: &'a str,
    pub file: &'a std::path::Path,
}

/// A `when` with each condition resolved to (axis index, value index).
struct Resolved<'a> {
    conds: Vec<(usize, usize)>,
    when: &'a super::parse::When,
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
        let mut case = build(origin, spec, &axes, &sel, expect);
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
    let sides = [
        (&spec.sysctl, Slot::Sysctl as fn(usize) -> Slot),
        (&spec.server_sysctl, Slot::Server),
        (&spec.client_sysctl, Slot::Client),
    ];
    let mut out: Vec<Axis<'_>> = sides
        .into_iter()
        .flat_map(|(list, slot)| {
            list.iter()
                .enumerate()
                .filter_map(move |(i, s)| Axis::of(slot(i), s))
        })
        .collect();
    out.extend(Axis::of(Slot::Port, &spec.port));
    out.extend(Axis::of(Slot::ClientPort, &spec.client_port));
    out.extend(Axis::of(Slot::Family, &spec.family));
    out.extend(Axis::of(Slot::ClosesFirst, &spec.closes_first));
    out.extend(Axis::of(Slot::Close, &spec.close));
    out.extend(Axis::of(Slot::Seq, &spec.seq));
    out.extend(Axis::of(Slot::Tsval, &spec.tsval));
    match &spec.event {
        SpecEvent::Syn => {}
        SpecEvent::Segment {
            flags, ack, len, ..
        } => {
            out.extend(Axis::of(Slot::Flags, flags));
            out.extend(Axis::of(Slot::Ack, ack));
            out.extend(Axis::of(Slot::Len, len));
        }
        SpecEvent::Reconnect { port, after_ms } => {
            out.extend(Axis::of(Slot::ReconnectPort, port));
            out.extend(Axis::of(Slot::AfterMs, after_ms));
        }
    }
    // Stable: file order decides which of two equal labels is the later one.
    out.sort_by_key(|a| a.pos);
    out
}

fn resolve_when<'a>(
    axes: &[Axis<'_>],
    when: &'a super::parse::When,
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
        let text = axis.normalise(cond.value.to_string());
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

/// The choice an axis index selects (`choices` is never empty; a fixed setting uses 0).
fn pick<T>(s: &Setting<T>, i: usize) -> &Choice<T> {
    s.choices.get(i).unwrap_or(&s.choices[0])
}

fn build(
    origin: &Origin<'_>,
    spec: &Spec,
    axes: &[Axis<'_>],
    sel: &[usize],
    expect: Expect,
) -> Case {
    let index = |slot: Slot| {
        axes.iter()
            .position(|a| a.slot == slot)
            .map_or(0, |i| sel[i])
    };

    let mut name = origin.name.to_owned();
    let mut values = Vec::with_capacity(axes.len());
    for (axis, &i) in axes.iter().zip(sel) {
        let text = axis.texts[i];
        name.push('/');
        name.push_str(&axis.component(text));
        values.push((axis.label.clone(), text.to_owned()));
    }

    let both: Vec<(String, String)> = spec
        .sysctl
        .iter()
        .enumerate()
        .map(|(i, s)| (s.key.clone(), pick(s, index(Slot::Sysctl(i))).value.clone()))
        .collect();
    let side = |list: &[Setting<String>], slot: fn(usize) -> Slot| {
        let mut out = both.clone();
        for (i, s) in list.iter().enumerate() {
            let value = pick(s, index(slot(i))).value.clone();
            match out.iter_mut().find(|(k, _)| *k == s.key) {
                Some(entry) => entry.1 = value,
                None => out.push((s.key.clone(), value)),
            }
        }
        out
    };
    let server_sysctl = side(&spec.server_sysctl, Slot::Server);
    let client_sysctl = side(&spec.client_sysctl, Slot::Client);

    let seq = pick(&spec.seq, index(Slot::Seq));
    let tsval = pick(&spec.tsval, index(Slot::Tsval));
    let event = match &spec.event {
        SpecEvent::Syn => EventKind::Syn,
        SpecEvent::Segment {
            flags, ack, len, ..
        } => EventKind::Segment {
            flags: pick(flags, index(Slot::Flags)).value.clone(),
            ack: pick(ack, index(Slot::Ack)).value,
            len: pick(len, index(Slot::Len)).value,
        },
        SpecEvent::Reconnect { port, after_ms } => EventKind::Reconnect {
            port: pick(port, index(Slot::ReconnectPort)).value,
            after_ms: pick(after_ms, index(Slot::AfterMs)).value,
        },
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
        server_sysctl,
        client_sysctl,
        client_kind: spec.client_kind,
        family: pick(&spec.family, index(Slot::Family)).value,
        closes_first: pick(&spec.closes_first, index(Slot::ClosesFirst)).value,
        close: pick(&spec.close, index(Slot::Close)).value,
        event,
        kernel: spec.kernel.clone(),
        port: pick(&spec.port, index(Slot::Port)).value,
        client_port: pick(&spec.client_port, index(Slot::ClientPort)).value,
        seq: At {
            value: seq.value,
            loc: seq.loc.clone(),
        },
        tsval: At {
            value: tsval.value,
            loc: tsval.loc.clone(),
        },
        then: spec.then.clone(),
        expect,
        kernel_expect: Vec::new(),
        folklore: None,
        timeout: spec.timeout,
        measure: Vec::new(),
    }
}

/// Whether both sides have `net.ipv4.tcp_timestamps` on (the kernel default is 1), and if
/// not, which side has it off.
fn timestamps_off(case: &Case) -> Option<&'static str> {
    [Side::Server, Side::Client]
        .into_iter()
        .find(|&side| !case.sysctl_on(side, TIMESTAMPS))
        .map(Side::as_str)
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
            .filter(|c| c.port == c.client_port)
            .filter_map(|c| {
                let choice = spec
                    .client_port
                    .choices
                    .iter()
                    .find(|choice| choice.value == c.client_port)?;
                Some((
                    c,
                    choice.loc.clone(),
                    spec.client_port.field.clone(),
                    format!("must differ from port (both are {})", c.port),
                ))
            })
            .collect(),
    );

    report(
        cases
            .iter()
            .filter(|c| matches!(c.tsval.value, TsExpr::TsRecent(_)))
            .filter_map(|c| {
                let side = timestamps_off(c)?;
                Some((
                    c,
                    c.tsval.loc.clone(),
                    spec.tsval.field.clone(),
                    format!(
                        "a tsval relative to ts_recent needs timestamps negotiated, \
                         but {TIMESTAMPS} = 0 on the {side}"
                    ),
                ))
            })
            .collect(),
    );

    combination_checks(spec, cases, &mut report);

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

/// The location of the value a case took for a setting (its choice), or the
/// setting's first location.
fn choice_loc<T: PartialEq>(setting: &Setting<T>, value: &T) -> Loc {
    setting
        .choices
        .iter()
        .find(|c| c.value == *value)
        .unwrap_or(&setting.choices[0])
        .loc
        .clone()
}

/// Where a refused combination points, its field and its message.
type Refusal = (Loc, String, String);

/// Events, closers and clients that do not go together.
fn combination_checks(
    spec: &Spec,
    cases: &[Case],
    report: &mut impl FnMut(Vec<(&Case, Loc, String, String)>),
) {
    let cf = &spec.closes_first;
    let mut each = |what: &dyn Fn(&Case) -> Option<Refusal>| {
        report(
            cases
                .iter()
                .filter_map(|c| what(c).map(|(loc, field, m)| (c, loc, field, m)))
                .collect(),
        );
    };
    each(&|c| match (&c.event, c.client_kind, c.closes_first) {
        (EventKind::Segment { .. }, ClientKind::Kernel, _) => Some((
            spec.expect_loc.clone(),
            "segment".into(),
            "a [segment] is written by the raw client: set kind = \"raw\" in [client]".into(),
        )),
        (EventKind::Reconnect { .. }, ClientKind::Raw, _) => Some((
            spec.expect_loc.clone(),
            "reconnect".into(),
            "[reconnect] is a new socket of the kernel client: a raw client has no TIME_WAIT \
             of its own (kind = \"kernel\")"
                .into(),
        )),
        (EventKind::Reconnect { .. }, _, Side::Server) => Some((
            choice_loc(cf, &c.closes_first),
            "connection.closes_first".into(),
            "[reconnect] hits the client's own TIME_WAIT: closes_first must be \"client\"".into(),
        )),
        (EventKind::Syn | EventKind::Segment { .. }, _, Side::Client) => Some((
            choice_loc(cf, &c.closes_first),
            "connection.closes_first".into(),
            "with closes_first = \"client\" the TIME_WAIT is the client's: the event is \
             [reconnect]"
                .into(),
        )),
        _ => None,
    });
    each(&|c| {
        (c.close == Close::Linger0 && c.client_kind == ClientKind::Raw).then(|| {
            (
                choice_loc(&spec.close, &c.close),
                "connection.close".into(),
                "close = \"linger0\" is a kernel socket's SO_LINGER: use kind = \"kernel\"".into(),
            )
        })
    });
    if let SpecEvent::Segment {
        flags,
        ack_given,
        ack,
        ..
    } = &spec.event
    {
        each(&|c| match &c.event {
            EventKind::Segment { flags: f, .. } if *ack_given && !f.contains('.') => Some((
                ack.choices[0].loc.clone(),
                "segment.ack".into(),
                format!("flags {f:?} have no ACK: the segment carries no ack number"),
            )),
            _ => None,
        });
        let _ = flags;
    }
    // An expectation of another event (what connect() returned, with no
    // [reconnect]), on any kernel.
    each(&|c| {
        let event = c.event.name();
        std::iter::once(&c.expect)
            .chain(c.kernel_expect.iter().map(|w| &w.expect))
            .flat_map(Expect::fields)
            .find_map(|(field, want)| {
                let why = (field.fits)(event).err()?;
                Some((
                    want.loc.clone(),
                    format!("expect.{}", field.name),
                    why.to_owned(),
                ))
            })
    });
}

//! The model's tests: its branches one by one, the model against every
//! built-in scenario's expectations (what the kernel was measured to do, per
//! kernel release), a model with one branch swapped that must disagree, the
//! inputs read off a capture, and the rules text.

use super::timewait::{self, Arrival, BRANCHES, Effect, TimeWait};
use super::*;
use crate::evidence::Observation;
use crate::evidence::first_tests::{first_connection, seg};
use crate::expect::Expect;
use crate::release::Release;
use crate::scenario::{Case, builtin};
use crate::wire::{Dir, Flags};

fn tw() -> TimeWait {
    TimeWait {
        ts_recent: true,
        ts_recent_zero: false,
        timestamps: true,
        rfc1337: false,
    }
}

fn arrival(flags: &str, seq: i64, tsval: Option<i64>) -> Arrival {
    Arrival {
        flags: Flags::from_tcpdump(flags),
        seq,
        len: 0,
        tsval,
    }
}

/// Whether the expectation `name` is read off TIME_WAIT's timer (its table
/// entry needs the timer's age).
fn needs_timer(name: &str) -> bool {
    crate::expect::field(name)
        .is_some_and(|(_, f)| f.needs == Some(crate::expect::Measure::TimerAge))
}

/// What the prediction says of the fields read off TIME_WAIT's timer.
fn timer_claims(p: &Prediction) -> Vec<String> {
    p.claims()
        .into_iter()
        .filter(|(name, _)| needs_timer(name))
        .map(|(_, v)| v)
        .collect()
}

fn effect(tw: TimeWait, a: Arrival) -> Effect {
    timewait::decide(&BRANCHES, tw, a).effect
}

#[test]
fn a_syn_is_accepted_when_not_paws_rejected_and_seq_or_timestamp_is_newer() {
    let cases = [
        (1, Some(10), Effect::Reopen),
        (1, Some(0), Effect::Reopen),
        (1, Some(-1), Effect::Ack { rearm: true }),
        (1, None, Effect::Reopen),
        (0, Some(10), Effect::Reopen),
        (0, Some(0), Effect::Ack { rearm: false }),
        (-1000, Some(10), Effect::Reopen),
        (-1000, Some(0), Effect::Ack { rearm: false }),
        (-1000, Some(-10), Effect::Ack { rearm: true }),
        (-1000, None, Effect::Ack { rearm: false }),
    ];
    for (seq, ts, want) in cases {
        let d = timewait::decide(&BRANCHES, tw(), arrival("S", seq, ts));
        assert_eq!(d.effect, want, "seq {seq} ts {ts:?}: {}", d.why);
        assert!(
            d.why.ends_with("— tcp_timewait_state_process()"),
            "{}",
            d.why
        );
    }
}

#[test]
fn the_option_is_not_read_with_the_sysctl_off_and_ts_recent_zero_never_rejects() {
    let off = TimeWait {
        timestamps: false,
        ..tw()
    };
    let d = timewait::decide(&BRANCHES, off, arrival("S", -1000, Some(-10)));
    assert_eq!(
        d.effect,
        Effect::Ack { rearm: false },
        "no PAWS, no newer tsval"
    );
    assert!(
        d.why.contains("not read: net.ipv4.tcp_timestamps = 0"),
        "{}",
        d.why
    );
    assert_eq!(effect(off, arrival("S", 1, Some(-10))), Effect::Reopen);
    let zero = TimeWait {
        ts_recent_zero: true,
        ..tw()
    };
    assert_eq!(effect(zero, arrival("S", 1, Some(-10))), Effect::Reopen);
}

#[test]
fn every_branch_of_the_time_wait_state_machine_is_taken_and_named() {
    let rfc1337 = TimeWait {
        rfc1337: true,
        ..tw()
    };
    let data = Arrival {
        len: 100,
        ..arrival("P.", 0, Some(1))
    };
    let cases = [
        (tw(), arrival("R", 0, None), BRANCHES[0].name, Effect::Kill),
        (tw(), arrival("R.", 0, None), BRANCHES[0].name, Effect::Kill),
        (
            rfc1337,
            arrival("R", 0, None),
            BRANCHES[1].name,
            Effect::Keep { rearm: false },
        ),
        (
            tw(),
            arrival(".", 0, Some(1)),
            BRANCHES[2].name,
            Effect::Keep { rearm: true },
        ),
        (
            tw(),
            arrival("S", 1, Some(1)),
            timewait::REOPEN,
            Effect::Reopen,
        ),
        (
            tw(),
            arrival("SF", 1, Some(1)),
            timewait::REOPEN,
            Effect::Reopen,
        ),
        (
            tw(),
            arrival("S.", 1, Some(1)),
            timewait::ACK,
            Effect::Ack { rearm: true },
        ),
        (tw(), data, timewait::ACK, Effect::Ack { rearm: true }),
        (
            tw(),
            arrival("F", 0, Some(1)),
            timewait::ACK,
            Effect::Ack { rearm: false },
        ),
        (
            tw(),
            arrival(".", 0, Some(-1)),
            timewait::ACK,
            Effect::Ack { rearm: true },
        ),
        (
            tw(),
            arrival("R", 1, None),
            BRANCHES[5].name,
            Effect::Keep { rearm: false },
        ),
        (
            tw(),
            arrival("R", 0, Some(-1)),
            BRANCHES[5].name,
            Effect::Keep { rearm: false },
        ),
    ];
    for (state, a, branch, want) in cases {
        let d = timewait::decide(&BRANCHES, state, a);
        assert_eq!((d.branch, d.effect), (branch, want), "{a:?}: {}", d.why);
    }
    assert!(
        !timewait::rate_limitable(&data),
        "data is never rate-limited"
    );
    assert!(!timewait::rate_limitable(&arrival("F.", 0, None)));
    assert!(timewait::rate_limitable(&arrival("S", 0, None)));
    assert!(timewait::rate_limitable(&arrival(".", 0, None)));
}

/// The built-in cases.
fn builtin_cases() -> Vec<Case> {
    builtin::load_all()
        .expect("the shipped scenarios parse")
        .into_iter()
        .flat_map(|s| s.cases)
        .collect()
}

/// What `model` says for every built-in case that runs on `release`, held
/// against the case's expectations for that release (what the kernel was
/// measured to do): the cases that disagree, and how many fields were
/// compared.
fn against_expectations(model: &Model<'_>, release: &str) -> (Vec<String>, usize) {
    let r = Release::parse(release);
    let mut differ = Vec::new();
    let mut compared = 0;
    for case in builtin_cases() {
        if case.skip_on(release).is_some() {
            continue;
        }
        let expect = case.expect_on(r);
        let p = predict_with(model, &Inputs::planned(&case, r));
        let a = against(&p, &expect);
        assert!(
            a.checked() > 0,
            "{}: the model states nothing the scenario expects",
            case.name
        );
        compared += a.checked();
        for c in a.differences() {
            differ.push(format!(
                "{} {}: model {} ({}), scenario {:?}",
                case.name,
                c.field,
                c.predicted,
                p.why(),
                c.seen
            ));
        }
    }
    (differ, compared)
}

/// The fields both the prediction and the expectation state.
fn against(p: &Prediction, expect: &Expect) -> Agreement {
    p.compare(
        |name| expect.get(name).map(|w| Ok(w.value.to_string())),
        |client, name| {
            let list = if client {
                &expect.client_counters
            } else {
                &expect.counters
            };
            list.iter().find(|c| c.value.0 == name).map(|c| c.value.1)
        },
    )
}

#[test]
fn the_model_agrees_with_every_builtin_scenario_on_every_kernel_measured() {
    for kernel in [
        "6.18.44",
        "6.12.30",
        "6.1.0-28-amd64",
        "5.10.0-33-amd64",
        "7.0.1",
    ] {
        let (differ, compared) = against_expectations(&KERNEL, kernel);
        assert!(
            differ.is_empty(),
            "on {kernel}, {} disagreements:\n{}",
            differ.len(),
            differ.join("\n")
        );
        // Every case compares at least one field; most several.
        assert!(
            compared > 500,
            "only {compared} fields compared on {kernel}"
        );
    }
}

#[test]
fn a_wrong_branch_for_rst_with_rfc1337_makes_exactly_its_cases_disagree() {
    // The folklore's rule: any RST at rcv_nxt kills TIME_WAIT, tcp_rfc1337 or not.
    let wrong = rfc1337_ignored_swapped();
    let model = Model { time_wait: &wrong };
    let (differ, _) = against_expectations(&model, "6.18.44");
    let cases: std::collections::BTreeSet<&str> = differ
        .iter()
        .map(|d| d.split(' ').next().unwrap_or(""))
        .collect();
    // rst and rst-ack at rcv_nxt (2 timestamps x 2 families each), and the
    // raw peer's RST in rfc1337.toml (2 families).
    assert_eq!(cases.len(), 10, "{differ:#?}");
    assert!(
        cases.iter().all(|c| c.contains("tcp_rfc1337=1")),
        "{differ:#?}"
    );
    assert!(
        cases
            .iter()
            .filter(|c| c.starts_with("rst"))
            .all(|c| c.ends_with("/seq=rcv_nxt")),
        "{differ:#?}"
    );
    assert!(
        differ
            .iter()
            .any(|d| d.contains(" time_wait_after: model false")),
        "{differ:#?}"
    );
}

#[test]
fn every_event_kind_has_its_entry_and_every_claim_is_an_expectation() {
    let names = [
        crate::event::syn::NAME,
        crate::event::segment::NAME,
        crate::event::reconnect::NAME,
        crate::event::restart::NAME,
    ];
    assert_eq!(ENTRIES.len(), names.len());
    let mut kinds = std::collections::BTreeSet::new();
    for case in builtin_cases() {
        let i = Inputs::planned(&case, None);
        assert_eq!(i.event.name(), case.event.name());
        kinds.insert(i.event.name());
        let p = predict(&i);
        assert!(!p.steps.is_empty());
        for (name, _) in p.claims() {
            assert!(crate::expect::field(name).is_some(), "{name}");
        }
        for s in &p.steps {
            assert!(
                s.function.split(" / ").any(|f| s.why.contains(f)),
                "{s:?} does not name its function"
            );
        }
    }
    assert_eq!(
        kinds.len(),
        names.len(),
        "the built-in scenarios use every kind"
    );
}

#[test]
fn observed_inputs_are_what_the_capture_saw() {
    // A capture without timestamps (rcv_nxt wraps to 0), then a SYN 1000
    // below rcv_nxt, answered with the TIME_WAIT ACK.
    let mut segs = first_connection();
    let below = 0u32.wrapping_sub(1000);
    segs.push(seg(Dir::ToServer, "S", below, 0, 10));
    segs.push(seg(Dir::ToClient, ".", 5002, 0, 10));
    let obs = Observation::for_tests(segs);
    // The scenario asks for timestamps; the capture shows none were
    // negotiated, and the capture is what the model reads.
    let case = builtin_cases()
        .into_iter()
        .find(|c| c.name == "seq-below/tcp_timestamps=1/ipv4")
        .expect("seq-below is shipped");
    assert!(Inputs::planned(&case, None).timestamps_negotiated);
    let i = Inputs::observed(&case, &obs, "6.18.44-fc");
    assert!(!i.timestamps_negotiated);
    assert_eq!(i.release, Release::parse("6.18.44"));
    let EventInputs::Syn(e) = &i.event else {
        panic!("a SYN event: {:?}", i.event)
    };
    assert_eq!((e.syn.seq, e.syn.tsval), (-1000, None));
    let p = predict(&i);
    assert_eq!(p.answer, Some(crate::wire::Answer::Ack), "{}", p.why());
    assert_eq!(p.client_syns, Some(2), "{}", p.why());
    assert!(
        p.why().contains("tcp_rcv_synsent_state_process()"),
        "{}",
        p.why()
    );
}

#[test]
fn the_rules_text_has_a_block_per_event_and_follows_the_branches() {
    let text = rules_text();
    for e in &ENTRIES {
        assert!(text.contains(&format!("### {}\n", e.title)), "{}", e.title);
    }
    for f in [
        "tcp_timewait_state_process()",
        "tcp_twsk_unique()",
        "inet_csk_bind_conflict()",
        "tcp_disconnect()",
        "inet_twsk_alloc()",
        "tcp_fin_time()",
        "From Linux 6.10 on",
        "From Linux 6.14 on",
        "From Linux 6.16 on",
    ] {
        assert!(text.contains(f), "{f} missing from:\n{text}");
    }
    // The text is the model's: change a branch's rule and the text changes.
    let mut other = BRANCHES;
    other[1].rule = "Some other rule.";
    let changed = render::rules_of(&Model { time_wait: &other });
    assert!(changed.contains("Some other rule.") && !text.contains("Some other rule."));
}

/// The planned inputs of the built-in case `name`, on `kernel`.
fn planned(name: &str, kernel: &str) -> Inputs {
    let case = builtin_cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is shipped"));
    Inputs::planned(&case, Release::parse(kernel))
}

fn reconnect(i: &mut Inputs) -> &mut ReconnectInputs {
    match &mut i.event {
        EventInputs::Reconnect(r) => r,
        other => panic!("a reconnect: {other:?}"),
    }
}

#[test]
fn an_ephemeral_reconnect_follows_the_reuse_rule_of_its_kernel() {
    let name = "ephemeral/tcp_timestamps=1/client.tcp_tw_reuse=1/ipv4/after_ms=0";
    let connect = |i: &Inputs| predict(i).connect;
    // At once: within the reuse delay (6.14 on), and in the same second of
    // ktime_get_seconds() the harness aligned the close and the connect() to
    // (before 6.14).
    let now = planned(name, "6.18.44");
    assert_eq!(connect(&now).as_deref(), Some("EADDRNOTAVAIL"));
    let mut old = planned(name, "6.12.30");
    assert!(reconnect(&mut old).same_second);
    let p = predict(&old);
    assert_eq!(p.connect.as_deref(), Some("EADDRNOTAVAIL"), "{}", p.why());
    assert!(
        p.why().contains("one second of ktime_get_seconds()"),
        "{}",
        p.why()
    );
    // Not aligned, 250 ms may or may not cross into the next second.
    reconnect(&mut old).same_second = false;
    reconnect(&mut old).after_ms = 250;
    assert_eq!(connect(&old), None, "{}", predict(&old).why());
    reconnect(&mut old).after_ms = 1500;
    assert_eq!(connect(&old).as_deref(), Some("ok"));
    // 6.14 on: past the delay taken over; within SLACK_MS of it the moment
    // decides.
    let mut near = planned(name, "6.18.44");
    reconnect(&mut near).after_ms = 1100;
    assert_eq!(connect(&near).as_deref(), Some("ok"));
    reconnect(&mut near).after_ms = 950;
    assert_eq!(connect(&near), None);
    near.tw.tw_reuse_delay_ms = 200;
    reconnect(&mut near).after_ms = 250;
    assert_eq!(connect(&near).as_deref(), Some("ok"));
    // tcp_tw_reuse = 2 counts on loopback only.
    let mut lo = planned(
        "ephemeral/tcp_timestamps=1/client.tcp_tw_reuse=2/ipv4/after_ms=1100",
        "6.18.44",
    );
    assert_eq!(connect(&lo).as_deref(), Some("EADDRNOTAVAIL"));
    reconnect(&mut lo).loopback = true;
    assert_eq!(connect(&lo).as_deref(), Some("ok"));
    // A port bind() took first is never one connect() picks.
    reconnect(&mut lo).first_port_bound = true;
    let p = predict(&lo);
    assert_eq!(p.connect.as_deref(), Some("EADDRNOTAVAIL"), "{}", p.why());
    assert!(p.why().contains("tb->fastreuse"), "{}", p.why());
}

#[test]
fn a_kernel_client_behind_rfc1337_depends_on_how_long_the_case_watches() {
    let mut i = planned("seq-below/tcp_timestamps=0/ipv4", "6.18.44");
    i.tw.rfc1337 = true;
    let p = predict(&i);
    assert_eq!(p.answer, Some(crate::wire::Answer::Ack));
    assert_eq!((p.client_syns, p.established), (None, None), "{}", p.why());
    assert_eq!(p.time_wait_after, Some(true));
    assert!(p.counters.is_empty(), "no counters when timing decides");
    assert!(
        p.why().contains("rate-limited") || p.why().contains("held back"),
        "{}",
        p.why()
    );
    // A SYN at rcv_nxt - 1: the ACK acknowledges it, the client drops it.
    let mut one = planned("seq-below/tcp_timestamps=0/ipv4", "6.18.44");
    if let EventInputs::Syn(e) = &mut one.event {
        e.syn.seq = -1;
    }
    let p = predict(&one);
    assert_eq!((p.client_syns, p.established), (None, None), "{}", p.why());
    assert!(p.why().contains("discard_and_undo"), "{}", p.why());
}

#[test]
fn the_rate_limit_on_a_retry_is_told_only_where_timing_cannot_matter() {
    let base = planned("rfc1337/server.tcp_rfc1337=1/ipv4", "6.18.44");
    let skipped = |i: &Inputs| {
        let p = predict(i);
        p.counters
            .iter()
            .find(|(n, _)| *n == "TcpExt.TCPACKSkippedTimeWait")
            .map(|(_, v)| *v)
    };
    assert_eq!(skipped(&base), Some(1));
    let mut never = base.clone();
    never.tw.invalid_ratelimit_ms = 0;
    assert_eq!(skipped(&never), Some(0));
    assert_eq!(predict(&never).established, Some(false));
    let mut short = base;
    short.tw.invalid_ratelimit_ms = 50;
    assert_eq!(skipped(&short), None);
    assert_eq!(predict(&short).established, None);
}

#[test]
fn without_time_wait_a_segment_meets_the_listener() {
    let mut i = planned("ack/tcp_timestamps=1/ipv4/seq=rcv_nxt-1", "6.18.44");
    i.closing.close = crate::scenario::Close::Linger0;
    let p = predict(&i);
    assert_eq!(p.answer, Some(crate::wire::Answer::Rst), "{}", p.why());
    assert_eq!(p.time_wait_after, Some(false));
    // No TIME_WAIT: nothing is said of its timer or its length.
    let said: Vec<&str> = p.claims().iter().map(|(name, _)| *name).collect();
    assert_eq!(
        said,
        ["answer", "client_syns", "time_wait_after", "established"],
        "{}",
        p.why()
    );
    assert!(p.counters.contains(&("Tcp.OutRsts", 1)));
    let mut restart = planned(
        "reuse/listener=plain/restart=plain/topology=veth/ipv4",
        "6.18.44",
    );
    assert_eq!(predict(&restart).bind.as_deref(), Some("EADDRINUSE"));
    restart.closing.max_tw_buckets = Some(0);
    let p = predict(&restart);
    assert_eq!(p.bind.as_deref(), Some("ok"), "{}", p.why());
    assert_eq!(p.time_wait_after, Some(false));
}

#[test]
fn a_loopback_lab_is_loopback_for_tcp_twsk_unique_and_one_namespace_for_the_counters() {
    let src = "description = 'over lo'\n[topology]\nkind = 'loopback'\n\
               [connection]\ncloses_first = 'client'\n\
               [reconnect]\nport = 'ephemeral'\nafter_ms = 1100\n[expect]\nconnect = 'ok'\n";
    let case = crate::scenario::parse_str(std::path::Path::new("/s/lo/reuse.toml"), src)
        .expect("parse")
        .cases
        .remove(0);
    let mut i = Inputs::planned(&case, Release::parse("6.18.44"));
    assert!(i.one_namespace);
    assert!(reconnect(&mut i).loopback, "127.0.0.1 / ::1: loopback");
    let p = predict(&i);
    assert_eq!(p.connect.as_deref(), Some("ok"), "{}", p.why());
    assert!(p.why().contains("this is loopback"), "{}", p.why());
    // The SYN, the SYN-ACK and the ACK all count in the one namespace.
    assert!(p.counters.contains(&("Tcp.OutSegs", 3)), "{:?}", p.counters);
    // The same case over a veth: tcp_tw_reuse = 2 does not count.
    let mut veth = case.clone();
    veth.topology = crate::lab::Shape::Veth;
    let mut i = Inputs::planned(&veth, Release::parse("6.18.44"));
    assert!(!i.one_namespace && !reconnect(&mut i).loopback);
    assert_eq!(predict(&i).connect.as_deref(), Some("EADDRNOTAVAIL"));
    // A SYN at a server's TIME_WAIT over loopback: the kernel client's own
    // segments count too, so only what the server alone moves is stated.
    let mut syn = planned("seq-below/tcp_timestamps=0/ipv4", "6.18.44");
    syn.one_namespace = true;
    let names: Vec<&str> = predict(&syn).counters.iter().map(|(n, _)| *n).collect();
    assert!(
        !names.contains(&"Tcp.OutSegs") && !names.contains(&"Tcp.OutRsts"),
        "{names:?}"
    );
    assert!(names.contains(&"Tcp.PassiveOpens"), "{names:?}");
}

#[test]
fn behind_a_nat_another_machine_is_remapped_and_misses_the_time_wait() {
    let same = planned("same-machine/tcp_timestamps=1/ipv4", "6.18.44");
    let p = predict(&same);
    assert_eq!(p.nat_port.as_deref(), Some("kept"), "{}", p.why());
    assert_eq!(p.time_wait_after, Some(false), "the SYN reopened it");
    let mut other = planned("second-machine/tcp_timestamps=0/ipv4", "6.18.44");
    let p = predict(&other);
    assert_eq!(p.nat_port.as_deref(), Some("remapped"), "{}", p.why());
    assert_eq!(p.answer, Some(crate::wire::Answer::SynAck));
    assert_eq!(p.time_wait_after, Some(true), "{}", p.why());
    assert_eq!(timer_claims(&p), ["false"], "the timer is not re-armed");
    assert_eq!(p.isn_from_time_wait, Some(false), "the listener's own ISN");
    assert!(
        p.why().contains("nf_nat_l4proto_unique_tuple()"),
        "{}",
        p.why()
    );
    assert!(
        !p.steps.iter().any(|s| s.function == timewait::FUNCTION),
        "TIME_WAIT never sees the SYN: {}",
        p.why()
    );
    // After an RST close conntrack keeps the entry 10 s: the port is not
    // told, but with no TIME_WAIT the listener answers on either.
    other.closing.close = crate::scenario::Close::Linger0;
    let p = predict(&other);
    assert_eq!(p.nat_port, None, "{}", p.why());
    assert_eq!(p.answer, Some(crate::wire::Answer::SynAck));
    // Without a NAT nothing is said about it.
    assert_eq!(
        predict(&planned("seq-below/tcp_timestamps=0/ipv4", "6.18.44")).nat_port,
        None
    );
}

#[test]
fn a_restart_after_the_client_closed_meets_nothing_in_the_bind_bucket() {
    for options in ["plain", "reuseaddr", "reuseport", "both"] {
        let name = format!("client-closed/listener={options}/restart=plain/ipv6");
        let p = predict(&planned(&name, "5.10.0-33-amd64"));
        assert_eq!(p.bind.as_deref(), Some("ok"), "{name}: {}", p.why());
        assert!(p.why().contains("LAST_ACK"), "{}", p.why());
        assert_eq!(
            p.time_wait_after,
            Some(true),
            "the client's TIME_WAIT stays"
        );
    }
    let server = planned(
        "reuse/listener=plain/restart=plain/topology=loopback/ipv6",
        "5.10.0-33-amd64",
    );
    assert_eq!(predict(&server).bind.as_deref(), Some("EADDRINUSE"));
}

#[test]
fn a_field_whose_evidence_the_case_did_not_gather_is_listed_not_compared() {
    let p = predict(&planned("rfc1337/server.tcp_rfc1337=1/ipv4", "6.18.44"));
    assert_eq!(timer_claims(&p), ["false"], "{}", p.why());
    // A timer read 20 ms after an event 39 ms into TIME_WAIT, with 59.98 s
    // left: re-armed, but read without letting TIME_WAIT age first.
    let mut segments = first_connection();
    segments.push(seg(Dir::ToServer, ".", 7, 5002, 40));
    segments.push(seg(Dir::ToClient, ".", 5002, 0, 40));
    let mut obs = Observation::for_tests(segments);
    obs.event_index = Some(7);
    obs.timer_after = Some(crate::evidence::TimerReading {
        at_ns: 60_000_000,
        left_ms: 60_000 - 20,
    });
    let outcome = crate::evidence::analyze(&obs, &crate::rules::Settings::default());
    let timer = |a: &Agreement| {
        let timed: Vec<Compared> = a
            .compared
            .iter()
            .filter(|c| needs_timer(&c.field))
            .cloned()
            .collect();
        assert_eq!(timed.len(), 1, "the timer's field is listed once: {a:?}");
        timed[0].clone()
    };
    let unmeasured = p.agreement(&outcome, |_| false);
    let t = timer(&unmeasured);
    assert!(!t.differs(), "{t:?}");
    assert!(
        t.seen.as_ref().is_err_and(|e| e.contains("not measured")),
        "{t:?}"
    );
    let measured = p.agreement(&outcome, |m| m == crate::expect::Measure::TimerAge);
    let t = timer(&measured);
    assert!(t.differs(), "a measured timer is compared: {t:?}");
    assert_eq!(t.seen.as_deref(), Ok("true"), "{t:?}");
}

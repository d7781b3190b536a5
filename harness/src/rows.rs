//! The JSON rows of `synlab run --json` as types: the contract itself. Every
//! line is one [`Row`], tagged by `type` (`case`, `skip`, `error`, `summary`)
//! and carrying the schema `version`; docs/report.schema.json is generated
//! from these types (`synlab schema`), and a test fails when it is stale.
//!
//! Change a field here and the schema changes with it; a change that breaks a
//! consumer (a field removed, renamed or retyped) raises [`SCHEMA_VERSION`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::verdict::Status;

/// The version of this row format; every row carries it.
pub const SCHEMA_VERSION: u32 = 1;

/// The `version` field: always [`SCHEMA_VERSION`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Version;

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(SCHEMA_VERSION)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
        let v = u32::deserialize(d)?;
        if v == SCHEMA_VERSION {
            Ok(Version)
        } else {
            Err(serde::de::Error::custom(format!(
                "row format version {v}, this synlab reads version {SCHEMA_VERSION}"
            )))
        }
    }
}

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The schema version of the row format.",
            "type": "integer",
            "const": SCHEMA_VERSION,
        })
    }
}

/// One line of `synlab run --json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Row {
    /// A case that ran to its end, with its evidence and verdict.
    Case(Box<CaseRow>),
    /// A case that was not run on this kernel (its `kernel` condition).
    Skip(SkipRow),
    /// A case that could not be run to its end.
    Error(ErrorRow),
    /// The last line: the counts of the whole run.
    Summary(SummaryRow),
}

/// What the server answered first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AnswerKind {
    #[serde(rename = "syn-ack")]
    SynAck,
    #[serde(rename = "ack")]
    Ack,
    #[serde(rename = "rst")]
    Rst,
    #[serde(rename = "none")]
    None,
}

impl AnswerKind {
    /// The word, as the row writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::SynAck => "syn-ack",
            AnswerKind::Ack => "ack",
            AnswerKind::Rst => "rst",
            AnswerKind::None => "none",
        }
    }
}

/// A side of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SideKind {
    Server,
    Client,
}

/// Which way a segment went, seen from the server's veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Direction {
    /// Client to server.
    #[serde(rename = "c>s")]
    ToServer,
    /// Server to client.
    #[serde(rename = "s>c")]
    ToClient,
}

/// Contract 2 (and 3): one case that ran, with the evidence.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRow {
    pub version: Version,
    /// Scenario name: the file stem (`ts-off`).
    pub scenario: String,
    /// Case name: the scenario and its matrix values (`ts-off/ipv6`).
    pub case: String,
    /// `<area>::<scenario>::<case values>`, the name of its cargo test trial.
    pub trial: String,
    /// The scenario file (`scenarios/<area>/<name>.toml` for a built-in one).
    pub file: String,
    /// The scenario was the copy built into synlab.
    pub builtin: bool,
    /// The kernel's release (`uname -r`).
    pub kernel: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// The lab's shape (Contract 5): `veth` or `loopback`.
    pub topology: String,
    /// What the TIME_WAIT side answered first.
    pub answer: AnswerKind,
    /// SYNs the client sent until ESTABLISHED (or in all).
    pub client_syns: u32,
    /// The client completed the new handshake.
    pub established: bool,
    /// Milliseconds between the first and the second SYN of the reconnect.
    pub retry_gap_ms: Option<f64>,
    /// The TIME_WAIT socket was still there at the end.
    pub time_wait_after: bool,
    /// Why the kernel did so, by synlab's model (the same as
    /// `rules.kernel.why`; `null` only in rows of older versions).
    pub why: Option<String>,
    pub rules: Rules,
    /// What the scenario's raw peer noted.
    pub peer_notes: Vec<String>,
    /// The step under test as it went out.
    pub event: Event,
    /// Whose side was in TIME_WAIT (none after a linger0 close).
    pub time_wait_side: Option<SideKind>,
    /// TIME_WAIT's timer was pushed back by the event (none: not readable).
    pub timer_restarted: Option<bool>,
    /// TIME_WAIT's length in whole seconds, read from its timer (none: no
    /// TIME_WAIT, or the timer was not readable).
    pub time_wait_seconds: Option<u32>,
    pub timer: Timer,
    /// `[reconnect]`: `ok` or the errno name of bind()/connect().
    pub connect: Option<String>,
    /// `[listener] restart`: `ok` or the errno name of the new listener's
    /// bind()/listen() (Contract 5).
    pub bind: Option<String>,
    /// Behind a NAT: whether the server saw the client's own source port
    /// (`kept`) or another (`remapped`) on the new SYN (Contract 5).
    pub nat_port: Option<String>,
    /// With `[connection] count` > 1: each connection made before the event, in
    /// order (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionRow>,
    /// Behind a NAT: the router's conntrack entries of the connection, before
    /// and after the event (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conntrack: Vec<ConntrackRow>,
    pub reopen_isn: ReopenIsn,
    pub second_syn: SecondSyn,
    pub time_wait: TimeWait,
    /// The server namespace's changed MIB counters (`TcpExt.Name`, `Tcp.Name`, ...).
    pub counters: BTreeMap<String, i64>,
    /// The client namespace's changed MIB counters.
    pub client_counters: BTreeMap<String, i64>,
    /// Expected counters this kernel does not have.
    pub unavailable_counters: Vec<String>,
    /// Each expectation checked.
    pub checks: Vec<CheckRow>,
    /// Each expectation this kernel gave no way to check, and why.
    pub unchecked: Vec<UncheckedRow>,
    /// Every TCP segment on the server's veth.
    pub segments: Vec<SegmentRow>,
    /// State changes of both sides (`sock:inet_sock_set_state`).
    pub states: Vec<StateRow>,
    /// Resets sent or received.
    pub resets: Vec<ResetRow>,
    /// `trace` or `sock_diag`: where `states` came from.
    pub state_source: String,
    /// Why the state trace was not available.
    pub trace_unavailable: Option<String>,
    /// sock_diag snapshots (`ss -tan` lines).
    pub snapshots: Vec<Snapshot>,
    pub duration_ms: f64,
    /// `verdict == "pass"`.
    pub pass: bool,
    pub verdict: Status,
    /// The popular claim the case tests (`[folklore]`, or the "seq AND
    /// timestamp" rule for a SYN), judged against what the kernel did.
    pub folklore: Option<Folklore>,
    /// The case's pcap, when one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<String>,
}

/// The router's conntrack entry of the connection (`conntrack -L`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConntrackRow {
    pub t_ms: f64,
    /// `before the event` or `after the event`.
    pub when: String,
    /// conntrack's TCP state (`ESTABLISHED`, `TIME_WAIT`, ...).
    pub state: String,
    /// Seconds left.
    pub timeout_s: u32,
    /// The original tuple (`src=... dst=... sport=... dport=...`).
    pub orig: String,
    /// The reply tuple (behind a masquerade: towards the router's address).
    pub reply: String,
    /// The status bits (`SEEN_REPLY|ASSURED|SRC_NAT...`).
    pub status: String,
}

/// One of the connections made before the event.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRow {
    /// The client's port (the one `connect()` picked when it was ephemeral).
    pub client_port: u16,
    /// Its closer's side went to TIME_WAIT (sock_diag saw it).
    pub time_wait: bool,
}

/// The kernel's rules as synlab's model states them, held against what the
/// kernel did (every case), and the popular rule for a SYN that hit a
/// server's TIME_WAIT.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// What the SYN carried and what the server knew (a SYN at a server's
    /// TIME_WAIT only).
    pub inputs: Option<Inputs>,
    /// synlab's model of the kernel for this case (every case synlab writes
    /// has it; `null` only in rows of older versions).
    pub kernel: Option<KernelModel>,
    /// The popular "seq AND timestamp" rule (a SYN at a server's TIME_WAIT only).
    pub folklore: Option<Prediction>,
}

/// What synlab's model of the kernel's rules (`harness/src/model/`) says the
/// case shows, why, and whether the kernel did so. A disagreement is a
/// finding about the model; it does not change the case's verdict, which is
/// the scenario's expectations against the kernel.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelModel {
    /// What the model says the side under test answered first (`null`: the
    /// model makes no claim, because timing the case does not fix decides).
    pub answer: Option<AnswerKind>,
    /// Why, step by step, each step naming the kernel function it stands for.
    pub why: String,
    /// The kernel did what the model says in every field the case could
    /// show. Every row synlab writes has `true` or `false`; `null` only in a
    /// row of an older version read back.
    #[serde(default)]
    pub agrees: Option<bool>,
    /// How many fields the model stated and the case showed (each compared).
    #[serde(default)]
    pub checked: usize,
    /// The branches the model took, in order; the first decides whether
    /// there was a TIME_WAIT.
    #[serde(default)]
    pub steps: Vec<ModelStep>,
    /// Each field where the kernel did otherwise than the model says
    /// (empty when it agrees).
    #[serde(default)]
    pub differs: Vec<ModelDiff>,
}

/// One step of the model: a kernel function and the branch taken in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelStep {
    /// The kernel function: `tcp_timewait_state_process()`.
    pub function: String,
    /// Its source file: `net/ipv4/tcp_minisocks.c`.
    pub file: String,
    /// The branch, in a few words.
    pub branch: String,
}

/// A field where the kernel did otherwise than the model says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelDiff {
    /// The field as `[expect]` names it (`answer`, `counters.TcpExt.PAWSTimewait`).
    pub field: String,
    /// What the model says.
    pub predicted: String,
    /// What the kernel did.
    pub seen: String,
}

/// What the SYN carried and what the server knew, absolute.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    pub seq: u32,
    pub rcv_nxt: u32,
    pub tsval: Option<u32>,
    pub ts_recent: Option<u32>,
    pub server_ts_on: bool,
}

/// A rule's prediction and the reason in words.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    pub answer: AnswerKind,
    pub why: String,
}

/// The event under test (Contract 3).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Event {
    /// A SYN that hit TIME_WAIT.
    Syn(SegmentEvent),
    /// Another segment sent to the TIME_WAIT socket.
    Segment(SegmentEvent),
    /// A new connect() from the side that holds TIME_WAIT.
    Reconnect {
        /// `bind` or `ephemeral`.
        port: String,
        after_ms: u64,
    },
    /// The server's listener closed and a new one bound (`[listener] restart`).
    Restart {
        /// The new listener's options: `plain`, `reuseaddr`, `reuseport` or `both`.
        options: String,
    },
}

/// A segment event, relative to the TIME_WAIT socket.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentEvent {
    /// tcpdump letters (`S`, `F.`, `R`, ...).
    pub flags: Option<String>,
    pub seq_vs_rcv_nxt: Option<i64>,
    pub ack_vs_snd_nxt: Option<i64>,
    pub tsval_vs_ts_recent: Option<i64>,
    pub len: Option<u32>,
}

/// TIME_WAIT's timer before and after the event, in ms left.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    pub before_ms: Option<u32>,
    pub after_ms: Option<u32>,
}

/// The reopened connection's ISN on the TIME_WAIT side.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenIsn {
    pub seq_vs_snd_nxt: Option<i64>,
    /// It was the old `snd_nxt + 65537` (`tcp_timewait_state_process()`).
    pub from_time_wait: Option<bool>,
}

/// The second SYN relative to the TIME_WAIT socket.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondSyn {
    pub seq_vs_rcv_nxt: Option<i64>,
    pub tsval_vs_ts_recent: Option<i64>,
    /// The ISN forced with TCP_REPAIR, absolute.
    pub forced_isn: Option<u32>,
}

/// The TIME_WAIT socket's numbers, absolute.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWait {
    pub rcv_nxt: u32,
    pub snd_nxt: u32,
    pub ts_recent: Option<u32>,
}

/// One expectation and what was seen.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRow {
    /// The field checked (`answer`, `counters.TcpExt.PAWSTimewait`).
    pub field: String,
    /// `file:line:column` of the expectation.
    pub loc: String,
    pub expected: String,
    pub seen: String,
    pub ok: bool,
    /// How it was checked when not as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A popular claim against the kernel's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Folklore {
    pub claim: String,
    /// The kernel did what the claim predicts, in every field it predicts.
    pub holds: bool,
    /// Each predicted field the kernel did otherwise (`expected`: the claim's prediction).
    pub differs: Vec<CheckRow>,
}

/// An expectation this kernel gave no way to check.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UncheckedRow {
    pub field: String,
    pub loc: String,
    pub expected: String,
    pub why: String,
}

/// One TCP segment: relative and absolute numbers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentRow {
    /// Milliseconds since the first segment.
    pub t_ms: f64,
    pub direction: Direction,
    pub flags: String,
    /// Relative to the sender's first ISN.
    pub seq: i64,
    /// Relative to the receiver's first ISN; none without ACK.
    pub ack: Option<i64>,
    pub seq_abs: u32,
    pub ack_abs: u32,
    pub win: u16,
    pub tsval: Option<u32>,
    pub tsecr: Option<u32>,
    /// tsval relative to the sender's first tsval.
    pub tsval_rel: Option<i64>,
    /// Payload bytes.
    pub len: u32,
}

/// A state change of a socket of the case.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateRow {
    pub t_ms: f64,
    pub side: Option<SideKind>,
    pub old: String,
    pub new: String,
    pub src: String,
    pub dst: String,
}

/// A reset sent or received.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRow {
    pub t_ms: f64,
    pub side: Option<SideKind>,
    /// `sent` or `received`.
    pub direction: String,
    pub state: Option<String>,
    /// `enum sk_rst_reason` name (sent resets, 6.10+).
    pub reason: Option<String>,
}

/// A sock_diag snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub t_ms: f64,
    pub ss: String,
}

/// A case not run on this kernel.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRow {
    pub version: Version,
    pub scenario: String,
    pub case: String,
    pub trial: String,
    pub file: String,
    pub kernel: String,
    /// Why it was not run.
    pub reason: String,
    /// Always false: a skip is not a pass.
    pub pass: bool,
}

/// A case that could not be run to its end (the same identity fields as a case).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRow {
    pub version: Version,
    pub scenario: String,
    pub case: String,
    pub trial: String,
    pub file: String,
    pub kernel: String,
    /// What went wrong, with the segments seen until then.
    pub error: String,
    /// Always false.
    pub pass: bool,
}

/// How the cases of a run ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub pass: usize,
    pub partial: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
}

/// The counts of a whole run; the last line of `--json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryRow {
    pub version: Version,
    /// Every case passed (a skip does not count against it): `pass` means
    /// the same in every row (Contract 2).
    pub pass: bool,
    /// Cases in the run (the sum of the five counts).
    pub cases: usize,
    pub counts: Counts,
    /// The kernel's release.
    pub kernel: String,
    /// Wall time of the whole run.
    pub duration_ms: f64,
    /// The exit code synlab ends with: 0 when every case passed, else 1.
    pub exit_code: u8,
    /// synlab's model against this kernel, over the case rows (a
    /// disagreement does not change any count above).
    #[serde(default)]
    pub model: ModelSummary,
}

/// How many of a kernel's cases the model agrees with, and where it does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSummary {
    /// Case rows whose `rules.kernel.agrees` is true.
    pub agree: usize,
    /// Case rows that say whether the model agrees (every case that ran).
    pub cases: usize,
    /// Each field of each case where the kernel did otherwise.
    pub differ: Vec<ModelCaseDiff>,
}

impl ModelSummary {
    /// Count one case row (one that does not say, from an older version, is
    /// left out).
    pub fn add(&mut self, c: &CaseRow) {
        let Some(m) = &c.rules.kernel else { return };
        let Some(agrees) = m.agrees else { return };
        self.cases += 1;
        if agrees {
            self.agree += 1;
        }
        self.differ.extend(m.differs.iter().map(|d| ModelCaseDiff {
            case: c.case.clone(),
            field: d.field.clone(),
            predicted: d.predicted.clone(),
            seen: d.seen.clone(),
        }));
    }
}

/// A field of one case where the kernel did otherwise than the model says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelCaseDiff {
    /// The case name (`ts-off/ipv4`).
    pub case: String,
    pub field: String,
    pub predicted: String,
    pub seen: String,
}

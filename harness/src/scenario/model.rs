//! The typed, validated form of a scenario case: what the lab and the judge consume.
//! Parsing (`parse.rs`) turns a TOML file into a `Scenario`; `matrix.rs` expands it into `Case`s.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::expect::{Expect, Measure};
pub use crate::loc::{At, Loc};
use crate::release::{KernelCond, Release};
use crate::wire::Side;
pub use crate::wire::{Answer, Family};

/// More cases than this in one file is an error: a matrix that large is a typo.
pub const MAX_CASES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A real kernel socket in the client namespace.
    Kernel,
    /// Frames written by synlab on an AF_PACKET socket (no client kernel TCP).
    Raw,
}

impl ClientKind {
    /// The name the scenario file and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Kernel => "kernel",
            ClientKind::Raw => "raw",
        }
    }
}

/// How the side that closes first closes (`[connection] close`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// `close()`: a FIN, and TIME_WAIT after the peer's FIN.
    Fin,
    /// `SO_LINGER {1, 0}` then `close()`: an RST instead (`tcp_disconnect()`),
    /// no TIME_WAIT.
    Linger0,
}

impl Close {
    pub fn as_str(self) -> &'static str {
        match self {
            Close::Fin => "fin",
            Close::Linger0 => "linger0",
        }
    }
}

/// How the kernel client's new socket gets its port (`[reconnect] port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMode {
    /// `SO_REUSEADDR` and `bind(client_port)` before `connect()`, like `nc -p`.
    Bind,
    /// `connect()` picks the port; the client namespace's
    /// `ip_local_port_range` is narrowed to `client_port`, so it must collide.
    Ephemeral,
}

impl PortMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PortMode::Bind => "bind",
            PortMode::Ephemeral => "ephemeral",
        }
    }
}

/// What hits the TIME_WAIT socket: the file's `[second_syn]`, `[segment]` or
/// `[reconnect]`. The event's seq and tsval (`Case::seq`, `Case::tsval`) are
/// relative to the TIME_WAIT socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A SYN from the client's 4-tuple.
    Syn,
    /// One segment of any kind from the raw client.
    Segment {
        /// tcpdump letters: `S`, `S.`, `SF`, `.`, `F`, `F.`, `R`, `R.`, `P.`.
        flags: String,
        /// `ack` as an offset from the TIME_WAIT socket's `snd_nxt`.
        ack: i64,
        /// Payload bytes.
        len: u32,
    },
    /// A new `connect()` from the side that holds TIME_WAIT (the kernel client).
    Reconnect { port: PortMode, after_ms: u32 },
}

impl EventKind {
    /// The event's name, as expectations name the events they belong to.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Syn => "syn",
            EventKind::Segment { .. } => "segment",
            EventKind::Reconnect { .. } => "reconnect",
        }
    }
}

/// The second SYN's sequence number, relative to the server's TIME_WAIT `rcv_nxt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqExpr {
    /// Whatever the client kernel picks (`secure_tcp_seq()`).
    Auto,
    /// `rcv_nxt + offset` (offset may be negative); arithmetic is mod 2^32.
    RcvNxt(i64),
}

/// The second SYN's timestamp value, relative to the server's `ts_recent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsExpr {
    /// Kernel client: what the kernel sends. Raw peer: newer than `ts_recent` when
    /// timestamps were negotiated, no option otherwise.
    Auto,
    /// No timestamp option at all (raw peer only).
    Absent,
    /// `ts_recent + offset` (raw peer only); arithmetic is mod 2^32.
    TsRecent(i64),
}

/// What the raw peer does after the server answered the SYN that hit TIME_WAIT
/// (`[second_syn] then = ["rst", "syn"]`): what a SYN_SENT kernel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `RST seq=<the ACK's ack>` after an unacceptable ACK
    /// (tcp_rcv_synsent_state_process()).
    Rst,
    /// The same SYN again (a newer tsval when it was `auto`).
    Syn,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Rst => "rst",
            Step::Syn => "syn",
        }
    }
}

/// A popular claim about the experiment and the outcome it predicts for this
/// case (`[folklore]`, its overrides applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folklore {
    pub claim: String,
    pub predicts: Expect,
}

/// Overrides that hold on some kernels only (`match = { kernel = ">= 6.16" }`):
/// decided when the case runs, by the release of the kernel it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelWhen {
    pub cond: At<KernelCond>,
    pub expect: Expect,
}

/// One runnable case: a scenario with every matrix axis fixed to one value.
#[derive(Debug, Clone)]
pub struct Case {
    /// Area folder (`timewait`).
    pub area: String,
    /// Scenario name = file stem (`ts-off`).
    pub scenario: String,
    /// Case name: the scenario name, then one component per matrix axis (`ts-off/ipv6`).
    pub name: String,
    pub file: PathBuf,
    /// Read from the copy built into synlab (`file` is then the path it had
    /// in the repository, `scenarios/<area>/<name>.toml`).
    pub builtin: bool,
    pub description: String,
    pub kernel_ref: Option<String>,
    /// The matrix axis labels and the value this case takes, in file order.
    pub values: Vec<(String, String)>,
    /// `net.*` sysctls for the server namespace, full key -> value as written by sysctl(8).
    pub server_sysctl: Vec<(String, String)>,
    pub client_sysctl: Vec<(String, String)>,
    pub client_kind: ClientKind,
    pub family: Family,
    /// Whose side ends in TIME_WAIT (`[connection] closes_first`).
    pub closes_first: Side,
    pub close: Close,
    /// The event under test; `seq`, `tsval` and `then` belong to it.
    pub event: EventKind,
    /// The kernels the scenario is for (`kernel = ">= 6.14"`); on others each
    /// case is skipped, and says so.
    pub kernel: Option<At<KernelCond>>,
    pub port: u16,
    pub client_port: u16,
    pub seq: At<SeqExpr>,
    pub tsval: At<TsExpr>,
    /// The raw peer's steps after the answer (empty: it only observes).
    pub then: Vec<Step>,
    pub expect: Expect,
    /// Overrides of `expect` for some kernels, in file order.
    pub kernel_expect: Vec<KernelWhen>,
    /// The popular claim the scenario tests, if it states one.
    pub folklore: Option<Folklore>,
    /// Deadline for the whole case.
    pub timeout: Duration,
    /// What the executor measures beyond the usual evidence, because an
    /// expectation of the case (on some kernel, or of its claim) needs it.
    pub measure: Vec<Measure>,
}

impl Case {
    /// The file as reports show it: `scenarios/timewait/ts-off.toml (builtin)`
    /// for a built-in scenario, else its path.
    pub fn file_label(&self) -> String {
        if self.builtin {
            format!("{} (builtin)", self.file.display())
        } else {
            self.file.display().to_string()
        }
    }

    /// The trial name used by `tests/scenarios.rs`: `<area>::<scenario>::<case>`.
    pub fn trial_name(&self) -> String {
        let rest = self
            .name
            .strip_prefix(&self.scenario)
            .map(|r| r.trim_start_matches('/'))
            .unwrap_or(&self.name);
        let rest = if rest.is_empty() { "default" } else { rest };
        format!("{}::{}::{}", self.area, self.scenario, rest)
    }

    /// The expectation on a kernel of `release`: `expect` with every kernel
    /// override that holds for it applied, in file order.
    pub fn expect_on(&self, release: Option<Release>) -> Expect {
        let mut expect = self.expect.clone();
        for w in &self.kernel_expect {
            if release.is_some_and(|r| w.cond.value.matches(r)) {
                expect.merge(&w.expect);
            }
        }
        expect
    }

    /// Why the case does not run on a kernel of `release` (`uname -r`): the
    /// scenario's `kernel = "..."` leaves that kernel out, or the release is
    /// not a version to compare. `None`: it runs there.
    pub fn skip_on(&self, release: &str) -> Option<String> {
        let cond = self.kernel.as_ref()?;
        match Release::parse(release) {
            Some(r) if cond.value.matches(r) => None,
            Some(r) => Some(format!(
                "the scenario is for kernels {} ({}), this one is {r} ({release})",
                cond.value, cond.loc
            )),
            None => Some(format!(
                "the scenario is for kernels {} ({}), and this kernel's release {release:?} \
                 is not a version to compare",
                cond.value, cond.loc
            )),
        }
    }

    /// Whether the executor gathers `what` for this case.
    pub fn measures(&self, what: Measure) -> bool {
        self.measure.contains(&what)
    }

    /// The value of a sysctl for one side, if the case sets it.
    pub fn sysctl(&self, side: Side, key: &str) -> Option<&str> {
        let list = match side {
            Side::Server => &self.server_sysctl,
            Side::Client => &self.client_sysctl,
        };
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether a boolean sysctl is on for one side: set to anything but 0, or
    /// not set (the switches the harness reads, like `tcp_timestamps`, default on).
    pub fn sysctl_on(&self, side: Side, key: &str) -> bool {
        self.sysctl(side, key).is_none_or(|v| v.trim() != "0")
    }
}

impl Case {
    /// A file name for this case's artifacts: the trial name with `::` and `/`
    /// turned into `.` and `_` (`timewait.ts-off.ipv6.pcap`).
    pub fn pcap_file_name(&self) -> String {
        let mut s: String = self
            .trial_name()
            .replace("::", ".")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.=".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        s.push_str(".pcap");
        s
    }
}

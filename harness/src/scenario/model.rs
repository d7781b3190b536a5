//! The typed, validated form of a scenario case: what the lab and the judge consume.
//! Parsing (`parse.rs`) turns a TOML file into a `Scenario`; `matrix.rs` expands it into `Case`s.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::event::Event;
use crate::event::restart::Options;
pub use crate::expect::{Expect, Measure};
use crate::lab::Shape;
pub use crate::loc::{At, Loc};
pub use crate::read::expr::{SeqExpr, TsExpr};
pub use crate::read::setting::MAX_CASES;
use crate::release::{KernelCond, Release};
use crate::wire::Side;
pub use crate::wire::{Answer, Family};

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

/// The kernel client's port (`[connection] client_port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientPort {
    /// `bind()` to this port (with `SO_REUSEADDR`) before `connect()`, like `nc -p`.
    Fixed(u16),
    /// `connect()` picks one from the namespace's `ip_local_port_range`.
    Ephemeral,
}

impl ClientPort {
    /// The port, when it is fixed.
    pub fn fixed(self) -> Option<u16> {
        match self {
            ClientPort::Fixed(p) => Some(p),
            ClientPort::Ephemeral => None,
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
    /// The lab's shape (`[topology] kind`).
    pub topology: Shape,
    pub family: Family,
    /// Whose side ends in TIME_WAIT (`[connection] closes_first`).
    pub closes_first: Side,
    pub close: Close,
    /// `[listener] options`: the first listener's, bound to the wildcard
    /// address like most servers. `None` (no `[listener]` table): synlab's
    /// own listener, `SO_REUSEADDR` on the server's address.
    pub listener: Option<Options>,
    /// The event under test, with its own settings.
    pub event: Event,
    /// The kernels the scenario is for (`kernel = ">= 6.14"`); on others each
    /// case is skipped, and says so.
    pub kernel: Option<At<KernelCond>>,
    pub port: u16,
    pub client_port: ClientPort,
    /// Connections made and closed one after another before the event
    /// (`[connection] count`); the event meets the last one's TIME_WAIT.
    pub count: u32,
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

    /// The server's settings the popular rule reads: `tcp_timestamps` (on
    /// unless set to 0).
    pub fn rule_settings(&self) -> crate::rules::Settings {
        crate::rules::Settings {
            timestamps: self.sysctl_on(Side::Server, "net.ipv4.tcp_timestamps"),
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
    /// A file name for this case's artifacts: the trial name with `::` as
    /// `.`, `/` as `,` and any other character outside letters, digits and
    /// `_-=+.` as `%XX` (`timewait.ts-off.ipv6.pcap`,
    /// `timewait-row.syn.ipv4,seq=rcv_nxt+1.pcap`): one file per case, never
    /// two cases' (see `names`). Past 200 bytes a readable prefix and a hash.
    pub fn pcap_file_name(&self) -> String {
        let trial = self.trial_name();
        let stem = crate::names::of_trial(&trial);
        format!("{}.pcap", crate::names::bounded(stem, &trial, 200))
    }
}

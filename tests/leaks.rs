//! No leaks, ever: `synlab run --all` killed mid-case, at a different moment each
//! time (5..120 ms after it started), leaves nothing on the host. After each kill
//! there is no named namespace (/run/netns), no link (veth or any other) in the
//! root namespace, no nsfs bind mount, no synlab tracefs instance, no process of
//! the run, and no network namespace that anything still holds. Twice 20 runs:
//! SIGKILL to the process, and SIGINT to its process group as a terminal's Ctrl-C
//! sends it (the run must then also exit within 2 s).
//!
//! Robust to other work on the host: the test learns which namespaces the run made
//! (their nsfs inodes, sampled from /proc/<pid>/task/*/ns/net until the kill),
//! tags the run with an environment variable that every process it starts
//! inherits, and is a child subreaper, so that an orphan of the run comes back to
//! it even without the tag: each leftover it reports is provably the run's. A
//! namespace that appears meanwhile but is held by someone else is printed, not
//! counted. Needs root, like the scenarios; nextest runs it alone
//! (.config/nextest.toml).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{dir_names, ip, require_root, synlab_bin};

const RUNS: u64 = 20;
/// The kill lands this many milliseconds after the start (`synlab run --all`
/// runs for seconds; its first namespaces appear some 10 ms after the start).
const KILL_AFTER_MS: (u64, u64) = (5, 120);
/// The kernel frees a namespace asynchronously: poll for a clean host this long.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(5);
/// After SIGINT (Ctrl-C) the run must be gone within this.
const SIGINT_EXIT_DEADLINE: Duration = Duration::from_secs(2);
/// The environment variable that tags the processes of one run.
const TAG: &str = "SYNLAB_LEAK_TEST_RUN";

/// Under `cargo test` both tests are threads of one process; they must not run at
/// once (each compares the host before and after its own runs).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn run_all_killed_with_sigkill_mid_case_leaves_nothing() {
    kill_loop(Kill::Sigkill);
}

#[test]
fn run_all_interrupted_with_sigint_mid_case_exits_within_2s_and_leaves_nothing() {
    kill_loop(Kill::Sigint);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// `kill -KILL <pid>`: the process only, as the OOM killer or `kill -9` does.
    Sigkill,
    /// `kill -INT -<pgid>`: the whole process group, as a terminal's Ctrl-C does.
    Sigint,
}

impl Kill {
    fn name(self) -> &'static str {
        match self {
            Kill::Sigkill => "SIGKILL",
            Kill::Sigint => "SIGINT",
        }
    }
}

/// What one kill left, and the figures around it.
struct Iteration {
    kill_after: Duration,
    /// Namespaces the run held at the last sample before the kill.
    ns_at_kill: usize,
    /// The run ended by itself before the kill (then nothing was interrupted).
    ended_first: bool,
    status: ExitStatus,
    /// From the signal until the process was reaped.
    exit_took: Duration,
    /// From the reap until a look at the host found it clean (`None`: not within
    /// the deadline), and how many looks that took.
    clean_after: Option<Duration>,
    looks: u32,
    /// What the first look saw (gone by itself later when the host got clean).
    first_look: Vec<String>,
    netns_before: usize,
    netns_after: usize,
    leftovers: Vec<String>,
    foreign: Vec<String>,
}

fn kill_loop(kill: Kill) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    // Orphans of the run are reparented to this process (see Trace::owns).
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes this process's attributes.
    let reaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(
        reaper,
        0,
        "prctl(PR_SET_CHILD_SUBREAPER): {}",
        std::io::Error::last_os_error()
    );
    let bin = synlab_bin();
    let seed = std::env::var("SYNLAB_LEAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    println!(
        "{}: {RUNS} runs of `{} run --all`, kill points from SYNLAB_LEAK_SEED={seed}",
        kill.name(),
        bin.display()
    );

    let mut iterations = Vec::new();
    for i in 0..RUNS {
        let (lo, hi) = KILL_AFTER_MS;
        let kill_after =
            Duration::from_millis(lo + splitmix64(seed.wrapping_add(i)) % (hi - lo + 1));
        let it = kill_once(&bin, kill, i, kill_after);
        println!(
            "{} #{i:02}: killed after {:>3} ms with {} namespace(s) alive{}; {} {} ms after the signal; host clean after {} ({} look(s)); net namespaces {} -> {}{}",
            kill.name(),
            it.kill_after.as_millis(),
            it.ns_at_kill,
            if it.ended_first {
                " (the run had already ended)"
            } else {
                ""
            },
            describe(it.status),
            it.exit_took.as_millis(),
            it.clean_after.map_or("NEVER".to_string(), |d| format!(
                "{:.1} ms",
                d.as_secs_f64() * 1e3
            )),
            it.looks,
            it.netns_before,
            it.netns_after,
            if it.foreign.is_empty() {
                String::new()
            } else {
                format!(" (not the run's, ignored: {})", it.foreign.join("; "))
            },
        );
        for l in &it.leftovers {
            println!("    LEFTOVER {l}");
        }
        if it.clean_after.is_some() {
            for l in &it.first_look {
                println!("    (first look, gone later) {l}");
            }
        }
        let dirty = !it.leftovers.is_empty();
        iterations.push(it);
        if dirty {
            // What is left would muddle the next runs' before/after; stop here.
            break;
        }
    }

    let leftovers: Vec<String> = iterations
        .iter()
        .enumerate()
        .flat_map(|(i, it)| it.leftovers.iter().map(move |l| format!("#{i:02}: {l}")))
        .collect();
    let mid_case = iterations.iter().filter(|it| it.ns_at_kill > 0).count();
    let ended_first = iterations.iter().filter(|it| it.ended_first).count();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for it in &iterations {
        *statuses.entry(describe(it.status)).or_default() += 1;
    }
    let slowest_exit = iterations
        .iter()
        .map(|it| it.exit_took)
        .max()
        .unwrap_or_default();
    let slowest_clean = iterations
        .iter()
        .filter_map(|it| it.clean_after)
        .max()
        .unwrap_or_default();
    println!(
        "{}: {} runs, {mid_case} killed while holding namespaces, {ended_first} ended before the kill; exits: {statuses:?}; slowest exit {} ms, slowest clean-up {:.1} ms; leftovers found: {}",
        kill.name(),
        iterations.len(),
        slowest_exit.as_millis(),
        slowest_clean.as_secs_f64() * 1e3,
        leftovers.len()
    );
    assert!(
        leftovers.is_empty(),
        "{} left {} thing(s) behind:\n{}",
        kill.name(),
        leftovers.len(),
        leftovers.join("\n")
    );
    if kill == Kill::Sigint {
        let survived: Vec<_> = iterations
            .iter()
            .filter(|it| !it.ended_first && it.status.success())
            .collect();
        assert!(
            survived.is_empty(),
            "{} interrupted run(s) exited 0, as if every case had passed",
            survived.len()
        );
    }
}

/// One run: start it, sample its namespaces until `kill_after`, kill it, wait
/// until the host is clean (or the deadline), and say what was left.
fn kill_once(bin: &Path, kill: Kill, i: u64, kill_after: Duration) -> Iteration {
    let tag = format!("{}-{}-{i}", std::process::id(), kill.name());
    let before = Host::read(&tag);
    let own = held_namespaces(std::process::id());
    let stderr_path = std::env::temp_dir().join(format!("synlab-leak-test-{tag}.stderr"));

    let mut cmd = Command::new(bin);
    cmd.args(["run", "--all"])
        .current_dir(support::workspace())
        .env(TAG, &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // A file, not a pipe: a pipe would not see EOF while a leaked
        // descendant still holds it, and reading it would hang the test.
        .stderr(std::fs::File::create(&stderr_path).expect("create the stderr file"))
        // Its own process group, like a job a shell starts in the foreground.
        .process_group(0);
    // SAFETY: signal() is async-signal-safe. A shell gives background jobs an
    // ignored SIGINT and exec keeps it; a user's Ctrl-C meets the default action.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let pid = child.id();

    // Until the kill: the namespaces the run holds, and its descendants.
    let mut made = BTreeSet::new();
    let mut tree = BTreeMap::new();
    let mut ns_at_kill = 0;
    let mut ended = None;
    while started.elapsed() < kill_after {
        if let Some(status) = child.try_wait().expect("waitpid") {
            ended = Some(status);
            break;
        }
        let now = held_namespaces(pid);
        ns_at_kill = now.difference(&own).count();
        made.extend(now);
        for p in scan_processes(&tag, false) {
            if p.pid == pid || tree.contains_key(&p.ppid) {
                tree.insert(p.pid, p.start);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    made.retain(|ino| !own.contains(ino));

    let signalled = Instant::now();
    let (status, exit_in_time) = match ended {
        Some(status) => (status, true),
        None => stop(&mut child, kill),
    };
    let exit_took = signalled.elapsed();
    // An exit code (not a death by the signal) means the run ended by itself,
    // possibly in the instant between the last look and the signal. 130 is what
    // a Ctrl-C handler would exit with.
    let ended_first = ended.is_some() || status.code().is_some_and(|c| c != 130);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_path);

    let reaped = Instant::now();
    let trace = Trace { pid, made, tree };
    let mut looks = 0;
    let mut first_look = Vec::new();
    let (after, mut leftovers, foreign) = loop {
        let after = Host::read(&tag);
        looks += 1;
        let (leftovers, foreign) = leftovers(&before, &after, &trace);
        if looks == 1 {
            first_look = leftovers.clone();
        }
        if leftovers.is_empty() || reaped.elapsed() >= CLEANUP_DEADLINE {
            break (after, leftovers, foreign);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let clean_after = leftovers.is_empty().then(|| reaped.elapsed());
    if !exit_in_time {
        leftovers.push(format!(
            "the run was still alive {} s after SIGINT (then SIGKILLed)",
            SIGINT_EXIT_DEADLINE.as_secs()
        ));
    }
    if ended_first && !matches!(status.code(), Some(0 | 1)) {
        // Exit 2 is a usage, file or permission error: nothing was tested.
        leftovers.push(format!(
            "the run ended by itself before the kill, {}: {}",
            describe(status),
            stderr.trim()
        ));
    }
    Iteration {
        kill_after,
        ns_at_kill,
        ended_first,
        status,
        exit_took,
        clean_after,
        looks,
        first_look,
        netns_before: before.netns().len(),
        netns_after: after.netns().len(),
        leftovers,
        foreign,
    }
}

/// Send the signal and reap the process; for SIGINT, give it the exit deadline
/// (then SIGKILL). Returns the status and whether it exited in time.
fn stop(child: &mut Child, kill: Kill) -> (ExitStatus, bool) {
    let pid = child.id() as libc::pid_t;
    match kill {
        Kill::Sigkill => {
            // SAFETY: kill(2) on our own child, which is not reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            (child.wait().expect("waitpid"), true)
        }
        Kill::Sigint => {
            // SAFETY: kill(2) on the process group our child leads (process_group(0)).
            unsafe { libc::kill(-pid, libc::SIGINT) };
            let deadline = Instant::now() + SIGINT_EXIT_DEADLINE;
            loop {
                if let Some(status) = child.try_wait().expect("waitpid") {
                    return (status, true);
                }
                if Instant::now() >= deadline {
                    // SAFETY: as above.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                    return (child.wait().expect("waitpid"), false);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) if sig == libc::SIGINT => "killed by SIGINT".into(),
        (None, Some(sig)) if sig == libc::SIGKILL => "killed by SIGKILL".into(),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => format!("{status}"),
    }
}

/// What we know of the run once it is dead.
struct Trace {
    pid: u32,
    /// nsfs inodes of the network namespaces the run held at some sample.
    made: BTreeSet<u64>,
    /// The run's descendants seen before the kill: pid -> start time (clock ticks).
    tree: BTreeMap<u32, u64>,
}

impl Trace {
    /// Whether `p` belongs to the run: it carries the run's tag, or was seen in
    /// its tree, or is an orphan of it (this test is a child subreaper, so an
    /// orphaned descendant, even one that cleared its environment and called
    /// setsid, is reparented to the test and not to init).
    fn owns(&self, p: &Process) -> bool {
        p.tagged
            || p.pid == self.pid
            || self.tree.get(&p.pid) == Some(&p.start)
            || p.ppid == std::process::id()
    }
}

/// Everything on the host a run could leave behind, at one moment.
struct Host {
    /// `ip netns list` (the files in /run/netns).
    named_netns: BTreeSet<String>,
    /// The links of the root namespace (/sys/class/net).
    links: BTreeSet<String>,
    /// `ip -o link show type veth` in the root namespace.
    veths: BTreeSet<String>,
    /// nsfs bind mounts (where `ip netns add` and netns-rs keep a namespace): mount point -> inode.
    nsfs_mounts: BTreeMap<String, u64>,
    /// tracefs instances whose name has "synlab" in it.
    tracefs: BTreeSet<String>,
    processes: Vec<Process>,
}

struct Process {
    pid: u32,
    ppid: u32,
    start: u64,
    zombie: bool,
    /// Has the run's tag in its environment.
    tagged: bool,
    exe: String,
    /// (nsfs inode, "task <tid>" | "fd <n>") for every network namespace it refers to.
    net: Vec<(u64, String)>,
}

/// Who keeps a network namespace alive.
struct Holder {
    what: String,
    /// A process of the run (see `Trace::owns`), or a mount.
    ours: bool,
}

/// The tracefs instances, also when the host has no tracefs mounted: instances
/// live in the kernel whatever is mounted, so look through a throw-away private
/// mount (`unshare -m`) that dies with the `sh` that made it.
fn tracefs_instances() -> BTreeSet<String> {
    let mounted: BTreeSet<String> = [
        "/sys/kernel/tracing/instances",
        "/sys/kernel/debug/tracing/instances",
    ]
    .iter()
    .flat_map(dir_names)
    .collect();
    if Path::new("/sys/kernel/tracing/instances").exists() {
        return mounted;
    }
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t tracefs nodev /sys/kernel/tracing && ls -1 /sys/kernel/tracing/instances",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .chain(mounted)
            .collect(),
        _ => mounted,
    }
}

impl Host {
    fn read(tag: &str) -> Host {
        Host {
            named_netns: dir_names("/run/netns"),
            links: dir_names("/sys/class/net"),
            veths: root_veths(),
            nsfs_mounts: nsfs_mounts(),
            tracefs: tracefs_instances()
                .into_iter()
                .filter(|n| n.to_lowercase().contains("synlab"))
                .collect(),
            processes: scan_processes(tag, true),
        }
    }

    /// Every network namespace something refers to (a task, an fd or a mount),
    /// with its holders, judged against `trace` when there is one.
    fn holders(&self, trace: Option<&Trace>) -> BTreeMap<u64, Vec<Holder>> {
        let mut map: BTreeMap<u64, Vec<Holder>> = BTreeMap::new();
        for p in self.processes.iter().filter(|p| !p.zombie) {
            let ours = trace.is_some_and(|t| t.owns(p));
            for (ino, how) in &p.net {
                map.entry(*ino).or_default().push(Holder {
                    what: format!("pid {} ({}) {how}", p.pid, p.exe),
                    ours,
                });
            }
        }
        for (mount, ino) in &self.nsfs_mounts {
            map.entry(*ino).or_default().push(Holder {
                what: format!("bind mount {mount}"),
                ours: true,
            });
        }
        map
    }

    fn netns(&self) -> BTreeSet<u64> {
        self.holders(None).into_keys().collect()
    }
}

/// What `after` has that `before` had not, and that the run is to blame for;
/// plus the new namespaces that others hold (for the record).
fn leftovers(before: &Host, after: &Host, trace: &Trace) -> (Vec<String>, Vec<String>) {
    let mut found = Vec::new();
    let new = |b: &BTreeSet<String>, a: &BTreeSet<String>| -> Vec<String> {
        a.difference(b).cloned().collect()
    };
    for n in new(&before.named_netns, &after.named_netns) {
        found.push(format!("named namespace /run/netns/{n} (ip netns list)"));
    }
    for l in new(&before.links, &after.links) {
        found.push(format!("link {l} in the root namespace (/sys/class/net)"));
    }
    for v in new(&before.veths, &after.veths) {
        found.push(format!(
            "veth {v} in the root namespace (ip -o link show type veth)"
        ));
    }
    for (m, ino) in &after.nsfs_mounts {
        if !before.nsfs_mounts.contains_key(m) {
            found.push(format!("nsfs bind mount {m} of net:[{ino}]"));
        }
    }
    for t in new(&before.tracefs, &after.tracefs) {
        found.push(format!("tracefs instance {t}"));
    }
    for p in after.processes.iter().filter(|p| !p.zombie) {
        if trace.owns(p) {
            found.push(format!(
                "process {} ({}) of the killed run is alive",
                p.pid, p.exe
            ));
        }
    }

    let before_ns = before.netns();
    let mut foreign = Vec::new();
    for (ino, holders) in after.holders(Some(trace)) {
        let who = holders
            .iter()
            .map(|h| h.what.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if trace.made.contains(&ino) {
            found.push(format!(
                "net:[{ino}], a namespace of the killed run, is still held by {who}"
            ));
        } else if !before_ns.contains(&ino) {
            if holders.iter().any(|h| h.ours) {
                found.push(format!("new namespace net:[{ino}] held by {who}"));
            } else {
                foreign.push(format!("net:[{ino}] held by {who}"));
            }
        }
    }
    (found, foreign)
}

/// Network namespaces that the tasks and fds of `pid` refer to.
///
/// Equivalent to: `readlink /proc/<pid>/task/*/ns/net /proc/<pid>/fd/*`.
fn held_namespaces(pid: u32) -> BTreeSet<u64> {
    net_refs(pid).into_iter().map(|(ino, _)| ino).collect()
}

fn net_refs(pid: u32) -> Vec<(u64, String)> {
    let mut refs = Vec::new();
    let base = PathBuf::from(format!("/proc/{pid}"));
    for tid in dir_names(base.join("task")) {
        if let Some(ino) = net_inode(base.join("task").join(&tid).join("ns/net")) {
            refs.push((ino, format!("task {tid}")));
        }
    }
    for fd in dir_names(base.join("fd")) {
        if let Some(ino) = net_inode(base.join("fd").join(&fd)) {
            refs.push((ino, format!("fd {fd}")));
        }
    }
    refs
}

/// The inode of a `net:[4026531840]` link.
fn net_inode(link: impl AsRef<Path>) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    let target = target.to_str()?;
    target
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Every process on the host (ps -e), with what the checks need; `with_net`
/// also reads the network namespaces each one refers to.
fn scan_processes(tag: &str, with_net: bool) -> Vec<Process> {
    let tagged = format!("{TAG}={tag}");
    dir_names("/proc")
        .into_iter()
        .filter_map(|name| name.parse::<u32>().ok())
        .filter_map(|pid| {
            // /proc/<pid>/stat: "pid (comm) state ppid ... starttime(22nd) ..."; comm may hold spaces.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            Some(Process {
                pid,
                ppid: rest.get(1)?.parse().ok()?,
                start: rest.get(19)?.parse().ok()?,
                zombie: rest.first() == Some(&"Z"),
                tagged: environ.split(|b| *b == 0).any(|kv| kv == tagged.as_bytes()),
                exe: std::fs::read_link(format!("/proc/{pid}/exe"))
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| stat[..stat.find(')').unwrap_or(0) + 1].to_string()),
                net: if with_net { net_refs(pid) } else { Vec::new() },
            })
        })
        .collect()
}

/// nsfs mounts of network namespaces in our mount namespace: mount point -> inode.
///
/// Equivalent to: `findmnt -t nsfs`.
fn nsfs_mounts() -> BTreeMap<String, u64> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            // "id parent maj:min root mountpoint options [optional...] - fstype source superopts"
            let (left, right) = line.split_once(" - ")?;
            if right.split_whitespace().next()? != "nsfs" {
                return None;
            }
            let f: Vec<&str> = left.split_whitespace().collect();
            let ino = f
                .get(3)?
                .strip_prefix("net:[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            Some((f.get(4)?.to_string(), ino))
        })
        .collect()
}

/// Equivalent to: `ip -o link show type veth` (names, without the `@peer`).
fn root_veths() -> BTreeSet<String> {
    ip(&["-o", "link", "show", "type", "veth"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect()
}

/// A well-mixed 64-bit number from `x` (splitmix64), for the kill points.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

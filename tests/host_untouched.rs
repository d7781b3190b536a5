//! Host untouched: running the whole suite (`synlab run --all`, the real CLI in its
//! own process) changes nothing in the root network namespace. Compared before
//! and after: every readable /proc/sys/net value, `ip -d link`, `ip -d addr`,
//! `ip route` (v4 and v6, every table), `ip rule` (v4 and v6), `ip neigh` and
//! `ip netns list-id`, the nftables ruleset (`nft list ruleset`: the NAT
//! scenarios' masquerade lives in their router namespace only) and the
//! conntrack entries with the lab's addresses (`conntrack -L`); a difference
//! names each key that changed. Only values that change by themselves are left
//! out, each with its reason (VOLATILE_*).
//! Needs root, like the scenarios; nextest runs it alone (.config/nextest.toml).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use support::{require_root, synlab_bin};

/// /proc/sys/net entries that change by themselves on a host, with the reason.
const VOLATILE_SYSCTLS: &[(&str, &str)] = &[(
    "net.netfilter.nf_conntrack_count",
    "a gauge of the host's own tracked connections (exists while nf_conntrack is loaded)",
)];

/// Fields of `ip -j` output that change by themselves, with the reason.
const VOLATILE_FIELDS: &[(&str, &str)] = &[
    (
        "valid_life_time",
        "addr: counts down on addresses from SLAAC/DHCP",
    ),
    (
        "preferred_life_time",
        "addr: counts down on addresses from SLAAC/DHCP",
    ),
    ("expires", "route: counts down on routes learnt from RAs"),
    (
        "state",
        "neigh: NUD state (REACHABLE, STALE, ...) moves with the host's own traffic",
    ),
];

#[test]
fn full_suite_leaves_root_namespace_untouched() {
    require_root();
    let bin = synlab_bin();
    let before = snapshot();

    let out = Command::new(&bin)
        .args(["run", "--all"])
        .current_dir(support::workspace())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("");
    // Exit 0 or 1 (a case did not match: the scenario trials report that) means
    // the suite ran; exit 2 means nothing ran, and this test would prove nothing.
    assert!(
        matches!(out.status.code(), Some(0 | 1)) && !summary.starts_with("0 passed, 0 failed"),
        "`synlab run --all` did not run the suite ({}):\n{}{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );

    let after = snapshot();
    let changed = diff(&before, &after);
    let sysctls = before.keys().filter(|k| k.starts_with("sysctl ")).count();
    println!(
        "host_untouched: suite {summary:?} ({}); {} keys compared ({sysctls} sysctls, {} from ip), {} difference(s)",
        out.status,
        before.len(),
        before.len() - sysctls,
        changed.len()
    );
    assert!(
        changed.is_empty(),
        "`synlab run --all` changed the root network namespace:\n{}",
        changed.join("\n")
    );
}

/// The root namespace's state as `key -> value`.
fn snapshot() -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    read_sysctls(Path::new("/proc/sys/net"), "net", &mut map);
    for (name, _) in VOLATILE_SYSCTLS {
        map.remove(&format!("sysctl {name}"));
    }
    ip(&mut map, "link", &["-d", "link", "show"], |e, m| {
        for link in entries(e) {
            let key = format!("link {}", field(link, "ifname"));
            flatten(&without_volatile(link), &key, m);
        }
    });
    ip(&mut map, "addr", &["-d", "addr", "show"], |e, m| {
        // The link fields are in `link` already: only the addresses, per interface.
        for iface in entries(e) {
            for addr in entries(iface.get("addr_info").unwrap_or(&Value::Null)) {
                let key = format!(
                    "addr {} {} {}/{}",
                    field(iface, "ifname"),
                    field(addr, "family"),
                    field(addr, "local"),
                    field(addr, "prefixlen")
                );
                m.insert(key, without_volatile(addr).to_string());
            }
        }
    });
    for (name, args) in [
        (
            "route -4",
            &["-4", "-d", "route", "show", "table", "all"][..],
        ),
        ("route -6", &["-6", "-d", "route", "show", "table", "all"]),
        ("rule -4", &["-4", "rule", "show"]),
        ("rule -6", &["-6", "rule", "show"]),
        ("neigh", &["neigh", "show"]),
        ("netns list-id", &["netns", "list-id"]),
    ] {
        // No natural key: an entry is its whole (non-volatile) content.
        ip(&mut map, name, args, |e, m| {
            for entry in entries(e) {
                m.insert(format!("{name} {}", without_volatile(entry)), String::new());
            }
        });
    }
    support::ensure_installed("nft(8)", "nftables", || {
        support::runs("nft", &["--version"])
    });
    let ruleset = tool("nft", &["list", "ruleset"]);
    for line in ruleset.lines() {
        map.insert(format!("nft {}", line.trim()), String::new());
    }
    support::ensure_installed("conntrack(8)", "conntrack", || {
        support::runs("conntrack", &["--version"])
    });
    // Only the lab's addresses: the host's own connections come and go.
    for family in ["ipv4", "ipv6"] {
        let table = tool("conntrack", &["-L", "-f", family]);
        for line in table.lines().filter(|l| is_lab_address(l)) {
            map.insert(format!("conntrack {line}"), String::new());
        }
    }
    map
}

/// Whether a `conntrack -L` line names an address of the lab's ranges
/// (198.18.0.0/15, 2001:2::/48).
fn is_lab_address(line: &str) -> bool {
    line.split_whitespace()
        .filter_map(|w| w.strip_prefix("src=").or_else(|| w.strip_prefix("dst=")))
        .any(|a| a.starts_with("198.18.") || a.starts_with("198.19.") || a.starts_with("2001:2:"))
}

/// A tool's standard output; a failing run is a failing test, with its stderr.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every readable file under /proc/sys/net, as `sysctl net.a.b -> value`; a file
/// that cannot be read (write-only, or EIO like an unset `stable_secret`) keeps
/// its error as the value, so a change in that shows too.
///
/// Equivalent to: `sysctl -a --pattern '^net\.'`.
fn read_sysctls(dir: &Path, prefix: &str, map: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = format!("{prefix}.{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        if path.is_dir() {
            read_sysctls(&path, &name, map);
            continue;
        }
        let value = match std::fs::read_to_string(&path) {
            Ok(v) => v.split_whitespace().collect::<Vec<_>>().join(" "),
            Err(e) => format!("<unreadable: {e}>"),
        };
        map.insert(format!("sysctl {name}"), value);
    }
}

/// Run `ip -j <args>` and let `add` put its entries into `map`.
fn ip(
    map: &mut BTreeMap<String, String>,
    what: &str,
    args: &[&str],
    add: impl Fn(&Value, &mut BTreeMap<String, String>),
) {
    let text = support::ip(&[&["-j"][..], args].concat());
    // `ip -j` prints nothing at all for an empty list in some versions.
    let json: Value = if text.trim().is_empty() {
        Value::Array(vec![])
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ip -j {} ({what}): not JSON: {e}\n{text}", args.join(" ")))
    };
    add(&json, map);
}

/// The entries of an `ip -j` list (none when it is not a list).
fn entries(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// A field of an `ip -j` entry as plain text.
fn field(v: &Value, name: &str) -> String {
    v.get(name)
        .map(|f| f.as_str().map_or_else(|| f.to_string(), str::to_string))
        .unwrap_or_default()
}

/// `key.field.subfield -> value` for every scalar in `v`.
fn flatten(v: &Value, key: &str, map: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                flatten(v, &format!("{key}.{k}"), map);
            }
        }
        other => {
            map.insert(key.to_string(), other.to_string());
        }
    }
}

fn without_volatile(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !VOLATILE_FIELDS.iter().any(|(f, _)| f == k))
                .map(|(k, v)| (k.clone(), without_volatile(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_volatile).collect()),
        other => other.clone(),
    }
}

/// What differs, one line each: `~ key: before -> after` for a changed value,
/// `+ key = value` / `- key = value` for one that appeared or went, and
/// `+ parent.* (N keys)` when a whole thing appeared or went (a link, the
/// sysctl folder of an interface).
fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut lines: Vec<String> = before
        .iter()
        .filter_map(|(k, b)| {
            let a = after.get(k)?;
            (a != b).then(|| format!("~ {k}: {b} -> {a}"))
        })
        .collect();
    lines.extend(one_side('+', after, before));
    lines.extend(one_side('-', before, after));
    lines
}

/// The keys of `this` that `other` has not.
fn one_side(
    sign: char,
    this: &BTreeMap<String, String>,
    other: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut groups: BTreeMap<&str, Vec<(&String, &String)>> = BTreeMap::new();
    for (k, v) in this.iter().filter(|(k, _)| !other.contains_key(*k)) {
        let parent = k.rsplit_once('.').map_or(k.as_str(), |(p, _)| p);
        groups.entry(parent).or_default().push((k, v));
    }
    let mut lines = Vec::new();
    for (parent, keys) in groups {
        let prefix = format!("{parent}.");
        if keys.len() > 1 && !other.keys().any(|k| k.starts_with(&prefix)) {
            lines.push(format!("{sign} {parent}.* ({} keys)", keys.len()));
        } else {
            for (k, v) in keys {
                let shown = if v.is_empty() {
                    String::new()
                } else {
                    format!(" = {v}")
                };
                lines.push(format!("{sign} {k}{shown}"));
            }
        }
    }
    lines
}

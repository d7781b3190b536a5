//! MIB counters of one namespace (`/proc/net/netstat`, `/proc/net/snmp`), what
//! `nstat -az` shows. Must be read on the namespace's own thread: `/proc/net` is
//! `/proc/self/net`, the *process's* namespace, so we read `/proc/thread-self/net`.

use std::collections::BTreeMap;
use std::io;

/// Counters keyed `TcpExt.Name`, `Tcp.Name`, `IpExt.Name`, `Ip.Name`, ...
pub type Counters = BTreeMap<String, i64>;

/// Read both MIB files of the calling thread's namespace.
///
/// Equivalent to: `ip netns exec <ns> nstat -az`.
pub fn read() -> io::Result<Counters> {
    let mut out = Counters::new();
    for file in [
        "/proc/thread-self/net/netstat",
        "/proc/thread-self/net/snmp",
    ] {
        parse_into(&std::fs::read_to_string(file)?, &mut out);
    }
    Ok(out)
}

/// Parse the "Name: k1 k2 ...\nName: v1 v2 ..." line pairs of netstat/snmp.
pub fn parse_into(text: &str, out: &mut Counters) {
    let mut lines = text.lines();
    while let (Some(keys), Some(values)) = (lines.next(), lines.next()) {
        let (Some((group, keys)), Some((group2, values))) =
            (keys.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if group != group2 {
            continue;
        }
        for (k, v) in keys.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse::<i64>() {
                out.insert(format!("{group}.{k}"), v);
            }
        }
    }
}

/// The counters that changed from `before` to `after`, as deltas.
pub fn delta(before: &Counters, after: &Counters) -> Counters {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d != 0).then(|| (k.clone(), d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_diffs() {
        let text = "TcpExt: SyncookiesSent PAWSTimewait TW\nTcpExt: 0 3 7\n\
                    IpExt: InNoRoutes\nIpExt: 1\n";
        let mut a = Counters::new();
        parse_into(text, &mut a);
        assert_eq!(a["TcpExt.PAWSTimewait"], 3);
        assert_eq!(a["IpExt.InNoRoutes"], 1);
        let mut b = a.clone();
        b.insert("TcpExt.TW".into(), 9);
        let d = delta(&a, &b);
        assert_eq!(d.len(), 1);
        assert_eq!(d["TcpExt.TW"], 2);
    }

    #[test]
    fn snmp_tcp_line_with_negative_max_conn() {
        let text = "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 4\n";
        let mut a = Counters::new();
        parse_into(text, &mut a);
        assert_eq!(a["Tcp.MaxConn"], -1);
        assert_eq!(a["Tcp.ActiveOpens"], 4);
    }
}

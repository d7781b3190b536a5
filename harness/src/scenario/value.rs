//! What a single value of a scenario file may be: sysctl keys, counter names, answers,
//! ports, families and the `[second_syn]` expressions, each with its refusal message.

use super::model::{ClientPort, Close, Family};
use crate::lab::Shape;
use crate::mib;
use crate::read::raw::Scalar;
use crate::wire::Side;

/// `net.` followed by dot-separated segments of `[A-Za-z0-9_-]`.
pub(crate) fn check_sysctl_key(key: &str) -> Result<(), String> {
    let only_net = "only net.* sysctls of the harness's own namespaces may be set";
    let Some(rest) = key.strip_prefix("net.") else {
        return Err(only_net.to_owned());
    };
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if rest.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(
            "not a sysctl key: expected net. then segments of [A-Za-z0-9_-] joined by dots \
             (net.ipv4.tcp_timestamps)"
                .to_owned(),
        )
    }
}

/// Why a counter expectation is refused: its name, or the delta it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CounterError {
    Name(String),
    Delta(String),
}

impl CounterError {
    #[cfg(test)]
    fn message(&self) -> &str {
        match self {
            CounterError::Name(m) | CounterError::Delta(m) => m,
        }
    }
}

/// Checks a counter expectation: a name some kernel has printed (in the groups
/// synlab reads), that can change, and a delta it can take.
pub(crate) fn counter_check(key: &str, delta: i64) -> Result<(), CounterError> {
    let group_ok = key
        .split_once('.')
        .is_some_and(|(g, n)| matches!(g, "TcpExt" | "Tcp" | "IpExt" | "Ip") && !n.is_empty());
    if !group_ok {
        return Err(CounterError::Name(
            "not a MIB counter name: expected TcpExt.Name, Tcp.Name, IpExt.Name or Ip.Name \
             as in /proc/net/netstat and /proc/net/snmp"
                .to_owned(),
        ));
    }
    let Some(mib) = mib::lookup(key) else {
        let hint = match mib::suggest(key) {
            Some(name) => format!("; did you mean {name:?}?"),
            None => String::new(),
        };
        return Err(CounterError::Name(format!(
            "no Linux kernel (4.9 to 7.3) has a counter named {key:?}{hint}"
        )));
    };
    match mib.kind {
        mib::Kind::Setting => Err(CounterError::Name(format!(
            "{key} is a setting the kernel prints among the counters, not a counter: it never \
             changes during a case"
        ))),
        mib::Kind::Counter if delta < 0 => Err(CounterError::Delta(format!(
            "{delta} is impossible: {key} only grows, so its change across a case is 0 or more"
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn sysctl_value(v: &Scalar) -> Result<(String, String), String> {
    if let Scalar::Str(s) = v {
        if s.is_empty() {
            return Err("empty value".to_owned());
        }
        if s.chars().any(|c| c.is_control() && c != '\t') {
            return Err(format!("{s:?}: a sysctl value is one line of text"));
        }
    }
    let text = v.to_string();
    Ok((text.clone(), text))
}

pub(crate) fn port_value(v: &Scalar) -> Result<(u16, String), String> {
    match v {
        Scalar::Int(n) => match u16::try_from(*n) {
            Ok(p) if p != 0 => Ok((p, p.to_string())),
            _ => Err(format!("port {n} is out of range 1..=65535")),
        },
        other => Err(format!(
            "expected a port number 1..=65535, found {}",
            other.kind()
        )),
    }
}

/// `client_port`: a port number, or `"ephemeral"` (connect() picks).
pub(crate) fn client_port_value(v: &Scalar) -> Result<(ClientPort, String), String> {
    match v {
        Scalar::Str(s) if s == "ephemeral" => Ok((ClientPort::Ephemeral, s.clone())),
        Scalar::Str(s) => Err(format!(
            "unknown client port {s:?}: expected a port number 1..=65535 or \"ephemeral\""
        )),
        other => port_value(other).map(|(p, text)| (ClientPort::Fixed(p), text)),
    }
}

/// `count`: connections one after another before the event.
pub(crate) fn count_value(v: &Scalar) -> Result<(u32, String), String> {
    v.int_in(1..=64)
}

pub(crate) fn family_value(v: &Scalar) -> Result<(Family, String), String> {
    match v {
        Scalar::Str(s) if s == "ipv4" => Ok((Family::V4, s.clone())),
        Scalar::Str(s) if s == "ipv6" => Ok((Family::V6, s.clone())),
        Scalar::Str(s) => Err(format!(
            "unknown family {s:?}, expected \"ipv4\" or \"ipv6\""
        )),
        other => Err(format!(
            "expected \"ipv4\" or \"ipv6\", found {}",
            other.kind()
        )),
    }
}

pub(crate) fn closes_first_value(v: &Scalar) -> Result<(Side, String), String> {
    v.one_of(&[("server", Side::Server), ("client", Side::Client)])
}

pub(crate) fn shape_value(v: &Scalar) -> Result<(Shape, String), String> {
    v.one_of(&[
        ("veth", Shape::Veth),
        ("loopback", Shape::Loopback),
        ("nat", Shape::Nat { clients: 1 }),
    ])
}

/// `[topology] clients`: client namespaces behind the router.
pub(crate) fn clients_value(v: &Scalar) -> Result<(u8, String), String> {
    let (n, text) = v.int_in(1..=i64::from(crate::lab::topology::MAX_CLIENTS))?;
    Ok((u8::try_from(n).unwrap_or(1), text))
}

pub(crate) fn close_value(v: &Scalar) -> Result<(Close, String), String> {
    v.one_of(&[("fin", Close::Fin), ("linger0", Close::Linger0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        assert!(check_sysctl_key("net.ipv4.tcp_timestamps").is_ok());
        assert!(check_sysctl_key("net.ipv4.conf.all.rp_filter").is_ok());
        assert!(check_sysctl_key("net.ipv6.conf.veth-a.disable_ipv6").is_ok());
        for bad in [
            "kernel.foo",
            "vm.x",
            "net",
            "net.",
            "net..x",
            "net.ipv4.",
            "net.a b",
            "net/ipv4/x",
            "NET.x",
        ] {
            assert!(check_sysctl_key(bad).is_err(), "{bad}");
        }
        assert!(
            check_sysctl_key("kernel.foo")
                .unwrap_err()
                .contains("only net.*")
        );
    }

    #[test]
    fn counter_names() {
        for good in [
            "TcpExt.PAWSTimewait",
            "Tcp.OutRsts",
            "IpExt.InOctets",
            "Ip.InReceives",
        ] {
            assert_eq!(counter_check(good, 1), Ok(()), "{good}");
        }
        assert_eq!(
            counter_check("Tcp.CurrEstab", -1),
            Ok(()),
            "a gauge goes down"
        );
        for (bad, says) in [
            ("TcpExt.", "not a MIB counter name"),
            ("Tcp", "not a MIB counter name"),
            ("Udp.InDatagrams", "not a MIB counter name"),
            ("TcpExt.PAWS.Timewait", "no Linux kernel"),
            (
                "TcpExt.PAWSTimeWiat",
                "did you mean \"TcpExt.PAWSTimewait\"?",
            ),
            ("tcp.OutRsts", "not a MIB counter name"),
            ("Ip.Forwarding", "a setting"),
            ("", "not a MIB counter name"),
        ] {
            let e = counter_check(bad, 0).unwrap_err();
            assert!(matches!(e, CounterError::Name(_)), "{bad}: {e:?}");
            assert!(e.message().contains(says), "{bad}: {e:?}");
        }
        let e = counter_check("TcpExt.PAWSTimewait", -3).unwrap_err();
        assert!(matches!(e, CounterError::Delta(_)), "{e:?}");
        assert!(
            e.message()
                .contains("-3 is impossible: TcpExt.PAWSTimewait only grows")
        );
    }
}

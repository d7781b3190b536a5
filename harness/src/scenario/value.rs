//! What a single value of a scenario file may be: sysctl keys, counter names, answers,
//! ports, families and the `[second_syn]` expressions, each with its refusal message.

use super::expr::{self, compact};
use super::model::{Answer, Family, SeqExpr, TsExpr};
use super::raw::Scalar;

pub(crate) fn parse_answer(s: &str) -> Option<Answer> {
    [Answer::SynAck, Answer::Ack, Answer::Rst, Answer::None]
        .into_iter()
        .find(|a| a.as_str() == s)
}

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

/// `^(TcpExt|Tcp|IpExt|Ip)\.[A-Za-z0-9]+$`
pub(crate) fn is_counter_name(key: &str) -> bool {
    let Some((group, name)) = key.split_once('.') else {
        return false;
    };
    matches!(group, "TcpExt" | "Tcp" | "IpExt" | "Ip")
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
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

pub(crate) fn seq_value(v: &Scalar) -> Result<(SeqExpr, String), String> {
    match v {
        Scalar::Str(s) => expr::parse_seq(s)
            .map(|e| (e, compact(s)))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a string such as \"rcv_nxt - 1000\" (one of {}), found {}",
            expr::SEQ_FORMS,
            other.kind()
        )),
    }
}

pub(crate) fn ts_value(v: &Scalar) -> Result<(TsExpr, String), String> {
    match v {
        Scalar::Str(s) => expr::parse_ts(s)
            .map(|e| (e, compact(s)))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a string such as \"ts_recent + 10\" (one of {}), found {}",
            expr::TS_FORMS,
            other.kind()
        )),
    }
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
            "Ip.Forwarding",
        ] {
            assert!(is_counter_name(good), "{good}");
        }
        for bad in [
            "TcpExt.",
            "Tcp",
            "Udp.InDatagrams",
            "TcpExt.PAWS.Timewait",
            "TcpExt.PAWS_Timewait",
            "tcp.OutRsts",
            "",
        ] {
            assert!(!is_counter_name(bad), "{bad}");
        }
    }
}

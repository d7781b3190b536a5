//! The kernel filter of an event (ftrace filter syntax, set on each perf event):
//! the most specific one the kernel accepts for a [`TraceSpec`]. IPv4 by
//! address: `__u8 saddr[4]` is compared as a host-order `u32` (198.18.0.1 as
//! text is refused); IPv6 by family and ports: `__u8 saddr_v6[16]` cannot be
//! compared at all (`== 0` and `!= 0` both silently drop every event).

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};

use super::format::EventFormat;
use super::perf::set_filter;
use super::spec::TraceSpec;

/// Sets on the events of one tracepoint (one per CPU) the most specific filter
/// for `spec` that the kernel accepts, and returns it; None when it accepts
/// none, and for an event without port fields (`tcp_send_reset` has only
/// sockaddrs): the userspace check applies anyway.
///
/// Equivalent to: `echo FILTER > events/SYS/NAME/filter`, per perf event
pub(super) fn set_filters(
    events: &[OwnedFd],
    format: &EventFormat,
    spec: &TraceSpec,
) -> io::Result<Option<String>> {
    let Some(first) = events.first().filter(|_| format.field("sport").is_some()) else {
        return Ok(None);
    };
    for candidate in filter_candidates(spec, format.field("protocol").is_some()) {
        match set_filter(first.as_fd(), &candidate) {
            Ok(()) => {
                for fd in &events[1..] {
                    set_filter(fd.as_fd(), &candidate)?;
                }
                return Ok(Some(candidate));
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Kernel filters for `spec`, most specific first.
pub(super) fn filter_candidates(spec: &TraceSpec, has_protocol: bool) -> Vec<String> {
    let v4: Vec<String> = spec
        .addrs
        .iter()
        .filter_map(|a| match a {
            // `__u8 saddr[4]` is compared as a host-order u32.
            IpAddr::V4(v4) => Some(format!("0x{:08x}", u32::from_ne_bytes(v4.octets()))),
            IpAddr::V6(_) => None,
        })
        .collect();
    let has_v6 = spec.addrs.iter().any(IpAddr::is_ipv6);
    let or = |terms: Vec<String>| format!("({})", terms.join(" || "));
    let ports = (!spec.ports.is_empty()).then(|| {
        or(spec
            .ports
            .iter()
            .flat_map(|p| [format!("sport == {p}"), format!("dport == {p}")])
            .collect())
    });
    let addrs4 = (!v4.is_empty()).then(|| {
        or(v4
            .iter()
            .flat_map(|a| [format!("saddr == {a}"), format!("daddr == {a}")])
            .collect())
    });
    let families = match (&addrs4, has_v6) {
        (Some(a), true) => Some(format!("((family == 2 && {a}) || family == 10)")),
        (Some(a), false) => Some(format!("family == 2 && {a}")),
        (None, true) => Some("family == 10".to_string()),
        (None, false) => None,
    };
    let proto = has_protocol.then(|| "protocol == 6".to_string());
    let join = |parts: Vec<Option<String>>| {
        let parts: Vec<String> = parts.into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" && "))
    };
    let mut out = Vec::new();
    for candidate in [
        join(vec![proto.clone(), families, ports.clone()]),
        join(vec![proto.clone(), ports]),
        join(vec![proto]),
    ]
    .into_iter()
    .flatten()
    {
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_filter_uses_host_order_ipv4_and_ports_for_ipv6() {
        let v4 = TraceSpec::new(["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()])
            .ports([8888, 12345]);
        let c = filter_candidates(&v4, true);
        let a = format!("0x{:08x}", u32::from_ne_bytes([198, 18, 0, 1]));
        let b = format!("0x{:08x}", u32::from_ne_bytes([198, 18, 0, 2]));
        assert_eq!(
            c[0],
            format!(
                "protocol == 6 && family == 2 && (saddr == {a} || daddr == {a} || saddr == {b} || \
                 daddr == {b}) && (sport == 8888 || dport == 8888 || sport == 12345 || dport == 12345)"
            )
        );
        assert_eq!(
            c[1],
            "protocol == 6 && (sport == 8888 || dport == 8888 || sport == 12345 || dport == 12345)"
        );
        assert_eq!(c[2], "protocol == 6");
        if cfg!(target_endian = "little") {
            assert_eq!(a, "0x010012c6");
        }

        let v6 = TraceSpec::new(["2001:2::1".parse().unwrap()]).ports([8888]);
        assert_eq!(
            filter_candidates(&v6, false),
            vec![
                "family == 10 && (sport == 8888 || dport == 8888)",
                "(sport == 8888 || dport == 8888)"
            ]
        );
        let both = TraceSpec::new(["2001:2::1".parse().unwrap(), "198.18.0.1".parse().unwrap()]);
        assert_eq!(
            filter_candidates(&both, true)[0],
            format!(
                "protocol == 6 && ((family == 2 && (saddr == {a} || daddr == {a})) || family == 10)"
            )
        );
    }
}

//! `net.*` sysctls of a lab namespace, written and read back on its own thread.

use sysctl::Sysctl;

use super::LabError;

/// Write `net.*` sysctls of the calling thread's namespace and read them back.
///
/// Equivalent to: `ip netns exec <ns> sysctl -w key=value`. No guard is needed to
/// undo them: they live and die with the anonymous namespace.
pub(super) fn apply(ns: &'static str, list: &[(String, String)]) -> Result<(), LabError> {
    for (key, value) in list {
        if !key.starts_with("net.") {
            return Err(LabError::SysctlRefused { key: key.clone() });
        }
        let err = |hint: &'static str| {
            move |source| LabError::Sysctl {
                ns,
                key: key.clone(),
                value: value.clone(),
                source,
                hint,
            }
        };
        let hint = crate::rootless::sysctl_hint();
        let ctl = sysctl::Ctl::new(key).map_err(err(hint))?;
        ctl.set_value_string(value).map_err(err(hint))?;
        let read = ctl.value_string().map_err(err(""))?;
        // Multi-value sysctls read back tab-separated (ip_local_port_range).
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        if words(&read) != words(value) {
            return Err(LabError::SysctlKept {
                ns,
                key: key.clone(),
                value: value.clone(),
                kept: read,
            });
        }
    }
    Ok(())
}

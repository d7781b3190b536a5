//! Where Linux changed an answer the model gives: each change with the
//! release it arrived in and the commit that made it. The model's entries ask
//! [`Change::holds`] for the kernel a case ran on; the rules text lists them.
//! A kernel whose release cannot be read is taken to be the newest.

use crate::release::Release;

/// One change in the kernel's behaviour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change {
    /// The first release with the new behaviour.
    pub since: Release,
    /// What holds from `since` on.
    pub now: &'static str,
    /// What held before.
    pub before: &'static str,
    /// The commit (or patch series) that made the change.
    pub commit: &'static str,
}

impl Change {
    /// The new behaviour holds on `release` (`None`: the newest kernel).
    pub fn holds(&self, release: Option<Release>) -> bool {
        release.is_none_or(|r| r >= self.since)
    }

    /// The release it arrived in, as people say it: `6.14`.
    pub fn version(&self) -> String {
        format!("{}.{}", self.since.major, self.since.minor)
    }
}

const fn release(major: u32, minor: u32) -> Release {
    Release {
        major,
        minor,
        patch: 0,
    }
}

/// `tcp_timewait_state_process()` counts a PAWS reject in its own counter.
pub(crate) const PAWS_COUNTER: Change = Change {
    since: release(6, 16),
    now: "a PAWS reject in TIME_WAIT counts TcpExt.PAWSTimewait (LINUX_MIB_PAWS_TW_REJECTED)",
    before: "it counted TcpExt.PAWSEstab, like a PAWS reject of an established socket",
    commit: "\"tcp: add LINUX_MIB_PAWS_TW_REJECTED counter\" (net-next, April 2025)",
};

/// The SYN-ACK that reopens a TIME_WAIT starts at `tw_snd_nxt + 65537`.
pub(crate) const REOPEN_ISN: Change = Change {
    since: release(6, 10),
    now: "the SYN-ACK that reopens a server's TIME_WAIT starts at tw_snd_nxt + 65537 \
          (tcp_timewait_state_process() hands the ISN to tcp_conn_request())",
    before: "that ISN was lost on the way (tcp_v4_fill_cb() reused the control-block field) \
             and the SYN-ACK got an ordinary secure_tcp_seq() ISN",
    commit: "41eecbd712b7 (per-CPU tcp_tw_isn); 1bbf0ced1d9d (7.1, backported to 7.0.y, 6.18.y \
             and 6.12.y) moved it to skb->cb",
};

/// `tcp_twsk_unique()` measures the reuse delay in milliseconds.
pub(crate) const REUSE_DELAY: Change = Change {
    since: release(6, 14),
    now: "an ephemeral connect() takes a TIME_WAIT over once tcp_clock_ms() is after \
          tw_entry_stamp + net.ipv4.tcp_tw_reuse_delay (ms, default 1000)",
    before: "once ktime_get_seconds() is after tw_ts_recent_stamp: the next second boundary, \
             a wait of up to 1 s",
    commit: "\"tcp: Measure TIME-WAIT reuse delay with millisecond precision\" and \"tcp: Add \
             sysctl to configure TIME-WAIT reuse delay\" (net-next, December 2024)",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_holds_from_its_release_on_and_on_unknown_kernels() {
        let r = |s: &str| Release::parse(s);
        assert!(!PAWS_COUNTER.holds(r("6.1.0-28-amd64")));
        assert!(!PAWS_COUNTER.holds(r("6.15.9")));
        assert!(PAWS_COUNTER.holds(r("6.16-rc1")));
        assert!(PAWS_COUNTER.holds(r("6.18.44-fc")));
        assert!(
            PAWS_COUNTER.holds(None),
            "an unreadable release is the newest"
        );
        assert!(REOPEN_ISN.holds(r("6.10.0")) && !REOPEN_ISN.holds(r("6.9.12")));
        assert!(REUSE_DELAY.holds(r("6.14.1")) && !REUSE_DELAY.holds(r("6.12.30")));
        assert_eq!(REUSE_DELAY.version(), "6.14");
    }
}

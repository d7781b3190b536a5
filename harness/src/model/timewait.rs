//! `tcp_timewait_state_process()` (net/ipv4/tcp_minisocks.c) for a real
//! TIME_WAIT (`tw_substate == TCP_TIME_WAIT`, not an orphaned FIN_WAIT2), read
//! the way the kernel reads a segment: first what it is ([`Seen`]: the
//! timestamp option, PAWS, where its seq falls), then [`BRANCHES`], an ordered
//! table in which the first branch whose condition holds decides, like the
//! function's if-chain. Each branch quotes the lines it stands for. The same on
//! every kernel from 5.10 to 7.x as far as what is sent and kept goes; the
//! counter a PAWS reject moves changed in 6.16 (`changes::PAWS_COUNTER`).

use crate::wire::Flags;

/// The kernel function the branches stand for.
pub(crate) const FUNCTION: &str = "tcp_timewait_state_process()";
/// Where it is.
pub(crate) const FILE: &str = "net/ipv4/tcp_minisocks.c";

/// What the TIME_WAIT socket holds that the branches read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWait {
    /// `tw_ts_recent_stamp != 0`: the old connection negotiated timestamps.
    pub ts_recent: bool,
    /// `tw_ts_recent == 0`: `tcp_paws_check()` then passes any tsval ("some
    /// OSes send SYN and SYNACK messages with tsval=0").
    pub ts_recent_zero: bool,
    /// The TIME_WAIT side's `net.ipv4.tcp_timestamps != 0` when the segment
    /// arrives: `tcp_parse_options(.., estab = 0, ..)` reads the option only then.
    pub timestamps: bool,
    /// The TIME_WAIT side's `net.ipv4.tcp_rfc1337 != 0`.
    pub rfc1337: bool,
}

/// A segment arriving at the TIME_WAIT socket, relative to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub flags: Flags,
    /// `seq - tw_rcv_nxt`, a signed distance within ±2^31.
    pub seq: i64,
    /// Payload bytes.
    pub len: u32,
    /// `tsval - tw_ts_recent` when the segment carries a timestamp option and
    /// the old connection had timestamps; `None` otherwise.
    pub tsval: Option<i64>,
}

/// What the function knows about the segment before its branches.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub arrival: Arrival,
    pub tw: TimeWait,
    /// `tmp_opt.saw_tstamp`: the option was parsed (`th->doff > 5`,
    /// `tw_ts_recent_stamp` set, and the sysctl on).
    pub saw_tstamp: bool,
    /// `tcp_paws_reject(&tmp_opt, th->rst)`.
    pub paws_reject: bool,
    /// `(s32)(tw_ts_recent - tmp_opt.rcv_tsval) < 0`, with the option parsed.
    pub ts_newer: bool,
    /// `TCP_SKB_CB(skb)->seq == rcv_nxt`.
    pub at_rcv_nxt: bool,
    /// `seq == end_seq`: no payload, no SYN, no FIN.
    pub zero_len: bool,
}

impl Seen {
    pub fn of(tw: TimeWait, a: Arrival) -> Seen {
        let saw_tstamp = tw.ts_recent && tw.timestamps && a.tsval.is_some();
        let tsval = a.tsval.filter(|_| saw_tstamp);
        // tcp_paws_reject() -> tcp_paws_check(rx_opt, 0): passes when
        // (s32)(ts_recent - rcv_tsval) <= 0, or ts_recent_stamp is older than
        // TCP_PAWS_WRAP (never within TIME_WAIT's 60 s), or ts_recent == 0. An
        // RST is spared only once ts_recent_stamp is TCP_PAWS_MSL (60 s) old:
        // never within TIME_WAIT either.
        let paws_reject = tsval.is_some_and(|d| d < 0) && !tw.ts_recent_zero;
        Seen {
            arrival: a,
            tw,
            saw_tstamp,
            paws_reject,
            ts_newer: tsval.is_some_and(|d| d > 0),
            at_rcv_nxt: a.seq == 0,
            zero_len: a.len == 0 && !a.flags.syn && !a.flags.fin,
        }
    }
}

/// What a branch does to the TIME_WAIT socket and what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `inet_twsk_deschedule_put()`: TIME_WAIT is gone, nothing is sent.
    Kill,
    /// Nothing is sent and TIME_WAIT stays; `rearm`:
    /// `inet_twsk_reschedule(tw, TCP_TIMEWAIT_LEN)`, a fresh 60 s.
    Keep { rearm: bool },
    /// `TCP_TW_SYN`: the caller (`tcp_v4_rcv()` / `tcp_v6_rcv()`) kills
    /// TIME_WAIT and hands the segment to the listener, with the ISN
    /// `tw_snd_nxt + 65535 + 2`.
    Reopen,
    /// The TIME_WAIT ACK, `seq=tw_snd_nxt ack=tw_rcv_nxt`, unless
    /// `tcp_timewait_check_oow_rate_limit()` holds it back; `rearm` as above.
    Ack { rearm: bool },
}

/// One branch of the function.
#[derive(Clone, Copy)]
pub struct Branch {
    /// A few words that name it: `TCP_TW_SYN`.
    pub name: &'static str,
    /// The rule in one sentence, for the rules text.
    pub rule: &'static str,
    pub when: fn(&Seen) -> bool,
    pub effect: fn(&Seen) -> Effect,
    /// What happened, in words (without the function's name).
    pub why: fn(&Seen) -> String,
}

impl std::fmt::Debug for Branch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// What the function does before its branches, in words.
pub(crate) const PAWS_RULE: &str = "Before its branches, tcp_timewait_state_process() reads the \
     timestamp option only when the old connection had timestamps and \
     net.ipv4.tcp_timestamps is on now; PAWS (tcp_paws_reject(), window 0) then rejects any \
     tsval older than ts_recent, even by 1, and counts it.";

/// The branch that reopens the 4-tuple.
pub(crate) const REOPEN: &str = "TCP_TW_SYN: the SYN reopens the 4-tuple";
/// The branch that answers with the TIME_WAIT ACK.
pub(crate) const ACK: &str = "out of window: the TIME_WAIT ACK";

/// The branches in the kernel's order, each under the source lines it
/// stands for (abridged).
pub(crate) static BRANCHES: [Branch; 6] = [
    // if (!paws_reject &&
    //     (TCP_SKB_CB(skb)->seq == rcv_nxt &&
    //      (TCP_SKB_CB(skb)->seq == TCP_SKB_CB(skb)->end_seq || th->rst))) {
    //         if (th->rst) {
    //                 if (!READ_ONCE(twsk_net(tw)->ipv4.sysctl_tcp_rfc1337)) {
    //                 kill:   inet_twsk_deschedule_put(tw);
    //                         return TCP_TW_SUCCESS;
    Branch {
        name: "in-window RST, tcp_rfc1337 = 0: kill",
        rule: "An RST exactly at rcv_nxt (not rejected by PAWS) kills TIME_WAIT: the TIME-WAIT \
               assassination RFC 1337 describes. Nothing is sent.",
        when: |s| !s.paws_reject && s.at_rcv_nxt && s.arrival.flags.rst && !s.tw.rfc1337,
        effect: |_| Effect::Kill,
        why: |s| {
            format!(
                "{} exactly at rcv_nxt kills TIME_WAIT (net.ipv4.tcp_rfc1337 = 0: the \
                 TIME-WAIT assassination of RFC 1337); nothing is sent",
                segment_words(s)
            )
        },
    },
    //                 }   /* tcp_rfc1337 = 1: fall through, no reschedule */
    //         } else { ..
    //         inet_twsk_put(tw);
    //         return TCP_TW_SUCCESS;
    Branch {
        name: "in-window RST, tcp_rfc1337 = 1: ignored",
        rule: "With net.ipv4.tcp_rfc1337 = 1 that RST is ignored: TIME_WAIT stays, its timer is \
               not re-armed, nothing is sent.",
        when: |s| !s.paws_reject && s.at_rcv_nxt && s.arrival.flags.rst && s.tw.rfc1337,
        effect: |_| Effect::Keep { rearm: false },
        why: |s| {
            format!(
                "{} exactly at rcv_nxt is ignored (net.ipv4.tcp_rfc1337 = 1, RFC 1337): \
                 TIME_WAIT stays, its timer is not re-armed, nothing is sent",
                segment_words(s)
            )
        },
    },
    //         } else {
    //                 inet_twsk_reschedule(tw, TCP_TIMEWAIT_LEN);
    //         }
    //         if (tmp_opt.saw_tstamp) { tw_ts_recent = tmp_opt.rcv_tsval; .. }
    //         return TCP_TW_SUCCESS;
    // }
    Branch {
        name: "in-window bare segment: timer re-armed",
        rule: "A zero-length segment without SYN or FIN exactly at rcv_nxt re-arms TIME_WAIT's \
               timer to 60 s (TCP_TIMEWAIT_LEN) and updates ts_recent. Nothing is sent.",
        when: |s| !s.paws_reject && s.at_rcv_nxt && s.zero_len && !s.arrival.flags.rst,
        effect: |_| Effect::Keep { rearm: true },
        why: |s| {
            format!(
                "{} exactly at rcv_nxt is the in-window segment TIME_WAIT accepts: its timer is \
                 re-armed to 60 s (TCP_TIMEWAIT_LEN), ts_recent updated, nothing is sent",
                segment_words(s)
            )
        },
    },
    // if (th->syn && !th->rst && !th->ack && !paws_reject &&
    //     (after(TCP_SKB_CB(skb)->seq, rcv_nxt) ||
    //      (tmp_opt.saw_tstamp &&
    //       (s32)(READ_ONCE(tcptw->tw_ts_recent) - tmp_opt.rcv_tsval) < 0))) {
    //         u32 isn = tcptw->tw_snd_nxt + 65535 + 2;  ..
    //         return TCP_TW_SYN;
    // }
    Branch {
        name: REOPEN,
        rule: "A SYN without ACK or RST that PAWS does not reject is accepted when its seq is \
               after rcv_nxt OR it carries a tsval newer than ts_recent (both strict: equal is \
               not newer): TIME_WAIT is killed and the listener gets the SYN.",
        when: |s| {
            let f = s.arrival.flags;
            f.syn && !f.rst && !f.ack && !s.paws_reject && (s.arrival.seq > 0 || s.ts_newer)
        },
        effect: |_| Effect::Reopen,
        why: |s| {
            let because = if s.arrival.seq > 0 {
                format!(
                    "{} is after rcv_nxt ({})",
                    seq_words(s.arrival.seq),
                    ts_words(s)
                )
            } else {
                format!(
                    "its tsval is newer than ts_recent ({}), though {} is not after rcv_nxt",
                    ts_words(s),
                    seq_words(s.arrival.seq)
                )
            };
            format!(
                "TCP_TW_SYN: {} is accepted because {because}: TIME_WAIT is killed and the SYN \
                 goes to the listener",
                segment_words(s)
            )
        },
    },
    // if (paws_reject) __NET_INC_STATS(.., LINUX_MIB_PAWS_TW_REJECTED);  /* PAWSEstab < 6.16 */
    // if (!th->rst) {
    //         if (paws_reject || th->ack)
    //                 inet_twsk_reschedule(tw, TCP_TIMEWAIT_LEN);
    //         return tcp_timewait_check_oow_rate_limit(tw, skb,
    //                                                  LINUX_MIB_TCPACKSKIPPEDTIMEWAIT);
    // }
    Branch {
        name: ACK,
        rule: "Anything else that is not an RST gets the TIME_WAIT ACK (seq=snd_nxt \
               ack=rcv_nxt), rate-limited by net.ipv4.tcp_invalid_ratelimit when it carries \
               no data and no FIN or is a SYN (the first is never limited). It re-arms the \
               timer when it carries ACK or was rejected by PAWS; a SYN without ACK does not.",
        when: |s| !s.arrival.flags.rst,
        effect: |s| Effect::Ack {
            rearm: s.paws_reject || s.arrival.flags.ack,
        },
        why: |s| {
            let rearm = if s.paws_reject {
                "re-armed (PAWS reject)"
            } else if s.arrival.flags.ack {
                "re-armed (ACK flag)"
            } else {
                "not re-armed (no ACK flag)"
            };
            format!(
                "{}{} is not acceptable in TIME_WAIT{}: the TIME_WAIT ACK seq=snd_nxt \
                 ack=rcv_nxt answers it, and the timer is {rearm}",
                paws_words(s),
                segment_words(s),
                not_accepted(s)
            )
        },
    },
    // inet_twsk_put(tw);  /* an RST that got here */
    // return TCP_TW_SUCCESS;
    Branch {
        name: "RST elsewhere: ignored",
        rule: "An RST anywhere else (or rejected by PAWS) is ignored: nothing is sent, the \
               timer is not re-armed.",
        when: |s| s.arrival.flags.rst,
        effect: |_| Effect::Keep { rearm: false },
        why: |s| {
            format!(
                "{}{} is ignored (only an RST exactly at rcv_nxt acts): TIME_WAIT stays, \
                 nothing is sent, the timer is not re-armed",
                paws_words(s),
                segment_words(s)
            )
        },
    },
];

/// The branch `table` takes for `a` at `tw`, and what it does.
#[derive(Debug, Clone)]
pub struct Decision {
    pub branch: &'static str,
    pub effect: Effect,
    pub seen: Seen,
    /// What happened, naming the function.
    pub why: String,
}

/// Run the branches of `table` in order; the first that holds decides.
pub fn decide(table: &[Branch], tw: TimeWait, a: Arrival) -> Decision {
    let seen = Seen::of(tw, a);
    match table.iter().find(|b| (b.when)(&seen)) {
        Some(b) => Decision {
            branch: b.name,
            effect: (b.effect)(&seen),
            seen,
            why: format!("{} — {FUNCTION}", (b.why)(&seen)),
        },
        // Only a table that is not the kernel's (a test's) gets here.
        None => Decision {
            branch: "no branch",
            effect: Effect::Keep { rearm: false },
            seen,
            why: format!(
                "no branch of the model's {FUNCTION} takes {}",
                segment_words(&seen)
            ),
        },
    }
}

/// `tcp_oow_rate_limited()`: a segment with data or FIN and no SYN is never
/// held back ("data packets without SYNs are not likely part of an ACK
/// loop"); any other may be, when the TIME_WAIT sent its last out-of-window
/// ACK less than `net.ipv4.tcp_invalid_ratelimit` ago.
pub fn rate_limitable(a: &Arrival) -> bool {
    a.flags.syn || (a.len == 0 && !a.flags.fin)
}

/// The segment in words: `a SYN at seq = rcv_nxt - 1000`.
pub(crate) fn segment_words(s: &Seen) -> String {
    format!(
        "{} at {}",
        flags_words(s.arrival.flags, s.arrival.len),
        seq_words(s.arrival.seq)
    )
}

/// `a SYN`, `an RST-ACK`, `100 bytes of data (P.)`.
pub(crate) fn flags_words(f: Flags, len: u32) -> String {
    let name = match (f.syn, f.fin, f.rst, f.ack) {
        (true, true, _, _) => "SYN-FIN",
        (true, _, _, true) => "SYN-ACK",
        (true, _, _, false) => "SYN",
        (_, _, true, true) => "RST-ACK",
        (_, _, true, false) => "RST",
        (_, true, _, true) => "FIN-ACK",
        (_, true, _, false) => "FIN",
        (_, _, _, true) if len > 0 => "data segment",
        (_, _, _, true) => "pure ACK",
        _ if len > 0 => "data segment without ACK",
        _ => "segment without flags",
    };
    // "an RST" as the letters are spoken; "a SYN", "a FIN" as words.
    let article = if name.starts_with("RST") { "an" } else { "a" };
    if len > 0 {
        format!("{article} {name} ({len} bytes, {})", f.tcpdump())
    } else {
        format!("{article} {name} ({})", f.tcpdump())
    }
}

/// `seq = rcv_nxt - 1000`.
pub(crate) fn seq_words(d: i64) -> String {
    match d {
        0 => "seq = rcv_nxt".to_owned(),
        d if d > 0 => format!("seq = rcv_nxt + {d}"),
        d => format!("seq = rcv_nxt - {}", -d),
    }
}

/// The timestamp as the branches saw it.
fn ts_words(s: &Seen) -> String {
    if !s.tw.ts_recent {
        return "no timestamps on the old connection".to_owned();
    }
    match s.arrival.tsval {
        None => "no timestamp option".to_owned(),
        Some(_) if !s.saw_tstamp => {
            "its timestamp not read: net.ipv4.tcp_timestamps = 0 here".to_owned()
        }
        Some(0) => "tsval = ts_recent".to_owned(),
        Some(d) if d > 0 => format!("tsval = ts_recent + {d}"),
        Some(d) => format!("tsval = ts_recent - {}", -d),
    }
}

/// `rejected by PAWS (tsval = ts_recent - 1): `, or nothing.
fn paws_words(s: &Seen) -> String {
    if s.paws_reject {
        format!("rejected by PAWS ({}, tcp_paws_reject()): ", ts_words(s))
    } else {
        String::new()
    }
}

/// Why a SYN was not accepted, for the ACK branch.
fn not_accepted(s: &Seen) -> String {
    let f = s.arrival.flags;
    if !f.syn || f.ack || s.paws_reject {
        return String::new();
    }
    format!(
        " (a SYN is accepted only when seq is after rcv_nxt or its tsval is newer than \
         ts_recent: {}, {})",
        seq_words(s.arrival.seq),
        ts_words(s)
    )
}

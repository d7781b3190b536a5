//! Ownership: socket incarnations, and which of them are proved the case's own
//! ([`Owner::Own`]) by an owner thread's event in task context.

use std::collections::HashMap;

use super::decode::{Kind, Record};
use super::log::{Context, Owner};
use crate::wire::TcpState;

/// Numbers the socket incarnations of records sorted by time: 1, 2, ... in
/// order of first sight, 0 for a record without a known full socket.
///
/// An incarnation of a socket starts at `CLOSE -> x` (a new or reused socket)
/// or `LISTEN -> SYN_RECV` (a listener's child, cloned in softirq) and lasts
/// until the next start for the same `skaddr`: memory freed after `x -> CLOSE`
/// can come back as another case's socket, and that one starts with one of the
/// two. A reset belongs to the incarnation current at its time.
pub(super) fn incarnations(records: &[Record]) -> Vec<u32> {
    let mut current: HashMap<u64, u32> = HashMap::new();
    let mut next = 0u32;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let id = match &r.kind {
            _ if r.skaddr == 0 => 0,
            Kind::State { old, new } => {
                let starts = *old == TcpState::Close
                    || (*old == TcpState::Listen && *new == TcpState::SynRecv);
                match current.get(&r.skaddr) {
                    Some(&id) if !starts => id,
                    _ => {
                        next += 1;
                        current.insert(r.skaddr, next);
                        next
                    }
                }
            }
            Kind::Reset { .. } => current.get(&r.skaddr).copied().unwrap_or(0),
        };
        out.push(id);
    }
    out
}

/// Marks each record (sorted by time, `ids` its [`incarnations`])
/// [`Owner::Own`] or [`Owner::TupleOnly`]: an incarnation is owned when one of
/// its events ran in task context on an owner thread.
pub(super) fn attribute(records: &[Record], ids: &[u32], owners: &[libc::pid_t]) -> Vec<Owner> {
    let owned: std::collections::HashSet<u32> = records
        .iter()
        .zip(ids)
        .filter(|(r, id)| **id != 0 && r.context == Context::Task && owners.contains(&r.tid))
        .map(|(_, id)| *id)
        .collect();
    ids.iter()
        .map(|id| {
            if owned.contains(id) {
                Owner::Own
            } else {
                Owner::TupleOnly
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::tests::fixtures::{decoded_fixture, v6};

    use TcpState::*;

    #[test]
    fn ownership_follows_the_owner_threads_task_context_only() {
        let records = decoded_fixture();
        let own = attribute(&records, &incarnations(&records), &[29516]);
        let tuple_only: Vec<&Record> = records
            .iter()
            .zip(&own)
            .filter(|(_, o)| **o == Owner::TupleOnly)
            .map(|(r, _)| r)
            .collect();
        // Everything but the RST that had no socket is the owner's.
        assert_eq!(tuple_only.len(), 1);
        assert_eq!(tuple_only[0].skaddr, 0);

        // Its softirq events ran "as" the owner, but alone they prove nothing.
        let softirq: Vec<Record> = records
            .iter()
            .filter(|r| r.context == Context::Softirq)
            .cloned()
            .collect();
        assert!(!softirq.is_empty());
        assert!(
            attribute(&softirq, &incarnations(&softirq), &[29516])
                .iter()
                .all(|o| *o == Owner::TupleOnly)
        );
        assert!(
            attribute(&records, &incarnations(&records), &[])
                .iter()
                .all(|o| *o == Owner::TupleOnly)
        );
    }

    #[test]
    fn incarnations_are_numbered_and_reused_memory_gets_a_new_number() {
        let records = decoded_fixture();
        // listener 1, client 2, server child 3; the refused connect's socket
        // reuses the client's memory: 4. The RST for the closed port had no
        // socket (0); the one received belongs to socket 4.
        assert_eq!(
            incarnations(&records),
            vec![1, 2, 2, 3, 3, 3, 2, 2, 3, 3, 2, 4, 0, 4, 4, 1]
        );
    }

    fn rec(
        ts: u64,
        skaddr: u64,
        tid: i32,
        context: Context,
        old: TcpState,
        new: TcpState,
    ) -> Record {
        Record {
            ts,
            skaddr,
            tid,
            context,
            src: v6(1),
            dst: v6(2),
            kind: Kind::State { old, new },
        }
    }

    #[test]
    fn reused_socket_memory_starts_a_new_incarnation() {
        let task = Context::Task;
        let soft = Context::Softirq;
        let records = vec![
            // Ours: a child socket accepted and closed by thread 10.
            rec(1, 0xa, 99, soft, Listen, SynRecv),
            rec(2, 0xa, 99, soft, SynRecv, Established),
            rec(3, 0xa, 10, task, Established, FinWait1),
            rec(4, 0xa, 99, soft, FinWait1, FinWait2),
            rec(5, 0xa, 99, soft, FinWait2, Close),
            // Another case's socket at the same address, same tuple.
            rec(6, 0xa, 20, task, Close, SynSent),
            rec(7, 0xa, 10, soft, SynSent, Established),
            // And another case's child that no owner ever touches.
            rec(8, 0xa, 10, soft, Listen, SynRecv),
        ];
        let owners = attribute(&records, &incarnations(&records), &[10]);
        use Owner::*;
        assert_eq!(
            owners,
            vec![Own, Own, Own, Own, Own, TupleOnly, TupleOnly, TupleOnly]
        );
    }
}

//! THE table of expectations (besides the counters): one entry per key of
//! `[expect]`, in the order the judge checks them. A new expectation is one
//! entry here, the outcome value it reads, and its line in the JSON row.

use super::{Field, Kind, Measure, any_event};
use crate::evidence::Outcome;
use crate::wire::Answer;

const ANSWERS: &[&str] = &[
    Answer::SynAck.as_str(),
    Answer::Ack.as_str(),
    Answer::Rst.as_str(),
    Answer::None.as_str(),
];

pub static FIELDS: [Field; 10] = [
    Field {
        name: "answer",
        doc: "What the TIME_WAIT side sent back first: syn-ack, ack, rst or none.",
        kind: Kind::OneOf {
            noun: "answer",
            words: ANSWERS,
        },
        seen: |o: &Outcome| Ok(o.answer.as_str().to_owned()),
        fits: any_event,
        needs: None,
    },
    Field {
        name: "client_syns",
        doc: "SYNs the client needed until ESTABLISHED (or sent in all).",
        kind: Kind::Count { min: 1, max: 10 },
        seen: |o: &Outcome| Ok(o.client_syns.to_string()),
        fits: any_event,
        needs: None,
    },
    Field {
        name: "time_wait_after",
        doc: "The TIME_WAIT socket was still there after the event.",
        kind: Kind::Bool,
        seen: |o: &Outcome| Ok(o.time_wait_after.to_string()),
        fits: any_event,
        needs: None,
    },
    Field {
        name: "established",
        doc: "The client completed a new handshake (its ACK of a SYN-ACK was captured).",
        kind: Kind::Bool,
        seen: |o: &Outcome| Ok(o.established.to_string()),
        fits: any_event,
        needs: None,
    },
    Field {
        name: "timer_restarted",
        doc: "The event pushed TIME_WAIT's timer back to a fresh 60 s (read with sock_diag \
              before and after).",
        kind: Kind::Bool,
        seen: |o: &Outcome| {
            o.timer_restarted.map(|v| v.to_string()).ok_or(
                "TIME_WAIT's timer could not be read before and after the event \
                 (no TIME_WAIT then, or it was too young to tell a re-arm)",
            )
        },
        fits: |event| match event {
            "reconnect" => {
                Err("the timer is the server's TIME_WAIT's, which [reconnect] does not touch")
            }
            _ => Ok(()),
        },
        needs: Some(Measure::TimerAge),
    },
    Field {
        name: "time_wait_seconds",
        doc: "TIME_WAIT's full length in whole seconds, read off its timer before the event.",
        kind: Kind::Count { min: 1, max: 3600 },
        seen: |o: &Outcome| {
            o.time_wait_seconds
                .map(|v| v.to_string())
                .ok_or("no TIME_WAIT timer was read before the event")
        },
        fits: any_event,
        needs: None,
    },
    Field {
        name: "connect",
        doc: "[reconnect]: ok, or the errno name that bind() or connect() returned.",
        kind: Kind::Errno,
        seen: |o: &Outcome| o.connect.clone().ok_or("the case made no new connect()"),
        fits: |event| match event {
            "reconnect" => Ok(()),
            _ => Err("what connect() returned is an expectation of [reconnect]"),
        },
        needs: None,
    },
    Field {
        name: "isn_from_time_wait",
        doc: "The new connection's ISN on the TIME_WAIT side is its snd_nxt + 65537 \
              (tw_snd_nxt + 65535 + 2).",
        kind: Kind::Bool,
        seen: |o: &Outcome| {
            o.isn_from_time_wait().map(|v| v.to_string()).ok_or(
                "no new connection reopened the 4-tuple (no SYN-ACK to the SYN that hit \
                 TIME_WAIT, no SYN from the client's TIME_WAIT)",
            )
        },
        fits: any_event,
        needs: None,
    },
    Field {
        name: "bind",
        doc: "[listener] restart: ok, or the errno name that the new listener's bind() or \
              listen() returned.",
        kind: Kind::Errno,
        seen: |o: &Outcome| o.bind.clone().ok_or("the case restarted no listener"),
        fits: |event| match event {
            "restart" => Ok(()),
            _ => Err("what bind() returned is an expectation of [listener] restart"),
        },
        needs: None,
    },
    Field {
        name: "nat_port",
        doc: "Behind a NAT: the source port the server saw on the new SYN, the client's own \
              (kept) or another the masquerade chose (remapped).",
        kind: Kind::OneOf {
            noun: "NAT port",
            words: &["kept", "remapped"],
        },
        seen: |o: &Outcome| {
            o.nat_port
                .clone()
                .ok_or("no NAT between the client and the server, or no new SYN")
        },
        fits: |event| match event {
            "syn" => Ok(()),
            _ => Err("the port the NAT gave is an expectation of [second_syn] behind a NAT"),
        },
        needs: None,
    },
];

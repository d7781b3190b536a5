//! Measurements behind the costs quoted in `mod.rs` and `release.rs`: what
//! opening and closing the perf events costs, and how much longer a process
//! takes to exit with them open or handed to the kernel. Ignored by default
//! (they print numbers, they check nothing); run them as root with
//! `cargo test -p synlab --lib trace::costs -- --ignored --nocapture --test-threads 1`.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::clock::RECORD_CLOCK;
use super::decode::Decoder;
use super::perf::open_tracepoint;
use super::testnet::require_root;
use super::tracer::online_cpus;
use crate::handover::hand_over;

/// Set in the child process that [`exit_costs`] starts: how it leaves.
const CHILD_MODE: &str = "SYNLAB_TRACE_COSTS_CHILD";

/// The three events on every CPU, and how long opening them took.
fn open_all() -> (Vec<OwnedFd>, Duration) {
    let (decoder, _) = Decoder::load().expect("the event formats");
    let cpus = online_cpus().expect("the online CPUs");
    let started = Instant::now();
    let events = decoder
        .formats()
        .iter()
        .flat_map(|f| cpus.iter().map(move |&cpu| (f.id.map(u64::from), cpu)))
        .map(|(id, cpu)| open_tracepoint(id.expect("an id"), cpu, RECORD_CLOCK).expect("open"))
        .collect();
    (events, started.elapsed())
}

#[test]
#[ignore = "a measurement: prints, checks nothing"]
fn open_and_close_costs() {
    require_root();
    for _ in 0..3 {
        let (events, open) = open_all();
        let closes: Vec<String> = events
            .into_iter()
            .map(|e| {
                let started = Instant::now();
                drop(e);
                format!("{:.2}", started.elapsed().as_secs_f64() * 1e3)
            })
            .collect();
        println!(
            "open of {} events: {:.2} ms; each close (ms): {}",
            closes.len(),
            open.as_secs_f64() * 1e3,
            closes.join(" ")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// In the child: open the events, hand them over or not, say so, exit.
#[test]
#[ignore = "the child of exit_costs"]
fn exit_costs_child() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let (events, _) = open_all();
    let _ring = (mode == "kernel").then(|| hand_over(events.iter().map(AsFd::as_fd)));
    if mode == "kernel" {
        drop(events);
    } else {
        std::mem::forget(events);
    }
    println!("ready");
    std::process::exit(0);
}

#[test]
#[ignore = "a measurement: prints, checks nothing"]
fn exit_costs() {
    require_root();
    let exe = std::env::current_exe().expect("the test binary");
    for mode in ["open", "kernel", "open", "kernel"] {
        std::thread::sleep(Duration::from_millis(300));
        let mut child = Command::new(&exe)
            .args(["--exact", "observe::trace::costs::exit_costs_child"])
            .args(["--ignored", "--nocapture", "--test-threads", "1"])
            .env(CHILD_MODE, mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child");
        let stdout = child.stdout.take().expect("its stdout");
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("ready"));
        let started = Instant::now();
        child.wait().expect("wait for the child");
        println!(
            "exit with the events {}: {:.2} ms (ready seen: {ready})",
            if mode == "kernel" {
                "handed to the kernel"
            } else {
                "open"
            },
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}

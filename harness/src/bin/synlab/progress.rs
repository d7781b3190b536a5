//! A progress line on stderr while `synlab run` works, on a terminal only and
//! only once the run has taken more than a second (many cases, or kernels in
//! VMs): `synlab: 12/62 cases, 1.4 s: timewait::paws::ipv4/...`. Output on
//! stdout goes through [`Progress::suspend`], which clears the line first.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Before this, nothing is shown.
const QUIET_FOR: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(100);

struct State {
    total: usize,
    done: usize,
    last: String,
    started: Instant,
    /// The line is on the screen now.
    shown: bool,
}

impl State {
    fn draw(&mut self) {
        let width = terminal_width().saturating_sub(1).max(20);
        let mut line = format!(
            "synlab: {}/{} cases, {:.1} s",
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        if !self.last.is_empty() {
            line.push_str(": ");
            line.push_str(&self.last);
        }
        let line: String = line.chars().take(width).collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

/// The progress line of one run; does nothing when stderr is not a terminal.
pub struct Progress {
    state: Option<Arc<Mutex<State>>>,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Progress {
    /// Start counting `total` cases.
    pub fn start(total: usize) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Progress {
                state: None,
                stop,
                ticker: Mutex::new(None),
            };
        }
        let state = Arc::new(Mutex::new(State {
            total,
            done: 0,
            last: String::new(),
            started: Instant::now(),
            shown: false,
        }));
        let ticker = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    if let Ok(mut s) = state.lock()
                        && s.started.elapsed() >= QUIET_FOR
                        && !stop.load(Ordering::Relaxed)
                    {
                        s.draw();
                    }
                }
            })
        };
        Progress {
            state: Some(state),
            stop,
            ticker: Mutex::new(Some(ticker)),
        }
    }

    /// One more case finished.
    pub fn done(&self, name: &str) {
        if let Some(Ok(mut s)) = self.state.as_ref().map(|s| s.lock()) {
            s.done += 1;
            s.last = name.to_owned();
        }
    }

    /// Run `f` (which prints on stdout) with the line cleared; the next tick
    /// draws it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match self.state.as_ref().map(|s| s.lock()) {
            Some(Ok(mut s)) => {
                s.clear();
                f()
            }
            _ => f(),
        }
    }

    /// Stop and clear the line (for good: nothing draws it again).
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
        if let Some(Ok(mut s)) = self.state.as_ref().map(|s| s.lock()) {
            s.clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Columns of the terminal on stderr (80 when it cannot be read).
fn terminal_width() -> usize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own; fd 2 may be
    // anything, and a failure leaves it zeroed.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

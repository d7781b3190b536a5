//! The reporters `synlab run` feeds, chosen from its arguments: on stdout
//! the JSON rows, KTAP or the text report; across kernels, when stdout holds
//! JSON or KTAP, the text (the table) on stderr; the JUnit and HTML files
//! when asked for; the progress line and the notes on stderr. Everything on
//! a terminal goes through the progress line ([`Console`]), the text with its
//! verdict words coloured where the terminal allows it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use synlab::{
    CaseEnd, FanOut, HtmlReporter, JsonReporter, JunitReporter, KernelInfo, KtapReporter,
    ReportError, Reporter, RunEnd, TextReporter,
};

use crate::progress::Progress;

/// What the user asked to see.
pub struct Wanted {
    pub json: bool,
    pub ktap: bool,
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    /// The run is across kernels.
    pub across: bool,
    /// The HTML page's title.
    pub title: String,
    /// Cases the run reports in all (every kernel's), for the progress line.
    pub total: usize,
}

/// Every reporter `wanted` calls for, in the order they get each event: the
/// progress line first (it stops before the closing lines), the files, then
/// what goes to the terminal.
pub fn reporters(wanted: &Wanted) -> FanOut {
    let progress = Arc::new(Progress::start(wanted.total));
    let console = |paint, stream| Console {
        progress: Arc::clone(&progress),
        paint,
        stream,
    };
    let mut all = FanOut::new();
    all.push(Box::new(ProgressLine(Arc::clone(&progress))));
    if let Some(path) = &wanted.junit {
        all.push(Box::new(JunitReporter::new(path.clone())));
    }
    if let Some(path) = &wanted.html {
        all.push(Box::new(HtmlReporter::new(
            path.clone(),
            wanted.title.clone(),
        )));
    }
    if wanted.json {
        all.push(Box::new(JsonReporter::new(console(false, Stream::Stdout))));
    } else if wanted.ktap {
        all.push(Box::new(KtapReporter::new(console(false, Stream::Stdout))));
    }
    let text = TextReporter::new(console(true, Stream::Stdout))
        .naming(wanted.html.clone(), wanted.junit.clone());
    match (wanted.json || wanted.ktap, wanted.across) {
        (false, _) => all.push(Box::new(text)),
        // The table across kernels, beside rows or KTAP on stdout.
        (true, true) => all.push(Box::new(TextReporter::new(console(false, Stream::Stderr)))),
        (true, false) => {}
    }
    all.push(Box::new(Notes(console(false, Stream::Stderr))));
    all
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// A terminal stream with the progress line out of the way; colour on the
/// verdict words where `paint` and the terminal allow it. Each write is
/// written whole.
struct Console {
    progress: Arc<Progress>,
    paint: bool,
    stream: Stream,
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.progress.suspend(|| match self.stream {
            Stream::Stdout if self.paint => {
                let text = String::from_utf8_lossy(buf);
                let mut out = anstream::stdout().lock();
                out.write_all(crate::paint::verdicts(&text).as_bytes())?;
                out.flush()
            }
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf)?;
                out.flush()
            }
            Stream::Stderr => std::io::stderr().lock().write_all(buf),
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.stream {
            Stream::Stdout => std::io::stdout().flush(),
            Stream::Stderr => std::io::stderr().flush(),
        }
    }
}

/// The progress line: a case more as each ends; gone when the run ends.
struct ProgressLine(Arc<Progress>);

impl ProgressLine {
    fn done(&mut self, case: &CaseEnd) -> Result<(), ReportError> {
        self.0.done(&case.record.trial);
        Ok(())
    }
}

impl Reporter for ProgressLine {
    fn case_finished(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.done(case)
    }

    fn case_skipped(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.done(case)
    }

    fn case_errored(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        self.done(case)
    }

    fn run_ended(&mut self, _: &RunEnd) -> Result<(), ReportError> {
        self.0.finish();
        Ok(())
    }
}

/// Lines for stderr whatever the output: the kept namespaces of a case
/// (`--keep`), and what a kernel's part says beside its cases (a guest
/// booting, a guest's path refused).
struct Notes(Console);

impl Notes {
    fn line(&mut self, text: &str) -> Result<(), ReportError> {
        writeln!(self.0, "{text}").map_err(ReportError::io("notes on stderr"))
    }
}

impl Reporter for Notes {
    fn case_finished(&mut self, _: &KernelInfo, case: &CaseEnd) -> Result<(), ReportError> {
        match case.run.as_ref().and_then(|r| r.kept.as_ref()) {
            Some(k) => match k.made().first() {
                Some(first) => self.line(&format!(
                    "kept: ip netns exec {first} ss -tan; remove with: {}",
                    k.remove_command()
                )),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    fn case_skipped(&mut self, _: &KernelInfo, _: &CaseEnd) -> Result<(), ReportError> {
        Ok(())
    }

    fn case_errored(&mut self, _: &KernelInfo, _: &CaseEnd) -> Result<(), ReportError> {
        Ok(())
    }

    fn kernel_note(&mut self, kernel: &KernelInfo, note: &str) -> Result<(), ReportError> {
        self.line(&format!("kernel {}: {note}", kernel.label))
    }
}

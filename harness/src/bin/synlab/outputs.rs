//! What `synlab run` keeps beside the reports it prints: a [`Record`] per
//! case for the machine-readable outputs (the JSON summary line, `--junit`,
//! `--ktap`), the tally that makes the exit code, and the progress line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use synlab::report::json::{self, Row};
use synlab::report::record::{Record, Tally};
use synlab::report::{junit, ktap};

use crate::progress::Progress;

pub struct Outputs {
    records: Vec<Record>,
    /// Cases the run will report (the KTAP plan).
    total: usize,
    ktap: bool,
    junit: Option<PathBuf>,
    pub kernel: String,
    started: Instant,
    pub progress: Progress,
}

impl Outputs {
    pub fn new(total: usize, ktap: bool, junit: Option<&Path>) -> Outputs {
        Outputs {
            records: Vec::with_capacity(total),
            total,
            ktap,
            junit: junit.map(Path::to_path_buf),
            kernel: synlab::kernel_release(),
            started: Instant::now(),
            progress: Progress::start(total),
        }
    }

    /// The KTAP header, when KTAP is asked for.
    pub fn ktap_header(&self) -> Option<String> {
        self.ktap.then(|| ktap::header(self.total))
    }

    /// Keep one case's record; its KTAP lines when KTAP is asked for.
    pub fn add(&mut self, record: Record) -> Option<String> {
        self.progress.done(&record.trial);
        self.records.push(record);
        let n = self.records.len();
        self.ktap.then(|| ktap::result(n, &self.records[n - 1]))
    }

    /// The closing lines: the JSON summary row, the KTAP totals, the text
    /// tally; writes the JUnit file.
    pub fn finish(self, json_out: bool) -> Result<(u8, String)> {
        let Outputs {
            records,
            ktap: ktap_out,
            junit: junit_path,
            kernel,
            started,
            progress,
            ..
        } = self;
        progress.finish();
        let took = started.elapsed();
        let tally = Tally::of(&records);
        if let Some(path) = &junit_path {
            let xml = junit::render(&records, &kernel, took);
            synlab::write_named(path, xml.as_bytes())
                .with_context(|| format!("write the JUnit report {}", path.display()))?;
        }
        let text = if json_out {
            format!(
                "{}\n",
                json::line(&Row::Summary(tally.summary_row(&kernel, took)))
            )
        } else if ktap_out {
            ktap::totals(&tally)
        } else {
            let mut t = String::new();
            let failed = tally.fail + tally.partial + tally.error;
            if tally.partial + tally.error > 0 {
                t.push_str(&format!(
                    "({failed} failed: {} did not match, {} partial, {} errors)\n",
                    tally.fail, tally.partial, tally.error
                ));
            }
            t.push_str(&format!("{} passed, {failed} failed", tally.pass));
            if tally.skip > 0 {
                t.push_str(&format!(", {} skipped", tally.skip));
            }
            t.push('\n');
            if let Some(path) = &junit_path {
                t.push_str(&format!("junit: {}\n", path.display()));
            }
            t
        };
        Ok((tally.exit_code(), text))
    }
}

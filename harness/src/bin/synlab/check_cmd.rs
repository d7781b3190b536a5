//! `synlab check FILE...`: validate every file given, report each one (a valid
//! file on stdout with its case count, a bad one on stderr with every error at
//! file:line:column), and exit 2 if any was not valid.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::Fatal;
use crate::stdout::outln;

pub fn check(files: &[PathBuf]) -> Result<ExitCode, Fatal> {
    let (mut cases, mut bad) = (0, 0);
    for f in files {
        match synlab::load_file(f) {
            Ok(s) => {
                cases += s.cases.len();
                outln!("ok {} ({} cases)", f.display(), s.cases.len()).context("stdout")?;
            }
            Err(e) => {
                bad += 1;
                eprintln!("synlab: {e}");
            }
        }
    }
    let good = files.len() - bad;
    if bad == 0 {
        outln!("{} files, {cases} cases: valid", files.len()).context("stdout")?;
        return Ok(ExitCode::SUCCESS);
    }
    // One bad file: its message alone, as every fatal error is printed.
    if files.len() > 1 {
        eprintln!(
            "synlab: {bad} of {} files not valid ({good} valid, {cases} cases)",
            files.len()
        );
    }
    Ok(ExitCode::from(2))
}

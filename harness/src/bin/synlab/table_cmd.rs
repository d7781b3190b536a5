//! `synlab table FILE...`: the case-by-kernel table a `--kernel` run ends
//! with, made from JSON rows written anywhere (other machines, other days;
//! one file per kernel, or mixed), as text or as a Markdown table. Exit 1
//! when a row did not pass (fail, partial, error), 2 when a file cannot be
//! read or a line of it is not a row (each said at file:line).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use synlab::rows_table;

use crate::Fatal;
use crate::stdout::out;

#[derive(Args)]
pub struct TableArgs {
    /// Files of rows written by `synlab run ... --json` (`-`: stdin); a
    /// column per kernel run, in the order the files hold them.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print a Markdown table (a GitHub job summary, a README).
    #[arg(long)]
    markdown: bool,
}

/// Lines that are not rows said one by one, up to this many.
const SAID: usize = 20;

pub fn table(args: &TableArgs) -> Result<ExitCode, Fatal> {
    let mut texts = Vec::with_capacity(args.files.len());
    for f in &args.files {
        let name = f.display().to_string();
        let mut text = String::new();
        if name == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("read the rows on stdin")?;
        } else {
            text = std::fs::read_to_string(f).with_context(|| format!("read {name}"))?;
        }
        texts.push((name, text));
    }
    let table = match rows_table(&texts) {
        Ok(table) => table,
        Err(errors) => {
            for e in errors.iter().take(SAID) {
                eprintln!("synlab: {e}");
            }
            if errors.len() > SAID {
                eprintln!(
                    "synlab: and {} more lines that are not rows",
                    errors.len() - SAID
                );
            }
            eprintln!(
                "synlab: no table: {} lines or files above are not rows of this synlab (`synlab schema`)",
                errors.len()
            );
            return Ok(ExitCode::from(2));
        }
    };
    if args.markdown {
        out!("{}", table.markdown()).context("stdout")?;
    } else {
        out!("{}", table.text()).context("stdout")?;
    }
    Ok(ExitCode::from(table.tally().exit_code()))
}

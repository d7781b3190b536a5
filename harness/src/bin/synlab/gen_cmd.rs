//! What synlab prints about itself, generated from its own definitions so it
//! cannot drift: shell completions and the man page from the clap command
//! (clap_complete, clap_mangen), the JSON Schema from the row types.

use std::io::Write;

use clap::CommandFactory;

use crate::Cli;

/// `synlab completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    // clap_complete panics when its writer fails: it writes into memory.
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "synlab", &mut out);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()
}

/// `synlab man`: the man page (roff) of synlab and of each subcommand.
pub fn man() -> std::io::Result<()> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("synlab {}", sub.get_name());
        let sub = sub.clone().display_name(name.clone()).bin_name(name);
        out.extend_from_slice(b".bp\n");
        clap_mangen::Man::new(sub).render(&mut out)?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()
}

/// `synlab schema`: the JSON Schema of every `run --json` row, pretty-printed.
pub fn schema() -> String {
    serde_json::to_string_pretty(&synlab::json_schema()).unwrap_or_default()
}

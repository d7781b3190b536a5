//! One libtest-mimic trial per scenario case (`<area>::<scenario>::<case>`), so
//! `cargo test ts-off` and `cargo nextest run` filter and parallelise naturally.
//! Only wiring here: everything a trial does, `synlab run` does too.

use libtest_mimic::{Arguments, Failed, Trial};
use synlab::report::text;
use synlab::run::run_case_blocking;
use synlab::scenario;

fn main() {
    let args = Arguments::from_args();
    let root = scenario::default_root();
    let scenarios = match scenario::discover(&root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("synlab: {e}");
            std::process::exit(2);
        }
    };
    if !args.list
        && let Err(e) = synlab::lab::probe_privilege()
    {
        // One clear line and a failing exit: never a silent pass.
        eprintln!("synlab: {e}");
        std::process::exit(2);
    }
    let trials = scenarios
        .into_iter()
        .flat_map(|s| s.cases)
        .map(|case| {
            Trial::test(case.trial_name(), move || {
                let run = run_case_blocking(&case)
                    .map_err(|e| Failed::from(format!("{}: {e}", case.file.display())))?;
                if run.verdict.pass {
                    Ok(())
                } else {
                    Err(text::render(&run).into())
                }
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

//! One libtest-mimic trial per scenario case (`<area>::<scenario>::<case>`), so
//! `cargo test ts-off` and `cargo nextest run` filter and parallelise naturally.
//! Only wiring here: everything a trial does, `synlab run` does too.

use libtest_mimic::{Arguments, Failed, Trial};
use synlab::Mode;
use synlab::{RunOptions, run_case};

fn main() {
    let mut args = Arguments::from_args();
    // Cases mostly wait for the kernel: more at once than CPUs (`--test-threads` wins).
    args.test_threads.get_or_insert_with(synlab::default_jobs);
    // Without root: an unprivileged user namespace (rootless mode), entered
    // while the process has one thread.
    match synlab::enter_user_namespace_if_unprivileged() {
        Ok(Mode::Rootless { uid, .. }) if !args.list => {
            eprintln!("{}", synlab::rootless_note(uid));
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("synlab: {e}");
            std::process::exit(2);
        }
    }
    // Like `synlab run --all`: $SYNLAB_SCENARIOS (or ./scenarios of harness/,
    // which has none), then the scenarios built in from scenarios/.
    let scenarios = match synlab::Sources::new(None).discover() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("synlab: {e}");
            std::process::exit(2);
        }
    };
    if !args.list
        && let Err(e) = synlab::probe_privilege()
    {
        // One clear line and a failing exit: never a silent pass.
        eprintln!("synlab: {e}");
        std::process::exit(2);
    }
    // A case whose scenario leaves the running kernel out (`kernel = "..."`)
    // is an ignored trial, decided here, and says why once.
    let kernel = synlab::kernel_release();
    let trials = scenarios
        .into_iter()
        .flat_map(|s| s.cases)
        .map(|case| {
            let skip = case.skip_on(&kernel);
            if let Some(why) = &skip
                && !args.list
            {
                eprintln!("skip {}: {why}", case.trial_name());
            }
            Trial::test(case.trial_name(), move || {
                let run = run_case(&case, &RunOptions::default()).map_err(|e| {
                    Failed::from(format!(
                        "{}: {}",
                        case.file.display(),
                        synlab::error_text(&e)
                    ))
                })?;
                if run.verdict.pass {
                    return Ok(());
                }
                // A failure, or a partial case (an expectation this kernel gave
                // no way to check: never silently green), carries all the
                // evidence, and the pcap always.
                let mut report = synlab::render_text(&run);
                match synlab::write_pcap(&artifacts_dir(), &run) {
                    Ok(path) => report.push_str(&format!("   pcap: {}\n", path.display())),
                    Err(e) => report.push_str(&format!("   pcap not written: {e}\n")),
                }
                Err(report.into())
            })
            .with_ignored_flag(skip.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// `$SYNLAB_ARTIFACTS`, else `target/synlab-artifacts` of this build (never the
/// source tree: cargo runs the tests in harness/).
fn artifacts_dir() -> std::path::PathBuf {
    synlab::artifacts_from_env().unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .map_or_else(|| "synlab-artifacts".into(), |t| t.join("synlab-artifacts"))
    })
}

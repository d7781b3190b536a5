//! The CLI explains itself and works from any directory, without privilege:
//! `--help` lists the exit codes, the environment and the search order;
//! `check` reports every file and exits 2 if any was bad; `list` finds the
//! built-in scenarios in an empty directory; completions and the man page are
//! generated; docs/report.schema.json is what `synlab schema` prints.

mod support;

use std::process::{Command, Output};

use support::{ScratchDir, synlab_bin, workspace};

fn synlab(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(synlab_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("SYNLAB_SCENARIOS")
        .env_remove("SYNLAB_ARTIFACTS")
        .output()
        .unwrap_or_else(|e| panic!("run synlab {}: {e}", args.join(" ")))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_exit_codes_environment_and_the_search_order() {
    let dir = ScratchDir::new("synlab-cli-help");
    for flag in ["--help", "-h"] {
        let out = synlab(dir.path(), &[flag]);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        for needle in [
            "Exit status:",
            "  0  every case matched",
            "  1  a case did not match",
            "  2  usage, file or permission error",
            "SYNLAB_SCENARIOS",
            "SYNLAB_ARTIFACTS",
            "SYNLAB_NO_USERNS",
            "NO_COLOR",
            "--scenarios-dir DIR,\n     else $SYNLAB_SCENARIOS, else ./scenarios",
            "the scenarios built into synlab",
            "completions",
        ] {
            assert!(help.contains(needle), "{flag}: no {needle:?} in:\n{help}");
        }
    }
    let run = text(&synlab(dir.path(), &["run", "--help"]).stdout);
    for needle in ["--junit <FILE>", "--ktap", "--json", "./synlab-artifacts"] {
        assert!(run.contains(needle), "no {needle:?} in:\n{run}");
    }
    let usage = synlab(dir.path(), &["run", "--json", "--ktap", "ts-off"]);
    assert_eq!(usage.status.code(), Some(2), "{}", text(&usage.stderr));
}

#[test]
fn check_reports_every_file_then_exits_2() {
    let dir = ScratchDir::new("synlab-cli-check");
    let good = workspace().join("scenarios/timewait/ts-off.toml");
    let bad1 = dir.write(
        "bad1.toml",
        b"description = \"d\"\n[expect]\nanswer = \"maybe\"\n",
    );
    let bad2 = dir.write("bad2.toml", b"description = \"d\"\nport = 1\n[expect]\n");
    let out = Command::new(synlab_bin())
        .arg("check")
        .args([&good, &bad1, &bad2])
        .output()
        .expect("run synlab check");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("ok {} (2 cases)", good.display())),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("{}:3:10: expect.answer:", bad1.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:2:1: port:", bad2.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("synlab: 2 of 3 files not valid (1 valid, 2 cases)"),
        "{stderr}"
    );
    let ok = Command::new(synlab_bin())
        .args(["check"])
        .arg(&good)
        .output()
        .expect("run synlab check");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
}

#[test]
fn list_works_from_an_empty_directory_with_the_built_in_scenarios() {
    let dir = ScratchDir::new("synlab-cli-list");
    let out = synlab(dir.path(), &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("timewait::ts-off::ipv4 ")
                && l.contains("timewait/ts-off.toml (builtin)")),
        "{list}"
    );
    // A folder of one's own comes first and replaces the built-in scenario of its name.
    let area = dir.path().join("scenarios/mine");
    std::fs::create_dir_all(&area).expect("mkdir");
    std::fs::copy(
        workspace().join("scenarios/timewait/ts-on.toml"),
        area.join("ts-on.toml"),
    )
    .expect("copy a scenario");
    let out = synlab(dir.path(), &["list"]);
    let mine = text(&out.stdout);
    assert!(mine.contains("mine::ts-on::ipv4"), "{mine}");
    assert!(!mine.contains("timewait::ts-on::"), "replaced: {mine}");
    assert_eq!(mine.lines().count(), list.lines().count(), "{mine}");
    // An explicit folder that is not there is an error.
    let missing = synlab(dir.path(), &["--scenarios-dir", "nope", "list"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).starts_with("synlab: nope:"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let dir = ScratchDir::new("synlab-cli-gen");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = synlab(dir.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(text(&out.stdout).contains("synlab"), "{shell}");
    }
    let bash = text(&synlab(dir.path(), &["completions", "bash"]).stdout);
    assert!(
        bash.contains("--junit") && bash.contains("--scenarios-dir"),
        "{bash}"
    );
    let man = text(&synlab(dir.path(), &["man"]).stdout);
    assert!(
        man.starts_with(".ie \\n(.g .ds Aq"),
        "roff: {}",
        &man[..80.min(man.len())]
    );
    for needle in [
        ".TH synlab 1",
        "SYNLAB_ARTIFACTS",
        "Exit status:",
        ".TH \"synlab run\"",
    ] {
        assert!(man.contains(needle), "no {needle:?} in the man page");
    }
}

/// docs/report.schema.json is generated from the row types: it must be what
/// this build prints. Regenerate with `just schema`.
#[test]
fn the_schema_in_docs_is_the_one_the_code_makes() {
    let dir = ScratchDir::new("synlab-cli-schema");
    let out = synlab(dir.path(), &["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let path = workspace().join("docs/report.schema.json");
    let docs = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        docs == text(&out.stdout),
        "{} is stale: run `just schema` (cargo run -q --bin synlab -- schema > docs/report.schema.json) and commit it",
        path.display()
    );
}

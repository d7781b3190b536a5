//! The HTML report in a real browser: run the ts-off scenario against the kernel,
//! write the page with `report::html`, and let headless Chromium render it to a PNG
//! and dump its DOM, so the ladder is known to draw, not only to serialise.
//!
//! Needs root (the case makes network namespaces) and /usr/bin/chromium: as
//! root on Debian/Ubuntu the test installs it (`apt-get install chromium`, said
//! on stderr); elsewhere it fails naming the package. It never passes unrendered.
//! `SYNLAB_HTML_SCENARIO=NAME` renders another scenario and `SYNLAB_HTML_OUT=FILE`
//! keeps a copy of the page (used by `just html-shot` until `synlab run --html`).

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::ScratchDir;
use synlab::{CaseRun, RunOptions, run_case};

// Without root, run in an unprivileged user namespace (rootless mode). The
// standard test harness starts threads before any test, so this must happen
// before main: see synlab::rootless.
support::enter_rootless_before_main!();

/// The browser: `$SYNLAB_CHROMIUM`, else the first of these that exists
/// (Debian's chromium; Ubuntu's and GitHub runners' Chromium or Chrome).
const BROWSERS: [&str; 4] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
];

fn browser() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("SYNLAB_CHROMIUM") {
        return Some(p.into());
    }
    BROWSERS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .map(Path::to_path_buf)
}

/// Run headless Chromium on `page` with extra arguments. Output goes to files (a
/// DOM larger than a pipe buffer would block a piped child); after 60 s the whole
/// process group we started is killed.
fn chromium(scratch: &Path, page: &Path, args: &[String]) -> Output {
    let (out_path, err_path) = (scratch.join("chromium.out"), scratch.join("chromium.err"));
    let file = |p: &Path| std::fs::File::create(p).expect("create an output file");
    let mut child = Command::new(browser().expect("a browser (checked before)"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(file(&out_path))
        .stderr(file(&err_path))
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "chromium did not finish within 60 s; it said:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}

#[test]
fn ladder_renders_in_a_real_browser() {
    if let Err(e) = synlab::probe_privilege() {
        // One clear line (it names `sudo cargo test`) and a failure, never a silent pass.
        panic!("synlab: {e} (this test runs a real case)");
    }
    let name = std::env::var("SYNLAB_HTML_SCENARIO").unwrap_or_else(|_| "ts-off".into());
    let scenarios = synlab::Sources::new(None)
        .resolve(&name)
        .expect("load the scenario");
    let runs: Vec<CaseRun> = scenarios
        .iter()
        .flat_map(|s| &s.cases)
        .map(|case| {
            run_case(case, &RunOptions::default())
                .unwrap_or_else(|e| panic!("{}: {e}", case.trial_name()))
        })
        .collect();
    assert!(!runs.is_empty());
    let segments: usize = runs.iter().map(|r| r.obs.segments.len()).sum();

    let scratch = ScratchDir::new("synlab-html");
    let page = scratch.path().join("report.html");
    synlab::write_html(&page, &runs, &format!("synlab run {name}")).expect("write the page");
    let text = std::fs::read_to_string(&page).expect("read the page back");
    assert_eq!(
        text.matches("<g class=\"seg ").count(),
        segments,
        "one arrow per segment"
    );
    assert!(!text.contains("<script"), "the report needs no JavaScript");
    // Each arrow's label carries the text timeline's relative numbers.
    for run in &runs {
        for line in synlab::timeline_plain(&run.obs.segments).lines() {
            let numbers = &line[line.find(" seq ").expect("a seq column") + 1..];
            assert!(
                text.contains(&format!("> {numbers}</tspan>")),
                "{}: no arrow labelled {numbers:?}",
                run.case.trial_name()
            );
        }
    }
    if let Ok(keep) = std::env::var("SYNLAB_HTML_OUT") {
        let keep = PathBuf::from(keep);
        if let Some(dir) = keep.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).expect("create the output directory");
        }
        std::fs::copy(&page, &keep).expect("copy the page");
        eprintln!("html: wrote {}", keep.display());
    }

    // Installed here when the test may (root with apt-get); else a failure
    // that names the package.
    support::ensure_installed("chromium", "chromium", || browser().is_some());

    let shot = scratch.path().join("shot.png");
    let out = chromium(
        scratch.path(),
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1400".into(),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}); chromium said:\n{}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(png_size(&png), Some((1200, 1400)), "a PNG of the window");
    // A blank or single-colour 1200x1400 PNG compresses to a few KB.
    assert!(
        png.len() > 10_000,
        "screenshot is only {} bytes: blank page?",
        png.len()
    );

    let out = chromium(scratch.path(), &page, &["--dump-dom".into()]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium --dump-dom failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        dom.matches("<svg class=\"ladder\"").count(),
        runs.len(),
        "one ladder per case in the DOM"
    );
    assert_eq!(
        dom.matches("<g class=\"seg ").count(),
        segments,
        "every arrow is in the rendered DOM"
    );
    assert_eq!(
        dom.matches("<polygon ").count(),
        segments,
        "every arrow has its head"
    );
    assert!(
        dom.contains("class=\"seg syn hit\""),
        "the SYN that hit TIME_WAIT is marked"
    );
    assert!(dom.contains(" answer\""), "the server's answer is marked");
}

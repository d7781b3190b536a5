//! One kernel image's part of a run: boot it with the suite inside, read
//! back what the guest left as data (its release validated, its rows typed,
//! the pcaps they name brought back from inside its folder only, every case
//! it returned no row for an error of that case), or say once why the kernel
//! could not run the lab. Also [`Guest`], a prepared image that `synlab bench
//! --kernel` boots alone and with the suite.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::files::{SafeDir, read_inside};
use crate::report::json::read::Line;
use crate::report::record::Tally;
use crate::report::{CaseEnd, KernelEnd, KernelInfo, artifacts};
use crate::rows::Row;
use crate::scenario::Case;

use super::guest::{self, Invocation};
use super::image::Image;
use super::kvm::{self, Accel};
use super::tools::Tools;
use super::vm::{self, Ended, Workdir};
use super::{GuestArgs, KernelError, Pcaps};

/// One kernel's results, ready to be reported.
pub struct KernelRun {
    pub info: KernelInfo,
    pub ends: Vec<CaseEnd>,
    pub end: KernelEnd,
}

impl KernelRun {
    fn new(info: KernelInfo, how: String) -> KernelRun {
        KernelRun {
            info,
            ends: Vec::new(),
            end: KernelEnd {
                how,
                tally: Tally::default(),
                took: Duration::ZERO,
                unusable: None,
            },
        }
    }
}

/// The host-side deadline of one guest: `$SYNLAB_VM_TIMEOUT` seconds, else a
/// boot allowance plus every case's own deadline shared by the guest's jobs.
pub fn guest_limit(cases: &[Case], accel: &Accel) -> Duration {
    if let Some(s) = std::env::var("SYNLAB_VM_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_secs(s);
    }
    let boot = Duration::from_secs(if accel.kvm { 90 } else { 240 });
    boot + cases.iter().map(|c| c.timeout).sum::<Duration>() / 2
}

/// Where a boot's time went, for the kernel's heading.
fn boot_detail(wall: Duration, res: &guest::Results) -> String {
    let mut s = format!("{:.1} s wall time of vng", wall.as_secs_f64());
    if let Some(suite) = res.suite {
        s.push_str(&format!(
            " (suite {:.1} s inside, boot and shutdown {:.1} s)",
            suite.as_secs_f64(),
            wall.saturating_sub(suite).as_secs_f64()
        ));
    }
    if let Some(c) = &res.clocksource {
        s.push_str(&format!(", guest clocksource {c}"));
    }
    s
}

/// What the guest runs for `args`: the same selection, pcaps into its
/// folder when every case's pcap is wanted, the host's working folder.
pub fn invocation(args: &GuestArgs, pcap: bool) -> Invocation {
    Invocation {
        exe: args.exe.clone(),
        scenarios_dir: args.scenarios_dir.clone(),
        args: args.selection.clone(),
        pcap,
        cwd: std::env::current_dir().unwrap_or_else(|_| "/".into()),
    }
}

/// The image's part: boot it with the suite inside and read back its cases.
#[allow(clippy::too_many_arguments)]
pub fn run_image(
    index: usize,
    img: &Image,
    cases: &[Case],
    (tools, accel): (&Tools, &Accel),
    inv: &Invocation,
    pcaps: &Pcaps,
    note: &dyn Fn(&KernelInfo, String),
) -> KernelRun {
    let started = Instant::now();
    let info = KernelInfo {
        index,
        label: img.release.clone(),
        release: img.release.clone(),
    };
    let mut run = KernelRun::new(
        info,
        format!(
            "{} booted with {} ({}, {} vCPU)",
            img.path.display(),
            tools.vng_version,
            accel.describe(),
            vm::CPUS
        ),
    );
    let blockers = img.blockers();
    if !blockers.is_empty() {
        run.end.how = format!("{} (not booted)", img.path.display());
        run.end.unusable = Some(format!(
            "cannot run the lab ({}): {}",
            img.config
                .as_ref()
                .map_or(String::new(), |c| c.display().to_string()),
            blockers.join("; ")
        ));
        return run;
    }
    let work = match Workdir::new(&img.release) {
        Ok(w) => w,
        Err(e) => {
            run.end.unusable = Some(e);
            return run;
        }
    };
    let limit = guest_limit(cases, accel);
    note(
        &run.info,
        format!(
            "booting {} ({}, limit {} s)",
            img.path.display(),
            accel.describe(),
            limit.as_secs()
        ),
    );
    let script = guest::suite_script(inv, &work.rw());
    let booted = match vm::boot(tools, img, accel, &work, &script, limit) {
        Ok(b) => b,
        Err(e) => {
            run.end.unusable = Some(e);
            return run;
        }
    };
    let res = guest::read(&work.rw());
    run.end
        .how
        .push_str(&format!(": {}", boot_detail(booted.wall, &res)));
    let inside = res.suite;
    let notes = settle(&mut run, res, booted.ended, &work.rw(), cases, pcaps);
    let wall = started.elapsed();
    run.end.took = inside.unwrap_or(wall);
    for n in notes {
        note(&run.info, n);
    }
    note(&run.info, format!("done in {:.1} s", wall.as_secs_f64()));
    run
}

/// What a guest's run gave, read back as data: its release (the column's
/// label, when it is a release), each case's end in the order asked (a row
/// that did not parse or never came is an error of that case), the pcaps
/// brought back from inside `rw` only; or why the kernel could not run the
/// lab. Returns the lines to say about it.
fn settle(
    run: &mut KernelRun,
    res: guest::Results,
    ended: Ended,
    rw: &Path,
    cases: &[Case],
    pcaps: &Pcaps,
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(r) = &res.release
        && r != &run.info.label
    {
        match guest::valid_release(r) {
            Ok(r) => {
                run.info.label = r.to_string();
                run.info.release = r.to_string();
            }
            Err(e) => notes.push(e),
        }
    }
    match ended {
        Ended::Script(code) => {
            if let Some(why) = guest::lab_unsupported(code, &res.lines, &res.stderr) {
                run.end.unusable = Some(format!("cannot run the lab: {why}"));
                return notes;
            }
        }
        Ended::Vng(why) => {
            run.end.unusable = Some(format!("the guest did not finish: {why}"));
            return notes;
        }
        Ended::Timeout(limit) => {
            let rows = res
                .lines
                .iter()
                .filter(|l| matches!(l, Line::Row(_)))
                .count();
            run.end.unusable = Some(format!(
                "the guest did not finish within {} s (vng and qemu killed); {rows} rows had come: \
                 set SYNLAB_VM_TIMEOUT (seconds) for a slower machine",
                limit.as_secs(),
            ));
            return notes;
        }
    }
    run.ends = ends(res.lines, cases, &run.info.release, &mut notes)
        .into_iter()
        .map(|mut end| {
            let Some(named) = end.pcap().map(str::to_owned) else {
                return end;
            };
            match bring_one(&named, rw, &run.info.release, pcaps) {
                Ok(to) => {
                    end.move_pcap(Ok(to));
                    end
                }
                Err(e) => {
                    notes.push(format!("{}: pcap {named:?} refused: {e}", end.name()));
                    end.artifact_lost(&format!("{named:?}: {e}"))
                }
            }
        })
        .collect();
    for end in &run.ends {
        run.end.tally.add(end.record.conclusion);
    }
    notes
}

/// Each case's end from the guest's lines, in the order of `cases`: its row,
/// or an error saying its row did not parse or never came; then rows of
/// cases this synlab does not know. Stray lines and repeated rows go to
/// `notes`.
fn ends(lines: Vec<Line>, cases: &[Case], kernel: &str, notes: &mut Vec<String>) -> Vec<CaseEnd> {
    let mut rows: Vec<CaseEnd> = Vec::new();
    let mut bad: Vec<(String, String)> = Vec::new();
    for line in lines {
        match line {
            Line::Row(Row::Summary(_)) => {}
            Line::Row(row) => rows.extend(CaseEnd::from_row(row)),
            Line::Bad {
                case: Some(case),
                error,
                ..
            } => bad.push((case, error)),
            Line::Bad { line, error, .. } => {
                notes.push(format!("stray output in the rows ({error}): {line}"));
            }
        }
    }
    let mut out = Vec::with_capacity(cases.len());
    let mut taken = BTreeSet::new();
    let mut missing = 0;
    for case in cases {
        if !taken.insert(case.name.as_str()) {
            continue;
        }
        let end = match rows.iter().position(|r| r.name() == case.name) {
            Some(i) => {
                let mut end = rows.remove(i);
                end.case = Some(case.clone());
                end
            }
            None => {
                missing += 1;
                match bad.iter().find(|(c, _)| *c == case.name) {
                    Some((_, error)) => CaseEnd::lost(
                        case,
                        kernel,
                        format!("the guest's row for this case does not parse: {error}"),
                    ),
                    None => CaseEnd::lost(
                        case,
                        kernel,
                        "no row came back from the guest for this case (it stopped, or lost it)"
                            .into(),
                    ),
                }
            }
        };
        out.push(end);
    }
    if missing > 0 {
        notes.push(format!(
            "{missing} of {} cases have no row that reads back: each is an error",
            cases.len()
        ));
    }
    for extra in rows {
        if taken.contains(extra.name()) {
            notes.push(format!("a second row for {}: left out", extra.name()));
        } else {
            notes.push(format!("a row for a case not asked for: {}", extra.name()));
            out.push(extra);
        }
    }
    out
}

/// One pcap a guest named, copied to the host's folder for it: the path
/// must lie inside the guest's folder `rw` (no `..`, no link on the way).
fn bring_one(named: &str, rw: &Path, release: &str, pcaps: &Pcaps) -> Result<PathBuf, String> {
    let rel = Path::new(named)
        .strip_prefix(rw)
        .map_err(|_| format!("not inside the guest's folder {}", rw.display()))?;
    let bytes = read_inside(rw, rel, vm::READ_LIMIT).map_err(|e| e.to_string())?;
    let name = rel
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("no file name")?;
    let release = guest::valid_release(release)?;
    let base = match (rel.starts_with("pcap"), &pcaps.every) {
        (true, Some(d)) => SafeDir::named(d),
        _ => artifacts::open_private(&pcaps.failing),
    };
    base.and_then(|b| b.subdir(release))
        .and_then(|d| d.write(name, &bytes))
        .map_err(|e| e.to_string())
}

/// A kernel image ready to boot here: what it needs checked, the tools
/// found, whether KVM really works probed.
pub struct Guest {
    image: Image,
    tools: Tools,
    accel: Accel,
}

/// One boot with the whole suite inside.
#[derive(Debug, Clone)]
pub struct SuiteBoot {
    /// Whole-process wall time of vng.
    pub wall: Duration,
    /// The suite's own time, on the guest's clock.
    pub inside: Option<Duration>,
    /// Its cases, counted.
    pub tally: Tally,
}

impl Guest {
    /// The image `arg` names, refused when its config shows it cannot run
    /// the lab; the tools found; KVM probed with it.
    pub fn prepare(arg: &str) -> Result<Guest, KernelError> {
        let image = Image::find(arg).map_err(|why| KernelError::Image {
            arg: arg.to_owned(),
            why,
        })?;
        let blockers = image.blockers();
        if !blockers.is_empty() {
            return Err(KernelError::Blocked {
                release: image.release,
                why: blockers,
            });
        }
        let tools = Tools::find().map_err(KernelError::Tools)?;
        let accel = kvm::probe(&image.path);
        Ok(Guest {
            image,
            tools,
            accel,
        })
    }

    pub fn release(&self) -> &str {
        &self.image.release
    }

    pub fn path(&self) -> &Path {
        &self.image.path
    }

    /// How its guests run: `virtme-ng 1.42, 1 vCPU, TCG ..., guest -j 2`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} vCPU, {}, guest -j {}",
            self.tools.vng_version,
            vm::CPUS,
            self.accel.describe(),
            guest::GUEST_JOBS
        )
    }

    /// The deadline of a guest running `cases`.
    pub fn limit(&self, cases: &[Case]) -> Duration {
        guest_limit(cases, &self.accel)
    }

    fn boot(
        &self,
        script: impl Fn(&Path) -> String,
        limit: Duration,
    ) -> Result<(vm::Booted, Workdir), KernelError> {
        let guest_err = |what: String| KernelError::Guest {
            release: self.image.release.clone(),
            what,
        };
        let work = Workdir::new(&self.image.release).map_err(guest_err)?;
        let booted = vm::boot(
            &self.tools,
            &self.image,
            &self.accel,
            &work,
            &script(&work.rw()),
            limit,
        )
        .map_err(guest_err)?;
        Ok((booted, work))
    }

    /// Boot it with nothing inside (`vng ... -- true`): vng's wall time.
    pub fn boot_alone(&self, limit: Duration) -> Result<Duration, KernelError> {
        let (b, _work) = self.boot(guest::true_script, limit)?;
        match b.ended {
            Ended::Script(0) => Ok(b.wall),
            other => Err(KernelError::Guest {
                release: self.image.release.clone(),
                what: format!("the boot alone did not finish: {other:?}"),
            }),
        }
    }

    /// Boot it with the suite `args` selects inside.
    pub fn boot_suite(&self, args: &GuestArgs, limit: Duration) -> Result<SuiteBoot, KernelError> {
        let inv = invocation(args, false);
        let (b, work) = self.boot(|rw| guest::suite_script(&inv, rw), limit)?;
        let res = guest::read(&work.rw());
        let mut tally = Tally::default();
        for line in &res.lines {
            if let Line::Row(row) = line
                && let Some(end) = CaseEnd::from_row(row.clone())
            {
                tally.add(end.record.conclusion);
            }
        }
        match b.ended {
            Ended::Script(_) if tally.cases() > 0 => Ok(SuiteBoot {
                wall: b.wall,
                inside: res.suite,
                tally,
            }),
            other => Err(KernelError::Guest {
                release: self.image.release.clone(),
                what: format!(
                    "the suite did not run: {other:?}; guest stderr: {}",
                    res.stderr.trim()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{case_run, challenge_segments};
    use crate::report::json;
    use crate::rows::CaseRow;
    use std::os::unix::fs::symlink;

    /// Five PAWS cases, built into synlab.
    fn cases() -> Vec<Case> {
        crate::scenario::Sources::builtin_only()
            .resolve("paws")
            .expect("the built-in paws scenario")
            .into_iter()
            .flat_map(|s| s.cases)
            .filter(|c| c.name.contains("ipv4/seq=rcv_nxt+1"))
            .collect()
    }

    /// A whole row, as a guest prints it, for `case`, naming `pcap`.
    fn row(case: &Case, pcap: &str) -> String {
        let mut r: CaseRow = json::case_row(&case_run(challenge_segments(), "g"), None);
        r.scenario = case.scenario.clone();
        r.case = case.name.clone();
        r.trial = case.trial_name();
        r.kernel = "6.1.0-57-amd64".into();
        r.pcap = Some(pcap.into());
        json::line(&Row::Case(Box::new(r)))
    }

    /// A guest writes `../../x` as its release, points rows' pcaps at files
    /// outside its folder (absolute, `..`, through a link), prints one row
    /// that does not parse and returns no row for another case: nothing
    /// outside the artifacts folder is written, each refusal is said and is
    /// an error of its case, and the two lost cases are errors too.
    #[test]
    fn what_a_guest_returns_is_data_never_a_host_path() {
        let tmp = tempfile::tempdir().unwrap();
        let rw = tmp.path().join("vm/rw");
        std::fs::create_dir_all(rw.join("artifacts")).unwrap();
        std::fs::create_dir_all(rw.join("pcap")).unwrap();
        std::fs::write(rw.join("pcap/ok.pcap"), "pcap").unwrap();
        let victim = tmp.path().join("victim.pcap");
        std::fs::write(&victim, "precious").unwrap();
        symlink(&victim, rw.join("artifacts/link.pcap")).unwrap();
        let cases = cases();
        assert_eq!(cases.len(), 5);
        std::fs::write(rw.join("release"), "../../x\n").unwrap();
        let rows = [
            row(&cases[0], "/etc/passwd"),
            row(&cases[1], &format!("{}/../../victim.pcap", rw.display())),
            row(&cases[2], &format!("{}/artifacts/link.pcap", rw.display())),
            format!(
                "{{\"type\":\"case\",\"case\":\"{}\",\"renamed\":1}}",
                cases[3].name
            ),
            row(&cases[4], &format!("{}/pcap/ok.pcap", rw.display())),
        ];
        // cases[3]'s row does not parse; and a sixth case asked for never came.
        let mut asked = cases.clone();
        let mut sixth = cases[4].clone();
        sixth.name.push_str("/sixth");
        asked.push(sixth.clone());
        std::fs::write(rw.join("rows.jsonl"), rows.join("\n")).unwrap();
        let pcaps = Pcaps {
            every: Some(tmp.path().join("pcaps")),
            failing: tmp.path().join("a/b/art"),
        };
        let info = KernelInfo {
            index: 1,
            label: "6.1.0-57-amd64".into(),
            release: "6.1.0-57-amd64".into(),
        };
        let mut run = KernelRun::new(info, String::new());
        let before = std::fs::read_dir(tmp.path()).unwrap().count();
        let notes = settle(
            &mut run,
            guest::read(&rw),
            Ended::Script(0),
            &rw,
            &asked,
            &pcaps,
        );
        assert_eq!(
            run.info.label, "6.1.0-57-amd64",
            "the guest's release is no path"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("\"../../x\"") && n.contains("not a kernel release")),
            "{notes:#?}"
        );
        for bad in ["/etc/passwd", "../../victim.pcap", "link.pcap"] {
            assert!(
                notes
                    .iter()
                    .any(|n| n.contains(bad) && n.contains("refused")),
                "no line refuses {bad}: {notes:#?}"
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!tmp.path().join("a").exists(), "art/../../x is tmp/a/x");
        let ok = tmp.path().join("pcaps/6.1.0-57-amd64/ok.pcap");
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "pcap");
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            before + 1,
            "nothing new beside the guest's folder but pcaps/"
        );
        let names: Vec<&str> = run.ends.iter().map(|e| e.name()).collect();
        let want: Vec<&str> = asked.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, want, "every case asked for, in order");
        let of = |c: &Case| run.ends.iter().find(|e| e.name() == c.name).unwrap();
        assert_eq!(of(&cases[4]).record.pcap.as_deref(), Some(ok.as_path()));
        let unparsed = of(&cases[3]);
        assert!(matches!(unparsed.row, Row::Error(_)));
        assert!(
            unparsed
                .record
                .details
                .as_deref()
                .unwrap()
                .contains("does not parse"),
            "{:?}",
            unparsed.record
        );
        let lost = of(&sixth);
        assert!(
            lost.record
                .details
                .as_deref()
                .unwrap()
                .contains("no row came back"),
            "{:?}",
            lost.record
        );
        // A pcap refused is that case's error, with what the case showed.
        for c in &cases[..3] {
            let e = of(c);
            let text = e.record.details.as_deref().unwrap_or("");
            assert!(
                matches!(e.row, Row::Error(_))
                    && text.contains("the pcap could not be written")
                    && text.contains("the case ran: "),
                "{:?}",
                e.record
            );
        }
        assert_eq!(run.end.tally.error, 5);
        assert_eq!(run.end.tally.exit_code(), 1, "a lost case fails the run");
    }
}

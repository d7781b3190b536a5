//! `synlab kernels`' Debian part: the kernels in synlab's cache, what each
//! name resolved to and what it resolves to in the archive today (or, when
//! the archive cannot be asked, the cache alone, said so), and
//! `synlab kernels --prune [all]`.

use std::process::ExitCode;

use clap::ValueEnum;
use synlab::debian::{self, Cache, DebianError, Name, Options, Record, ago, mb};

use anyhow::Context;

use crate::Fatal;
use crate::stdout::outln;

/// What `--prune` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Prune {
    /// The trees no name resolves to any more, and what killed runs left.
    Stale,
    /// Everything synlab made in its Debian cache.
    All,
}

/// The lines of `synlab kernels` about Debian kernels.
pub fn show(offline: bool) -> std::io::Result<()> {
    let cache = match Cache::locate() {
        Ok(c) => c,
        Err(e) => {
            return outln!("Debian kernels: no cache: {e}");
        }
    };
    let trees = cache.trees();
    let records = cache.records();
    let bytes: u64 = trees.iter().map(|t| t.bytes).sum();
    outln!(
        "Debian kernels (--kernel debian:SUITE or debian:SERIES): cache {} ({}), {} unpacked, {}",
        cache.root().display(),
        cache.chosen,
        trees.len(),
        mb(bytes)
    )?;
    if records.is_empty() && trees.is_empty() {
        return outln!("  none yet: `synlab run NAME --kernel debian:bookworm` fetches one");
    }
    let today = if offline {
        outln!("  (--offline: the cache only, the archive not asked)")?;
        None
    } else {
        Some(Today::new(&cache))
    };
    let mut today = today;
    for rec in &records {
        let now = today.as_mut().map(|t| t.of(&cache, rec));
        outln!("{}", record_line(rec, now.flatten()))?;
    }
    let named: Vec<String> = records.iter().map(|r| r.resolution.key()).collect();
    for t in trees.iter().filter(|t| !named.contains(&t.key)) {
        let what = match &t.resolution {
            Some(r) => format!("{}, no name resolves to it", r.release),
            None => "not unpacked by synlab (no marker): left alone".to_string(),
        };
        outln!(
            "  {}  {}  ({what}; `synlab kernels --prune` removes it)",
            t.path.display(),
            mb(t.bytes)
        )?;
    }
    Ok(())
}

/// The archive asked once per name, until it cannot be.
struct Today {
    opts: Option<Options>,
    unreachable: Option<String>,
}

impl Today {
    fn new(cache: &Cache) -> Today {
        match Options::from_env(cache.root()) {
            Ok(o) => Today {
                opts: Some(o),
                unreachable: None,
            },
            Err(e) => Today {
                opts: None,
                unreachable: Some(e.to_string()),
            },
        }
    }

    /// What the record's name resolves to today: its release and the image
    /// package's version; `None` once the archive could not be asked (said
    /// once, then the cache alone is shown).
    fn of(&mut self, cache: &Cache, rec: &Record) -> Option<String> {
        let opts = self.opts.as_ref()?;
        if self.unreachable.is_some() {
            return None;
        }
        let Some(Ok(name)) = Name::parse(&rec.name) else {
            return None;
        };
        let got = debian::today(&name, cache, opts, &mut |p| eprintln!("kernel {p}"));
        match got {
            Ok(r) if r == rec.resolution => Some("the same".into()),
            Ok(r) => Some(format!(
                "{} ({} {}), not fetched yet",
                r.release,
                r.image().name,
                r.image().version
            )),
            Err(e) => {
                // A failed write shows at the next line, which `show` checks.
                let _ = outln!("  the archive could not be asked ({e}): the cache alone");
                self.unreachable = Some(e.to_string());
                None
            }
        }
    }
}

fn record_line(rec: &Record, today: Option<String>) -> String {
    let r = &rec.resolution;
    let img = r.image();
    let mut line = format!(
        "  {:<24} {:<24} {} {} ({}), resolved {} ago",
        rec.name,
        r.release,
        img.name,
        img.version,
        r.suite,
        ago(debian::now().saturating_sub(rec.resolved_at))
    );
    if let Some(t) = today {
        line.push_str(&format!("; today: {t}"));
    }
    line
}

/// `synlab kernels --prune [all]`.
pub fn prune(what: Prune) -> Result<ExitCode, Fatal> {
    let cache = Cache::locate()?;
    let pruned = cache
        .prune(what == Prune::All)
        .map_err(|e: DebianError| Fatal(e.into()))?;
    let (mut removed, mut bytes, mut kept) = (0, 0, 0);
    for p in &pruned {
        match &p.kept {
            None => {
                removed += 1;
                bytes += p.bytes;
                outln!("removed {} ({})", p.path.display(), mb(p.bytes)).context("stdout")?;
            }
            Some(why) => {
                kept += 1;
                outln!("kept {}: {why}", p.path.display()).context("stdout")?;
            }
        }
    }
    outln!(
        "pruned {}: {removed} removed ({}), {kept} left alone",
        cache.root().join("debian").display(),
        mb(bytes)
    )
    .context("stdout")?;
    Ok(ExitCode::SUCCESS)
}

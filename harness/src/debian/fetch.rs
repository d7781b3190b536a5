//! A Debian kernel by name, as `--kernel debian:...` wants it: what the name
//! resolves to in the archive today (the suite's signed indexes, read by the
//! private apt), its packages downloaded and unpacked into the cache when
//! they are not there yet, the resolution recorded; and when the archive
//! cannot be reached, the name's last resolution from the cache, said so.
//! Every step is reported through a `Progress` callback.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::DebianError;
use super::apt::Apt;
use super::cache::{self, Cache, Record};
use super::name::Name;
use super::options::Options;
use super::resolve::{self, META, Package, Resolution};
use super::stanza::Stanza;

/// A kernel ready to boot: its unpacked tree in the cache.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub resolution: Resolution,
    /// The unpacked packages (`boot/`, `usr/lib/modules/...`).
    pub tree: PathBuf,
    /// The image inside the tree.
    pub image: PathBuf,
    /// Why the archive was not asked and the cache answered, if it did.
    pub offline: Option<String>,
}

/// What fetching is doing, for a person (`Display` gives one line).
#[derive(Debug, Clone)]
pub enum Progress {
    /// Reading a suite's indexes from the archive.
    Reading {
        name: String,
        suite: String,
        mirror: String,
    },
    /// Settings taken from the host's apt (said once per fetch).
    HostSettings { name: String, settings: String },
    /// The name's kernel today; `cached` when its tree is already there.
    Resolved {
        name: String,
        resolution: Resolution,
        cached: bool,
    },
    /// Part of a download: bytes so far, of all, and the rate.
    Downloading {
        name: String,
        release: String,
        done: u64,
        total: u64,
        rate: f64,
    },
    Downloaded {
        name: String,
        total: u64,
        took: Duration,
    },
    Unpacked {
        name: String,
        tree: PathBuf,
        took: Duration,
    },
    /// The archive could not be asked; the cache answered.
    FromCache {
        name: String,
        resolution: Resolution,
        age: u64,
        why: String,
    },
    /// Another synlab holds the cache's lock.
    Waiting { cache: PathBuf },
}

/// Fetch `name` with the cache and the options of the environment.
pub fn fetch(name: &Name, progress: &mut dyn FnMut(&Progress)) -> Result<Kernel, DebianError> {
    let cache = Cache::locate()?;
    let opts = Options::from_env(cache.root())?;
    fetch_with(name, &cache, &opts, progress)
}

/// Fetch `name` into `cache`: today's kernel from the archive when it can be
/// asked (downloaded when not cached yet), else the name's last resolution.
pub fn fetch_with(
    name: &Name,
    cache: &Cache,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Kernel, DebianError> {
    cache.open()?;
    cache.hold_in_use()?;
    let _lock = cache.lock(&mut |dir| {
        progress(&Progress::Waiting {
            cache: dir.to_path_buf(),
        });
    })?;
    let online = resolve_today(name, cache, opts, progress)
        .and_then(|res| fetched(name, cache, opts, res, progress));
    match online {
        Ok(k) => Ok(k),
        Err(e) if e.may_use_cache() => {
            let Some((rec, tree, image)) = cached(name, cache) else {
                return Err(e);
            };
            let why = e.to_string();
            progress(&Progress::FromCache {
                name: name.to_string(),
                resolution: rec.resolution.clone(),
                age: cache::now().saturating_sub(rec.resolved_at),
                why: why.clone(),
            });
            Ok(Kernel {
                resolution: rec.resolution,
                tree,
                image,
                offline: Some(why),
            })
        }
        Err(e) => Err(e),
    }
}

/// The name's last resolution and its tree, when both are in the cache.
pub fn cached(name: &Name, cache: &Cache) -> Option<(Record, PathBuf, PathBuf)> {
    let rec = cache.record(name)?;
    let tree = cache.tree(&rec.resolution.key()).ok()??;
    let image = cache::image_in(&tree, &rec.resolution.release)?;
    Some((rec, tree, image))
}

/// What `name` resolves to in the archive today: the suites' indexes are
/// refreshed (`apt-get update`, under the cache's lock), no kernel is
/// downloaded and no record changed.
pub fn today(
    name: &Name,
    cache: &Cache,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Resolution, DebianError> {
    cache.open()?;
    let _lock = cache.lock(&mut |dir| {
        progress(&Progress::Waiting {
            cache: dir.to_path_buf(),
        });
    })?;
    resolve_today(name, cache, opts, progress)
}

fn resolve_today(
    name: &Name,
    cache: &Cache,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Resolution, DebianError> {
    opts.keyring()?;
    // Said once per process: it is the same for every name.
    static SAID: AtomicBool = AtomicBool::new(false);
    if let Some(settings) = opts.host_note()
        && !SAID.swap(true, Ordering::Relaxed)
    {
        progress(&Progress::HostSettings {
            name: name.to_string(),
            settings,
        });
    }
    let mut best: Option<(String, Stanza)> = None;
    for group in name.groups() {
        let apt = Apt::prepare(cache.apt_dir(&group)?, &group, opts)?;
        progress(&Progress::Reading {
            name: name.to_string(),
            suite: group.clone(),
            mirror: opts.mirror.clone(),
        });
        apt.update()?;
        let metas = apt.show(&[META.to_string()])?;
        if let Some(m) = resolve::newest(&metas, |v| name.takes(v))
            && best
                .as_ref()
                .is_none_or(|(_, b)| resolve::by_version(m, b).is_gt())
        {
            best = Some((group, m.clone()));
        }
    }
    let (suite, meta) = best.ok_or_else(|| DebianError::NotFound {
        suites: name.groups().join(", "),
    })?;
    let index = |why: String| DebianError::Index { why };
    let (image, version) = resolve::image_of(&meta).map_err(index)?;
    let apt = Apt::prepare(cache.apt_dir(&suite)?, &suite, opts)?;
    let image_stanza = apt
        .show(&[format!("{image}={version}")])?
        .into_iter()
        .next()
        .ok_or_else(|| index(format!("{image} {version} is not in the index")))?;
    let pins: Vec<String> = resolve::parts(&image_stanza)
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let packages: Vec<Package> = apt
        .show(&pins)?
        .iter()
        .map(|s| Package {
            name: s.package().to_string(),
            version: s.version().to_string(),
            size: s.size(),
        })
        .collect();
    if packages.len() != pins.len() || packages.first().is_none_or(|p| p.name != image) {
        return Err(index(format!(
            "asked the index for {}, got {} stanzas",
            pins.join(" "),
            packages.len()
        )));
    }
    Ok(Resolution {
        suite,
        release: resolve::release_of(&image).to_string(),
        packages,
    })
}

/// The tree of `res`, downloaded and unpacked unless cached; the name's
/// record updated.
fn fetched(
    name: &Name,
    cache: &Cache,
    opts: &Options,
    res: Resolution,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Kernel, DebianError> {
    let cached = cache.tree(&res.key())?;
    progress(&Progress::Resolved {
        name: name.to_string(),
        resolution: res.clone(),
        cached: cached.is_some(),
    });
    let tree = match cached {
        Some(t) => t,
        None => download(name, cache, opts, &res, progress)?,
    };
    let image = cache::image_in(&tree, &res.release).ok_or_else(|| DebianError::Index {
        why: format!(
            "{} holds neither boot/vmlinuz-{r} nor usr/lib/modules/{r}/vmlinuz",
            tree.display(),
            r = res.release
        ),
    })?;
    let rec = Record {
        name: name.to_string(),
        resolved_at: cache::now(),
        mirror: opts.mirror.clone(),
        resolution: res.clone(),
    };
    cache.write_record(name, &rec)?;
    Ok(Kernel {
        resolution: res,
        tree,
        image,
        offline: None,
    })
}

/// Download the packages with apt (progress every two seconds) and unpack them.
fn download(
    name: &Name,
    cache: &Cache,
    opts: &Options,
    res: &Resolution,
    progress: &mut dyn FnMut(&Progress),
) -> Result<PathBuf, DebianError> {
    let dir = cache.download_dir()?;
    let apt = Apt::prepare(cache.apt_dir(&res.suite)?, &res.suite, opts)?;
    let pins: Vec<String> = res.packages.iter().map(Package::pin).collect();
    let total = res.bytes();
    let started = Instant::now();
    let mut said = started;
    apt.download(&pins, dir.path(), &mut |pct| {
        let done = (total as f64 * pct / 100.0) as u64;
        if said.elapsed() >= Duration::from_secs(2) && done > 0 {
            said = Instant::now();
            progress(&Progress::Downloading {
                name: name.to_string(),
                release: res.release.clone(),
                done,
                total,
                rate: done as f64 / started.elapsed().as_secs_f64().max(1e-3),
            });
        }
    })?;
    progress(&Progress::Downloaded {
        name: name.to_string(),
        total,
        took: started.elapsed(),
    });
    let debs = res
        .packages
        .iter()
        .map(|p| deb_of(dir.path(), p))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let tree = cache.unpack(res, &opts.mirror, &debs)?;
    progress(&Progress::Unpacked {
        name: name.to_string(),
        tree: tree.clone(),
        took: started.elapsed(),
    });
    Ok(tree)
}

/// The .deb apt downloaded for `p` into `dir` (`NAME_VERSION_ARCH.deb`, a
/// regular file).
fn deb_of(dir: &Path, p: &Package) -> Result<PathBuf, DebianError> {
    let prefix = format!("{}_{}_", p.name, p.version.replace(':', "%3a"));
    std::fs::read_dir(dir)
        .map_err(|e| super::io_error(dir, e))?
        .flatten()
        .map(|e| e.path())
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
        })
        .ok_or_else(|| DebianError::Index {
            why: format!(
                "apt-get download left no {prefix}*.deb in {}",
                dir.display()
            ),
        })
}

/// `124.8 MB`.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `42 s`, `5 min`, `3 h`, `2 days`.
pub fn ago(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Reading {
                name,
                suite,
                mirror,
            } => {
                write!(f, "{name}: reading the signed index of {suite} at {mirror}")
            }
            Progress::HostSettings { name, settings } => write!(
                f,
                "{name}: from this machine's apt configuration: {settings} (signatures are checked all the same)"
            ),
            Progress::Resolved {
                name,
                resolution: r,
                cached,
            } => {
                let img = r.image();
                write!(
                    f,
                    "{name} is {} ({} {}, {})",
                    r.release, img.name, img.version, r.suite
                )?;
                if *cached {
                    write!(f, ": in the cache")
                } else {
                    write!(
                        f,
                        ": fetching {} ({})",
                        r.packages
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        mb(r.bytes())
                    )
                }
            }
            Progress::Downloading {
                name,
                release,
                done,
                total,
                rate,
            } => write!(
                f,
                "{name}: {release}: {} of {} ({:.0}%) at {:.1} MB/s",
                mb(*done),
                mb(*total),
                *done as f64 * 100.0 / (*total).max(1) as f64,
                rate / 1e6
            ),
            Progress::Downloaded { name, total, took } => write!(
                f,
                "{name}: fetched {} in {:.1} s ({:.1} MB/s)",
                mb(*total),
                took.as_secs_f64(),
                *total as f64 / 1e6 / took.as_secs_f64().max(1e-3)
            ),
            Progress::Unpacked { name, tree, took } => write!(
                f,
                "{name}: unpacked into {} in {:.1} s",
                tree.display(),
                took.as_secs_f64()
            ),
            Progress::FromCache {
                name,
                resolution,
                age,
                why,
            } => write!(
                f,
                "{name}: the archive could not be asked ({why}); from the cache: {} as resolved {} ago",
                resolution.release,
                ago(*age)
            ),
            Progress::Waiting { cache } => write!(
                f,
                "waiting for another synlab that holds {}/lock",
                cache.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::cache::fake_tree;

    /// An archive nobody answers at (connection refused at once), and a
    /// keyring file that is never read.
    fn unreachable(tmp: &Path) -> Options {
        let keyring = tmp.join("keyring.gpg");
        std::fs::write(&keyring, "").unwrap();
        Options {
            mirror: "http://127.0.0.1:1/debian".into(),
            security_mirror: "http://127.0.0.1:1/debian-security".into(),
            keyring: Some(keyring),
            retries: 0,
            sandbox_as_root: nix::unistd::geteuid().is_root(),
            host_settings: vec![],
        }
    }

    fn fetch_logged(cache: &Cache, opts: &Options) -> (Result<Kernel, DebianError>, Vec<String>) {
        let mut said = Vec::new();
        let name = Name::Suite("bookworm".into());
        let got = fetch_with(&name, cache, opts, &mut |p| said.push(p.to_string()));
        (got, said)
    }

    #[test]
    fn an_unreachable_archive_leaves_the_cache_to_answer_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::at(tmp.path().join("cache"), "test".into());
        let opts = unreachable(tmp.path());
        let apt_here = std::process::Command::new("apt-get")
            .arg("--version")
            .output()
            .is_ok();

        // Nothing cached: the archive's failure is the answer.
        let (got, _) = fetch_logged(&cache, &opts);
        let e = got.expect_err("no archive and no cache");
        assert!(e.may_use_cache(), "{e}");
        if apt_here {
            assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
        }

        // A name resolved before, its tree in the cache: that answers.
        let res = Resolution {
            suite: "bookworm".into(),
            release: "6.1.0-41-amd64".into(),
            packages: vec![Package {
                name: "linux-image-6.1.0-41-amd64".into(),
                version: "6.1.158-1".into(),
                size: 68_000_000,
            }],
        };
        let tree = fake_tree(&cache, &res);
        let name = Name::Suite("bookworm".into());
        let rec = Record {
            name: name.to_string(),
            resolved_at: cache::now() - 7200,
            mirror: "http://deb.debian.org/debian".into(),
            resolution: res.clone(),
        };
        cache.write_record(&name, &rec).unwrap();
        let (got, said) = fetch_logged(&cache, &opts);
        let k = got.expect("the cache answers");
        assert_eq!(k.tree, tree);
        assert_eq!(k.image, tree.join("boot/vmlinuz-6.1.0-41-amd64"));
        assert_eq!(k.resolution, res);
        let why = k.offline.expect("it says the cache answered");
        let line = said.last().unwrap();
        assert!(
            line.starts_with("debian:bookworm: the archive could not be asked (")
                && line.ends_with("from the cache: 6.1.0-41-amd64 as resolved 2 h ago"),
            "{said:?}"
        );
        if apt_here {
            assert!(
                why.contains("apt-get update") && why.contains("127.0.0.1:1"),
                "{why}"
            );
        }
        assert_eq!(
            cache.record(&name),
            Some(rec),
            "the record is left as it was"
        );
    }

    #[test]
    fn progress_lines_say_which_kernel_how_much_and_how_fast() {
        let r = Resolution {
            suite: "sid".into(),
            release: "7.2.13+deb14-amd64".into(),
            packages: ["linux-image", "linux-binary", "linux-modules"]
                .iter()
                .map(|p| Package {
                    name: format!("{p}-7.2.13+deb14-amd64"),
                    version: "7.2.13-1".into(),
                    size: 41_600_000,
                })
                .collect(),
        };
        let p = Progress::Resolved {
            name: "debian:sid".into(),
            resolution: r,
            cached: false,
        };
        assert_eq!(
            p.to_string(),
            "debian:sid is 7.2.13+deb14-amd64 (linux-image-7.2.13+deb14-amd64 7.2.13-1, sid): \
             fetching linux-image-7.2.13+deb14-amd64, linux-binary-7.2.13+deb14-amd64, \
             linux-modules-7.2.13+deb14-amd64 (124.8 MB)"
        );
        let d = Progress::Downloading {
            name: "debian:sid".into(),
            release: "7.2.13+deb14-amd64".into(),
            done: 45_000_000,
            total: 124_800_000,
            rate: 22_000_000.0,
        };
        assert_eq!(
            d.to_string(),
            "debian:sid: 7.2.13+deb14-amd64: 45.0 MB of 124.8 MB (36%) at 22.0 MB/s"
        );
        assert_eq!(ago(59), "59 s");
        assert_eq!(ago(7199), "119 min");
        assert_eq!(ago(3 * 86_400), "3 days");
    }
}

//! synlab's private apt: one folder per suite under the cache with its own
//! configuration (`APT_CONFIG`), sources list, lists, state and cache, and
//! nothing of the host's apt (no `/etc/apt`, no `/var/lib/apt`, no dpkg
//! status). The only trusted key is debian-archive-keyring's (`Signed-By`),
//! so every index is signature-checked; apt checks each .deb against the
//! signed index. Programs are run with their arguments, never through a shell.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::name::{self, Archive};
use super::options::Options;
use super::stanza::{self, Stanza};
use super::{DebianError, io_error};

/// The private apt of one suite group (`CACHE/debian/apt/GROUP`).
pub struct Apt<'a> {
    dir: PathBuf,
    group: String,
    opts: &'a Options,
}

impl<'a> Apt<'a> {
    /// Write the configuration and make the folders apt needs under `dir`
    /// (which the cache made: a real folder of ours).
    pub fn prepare(dir: PathBuf, group: &str, opts: &'a Options) -> Result<Apt<'a>, DebianError> {
        for sub in [
            "lists/partial",
            "cache/archives/partial",
            "state",
            "log",
            "empty",
        ] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| io_error(&p, e))?;
        }
        let status = dir.join("state/status");
        if !status.exists() {
            std::fs::write(&status, "").map_err(|e| io_error(&status, e))?;
        }
        let apt = Apt {
            dir,
            group: group.to_string(),
            opts,
        };
        write_atomic(&apt.dir.join("sources.list"), &apt.sources_list()?)?;
        write_atomic(&apt.dir.join("apt.conf"), &apt.config()?)?;
        Ok(apt)
    }

    /// One line per source, each `Signed-By` the Debian archive keyring.
    fn sources_list(&self) -> Result<String, DebianError> {
        let key = quoted(&self.opts.keyring()?)?;
        let mut out = format!(
            "# Written by synlab for the Debian kernels of {}: its private apt, not the host's.\n",
            self.group
        );
        for s in name::sources(&self.group) {
            let url = match s.archive {
                Archive::Main => &self.opts.mirror,
                Archive::Security => &self.opts.security_mirror,
            };
            out.push_str(&format!("deb [signed-by={key}] {url} {} main\n", s.suite));
        }
        Ok(out)
    }

    /// The whole configuration: every folder apt would take from the host
    /// points into this one, the host's configuration parts included.
    fn config(&self) -> Result<String, DebianError> {
        let d = |sub: &str| quoted(&self.dir.join(sub));
        let mut lines = vec![
            "// Written by synlab: a private apt for Debian kernels; the host's apt state is never read or written.".to_string(),
            format!("Dir::Etc::Main \"{}\";", d("empty/none")?),
            format!("Dir::Etc::Parts \"{}\";", d("empty")?),
            format!("Dir::Etc::SourceList \"{}\";", d("sources.list")?),
            format!("Dir::Etc::SourceParts \"{}\";", d("empty")?),
            format!("Dir::Etc::Preferences \"{}\";", d("empty/none")?),
            format!("Dir::Etc::PreferencesParts \"{}\";", d("empty")?),
            // Only the keyring named by Signed-By is trusted.
            format!("Dir::Etc::Trusted \"{}\";", d("empty/none")?),
            format!("Dir::Etc::TrustedParts \"{}\";", d("empty")?),
            format!("Dir::State \"{}\";", d("state")?),
            format!("Dir::State::Lists \"{}\";", d("lists")?),
            format!("Dir::State::status \"{}\";", d("state/status")?),
            format!("Dir::Cache \"{}\";", d("cache")?),
            // No deb-src lines: the source cache would only double the binary one (50 MB for sid).
            "Dir::Cache::srcpkgcache \"\";".into(),
            format!("Dir::Log \"{}\";", d("log")?),
            "APT::Architecture \"amd64\";".into(),
            "APT::Architectures { \"amd64\"; };".into(),
            "Acquire::Languages \"none\";".into(),
            // The indexes stay compressed: some 30 MB instead of 200 MB.
            "Acquire::GzipIndexes \"true\";".into(),
            format!("Acquire::Retries \"{}\";", self.opts.retries),
            "Acquire::http::Timeout \"20\";".into(),
            "Acquire::https::Timeout \"20\";".into(),
            // An index that cannot be fetched is an error, not "old ones used".
            "APT::Update::Error-Mode \"any\";".into(),
        ];
        if self.opts.sandbox_as_root {
            lines.push("APT::Sandbox::User \"root\";".into());
        }
        for (k, v) in &self.opts.host_settings {
            lines.push(format!("{k} \"{v}\";"));
        }
        Ok(lines.join("\n") + "\n")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("APT_CONFIG", self.dir.join("apt.conf"))
            .env("LC_ALL", "C")
            .env_remove("LANGUAGE")
            .stdin(Stdio::null());
        cmd
    }

    /// `apt-get update`: fetch and check the suite group's signed indexes.
    pub fn update(&self) -> Result<(), DebianError> {
        let out = self
            .command("apt-get")
            .args(["-q", "update"])
            .output()
            .map_err(|e| tool_error("apt-get", e))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        let failed = text.lines().any(|l| {
            l.starts_with("E: ")
                || l.contains("Failed to fetch")
                || l.contains("Some index files failed to download")
        });
        if failed || !out.status.success() {
            return Err(DebianError::Apt {
                command: format!("apt-get update ({})", self.group),
                output: tail(&text),
            });
        }
        Ok(())
    }

    /// `apt-cache show ARGS...`: every stanza of the named packages (every
    /// version of a bare name; one version of `name=version`).
    pub fn show(&self, args: &[String]) -> Result<Vec<Stanza>, DebianError> {
        let out = self
            .command("apt-cache")
            .arg("show")
            .args(args)
            .output()
            .map_err(|e| tool_error("apt-cache", e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(DebianError::Apt {
                command: format!("apt-cache show {} ({})", args.join(" "), self.group),
                output: tail(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(stanza::parse(&text))
    }

    /// `apt-get download NAME=VERSION...` into `dir`; `progress` gets apt's
    /// percentage of all bytes (its `APT::Status-Fd` lines) as it goes.
    pub fn download(
        &self,
        pins: &[String],
        dir: &Path,
        progress: &mut dyn FnMut(f64),
    ) -> Result<(), DebianError> {
        let mut child = self
            .command("apt-get")
            .args(["-q", "-o", "APT::Status-Fd=1", "download"])
            .args(pins)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| tool_error("apt-get", e))?;
        let mut stderr = child.stderr.take();
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = stderr.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let mut said = String::new();
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                match dlstatus(&line) {
                    Some(pct) => progress(pct),
                    None => {
                        said.push_str(&line);
                        said.push('\n');
                    }
                }
            }
        }
        let status = child.wait().map_err(|e| tool_error("apt-get", e))?;
        said.push_str(&errors.join().unwrap_or_default());
        if !status.success() || said.lines().any(|l| l.starts_with("E: ")) {
            return Err(DebianError::Apt {
                command: format!("apt-get download {} ({})", pins.join(" "), self.group),
                output: tail(&said),
            });
        }
        Ok(())
    }
}

/// apt's machine-readable progress: `dlstatus:ITEM:PERCENT:TEXT`.
fn dlstatus(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("dlstatus:")?;
    rest.split(':').nth(1)?.parse().ok()
}

fn tool_error(program: &str, e: std::io::Error) -> DebianError {
    let program = program.to_string();
    if e.kind() == std::io::ErrorKind::NotFound {
        DebianError::NoTool { program }
    } else {
        DebianError::Spawn { program, source: e }
    }
}

/// What a person needs to see of apt's failure: its first error (`E:`),
/// with how many more there were, or its last lines when it gave none.
fn tail(text: &str) -> String {
    let errors: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("E: "))
        .map(str::trim)
        .collect();
    match errors.as_slice() {
        [] => {
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            lines[lines.len().saturating_sub(3)..].join(" | ")
        }
        [one] => one.to_string(),
        [first, more @ ..] => format!("{first} (and {} more)", more.len()),
    }
}

/// A path as it may stand inside apt's double quotes (no quote, no control
/// character, UTF-8).
fn quoted(p: &Path) -> Result<String, DebianError> {
    match p.to_str() {
        Some(s)
            if !s.contains(['"', '\\']) && !s.chars().any(char::is_control) && !s.contains(' ') =>
        {
            Ok(s.to_string())
        }
        _ => Err(DebianError::BadPath {
            path: p.to_path_buf(),
            why: "apt's configuration cannot hold it (a space, a quote or a control character)"
                .into(),
        }),
    }
}

/// Write `text` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, text: &str) -> Result<(), DebianError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error(dir, e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| io_error(path, e))?;
    tmp.persist(path).map_err(|e| io_error(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            mirror: "http://deb.debian.org/debian".into(),
            security_mirror: "http://deb.debian.org/debian-security".into(),
            keyring: Some(PathBuf::from(
                "/usr/share/keyrings/debian-archive-keyring.gpg",
            )),
            retries: 2,
            sandbox_as_root: false,
            host_settings: vec![("Acquire::Check-Valid-Until".into(), "false".into())],
        }
    }

    #[test]
    fn the_configuration_points_every_folder_into_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let o = opts();
        let apt = Apt::prepare(tmp.path().join("bookworm"), "bookworm", &o).unwrap();
        let conf = std::fs::read_to_string(apt.dir.join("apt.conf")).unwrap();
        let root = tmp.path().join("bookworm");
        for key in [
            "Dir::Etc::Parts",
            "Dir::Etc::SourceParts",
            "Dir::Etc::TrustedParts",
            "Dir::State::Lists",
            "Dir::State::status",
            "Dir::Cache",
        ] {
            let line = conf
                .lines()
                .find(|l| l.starts_with(&format!("{key} ")))
                .unwrap();
            assert!(line.contains(root.to_str().unwrap()), "{line}");
        }
        assert!(
            !conf.contains("/etc/apt") && !conf.contains("/var/lib"),
            "{conf}"
        );
        assert!(conf.contains("Acquire::Check-Valid-Until \"false\";"));
        assert!(
            std::fs::read_dir(root.join("empty"))
                .unwrap()
                .next()
                .is_none()
        );
        let list = std::fs::read_to_string(root.join("sources.list")).unwrap();
        assert_eq!(
            list.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            [
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main",
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main",
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main",
            ]
        );
    }

    #[test]
    fn a_path_apt_cannot_quote_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let o = opts();
        assert!(Apt::prepare(tmp.path().join("a\"b"), "sid", &o).is_err());
        assert!(Apt::prepare(tmp.path().join("a b"), "sid", &o).is_err());
    }

    #[test]
    fn status_lines_give_the_percentage_and_failures_their_apt_lines() {
        assert_eq!(
            dlstatus("dlstatus:1:37.0984:Retrieving file 1 of 2"),
            Some(37.0984)
        );
        assert_eq!(
            dlstatus("Get:1 http://deb.debian.org/debian sid/main amd64 x [110 MB]"),
            None
        );
        let out = "Reading package lists...\nIgn:1 http://127.0.0.1:1/debian sid InRelease\n\
                   Err:1 http://127.0.0.1:1/debian sid InRelease\n  Could not connect to 127.0.0.1:1\n\
                   E: Failed to fetch http://127.0.0.1:1/debian/dists/sid/InRelease  Could not connect to 127.0.0.1:1\n\
                   E: Some index files failed to download. They have been ignored, or old ones used instead.\n";
        assert_eq!(
            tail(out),
            "Failed to fetch http://127.0.0.1:1/debian/dists/sid/InRelease  Could not connect to 127.0.0.1:1 (and 1 more)"
        );
        assert_eq!(tail("a\nb\n\nc\nd\n"), "b | c | d");
    }
}

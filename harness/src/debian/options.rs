//! Where the Debian kernels come from and how apt may reach it, from the
//! environment: the archive (`$SYNLAB_DEBIAN_MIRROR`, default Debian's own
//! `http://deb.debian.org/debian`; `$SYNLAB_DEBIAN_SECURITY_MIRROR`), the
//! keyring that signs it (`$SYNLAB_DEBIAN_KEYRING`, else
//! debian-archive-keyring's), and the few settings of the host's own apt
//! that say how this machine reaches an archive (its proxy, whether it
//! accepts a Release file past its Valid-Until).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::DebianError;

/// The archive Debian documents (sources.list(5), deb.debian.org).
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Where debian-archive-keyring puts the archive's keys.
const KEYRINGS: &[&str] = &[
    "/usr/share/keyrings/debian-archive-keyring.pgp",
    "/usr/share/keyrings/debian-archive-keyring.gpg",
];

/// The host apt's settings that are about reaching an archive, copied into
/// synlab's private configuration (nothing else of the host's apt is read).
const HOST_SETTINGS: &[&str] = &[
    "Acquire::http::Proxy",
    "Acquire::https::Proxy",
    "Acquire::Check-Valid-Until",
    "Acquire::Check-Date",
];

/// How synlab's private apt reaches the archive.
#[derive(Debug, Clone)]
pub struct Options {
    /// The archive's URL (no trailing slash).
    pub mirror: String,
    /// The security archive's URL.
    pub security_mirror: String,
    /// The keyring that signs the archive, if one was found.
    pub keyring: Option<PathBuf>,
    /// apt's `Acquire::Retries`.
    pub retries: u32,
    /// Run apt's downloads as root: as root, apt's sandbox user `_apt` cannot
    /// reach a cache under a private home (`/root` is 0700), and in rootless
    /// mode's user namespace there is no `_apt` to switch to.
    pub sandbox_as_root: bool,
    /// `HOST_SETTINGS` the host's apt sets, with their values.
    pub host_settings: Vec<(String, String)>,
}

impl Options {
    /// From the environment, for a cache at `cache`.
    pub fn from_env(cache: &Path) -> Result<Options, DebianError> {
        let mirror = url_from_env("SYNLAB_DEBIAN_MIRROR", DEFAULT_MIRROR)?;
        let security_default = match mirror.strip_suffix("/debian") {
            Some(base) => format!("{base}/debian-security"),
            None => "http://deb.debian.org/debian-security".to_string(),
        };
        let security_mirror = url_from_env("SYNLAB_DEBIAN_SECURITY_MIRROR", &security_default)?;
        let keyring = match std::env::var_os("SYNLAB_DEBIAN_KEYRING") {
            Some(k) if !k.is_empty() => Some(PathBuf::from(k)),
            _ => KEYRINGS.iter().map(PathBuf::from).find(|p| p.is_file()),
        };
        Ok(Options {
            mirror,
            security_mirror,
            keyring,
            retries: 2,
            sandbox_as_root: nix::unistd::geteuid().is_root()
                && (!others_can_reach(cache) || in_user_namespace()),
            host_settings: host_settings(),
        })
    }

    /// The keyring, or how to get one.
    pub fn keyring(&self) -> Result<PathBuf, DebianError> {
        match &self.keyring {
            Some(k) if k.is_file() => Ok(k.clone()),
            Some(k) => Err(DebianError::NoKeyring {
                looked: k.display().to_string(),
            }),
            None => Err(DebianError::NoKeyring {
                looked: KEYRINGS.join(", "),
            }),
        }
    }

    /// What synlab copied from the host's apt, for a person to read.
    pub fn host_note(&self) -> Option<String> {
        (!self.host_settings.is_empty()).then(|| {
            self.host_settings
                .iter()
                .map(|(k, v)| format!("{k} \"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

/// An archive URL from `var`, else `default`: http, https or file, no
/// whitespace or characters a sources.list line would misread.
fn url_from_env(var: &str, default: &str) -> Result<String, DebianError> {
    url(var, std::env::var(var).ok(), default)
}

fn url(var: &str, value: Option<String>, default: &str) -> Result<String, DebianError> {
    let url = match value {
        Some(v) if !v.is_empty() => v,
        _ => return Ok(default.to_string()),
    };
    let scheme_ok = ["http://", "https://", "file:/"]
        .iter()
        .any(|s| url.starts_with(s));
    if !scheme_ok
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "[]\"'".contains(c))
    {
        return Err(DebianError::BadMirror {
            var: var.to_string(),
            url,
        });
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Whether every folder from `/` down to `path` lets others through (the
/// `x` bit for others): `_apt` can then reach it.
fn others_can_reach(path: &Path) -> bool {
    path.ancestors().all(|a| {
        std::fs::metadata(a).map_or(true, |m| !m.is_dir() || m.permissions().mode() & 0o001 != 0)
    })
}

/// Whether this process is in a user namespace other than the first (its
/// uid map is not the identity over every uid).
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| !m.split_whitespace().eq(["0", "0", "4294967295"]))
}

/// The host apt's `HOST_SETTINGS`, from `apt-config dump` (read only).
fn host_settings() -> Vec<(String, String)> {
    let Ok(out) = Command::new("apt-config")
        .arg("dump")
        .env_remove("APT_CONFIG")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return vec![];
    };
    parse_dump(&String::from_utf8_lossy(&out.stdout))
}

/// `Acquire::Check-Valid-Until "false";` lines of `apt-config dump`, for
/// the settings synlab copies; values that apt's syntax could not hold back
/// are dropped.
fn parse_dump(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (key, value) = l.trim().strip_suffix(';')?.split_once(' ')?;
            let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
            let wanted = HOST_SETTINGS.iter().any(|k| k.eq_ignore_ascii_case(key));
            (wanted && !value.contains(['"', '\\']) && !value.chars().any(char::is_control))
                .then(|| (key.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_settings_about_reaching_an_archive_are_taken() {
        let dump = "APT \"\";\nAPT::Architecture \"amd64\";\n\
                    Acquire::Check-Valid-Until \"false\";\nAcquire::GzipIndexes \"true\";\n\
                    Acquire::http::Proxy \"http://proxy:3128/\";\nDir::State \"var/lib/apt/\";\n";
        assert_eq!(
            parse_dump(dump),
            [
                (
                    "Acquire::Check-Valid-Until".to_string(),
                    "false".to_string()
                ),
                (
                    "Acquire::http::Proxy".to_string(),
                    "http://proxy:3128/".to_string()
                )
            ]
        );
    }

    #[test]
    fn a_mirror_is_an_archive_url_that_a_sources_line_can_hold() {
        let v = |s: &str| url("SYNLAB_DEBIAN_MIRROR", Some(s.to_string()), DEFAULT_MIRROR);
        assert_eq!(url("X", None, DEFAULT_MIRROR).unwrap(), DEFAULT_MIRROR);
        assert_eq!(v("").unwrap(), DEFAULT_MIRROR);
        assert_eq!(
            v("https://mirror.example/debian/").unwrap(),
            "https://mirror.example/debian"
        );
        assert_eq!(
            v("file:/srv/mirror/debian").unwrap(),
            "file:/srv/mirror/debian"
        );
        for bad in [
            "ftp://x/debian",
            "http://x/debian main",
            "http://x/[debian]",
            "/srv/debian",
        ] {
            let e = v(bad).unwrap_err().to_string();
            assert!(e.contains("SYNLAB_DEBIAN_MIRROR") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn root_s_private_home_is_out_of_reach_for_apt_s_sandbox_user() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(others_can_reach(&inner) || !others_can_reach(Path::new("/tmp")));
        std::fs::set_permissions(tmp.path().join("a"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        assert!(!others_can_reach(&inner));
    }
}

//! Where scenarios are found, in one documented order: one user folder, then the
//! scenarios built into synlab. The user folder is the first of
//!
//! 1. `--scenarios-dir DIR` (the CLI passes it in),
//! 2. `$SYNLAB_SCENARIOS`,
//! 3. `./scenarios` when the current directory has one;
//!
//! it holds `<area>/<name>.toml` files. Its scenarios come first; a built-in
//! scenario with the name of a user one is replaced by it. A name is looked up
//! in that order too; a path (`x.toml`, or an existing file) is read as it is.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::discover::names_a_file;
use super::{Scenario, ScenarioError, builtin, discover, resolve};

/// Environment variable naming the user folder when `--scenarios-dir` is not given.
pub const ROOT_ENV: &str = "SYNLAB_SCENARIOS";

/// The folder looked for in the current directory when neither is given.
pub const CWD_DIR: &str = "scenarios";

/// Who chose the user folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// `--scenarios-dir`.
    Flag,
    /// `$SYNLAB_SCENARIOS`.
    Env,
    /// `./scenarios` of the current directory.
    Cwd,
}

/// The user folder and the built-in scenarios, in lookup order.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The user folder, if any; one given by flag or environment must exist.
    pub user: Option<(PathBuf, Chosen)>,
    /// Whether the built-in scenarios come after it (always, but for tests).
    pub builtin: bool,
}

impl Sources {
    /// The search order for this process: `flag`, else `$SYNLAB_SCENARIOS`,
    /// else `./scenarios` if it is a folder; then the built-in scenarios.
    pub fn new(flag: Option<PathBuf>) -> Sources {
        let env = std::env::var_os(ROOT_ENV).filter(|v| !v.is_empty());
        let user = match (flag, env) {
            (Some(dir), _) => Some((dir, Chosen::Flag)),
            (None, Some(dir)) => Some((PathBuf::from(dir), Chosen::Env)),
            (None, None) if Path::new(CWD_DIR).is_dir() => {
                Some((PathBuf::from(CWD_DIR), Chosen::Cwd))
            }
            (None, None) => None,
        };
        Sources {
            user,
            builtin: true,
        }
    }

    /// Only the built-in scenarios.
    pub fn builtin_only() -> Sources {
        Sources {
            user: None,
            builtin: true,
        }
    }

    /// The user folder, if any.
    pub fn user_dir(&self) -> Option<&Path> {
        self.user.as_ref().map(|(p, _)| p.as_path())
    }

    /// Every scenario: the user folder's (each broken file reported), then
    /// the built-in ones it does not replace; sorted by area then name.
    ///
    /// # Errors
    /// As [`discover`] for the user folder (which must exist when given by
    /// flag or environment).
    pub fn discover(&self) -> Result<Vec<Scenario>, ScenarioError> {
        let mut all = match self.user_dir() {
            Some(dir) => discover(dir)?,
            None => Vec::new(),
        };
        let names: BTreeSet<String> = all.iter().map(|s| s.name.clone()).collect();
        if self.builtin {
            all.extend(
                builtin::load_all()?
                    .into_iter()
                    .filter(|s| !names.contains(&s.name)),
            );
        }
        all.sort_by(|a, b| (&a.area, &a.name).cmp(&(&b.area, &b.name)));
        Ok(all)
    }

    /// What `arg` names (see [`resolve`]): a file as it is; else the user
    /// folder's scenario, area or cases of that name, else the built-in ones.
    /// An area is the user folder's scenarios of that area and the built-in
    /// ones they do not replace.
    ///
    /// # Errors
    /// `NotFound` (naming every place looked in) when nothing matches; the
    /// errors of the files read.
    pub fn resolve(&self, arg: &str) -> Result<Vec<Scenario>, ScenarioError> {
        if names_a_file(arg) {
            return super::load_file(Path::new(arg)).map(|s| vec![s]);
        }
        let mut found = match self.user_dir() {
            Some(dir) if dir.is_dir() => match resolve(dir, arg) {
                Ok(found) => found,
                Err(ScenarioError::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e),
            },
            Some(dir) => return Err(discover(dir).err().unwrap_or_else(|| self.not_found(arg))),
            None => Vec::new(),
        };
        let is_area = !arg.contains('/') && found.iter().all(|s| s.area == arg && s.name != arg);
        if self.builtin && (found.is_empty() || is_area) {
            let names: BTreeSet<String> = found.iter().map(|s| s.name.clone()).collect();
            found.extend(
                builtin_matches(arg)?
                    .into_iter()
                    .filter(|s| !names.contains(&s.name)),
            );
        }
        if found.is_empty() {
            return Err(self.not_found(arg));
        }
        Ok(found)
    }

    /// Every scenario that `args` name, in order, each case once: a case named
    /// again (`ts-off ts-off`, `ts-off ts-off/ipv4`) is not run twice.
    ///
    /// # Errors
    /// As [`Sources::resolve`], for the first argument that fails.
    pub fn resolve_all<S: AsRef<str>>(&self, args: &[S]) -> Result<Vec<Scenario>, ScenarioError> {
        let mut out: Vec<Scenario> = Vec::new();
        for arg in args {
            for s in self.resolve(arg.as_ref())? {
                let same = |o: &&mut Scenario| o.file == s.file && o.builtin == s.builtin;
                match out.iter_mut().find(same) {
                    Some(seen) => {
                        let new: Vec<_> = (s.cases.into_iter())
                            .filter(|c| !seen.cases.iter().any(|x| x.name == c.name))
                            .collect();
                        seen.cases.extend(new);
                    }
                    None => out.push(s),
                }
            }
        }
        Ok(out)
    }

    fn not_found(&self, arg: &str) -> ScenarioError {
        ScenarioError::NotFound {
            name: arg.split('/').next().unwrap_or(arg).to_owned(),
            searched: PathBuf::from(self.to_string()),
        }
    }
}

/// The built-in scenarios `arg` names: a scenario, an area, or a scenario's
/// cases (`name/prefix`: the cases whose name is that or starts with it and `/`).
fn builtin_matches(arg: &str) -> Result<Vec<Scenario>, ScenarioError> {
    let (name, case_filter) = match arg.split_once('/') {
        Some((name, rest)) if !rest.is_empty() => (name, Some(arg)),
        Some((name, _)) => (name, None),
        None => (arg, None),
    };
    let all = builtin::load_all()?;
    if let Some(mut s) = all.iter().find(|s| s.name == name).cloned() {
        if let Some(filter) = case_filter {
            let prefix = format!("{filter}/");
            s.cases
                .retain(|c| c.name == filter || c.name.starts_with(&prefix));
            if s.cases.is_empty() {
                return Ok(Vec::new());
            }
        }
        return Ok(vec![s]);
    }
    if case_filter.is_some() {
        return Ok(Vec::new());
    }
    Ok(all.into_iter().filter(|s| s.area == name).collect())
}

/// The search order in words: `./scenarios (current directory), then built in`.
impl fmt::Display for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((dir, chosen)) = &self.user {
            let why = match chosen {
                Chosen::Flag => "--scenarios-dir",
                Chosen::Env => ROOT_ENV,
                Chosen::Cwd => "current directory",
            };
            write!(f, "{} ({why})", dir.display())?;
            if self.builtin {
                f.write_str(", then ")?;
            }
        }
        if self.builtin {
            f.write_str("the built-in scenarios")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(dir: &Path) -> Sources {
        Sources {
            user: Some((dir.to_path_buf(), Chosen::Flag)),
            builtin: true,
        }
    }

    #[test]
    fn a_user_scenario_replaces_the_built_in_one_of_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let area = dir.path().join("timewait");
        std::fs::create_dir_all(&area).expect("mkdir");
        let mine = "description = \"mine\"\n[expect]\nanswer = \"ack\"\n";
        std::fs::write(area.join("ts-off.toml"), mine).expect("write");
        std::fs::write(area.join("own.toml"), mine).expect("write");
        let src = user(dir.path());

        let all = src.discover().expect("discover");
        let ts_off: Vec<&Scenario> = all.iter().filter(|s| s.name == "ts-off").collect();
        assert_eq!(ts_off.len(), 1);
        assert_eq!(ts_off[0].description, "mine");
        assert!(!ts_off[0].builtin);
        let builtin = Sources::builtin_only().discover().expect("built in");
        assert_eq!(
            all.len(),
            builtin.len() + 1,
            "own.toml added, ts-off replaced"
        );

        assert_eq!(
            src.resolve("ts-off").expect("by name")[0].description,
            "mine"
        );
        assert!(src.resolve("ts-on").expect("built in")[0].builtin);
        let area = src.resolve("timewait").expect("an area");
        assert_eq!(
            area.len(),
            all.iter().filter(|s| s.area == "timewait").count(),
            "the user's area and the built-in one"
        );
        let some = src.resolve("paws/tcp_timestamps=1").err();
        assert!(some.is_none() || matches!(some, Some(ScenarioError::NotFound { .. })));
    }

    #[test]
    fn a_missing_name_says_where_it_looked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = user(dir.path())
            .resolve("nope")
            .expect_err("no such scenario");
        let shown = err.to_string();
        assert!(
            shown.contains("(--scenarios-dir), then the built-in scenarios"),
            "{shown}"
        );
        let err = Sources::builtin_only()
            .resolve("ts-off/ipv9")
            .expect_err("no such case");
        assert!(err.to_string().contains("the built-in scenarios"), "{err}");
    }

    #[test]
    fn names_given_twice_give_each_case_once_in_first_seen_order() {
        let src = Sources::builtin_only();
        let found = src
            .resolve_all(&["ts-on/ipv6", "ts-off", "ts-on", "ts-off/ipv4"])
            .expect("built in");
        let names: Vec<&str> = found
            .iter()
            .flat_map(|s| s.cases.iter().map(|c| c.name.as_str()))
            .collect();
        assert_eq!(
            names,
            ["ts-on/ipv6", "ts-on/ipv4", "ts-off/ipv4", "ts-off/ipv6"]
        );
    }

    #[test]
    fn a_user_folder_that_does_not_exist_is_an_error() {
        let src = user(Path::new("/nonexistent/synlab-scenarios"));
        assert!(matches!(src.discover(), Err(ScenarioError::Io { .. })));
        assert!(matches!(
            src.resolve("ts-off"),
            Err(ScenarioError::Io { .. })
        ));
    }
}

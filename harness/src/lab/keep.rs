//! `--keep`: named namespaces (bind-mounted under /run/netns, like `ip netns
//! add`) instead of anonymous ones, so a case's lab can be inspected with `ip
//! netns exec` after the run; the command that removes them is printed.

use super::LabError;

/// Names for `--keep`: `/run/netns/<server>` and `/run/netns/<client>`.
#[derive(Debug, Clone)]
pub struct KeepNames {
    pub server: String,
    pub client: String,
}

impl KeepNames {
    /// Names from a case name: `synlab-` + the case name with every character
    /// that `ip netns` would not like turned into `-`.
    pub fn for_case(case_name: &str) -> KeepNames {
        let mut base: String = case_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        base.truncate(200);
        KeepNames {
            server: format!("synlab-{base}-srv"),
            client: format!("synlab-{base}-cli"),
        }
    }

    /// The name of the namespace labelled `label` (`server`, `client`).
    pub fn of(&self, label: &str) -> String {
        match label {
            "server" => self.server.clone(),
            "client" => self.client.clone(),
            other => format!("{}-{other}", self.server.trim_end_matches("-srv")),
        }
    }

    /// The command that removes them.
    pub fn remove_command(&self) -> String {
        format!(
            "ip netns delete {} && ip netns delete {}",
            self.server, self.client
        )
    }
}

/// Make a named namespace (bind-mounted under /run/netns) for `--keep`.
///
/// Equivalent to: `ip netns add <name>`.
pub(super) fn named_namespace(name: &str) -> Result<std::fs::File, LabError> {
    if std::path::Path::new("/run/netns").join(name).exists() {
        return Err(LabError::KeepExists {
            name: name.to_string(),
        });
    }
    let ns = netns_rs::NetNs::new(name).map_err(|source| LabError::Keep {
        name: name.to_string(),
        source,
    })?;
    ns.file().try_clone().map_err(|source| LabError::Io {
        op: format!("open /run/netns/{name}"),
        source,
    })
}

//! `--keep`: named namespaces (bind-mounted under /run/netns, like `ip netns
//! add`) instead of anonymous ones, so a case's lab can be inspected with `ip
//! netns exec` after the run; the command that removes them is printed.

use super::LabError;

/// Names for `--keep`: `/run/netns/synlab-<case>-<label>` for each
/// namespace of the case's lab (`srv` and `cli` for a veth pair's server and
/// client, `lab` over loopback, `server`, `router`, `client1`... behind a
/// NAT), and which of them the lab made.
#[derive(Debug, Clone)]
pub struct KeepNames {
    base: String,
    made: Vec<String>,
}

impl KeepNames {
    /// Names from a case's trial name (`<area>::<scenario>::<values>`):
    /// `synlab-` + the name encoded as its pcap's name is (`::` as `.`,
    /// `/` as `,`, other characters outside letters, digits and `_-=+.` as
    /// `%XX`), so two cases never get one name (`seq=rcv_nxt-1` and
    /// `seq=rcv_nxt+1` differ, and so do values that differ only in
    /// spaces); past 200 bytes a readable prefix and a hash of the exact
    /// name. Every name is a plain file name under /run/netns and a word a
    /// shell leaves alone.
    pub fn for_case(trial_name: &str) -> KeepNames {
        KeepNames {
            base: crate::names::bounded(crate::names::of_trial(trial_name), trial_name, 200),
            made: Vec::new(),
        }
    }

    /// The name of the namespace labelled `label` (`server`, `client`, `lab`,
    /// `router`, `client2`).
    pub fn of(&self, label: &str) -> String {
        let short = match label {
            "server" => "srv",
            "client" => "cli",
            other => other,
        };
        format!("synlab-{}-{short}", self.base)
    }

    /// The namespaces the lab made, first the one to look into (the
    /// server's, or the only one).
    pub fn made(&self) -> &[String] {
        &self.made
    }

    /// The command that removes every namespace the lab made.
    pub fn remove_command(&self) -> String {
        self.made
            .iter()
            .map(|n| format!("ip netns delete {n}"))
            .collect::<Vec<_>>()
            .join(" && ")
    }

    /// Record `name` as made, so that it is named and removed.
    fn made_one(&mut self, name: String) {
        self.made.push(name);
    }
}

/// The named namespaces of one case while its lab is built and run: removed
/// when dropped (a lab that could not be built, a case that ended in an
/// error: nobody would be told their names) unless [`Kept::keep`] hands them
/// over for the report.
#[derive(Debug)]
pub struct Kept {
    names: KeepNames,
    handed: bool,
}

impl Kept {
    pub fn new(names: KeepNames) -> Kept {
        Kept {
            names,
            handed: false,
        }
    }

    /// Make the namespace labelled `label`, remembered for removal.
    pub(super) fn make(&mut self, label: &str) -> Result<std::fs::File, LabError> {
        let name = self.names.of(label);
        let file = named_namespace(&name)?;
        self.names.made_one(name);
        Ok(file)
    }

    /// The case ended with a result: its namespaces stay, and these are
    /// their names.
    pub fn keep(mut self) -> KeepNames {
        self.handed = true;
        self.names.clone()
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if self.handed {
            return;
        }
        for name in &self.names.made {
            // Equivalent to: ip netns delete <name>.
            if let Ok(ns) = netns_rs::NetNs::get(name) {
                let _ = ns.remove();
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every case of every built-in scenario (`syn` has `seq=rcv_nxt-1` and
    /// `seq=rcv_nxt+1`) gets namespace and pcap names no other case has,
    /// each a plain file name of at most 255 bytes that a shell leaves as
    /// one word.
    #[test]
    fn no_two_built_in_cases_share_a_kept_namespace_or_a_pcap_name() {
        let cases: Vec<_> = crate::scenario::builtin::load_all()
            .expect("the built-in scenarios")
            .into_iter()
            .flat_map(|s| s.cases)
            .collect();
        assert!(cases.len() > 100, "{}", cases.len());
        let (mut ns, mut pcaps) = (BTreeSet::new(), BTreeSet::new());
        for c in &cases {
            let k = KeepNames::for_case(&c.trial_name());
            let (server, client) = (k.of("server"), k.of("client"));
            for name in [&server, &client, &c.pcap_file_name()] {
                assert!(name.len() <= 255, "{name}");
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-=+.,%~".contains(&b)),
                    "{name}"
                );
            }
            assert!(ns.insert(server.clone()), "{server} twice");
            assert!(ns.insert(client.clone()), "{client} twice");
            assert!(pcaps.insert(c.pcap_file_name()), "{}", c.pcap_file_name());
        }
        let syn = |v: &str| {
            KeepNames::for_case(&format!(
                "timewait-row::syn::tcp_timestamps=1/ipv4/seq=rcv_nxt{v}"
            ))
        };
        assert_ne!(syn("-1").of("server"), syn("+1").of("server"));
        assert_eq!(
            syn("+1").of("server"),
            "synlab-timewait-row.syn.tcp_timestamps=1,ipv4,seq=rcv_nxt+1-srv"
        );
    }

    #[test]
    fn a_case_name_past_255_bytes_gives_bounded_names() {
        let long = format!("a::b::{}", "v=1/".repeat(100));
        let k = KeepNames::for_case(&long);
        let server = k.of("server");
        assert!(server.len() < 255 && server.contains('~'), "{server}");
        let other = KeepNames::for_case(&format!("{long}x"));
        assert_ne!(server, other.of("server"));
        assert!(k.of("client2").len() < 255);
    }
}

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
    /// Names from a case's trial name (`<area>::<scenario>::<values>`):
    /// `synlab-` + the name encoded as its pcap's name is (`::` as `.`,
    /// `/` as `,`, other characters outside letters, digits and `_-=+.` as
    /// `%XX`), so two cases never get one name (`seq=rcv_nxt-1` and
    /// `seq=rcv_nxt+1` differ, and so do values that differ only in
    /// spaces); past 200 bytes a readable prefix and a hash of the exact
    /// name. Every name is a plain file name under /run/netns and a word a
    /// shell leaves alone.
    pub fn for_case(trial_name: &str) -> KeepNames {
        let base = crate::names::bounded(crate::names::of_trial(trial_name), trial_name, 200);
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
            for name in [&k.server, &k.client, &c.pcap_file_name()] {
                assert!(name.len() <= 255, "{name}");
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-=+.,%~".contains(&b)),
                    "{name}"
                );
            }
            assert!(ns.insert(k.server.clone()), "{} twice", k.server);
            assert!(ns.insert(k.client.clone()), "{} twice", k.client);
            assert!(pcaps.insert(c.pcap_file_name()), "{}", c.pcap_file_name());
        }
        let syn = |v: &str| {
            KeepNames::for_case(&format!(
                "timewait-row::syn::tcp_timestamps=1/ipv4/seq=rcv_nxt{v}"
            ))
        };
        assert_ne!(syn("-1").server, syn("+1").server);
        assert_eq!(
            syn("+1").server,
            "synlab-timewait-row.syn.tcp_timestamps=1,ipv4,seq=rcv_nxt+1-srv"
        );
    }

    #[test]
    fn a_case_name_past_255_bytes_gives_bounded_names() {
        let long = format!("a::b::{}", "v=1/".repeat(100));
        let k = KeepNames::for_case(&long);
        assert!(
            k.server.len() < 255 && k.server.contains('~'),
            "{}",
            k.server
        );
        let other = KeepNames::for_case(&format!("{long}x"));
        assert_ne!(k.server, other.server);
    }
}

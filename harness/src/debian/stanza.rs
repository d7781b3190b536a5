//! Debian control data as `apt-cache show` prints it (the archive's Packages
//! format, deb822): stanzas of `Field: value` lines separated by blank
//! lines, and the package relations of a `Depends` field.

/// One package stanza: its fields in order (names as written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stanza {
    fields: Vec<(String, String)>,
}

impl Stanza {
    /// A field's value (field names compare case-insensitively, as in deb822);
    /// a folded value keeps its continuation lines joined by newlines.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn package(&self) -> &str {
        self.get("Package").unwrap_or("")
    }

    pub fn version(&self) -> &str {
        self.get("Version").unwrap_or("")
    }

    /// `Size:` in bytes (the .deb's), 0 when absent.
    pub fn size(&self) -> u64 {
        self.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// The `Depends` field, parsed.
    pub fn depends(&self) -> Vec<Vec<Relation>> {
        self.get("Depends").map(relations).unwrap_or_default()
    }
}

/// Every stanza in `text`.
pub fn parse(text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut cur = Stanza::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = cur.fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.fields
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    out
}

/// One package in a relation: `linux-image-6.1.0-41-amd64 (= 6.1.158-1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// The version constraint: operator (`=`, `>=`, `<<`, ...) and version.
    pub version: Option<(String, String)>,
}

/// A relation field: comma-separated groups of `|`-separated alternatives;
/// architecture qualifiers (`:any`), `[arch]` lists and `<profile>`s are
/// dropped.
pub fn relations(field: &str) -> Vec<Vec<Relation>> {
    field
        .split(',')
        .map(|group| group.split('|').filter_map(relation).collect::<Vec<_>>())
        .filter(|g| !g.is_empty())
        .collect()
}

fn relation(text: &str) -> Option<Relation> {
    let text = text.trim();
    let end = text.find(['(', '[', '<', ' ', '\n']).unwrap_or(text.len());
    let name = text[..end].split(':').next()?.trim();
    if name.is_empty() {
        return None;
    }
    let version = text.find('(').and_then(|open| {
        let inner = &text[open + 1..open + text[open..].find(')')?];
        let inner = inner.trim();
        let split = inner
            .find(|c: char| !matches!(c, '<' | '>' | '='))
            .unwrap_or(inner.len());
        let (op, v) = inner.split_at(split);
        Some((op.trim().to_string(), v.trim().to_string()))
    });
    Some(Relation {
        name: name.to_string(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sid's image package as `apt-cache show` printed it (2026-12).
    const SID_IMAGE: &str = "Package: linux-image-7.2.13+deb14-amd64\n\
        Source: linux-signed-amd64 (7.2.13+1)\n\
        Version: 7.2.13-1\n\
        Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, \
        linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-amd64 (= 7.2.13-1), \
        linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1)\n\
        Pre-Depends: linux-base (>= 4.17~)\n\
        Description: Linux 7.2.13 for 64-bit PCs (signed)\n \
        The Linux kernel 7.2.13 and modules for use on PCs with AMD64, Intel 64 or\n \
        VIA Nano processors.\n\
        Size: 1892\n\
        \n\
        Package: linux-image-amd64\n\
        Version: 7.2.13-1\n";

    #[test]
    fn stanzas_and_folded_fields_are_read() {
        let s = parse(SID_IMAGE);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].package(), "linux-image-7.2.13+deb14-amd64");
        assert_eq!(s[0].version(), "7.2.13-1");
        assert_eq!(s[0].size(), 1892);
        assert_eq!(s[0].get("source"), Some("linux-signed-amd64 (7.2.13+1)"));
        assert!(
            s[0].get("Description")
                .unwrap()
                .ends_with("VIA Nano processors.")
        );
        assert_eq!(s[1].package(), "linux-image-amd64");
        assert_eq!(s[1].size(), 0);
    }

    #[test]
    fn depends_keeps_alternatives_and_exact_versions() {
        let d = parse(SID_IMAGE)[0].depends();
        assert_eq!(d.len(), 4);
        assert_eq!(
            d[0].iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["dracut", "initramfs-tools", "linux-initramfs-tool"]
        );
        assert_eq!(
            d[0][1].version,
            Some((">=".to_string(), "0.120+deb8u2".to_string()))
        );
        assert_eq!(d[2][0].name, "linux-binary-7.2.13+deb14-amd64");
        assert_eq!(d[2][0].version, Some(("=".into(), "7.2.13-1".into())));
        let q = relations("kmod:any [amd64] (>= 1) <!nocheck>, libc6 (<< 3)");
        assert_eq!(q[0][0].name, "kmod");
        assert_eq!(q[0][0].version, Some((">=".into(), "1".into())));
        assert_eq!(q[1][0].version, Some(("<<".into(), "3".into())));
    }
}

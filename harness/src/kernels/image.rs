//! Kernel images: where `--kernel IMAGE` points, the release written in a
//! bzImage's header, the config and modules that sit next to it, and what in
//! that config keeps the lab (or virtme-ng) from running. Read on the host,
//! before anything boots.

use std::path::{Path, PathBuf};

/// One kernel image and what was found beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub path: PathBuf,
    /// `uname -r` of the kernel inside (from the bzImage header, else from a
    /// `vmlinuz-<release>` file name).
    pub release: String,
    /// `config-<release>` next to the image, if there is one.
    pub config: Option<PathBuf>,
    /// `lib/modules/<release>`: the host's for an image under /boot, or the
    /// one of an extracted .deb (`DIR/boot/vmlinuz-X` and `DIR/lib/modules/X`).
    pub modules: Option<PathBuf>,
}

impl Image {
    /// The image `arg` names: `debian:SUITE` or `debian:SERIES` (fetched
    /// into synlab's cache); a file; a folder holding `boot/vmlinuz-*`,
    /// `vmlinuz-*` or `usr/lib/modules/*/vmlinuz` (an extracted .deb); or a
    /// release with `/boot/vmlinuz-<it>`.
    pub fn find(arg: &str) -> Result<Image, String> {
        if let Some(name) = crate::debian::Name::parse(arg) {
            return debian(&name.map_err(|e| e.to_string())?);
        }
        let p = Path::new(arg);
        let path = if p.is_file() {
            p.to_path_buf()
        } else if p.is_dir() {
            let mut images: Vec<PathBuf> = [p.join("boot"), p.to_path_buf()]
                .iter()
                .flat_map(|d| vmlinuz_in(d))
                .collect();
            images.extend(modules_vmlinuz_in(p));
            match images.as_slice() {
                [one] => one.clone(),
                [] => return Err(format!("{arg}: no vmlinuz-* in it or in its boot/")),
                more => {
                    return Err(format!(
                        "{arg}: {} kernel images in it ({}); name one",
                        more.len(),
                        more.iter()
                            .map(|m| m.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        } else if !arg.contains('/') && Path::new("/boot").join(format!("vmlinuz-{arg}")).is_file()
        {
            Path::new("/boot").join(format!("vmlinuz-{arg}"))
        } else {
            return Err(format!(
                "{arg}: no such kernel image (a file, a folder with boot/vmlinuz-*, or a release with /boot/vmlinuz-RELEASE)"
            ));
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        Image::at(&path)
    }

    /// The image at `path` (which exists) and what lies beside it.
    pub fn at(path: &Path) -> Result<Image, String> {
        let head = read_head(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let release = bzimage_release(&head)
            .or_else(|| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("vmlinuz-"))
                    .map(str::to_owned)
            })
            .or_else(|| modules_layout_release(path))
            .ok_or_else(|| {
                format!(
                    "{}: not a bzImage (no HdrS header) and not named vmlinuz-RELEASE",
                    path.display()
                )
            })?;
        let dir = path.parent().unwrap_or(Path::new("/"));
        // sid's layout keeps `config` beside `usr/lib/modules/X/vmlinuz`.
        let config = match modules_layout_release(path) {
            Some(_) => dir.join("config"),
            None => dir.join(format!("config-{release}")),
        };
        let config = Some(config).filter(|c| c.is_file());
        let mut img = Image {
            path: path.to_path_buf(),
            release,
            config,
            modules: None,
        };
        // DIR/boot/vmlinuz-X -> DIR/lib/modules/X or DIR/usr/lib/modules/X;
        // /boot/vmlinuz-X -> /lib/modules/X; DIR/usr/lib/modules/X/vmlinuz -> its folder.
        img.modules = img.modules_candidates().into_iter().find(|m| m.is_dir());
        Ok(img)
    }

    /// What keeps this kernel from running the lab in a virtme-ng guest, read
    /// from its config; empty when nothing does or when there is no config.
    pub fn blockers(&self) -> Vec<String> {
        let Some(path) = &self.config else {
            return vec![];
        };
        match std::fs::read_to_string(path) {
            Ok(text) => blockers(&text, self.modules.as_deref().ok_or(&self.modules_wanted())),
            Err(e) => vec![format!("cannot read {}: {e}", path.display())],
        }
    }
}

impl Image {
    /// Where this image's modules would be: `lib/modules/<release>` under
    /// the folder above the image's (`/` for `/boot`).
    pub fn modules_wanted(&self) -> PathBuf {
        self.modules_candidates().remove(0)
    }

    /// Where the modules may be: `lib/modules/<release>` or (a merged /usr,
    /// as trixie's packages are) `usr/lib/modules/<release>` under the folder
    /// above the image's; the image's own folder in sid's layout.
    fn modules_candidates(&self) -> Vec<PathBuf> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let root = dir.parent().unwrap_or(Path::new("/"));
        let mut out = vec![
            root.join("lib/modules").join(&self.release),
            root.join("usr/lib/modules").join(&self.release),
        ];
        if modules_layout_release(&self.path).is_some() {
            out.insert(0, dir.to_path_buf());
        }
        out
    }
}

/// The release of an image in sid's layout, `.../lib/modules/<release>/vmlinuz`.
fn modules_layout_release(path: &Path) -> Option<String> {
    let dir = path.parent()?;
    let parent = dir.parent()?;
    (path.file_name()? == "vmlinuz" && parent.ends_with("lib/modules"))
        .then(|| dir.file_name()?.to_str().map(str::to_owned))
        .flatten()
}

/// `usr/lib/modules/*/vmlinuz` and `lib/modules/*/vmlinuz` under `dir`
/// (sid's `linux-binary-*` package), sorted.
fn modules_vmlinuz_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = ["usr/lib/modules", "lib/modules"]
        .iter()
        .flat_map(|m| {
            std::fs::read_dir(dir.join(m))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path().join("vmlinuz"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// `debian:SUITE` or `debian:SERIES`: the kernel fetched into synlab's cache
/// (progress on stderr), then the image in its unpacked tree.
fn debian(name: &crate::debian::Name) -> Result<Image, String> {
    let kernel = crate::debian::fetch(name, &mut |p| eprintln!("kernel {p}"))
        .map_err(|e| format!("{name}: {e}"))?;
    Image::at(&kernel.image)
}

/// `vmlinuz-*` files in `dir`, sorted.
fn vmlinuz_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    found.sort();
    found
}

/// Every kernel image in `/boot`, in release order as the file names sort.
pub fn boot_images() -> Vec<Result<Image, String>> {
    vmlinuz_in(Path::new("/boot"))
        .iter()
        .map(|p| Image::at(p))
        .collect()
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The release in an x86 bzImage's real-mode header: magic `HdrS` at 0x202,
/// and at 0x20E the offset (from 0x200) of the version string
/// (`6.1.0-57-amd64 (debian-kernel@...) #1 SMP ...`), whose first word it is.
/// Like `file vmlinuz` or `vng` read it (Documentation/arch/x86/boot.rst).
pub fn bzimage_release(head: &[u8]) -> Option<String> {
    if head.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let protocol = u16::from_le_bytes([*head.get(0x206)?, *head.get(0x207)?]);
    if protocol < 0x0200 {
        return None;
    }
    let at = 0x200 + u16::from_le_bytes([*head.get(0x20E)?, *head.get(0x20F)?]) as usize;
    let text = head.get(at..)?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let word = std::str::from_utf8(&text[..end])
        .ok()?
        .split_whitespace()
        .next()?;
    (!word.is_empty()).then(|| word.to_string())
}

/// What a kernel config lacks for the lab or for virtme-ng, each with the
/// option to turn on. A `=m` option needs the release's modules: `modules` is
/// their folder, or the folder where they were looked for in vain.
pub fn blockers(config: &str, modules: Result<&Path, &PathBuf>) -> Vec<String> {
    let value = |name: &str| {
        config.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::trim)
        })
    };
    let on = |name: &str| matches!(value(name), Some("y" | "m"));
    let mut out = Vec::new();
    // The lab: namespaces, the veth pair, the capture and sock_diag.
    if value("CONFIG_NET_NS") != Some("y") {
        out.push("no network namespaces (CONFIG_NET_NS is not set)".to_string());
    }
    for (name, what) in [
        ("CONFIG_VETH", "no veth"),
        (
            "CONFIG_PACKET",
            "no AF_PACKET (the capture and the raw peer)",
        ),
        ("CONFIG_INET_DIAG", "no sock_diag"),
        ("CONFIG_INET_TCP_DIAG", "no TCP sock_diag"),
    ] {
        if !on(name) {
            out.push(format!("{what} ({name} is not set)"));
        }
    }
    // virtme-ng: the host's files over 9p or virtiofs, on virtio-pci.
    let nine_p = on("CONFIG_9P_FS") && on("CONFIG_NET_9P_VIRTIO");
    if !nine_p && !on("CONFIG_VIRTIO_FS") {
        out.push(
            "virtme-ng cannot share the host's files (neither CONFIG_9P_FS with \
             CONFIG_NET_9P_VIRTIO nor CONFIG_VIRTIO_FS)"
                .to_string(),
        );
    }
    if !on("CONFIG_VIRTIO_PCI") {
        out.push("no virtio-pci (CONFIG_VIRTIO_PCI is not set)".to_string());
    }
    let modular: Vec<&str> = [
        "CONFIG_VETH",
        "CONFIG_PACKET",
        "CONFIG_INET_DIAG",
        "CONFIG_INET_TCP_DIAG",
        "CONFIG_9P_FS",
        "CONFIG_NET_9P_VIRTIO",
        "CONFIG_VIRTIO_PCI",
    ]
    .into_iter()
    .filter(|n| value(n) == Some("m"))
    .collect();
    if let (Err(wanted), false) = (modules, modular.is_empty()) {
        out.push(format!(
            "{} built as modules, and no {} for them",
            modular.join(", "),
            wanted.display()
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal bzImage header carrying `version` at offset 0x3000.
    pub fn header(version: &str) -> Vec<u8> {
        let mut h = vec![0u8; 0x3100];
        h[0x202..0x206].copy_from_slice(b"HdrS");
        h[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        h[0x20E..0x210].copy_from_slice(&(0x3000u16 - 0x200).to_le_bytes());
        h[0x3000..0x3000 + version.len()].copy_from_slice(version.as_bytes());
        h
    }

    #[test]
    fn the_release_is_the_first_word_of_the_header_version() {
        let h = header("6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC");
        assert_eq!(bzimage_release(&h).as_deref(), Some("6.1.0-57-amd64"));
        let mut not = h.clone();
        not[0x202] = b'X';
        assert_eq!(bzimage_release(&not), None, "no HdrS, no release");
        assert_eq!(bzimage_release(&h[..0x100]), None, "too short");
    }

    #[test]
    fn an_installed_image_reads_like_uname() {
        // Whatever /boot holds here: the header's release names its file.
        for img in boot_images().into_iter().flatten() {
            let name = img.path.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(name, format!("vmlinuz-{}", img.release), "{img:?}");
        }
    }

    #[test]
    fn a_folder_or_a_release_finds_the_image_and_what_lies_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("boot");
        let mods = dir.path().join("lib/modules/6.1.0-9-amd64");
        std::fs::create_dir_all(&boot).unwrap();
        std::fs::create_dir_all(&mods).unwrap();
        std::fs::write(
            boot.join("vmlinuz-6.1.0-9-amd64"),
            header("6.1.0-9-amd64 (x) #1"),
        )
        .unwrap();
        std::fs::write(boot.join("config-6.1.0-9-amd64"), "CONFIG_NET_NS=y\n").unwrap();
        let img = Image::find(dir.path().to_str().unwrap()).expect("found");
        assert_eq!(img.release, "6.1.0-9-amd64");
        assert_eq!(img.path, boot.join("vmlinuz-6.1.0-9-amd64"));
        assert_eq!(img.config, Some(boot.join("config-6.1.0-9-amd64")));
        assert_eq!(img.modules, Some(mods));
        assert!(Image::find("/nonexistent/vmlinuz").is_err());
        assert!(Image::find("0.0.0-none").is_err());
    }

    #[test]
    fn sid_s_split_layout_and_a_merged_usr_are_folders_too() {
        // sid: linux-binary-X (usr/lib/modules/X/vmlinuz), linux-base-X
        // (its config there), linux-modules-X (the modules beside them).
        let dir = tempfile::tempdir().unwrap();
        let mods = dir.path().join("usr/lib/modules/7.2.13+deb14-amd64");
        std::fs::create_dir_all(mods.join("kernel")).unwrap();
        std::fs::write(mods.join("vmlinuz"), header("7.2.13+deb14-amd64 (x) #1")).unwrap();
        std::fs::write(mods.join("config"), "CONFIG_NET_NS=y\n").unwrap();
        let img = Image::find(dir.path().to_str().unwrap()).expect("found");
        assert_eq!(img.release, "7.2.13+deb14-amd64");
        assert_eq!(img.path, mods.join("vmlinuz"));
        assert_eq!(img.config, Some(mods.join("config")));
        assert_eq!(img.modules, Some(mods.clone()));
        // Without the header's release, the folder names it.
        std::fs::write(mods.join("vmlinuz"), "not a bzImage").unwrap();
        assert_eq!(
            Image::at(&mods.join("vmlinuz")).unwrap().release,
            "7.2.13+deb14-amd64"
        );

        // trixie: boot/vmlinuz-X with its modules in usr/lib/modules/X.
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("boot");
        let mods = dir.path().join("usr/lib/modules/6.12.118+deb13-amd64");
        std::fs::create_dir_all(&boot).unwrap();
        std::fs::create_dir_all(&mods).unwrap();
        std::fs::write(
            boot.join("vmlinuz-6.12.118+deb13-amd64"),
            header("6.12.118+deb13-amd64 (x) #1"),
        )
        .unwrap();
        let img = Image::find(dir.path().to_str().unwrap()).expect("found");
        assert_eq!(img.modules, Some(mods));
    }

    const GOOD: &str = "CONFIG_NET_NS=y\nCONFIG_VETH=m\nCONFIG_PACKET=y\nCONFIG_INET_DIAG=m\n\
        CONFIG_INET_TCP_DIAG=m\nCONFIG_9P_FS=m\nCONFIG_NET_9P_VIRTIO=m\nCONFIG_VIRTIO_PCI=y\n";

    #[test]
    fn a_config_with_what_the_lab_needs_has_no_blocker() {
        assert_eq!(blockers(GOOD, Ok(Path::new("/m"))), Vec::<String>::new());
    }

    #[test]
    fn each_missing_piece_is_named_with_its_option() {
        let no_veth = GOOD.replace("CONFIG_VETH=m", "# CONFIG_VETH is not set");
        assert_eq!(
            blockers(&no_veth, Ok(Path::new("/m"))),
            ["no veth (CONFIG_VETH is not set)"]
        );
        // Debian's cloud flavour: virtiofs only is fine for the config.
        let cloud = GOOD.replace("CONFIG_9P_FS=m\n", "CONFIG_VIRTIO_FS=y\n");
        assert_eq!(blockers(&cloud, Ok(Path::new("/m"))), Vec::<String>::new());
        let no_fs = GOOD.replace("CONFIG_9P_FS=m\n", "");
        assert!(blockers(&no_fs, Ok(Path::new("/m")))[0].contains("cannot share the host's files"));
        let b = blockers(GOOD, Err(&PathBuf::from("/k/lib/modules/6.1.0-57-amd64")));
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(
            b[0].starts_with("CONFIG_VETH, CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG")
                && b[0]
                    .ends_with("built as modules, and no /k/lib/modules/6.1.0-57-amd64 for them"),
            "{b:?}"
        );
    }
}

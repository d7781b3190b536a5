//! What booting a kernel image needs on the host, found once: virtme-ng's
//! `vng` and, beside it, its `virtme-run` (which synlab starts itself, each
//! path one argument, where vng would go through `sh -c`),
//! `qemu-system-x86_64`, a statically linked busybox (vng builds its
//! initramfs from it), and whether vng can run as the init of its own PID
//! namespace (so qemu dies with synlab).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::group;

/// The host's tools for guests.
#[derive(Debug, Clone)]
pub struct Tools {
    /// virtme-ng's `virtme-run`, from vng's folder (else `$PATH`).
    pub virtme_run: PathBuf,
    /// `vng --version`'s line.
    pub vng_version: String,
    pub busybox: PathBuf,
    /// `unshare --pid --fork --kill-child` works: qemu cannot outlive synlab.
    pub pid_namespace: bool,
}

/// `name` in `$PATH`, if there.
pub fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The first line a `--version` prints, or why there is none.
pub fn version(program: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// Whether the ELF file at `path` is statically linked: it has no `PT_INTERP`
/// program header (what `file` calls "statically linked").
pub fn is_static_elf(bytes: &[u8]) -> bool {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false; // 64-bit little-endian only: x86-64
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap_or([0; 8])) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        bytes
            .get(at..at + 4)
            .is_none_or(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != 3)
    })
}

/// A static busybox: `$SYNLAB_BUSYBOX`, else what vng itself would pick
/// (`busybox-static`, `busybox.static`, `busybox` in `$PATH`) when static.
pub fn static_busybox() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SYNLAB_BUSYBOX") {
        let p = PathBuf::from(p);
        return match std::fs::read(&p) {
            Ok(b) if is_static_elf(&b) => Ok(p),
            Ok(_) => Err(format!(
                "SYNLAB_BUSYBOX={}: not a static x86-64 ELF",
                p.display()
            )),
            Err(e) => Err(format!("SYNLAB_BUSYBOX={}: {e}", p.display())),
        };
    }
    let candidates: Vec<PathBuf> = ["busybox-static", "busybox.static", "busybox"]
        .iter()
        .filter_map(|n| in_path(n))
        .collect();
    candidates
        .iter()
        .find(|p| std::fs::read(p).is_ok_and(|b| is_static_elf(&b)))
        .cloned()
        .ok_or_else(|| {
            format!(
                "virtme-ng needs a statically linked busybox and none was found (looked at {}): \
                 `apt-get install busybox-static`, or where that would replace the busybox \
                 initramfs-tools uses: `apt-get download busybox-static && dpkg -x busybox-static_*.deb DIR` \
                 and SYNLAB_BUSYBOX=DIR/bin/busybox",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

impl Tools {
    /// Find everything, or say what is missing and how to get it.
    pub fn find() -> Result<Tools, String> {
        let vng = std::env::var_os("SYNLAB_VNG")
            .map(PathBuf::from)
            .or_else(|| in_path("vng"))
            .ok_or(
                "virtme-ng's `vng` is not in PATH: `pip install virtme-ng` (under sudo, keep \
                 the PATH: `sudo env PATH=$PATH synlab ...`), or set SYNLAB_VNG",
            )?;
        if in_path("qemu-system-x86_64").is_none() {
            return Err(
                "qemu-system-x86_64 is not in PATH: `apt-get install qemu-system-x86`".into(),
            );
        }
        let vng_version = version(&vng)?;
        let virtme_run = vng
            .parent()
            .map(|d| d.join("virtme-run"))
            .filter(|p| p.is_file())
            .or_else(|| in_path("virtme-run"))
            .ok_or_else(|| {
                format!(
                    "virtme-ng's `virtme-run` is neither beside {} nor in PATH: reinstall \
                     virtme-ng (`pip install virtme-ng`)",
                    vng.display()
                )
            })?;
        Ok(Tools {
            virtme_run,
            vng_version,
            busybox: static_busybox()?,
            pid_namespace: group::pid_namespace_works(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_is_dynamic_and_a_planted_static_header_is_static() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me), "a Rust test binary has an interpreter");
        // A 64-bit header with one PT_LOAD program header and no PT_INTERP.
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes());
        assert!(is_static_elf(&elf));
        elf[64..68].copy_from_slice(&3u32.to_le_bytes());
        assert!(!is_static_elf(&elf), "PT_INTERP: dynamic");
        assert!(!is_static_elf(b"#!/bin/sh\n"), "not ELF");
    }
}

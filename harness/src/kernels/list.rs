//! `synlab kernels`: the kernel images in /boot (release, config, modules,
//! whether the lab can run on them), the tools a guest needs, whether KVM
//! really works here (the boot probe), and the Debian kernels in synlab's
//! cache, in a few lines.

use std::io::Write;

use super::image::{self, Image};
use super::kvm;
use super::tools;

/// One line for an image.
pub fn image_line(img: &Image) -> String {
    let config = match &img.config {
        Some(_) => "config",
        None => "no config",
    };
    let modules = match &img.modules {
        Some(m) => format!("modules {}", m.display()),
        None => "no modules".to_string(),
    };
    let blockers = img.blockers();
    let lab = if img.config.is_none() {
        "lab: not known (no config to read)".to_string()
    } else if blockers.is_empty() {
        "lab: can run".to_string()
    } else {
        format!("lab: cannot run: {}", blockers.join("; "))
    };
    format!(
        "  {}  {}  ({config}, {modules}; {lab})",
        img.path.display(),
        img.release
    )
}

/// Write the listing to `out` (stdout), line by line: the KVM probe at the
/// end takes up to a few seconds.
pub fn list(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "running kernel: {}", crate::run::kernel_release())?;
    let found = image::boot_images();
    writeln!(out, "kernel images in /boot: {}", found.len())?;
    for img in &found {
        match img {
            Ok(img) => writeln!(out, "{}", image_line(img))?,
            Err(e) => writeln!(out, "  {e}")?,
        }
    }
    let tool = |name: &str| match tools::in_path(name) {
        Some(p) => format!(
            "{} ({})",
            tools::version(&p).unwrap_or_else(|e| e),
            p.display()
        ),
        None => "not installed".into(),
    };
    writeln!(out, "vng: {}", tool("vng"))?;
    writeln!(out, "qemu-system-x86_64: {}", tool("qemu-system-x86_64"))?;
    match tools::static_busybox() {
        Ok(p) => writeln!(out, "static busybox: {}", p.display())?,
        Err(e) => writeln!(out, "static busybox: none: {e}")?,
    }
    out.flush()?;
    match found.iter().flatten().next() {
        Some(img) if tools::in_path("qemu-system-x86_64").is_some() => {
            let accel = kvm::probe(&img.path);
            writeln!(out, "guests would run with {}", accel.describe())
        }
        Some(_) => writeln!(out, "KVM: not probed (no qemu-system-x86_64)"),
        None => writeln!(out, "KVM: not probed (no image to boot)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::image::tests::header;

    #[test]
    fn an_image_line_says_release_config_modules_and_whether_the_lab_runs() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        let path = boot.join("vmlinuz-5.10.0-1-amd64");
        std::fs::write(&path, header("5.10.0-1-amd64 (x) #1")).unwrap();
        let img = Image::at(&path).unwrap();
        assert_eq!(
            image_line(&img),
            format!(
                "  {}  5.10.0-1-amd64  (no config, no modules; lab: not known (no config to read))",
                path.display()
            )
        );
        std::fs::write(boot.join("config-5.10.0-1-amd64"), "CONFIG_NET_NS=y\n").unwrap();
        let line = image_line(&Image::at(&path).unwrap());
        assert!(
            line.contains(
                "(config, no modules; lab: cannot run: no veth (CONFIG_VETH is not set); "
            ),
            "{line}"
        );
    }
}

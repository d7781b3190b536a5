//! Can a guest really run under KVM here? `/dev/kvm` opening is not enough: in
//! a nested VM qemu may open it and then crawl in the kernel's decompressor,
//! silently, for ever (virtme-ng only checks that `/dev/kvm` opens). So boot
//! the image with no root file system under `-accel kvm` (no fallback to TCG)
//! and wait up to [`PROBE_LIMIT`] for the kernel's own first line on the serial
//! port. Equivalent to:
//! `timeout -s KILL 3 qemu-system-x86_64 -accel kvm -cpu max -m 256 -smp 1
//! -nodefaults -display none -no-reboot -serial file:OUT -kernel IMAGE -append
//! "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 root=/dev/nonexistent"`
//! then `grep "Linux version" OUT`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::group::Group;

/// A KVM guest prints `Linux version` well under a second after qemu starts;
/// TCG needs about 6 s to get there on the machine this was measured on.
pub const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// How guests will run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accel {
    pub kvm: bool,
    /// What the probe saw, in a few words.
    pub why: String,
}

impl Accel {
    /// `KVM` or `TCG (no KVM: why)`.
    pub fn describe(&self) -> String {
        if self.kvm {
            format!("KVM ({})", self.why)
        } else {
            format!("TCG, plain emulation ({})", self.why)
        }
    }
}

/// Probe with `image` (any x86 bzImage).
pub fn probe(image: &Path) -> Accel {
    if std::env::var_os("SYNLAB_NO_KVM").is_some() {
        return no("SYNLAB_NO_KVM is set");
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return no(&format!("/dev/kvm: {e}"));
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return no(&format!("no temporary folder for the probe: {e}")),
    };
    let serial = dir.path().join("serial");
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "kvm", "-cpu", "max", "-m", "256", "-smp", "1"])
        .args(["-nodefaults", "-display", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-kernel")
        .arg(image)
        .args([
            "-append",
            "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 root=/dev/nonexistent",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let err_path = dir.path().join("stderr");
    match crate::files::SafeDir::private(dir.path()).and_then(|d| d.create_new("stderr")) {
        Ok(f) => cmd.stderr(f),
        Err(e) => return no(&format!("no file for the probe's stderr: {e}")),
    };
    let started = Instant::now();
    let mut qemu = match Group::spawn(cmd) {
        Ok(g) => g,
        Err(e) => return no(&format!("qemu-system-x86_64 did not start: {e}")),
    };
    let seen = || {
        std::fs::read(&serial)
            .map(|b| b.windows(13).any(|w| w == b"Linux version"))
            .unwrap_or(false)
    };
    loop {
        if seen() {
            let ms = started.elapsed().as_millis();
            drop(qemu);
            return Accel {
                kvm: true,
                why: format!("probe: the kernel's first line after {ms} ms"),
            };
        }
        if let Some(status) = qemu.try_wait() {
            let err = std::fs::read_to_string(&err_path).unwrap_or_default();
            let err = err.lines().last().unwrap_or("").trim().to_string();
            return no(&format!("qemu refused KVM ({status}): {err}"));
        }
        if started.elapsed() >= PROBE_LIMIT {
            drop(qemu);
            return no(&format!(
                "/dev/kvm opens, but a KVM guest printed nothing in {} s",
                PROBE_LIMIT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn no(why: &str) -> Accel {
    Accel {
        kvm: false,
        why: why.to_string(),
    }
}

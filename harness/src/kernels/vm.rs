//! One guest: boot a kernel image with virtme-ng and run a shell script in
//! it, the host's files visible read-only and one private writable folder for
//! what the guest leaves (the script's results and its exit code). The host
//! never trusts vng's own exit code (its errors are 1 as well, a panic 255 or
//! a hang): what counts is the `exit` file the script writes last, within a
//! deadline that kills vng and qemu together.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::group::{self, Group};
use super::image::Image;
use super::kvm::Accel;
use super::tools::Tools;
use crate::files::SafeDir;

/// Guest size: one vCPU was the fastest here and never reorders a case's
/// segments across CPUs (see docs/kernels.md); the suite uses under 200 MB.
pub const CPUS: &str = "1";
pub const MEMORY: &str = "1G";

/// A private folder for one guest: `rw/` is the guest's writable folder.
pub struct Workdir {
    dir: tempfile::TempDir,
    /// The folder itself and `rw/`, held open: what the host writes there is
    /// made without following a link.
    top: SafeDir,
    rw: SafeDir,
}

/// The most the host reads of one file a guest left (the rows of the whole
/// suite are a few MB).
pub const READ_LIMIT: u64 = 256 << 20;

/// Temporary folders of guests are named `synlab-vm-PID-RELEASE-XXXXXX`.
const PREFIX: &str = "synlab-vm-";

/// Remove the guest folders of synlab processes that are gone (killed by
/// SIGKILL or Ctrl-C, which no destructor survives; their qemu died with them).
fn sweep(tmp: &Path) {
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Workdir {
    pub fn new(release: &str) -> Result<Workdir, String> {
        let tmp = std::env::temp_dir();
        sweep(&tmp);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-{release}-", std::process::id()))
            .tempdir_in(&tmp)
            .map_err(|e| format!("a temporary folder for the guest: {e}"))?;
        let top = SafeDir::private(dir.path()).map_err(|e| e.to_string())?;
        let rw = top.subdir("rw").map_err(|e| e.to_string())?;
        Ok(Workdir { dir, top, rw })
    }

    /// The guest's writable folder (same path inside and out).
    pub fn rw(&self) -> PathBuf {
        self.dir.path().join("rw")
    }

    fn host(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A file the guest wrote, if it did: read inside `rw/` only, never
    /// through a link the guest made.
    pub fn read(&self, name: &str) -> Option<String> {
        crate::files::read_inside(&self.rw(), Path::new(name), READ_LIMIT)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// How a guest run ended.
#[derive(Debug)]
pub enum Ended {
    /// The script finished; its `exit` file said this.
    Script(i32),
    /// vng ended before the script had finished (its status, its stderr's end).
    Vng(String),
    /// The deadline came first; vng and qemu were killed.
    Timeout(Duration),
}

/// What one boot gave.
#[derive(Debug)]
pub struct Booted {
    pub ended: Ended,
    /// From vng's start to its exit (or the kill): whole-process wall time.
    pub wall: Duration,
}

/// Modules udev's coldplug would load for the emulated machine (its CPU
/// features, disk controller, CD-ROM, watchdog, SMBus, mouse, speaker) and
/// no case uses: `modprobe.blacklist=` on the kernel command line keeps kmod
/// from loading them by alias, and the guest starts its script once udev has
/// settled. Measured here under TCG (`vng ... -- true`, whole-process wall
/// time, without and with): 5.10 44.5 s and 24.8 s (udev settling 26.3 s
/// and 5.4 s; kvm alone took 10 s), 6.1 24.5 s and 16.0 s, 6.12 19.4 s and
/// 9.7 s, 7.2 18.9 s and 16.1 s. What the lab loads (veth, nf_tables, ...)
/// the kernel asks for by name or by its own aliases, none of these.
const NOT_LOADED: &[&str] = &[
    "kvm",
    "kvm_amd",
    "kvm_intel",
    "ccp",
    "aesni_intel",
    "ghash_clmulni_intel",
    "polyval_clmulni",
    "crc32_pclmul",
    "crct10dif_pclmul",
    "crc32c_intel",
    "sha1_ssse3",
    "sha256_ssse3",
    "sha512_ssse3",
    "psmouse",
    "serio_raw",
    "evdev",
    "pcspkr",
    "ahci",
    "sr_mod",
    "sg",
    "i2c_i801",
    "lpc_ich",
    "iTCO_wdt",
    "i6300esb",
    "intel_pmc_bxt",
    "button",
    "qemu_fw_cfg",
    "powernow_k8",
    "acpi_cpufreq",
    "floppy",
    "parport_pc",
    "joydev",
    "bochs",
    "bochs_drm",
    "intel_rapl_msr",
    "edac_mce_amd",
    "virtio_rng",
];

/// Single-quote `s` for sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The vng command for `image`, running `sh SCRIPT` as root in the guest.
/// Equivalent to: `[unshare --pid --fork --kill-child=SIGKILL --] vng --run
/// IMAGE [--disable-kvm] [--force-9p] --append modprobe.blacklist=...
/// --busybox BB --cpus 1 --memory 1G --user root --rwdir RW -- sh SCRIPT`.
pub fn command(tools: &Tools, image: &Image, accel: &Accel, rw: &Path, script: &Path) -> Command {
    let vng = tools.vng.to_string_lossy().into_owned();
    let mut cmd = if tools.pid_namespace {
        group::pid_namespace(&vng)
    } else {
        Command::new(&vng)
    };
    cmd.arg("--run").arg(&image.path);
    if !accel.kvm {
        cmd.arg("--disable-kvm");
    }
    // 9p when the kernel has it: without the Rust virtiofsd (Debian bookworm
    // has only qemu's old one) vng tries virtiofs first and loses 3.1 s per
    // shared folder before it falls back.
    if !uses_virtiofs_only(image) {
        cmd.arg("--force-9p");
    }
    cmd.arg("--append")
        .arg(format!("modprobe.blacklist={}", NOT_LOADED.join(",")))
        .arg("--busybox")
        .arg(&tools.busybox)
        .args(["--cpus", CPUS, "--memory", MEMORY, "--user", "root"])
        .arg("--rwdir")
        .arg(rw)
        .arg("--")
        .arg("sh")
        .arg(script);
    cmd
}

/// The kernel's config has virtiofs and no 9p (Debian's cloud flavour).
fn uses_virtiofs_only(image: &Image) -> bool {
    let Some(text) = image
        .config
        .as_ref()
        .and_then(|c| std::fs::read_to_string(c).ok())
    else {
        return false;
    };
    let on = |n: &str| {
        text.lines()
            .any(|l| l == format!("{n}=y") || l == format!("{n}=m"))
    };
    on("CONFIG_VIRTIO_FS") && !on("CONFIG_9P_FS")
}

/// Boot `image`, run `script` (a shell script's text; it must write `exit`
/// into the rw folder last), and wait at most `limit`.
pub fn boot(
    tools: &Tools,
    image: &Image,
    accel: &Accel,
    work: &Workdir,
    script: &str,
    limit: Duration,
) -> Result<Booted, String> {
    let rw = work.rw();
    let script_path = work
        .rw
        .write("run.sh", script.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = work
        .top
        .create_new("vng.out")
        .map_err(|e| format!("vng's stdout file: {e}"))?;
    let err = work
        .top
        .create_new("vng.err")
        .map_err(|e| format!("vng's stderr file: {e}"))?;
    let mut cmd = command(tools, image, accel, &rw, &script_path);
    cmd.current_dir("/")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let started = Instant::now();
    let mut vm =
        Group::spawn(cmd).map_err(|e| format!("{} did not start: {e}", tools.vng.display()))?;
    let status = vm.wait_until(started + limit);
    let wall = started.elapsed();
    drop(vm);
    let ended = match (work.read("exit"), status) {
        (Some(code), _) => Ended::Script(code.trim().parse().unwrap_or(-1)),
        (None, None) => Ended::Timeout(limit),
        (None, Some(status)) => {
            let err = std::fs::read_to_string(work.host("vng.err")).unwrap_or_default();
            let tail: Vec<&str> = err.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Ended::Vng(format!(
                "vng ended ({status}) before the guest finished: {}",
                tail.join(" | ")
            ))
        }
    };
    Ok(Booted { ended, wall })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_gone_processes_are_swept_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        // No process has pid 0 in /proc; this test's own pid is alive.
        let gone = tmp.path().join(format!("{PREFIX}0-6.1.0-x-abc"));
        let mine = tmp
            .path()
            .join(format!("{PREFIX}{}-6.1.0-x-abc", std::process::id()));
        let other = tmp.path().join("synlab-vm-notapid");
        for d in [&gone, &mine, &other] {
            std::fs::create_dir_all(d.join("rw")).unwrap();
        }
        sweep(tmp.path());
        assert!(!gone.exists() && mine.exists() && other.exists());
    }

    #[test]
    fn sh_quote_survives_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}

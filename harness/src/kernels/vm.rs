//! One guest: boot a kernel image with virtme-ng and run a shell script in
//! it, the host's files visible read-only and one private writable folder for
//! what the guest leaves (the script's results and its exit code). The host
//! never trusts vng's own exit code (its errors are 1 as well, a panic 255 or
//! a hang): what counts is the `exit` file the script writes last, within a
//! deadline that kills vng and qemu together.
//!
//! No path goes through a shell: `vng` joins its options into one `sh -c`
//! line unquoted (a `TMPDIR` holding `;touch X;` ran `touch X`, a kernel path
//! with a space broke it), so synlab starts virtme-ng's `virtme-run` itself
//! with the options vng would give it, each path one argument. The paths
//! virtme-run still writes into a kernel command line or a qemu option (the
//! guest's folder, the script in it, the modules) must be plain (see
//! [`plain`]), or the run is refused with a line that says why; the image
//! itself may be named anyhow. virtme-run's own temporary files
//! (`virtme_ret*`, virtiofsd's socket) go into the guest's folder
//! (`TMPDIR`), so they leave with it, and the folder leaves with synlab,
//! also when synlab is killed (`reaper`); the sweep is for what a machine's
//! crash left.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::group::{self, Group};
use super::image::Image;
use super::kvm::Accel;
use super::reaper::Reaper;
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
    /// Removes the folder when synlab is gone, killed too (dropped after
    /// `dir`, which removes it first on a normal end).
    _reaper: Reaper,
}

/// The most the host reads of one file a guest left (the rows of the whole
/// suite are a few MB).
pub const READ_LIMIT: u64 = 256 << 20;

/// Temporary folders of guests are named `synlab-vm-PID-RELEASE-XXXXXX`.
const PREFIX: &str = "synlab-vm-";

/// The file synlab writes first into each guest folder it makes: with the
/// name, its mark of a folder of its own.
const MARKER: &str = ".synlab-vm";

/// Whether `path` is plain: ASCII letters, digits and `/._-+%=` only, what
/// a shell, a kernel command line and a qemu option all take as it is.
pub fn plain(path: &Path) -> bool {
    path.to_str().is_some_and(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+%=".contains(&b))
    })
}

/// Remove the guest folders of synlab processes that are gone (killed by
/// SIGKILL or Ctrl-C, which no destructor survives; their qemu died with
/// them). Only folders synlab made: named `synlab-vm-PID-...`, a folder
/// (not a link) owned by this user, holding synlab's marker file (a regular
/// file owned by this user), and no process PID alive. Anything else there,
/// another user's folder above all, is left alone.
fn sweep(tmp: &Path) {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let ours = |p: &Path, dir: bool| {
        std::fs::symlink_metadata(p)
            .is_ok_and(|m| m.uid() == me && if dir { m.is_dir() } else { m.is_file() })
    };
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
        let path = entry.path();
        if Path::new(&format!("/proc/{pid}")).exists()
            || !ours(&path, true)
            || !ours(&path.join(MARKER), false)
        {
            continue;
        }
        // remove_dir_all never follows a link inside the folder.
        let _ = std::fs::remove_dir_all(&path);
    }
}

impl Workdir {
    /// A fresh folder in the temporary folder (`TMPDIR`, which must be a
    /// plain path: virtme-run writes the guest's folder into the kernel's
    /// command line and a qemu option), after sweeping what killed runs left.
    pub fn new(release: &str) -> Result<Workdir, String> {
        Workdir::in_dir(&std::env::temp_dir(), release)
    }

    /// [`Workdir::new`] in the folder `tmp`.
    fn in_dir(tmp: &Path, release: &str) -> Result<Workdir, String> {
        if !plain(tmp) {
            return Err(format!(
                "the temporary folder {:?} (TMPDIR) is not a plain path: virtme-ng writes a \
                 guest's folder into the kernel's command line and qemu's options, so only \
                 letters, digits and /._-+%= are safe there; set TMPDIR to a plain folder \
                 (TMPDIR=/tmp)",
                tmp.display().to_string()
            ));
        }
        sweep(tmp);
        // The release only for a person reading the name (the random end
        // makes it unique): anything but a plain character becomes `_`.
        let release: String = release
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-{release}-", std::process::id()))
            .rand_bytes(8)
            .tempdir_in(tmp)
            .map_err(|e| format!("a temporary folder for the guest: {e}"))?;
        let top = SafeDir::private(dir.path()).map_err(|e| e.to_string())?;
        top.create_new(MARKER)
            .map_err(|e| format!("the guest folder's marker: {e}"))?;
        let rw = top.subdir("rw").map_err(|e| e.to_string())?;
        let reaper = Reaper::watch(dir.path())
            .map_err(|e| format!("the watcher of the guest's folder: {e}"))?;
        Ok(Workdir {
            dir,
            top,
            rw,
            _reaper: reaper,
        })
    }

    /// The folder itself: virtme-run's `TMPDIR`.
    fn path(&self) -> &Path {
        self.dir.path()
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

/// The virtme-run command for `image`, running `sh SCRIPT` as root in the
/// guest, each path one argument (never a shell line). Equivalent to what
/// `vng --run IMAGE [--disable-kvm] [--force-9p] --busybox BB --cpus 1
/// --memory 1G --user root --rwdir RW -- sh SCRIPT` runs, under `[unshare
/// --pid --fork --kill-child=SIGKILL --]`: `virtme-run --name virtme-ng
/// --script-sh 'sh SCRIPT' --user root --rwdir RW --overlay-rwdir /etc ...
/// /tmp --pwd --kimg IMAGE --mods auto [--disable-kvm] [--force-9p] --cpus 1
/// --memory 1G --busybox BB --kopt modprobe.blacklist=...`. `rw` and `script` must be [`plain`] (the
/// caller's `Workdir` is): they go into the kernel's command line.
pub fn command(tools: &Tools, image: &Image, accel: &Accel, rw: &Path, script: &Path) -> Command {
    let run = tools.virtme_run.to_string_lossy().into_owned();
    let mut cmd = if tools.pid_namespace {
        group::pid_namespace(&run)
    } else {
        Command::new(&run)
    };
    cmd.args(["--name", "virtme-ng", "--script-sh"])
        .arg(format!("sh {}", script.display()))
        .args(["--user", "root", "--rwdir"])
        .arg(rw);
    // What vng overlays by default: the guest may write there, the host's
    // files stay as they are.
    for d in [
        "/etc", "/lib", "/home", "/opt", "/srv", "/usr", "/var", "/tmp",
    ] {
        cmd.args(["--overlay-rwdir", d]);
    }
    cmd.arg("--pwd")
        .arg("--kimg")
        .arg(&image.path)
        .args(["--mods", "auto"]);
    if !accel.kvm {
        cmd.arg("--disable-kvm");
    }
    // 9p when the kernel has it: without the Rust virtiofsd (Debian bookworm
    // has only qemu's old one) vng tries virtiofs first and loses 3.1 s per
    // shared folder before it falls back.
    if !uses_virtiofs_only(image) {
        cmd.arg("--force-9p");
    }
    // vng's --append is virtme-run's --kopt: udev's coldplug would load
    // hardware modules for the emulated machine that the suite never uses.
    cmd.arg("--kopt")
        .arg(format!("modprobe.blacklist={}", NOT_LOADED.join(",")));
    cmd.args(["--cpus", CPUS, "--memory", MEMORY, "--busybox"])
        .arg(&tools.busybox);
    cmd
}

/// The image as virtme-run is to get it: `None` (itself) when its path and
/// its modules' are plain; else links in the guest's folder that are,
/// `k/boot/vmlinuz-RELEASE` to the image and `k/lib/modules/RELEASE` to its
/// modules (virtme-run finds the modules beside the image, and writes their
/// folder into the kernel's command line). Refused when that cannot be made
/// safe: a release that is not plain, or zstd modules under a folder whose
/// real path is not (virtme-run decompresses those through a shell line).
fn place(work: &Workdir, image: &Image) -> Result<Option<Image>, String> {
    let modules = image.modules.as_deref();
    if let Some(m) = modules {
        let real = std::fs::canonicalize(m).unwrap_or_else(|_| m.to_path_buf());
        let zstd =
            std::fs::read_to_string(m.join("modules.dep")).is_ok_and(|dep| dep.contains(".ko.zst"));
        if zstd && !plain(&real) {
            return Err(format!(
                "the modules folder {:?} is not a plain path and holds zstd modules, which \
                 virtme-ng decompresses through a shell line: move or link the kernel's folder \
                 to a plain path (letters, digits, /._-+%=)",
                real.display().to_string()
            ));
        }
    }
    if plain(&image.path) && modules.is_none_or(plain) {
        return Ok(None);
    }
    let release = &image.release;
    if !plain(Path::new(release)) || release.contains('/') {
        return Err(format!(
            "the kernel {:?} has the release {release:?}, which cannot name a file",
            image.path.display().to_string()
        ));
    }
    let k = work.path().join("k");
    let link = |what: &str, to: &Path, at: PathBuf| {
        std::fs::create_dir_all(at.parent().unwrap_or(&k))
            .and_then(|()| std::os::unix::fs::symlink(to, &at))
            .map_err(|e| format!("a link to the kernel's {what} in the guest's folder: {e}"))
    };
    let path = k.join("boot").join(format!("vmlinuz-{release}"));
    link("image", &image.path, path.clone())?;
    let mut placed = image.clone();
    placed.path = path;
    if let Some(m) = modules {
        let at = k.join("lib/modules").join(release);
        link("modules", m, at.clone())?;
        placed.modules = Some(at);
    }
    Ok(Some(placed))
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
    if !plain(&rw) || !plain(&script_path) {
        return Err(format!(
            "the guest's folder {:?} is not a plain path",
            rw.display().to_string()
        ));
    }
    let placed = place(work, image)?;
    let image = placed.as_ref().unwrap_or(image);
    let mut cmd = command(tools, image, accel, &rw, &script_path);
    // virtme-run's temporary files (`virtme_ret*`, a virtiofsd socket) go
    // into the guest's folder and leave with it, also after a kill.
    cmd.env("TMPDIR", work.path());
    cmd.current_dir("/")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let started = Instant::now();
    let mut vm = Group::spawn(cmd)
        .map_err(|e| format!("{} did not start: {e}", tools.virtme_run.display()))?;
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

    /// A guest folder as `Workdir::new` makes it: 0700, with the marker.
    fn guest_folder(path: &Path) {
        std::fs::create_dir_all(path.join("rw")).unwrap();
        std::fs::write(path.join(MARKER), "").unwrap();
    }

    #[test]
    fn only_synlabs_own_folders_of_gone_processes_are_swept() {
        use std::os::unix::fs::{chown, symlink};
        let tmp = tempfile::tempdir().unwrap();
        // No process has pid 0 in /proc; this test's own pid is alive.
        let gone = tmp.path().join(format!("{PREFIX}0-6.1.0-x-abc"));
        let mine = tmp
            .path()
            .join(format!("{PREFIX}{}-6.1.0-x-abc", std::process::id()));
        let other = tmp.path().join("synlab-vm-notapid");
        // Named like ours but without the marker: not synlab's.
        let unmarked = tmp.path().join(format!("{PREFIX}0-6.1.0-x-nomark"));
        // Named like ours, marked, but a link to a folder elsewhere.
        let target = tmp.path().join("elsewhere");
        let link = tmp.path().join(format!("{PREFIX}0-6.1.0-x-link"));
        for d in [&gone, &mine, &other, &target] {
            guest_folder(d);
        }
        std::fs::create_dir_all(unmarked.join("rw")).unwrap();
        symlink(&target, &link).unwrap();
        // Named like ours and marked, but another user's (as root only).
        let nobody = tmp.path().join(format!("{PREFIX}0-6.1.0-x-nobody"));
        guest_folder(&nobody);
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            chown(&nobody, Some(65534), Some(65534)).unwrap();
        }
        sweep(tmp.path());
        assert!(!gone.exists(), "a dead process's folder is swept");
        for kept in [&mine, &other, &unmarked, &link, &target.join(MARKER)] {
            assert!(
                std::fs::symlink_metadata(kept).is_ok(),
                "{} was removed",
                kept.display()
            );
        }
        assert_eq!(nobody.exists(), root, "another user's folder stays");
    }

    #[test]
    fn plain_paths_are_what_no_shell_or_kernel_command_line_rewrites() {
        for p in [
            "/tmp",
            "/tmp/synlab-vm-12-6.1.0-57-amd64-AbC/rw",
            "/a/b+c%2C=d",
        ] {
            assert!(plain(Path::new(p)), "{p}");
        }
        for p in [
            "/tmp/;touch INJECTED;",
            "/my kernels",
            "/a,b",
            "/a'b",
            "/a$b",
            "/a\nb",
            "",
        ] {
            assert!(!plain(Path::new(p)), "{p:?}");
        }
    }

    #[test]
    fn a_tmpdir_with_shell_syntax_makes_no_folder_and_says_why() {
        let tmp = tempfile::tempdir().unwrap();
        let evil = tmp.path().join(";touch INJECTED;");
        std::fs::create_dir(&evil).unwrap();
        let e = Workdir::in_dir(&evil, "6.1.0-57-amd64")
            .err()
            .expect("refused");
        assert!(
            e.contains("not a plain path") && e.contains("TMPDIR"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_dir(&evil).unwrap().count(),
            0,
            "nothing made there"
        );
        // A plain one gets a marked folder whose name encodes the release.
        let ok = Workdir::in_dir(tmp.path(), "6.1 x/y").unwrap();
        let name = ok.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with(&format!("{PREFIX}{}-6.1_x_y-", std::process::id())),
            "{name}"
        );
        assert!(
            ok.path().join(MARKER).is_file(),
            "{:?}",
            ok.path().join(MARKER).symlink_metadata()
        );
        assert!(plain(&ok.rw()), "{}", ok.rw().display());
    }

    #[test]
    fn virtme_run_gets_each_path_as_one_argument_and_no_shell() {
        let tools = Tools {
            virtme_run: PathBuf::from("/opt/v ng/virtme-run"),
            vng_version: String::new(),
            busybox: PathBuf::from("/b b/busybox"),
            pid_namespace: false,
        };
        let image = Image {
            path: PathBuf::from("/my kernels/a;b/vmlinuz-6.1.0-57-amd64"),
            release: "6.1.0-57-amd64".into(),
            config: None,
            modules: None,
        };
        let accel = Accel {
            kvm: false,
            why: String::new(),
        };
        let cmd = command(
            &tools,
            &image,
            &accel,
            Path::new("/tmp/synlab-vm-1-x/rw"),
            Path::new("/tmp/synlab-vm-1-x/rw/run.sh"),
        );
        assert_eq!(cmd.get_program(), "/opt/v ng/virtme-run");
        let args: Vec<&str> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        let after = |flag: &str| {
            let i = args.iter().position(|a| *a == flag).unwrap();
            args[i + 1]
        };
        assert_eq!(after("--kimg"), "/my kernels/a;b/vmlinuz-6.1.0-57-amd64");
        assert_eq!(after("--busybox"), "/b b/busybox");
        assert_eq!(after("--rwdir"), "/tmp/synlab-vm-1-x/rw");
        assert_eq!(after("--script-sh"), "sh /tmp/synlab-vm-1-x/rw/run.sh");
        assert!(
            args.contains(&"--disable-kvm") && !args.contains(&"-c"),
            "{args:?}"
        );
    }

    #[test]
    fn sh_quote_survives_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}

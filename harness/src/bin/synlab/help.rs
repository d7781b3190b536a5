//! The text `synlab --help` ends with: where scenarios come from, the
//! environment it reads, and what its exit codes mean. One place, so the help,
//! the man page (made from the same clap command) and the README agree.

/// Shown after the options of `synlab --help` (and in the man page).
pub const AFTER_HELP: &str = "\
Scenarios (a name is looked up in this order; the first match wins):
  1. one folder of your own, <area>/<name>.toml files: --scenarios-dir DIR,
     else $SYNLAB_SCENARIOS, else ./scenarios if the current directory has one
  2. the scenarios built into synlab (`synlab list` shows them all)
  A path to a .toml file is read as it is.

Environment:
  SYNLAB_SCENARIOS   your scenario folder, when --scenarios-dir is not given
  SYNLAB_ARTIFACTS   where a failing case's pcap goes (default ./synlab-artifacts)
  SYNLAB_NO_USERNS   set to 1: never enter an unprivileged user namespace
                     (rootless mode); without root, runs then fail with exit 2
  NO_COLOR           set: no colour (colour is used only on a terminal)
  SYNLAB_CACHE       where --kernel debian:NAME keeps its kernels (default
                     $XDG_CACHE_HOME/synlab, else ~/.cache/synlab; as root, root's)
  SYNLAB_DEBIAN_MIRROR  Debian's archive (default http://deb.debian.org/debian;
                     SYNLAB_DEBIAN_SECURITY_MIRROR, SYNLAB_DEBIAN_KEYRING too)

Exit status:
  0  every case matched its expectation (skipped cases are reported, and do not fail)
  1  a case did not match, could not be fully checked (partial) or hit an error
  2  usage, file or permission error (bad arguments, a scenario file that is
     not valid, no privilege to make network namespaces)

Root: `run` and `bench` make network namespaces. As a normal user synlab enters
an unprivileged user namespace if the kernel allows it; otherwise use sudo,
e.g. `sudo ~/.cargo/bin/synlab run ts-off` (sudo resets PATH).";

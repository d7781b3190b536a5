# synlab recipes. The scenarios need root (they make network namespaces): when you
# are not root, the binaries are built as you and run under `sudo`.

sudo := if `id -u` == "0" { "" } else { "sudo" }
runner := if `id -u` == "0" { "" } else { "CARGO_TARGET_" + replace(uppercase(arch() + "_unknown_linux_gnu"), "-", "_") + "_RUNNER='sudo -E'" }

# Run every scenario case and the unit tests (the README's test command).
test *ARGS:
    {{runner}} cargo test {{ARGS}}

# Run one scenario by name (or file) and print its timeline and verdict.
scenario NAME *ARGS:
    cargo build -q --bin synlab
    {{sudo}} ./target/debug/synlab run {{NAME}} {{ARGS}}

# Run every scenario.
all *ARGS:
    cargo build -q --bin synlab
    {{sudo}} ./target/debug/synlab run --all {{ARGS}}

# List every case with its matrix values.
list:
    cargo run -q --bin synlab -- list

# Validate the scenario files (no root needed).
check:
    cargo run -q --bin synlab -- check scenarios/*/*.toml

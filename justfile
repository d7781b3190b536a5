# synlab recipes. The scenarios need root (they make network namespaces): when you
# are not root, the binaries are built as you and run under `sudo` (cargo's runner,
# .cargo/runner, does it for `cargo test` and `cargo run -- run`).

sudo := if `id -u` == "0" { "" } else { "sudo" }

# List the recipes.
default:
    @just --list

# What CI runs (.ci/run, as root): fmt, clippy, the scenario check, the tests, the leak check.
ci:
    {{sudo}} env "PATH=$PATH" bash .ci/run

# Run every scenario case and the unit tests (the README's test command).
test *ARGS:
    cargo test {{ARGS}}

# Run one scenario by name (or file) and print its timeline and verdict.
scenario NAME *ARGS:
    cargo run -q --bin synlab -- run {{NAME}} {{ARGS}}

# Run every scenario.
all *ARGS:
    cargo run -q --bin synlab -- run --all {{ARGS}}

# List every case with its matrix values.
list:
    cargo run -q --bin synlab -- list

# Regenerate docs/report.schema.json from the JSON row types (tests/cli.rs fails when it is stale).
schema:
    cargo run -q --bin synlab -- schema > docs/report.schema.json

# Rewrite the README's rules section from synlab's model (`synlab rules`; tests/readme_rules.rs fails when it is stale).
rules:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build -q --bin synlab
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    ./target/debug/synlab rules > "$tmp/rules.md"
    awk -v rules="$tmp/rules.md" '
        /^<!-- rules: begin/ { print; print ""; while ((getline l < rules) > 0) print l; print ""; skip = 1; next }
        /^<!-- rules: end/ { skip = 0 }
        !skip { print }' README.md > "$tmp/README.md"
    grep -q '^<!-- rules: end' "$tmp/README.md" || { echo "rules: README.md has no rules markers" >&2; exit 1; }
    cat "$tmp/README.md" > README.md

# Validate the scenario files (no root needed).
check:
    cargo run -q --bin synlab -- check scenarios/*/*.toml

# HTML report of scenario NAME (target/synlab/NAME.html), screenshot by headless Chromium into docs/ladder-NAME.png.
html-shot NAME:
    #!/usr/bin/env bash
    set -euo pipefail
    html="$PWD/target/synlab/{{NAME}}.html"
    png="$PWD/docs/ladder-{{NAME}}.png"
    chromium=/usr/bin/chromium
    [ -x "$chromium" ] || { echo "html-shot: $chromium not found: apt-get install chromium" >&2; exit 2; }
    mkdir -p "$(dirname "$html")" "$(dirname "$png")"
    cargo build -q --bin synlab
    # Exit 1 (a case did not match) still writes the page.
    {{sudo}} ./target/debug/synlab run {{NAME}} --html "$html" >/dev/null || [ $? -eq 1 ]
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
           --disable-background-networking --disable-component-update --disable-sync
           --hide-scrollbars "--user-data-dir=$tmp/profile")
    # The page has no script; a copy with one measures its height for a full-page shot.
    sed 's|</body>|<script>document.title="H"+document.documentElement.scrollHeight</script></body>|' "$html" > "$tmp/measure.html"
    height=$("$chromium" "${flags[@]}" --window-size=1200,1000 --dump-dom "file://$tmp/measure.html" 2>"$tmp/err" \
        | sed -n 's|.*<title>H\([0-9]*\)</title>.*|\1|p') || true
    [ -n "$height" ] || { echo "html-shot: could not measure $html:" >&2; cat "$tmp/err" >&2; exit 1; }
    "$chromium" "${flags[@]}" --window-size=1200,"$height" --screenshot="$png" "file://$html" 2>"$tmp/err" \
        || { cat "$tmp/err" >&2; exit 1; }
    echo "html-shot: $html -> $png (1200x$height)"

# No retries (.config/nextest.toml); a run fails when nextest fails or when a named
# namespace or a veth is left in the root namespace. Prints `P passed, F failed`
# (whole runs) and exits non-zero if any failed. Logs: target/soak/run-<i>.log.
#
# Soak: `cargo nextest run` N times in a row while stress-ng keeps every CPU busy.
soak N="20":
    #!/usr/bin/env bash
    set -uo pipefail
    if ! command -v stress-ng >/dev/null; then
        {{sudo}} apt-get update -qq && {{sudo}} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng || exit 2
    fi
    cargo nextest --version >/dev/null 2>&1 || { echo "soak: cargo-nextest is missing (cargo install cargo-nextest --locked)" >&2; exit 2; }
    logs=target/soak; rm -rf "$logs"; mkdir -p "$logs"
    # Build before the load: the soak is about the tests, not the compiler.
    cargo build -q -p synlab --bin synlab && cargo test -q --no-run || { echo "soak: the build failed" >&2; exit 2; }
    leftovers() { ip netns list 2>/dev/null; ip -o link show type veth 2>/dev/null; }
    before=$(leftovers)
    # One CPU hog per CPU; its timeout only matters if this script is SIGKILLed.
    stress-ng --cpu "$(nproc)" --timeout "$(( {{N}} * 120 + 60 ))s" --quiet &
    stress=$!
    trap 'kill "$stress" 2>/dev/null; wait "$stress" 2>/dev/null' EXIT
    trap 'exit 130' INT TERM
    passed=0; failed=0
    for i in $(seq 1 {{N}}); do
        log="$logs/run-$i.log"
        ok=1
        cargo nextest run --no-fail-fast >"$log" 2>&1 || ok=0
        left=$(leftovers)
        if [ "$left" != "$before" ]; then
            ok=0
            printf 'soak: left in the root namespace after run %s:\n%s\n' "$i" "$left" | tee -a "$log"
        fi
        summary=$(grep -E '^ *Summary' "$log" | tail -n 1 | sed 's/^ *//')
        if [ "$ok" = 1 ]; then
            passed=$((passed + 1))
            echo "soak: run $i/{{N}} ok: $summary"
        else
            failed=$((failed + 1))
            echo "soak: run $i/{{N}} FAILED: ${summary:-no summary} (full output: $log)"
            grep -E '^ *(FAIL|TIMEOUT|SIGSEGV|SIGABRT|LEAK|ABORT)' "$log" | sed 's/^ */    /' | sort -u
        fi
    done
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]

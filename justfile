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

# The kernels of docs/results/ (the README's findings table), oldest first.
results_kernels := "--kernel debian:bullseye --kernel debian:bookworm --kernel debian:trixie --kernel host --kernel debian:sid"

# Writes docs/results/RELEASE.jsonl (the rows, one file per kernel),
# docs/results/run.txt (the table that run printed) and the README's findings
# table made from them (`just readme-table`); tests/table.rs fails when the README
# or run.txt is not what the rows give. Needs root, qemu, vng and a static busybox
# (docs/kernels.md); 5 to 10 minutes without KVM.
#
# Regenerate docs/results/ and the README's table: every case on the host and Debian's four kernels.
results:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build -q --bin synlab
    # From an empty folder: the built-in scenarios, so each row names its file as
    # scenarios/AREA/NAME.toml, not as a path on this machine. Not under /tmp:
    # from there the first cases in a guest fail (connect() times out; seen
    # with virtme-ng 1.42), from any other folder they pass.
    tmp=$(mktemp -d -p target results.XXXXXX); tmp=$(cd "$tmp" && pwd); trap 'rm -rf "$tmp"' EXIT
    rc=0
    synlab=$PWD/target/debug/synlab
    (cd "$tmp" && {{sudo}} "$synlab" run --all {{results_kernels}} --json > rows.jsonl 2> stderr) || rc=$?
    if [ "$rc" != 0 ]; then
        cat "$tmp/stderr" >&2
        echo "results: synlab run exited $rc (0: every case passed on every kernel); docs/results/ left as it was" >&2
        exit 1
    fi
    rm -f docs/results/*.jsonl
    mkdir -p docs/results
    # One file per kernel, named by its release, rows in the order the run wrote them.
    python3 - "$tmp/rows.jsonl" docs/results <<'PY'
    import json, os, re, sys
    rows, out = sys.argv[1], sys.argv[2]
    files = {}
    for line in open(rows):
        if line.strip():
            kernel = json.loads(line)["kernel"]
            if not re.fullmatch(r"[A-Za-z0-9._+~-]+", kernel):
                sys.exit(f"results: a kernel release that is no file name: {kernel!r}")
            files.setdefault(kernel, []).append(line)
    for kernel, lines in files.items():
        with open(os.path.join(out, kernel + ".jsonl"), "w") as f:
            f.writelines(lines)
        print(f"results: docs/results/{kernel}.jsonl: {len(lines)} rows")
    PY
    # The table the run printed (on stderr, beside the rows), from its heading to its last line.
    sed -n '/^case by kernel/,$p' "$tmp/stderr" > docs/results/run.txt
    {{just_executable()}} readme-table

# Put `synlab table --markdown docs/results/*.jsonl` into the README between its markers.
readme-table:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build -q --bin synlab
    rc=0
    ./target/debug/synlab table --markdown docs/results/*.jsonl > target/readme-table.md || rc=$?
    [ "$rc" -le 1 ] || exit "$rc"
    python3 - README.md target/readme-table.md <<'PY'
    import sys
    readme, table = sys.argv[1], open(sys.argv[2]).read()
    begin = "<!-- synlab table --markdown docs/results/*.jsonl: begin (just readme-table) -->\n"
    end = "<!-- synlab table: end -->"
    text = open(readme).read()
    if text.count(begin) != 1 or text.count(end) != 1:
        sys.exit(f"readme-table: {readme} needs one {begin.strip()} and one {end} line")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    open(readme, "w").write(head + begin + "\n" + table + "\n" + end + tail)
    print(f"readme-table: {readme} has the table of docs/results/")
    PY

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

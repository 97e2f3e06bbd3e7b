#!/usr/bin/env bash
# make check step "unit-min-knobs": the unit tests (ASan + UBSan, as
# `make unit` builds them) with every int knob of the root Kconfig at the
# lowest value its range allows: 1 request slot, 1 connection, 1 provider,
# no queue, 16-byte messages and host names, 512-byte heads, the shape
# cache and Evolution IAM compiled out, no retries and 1 ms timeouts as the
# default policy, and so on. Bool knobs keep their defaults. The values are
# read from Kconfig with kconfiglib each run, so they follow it when it
# changes. Tests that need more room than that check what fits, or are
# compiled out (#if on the knob; see tests/unit/).
# Builds in $BUILD/min-knobs. Last line: "unit-min-knobs: N passed, M failed".
# unit-max-knobs.sh runs this with KNOBS_END=highest (every int knob at
# the highest value its range allows).
set -u
cd "$(dirname "$0")/../.."
END="${KNOBS_END:-lowest}"
NAME=unit-min-knobs
[ "$END" = highest ] && NAME=unit-max-knobs
B="${BUILD:-build}/${NAME#unit-}"
PY="${PYTHON:-/usr/bin/python3}"

fail() {
    echo "$NAME: $*" >&2
    echo "$NAME: 0 passed, 1 failed"
    exit 1
}

bash scripts/deps.sh || fail "cannot install the packages make unit needs"
mkdir -p "$B" || fail "cannot create $B"
# the .config, rewritten only when it changes, so that a second run
# rebuilds nothing
"$PY" scripts/kconfig_ends.py "$END" "$B/.config.new" ||
    fail "cannot write the .config"
if cmp -s "$B/.config.new" "$B/.config"; then
    rm -f "$B/.config.new"
else
    mv "$B/.config.new" "$B/.config" || fail "cannot write $B/.config"
fi
echo "$NAME: built with $(sed -n 's/^CONFIG_\(LLMC_[A-Z_]*=[0-9]*\)$/\1/p' "$B/.config" | paste -sd " ")"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
${MAKE:-make} -s BUILD="$B" DOTCONFIG="$B/.config" unit 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
[ -n "$summary" ] || fail "the unit tests did not build or run"
set -- $summary
failed=$4
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$NAME: $2 passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$2" -gt 0 ]

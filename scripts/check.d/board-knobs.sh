#!/usr/bin/env bash
# make check step "board-knobs": the integration suite again, with llmc
# and its tools built with the MCU-sized defaults of
# include/llmc/llmc_config_defaults.h (make MCU_KNOBS=1), the sizes a
# board gets when it sets no knob: 4 requests at once and 8 queued,
# 6 connections, 8 providers, 2 KB receive and event buffers, 96-byte
# messages, 1 KB IAM tokens. The other steps build the
# Linux tools with roomier knobs (Makefile), so without this one the sizes
# that ship would be tested only by the unit tests.
#
# Left out: the tests listed in scripts/board-knobs-leave-out, which need
# more room than those sizes give.
# Builds in $BUILD/board-knobs. Last line: "board-knobs: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
${MAKE:-make} -s BUILD="$BUILD/board-knobs" MCU_KNOBS=1 \
    INTEGRATION_ARGS="--leave-out-file scripts/board-knobs-leave-out" \
    integration 2>&1 | tee "$log"
summary=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
if [ -z "$summary" ]; then
    echo "board-knobs: 0 passed, 1 failed"
    exit 1
fi
set -- $summary
echo "board-knobs: $2 passed, $4 failed"
[ "$4" -eq 0 ] && [ "$2" -gt 0 ]

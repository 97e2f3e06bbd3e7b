#!/usr/bin/env bash
# make check step "board-knobs": the integration suite again, with llmc
# and its tools built with the MCU-sized defaults of
# include/llmc/llmc_config_defaults.h (make MCU_KNOBS=1), the sizes a
# board gets when it sets no knob: 4 requests at once and 8 queued,
# 6 connections, 8 providers, 2 KB receive and event buffers, 128 JSON
# tokens, 96-byte messages, 1 KB IAM tokens. The other steps build the
# Linux tools with roomier knobs (Makefile), so without this one the sizes
# that ship would be tested only by the unit tests.
#
# Left out, because they need more room than those sizes give, which is
# the point of the knobs (each is tested by the "integration" step):
#  - 32 streams at once (twice), 20 and 10 requests submitted at once (the
#    queue holds 8), and 5 providers answering at once (4 slots);
#  - test_gateway: llmc-gateway is a Linux server; its bounds follow the
#    Linux knobs;
#  - test_library's build checks (ApplicationBuildTests, BuildConfigTests):
#    they build with the Makefile's own knobs.
# Builds in $BUILD/board-knobs. Last line: "board-knobs: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LEAVE_OUT=(
    test_concurrency.LibraryConcurrencyTests.test_32_streams_interleave_and_each_gets_its_own_content
    test_concurrency.LibraryConcurrencyTests.test_32_tls_streams_interleave
    test_concurrency.LibraryConcurrencyTests.test_max_inflight_bounds_the_open_sockets
    test_concurrency.LibraryConcurrencyTests.test_queue_starts_requests_in_submit_order
    test_concurrency.CheckToolTests.test_five_slow_providers_answer_in_parallel
    test_gateway
    test_library.ApplicationBuildTests
    test_library.BuildConfigTests
)
args=()
for t in "${LEAVE_OUT[@]}"; do args+=(--leave-out "$t"); done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
${MAKE:-make} -s BUILD="$BUILD/board-knobs" MCU_KNOBS=1 \
    INTEGRATION_ARGS="${args[*]}" integration 2>&1 | tee "$log"
summary=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
if [ -z "$summary" ]; then
    echo "board-knobs: 0 passed, 1 failed"
    exit 1
fi
set -- $summary
echo "board-knobs: $2 passed, $4 failed"
[ "$4" -eq 0 ] && [ "$2" -gt 0 ]

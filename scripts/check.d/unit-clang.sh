#!/usr/bin/env bash
# make check step "unit-clang": the unit tests built with clang (its own
# warnings as errors, its ASan and UBSan) as the unit step builds them
# with gcc. Builds in $BUILD/clang. Last line: "unit-clang: N passed,
# M failed".
set -u
cd "$(dirname "$0")/../.."
out=$("${MAKE:-make}" -s CC=clang BUILD="${BUILD:-build}/clang" unit 2>&1)
rc=$?
echo "$out" | grep -v '^unit: '
line=$(echo "$out" | grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' | tail -1)
if [ -n "$line" ]; then echo "unit-clang: ${line#unit: }"
else echo "unit-clang: 0 passed, 1 failed"; fi
exit $rc

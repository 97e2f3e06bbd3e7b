#!/usr/bin/env bash
# Run cmocka unit-test binaries; print "unit: N passed, M failed".
set -u
pass=0; fail=0; failed_bins=()
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    echo "$out" | grep -E '^\[  (FAILED|PASSED)  \]|^\[  ERROR   \]|FAILED|ERROR' | grep -v '^\[==========\]' >/dev/null
    p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
    if [ $rc -ne 0 ]; then
        [ -z "$f" ] && fail=$((fail + 1))
        failed_bins+=("$t"); echo "$out" | tail -40
    fi
    echo "$(basename "$t"): ${p:-0} passed, ${f:-0} failed"
done
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ ${#failed_bins[@]} -eq 0 ]

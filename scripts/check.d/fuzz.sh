#!/usr/bin/env bash
# A short fuzzing run of every parser, the request writer and the whole
# engine (libFuzzer, ASan + UBSan): each target for FUZZ_CHECK_SECONDS
# (default 8) from the seed corpus, with tests/fuzz/TARGET.dict as its
# dictionary if there is one. `make fuzz` runs longer. Prints
# "fuzz: N passed, M failed" (one per target).
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_CHECK_SECONDS:-8}
${MAKE:-make} -s fuzz-build || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
targets=$(${MAKE:-make} -s fuzz-targets) || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
pass=0; fail=0
for t in $targets; do
    d=$(mktemp -d)
    dict=; [ -f tests/fuzz/$t.dict ] && dict=-dict=tests/fuzz/$t.dict
    if build/fuzz/fuzz_$t -max_total_time=$secs -print_final_stats=1 $dict -artifact_prefix=build/fuzz/ "$d" tests/fuzz/corpus/$t \
        >"$d.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d.log")
        echo "fuzz_$t: ok, $runs inputs in $secs s"
        pass=$((pass + 1))
    else
        echo "fuzz_$t: FAILED"; grep -E "ERROR|SUMMARY|==" "$d.log" | head -20
        ls build/fuzz/crash-* 2>/dev/null | head -3
        fail=$((fail + 1))
    fi
    rm -rf "$d" "$d.log"
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]

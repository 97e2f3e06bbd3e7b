#!/usr/bin/env bash
# make coverage: which lines and branches of src/ the unit and integration
# tests run. Not a test (nothing here passes or fails on a percentage): a
# figure for the README and a list of what no test reaches, to read.
#
# Builds with gcc --coverage (and the tests' ASan + UBSan) in
# $BUILD/coverage, runs `make unit` and `make integration` there, then
# prints gcov's figures per file of src/ and writes the annotated sources
# (lines no test ran are marked #####) to $BUILD/coverage/gcov/.
#
# Counted: the library as the Linux tools link it (build/asan/obj/src).
# Not counted: the tool variants built apart (IAM compiled out, log level
# 4, synchronous connect), the fuzzers, the lwIP, board-knobs and MCU
# runs. Left out of the integration run: the tests listed in
# scripts/coverage-leave-out, which instrumentation itself breaks.
set -eu
cd "$(dirname "$0")/.."
B="${BUILD:-build}/coverage"
GCC="${CC:-gcc}"
MAKE="${MAKE:-make}"

mkdir -p "$B"
# counts from an earlier run would add to this one's
find "$B" -name '*.gcda' -delete
$MAKE -s BUILD="$B" CC="$GCC --coverage" unit
$MAKE -s BUILD="$B" CC="$GCC --coverage" \
    INTEGRATION_ARGS="--leave-out-file scripts/coverage-leave-out" integration

obj="$(cd "$B/asan/obj/src" && pwd)"
out="$B/gcov"
rm -rf "$out"
mkdir -p "$out"
# from the top, where the objects' source paths (src/...) lead; gcov
# writes its annotated files into the current directory
summary=$(gcov -b -o "$obj" src/*.c 2>/dev/null)
mv ./*.gcov "$out"/
# gcov prints, for each file, "File 'x'" and its figures ("Lines
# executed:P% of N", "Taken at least once:P% of N", ...), then a blank
# line; last, the lines of every file together
printf '%s\n' "$summary" | awk '
    /^File .src\/llmc_[a-z]*\.c.$/ { f = substr($2, 6, length($2) - 6);
        order[++n] = f; keep = 1; next }
    /^$/ { keep = 0 }
    keep && /^Lines executed:/ { split($2, a, ":"); lp[f] = a[2]; ln[f] = $4 }
    keep && /^Taken at least once:/ { split($4, a, ":"); bp[f] = a[2];
        bn[f] = $6 }
    END {
        printf "src/ covered by make unit + make integration (gcov)\n\n"
        printf "%-18s %8s %8s %10s %8s\n", "file", "lines", "run",
            "branches", "taken"
        for (i = 1; i <= n; i++) {
            f = order[i]
            printf "%-18s %8d %8s %10d %8s\n", f, ln[f], lp[f], bn[f], bp[f]
            tl += ln[f]; tlr += ln[f] * lp[f] / 100
            tb += bn[f]; tbr += bn[f] * bp[f] / 100
        }
        printf "%-18s %8d %7.2f%% %10d %7.2f%%\n", "total", tl,
            100 * tlr / tl, tb, 100 * tbr / tb
    }'
echo
echo "annotated sources: $out/*.c.gcov (##### marks a line no test ran)"

#!/usr/bin/env bash
# make check: every test, then one summary line "check: N passed, M failed".
# Each step prints its own result; a failed step does not stop the others.
set -u
cd "$(dirname "$0")/.."
MAKE="${MAKE:-make}"
passed=0; failed=0; failures=()
log=$(mktemp); trap 'rm -f "$log"' EXIT
# A step that prints its suite's "name: N passed, M failed" line counts
# those tests; a step without one counts as one test.
step() { # step NAME COMMAND...
    local name=$1 ok=1 p f line; shift
    echo "=== $name"
    "$@" 2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || ok=0
    line=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | grep -v '^test_' | tail -1)
    if [ -n "$line" ] && [ "${line%%:*}" != "check" ]; then
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
        # a suite may also list per-target lines (mcu-arm, mcu-rv32): sum them
        if [ "$(grep -cE '^mcu-[a-z0-9]+: [0-9]+ passed, [0-9]+ failed$' "$log")" -gt 1 ]; then
            p=$(( $(grep -E '^mcu-[a-z0-9]+: [0-9]+ passed' "$log" | sed -E 's/.*: ([0-9]+) passed.*/\1/' | paste -sd+) ))
            f=$(( $(grep -E '^mcu-[a-z0-9]+: [0-9]+ passed' "$log" | sed -E 's/.* ([0-9]+) failed$/\1/' | paste -sd+) ))
        fi
        [ $ok -eq 1 ] || [ "$f" -gt 0 ] || f=1
        passed=$((passed + p)); failed=$((failed + f))
    elif [ $ok -eq 1 ]; then passed=$((passed + 1))
    else failed=$((failed + 1)); fi
    if [ $ok -eq 1 ]; then echo "--- $name: ok"
    else failures+=("$name"); echo "--- $name: FAILED"; fi
}

portable_src() {
    # src/ must build warning-free as C99 with gcc and clang, and reference
    # no heap, stdio or OS function.
    local out=build/portable; mkdir -p $out
    for cc in gcc clang; do
        for f in src/*.c; do
            $cc -std=c99 -pedantic -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
                -Os -Iinclude -Isrc -c "$f" -o $out/$(basename "$f" .c).$cc.o || return 1
            # and with Evolution IAM compiled out
            $cc -std=c99 -pedantic -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
                -Os -Iinclude -Isrc -DLLMC_IAM_PROVIDERS=0 -c "$f" -o $out/noiam.o || return 1
            # and with every log line compiled in
            $cc -std=c99 -pedantic -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
                -Os -Iinclude -Isrc -DLLMC_LOG_LEVEL=4 -c "$f" -o $out/log4.o || return 1
        done
    done
    local bad
    bad=$(nm -u $out/*.o | grep -E ' U (malloc|calloc|realloc|free|printf|fprintf|sprintf|snprintf|fopen|fwrite|puts|open|close|read|write|socket|time|clock_gettime|getenv|abort|exit)$' || true)
    if [ -n "$bad" ]; then echo "src/ references forbidden symbols:"; echo "$bad"; return 1; fi
    bad=$(nm -A build/libllmc.a 2>/dev/null | grep -E ' U (malloc|calloc|realloc|free)$' || true)
    if [ -n "$bad" ]; then echo "libllmc.a references the heap:"; echo "$bad"; return 1; fi
    echo "src/: C99, gcc + clang -Werror (also with LLMC_IAM_PROVIDERS=0 and LLMC_LOG_LEVEL=4), no heap/stdio/OS symbols"
}

kconfig_build() {
    # a generated Kconfig header must drive the build: change two knobs
    # and check that the client's size follows
    local d=build/kconfig-check; rm -rf $d; mkdir -p $d
    KCONFIG_CONFIG=$d/.config /usr/bin/python3 -m olddefconfig Kconfig >/dev/null || return 1
    sed -i 's/^CONFIG_LLMC_SLOTS=.*/CONFIG_LLMC_SLOTS=2/; s/^CONFIG_LLMC_EVENT_BUF_SIZE=.*/CONFIG_LLMC_EVENT_BUF_SIZE=1024/' $d/.config
    KCONFIG_CONFIG=$d/.config /usr/bin/python3 -m genconfig --header-path $d/llmc_kconfig.h Kconfig || return 1
    cat > $d/size.c <<'C'
#include <stdio.h>
#include "llmc/llmc_client.h"
int main(void) { printf("%d %d %zu\n", LLMC_SLOTS, LLMC_EVENT_BUF_SIZE, sizeof(llmc_client_t)); return 0; }
C
    cc -std=c99 -Iinclude -I$d -DLLMC_CONFIG_FILE='"llmc_kconfig.h"' $d/size.c -o $d/size_k || return 1
    cc -std=c99 -Iinclude $d/size.c -o $d/size_d || return 1
    local k d0; k=$($d/size_k); d0=$($d/size_d)
    echo "kconfig: $k / defaults: $d0"
    case "$k" in "2 1024 "*) ;; *) echo "generated config not applied"; return 1;; esac
    [ "${k##* }" -lt "${d0##* }" ]
}

knob_defaults() {
    # knobs given by hand (-D): a knob left out follows the one given as
    # Kconfig's range would move it; a value Kconfig would refuse is an
    # #error
    local d=build/knob-check; mkdir -p $d
    probe() { # probe EXPECT(ok|error) CONDITION -D...
        local want=$1 cond=$2; shift 2
        printf '#include "llmc/llmc_client.h"\ntypedef char probe[(%s) ? 1 : -1];\n' "$cond" > $d/probe.c
        if cc -std=c99 -Iinclude "$@" -c $d/probe.c -o $d/probe.o 2>$d/err; then
            [ "$want" = ok ] && return 0
            echo "compiled, expected an #error: $*"; return 1
        fi
        [ "$want" = error ] && grep -q '#error' $d/err && return 0
        echo "$* ($cond):"; cat $d/err; return 1
    }
    probe ok 'LLMC_CONNS == 6 && LLMC_TOKEN_MAX == 1536' || return 1
    probe ok 'LLMC_CONNS == 8' -DLLMC_SLOTS=8 || return 1
    probe ok 'LLMC_CONNS == 7' -DLLMC_SLOTS=4 -DLLMC_CONNS=7 || return 1
    probe ok 'LLMC_TOKEN_MAX == 512' -DLLMC_EVENT_BUF_SIZE=512 || return 1
    probe error 1 -DLLMC_SLOTS=8 -DLLMC_CONNS=6 || return 1
    probe error 1 -DLLMC_EVENT_BUF_SIZE=512 -DLLMC_TOKEN_MAX=1024 || return 1
    probe error 1 -DLLMC_MAX_PROVIDERS=250 -DLLMC_IAM_PROVIDERS=8 || return 1
    probe error 1 -DLLMC_MSG_LEN=1 || return 1
    echo "knob defaults: left-out knobs follow given ones; out-of-range values refused"
}

step build "$MAKE" -s all
step portable-src portable_src
step kconfig kconfig_build
step knob-defaults knob_defaults
step unit "$MAKE" -s unit
# the test server the integration suite stands on checks itself first
step server /usr/bin/python3 tests/server/test_llmc_test_server.py
step integration "$MAKE" -s integration
# further steps, one file per area (cross builds, emulated MCUs, lwIP, ...)
for f in scripts/check.d/*.sh; do
    [ -e "$f" ] && step "$(basename "$f" .sh)" bash "$f"
done
echo
if [ ${#failures[@]} -gt 0 ]; then echo "failed steps: ${failures[*]}"; fi
echo "check: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ ${#failures[@]} -eq 0 ]

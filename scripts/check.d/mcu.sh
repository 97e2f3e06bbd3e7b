#!/usr/bin/env bash
# make check step: every unit test of tests/unit/ (unchanged, against the
# cmocka subset in tests/mcu/cmocka.h) on three emulated MCUs, with src/
# built as for the size table (-Os, MCU default knobs, LLMC_TLS=0):
#   mcu-arm     Cortex-M4F,   qemu-system-arm -M mps2-an386, picolibc
#   mcu-rv32    RV32IMC,      qemu-system-riscv32 -M virt -bios none, picolibc
#   mcu-xtensa  Xtensa LX106, qemu-system-xtensa -M sim -cpu lx106, picolibc;
#               it traps on unaligned loads and stores. Its ROM stand-ins
#               (tests/mcu/xtensa_rom.c) are first checked against the host.
# Output goes through semihosting. QEMU does not stop when the program
# exits, so each run ends when the end marker printed after main() shows,
# or fails after LLMC_MCU_TIMEOUT seconds. Prints "mcu-<t>: N passed,
# M failed" per target; fails on any failed test, crash or timeout.
set -u
cd "$(dirname "$0")/../.."
MAKE="${MAKE:-make}"
TIMEOUT="${LLMC_MCU_TIMEOUT:-30}"
CROSS="${BUILD:-build}/cross"

"$MAKE" -s cross mcu-tests || { echo "mcu: build failed"; exit 1; }

# the LX106's run-time helpers against the host's arithmetic
rom_check="$CROSS/xtensa/rom_check"
${CC:-cc} -O2 -std=gnu99 -Wall -Wextra -Werror -o "$rom_check" \
    tests/mcu/xtensa_rom_check.c -lm &&
    "$rom_check" || { echo "mcu-xtensa: 0 passed, 1 failed"; exit 1; }

qemu_cmd() { # target elf
    local semi=(-display none -monitor none -serial null
                -semihosting-config enable=on,target=native)
    case $1 in
    arm)  echo qemu-system-arm -M mps2-an386 "${semi[@]}" -kernel "$2" ;;
    rv32) echo qemu-system-riscv32 -M virt -bios none "${semi[@]}" -kernel "$2" ;;
    # the sim machine sends semihosting output to its -serial device
    xtensa) echo qemu-system-xtensa -M sim -cpu lx106 -display none \
                 -monitor none -serial stdio -semihosting -kernel "$2" ;;
    esac
}

# run_elf TARGET ELF LOG: 0 when the end marker appeared in time.
# Semihosting writes the log one byte at a time, so the marker counts only
# once its exit code and the line's end are there: a run stopped at
# "[ MCU-END  ]" alone would lose the code, and one stopped before the
# newline would get qemu's "terminating on signal" on the marker's line.
run_elf() {
    local pid waited=0 step=0.05 limit
    : >"$3"
    $(qemu_cmd "$1" "$2") </dev/null >"$3" 2>&1 &
    pid=$!
    limit=$((TIMEOUT * 20))
    while ! { grep -qE '^\[ MCU-END  \] exit [0-9]+$' "$3" &&
              [ -z "$(tail -c1 "$3")" ]; }; do
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        if [ $waited -ge $limit ]; then
            echo "[  ERROR   ] timeout after ${TIMEOUT}s" >>"$3"; break
        fi
        sleep $step; waited=$((waited + 1))
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -qE '^\[ MCU-END  \] exit 0$' "$3"
}

# run_target TARGET: runs every test binary, prints the target's summary
run_target() {
    local t=$1 elf log p f pass=0 fail=0 bad=0
    for elf in "$CROSS/$t"/unit/test_*.elf; do
        log="${elf%.elf}.log"
        run_elf "$t" "$elf" "$log"; local rc=$?
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed.*/\1/p' "$log" | tail -1)
        pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
        if [ $rc -ne 0 ]; then
            bad=$((bad + 1))
            [ -z "$f" ] && fail=$((fail + 1)) # crashed or hung: count it
            echo "--- mcu-$t: $(basename "$elf" .elf) failed, log $log:"
            grep -E 'error:|FAILED|ERROR' "$log" | head -40
        fi
        echo "mcu-$t $(basename "$elf" .elf): ${p:-0} passed, ${f:-0} failed"
    done
    echo "mcu-$t: $pass passed, $fail failed"
    [ $fail -eq 0 ] && [ $bad -eq 0 ]
}

# the targets at once; each prints its lines in one block at the end
outs=(); pids=()
for t in arm rv32 xtensa; do
    out=$(mktemp); outs+=("$out")
    run_target "$t" >"$out" 2>&1 &
    pids+=($!)
done
rc=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || rc=1
    cat "${outs[$i]}"; rm -f "${outs[$i]}"
done
exit $rc

#!/usr/bin/env bash
# make check step "lwip-board-knobs": the lwIP step (lwip.sh) again, with
# llmc and its tools built with the MCU-sized defaults (make MCU_KNOBS=1,
# as the board-knobs step does) over Debian's lwIP on a TAP device: the
# closest thing to a board that runs here, 4 requests at once, 2 KB
# receive and event buffers, on lwIP's sockets.
# Leaves out the tests listed in scripts/board-knobs-leave-out.
# Builds in $BUILD/board-knobs/lwip. Last line:
# "lwip-board-knobs: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
MCU_KNOBS=1 BUILD="${BUILD:-build}/board-knobs" STEP=lwip-board-knobs \
    exec bash scripts/check.d/lwip.sh \
    --leave-out-file scripts/board-knobs-leave-out

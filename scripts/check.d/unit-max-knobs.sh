#!/usr/bin/env bash
# make check step "unit-max-knobs": the unit tests with every int knob of
# the root Kconfig at the highest value its range allows (32 providers,
# 64 attempts a result, 1 KB messages, the largest buffers and queue...),
# as unit-min-knobs.sh runs them at the lowest. Builds in
# $BUILD/max-knobs. Last line: "unit-max-knobs: N passed, M failed".
KNOBS_END=highest exec bash "$(dirname "$0")/unit-min-knobs.sh"

#!/usr/bin/env python3
"""Every int knob of the root Kconfig at one end of its range.

Usage: scripts/kconfig_ends.py lowest|highest OUT
writes OUT, a .config with each int knob that has a range at that end and
every other symbol at its default. make check's unit-min-knobs step
builds with the lowest; test_library compiles both ends.
"""
import sys

import kconfiglib  # python3-kconfiglib, as `make menuconfig` uses


def at_end(kconfig, end):
    """(kc, {symbol: value}): the Kconfig file `kconfig` read with each int
    symbol that has a range set to its lowest (end 0) or highest (end 1)."""
    kc = kconfiglib.Kconfig(kconfig, warn=False)
    values = {}
    # in order: a range may name an earlier knob (LLMC_CONNS from LLMC_SLOTS)
    for s in kc.unique_defined_syms:
        if s.type == kconfiglib.INT and s.ranges:
            values[s.name] = s.ranges[0][end].str_value
            s.set_value(values[s.name])
    return kc, values


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("lowest", "highest"):
        sys.exit(__doc__.strip().splitlines()[2])
    kc, values = at_end("Kconfig", ("lowest", "highest").index(sys.argv[1]))
    for name, v in values.items():
        if kc.syms[name].str_value != v:
            sys.exit("%s: Kconfig did not take %s" % (name, v))
    kc.write_config(sys.argv[2])


if __name__ == "__main__":
    main()

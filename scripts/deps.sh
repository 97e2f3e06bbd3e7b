#!/usr/bin/env bash
# Install the Debian packages llmc's build, tests and tools need, if any is
# missing. Needs root (or sudo) for apt-get; does nothing when all are there.
set -euo pipefail
want=(gcc make pkg-config libmbedtls-dev libjsmn-dev libcmocka-dev
      python3 python3-kconfiglib openssl curl nginx valgrind
      clang libclang-rt-14-dev iproute2 time ca-certificates)
for extra in "$@"; do want+=("$extra"); done
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

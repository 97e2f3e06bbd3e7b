#!/usr/bin/env bash
# make bench: the receive path's cost in instructions per received byte.
# The real client (libllmc.a, -O2) reads an OpenAI-shaped stream of 10,000
# events of 260..320 bytes from a local replay server, under callgrind.
# A run with a 1-event stream is subtracted, so start-up, connect and the
# request itself do not count: what remains is socket reads, HTTP chunked
# decoding, SSE framing, JSON, unescaping and the callback, per byte.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench; mkdir -p $B
PY=/usr/bin/python3
make -s build/bench-recv
. scripts/lib-servers.sh

measure() { # N -> prints "bytes instructions"
    local n=$1
    local total; total=$($PY tests/bench/gen_stream.py "$n" $B/s$n.http $B/s$n.content)
    local want; want=$($PY -c '
import sys
h = 2166136261
d = open(sys.argv[1], "rb").read()
for b in d: h = ((h ^ b) * 16777619) & 0xffffffff
print(len(d), "%08x" % h)' $B/s$n.content)
    rm -f $B/port.$n
    $PY tests/bench/replay_server.py $B/s$n.http $B/port.$n &
    pids+=($!)
    local port
    port=$(port_of $B/port.$n) || { echo "bench: replay server did not start" >&2; exit 1; }
    local got
    got=$(valgrind --tool=callgrind --callgrind-out-file=$B/cg.$n.out \
          build/bench-recv "http://127.0.0.1:$port/v1" 2>$B/cg.$n.log)
    if [ "$got" != "$want" ]; then
        echo "bench: wrong content for N=$n: got '$got', want '$want'" >&2; exit 1
    fi
    local ir; ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' $B/cg.$n.log)
    echo "$total $ir"
}

measure 1 > $B/m1; read -r b1 i1 < $B/m1
measure 10000 > $B/mn; read -r bn in < $B/mn
echo "receive path: 10,000 OpenAI-shaped events (260..320 B), $((bn - b1)) bytes"
echo "  instructions: $((in - i1)) (whole run $in, 1-event run $i1)"
awk -v i=$((in - i1)) -v b=$((bn - b1)) 'BEGIN { printf "  instructions per received byte: %.2f (target <= 10)\n", i / b }'
echo "  heaviest functions (whole run):"
callgrind_annotate $B/cg.10000.out 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '3,12p' | sed 's/^/    /'

[ -n "${BENCH_RECV_ONLY:-}" ] || bash scripts/bench-concurrent.sh
[ -n "${BENCH_RECV_ONLY:-}" ] || bash scripts/bench-tls-heap.sh

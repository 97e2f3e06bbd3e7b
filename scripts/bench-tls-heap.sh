#!/usr/bin/env bash
# make bench, TLS part: the peak of mbedTLS's heap. llmc allocates nothing;
# mbedTLS allocates its record buffers, handshake state and parsed
# certificates on its own heap (or its static pool, with
# MBEDTLS_MEMORY_BUFFER_ALLOC_C). The plain llmc-chat and llmc-check run
# under valgrind's massif against the local test server over https; a
# plain-http run of the same tool is subtracted (stdio's buffer), so what
# is left is mbedTLS's. Each figure is the peak of one run; ECDHE's random
# numbers move it by a few hundred bytes from run to run. Idle
# connections stay pooled until the client shuts down, so the tools'
# peaks hold every connection they opened, with its buffers.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench/tls; rm -rf $B; mkdir -p $B
PY=/usr/bin/python3
CERTS=build/test-certs
bash scripts/deps.sh valgrind
sh scripts/gen-test-certs.sh $CERTS
make -s all

. scripts/lib-servers.sh
fail() { echo "bench-tls-heap: FAIL: $*" >&2; exit 1; }

server() { # NAME [server options...]: starts one
    local name=$1; shift
    $PY tests/server/llmc_test_server.py --port 0 --port-file $B/$name.port \
        "$@" >/dev/null 2>&1 &
    pids+=($!)
}
server http
server https --tls-cert $CERTS/server.pem --tls-key $CERTS/server.key
HTTP="http://127.0.0.1:$(port_of $B/http.port)/v1" || fail "http test server did not start"
HTTPS="https://localhost:$(port_of $B/https.port)/v1" || fail "https test server did not start"

massif() { # COMMAND... -> runs it (stdout to $B/out), prints its peak heap
    valgrind --tool=massif --massif-out-file=$B/massif.out "$@" \
        >$B/out 2>$B/err || fail "$* failed: $(tail -2 $B/err)"
    sed -n 's/^mem_heap_B=//p' $B/massif.out | sort -n | tail -1
}

peak() { # EXPECTED-STDOUT-BYTES COMMAND... -> prints the peak heap in bytes
    local want=$1 p; shift
    p=$(massif "$@") || exit 1
    [ "$(wc -c <$B/out)" = "$want" ] || fail "$*: $(wc -c <$B/out) bytes out, want $want"
    echo "$p"
}

# a config for llmc-check: N providers on URL, trusting CA
config() { # FILE N URL CA
    $PY - "$@" <<'PY'
import json, sys
f, n, url, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
json.dump({"providers": [{"name": "p%d" % i, "base_url": url, "api_key": "k",
                          "model": "t"} for i in range(n)], "ca_file": ca},
          open(f, "w"))
PY
}

chat=(build/llmc-chat --api-key k)
ca=(--ca-file $CERTS/ca.pem)
cat /etc/ssl/certs/ca-certificates.crt $CERTS/ca.pem > $B/bundle.pem
n_bundle=$(grep -c 'BEGIN CERTIFICATE' $B/bundle.pem)
big=1048576

base=$(peak 10 "${chat[@]}" --base-url "$HTTP" -m 't?size=10' x)
one=$(peak 10 "${chat[@]}" --base-url "$HTTPS" "${ca[@]}" -m 't?size=10' x)
one_big=$(peak $big "${chat[@]}" --base-url "$HTTPS" "${ca[@]}" \
          -m "t?size=$big&piece=64" x)
bundle=$(peak 10 "${chat[@]}" --base-url "$HTTPS" --ca-file $B/bundle.pem \
         -m 't?size=10' x)
config $B/check1-http.json 1 "$HTTP" $CERTS/ca.pem
config $B/check1.json 1 "$HTTPS" $CERTS/ca.pem
config $B/check4.json 4 "$HTTPS" $CERTS/ca.pem
# llmc-check's output holds times; only its length is checked
check() { # CONFIG N
    local p
    p=$(massif build/llmc-check -c "$1") || exit 1
    [ "$(grep -c 'Hello, are you GPT 3.5?' $B/out)" = "$2" ] ||
        fail "llmc-check -c $1: $(cat $B/out)"
    echo "$p"
}
cbase=$(check $B/check1-http.json 1)
c1=$(check $B/check1.json 1)
c4=$(check $B/check4.json 4)

row() { # LABEL BYTES
    awk -v l="$1" -v b="$2" 'BEGIN { printf "  %-52s %6.1f KB\n", l, b / 1024 }'
}
{
echo "mbedTLS heap, peak (valgrind massif; Debian's mbedTLS $(dpkg-query -W -f '${Version}' libmbedtls-dev 2>/dev/null || echo '?'),"
echo "16 KB record buffers each way; the test server's ECDSA P-256 certificate)"
echo "  subtracted, the tools over plain http: $base B (llmc-chat), $cbase B (llmc-check)"
row "one https request, the test CA only" $((one - base))
row "the same, a 1 MiB answer" $((one_big - base))
row "one https request, Debian's CA bundle ($n_bundle certs)" $((bundle - base))
row "llmc-check, 1 https provider" $((c1 - cbase))
row "llmc-check, 4 https providers at once" $((c4 - cbase))
row "each TLS connection beyond the first" $(((c4 - c1) / 3))
} | tee build/bench/tls-heap.txt

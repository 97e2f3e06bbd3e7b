#!/usr/bin/env bash
# make check step "lwip": the lwIP port (port/lwip) built against Debian's
# liblwip and run for real. build/lwip/llmc-chat, llmc-seq and llmc-multi
# (make lwip) carry their own lwIP stack, which tests/lwip/lwip_boot.c
# attaches to a TAP device before main(). This script makes a network
# namespace with that TAP device in it (host side 192.0.2.1/24, lwIP
# 192.0.2.2; TEST-NET-1 addresses, used only inside the namespace), runs the
# integration suite's servers and tools inside it with LLMC_TEST_HOST set to
# the host side, and removes everything on exit.
#
# Needs root and /dev/net/tun; without them the step fails (it never skips).
# Builds in $BUILD (default build). Arguments are passed on to
# tests/integration/run.py (lwip-board-knobs.sh passes --leave-out-file).
# Last line: "$STEP: N passed, M failed" (STEP default lwip).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
STEP=${STEP:-lwip}
LB=$(realpath -m "$BUILD/lwip")
PY=/usr/bin/python3
NS=llmc-lwip-$$
TAP=llmctap0
HOST_IP=192.0.2.1
LWIP_IP=192.0.2.2

fail() {
    echo "$STEP: $*" >&2
    echo "$STEP: 0 passed, 1 failed"
    exit 1
}

# Tests that run over lwIP: the chat, keep-alive, failover and concurrency
# suites, and the raw answers (closes and resets after [DONE]). Left out, and why:
#  - test_library.MemoryTests: they measure the heap and RSS of the plain
#    (non-sanitizer) loopback llmc-chat under valgrind, which says nothing
#    about the port; the lwIP tools are sanitizer builds.
#  - test_failover.SyncConnectTests and IamCompiledOutTests: they test two
#    llmc-chat variants built over the POSIX port.
#  - test_gateway: llmc-gateway is a Linux server built over the POSIX port;
#    its requests go through the same engine the suites above test.
TESTS=(test_chat test_library.KeepAliveTests
       test_failover.FailoverTests test_failover.CooldownTests
       test_failover.SecretTests test_failover.IamTests
       test_concurrency test_raw_answers)

[ "$(id -u)" -eq 0 ] || fail "needs root (network namespace and TAP device)"
[ -c /dev/net/tun ] || fail "needs /dev/net/tun (TAP devices)"
command -v ip >/dev/null 2>&1 || fail "needs ip (iproute2)"
bash scripts/deps.sh liblwip-dev || fail "cannot install liblwip-dev"
${MAKE:-make} -s lwip BUILD="$BUILD" || fail "build failed (make lwip)"
sh scripts/gen-test-certs.sh build/test-certs || fail "cannot make test certificates"

cleanup() {
    local pids
    pids=$(ip netns pids "$NS" 2>/dev/null)
    [ -n "$pids" ] && kill $pids 2>/dev/null
    ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM
nsx() { ip netns exec "$NS" "$@"; }

ip netns add "$NS" || fail "cannot create network namespace $NS"
nsx ip link set lo up &&
nsx ip tuntap add dev "$TAP" mode tap &&
# Debian's liblwip 2.1.3 allocates PBUF_POOL buffers of 592 bytes (memp.c)
# but fills them with up to 1536 (pbuf.c): a received frame longer than
# 592 bytes overflows the heap (AddressSanitizer shows it in tapif's
# thread). An MTU of 576 keeps every frame the host sends below that; TCP
# then uses 536-byte segments both ways.
nsx ip link set "$TAP" mtu 576 &&
nsx ip addr add "$HOST_IP/24" dev "$TAP" &&
nsx ip link set "$TAP" up ||
    fail "cannot set up $TAP in $NS"
# Each tool run is a fresh lwIP stack whose TCP initial sequence numbers
# start again from the same small value. Its local ports are random
# (lwip_boot.c seeds rand()), so a port pair recurs only by chance; if a
# server-side TIME_WAIT from an earlier run were still there, Linux would
# answer the new SYN with a stale ACK and the connect would wait for lwIP's
# 3 s SYN retransmission, enough to break a timing assertion. Hence no
# TIME_WAIT state in this namespace.
nsx sysctl -qw net.ipv4.tcp_max_tw_buckets=0 || fail "cannot set sysctl in $NS"

lwenv=(env PRECONFIGURED_TAPIF="$TAP" LLMC_LWIP_IP="$LWIP_IP"
       LLMC_LWIP_GW="$HOST_IP")
log=$(mktemp)
# the port's own checks, then the integration suite
timeout -k 5 60 ip netns exec "$NS" "${lwenv[@]}" \
    "$LB/test-port-lwip" "$HOST_IP" 2>&1 | tee "$log"
# the first connect of a boot whose local ports start at 0xFFFF: with
# glibc's rand(), seed 8069 makes lwIP's second LWIP_RAND() (tcp_init's,
# after udp_init's) 0x?FFF; the check says so if that ever changes
timeout -k 5 60 ip netns exec "$NS" "${lwenv[@]}" LLMC_LWIP_SEED=8069 \
    "$LB/test-port-lwip" "$HOST_IP" wrap 2>&1 | tee -a "$log"
timeout -k 10 300 ip netns exec "$NS" "${lwenv[@]}" \
    LLMC_TEST_HOST="$HOST_IP" LLMC_LISTEN_HOST="$LWIP_IP" \
    LLMC_CHAT="$LB/llmc-chat" LLMC_BUILD="$LB" \
    "$PY" tests/integration/run.py "$@" "${TESTS[@]}" 2>&1 | tee -a "$log"
passed=0
failed=0
for what in port port-wrap integration; do
    summary=$(grep -E "^$what: [0-9]+ passed, [0-9]+ failed\$" "$log" | tail -1)
    if [ -z "$summary" ]; then
        echo "$STEP: $what checks did not finish"
        failed=$((failed + 1))
        continue
    fi
    set -- $summary
    passed=$((passed + $2))
    failed=$((failed + $4))
done
rm -f "$log"
echo "$STEP: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

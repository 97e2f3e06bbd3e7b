#!/usr/bin/env bash
# make bench, concurrent part: 64 streamed requests at once on one thread,
# from one local replay server (the same process and the same bytes for
# every client), compared side by side in the same run:
#   llmc      build/bench-concurrent: 64 requests (one per slot), llmc_poll
#             until all are done; decodes every event, hashes the content
#   curl      curl --parallel --parallel-max 64: HTTP only, decodes no SSE
#             or JSON; once to /dev/null (byte counts checked) and once to
#             files (SHA-256 of every raw body checked)
#   aiohttp   tests/bench/bench_aiohttp.py on Debian's python3 + aiohttp:
#             decodes every event as JSON, hashes the content
# The server is tests/bench/replay_server.py: it sends each answer with one
# sendall, so its CPU per run stays far below every client's wall time (the
# table's "server s" column shows it for each client): it is not what is
# measured. Every run's output is checked before its figures count; a wrong
# answer fails the bench. Each client runs ROUNDS times, interleaved; the
# table shows medians. Figures also go to build/bench/concurrent.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench; mkdir -p $B
PY=/usr/bin/python3
N=64                                  # requests at once (LLMC_SLOTS)
EVENTS=${BENCH_EVENTS:-2000}          # content events per stream
ROUNDS=${BENCH_ROUNDS:-5}
OUT=$B/concurrent.txt

bash scripts/deps.sh python3-aiohttp strace
make -s build/bench-concurrent

. scripts/lib-servers.sh
fail() { echo "bench-concurrent: FAIL: $*" >&2; exit 1; }

# ---- the stream, what every client must make of it, the server ----------
$PY tests/bench/gen_stream.py "$EVENTS" $B/c.http $B/c.content >/dev/null
read -r CBYTES CFNV CSHA BBYTES BSHA CEV < <($PY tests/bench/bench_expect.py $B/c.http $B/c.content)
[ "$CEV" = "$EVENTS" ] || fail "stream has $CEV content events, want $EVENTS"

rm -f $B/cport
# SIGALRM ends the server after 170 s even if this script is killed.
$PY -c 'import runpy, signal, sys; signal.alarm(170); sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")' \
    tests/bench/replay_server.py $B/c.http $B/cport &
SPID=$!; pids+=($SPID)
PORT=$(port_of $B/cport) || fail "replay server did not start"
BASE="http://127.0.0.1:$PORT/v1"
URLS="$BASE/chat/completions?r=[1-$N]"
JSON='{"model":"bench","messages":[{"role":"user","content":"benchmark"}],"stream":true,"stream_options":{"include_usage":true}}'
CURL=(curl -sS --no-progress-meter --parallel --parallel-immediate
      --parallel-max $N --no-buffer --max-time 60
      -H 'Content-Type: application/json' -H 'Accept: text/event-stream'
      --data-binary "$JSON" -w '%{http_code} %{size_download}\n')

server_ticks() { awk '{ print $14 + $15 }' /proc/$SPID/stat; }

# ---- checks: what each client printed ------------------------------------
check_decoder() { # NAME OUTFILE HASH
    local ok ev by h mis secs
    read -r ok ev by h mis secs < "$2" || fail "$1: no output"
    [ "$ok" = "$N" ] || fail "$1: $ok of $N requests succeeded"
    [ "$ev" = "$((N * EVENTS))" ] || fail "$1: $ev events, want $((N * EVENTS))"
    [ "$by" = "$((N * CBYTES))" ] || fail "$1: $by content bytes, want $((N * CBYTES))"
    [ "$h" = "$3" ] || fail "$1: content hash $h, want $3"
    [ "$mis" = "0" ] || fail "$1: $mis requests' content differs from request 0's"
}
check_curl() { # NAME OUTFILE [DIR]
    local lines
    lines=$(sort "$2" | uniq -c | awk '{ print $1, $2, $3 }')
    [ "$lines" = "$N 200 $BBYTES" ] ||
        fail "$1: want $N x '200 $BBYTES', got: $(echo $lines)"
    if [ $# -ge 3 ]; then
        local sums
        sums=$(cat "$3"/r* | wc -c)
        [ "$sums" = "$((N * BBYTES))" ] || fail "$1: files hold $sums bytes"
        sums=$(sha256sum "$3"/r* | awk '{ print $1 }' | sort | uniq -c | awk '{ print $1, $2 }')
        [ "$sums" = "$N $BSHA" ] || fail "$1: raw bodies' SHA-256: $(echo $sums), want $N x $BSHA"
    fi
}

# ---- one timed run: RUNS gets "client wall cpu rss_kb server_cpu user sys" 
RUNS=$B/concurrent.runs; : > $RUNS
run() { # NAME CHECK... -- COMMAND...
    local name=$1; shift
    local check=(); while [ "$1" != "--" ]; do check+=("$1"); shift; done; shift
    local s0 s1 t0 t1 rc=0
    s0=$(server_ticks); t0=$(date +%s%N)
    /usr/bin/time -f '%U %S %M' -o $B/c.time "$@" > $B/c.out 2> $B/c.err || rc=$?
    t1=$(date +%s%N); s1=$(server_ticks)
    [ $rc -eq 0 ] || { cat $B/c.err >&2; fail "$name: exit status $rc"; }
    "${check[@]}"
    local u s m; read -r u s m < <(tail -1 $B/c.time)
    awk -v n="$name" -v w=$(( (t1 - t0) / 1000 )) -v u="$u" -v s="$s" -v m="$m" \
        -v sv=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%s %.4f %.2f %d %.2f %.2f %.2f\n", n, w / 1e6, u + s, m, sv / hz, u, s }' >> $RUNS
}

echo "concurrent: $N streamed requests at once on one thread, $EVENTS events each" \
     "($((N * EVENTS)) events, $((N * BBYTES)) body bytes), $ROUNDS rounds, medians" | tee $OUT
for r in $(seq "$ROUNDS"); do
    run llmc check_decoder llmc $B/c.out "$CFNV" -- build/bench-concurrent "$BASE" $N
    run curl check_curl curl $B/c.out -- "${CURL[@]}" -o /dev/null "$URLS"
    rm -rf $B/curl-out; mkdir -p $B/curl-out
    run curl-files check_curl curl-files $B/c.out $B/curl-out -- \
        "${CURL[@]}" -o "$B/curl-out/r#1" "$URLS"
    run aiohttp check_decoder aiohttp $B/c.out "$CSHA" -- $PY tests/bench/bench_aiohttp.py "$BASE" $N
done
rm -rf $B/curl-out

# ---- where llmc's user-space instructions go (callgrind, same server) ------
valgrind --tool=callgrind --callgrind-out-file=$B/cg.conc.out \
    build/bench-concurrent "$BASE" $N > $B/c.out 2> $B/cg.conc.log
check_decoder "llmc under callgrind" $B/c.out "$CFNV"
IR=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' $B/cg.conc.log)
callgrind_annotate $B/cg.conc.out 2>/dev/null | sed -n '/^Ir/,$p' > $B/cg.conc.txt

# ---- syscalls (strace -c, untimed) ------------------------------------------
strace -f -c -o $B/strace.llmc build/bench-concurrent "$BASE" $N > $B/c.out 2>/dev/null
check_decoder "llmc under strace" $B/c.out "$CFNV"
strace -f -c -o $B/strace.curl "${CURL[@]}" -o /dev/null "$URLS" > $B/c.out 2>/dev/null
check_curl "curl under strace" $B/c.out

$PY - "$RUNS" "$N" "$EVENTS" "$BBYTES" "$IR" $B/cg.conc.txt \
      $B/strace.llmc $B/strace.curl <<'EOF' | tee -a $OUT
import re, statistics, sys
runs, n, events, bbytes, ir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cg, st_llmc, st_curl = sys.argv[6], sys.argv[7], sys.argv[8]
order = ["llmc", "curl", "curl-files", "aiohttp"]
label = {"llmc": "llmc (bench-concurrent)", "curl": "curl --parallel > /dev/null",
         "curl-files": "curl --parallel > 64 files", "aiohttp": "python3 aiohttp"}
rows = {}
for line in open(runs):
    name, wall, cpu, rss, srv, usr, sy = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu), int(rss), float(srv),
                                      float(usr), float(sy)))
med = {k: [statistics.median(x[i] for x in v) for i in range(6)] for k, v in rows.items()}
total_ev = n * events
L = med["llmc"]
def q(a, b):
    # a run too short for the 10 ms CPU clock measures 0 s: no ratio
    return a / b if b > 0 else float("inf")
print("%-28s %10s %7s %7s %11s %9s %8s %8s %8s" % ("client", "events/s", "wall s", "CPU s",
      "(user+sys)", "peak RSS", "CPU/llmc", "RSS/llmc", "server s"))
for k in order:
    w, c, r, s, us, sy = med[k]
    print("%-28s %10.0f %7.3f %7.3f %11s %6.1f MB %7.2fx %7.2fx %8.2f" % (label[k], total_ev / w,
          w, c, "(%.2f+%.2f)" % (us, sy), r / 1024, q(c, L[1]), q(r, L[2]), s))
print("  events/s: %d content events / the client process's wall time (start-up included);"
      % total_ev)
print("  CPU s: user+sys of the client process (getrusage via /usr/bin/time), each column's median")
print("  on its own; server s: the replay server's CPU during the run (it is not the bottleneck")
print("  when it stays well below the client's wall time).")
print("  curl decodes HTTP only; llmc and aiohttp decode every SSE event's JSON and check the content.")
print("targets:")
def verdict(ok, text):
    print("  %-4s %s" % ("met" if ok else "MISS", text))
c_curl = med["curl"][1]
verdict(L[1] <= c_curl, "llmc CPU <= curl's (to /dev/null): %.3f s vs %.3f s, llmc/curl = %.2fx"
        % (L[1], c_curl, q(L[1], c_curl)))
verdict(L[1] <= med["curl-files"][1], "llmc CPU <= curl's (to files): %.3f s vs %.3f s, llmc/curl = %.2fx"
        % (L[1], med["curl-files"][1], q(L[1], med["curl-files"][1])))
a = med["aiohttp"]
verdict(a[1] >= 10 * L[1], "llmc CPU >= 10x below aiohttp's: %.1fx" % q(a[1], L[1]))
verdict(a[2] >= 10 * L[2], "llmc RSS >= 10x below aiohttp's: %.1fx" % q(a[2], L[2]))

print("llmc under callgrind (user space only): %d instructions, %.2f per body byte, %.0f per event"
      % (ir, ir / (n * bbytes), ir / total_ev))
groups = {}
top = []
for line in open(cg):
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+?):(\S+)", line)
    if not m or "PROGRAM TOTALS" in line:
        continue
    cnt, path, fn = int(m.group(1).replace(",", "")), m.group(2), m.group(3)
    if len(top) < 8:
        top.append((cnt, path.split("/")[-1] + ":" + fn))
    if "llmc_json" in path:
        g = "JSON (llmc_json)"
    elif "llmc_sse" in path:
        g = "SSE framing (llmc_sse)"
    elif "llmc_http" in path:
        g = "HTTP head + chunked (llmc_http)"
    elif "llmc_client" in path or "llmc_conn" in path or "port" in path:
        g = "poll loop, slots, conns, port"
    elif "bench_concurrent" in path:
        g = "the bench's on_delta (FNV-1a)"
    elif "libc" in path or "sysdeps" in path or "string" in path:
        g = "libc (memchr, memcpy, syscall stubs)"
    else:
        g = "other (start-up, loader)"
    groups[g] = groups.get(g, 0) + cnt
print("  by part:")
for g, cnt in sorted(groups.items(), key=lambda x: -x[1]):
    print("    %5.1f%%  %6.2f/byte  %s" % (100 * cnt / ir, cnt / (n * bbytes), g))
print("  heaviest functions:")
for cnt, fn in top:
    print("    %5.1f%%  %s" % (100 * cnt / ir, fn))
def sysc(path):
    d = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[-1] not in ("syscall", "total") and f[0][0].isdigit():
            calls = int(f[3]) if len(f) >= 5 and f[3].isdigit() else None
            if calls is not None:
                d[f[-1]] = calls
    return d
for name, path in (("llmc", st_llmc), ("curl", st_curl)):
    d = sysc(path)
    tot = sum(d.values())
    big = ", ".join("%s %d" % kv for kv in sorted(d.items(), key=lambda x: -x[1])[:4])
    print("syscalls, %s: %d (%s)" % (name, tot, big))
EOF

#!/usr/bin/env bash
# make demo: three bundled local providers — one down, one flaky, one good —
# and llmc-chat streaming an answer through them with failover and retry.
set -euo pipefail
cd "$(dirname "$0")/.."
D=build/demo; mkdir -p $D
PY=/usr/bin/python3
. scripts/lib-servers.sh

# name scenario: a test server in the background. Not called in $(...):
# its pid must reach this shell's pids, or the exit trap leaves it running
start() {
    rm -f $D/$1.port
    $PY tests/server/llmc_test_server.py --port 0 --port-file $D/$1.port \
        --scenario "$2" >$D/$1.log 2>&1 &
    pids+=($!)
}

ANSWER="Yes: I am a bundled local provider. llmc reached me after the first provider refused the connection and the second kept failing, and it is streaming this answer to you token by token from fixed memory."
start flaky "status=503&msg=overloaded, try again"
start good "event_delay_ms=40&piece=3&text=$ANSWER"
flaky=$(port_of $D/flaky.port) || { echo "demo: a test server did not start" >&2; exit 1; }
good=$(port_of $D/good.port) || { echo "demo: a test server did not start" >&2; exit 1; }
down=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat > $D/providers.json <<JSON
{
  "providers": [
    {"name": "down",  "base_url": "http://127.0.0.1:$down/v1",  "api_key": "sk-demo-down",  "model": "demo"},
    {"name": "flaky", "base_url": "http://127.0.0.1:$flaky/v1", "api_key": "sk-demo-flaky", "model": "demo"},
    {"name": "good",  "base_url": "http://127.0.0.1:$good/v1",  "api_key": "sk-demo-good",  "model": "demo"}
  ],
  "policy": {"max_retries": 1, "backoff_base_ms": 200, "backoff_max_ms": 1000}
}
JSON
echo "demo: providers in $D/providers.json (down :$down, flaky :$flaky, good :$good)" >&2
echo "demo: build/llmc-chat -v -c $D/providers.json \"Hello, are you GPT 3.5?\"" >&2
echo >&2
build/llmc-chat -v -c $D/providers.json "Hello, are you GPT 3.5?"
echo

#!/usr/bin/env python3
"""make soak: a wrk load (SOAK_SECONDS, default 30) against llmc-gateway's
POST /v1/chat/completions (not streamed), in front of two local providers,
the first of which refuses connections. tests/gateway/wrk_chat.lua checks
every answer (status 200, exact content); any bad answer or socket error
fails the run. Ends with the gateway's SIGTERM exit, which must be 0.
"""

import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import TEST_HOST, Server, refused_port  # noqa: E402
from test_gateway import Gateway  # noqa: E402


def main():
    seconds = int(os.environ.get("SOAK_SECONDS", "30"))
    conns = int(os.environ.get("SOAK_CONNECTIONS", "32"))
    gw_bin = os.environ.get("LLMC_GATEWAY")
    if gw_bin:
        os.environ["LLMC_BUILD"] = os.path.dirname(gw_bin)
        import test_gateway
        test_gateway.GATEWAY = gw_bin
    srv = Server().start()
    gw = Gateway([
        {"name": "down", "base_url": "http://%s:%d/v1" % (TEST_HOST,
                                                         refused_port())},
        {"name": "good", "base_url": srv.url},
    ], policy={"max_retries": 0, "cooldown_after": 1,
               "cooldown_ms": 1000}).start()
    ok = False
    try:
        cmd = ["wrk", "-t", "2", "-c", str(conns), "-d", "%ds" % seconds,
               "--timeout", "10s", "-s", os.path.join(HERE, "wrk_chat.lua"),
               gw.base + "/v1/chat/completions"]
        print("soak: " + " ".join(cmd), flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=seconds + 60)
        out = p.stdout.decode("utf-8", "replace")
        sys.stdout.write(out)
        m = re.search(r"soak: requests=(\d+) good=(\d+) bad=(\d+) connect=(\d+)"
                      r" read=(\d+) write=(\d+) status=(\d+) timeout=(\d+)",
                      out)
        if p.returncode != 0 or m is None:
            print("soak: FAILED: wrk exit %d" % p.returncode)
        else:
            req, good, bad = int(m.group(1)), int(m.group(2)), int(m.group(3))
            errors = sum(int(m.group(i)) for i in range(4, 9))
            ok = good > 0 and bad == 0 and errors == 0 and req == good
            print("soak: %s: %d requests in %d s, %d complete and correct, "
                  "%d bad, %d socket errors"
                  % ("ok" if ok else "FAILED", req, seconds, good, bad, errors))
    finally:
        rc = gw.stop()
        err = gw.stderr()
        gw.cleanup()
        srv.stop()
        if rc != 0:
            print("soak: FAILED: gateway exit %s\n%s" % (rc, err))
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

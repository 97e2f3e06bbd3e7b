#!/usr/bin/python3
"""The Python asyncio counterpart of bench-concurrent: POST N streamed chat
requests at once with aiohttp, decode the SSE events (each `data:` line as
JSON, concatenating choices[0].delta.content) and hash each request's
content (SHA-256).
    bench_aiohttp.py BASE_URL N
Prints one line, as bench-concurrent does:
    OK EVENTS BYTES SHA256 MISMATCHED SECONDS
OK: requests with status 200 that ended with [DONE]; EVENTS: content events;
BYTES: content bytes (UTF-8); SHA256: of request 0's content; MISMATCHED:
requests whose bytes or hash differ from request 0's; SECONDS: first POST to
last end. Exit status 0 when every request succeeded."""
import asyncio
import hashlib
import json
import sys
import time

import aiohttp

BODY = (b'{"model":"bench","messages":[{"role":"user","content":"benchmark"}],'
        b'"stream":true,"stream_options":{"include_usage":true}}')
HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


async def one(session, url):
    parts, events, done = [], 0, False
    async with session.post(url, data=BODY, headers=HEADERS) as resp:
        if resp.status != 200:
            return False, 0, b""
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                break
            obj = json.loads(payload)
            choices = obj.get("choices")
            if choices:
                text = (choices[0].get("delta") or {}).get("content")
                if text:
                    parts.append(text)
                    events += 1
    return done, events, "".join(parts).encode()


async def main(base, n):
    url = base.rstrip("/") + "/chat/completions"
    timeout = aiohttp.ClientTimeout(total=60)
    conn = aiohttp.TCPConnector(limit=n)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        t0 = time.monotonic()
        res = await asyncio.gather(*(one(s, url) for _ in range(n)),
                                   return_exceptions=True)
        t1 = time.monotonic()
    ok = events = nbytes = mismatched = 0
    first = None
    for r in res:
        if isinstance(r, BaseException):
            print("bench_aiohttp:", repr(r), file=sys.stderr)
            mismatched += 1
            continue
        done, ev, content = r
        ok += done
        events += ev
        nbytes += len(content)
        digest = (len(content), hashlib.sha256(content).hexdigest())
        if first is None:
            first = digest
        elif digest != first:
            mismatched += 1
    print(ok, events, nbytes, first[1] if first else "-", mismatched,
          "%.6f" % (t1 - t0))
    return 0 if ok == n else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: bench_aiohttp.py BASE_URL N")
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))

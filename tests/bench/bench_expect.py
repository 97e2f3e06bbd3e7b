#!/usr/bin/python3
"""What every benchmark client must produce for one stream written by
gen_stream.py, computed once before any client runs:
    bench_expect.py OUT.http OUT.content
prints
    CONTENT_BYTES FNV1A32 CONTENT_SHA256 BODY_BYTES BODY_SHA256 EVENTS
CONTENT_*: the decoded answer (llmc hashes it with FNV-1a, the aiohttp client
with SHA-256); BODY_*: the raw response body after HTTP chunked decoding,
which is what curl writes; EVENTS: the content events in the stream."""
import hashlib
import json
import sys

http = open(sys.argv[1], "rb").read()
content = open(sys.argv[2], "rb").read()

head, rest = http.split(b"\r\n\r\n", 1)
body = bytearray()
while True:
    size_line, rest = rest.split(b"\r\n", 1)
    size = int(size_line.split(b";")[0], 16)
    if size == 0:
        break
    body += rest[:size]
    if rest[size:size + 2] != b"\r\n":
        sys.exit("bench_expect: bad chunk framing")
    rest = rest[size + 2:]

events, text = 0, []
for line in bytes(body).split(b"\n"):
    if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
        continue
    ch = json.loads(line[5:]).get("choices") or [{}]
    c = (ch[0].get("delta") or {}).get("content")
    if c:
        events += 1
        text.append(c)
if "".join(text).encode() != content:
    sys.exit("bench_expect: the stream's events do not give its content")

h = 2166136261
for b in content:
    h = ((h ^ b) * 16777619) & 0xffffffff
print(len(content), "%08x" % h, hashlib.sha256(content).hexdigest(),
      len(body), hashlib.sha256(body).hexdigest(), events)

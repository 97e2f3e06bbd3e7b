#!/usr/bin/env python3
"""Write an OpenAI-shaped chat.completion.chunk stream: N content events of
260..320 bytes each (deterministic), as an HTTP/1.1 chunked response, one
event per chunk as OpenAI sends them. Also writes the expected content.
    gen_stream.py N OUT.http OUT.content"""
import json
import random
import sys

n, out_http, out_content = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(42)
words = ("the quick brown fox jumps over a lazy dog while llmc streams "
         "tokens to small boards, Привет, 你好, café, \"quoted\", tab\t "
         "newline\n emoji 🎉").split(" ")


def event(obj):
    return "data: " + json.dumps(obj, separators=(",", ":"),
                                 ensure_ascii=False) + "\n\n"


def pad():
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGH0123456789")
                   for _ in range(rng.randint(1, 12)))


def chunk(obj, content, pad):
    # as OpenAI sends them, with "obfuscation": a random string of random
    # length, so no two chunks are the same bytes outside the content either
    return {"id": "chatcmpl-AbCdEf0123456789XyZ", "object":
            "chat.completion.chunk", "created": 1732234567,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{"index": 0, "delta": content, "logprobs": None,
                         "finish_reason": obj}],
            "obfuscation": pad}


body, content = [], []
body.append(event(chunk(None, {"role": "assistant", "content": ""}, pad())))
for i in range(n):
    target = rng.randint(260, 320)
    text, p = "", pad()
    ev = event(chunk(None, {"content": text}, p))
    while len(ev.encode()) < target or not text.strip():
        text += rng.choice(words) + " "
        ev = event(chunk(None, {"content": text}, p))
    while len(ev.encode()) > target and len(text) > 1:
        text = text[:-1]
        ev = event(chunk(None, {"content": text}, p))
    body.append(ev)
    content.append(text)
body.append(event(chunk("stop", {}, pad())))
body.append("data: [DONE]\n\n")

resp = bytearray(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
for ev in body:
    b = ev.encode()
    resp += b"%x\r\n" % len(b) + b + b"\r\n"
resp += b"0\r\n\r\n"
open(out_http, "wb").write(resp)
open(out_content, "wb").write("".join(content).encode())
print(len(resp))

#!/usr/bin/env python3
"""Self-test of llmc_test_server.py using an independent reference client.

Run: python3 tests/server/test_llmc_test_server.py [-v]

The reference client implements HTTP/1.1 response framing and the WHATWG
event-stream parsing rules, so these tests check that every scenario option
produces a well-formed (or deliberately broken) response as documented.
"""

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402


# ---------------------------------------------------------------------------
# Reference client

class Response:
    def __init__(self):
        self.status = None
        self.reason = ""
        self.headers = {}
        self.header_list = []
        self.body = b""
        self.reads = 0
        self.error = None       # exception raised while reading the body
        self.closed = False     # server closed the connection afterwards


_contexts = {}


def client_context(ca):
    """One TLS 1.2 client context per CA file (sessions are per context)."""
    if ca not in _contexts:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        _contexts[ca] = ctx
    return _contexts[ca]


def token_request(c, secret="sec"):
    """POST an IAM token request for key id "kid" on client c."""
    return c.request("POST", "/api/v1/auth/token",
                     {"keyId": "kid", "secret": secret})


class Client:
    def __init__(self, port, tls_ca=None, host="127.0.0.1", timeout=10.0,
                 server_hostname="localhost", session=None):
        self.port = port
        self.tls_ca = tls_ca
        self.host = host
        self.timeout = timeout
        self.server_hostname = server_hostname
        self.session = session
        self.sock = None
        self.buf = b""
        self.reads = 0

    def connect(self):
        s = socket.create_connection((self.host, self.port),
                                     timeout=self.timeout)
        if self.tls_ca:
            ctx = client_context(self.tls_ca)
            s = ctx.wrap_socket(s, server_hostname=self.server_hostname,
                                session=self.session)
        self.sock = s
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _recv(self):
        data = self.sock.recv(65536)
        self.reads += 1
        return data

    def _fill(self):
        data = self._recv()
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self, method, path, body=None, headers=None, raw_body=None):
        if self.sock is None:
            self.connect()
        if raw_body is not None:
            data = raw_body
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        else:
            data = b""
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            lines.append("%s: %s" % (k, v))
        lines.append("Content-Length: %d" % len(data))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        return self.read_response(method)

    def read_response(self, method="POST"):
        r = Response()
        start_reads = self.reads
        status = self._line()
        while status == b"":
            status = self._line()
        parts = status.decode("latin-1").split(" ", 2)
        r.status = int(parts[1])
        r.reason = parts[2] if len(parts) > 2 else ""
        while True:
            line = self._line()
            if not line:
                break
            k, v = line.decode("latin-1").split(":", 1)
            r.header_list.append((k, v.strip()))
            r.headers[k.lower()] = v.strip()
        te = r.headers.get("transfer-encoding", "").lower()
        try:
            if "chunked" in te:
                out = []
                while True:
                    size = int(self._line().split(b";")[0], 16)
                    if size == 0:
                        while self._line():
                            pass
                        break
                    out.append(self._exact(size))
                    if self._exact(2) != b"\r\n":
                        raise ValueError("bad chunk terminator")
                r.body = b"".join(out)
            elif "content-length" in r.headers:
                r.body = self._exact(int(r.headers["content-length"]))
            else:
                out = [self.buf]
                self.buf = b""
                while True:
                    d = self._recv()
                    if not d:
                        break
                    out.append(d)
                r.body = b"".join(out)
                r.closed = True
        except (EOFError, OSError, ValueError) as e:
            r.error = e
        r.reads = self.reads - start_reads
        if r.headers.get("connection", "").lower() == "close" and not r.closed:
            try:
                self.sock.settimeout(2)
                r.closed = self._recv() == b"" and not self.buf
            except OSError:
                r.closed = True
        if r.closed or r.error:
            self.close()
        return r


def sse_events(body):
    """Parse an event stream (bytes) per the WHATWG rules.

    Returns a list of (data, comments) where data is the joined data field
    of a dispatched event and comments are comment lines seen before it."""
    text = body.decode("utf-8")
    lines = []
    i = 0
    cur = []
    while i < len(text):
        ch = text[i]
        if ch == "\r":
            lines.append("".join(cur))
            cur = []
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
        elif ch == "\n":
            lines.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    trailing = "".join(cur)  # incomplete line, discarded per spec
    events = []
    data = []
    has_data = False
    comments = []
    for line in lines:
        if line == "":
            if has_data:
                events.append(("\n".join(data), comments))
                comments = []
            data = []
            has_data = False
            continue
        if line.startswith(":"):
            comments.append(line[1:])
            continue
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "data":
            data.append(value)
            has_data = True
    return events, trailing


def stream_content(events):
    """Reduce parsed events to (content, done, usage, error, chunks)."""
    content = []
    done = False
    usage = None
    error = None
    chunks = []
    for data, _ in events:
        if data == "[DONE]":
            done = True
            break
        obj = json.loads(data)
        chunks.append(obj)
        if "error" in obj:
            error = obj["error"]
            break
        if obj.get("usage"):
            usage = obj["usage"]
        for ch in obj.get("choices", []):
            c = ch.get("delta", {}).get("content")
            if isinstance(c, list):  # parts=1: the text parts
                c = "".join(p["text"] for p in c if p["type"] == "text")
            if c:
                content.append(c)
    return "".join(content), done, usage, error, chunks


def chat_body(prompt="hello world", model="m", stream=True, usage=True,
              system=None):
    msgs = []
    if system is not None:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": prompt})
    body = {"model": model, "messages": msgs, "stream": stream}
    if stream and usage:
        body["stream_options"] = {"include_usage": True}
    return body


def model(**opts):
    return harness.scenario_model("m", **opts)


# ---------------------------------------------------------------------------

class ServerTestBase(unittest.TestCase):
    tls = None

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(tls=cls.tls).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        # connections of the previous test end before the counts restart,
        # so that their ends are not counted in this one
        deadline = time.monotonic() + 5
        while self.server.stats()["open"] > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.server.reset()

    def client(self, **kw):
        ca = self.server.ca_file if self.tls else None
        return Client(self.server.port, tls_ca=ca, **kw)

    def chat(self, body, path="/v1/chat/completions", headers=None):
        c = self.client()
        try:
            return c.request("POST", path, body, headers)
        finally:
            c.close()

    def stream(self, prompt="hello world", **opts):
        r = self.chat(chat_body(prompt, model(**opts)))
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.error)
        events, trailing = sse_events(r.body)
        self.assertEqual(trailing, "")
        return r, events, stream_content(events)


class StreamTests(ServerTestBase):

    def test_parts(self):
        r, events, (content, done, usage, error, chunks) = self.stream(
            "hello brave new world", parts=1)
        self.assertEqual(content, "hello brave new world")
        deltas = [c["choices"][0]["delta"] for c in chunks[:-2]]
        self.assertEqual(deltas[0], {"role": "assistant", "content": ""})
        self.assertEqual(deltas[1], {"content": [
            {"type": "thinking",
             "thinking": [{"type": "text", "text": "Let me think."}]}]})
        self.assertEqual(deltas[2], {"content": [{"type": "text",
                                                  "text": "hell"}]})
        self.assertEqual(len(deltas), 8)

    def test_default_stream_shape(self):
        r, events, (content, done, usage, error, chunks) = self.stream(
            "hello brave new world")
        self.assertEqual(r.headers["transfer-encoding"], "chunked")
        self.assertEqual(r.headers["content-type"], "text/event-stream")
        self.assertEqual(r.headers["connection"], "keep-alive")
        self.assertEqual(content, "hello brave new world")
        self.assertTrue(done)
        self.assertIsNone(error)
        first = chunks[0]
        self.assertEqual(list(first)[:6], ["id", "object", "created", "model",
                                           "system_fingerprint", "choices"])
        self.assertEqual(first["choices"][0]["delta"],
                         {"role": "assistant", "content": ""})
        self.assertEqual(first["object"], "chat.completion.chunk")
        self.assertEqual(first["model"], "m")
        pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
        self.assertEqual(pieces, ["hell", "o br", "ave ", "new ", "worl", "d"])
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(chunks[-2]["choices"][0]["delta"], {})
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(usage, {"prompt_tokens": 4, "completion_tokens": 6,
                                 "total_tokens": 10})
        self.assertTrue(r.body.endswith(b"data: [DONE]\n\n"))

    def test_no_usage_unless_requested(self):
        r = self.chat(chat_body("a b", model(), usage=False))
        events, _ = sse_events(r.body)
        _, done, usage, _, chunks = stream_content(events)
        self.assertIsNone(usage)
        self.assertTrue(all("usage" not in c for c in chunks))
        r = self.chat(chat_body("a b", model(usage=1), usage=False))
        _, _, usage, _, _ = stream_content(sse_events(r.body)[0])
        self.assertEqual(usage["prompt_tokens"], 2)

    def test_framings(self):
        for framing in ("chunked", "length", "close"):
            with self.subTest(framing=framing):
                r, _, (content, done, _, _, _) = self.stream(
                    "framing test", framing=framing)
                self.assertEqual(content, "framing test")
                self.assertTrue(done)
                if framing == "length":
                    self.assertEqual(int(r.headers["content-length"]),
                                     len(r.body))
                if framing == "close":
                    self.assertEqual(r.headers["connection"], "close")
                    self.assertNotIn("content-length", r.headers)
                    self.assertNotIn("transfer-encoding", r.headers)
                    self.assertTrue(r.closed)

    def test_eol(self):
        for eol, seq in (("lf", b"\n"), ("crlf", b"\r\n"), ("cr", b"\r")):
            with self.subTest(eol=eol):
                r, _, (content, done, _, _, _) = self.stream(
                    "line endings", eol=eol, comments=1)
                self.assertEqual(content, "line endings")
                self.assertTrue(done)
                self.assertTrue(r.body.endswith(b"data: [DONE]" + seq + seq))
                stripped = r.body.replace(seq, b"")
                if eol != "crlf":
                    self.assertNotIn(b"\r" if eol == "lf" else b"\n", stripped)
                else:
                    self.assertNotIn(b"\n", stripped)
                    self.assertNotIn(b"\r", stripped)

    def test_comments(self):
        r, events, (content, done, _, _, _) = self.stream("abc def",
                                                          comments=1)
        self.assertTrue(r.body.startswith(b": OPENROUTER PROCESSING\n\n"))
        self.assertIn(b": keep-alive\ndata: ", r.body)
        self.assertEqual(content, "abc def")
        self.assertTrue(done)
        self.assertEqual(events[1][1], [" keep-alive"])

    def test_multiline(self):
        r, events, (content, done, _, _, chunks) = self.stream(
            'a, "b", {c}, [d] \\ e', multiline=1)
        self.assertEqual(content, 'a, "b", {c}, [d] \\ e')
        self.assertTrue(done)
        self.assertGreater(len(events[0][0].split("\n")), 5)
        for data, _ in events[:-1]:
            self.assertIn("\n", data)
            self.assertEqual(json.loads(data),
                             json.loads(data.replace("\n", "")))

    def test_comment_inside_multiline_event(self):
        r, events, (content, done, _, _, _) = self.stream(
            "x, y", multiline=1, comments=1)
        self.assertIn(b": inside an event\ndata: ", r.body)
        self.assertEqual(content, "x, y")
        self.assertTrue(done)

    def test_chunk_regrouping(self):
        for framing in ("chunked", "length", "close"):
            for size in (1, 7, 1000000):
                with self.subTest(framing=framing, size=size):
                    r, _, (content, done, _, _, _) = self.stream(
                        "regroup Ж😀 text", chunk=size, framing=framing)
                    self.assertEqual(content, "regroup Ж😀 text")
                    self.assertTrue(done)
        # Raw wire check: chunk sizes are exactly 7 except the last.
        c = self.client()
        c.connect()
        c.sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\nContent-Length: %d\r\n\r\n"
                       % len(json.dumps(chat_body("abc", model(chunk=7)))) +
                       json.dumps(chat_body("abc", model(chunk=7))).encode())
        raw = b""
        while True:
            d = c.sock.recv(65536)
            if not d:
                break
            raw += d
        c.close()
        body = raw.split(b"\r\n\r\n", 1)[1]
        sizes = []
        while True:
            line, body = body.split(b"\r\n", 1)
            n = int(line, 16)
            sizes.append(n)
            if n == 0:
                break
            body = body[n + 2:]
        self.assertTrue(all(n == 7 for n in sizes[:-2]))
        self.assertTrue(0 < sizes[-2] <= 7)

    def test_truncate(self):
        for framing in ("chunked", "length"):
            with self.subTest(framing=framing):
                c = self.client()
                r = c.request("POST", "/v1/chat/completions",
                              chat_body("abcdefgh", model(truncate=1,
                                                          framing=framing)))
                self.assertIsInstance(r.error, EOFError)
                c.close()
        r = self.chat(chat_body("abcdefgh", model(truncate=1), stream=False))
        self.assertIsInstance(r.error, EOFError)

    def test_hold(self):
        # every event arrives, [DONE] included, but never the body's end
        for framing in ("chunked", "length"):
            with self.subTest(framing=framing):
                c = self.client()
                c.connect()
                req = json.dumps(chat_body(
                    "abcdefgh", model(hold=1, framing=framing))).encode()
                c.sock.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d"
                    b"\r\n\r\n" % len(req) + req)
                raw = b""
                c.sock.settimeout(10.0)
                while b"data: [DONE]" not in raw:
                    d = c.sock.recv(65536)
                    self.assertTrue(d, "the server closed")
                    raw += d
                # then nothing more: neither the body's end nor a close
                c.sock.settimeout(0.3)
                with self.assertRaises(socket.timeout):
                    while True:
                        d = c.sock.recv(65536)
                        self.assertTrue(d, "the server closed")
                        raw += d
                head, body = raw.split(b"\r\n\r\n", 1)
                if framing == "chunked":
                    self.assertFalse(body.endswith(b"0\r\n\r\n"))
                else:
                    length = int(re.search(rb"Content-Length: (\d+)",
                                           head).group(1))
                    self.assertEqual(length, len(body) + 1)
                c.close()

    def test_space0(self):
        r, _, (content, done, _, _, _) = self.stream("nospace", space=0)
        self.assertNotIn(b"data: ", r.body)
        self.assertTrue(r.body.startswith(b"data:{"))
        self.assertEqual(content, "nospace")

    def test_text_size_piece(self):
        _, _, (content, _, _, _, chunks) = self.stream(text="fixed text",
                                                       piece=3)
        self.assertEqual(content, "fixed text")
        self.assertEqual(len(chunks), 1 + 4 + 1 + 1)
        _, _, (content, _, _, _, _) = self.stream(size=100, piece=7)
        self.assertEqual(content, harness.size_content(100))
        self.assertEqual(len(content.encode()), 100)

    def test_unicode_raw_and_ascii(self):
        prompt = "Привет, 世界! 😀🎉 done"
        r, _, (content, _, _, _, _) = self.stream(prompt, piece=1)
        self.assertEqual(content, prompt)
        self.assertIn("😀".encode(), r.body)
        r, _, (content, _, _, _, _) = self.stream(prompt, piece=2, ascii=1)
        self.assertEqual(content, prompt)
        r.body.decode("ascii")
        self.assertIn(b"\\ud83d\\ude00", r.body)

    def test_control_characters_escaped(self):
        prompt = "tab\there\x01\x1f \"q\" back\\slash\nnl\rcr"
        r, _, (content, _, _, _, _) = self.stream(prompt)
        self.assertEqual(content, prompt)
        self.assertIn(b"\\u0001", r.body)

    def test_done_absent(self):
        for framing in ("chunked", "length", "close"):
            with self.subTest(framing=framing):
                r, _, (content, done, _, _, _) = self.stream(
                    "no done", framing=framing, done=0)
                self.assertFalse(done)
                self.assertEqual(content, "no done")
                self.assertNotIn(b"[DONE]", r.body)

    def test_finish_reason(self):
        _, _, (_, _, _, _, chunks) = self.stream("x", finish="length")
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "length")

    def test_empty(self):
        _, events, (content, done, _, _, chunks) = self.stream("ignored",
                                                               empty=1)
        self.assertEqual(content, "")
        self.assertTrue(done)
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 0)
        self.assertEqual(len(chunks), 3)

    def test_mid_error(self):
        for n in (0, 2, 99):
            with self.subTest(n=n):
                r, events, (content, done, _, error, _) = self.stream(
                    "one two three four", mid_error=n)
                self.assertFalse(done)
                self.assertEqual(error["message"], "overloaded mid-stream")
                self.assertEqual(content, "one two three four"[:4 * n])
        _, _, (_, _, _, error, _) = self.stream("x", mid_error=0, msg="boom")
        self.assertEqual(error["message"], "boom")

    def test_big_event(self):
        for ascii_ in (0, 1):
            r, events, (content, done, _, _, _) = self.stream(
                "abcdefgh", big_event=100000, ascii=ascii_)
            self.assertEqual(len(events[2][0].encode()), 100000)
            self.assertEqual(content, "abcd" + "x" * (len(content) - 8) + "efgh")
            self.assertTrue(done)

    def test_write_slices(self):
        r, _, (content, done, _, _, _) = self.stream("split me", write=1,
                                                     piece=8)
        self.assertEqual(content, "split me")
        self.assertGreater(r.reads, 50)

    def test_event_delay(self):
        t = time.monotonic()
        r, _, (content, _, _, _, _) = self.stream("12345678",
                                                  event_delay_ms=50)
        self.assertGreaterEqual(time.monotonic() - t, 0.2)
        self.assertEqual(content, "12345678")

    def test_delay(self):
        t = time.monotonic()
        self.stream("x", delay_ms=300)
        self.assertGreaterEqual(time.monotonic() - t, 0.3)

    def test_reset_headers(self):
        c = self.client()
        r = c.request("POST", "/v1/chat/completions",
                      chat_body("x", model(reset="headers")))
        self.assertEqual(r.status, 200)
        self.assertIsInstance(r.error, (ConnectionResetError, EOFError,
                                        ssl.SSLError, OSError))
        self.assertEqual(r.body, b"")
        c.close()

    def test_reset_content(self):
        c = self.client()
        r = c.request("POST", "/v1/chat/completions",
                      chat_body("abcdefgh", model(reset="content",
                                                  framing="length")))
        self.assertEqual(r.status, 200)
        self.assertIsNotNone(r.error)
        c.close()

    def test_keepalive_reuse(self):
        c = self.client()
        for i in range(3):
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("req %d" % i, model()))
            self.assertEqual(r.status, 200)
            self.assertEqual(stream_content(sse_events(r.body)[0])[0],
                             "req %d" % i)
        r = c.request("POST", "/v1/chat/completions",
                      chat_body("nonstream", model(), stream=False))
        self.assertEqual(json.loads(r.body)["choices"][0]["message"]["content"],
                         "nonstream")
        c.close()
        time.sleep(0.1)
        st = self.server.stats()
        self.assertEqual(st["connections"], 1)
        self.assertEqual(st["requests"], 4)
        self.assertEqual(st["open"], 0)
        self.assertEqual(st["max_open"], 1)

    def test_idle_close_ms(self):
        c = self.client()
        r = c.request("POST", "/v1/chat/completions",
                      chat_body("x", model(idle_close_ms=100)))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["connection"], "keep-alive")
        # no further request: the server closes within about 100 ms
        c.sock.settimeout(5.0)
        t0 = time.monotonic()
        self.assertEqual(c.sock.recv(1), b"")
        self.assertLess(time.monotonic() - t0, 2.0)
        c.close()
        # a request in time keeps the connection
        c = self.client()
        for i in range(2):
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("y", model(idle_close_ms=1000)))
            self.assertEqual(r.status, 200)
        c.close()
        self.assertEqual(self.server.stats()["connections"], 2)

    def test_keepalive0_closes(self):
        c = self.client()
        r = c.request("POST", "/v1/chat/completions",
                      chat_body("x", model(keepalive=0)))
        self.assertEqual(r.headers["connection"], "close")
        self.assertTrue(r.closed)
        self.assertIsNone(c.sock)

    def test_max_open(self):
        clients = [self.client() for _ in range(3)]
        for c in clients:
            c.request("POST", "/v1/chat/completions",
                      chat_body("x", model(), stream=False))
        st = self.server.stats()
        self.assertEqual(st["open"], 3)
        self.assertEqual(st["max_open"], 3)
        for c in clients:
            c.close()

    def test_hang(self):
        c = self.client(timeout=0.5)
        with self.assertRaises(socket.timeout):
            c.request("POST", "/v1/chat/completions",
                      chat_body("x", model(hang=1)))
        c.close()

    def test_fail_first(self):
        m = model(status=503, fail_first=2)
        statuses = [self.chat(chat_body("x", m)).status for _ in range(3)]
        self.assertEqual(statuses, [503, 503, 200])
        self.server.reset()
        self.assertEqual(self.chat(chat_body("x", m)).status, 503)


class NonStreamTests(ServerTestBase):

    def test_shape(self):
        r = self.chat(chat_body("one two three", model(), stream=False))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        obj = json.loads(r.body)
        self.assertEqual(obj["object"], "chat.completion")
        self.assertEqual(obj["choices"][0]["message"],
                         {"role": "assistant", "content": "one two three"})
        self.assertEqual(obj["choices"][0]["finish_reason"], "stop")
        self.assertEqual(obj["usage"], {"prompt_tokens": 3,
                                        "completion_tokens": 4,
                                        "total_tokens": 7})

    def test_framings_and_write(self):
        for opts in ({"framing": "length"}, {"framing": "chunked"},
                     {"framing": "close"}, {"write": 1},
                     {"ascii": 1}, {"size": 5000}):
            with self.subTest(**opts):
                prompt = "Привет 😀"
                r = self.chat(chat_body(prompt, model(**opts), stream=False))
                self.assertIsNone(r.error)
                obj = json.loads(r.body)
                expect = harness.size_content(5000) if "size" in opts else prompt
                self.assertEqual(obj["choices"][0]["message"]["content"], expect)
                if opts.get("ascii"):
                    r.body.decode("ascii")
                if opts.get("write"):
                    self.assertGreater(r.reads, 100)

    def test_parts(self):
        r = self.chat(chat_body("one two", model(parts=1), stream=False))
        msg = json.loads(r.body)["choices"][0]["message"]
        self.assertEqual(msg["content"], [
            {"type": "thinking",
             "thinking": [{"type": "text", "text": "Let me think."}]},
            {"type": "text", "text": "one two"}])

    def test_usage_0_sends_none(self):
        r = self.chat(chat_body("one two", model(usage=0), stream=False))
        obj = json.loads(r.body)
        self.assertEqual(obj["choices"][0]["message"]["content"], "one two")
        self.assertNotIn("usage", obj)
        r, events, (content, done, usage, error, chunks) = self.stream(
            "one two", usage=0)
        self.assertEqual(content, "one two")
        self.assertTrue(done)
        self.assertTrue(all("usage" not in c for c in chunks))

    def test_stream_absent_means_non_stream(self):
        r = self.chat({"model": "m", "messages": [{"role": "user",
                                                   "content": "x"}]})
        self.assertEqual(json.loads(r.body)["object"], "chat.completion")


class ErrorTests(ServerTestBase):

    def test_status_codes(self):
        for status in (400, 401, 404, 429, 500, 503):
            with self.subTest(status=status):
                r = self.chat(chat_body("x", model(status=status)))
                self.assertEqual(r.status, status)
                self.assertEqual(json.loads(r.body), {"error": {
                    "message": "test error %d" % status, "type": "test_error",
                    "param": None, "code": None}})

    def test_retry_headers(self):
        r = self.chat(chat_body("x", model(status=429, retry_after=3,
                                           retry_after_ms=1500,
                                           should_retry="false",
                                           msg="slow down")))
        self.assertEqual(r.headers["retry-after"], "3")
        self.assertEqual(r.headers["retry-after-ms"], "1500")
        self.assertEqual(r.headers["x-should-retry"], "false")
        self.assertEqual(json.loads(r.body)["error"]["message"], "slow down")

    def test_errbody(self):
        r = self.chat(chat_body("x", model(status=500, errbody="text")))
        self.assertEqual(r.body, b"test error 500")
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        r = self.chat(chat_body("x", model(status=500, errbody="detail",
                                           msg="a/b \\ c")))
        self.assertEqual(r.body, b'{"detail":"a\\/b \\\\ c"}')
        self.assertEqual(json.loads(r.body), {"detail": "a/b \\ c"})
        for framing in ("chunked", "length", "close"):
            r = self.chat(chat_body("x", model(status=500, errbody="none",
                                               framing=framing)))
            self.assertEqual(r.status, 500)
            self.assertEqual(r.body, b"")
            self.assertIsNone(r.error)

    def test_invalid_json(self):
        c = self.client()
        r = c.request("POST", "/v1/chat/completions", raw_body=b"{nope")
        self.assertEqual(r.status, 400)
        self.assertIn("message", json.loads(r.body)["error"])
        c.close()

    def test_unknown_path(self):
        c = self.client()
        r = c.request("GET", "/v1/models")
        self.assertEqual(r.status, 404)
        c.close()

    def test_last_request_recorded(self):
        body = chat_body("q\"\\\x01", model(), system="sys\ttext")
        self.chat(body, headers={"Authorization": "Bearer k1"})
        last = self.server.last_request()
        self.assertEqual(last["method"], "POST")
        self.assertEqual(last["path"], "/v1/chat/completions")
        self.assertEqual(last["headers"]["authorization"], "Bearer k1")
        self.assertEqual(last["body"], body)
        st = self.server.stats()
        self.assertEqual(st["requests"], 1)
        self.assertEqual(st["connections"], 1)


class TlsTests(StreamTests):
    tls = "good"

    def test_session_resumption(self):
        c1 = self.client()
        c1.request("POST", "/v1/chat/completions",
                   chat_body("x", model(), stream=False))
        session = c1.sock.session
        c1.close()
        c2 = self.client(session=session)
        c2.request("POST", "/v1/chat/completions",
                   chat_body("y", model(), stream=False))
        self.assertTrue(c2.sock.session_reused)
        c2.close()
        time.sleep(0.1)
        st = self.server.stats()
        self.assertEqual(st["tls_resumed"], 1)
        self.assertEqual(st["connections"], 2)
        self.assertEqual(st["last_request"]["tls"]["version"], "TLSv1.2")

    def test_bad_record(self):
        # after part of the body, a record whose tag cannot match: the
        # client's TLS layer rejects it (it is not a close or a reset)
        for stream in (True, False):
            with self.subTest(stream=stream):
                c = self.client()
                r = c.request("POST", "/v1/chat/completions",
                              chat_body("abcdefgh", model(bad_record=1),
                                        stream=stream))
                self.assertIsInstance(r.error, ssl.SSLError)
                self.assertIn("BAD_RECORD_MAC", str(r.error))
                c.close()

    def test_close_notify_counted(self):
        # one client ends with close_notify (unwrap), one with a bare close;
        # the count is checked after each, once the server has let it go
        for n, notify in ((1, True), (2, False)):
            c = self.client()
            c.request("POST", "/v1/chat/completions",
                      chat_body("x", model(), stream=False))
            if notify:
                try:   # sends close_notify, then waits for the server's
                    c.sock.unwrap()
                except (ssl.SSLError, OSError):
                    pass
            c.close()
            deadline = time.monotonic() + 5
            while (self.server.stats()["open"] > 0 and
                   time.monotonic() < deadline):
                time.sleep(0.02)
            st = self.server.stats()
            self.assertEqual(st["open"], 0)
            self.assertEqual(st["connections"], n)
            self.assertEqual(st["tls_close_notify"], 1,
                             "after the %s close" %
                             ("close_notify" if notify else "bare"))


class TlsNegativeTests(unittest.TestCase):

    def check_rejected(self, mode):
        with harness.Server(tls=mode) as srv:
            c = Client(srv.port, tls_ca=harness.cert_path("ca.pem"))
            with self.assertRaises(ssl.SSLCertVerificationError):
                c.connect()
            # The certificate itself is valid for its own CA/name.
            ok_name = "wrong.example" if mode == "wrong-host" else "localhost"
            c = Client(srv.port, tls_ca=srv.ca_file, server_hostname=ok_name)
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("ok", model(), stream=False))
            self.assertEqual(r.status, 200)
            c.close()

    def test_wrong_host(self):
        self.check_rejected("wrong-host")

    def test_unknown_ca(self):
        self.check_rejected("unknown-ca")

    def test_sha1_signed_certificate_served_at_level_0(self):
        # OpenSSL loads a certificate signed with SHA-1 only at security
        # level 0 (--tls-seclevel 0, which the harness passes): served,
        # it is that certificate a client at level 0 gets
        with harness.Server(tls="sha1-signed") as srv:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.load_verify_locations(harness.cert_path("ca.pem"))
            raw = socket.create_connection(("127.0.0.1", srv.port),
                                           timeout=10)
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                subject = dict(x[0] for x in s.getpeercert()["subject"])
            self.assertEqual(subject["commonName"], "sha1-signed")


class AuthTests(unittest.TestCase):

    def test_require_auth(self):
        with harness.Server(require_auth="sekrit") as srv:
            c = Client(srv.port)
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("x", model(), stream=False))
            self.assertEqual(r.status, 401)
            self.assertNotIn(b"sekrit", r.body)
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("x", model(), stream=False),
                          headers={"Authorization": "Bearer sekrit"})
            self.assertEqual(r.status, 200)
            c.close()

    def test_iam(self):
        with harness.Server(iam_key_id="kid", iam_secret="sec",
                            iam_expires=1) as srv:
            c = Client(srv.port)
            r = token_request(c, "bad")
            self.assertEqual(r.status, 401)
            r = token_request(c)
            self.assertEqual(r.status, 200)
            tok = json.loads(r.body)
            self.assertEqual(tok, {"access_token": "iam-token-1",
                                   "expires_in": 1})
            auth = {"Authorization": "Bearer iam-token-1"}
            body = chat_body("x", model(), stream=False)
            self.assertEqual(c.request("POST", "/v1/chat/completions",
                                       body).status, 401)
            self.assertEqual(c.request("POST", "/v1/chat/completions", body,
                                       auth).status, 200)
            time.sleep(1.1)
            self.assertEqual(c.request("POST", "/v1/chat/completions", body,
                                       auth).status, 401)
            r = token_request(c)
            auth = {"Authorization": "Bearer " +
                    json.loads(r.body)["access_token"]}
            self.assertEqual(auth["Authorization"], "Bearer iam-token-2")
            self.assertEqual(c.request("POST", "/v1/chat/completions", body,
                                       auth).status, 200)
            srv.revoke()
            self.assertEqual(c.request("POST", "/v1/chat/completions", body,
                                       auth).status, 401)
            c.close()
            st = srv.stats()
            self.assertEqual(st["tokens_issued"], 2)
            # the one with the wrong secret is not a token request
            self.assertEqual(st["token_requests"], 2)

    def test_iam_answer_shaped_as_cloudru(self):
        with harness.Server(iam_key_id="kid", iam_secret="sec",
                            iam_id_token=1134) as srv:
            c = Client(srv.port)
            r = token_request(c)
            self.assertEqual(r.status, 200)
            a = json.loads(r.body)
            self.assertEqual(list(a), ["access_token", "id_token",
                                       "refresh_token", "expires_in",
                                       "refresh_expires_in", "scopes",
                                       "token_type", "not_before"])
            self.assertEqual(a["access_token"], "iam-token-1")
            self.assertEqual(len(a["id_token"]), 1134)
            self.assertIn('\\"', r.body.decode())
            c.close()

    def test_iam_empty_token(self):
        with harness.Server(iam_key_id="kid", iam_secret="sec",
                            iam_empty_token=True) as srv:
            c = Client(srv.port)
            r = token_request(c)
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body),
                             {"access_token": "", "expires_in": 3600})
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("x", model(), stream=False),
                          {"Authorization": "Bearer "})
            self.assertEqual(r.status, 401)
            c.close()
            st = srv.stats()
            self.assertEqual((st["token_requests"], st["tokens_issued"]),
                             (1, 0))

    def test_iam_html_answer(self):
        with harness.Server(iam_key_id="kid", iam_secret="sec",
                            iam_html_answer=True) as srv:
            c = Client(srv.port)
            r = token_request(c)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["content-type"], "text/html")
            self.assertTrue(r.body.startswith(b"<html>"), r.body)
            c.close()
            st = srv.stats()
            self.assertEqual((st["token_requests"], st["tokens_issued"]),
                             (1, 0))

    def test_iam_token_pad_and_suffix(self):
        # the Nth token padded to PAD - N characters, then the suffix
        with harness.Server(iam_key_id="kid", iam_secret="sec",
                            iam_token_pad=20,
                            iam_token_suffix="\r\nX-A: 1") as srv:
            c = Client(srv.port)
            toks = [json.loads(token_request(c).body)["access_token"]
                    for _ in range(2)]
            c.close()
            self.assertEqual(toks, ["iam-token-1-xxxxxxx\r\nX-A: 1",
                                    "iam-token-2-xxxxxx\r\nX-A: 1"])

    def test_iam_delay_and_failures_count_as_token_requests(self):
        with harness.Server(iam_key_id="kid", iam_secret="sec",
                            iam_delay_ms=300, iam_fail_first=1) as srv:
            c = Client(srv.port)
            for status in (503, 200):
                t0 = time.monotonic()
                r = token_request(c)
                self.assertEqual(r.status, status)
                self.assertGreaterEqual(time.monotonic() - t0, 0.3)
            c.close()
            st = srv.stats()
            self.assertEqual((st["token_requests"], st["tokens_issued"]),
                             (2, 1))

    def test_iam_refuse_first(self):
        with harness.Server(iam_key_id="kid", iam_secret="sec",
                            iam_refuse_first=1) as srv:
            c = Client(srv.port)
            body = chat_body("x", model(), stream=False)
            for n, status in ((1, 401), (2, 200)):
                r = token_request(c)
                auth = {"Authorization": "Bearer iam-token-%d" % n}
                self.assertEqual(json.loads(r.body)["access_token"],
                                 "iam-token-%d" % n)
                self.assertEqual(c.request("POST", "/v1/chat/completions",
                                           body, auth).status, status)
            c.close()
            self.assertEqual(srv.stats()["tokens_refused"],
                             ["Bearer iam-token-1"])

    def test_tls_hold_waits_for_the_token_requests(self):
        # connection 1's handshake ends only after connection 2 asked
        # for a token
        with harness.Server(tls="good", iam_key_id="kid", iam_secret="sec",
                            tls_hold="1:1") as srv:
            ca = harness.cert_path("ca.pem")
            # connected here, first: the server's connection 1
            raw = socket.create_connection(("127.0.0.1", srv.port),
                                           timeout=10)
            done = []

            def handshake():
                tls = client_context(ca).wrap_socket(
                    raw, server_hostname="localhost")
                done.append(time.monotonic())
                tls.close()
            t = threading.Thread(target=handshake)
            t.start()
            time.sleep(0.2)
            asked = time.monotonic()
            c = Client(srv.port, tls_ca=ca)
            r = token_request(c)
            self.assertEqual(r.status, 200)
            t.join(10)
            self.assertEqual(len(done), 1)
            self.assertGreater(done[0], asked)
            c.close()


class LifecycleTests(unittest.TestCase):

    def test_sigterm_and_port_file(self):
        srv = harness.Server().start()
        proc = srv.proc
        # A connection held open must not block shutdown.
        s = socket.create_connection(("127.0.0.1", srv.port))
        proc.terminate()
        self.assertEqual(proc.wait(5), 0)
        s.close()
        srv.proc = None
        srv.stop()

    def test_stdout_port_line(self):
        p = subprocess.Popen([sys.executable, harness.SERVER_SCRIPT,
                              "--port", "0"], stdout=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            self.assertRegex(line, r"^PORT \d+\n$")
        finally:
            p.terminate()
            p.wait(5)
            p.stdout.close()


class NginxTests(unittest.TestCase):

    def test_proxy_stream_and_non_stream(self):
        with harness.Server() as srv, harness.Nginx(srv.port) as ngx:
            c = Client(ngx.port, tls_ca=ngx.ca_file)
            for opts in ({}, {"framing": "length"}, {"framing": "close"},
                         {"eol": "cr", "comments": 1, "write": 7}):
                r = c.request("POST", "/v1/chat/completions",
                              chat_body("через прокси 😀", model(**opts)))
                self.assertEqual(r.status, 200, r.body)
                content, done, _, _, _ = stream_content(sse_events(r.body)[0])
                self.assertEqual(content, "через прокси 😀")
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("plain", model(), stream=False))
            self.assertEqual(json.loads(r.body)["choices"][0]["message"]
                             ["content"], "plain")
            r = c.request("POST", "/v1/chat/completions",
                          chat_body("x", model(status=429, msg="limit")))
            self.assertEqual(r.status, 429)
            self.assertEqual(json.loads(r.body)["error"]["message"], "limit")
            c.close()


if __name__ == "__main__":
    # one summary line in make check's format; failures and errors count
    prog = unittest.main(exit=False, verbosity=1)
    r = prog.result
    bad = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    print("server: %d passed, %d failed"
          % (r.testsRun - bad - len(r.skipped), bad + len(r.skipped)))
    sys.exit(0 if bad == 0 and not r.skipped and r.testsRun > 0 else 1)
